"""The ``Auto`` tuner: GP or TPE, chosen (and switched) from the space, the budget, the history and
the concurrency; the tuner an experiment gets when its config names none.

Both inner tuners (:class:`TpeTuner` and :class:`GPTuner`, through their constructors and the
tuner interface only) learn from every result, live, imported or replayed on resume, so a switch
loses nothing: the new method starts with the whole history. Each ask goes to the method the
rules pick at that moment (see :meth:`AutoTuner.choose`); every change is logged at INFO with
its reason.

Rules, first match wins:

1. TPE when GP cannot take the space, when more than half of its parameters are categorical, or
   when it has more than 32 parameters (a GP models those poorly). Nested choices alone do not
   call for TPE: GP encodes them too, and on a nested choice of models (benchmarks/ml_tasks.py,
   model_digits) it found better configurations than TPE at 25, 50 and 100 results;
2. TPE while more than 8 configurations are asked for or running at once (GP's proposals are
   sequential at heart and its asks come in bursts); back to GP once 4 or fewer are;
3. TPE once the history holds 1,000 results: GP's ask grows with the history, TPE's stays in
   milliseconds. A ``max_trial_number`` of at most 1.25 times that
   keeps GP to the end. With ``max_experiment_duration``, TPE also once GP's asks have used a
   tenth of it;
4. GP otherwise (small continuous and integer spaces, the usual case); but after a GP ask whose
   model ranks its own results poorly (leave-one-out rank correlation below 0.3, what rugged
   functions with little global structure give), the next ask goes to TPE, so GP and TPE take turns
   until GP's model fits again.

A finite space ends the experiment once every configuration has been handed out (NNI's rule for
GridSearch, Random and TPE): Auto never proposes a configuration twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ...errors import NoMoreTrialError, SearchSpaceError
from ...objectives import ObjectiveSpec
from ...search_space import ConfigHistory, SearchSpace
from ...search_space.tuning import BuiltinTuner, Result, make_rng
from ...typehint import Parameters, TrialMetric
from .gp_tuner import GPTuner
from .tpe_tuner import TpeTuner

__all__ = ["AutoTuner"]

_logger = logging.getLogger(__name__)

GP_HISTORY_LIMIT = 1000
"""Results after which TPE takes over from GP: GP's ask (a model on at most 300 of them) stays near
0.1-0.2 s up to here, and it beats TPE at every budget measured (benchmarks/tuners.py,
benchmarks/multiobjective.py)."""
WIDE = 8
"""More configurations than this asked for or running at once: TPE."""
NARROW = 4
"""At most this many again: back to GP (a gap, so a busy experiment does not flip at every ask)."""
MAX_GP_PARAMETERS = 32
GP_TIME_SHARE = 0.1
"""Share of ``max_experiment_duration`` GP's asks may take before TPE takes over."""
POOR_FIT = 0.3
"""GP's leave-one-out rank correlation below which its next ask is handed to TPE: rugged functions
with weak global structure (BBOB f21-f24) often sit near 0, and 66 of the 96 quick BBOB runs
(nearly all smooth ones) never fall below it (benchmarks/tuners.py --suite bbob --quick)."""


def _positive(name: str, value: Any, integer: bool) -> Any:
    """``value`` when it is None or a positive number (an integer when ``integer``), else ValueError."""
    if value is None or (isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
                         and value > 0):
        return value
    raise ValueError(f"Auto: {name} must be a positive {'integer' if integer else 'number'} or None, got {value!r}")


