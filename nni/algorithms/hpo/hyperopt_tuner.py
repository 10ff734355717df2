"""Tuners driven by the hyperopt library: ``tpe``, ``random_search`` and ``anneal`` (NNI's
``HyperoptTuner``; the ``Anneal`` built-in is ``algorithm_name='anneal'``).

The search space is translated to a hyperopt space whose labels are the parameters' key paths
(unique even inside nested choices). Proposals are decoded by this package's search-space module,
so q-rounding, clipping, randint's exclusive upper bound and the nested ``{'_name': ...}`` format
are NNI's. Every configuration handed out, imported or replayed becomes a hyperopt trial document;
results are written into it, which is all the state there is (a resume replays results).

``parallel_optimize=True`` fills in running trials with a constant-liar loss while asking
(``constant_liar_type``: 'min', 'max' or 'mean' of the losses so far).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from ...search_space.space import ParameterSpec, SearchSpace
from ...search_space.tuning import Observation, SearchSpaceTuner

__all__ = ["HyperoptTuner"]

_logger = logging.getLogger(__name__)

_ALGORITHMS = ("tpe", "random_search", "anneal")
_LIARS = ("min", "max", "mean")


def _hyperopt() -> Any:
    import hyperopt

    return hyperopt


class HyperoptTuner(SearchSpaceTuner):
    """``HyperoptTuner(algorithm_name, optimize_mode='minimize', parallel_optimize=False,
    constant_liar_type='min')``; supports every type and nested choice."""

    ends_when_exhausted = False

    def __init__(self, algorithm_name: str = "tpe", optimize_mode: str = "minimize", parallel_optimize: bool = False,
                 constant_liar_type: str = "min", seed: int | None = None) -> None:
        super().__init__(optimize_mode, seed)
        if algorithm_name not in _ALGORITHMS:
            raise ValueError(f"algorithm_name must be one of {', '.join(_ALGORITHMS)}, got {algorithm_name!r}")
        if constant_liar_type not in _LIARS:
            raise ValueError(f"constant_liar_type must be one of {', '.join(_LIARS)}, got {constant_liar_type!r}")
        self.algorithm_name_arg = algorithm_name
        self.algorithm_name = {"tpe": "TPE (hyperopt)", "random_search": "Random (hyperopt)",
                               "anneal": "Anneal"}[algorithm_name]
        self.parallel_optimize = bool(parallel_optimize)
        self.constant_liar_type = constant_liar_type
        self._domain: Any = None
        self._trials: Any = None
        self._tid_of: dict[int, int] = {}

    # -- translation ------------------------------------------------------------------------------

    def _on_space_updated(self) -> None:
        hyperopt = _hyperopt()
        assert self.space is not None
        expr = _hyperopt_space(self.space, self.space.top_level)
        self._domain = hyperopt.Domain(lambda _: 0.0, expr, pass_expr_memo_ctrl=False)
        self._trials = hyperopt.Trials()
        self._tid_of = {}
        for obs in self.observations:
            self._insert(obs.params, obs.loss)

    def _vals(self, params: dict[str, Any]) -> dict[str, list[Any]]:
        """hyperopt's ``misc.vals`` of a configuration: option index or value, [] when inactive."""
        assert self.space is not None
        vector = self.space.encode(params)
        flat = _flatten(self.space, params)
        vals: dict[str, list[Any]] = {}
        for spec in self.space.params:
            if np.isnan(vector[spec.index]):
                vals[spec.path] = []
            elif spec.is_categorical:
                vals[spec.path] = [int(vector[spec.index])]
            else:
                vals[spec.path] = [flat[spec.key]]
        return vals

    def _insert(self, params: dict[str, Any], loss: float | None) -> int:
        hyperopt = _hyperopt()
        trials = self._trials
        tid = trials.new_trial_ids(1)[0]
        vals = self._vals(params)
        misc = {"tid": tid, "cmd": self._domain.cmd, "workdir": self._domain.workdir,
                "idxs": {k: ([tid] if v else []) for k, v in vals.items()}, "vals": vals}
        result = {"status": hyperopt.STATUS_NEW} if loss is None else {"status": hyperopt.STATUS_OK, "loss": loss}
        doc = trials.new_trial_docs([tid], [None], [result], [misc])[0]
        doc["state"] = hyperopt.JOB_STATE_NEW if loss is None else hyperopt.JOB_STATE_DONE
        trials.insert_trial_docs([doc])
        trials.refresh()
        return tid

    def _decode(self, vals: dict[str, list[Any]]) -> dict[str, Any]:
        assert self.space is not None
        vector = np.full(self.space.dim, np.nan)
        for spec in self.space.params:
            value = vals.get(spec.path) or []
            if not value:
                continue
            x = value[0].item() if isinstance(value[0], np.generic) else value[0]
            vector[spec.index] = float(x) if spec.is_categorical else spec.to_unit(_clip_raw(spec, float(x)))
        vector = self.space.mask_inactive(vector[None, :])[0]
        params = self.space.decode(np.where(np.isnan(vector) & self.space.active_mask(vector), 0.5, vector))
        return self._exact(params, vals)

    def _exact(self, params: dict[str, Any], vals: dict[str, list[Any]]) -> dict[str, Any]:
        """Put hyperopt's own numeric values back (decode from unit coordinates may lose digits)."""
        assert self.space is not None
        for spec in self.space.params:
            value = vals.get(spec.path) or []
            if not value or spec.is_categorical:
                continue
            target = _locate(params, spec.key)
            if target is None:
                continue
            x = float(value[0])
            if spec.integer:
                x = int(min(max(round(x), spec.low), spec.high - 1))
            elif spec.q is not None:
                x = spec.quantize(x)
            elif spec.clip is None and not spec.normal:
                x = min(max(x, spec.values[0]), spec.values[1])
            target[0][target[1]] = x
        return params

    # -- tuner hooks ------------------------------------------------------------------------------

    def _suggest(self, parameter_id: int) -> dict[str, Any] | None:
        hyperopt = _hyperopt()
        algorithm = {"tpe": hyperopt.tpe.suggest, "random_search": hyperopt.rand.suggest,
                     "anneal": hyperopt.anneal.suggest}[self.algorithm_name_arg]
        trials = self._trials
        lied = self._lie() if self.parallel_optimize else []
        try:
            new_ids = trials.new_trial_ids(1)
            seed = int(self.rng.integers(2 ** 31 - 1))
            docs = algorithm(new_ids, self._domain, trials, seed)
        finally:
            self._unlie(lied)
        return self._decode(docs[0]["misc"]["vals"])

    def _lie(self) -> list[dict[str, Any]]:
        hyperopt = _hyperopt()
        losses = [o.loss for o in self.observations]
        if not losses or not self._tid_of:
            return []
        lie = {"min": min(losses), "max": max(losses), "mean": float(np.mean(losses))}[self.constant_liar_type]
        running = set(self._tid_of[p] for p in self.running if p in self._tid_of)
        docs = [d for d in self._trials._dynamic_trials if d["tid"] in running]
        for doc in docs:
            doc["result"] = {"status": hyperopt.STATUS_OK, "loss": lie}
            doc["state"] = hyperopt.JOB_STATE_DONE
        self._trials.refresh()
        return docs

    def _unlie(self, docs: list[dict[str, Any]]) -> None:
        if not docs:
            return
        hyperopt = _hyperopt()
        for doc in docs:
            doc["result"] = {"status": hyperopt.STATUS_NEW}
            doc["state"] = hyperopt.JOB_STATE_NEW
        self._trials.refresh()

    def _on_proposed(self, parameter_id: int, params: dict[str, Any]) -> None:
        self._tid_of[parameter_id] = self._insert(params, None)

    def _on_observed(self, obs: Observation) -> None:
        hyperopt = _hyperopt()
        tid = self._tid_of.pop(obs.parameter_id, None) if obs.parameter_id is not None else None
        doc = next((d for d in self._trials._dynamic_trials if d["tid"] == tid), None) if tid is not None else None
        if doc is None:
            self._insert(obs.params, obs.loss)
            return
        doc["result"] = {"status": hyperopt.STATUS_OK, "loss": obs.loss}
        doc["state"] = hyperopt.JOB_STATE_DONE
        self._trials.refresh()

    def _on_abandoned(self, parameter_id: int) -> None:
        hyperopt = _hyperopt()
        tid = self._tid_of.pop(parameter_id, None)
        for doc in self._trials._dynamic_trials:
            if doc["tid"] == tid:
                doc["result"] = {"status": hyperopt.STATUS_FAIL}
                doc["state"] = hyperopt.JOB_STATE_ERROR
        self._trials.refresh()


