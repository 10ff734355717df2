"""SMAC tuner, NNI's ``SMAC`` built-in, through SMAC3 (random-forest Bayesian optimisation).

SMAC3 is an optional dependency (``pip install "nni[smac]"``): this module imports without it and
creating the tuner without it raises an ImportError saying what to install. The search space is
translated to a ConfigSpace space (choices by option index, randint as an integer range, log
types on a log scale, q-types rounded after SMAC proposes); SMAC's ask/tell interface does the
rest. Configurations are never repeated: a proposal already run is told its known result and
SMAC is asked again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...errors import NoMoreTrialError
from ...search_space import ConfigHistory, ParameterSpec, SearchSpace, config_key
from ...search_space.tuning import BuiltinTuner, Result
from ...typehint import Parameters

__all__ = ["SMACTuner", "MISSING_SMAC_MESSAGE"]

_logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _root_logging_kept() -> Iterator[None]:
    """SMAC3 reconfigures the root logger as it starts (level, handlers); put the process's back."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers

MISSING_SMAC_MESSAGE = ('The SMAC tuner needs SMAC3, an optional dependency that is not installed: '
                        'pip install "nni[smac]" (or pip install smac)')
_SUPPORTED = frozenset({"choice", "randint", "uniform", "quniform", "loguniform", "qloguniform"})
_RETRIES = 20


def _import_smac() -> Any:
    try:
        import ConfigSpace
        import smac
        from smac.runhistory.dataclasses import TrialInfo, TrialValue
        from smac.runhistory.enumerations import StatusType
    except ImportError as error:
        raise ImportError(f"{MISSING_SMAC_MESSAGE} ({error})") from error
    return ConfigSpace, smac, TrialInfo, TrialValue, StatusType


