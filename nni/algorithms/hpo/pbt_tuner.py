"""Population Based Training (Jaderberg et al., 2017), NNI's ``PBT`` built-in.

A population of ``population_size`` configurations runs one step (e.g. one epoch) per trial.
Every configuration carries ``load_checkpoint_dir`` (where the trial restores its model from) and
``save_checkpoint_dir`` (where it saves it), both ``<all_checkpoint_dir>/<member>/<generation>``.
When a whole generation has finished, the worst ``fraction`` of the members copy the checkpoint
and hyperparameters of a random top member (exploit) and perturb them (explore). While a
generation is still running, ``generate_multiple_parameters`` returns fewer configurations than
asked; the engine asks again after the next result.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import NoMoreTrialError
from ...search_space import ConfigHistory, ParameterSpec, SearchSpace
from ...search_space.tuning import BuiltinTuner, Result
from ...typehint import Parameters

__all__ = ["PBTTuner"]

_logger = logging.getLogger(__name__)

LOAD_KEY = "load_checkpoint_dir"
SAVE_KEY = "save_checkpoint_dir"
_SUPPORTED = frozenset({"choice", "randint", "uniform", "quniform", "loguniform", "qloguniform",
                        "normal", "qnormal", "lognormal", "qlognormal"})


@dataclass
class _Member:
    checkpoint_dir: str
    params: Parameters
    """Hyperparameters plus the two checkpoint keys, as handed to the trial."""
    score: float | None = None
    handed_out: bool = False
    finished: bool = False


class PBTTuner(BuiltinTuner):
    """PBT with NNI's arguments: ``all_checkpoint_dir`` (default: the experiment's checkpoint
    folder from ``NNI_CHECKPOINT_DIRECTORY``, else ``~/nni/checkpoint/<NNI_EXP_ID>``),
    ``population_size``, ``factor`` (size of a perturbation step), ``resample_probability``
    (chance a hyperparameter is redrawn from its prior instead of perturbed) and ``fraction``
    (share of members replaced and of members they copy). ``seed`` (an addition) makes runs
    repeatable.
    """

    algorithm_name = "PBT"
    supported_types = _SUPPORTED
    supports_nested = False
    suggestion = "TPE, Random or Evolution"

    def __init__(self, optimize_mode: str = "maximize", all_checkpoint_dir: str | None = None,
                 population_size: int = 10, factor: float = 0.2, resample_probability: float = 0.25,
                 fraction: float = 0.2, seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 2:
            raise ValueError(f"PBT: population_size must be an integer >= 2, got {population_size!r}")
        for name, value, high in (("factor", factor, math.inf), ("resample_probability", resample_probability, 1.0),
                                  ("fraction", fraction, 0.5)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
                raise ValueError(f"PBT: {name} must be a number from 0 to {high}, got {value!r}")
        self.all_checkpoint_dir = all_checkpoint_dir
        self.population_size = population_size
        self.factor = float(factor)
        self.resample_probability = float(resample_probability)
        self.fraction = float(fraction)
        self._rng = np.random.default_rng(seed)
        self.space: SearchSpace | None = None
        self.population: list[_Member] = []
        self.generation = 0
        self._running: dict[int, _Member] = {}
        self._replayed: list[tuple[Parameters, float]] = []

    # -- setup -------------------------------------------------------------------------------------

    def _checkpoint_root(self) -> str:
        if self.all_checkpoint_dir is None:
            path = self.get_checkpoint_path()
            if path is None:
                path = str(Path("~/nni/checkpoint").expanduser() / os.environ.get("NNI_EXP_ID", "standalone"))
            self.all_checkpoint_dir = path
        return self.all_checkpoint_dir

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        """Parse the space and draw the first generation (distinct configurations)."""
        space = self.check_search_space(search_space)
        self.space = space
        root = self._checkpoint_root()
        history = ConfigHistory(space)
        self.population = []
        self.generation = 0
        self._running.clear()
        for index in range(self.population_size):
            params = history.random_unseen(self._rng) if space.is_finite else space.sample(self._rng)
            if params is None:  # a finite space smaller than the population: repeat configurations
                params = space.sample(self._rng)
            history.add(params)
            folder = os.path.join(root, str(index))
            step = os.path.join(folder, "0")
            self.population.append(_Member(folder, {**params, LOAD_KEY: step, SAVE_KEY: step}))

    # -- asking ------------------------------------------------------------------------------------

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Parameters]:
        """The members of the current generation not handed out yet, one per id."""
        if self.space is None:
            raise RuntimeError("PBT: update_search_space() must be called before asking")
        if self._replayed and not any(m.handed_out for m in self.population):
            self._restore(self._replayed)
            self._replayed = []
        result = []
        waiting = (m for m in self.population if not m.handed_out)
        for parameter_id, member in zip(parameter_id_list, waiting, strict=False):
            member.handed_out = True
            self._running[parameter_id] = member
            result.append(dict(member.params))
        return result

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Parameters:
        """One member; NoMoreTrialError while the whole generation is out and still running."""
        result = self.generate_multiple_parameters([parameter_id])
        if not result:
            raise NoMoreTrialError("PBT: the current generation is running; no configuration until it ends")
        return result[0]

    # -- results -----------------------------------------------------------------------------------

    def _learn(self, results: list[Result]) -> int:
        """Score members (higher is better); results of unknown ids (replayed after a resume) and
        imported ones rebuild the population."""
        imported = []
        for result in results:
            member = self._running.get(result.parameter_id) if result.parameter_id is not None else None
            if member is not None:
                member.score = -result.loss
            elif result.parameter_id is not None or self.space is None:
                self._replayed.append((result.params, -result.loss))
            else:
                imported.append((result.params, -result.loss))
        if imported:
            self._restore(imported)
        return len(results)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """A failed member ranks last; when the generation is complete the next one is bred."""
        member = self._running.pop(parameter_id, None)
        if member is None:
            return
        member.finished = True
        if not success or member.score is None:
            member.score = -math.inf
        if all(m.finished for m in self.population):
            self._next_generation()

    def _restore(self, records: list[tuple[Parameters, float]]) -> None:
        by_generation: dict[int, list[tuple[Parameters, float]]] = {}
        for params, score in records:
            if SAVE_KEY not in params:
                continue
            try:
                generation = int(os.path.basename(os.path.normpath(str(params[SAVE_KEY]))))
            except ValueError:
                continue
            by_generation.setdefault(generation, []).append((params, score))
        complete = [g for g, rows in by_generation.items() if len(rows) >= self.population_size]
        if not complete:
            _logger.info("PBT: no complete generation among %d records; starting afresh", len(records))
            return
        generation = max(complete)
        rows = by_generation[generation][-self.population_size:]
        self.population = [_Member(os.path.dirname(os.path.normpath(str(p[SAVE_KEY]))), dict(p), s, True, True)
                           for p, s in rows]
        self.generation = generation
        self._running.clear()
        _logger.info("PBT: resuming after generation %d", generation)
        self._next_generation()

    # -- exploit and explore -----------------------------------------------------------------------

    def _next_generation(self) -> None:
        self.generation += 1
        ranked = sorted(self.population, key=lambda m: -(m.score if m.score is not None else -math.inf))
        cutoff = max(1, math.ceil(self.fraction * len(ranked))) if self.fraction > 0 else 0
        tops, bottoms = ranked[:cutoff], ranked[len(ranked) - cutoff:] if cutoff else []
        bottom_ids = {id(m) for m in bottoms}
        population = []
        for member in ranked:
            step = os.path.join(member.checkpoint_dir, str(self.generation))
            if id(member) in bottom_ids:
                top = tops[int(self._rng.integers(len(tops)))]
                params = self._explore(top.params)
                params[LOAD_KEY] = top.params[SAVE_KEY]
            else:
                params = dict(member.params)
                params[LOAD_KEY] = member.params[SAVE_KEY]
            params[SAVE_KEY] = step
            population.append(_Member(member.checkpoint_dir, params))
        self.population = population
        _logger.info("PBT: generation %d bred; best score so far %s", self.generation, ranked[0].score)

    def _explore(self, params: Parameters) -> Parameters:
        assert self.space is not None
        out = dict(params)
        for spec in self.space.top_level:
            name = str(spec.key[0])
            if name in out:
                out[name] = self._perturb(spec, out[name])
        return out

    def _perturb(self, spec: ParameterSpec, value: Any) -> Any:
        """Redraw from the prior, or move one step up or down, staying inside the range."""
        if self._rng.random() < self.resample_probability:
            return spec.from_unit(float(self._rng.integers(spec.n_choices or 1)) if spec.is_categorical
                                  else self._rng.random())
        up = self._rng.random() < 0.5
        if spec.is_categorical:
            index = spec.option_index(value) + (1 if up else -1)
            return spec.option_value(min(max(index, 0), (spec.n_choices or 1) - 1))
        if spec.integer:
            return int(min(max(int(value) + (1 if up else -1), int(spec.low)), int(spec.high) - 1))
        sign = 1.0 if up else -1.0
        if spec.q is not None:
            moved = float(value) + sign * spec.q
        elif spec.normal:
            center = math.log(value) if spec.log and value > 0 else float(value)
            moved = center + sign * spec.sigma * self.factor
            moved = math.exp(moved) if spec.log else moved
        elif spec.log:
            moved = math.exp(math.log(value) + sign * (spec.high - spec.low) * self.factor)
        else:
            moved = float(value) + sign * (spec.high - spec.low) * self.factor
        if spec.bounded:
            low, high = spec.clip if spec.clip is not None else (
                (math.exp(spec.low), math.exp(spec.high)) if spec.log else (spec.low, spec.high))
            moved = min(max(moved, low), high)
        elif spec.log:
            moved = max(moved, spec.q or 1e-12)
        return spec.quantize(moved) if spec.q is not None else moved