def _clip_raw(spec: ParameterSpec, x: float) -> float:
    if spec.log and x <= 0:
        return spec.values[0] if not spec.normal else 1e-300
    return x


def _locate(params: dict[str, Any], key: tuple[Any, ...]) -> tuple[dict[str, Any], str] | None:
    """The dict holding ``key``'s value inside user-format params, and the name in it."""
    node: Any = params
    names = [k for k in key if isinstance(k, str)]
    for name in names[:-1]:
        node = node.get(name) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
    return (node, names[-1]) if isinstance(node, dict) and names[-1] in node else None


def _flatten(space: SearchSpace, params: dict[str, Any]) -> dict[tuple[Any, ...], Any]:
    out = {}
    for spec in space.params:
        found = _locate(params, spec.key)
        if found is not None:
            out[spec.key] = found[0][found[1]]
    return out


def _hyperopt_space(space: SearchSpace, specs: list[ParameterSpec]) -> dict[str, Any]:
    from hyperopt import hp

    out: dict[str, Any] = {}
    for spec in specs:
        label, v = spec.path, spec.values
        if spec.is_categorical:
            options = []
            for option in range(spec.n_choices):
                sub = [space.params[c] for c in spec.children if space.params[c].condition == (spec.index, option)]
                options.append(_hyperopt_space(space, sub) if sub else option)
            node = hp.choice(label, options)
        elif spec.type == "randint":
            node = hp.randint(label, int(v[0]), int(v[1]))
        elif spec.bounded and v[0] == v[1]:
            continue  # a degenerate range (NNI allows it) is a constant: decoding fills it in
        elif spec.type == "uniform":
            node = hp.uniform(label, v[0], v[1])
        elif spec.type == "quniform":
            node = hp.quniform(label, v[0], v[1], v[2])
        elif spec.type == "loguniform":
            node = hp.loguniform(label, math.log(v[0]), math.log(v[1]))
        elif spec.type == "qloguniform":
            node = hp.qloguniform(label, math.log(v[0]), math.log(v[1]), v[2])
        elif spec.type == "normal":
            node = hp.normal(label, v[0], v[1])
        elif spec.type == "qnormal":
            node = hp.qnormal(label, v[0], v[1], v[2])
        elif spec.type == "lognormal":
            node = hp.lognormal(label, v[0], v[1])
        else:
            node = hp.qlognormal(label, v[0], v[1], v[2])
        out[label] = node
    return out