class AutoTuner(BuiltinTuner):
    """``AutoTuner(optimize_mode='maximize', seed=None, max_trial_number=None,
    max_experiment_duration=None, trial_concurrency=None)``.

    The last three are hints the launcher fills from the experiment config when not given
    (``max_experiment_duration`` in seconds). ``trial_concurrency`` counts until the first trial
    comes back; from then on the concurrency is the number of configurations running (so live
    changes are seen). ``seed`` makes the proposals repeatable.
    """

    algorithm_name = "Auto"
    supports_objectives = True
    supports_constraints = True

    def __init__(self, optimize_mode: str = "maximize", seed: int | None = None,
                 max_trial_number: int | None = None, max_experiment_duration: float | None = None,
                 trial_concurrency: int | None = None) -> None:
        super().__init__(optimize_mode)
        self.max_trial_number = _positive("max_trial_number", max_trial_number, True)
        self.max_experiment_duration = _positive("max_experiment_duration", max_experiment_duration, False)
        self.trial_concurrency = _positive("trial_concurrency", trial_concurrency, True)
        self.seed, self.rng = make_rng(seed)
        mode = self.optimize_mode.value
        self._gp = GPTuner(mode, seed=(self.seed + 1) % 2 ** 31)
        self.tuners: dict[str, BuiltinTuner] = {"TPE": TpeTuner(mode, seed=self.seed), "GP": self._gp}
        self.method: str | None = None
        """The method of the latest ask (None before the first)."""
        self.plan: str | None = None
        """The method the rules settled on: 'GP', 'TPE', or 'GP+TPE' while they take turns because
        GP's model fits poorly (None before the first ask)."""
        self.switches: list[tuple[int, str, str]] = []
        """Every change of plan: (results in the history, plan, why), oldest first."""
        self.space: SearchSpace | None = None
        self.history: ConfigHistory | None = None
        self.pending: dict[int, Parameters] = {}
        """Configurations handed out that have neither a result nor an end yet."""
        self._handed_out: list[Parameters] = []
        self._space_rule: str | None = None
        self._gp_refusal: str | None = None
        self._wide = False
        self._batch_left = 0
        self._gp_seconds = 0.0
        _logger.info("Auto using random seed %d", self.seed)

    # -- the rules -----------------------------------------------------------------------------------

    @property
    def gp_history_limit(self) -> int:
        """Results after which TPE takes over; never within a budget that GP can cover."""
        limit = GP_HISTORY_LIMIT
        if self.max_trial_number is not None and self.max_trial_number <= 1.25 * limit:
            return self.max_trial_number
        return limit

    def choose(self, concurrency: int) -> tuple[str, str]:
        """The plan for the next ask ('GP', 'TPE' or 'GP+TPE') and why, with ``concurrency``
        configurations at once (it also moves the concurrency gap's state: a hint of high
        concurrency starts with TPE)."""
        if self._gp_refusal:
            return "TPE", f"GP cannot take this search space ({self._gp_refusal})"
        if self._space_rule:
            return "TPE", self._space_rule
        if concurrency > WIDE or (self._wide and concurrency > NARROW):
            self._wide = True
            return "TPE", f"{concurrency} configurations at once (GP above {WIDE})"
        self._wide = False
        count, limit = len(self.results), self.gp_history_limit
        if count >= limit:
            return "TPE", f"{count} results in the history (GP's ask gets slow beyond {limit})"
        if self.max_experiment_duration and self._gp_seconds > GP_TIME_SHARE * self.max_experiment_duration:
            return "TPE", (f"GP's asks took {self._gp_seconds:.0f} s, over {GP_TIME_SHARE:.0%} of "
                           f"maxExperimentDuration")
        quality = self._gp.fit_quality
        if quality is not None and quality < POOR_FIT:
            return "GP+TPE", (f"GP's model ranks its results poorly (leave-one-out rank correlation "
                              f"{quality:.2f} < {POOR_FIT}): GP and TPE take turns")
        return "GP", "a small continuous/integer space and a short history"

    def _rule_for_space(self, space: SearchSpace) -> str | None:
        """Why the space itself calls for TPE, or None."""
        categorical = sum(spec.is_categorical for spec in space.params)
        if categorical * 2 > space.dim:
            return f"{categorical} of the {space.dim} parameters are categorical"
        if space.dim > MAX_GP_PARAMETERS:
            return f"{space.dim} parameters (GP above {MAX_GP_PARAMETERS})"
        return None

    def _select(self) -> str:
        concurrency = len(self.pending) + max(self._batch_left, 1)
        if self.trial_concurrency and len(self.pending) == len(self._handed_out):
            # nothing has come back yet: the slots are still filling up, one ask at a time perhaps
            concurrency = max(concurrency, self.trial_concurrency)
        plan, why = self.choose(concurrency)
        if plan != self.plan:
            if self.plan is None:
                _logger.info("Auto: starting with %s: %s", plan, why)
            else:
                _logger.info("Auto: switching from %s to %s after %d results: %s", self.plan, plan,
                             len(self.results), why)
            self.switches.append((len(self.results), plan, why))
            self.plan = plan
        if plan == "GP+TPE":
            # turns alternate: every GP turn refits its model, so the fit is judged anew each time
            self.method = "GP" if self.method == "TPE" else "TPE"
        else:
            self.method = plan
        return self.method

    # -- the tuner interface -------------------------------------------------------------------------

    def set_objectives(self, spec: ObjectiveSpec) -> None:
        """Read results under ``spec``; both inner tuners do too."""
        super().set_objectives(spec)
        for tuner in self.tuners.values():
            tuner.set_objectives(spec)

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        """Install the space in both inner tuners; handed-out configurations that fit it stay seen."""
        space = self.check_search_space(search_space)
        self.tuners["TPE"].update_search_space(search_space)
        try:
            self.tuners["GP"].update_search_space(search_space)
            self._gp_refusal = None
        except SearchSpaceError as error:
            self._gp_refusal = str(error)
        self.space = space
        self.history = ConfigHistory(space)
        for params in [*self._handed_out, *(result.params for result in self.results)]:
            self.history.add(params)
        self._space_rule = self._rule_for_space(space)
        _logger.info("Auto: search space of %d parameters%s; planned method: %s", space.dim,
                     f" ({space.size} configurations)" if space.is_finite else "",
                     self.choose(self.trial_concurrency or 1)[0])

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Parameters]:
        """As the base, with the batch size counted as concurrency while it is being filled."""
        self._batch_left = len(parameter_id_list)
        try:
            return super().generate_multiple_parameters(parameter_id_list, **kwargs)
        finally:
            self._batch_left = 0

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Parameters:
        """The chosen method's proposal; one handed out before is replaced by an unseen one."""
        if self.space is None or self.history is None:
            raise RuntimeError("Auto: update_search_space() must be called before generating parameters")
        space, history = self.space, self.history
        if history.exhausted:
            raise NoMoreTrialError(f"Auto: all {space.size} configurations of the search space have been tried")
        method = self._select()
        tuner = self.tuners[method]
        started = time.perf_counter()
        try:
            params: Parameters | None = tuner.generate_parameters(parameter_id, **kwargs)
        except NoMoreTrialError:
            params = None
        proposer: str | None = method
        if method == "GP":
            self._gp_seconds += time.perf_counter() - started
        if params is None or params in history:
            if params is not None:
                tuner.trial_end(parameter_id, False)  # its proposal does not run: another one does
            proposer = None
            params = history.random_unseen(self.rng) if space.is_finite else space.sample(self.rng)
            if params is None:
                raise NoMoreTrialError("Auto: the search space is exhausted")
        if self._batch_left:
            self._batch_left -= 1
        self._hand_out(parameter_id, params, running=True)
        # the other method learns of the proposal as running, so that its constant liar or
        # believer spreads the next asks away from every pending configuration, not just its own
        shared = [{"parameter_id": parameter_id, "parameter": params, "running": True}]
        for name, other in self.tuners.items():
            if name != proposer:
                other.restore_proposals(shared)
        return params

    def _hand_out(self, parameter_id: int, params: Parameters, running: bool) -> None:
        assert self.history is not None
        self.history.add(params)
        self._handed_out.append(params)
        if running:
            self.pending[parameter_id] = params

    def restore_proposals(self, proposals: list[dict[str, Any]]) -> None:
        """On a resume: the configurations handed out before are seen, the running ones pending,
        in Auto and in both inner tuners."""
        if self.space is None:
            raise RuntimeError("Auto: update_search_space() must be called before restoring proposals")
        fitting = [proposal for proposal in proposals if self.space.contains(proposal["parameter"])]
        for proposal in fitting:
            self._hand_out(proposal["parameter_id"], proposal["parameter"], proposal["running"])
        for tuner in self.tuners.values():
            tuner.restore_proposals(fitting)

    def receive_trial_result(self, parameter_id: int, parameters: Parameters, value: TrialMetric,
                             **kwargs: Any) -> None:
        """Both inner tuners learn from the result."""
        self.pending.pop(parameter_id, None)
        super().receive_trial_result(parameter_id, parameters, value, **kwargs)
        for tuner in self.tuners.values():
            tuner.receive_trial_result(parameter_id, parameters, value, **kwargs)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """Neither inner tuner counts the configuration as running any more."""
        self.pending.pop(parameter_id, None)
        for tuner in self.tuners.values():
            tuner.trial_end(parameter_id, success, **kwargs)

    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Both inner tuners learn from earlier results (an import, a warm start, a resume replay)."""
        super().import_data(data)
        for tuner in self.tuners.values():
            tuner.import_data(data)

    def _learn(self, results: list[Result]) -> int:
        """Mark the configurations seen (the inner tuners learn from the values themselves)."""
        if self.history is not None:
            for result in results:
                self.history.add(result.params)
        return len(results)