class SMACTuner(BuiltinTuner):
    """SMAC3's hyperparameter-optimisation facade behind NNI's tuner interface.

    ``optimize_mode`` as in NNI. Proposals avoid duplicates while the space has unseen
    configurations; once a finite space is used up, ``config_dedup`` ends the experiment (as in
    NNI) and otherwise repeats are proposed. ``seed`` (an addition) makes runs repeatable.
    """

    algorithm_name = "SMAC"
    supported_types = _SUPPORTED
    supports_nested = False
    suggestion = "TPE or GP"

    def __init__(self, optimize_mode: str = "maximize", config_dedup: bool = False, seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        self._modules = _import_smac()
        self.config_dedup = bool(config_dedup)
        self.seed = int(np.random.default_rng(seed).integers(2 ** 31 - 1)) if seed is None else int(seed)
        self._rng = np.random.default_rng(self.seed)
        self.space: SearchSpace | None = None
        self.history: ConfigHistory | None = None
        self._facade: Any = None
        self._configspace: Any = None
        self._output: tempfile.TemporaryDirectory[str] | None = None
        self._asked: dict[int, Any] = {}
        """parameter id -> SMAC TrialInfo (or the params when not proposed by SMAC)."""
        self._known: dict[str, float] = {}

    # -- search space ------------------------------------------------------------------------------

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        """Translate the space for SMAC3; earlier results that fit it are told again."""
        space = self.check_search_space(search_space)
        config_space_module, smac, *_ = self._modules
        configspace = config_space_module.ConfigurationSpace(seed=self.seed)
        configspace.add([self._hyperparameter(spec) for spec in space.top_level])
        self._output = tempfile.TemporaryDirectory(prefix="nni-smac-")
        scenario = smac.Scenario(configspace, deterministic=True, n_trials=10 ** 9, seed=self.seed,
                                 output_directory=self._output.name)
        with _root_logging_kept():
            self._facade = smac.HyperparameterOptimizationFacade(
                scenario, lambda config, seed=0: 0.0, overwrite=True, logging_level=logging.WARNING + 10)
        self._configspace = configspace
        self.space = space
        self.history = ConfigHistory(space)
        self._asked.clear()
        self._known.clear()
        for result in self.results:
            self._tell_params(result.params, result.loss)

    def _hyperparameter(self, spec: ParameterSpec) -> Any:
        config_space_module = self._modules[0]
        name = str(spec.key[0])
        if spec.is_categorical:
            return config_space_module.Categorical(name, [str(i) for i in range(spec.n_choices or 1)])
        if spec.integer:
            first, last = int(spec.low), int(spec.high) - 1
            if first == last:
                return config_space_module.Categorical(name, [str(first)])
            return config_space_module.Integer(name, (first, last))
        low, high = float(spec.values[0]), float(spec.values[1])
        if low == high:  # a degenerate range (NNI allows it): ConfigSpace wants low < high
            return config_space_module.Categorical(name, [str(low)])
        return config_space_module.Float(name, (low, high), log=spec.log)

    def _to_params(self, config: Any) -> Parameters:
        assert self.space is not None
        values = dict(config)
        out: Parameters = {}
        for spec in self.space.top_level:
            name = str(spec.key[0])
            value = values[name]
            if spec.is_categorical:
                out[name] = spec.option_value(int(value))
            elif spec.integer:
                out[name] = int(value)
            else:
                out[name] = spec.quantize(float(value)) if spec.q is not None else float(value)
        return out

    def _to_config(self, params: Parameters) -> Any:
        assert self.space is not None
        values: dict[str, Any] = {}
        for spec in self.space.top_level:
            name = str(spec.key[0])
            value = params[name]
            if spec.is_categorical:
                values[name] = str(spec.option_index(value))
            elif spec.integer:
                values[name] = str(int(value)) if spec.high - spec.low == 1 else int(value)
            else:
                low, high = float(spec.values[0]), float(spec.values[1])
                values[name] = str(low) if low == high else min(max(float(value), low), high)
        return self._modules[0].Configuration(self._configspace, values=values)

    # -- asking ------------------------------------------------------------------------------------

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Parameters:
        """SMAC's next proposal not seen before; on a used-up finite space a repeat, or with
        ``config_dedup`` the end (NoMoreTrialError), as NNI's SMAC."""
        if self.space is None or self.history is None or self._facade is None:
            raise RuntimeError("SMAC: update_search_space() must be called before asking")
        _, _, _, trial_value, _ = self._modules
        # SMAC's ask() never returns once every configuration of a finite space is out (asked, not
        # yet told): it keeps looking for one it has not tried. Asking it then would hang the tuner.
        for _ in range(0 if self.history.exhausted else _RETRIES):
            try:
                info = self._facade.ask()
            except Exception as error:  # SMAC's signals that a finite space is used up (then its generator ends)
                if not isinstance(error, StopIteration) and \
                        type(error).__name__ != "ConfigurationSpaceExhaustedException":
                    raise
                break
            params = self._to_params(info.config)
            if self.history.add(params):
                self._asked[parameter_id] = info
                return params
            known = self._known.get(config_key(params))
            if known is not None:
                self._facade.tell(info, trial_value(cost=known))
        unseen = self.history.random_unseen(self._rng) if self.space.is_finite else self.space.sample(self._rng)
        if unseen is None:  # exhausted
            if self.config_dedup:
                raise NoMoreTrialError("SMAC: every configuration of the search space has been proposed")
            unseen = self.space.sample(self._rng)
        self.history.add(unseen)
        self._asked[parameter_id] = unseen
        return unseen

    # -- results -----------------------------------------------------------------------------------

    def _tell_params(self, params: Parameters, loss: float) -> bool:
        """Tell SMAC a result of a configuration it did not propose (import, replay, fallback)."""
        assert self.space is not None and self.history is not None
        clean = self.space.restrict(params)
        try:
            config = self._to_config(clean)
        except (KeyError, ValueError, TypeError) as error:
            _logger.info("SMAC: ignoring a result outside the search space: %s", error)
            return False
        _, _, trial_info, trial_value, _ = self._modules
        self.history.add(clean)
        self._known[config_key(clean)] = loss
        self._facade.tell(trial_info(config=config, seed=self.seed), trial_value(cost=loss))
        return True

    def _learn(self, results: list[Result]) -> int:
        """Tell SMAC each result (kept in :attr:`results` until a search space arrives)."""
        if self.space is None:
            return len(results)
        used = 0
        for result in results:
            asked = self._asked.pop(result.parameter_id, None) if result.parameter_id is not None else None
            if asked is None or isinstance(asked, dict):
                used += self._tell_params(result.params, result.loss)
                continue
            trial_value = self._modules[3]
            self._known[config_key(self._to_params(asked.config))] = result.loss
            self._facade.tell(asked, trial_value(cost=result.loss))
            used += 1
        return used

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """A trial that ended without a result is told to SMAC as crashed."""
        asked = self._asked.pop(parameter_id, None)
        if asked is None or isinstance(asked, dict) or self._facade is None:
            return
        _, _, _, trial_value, status = self._modules
        self._facade.tell(asked, trial_value(cost=math.inf, status=status.CRASHED))
