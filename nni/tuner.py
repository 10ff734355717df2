"""The tuner interface: custom and built-in tuners subclass :class:`Tuner`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .errors import NoMoreTrialError
from .recoverable import Recoverable
from .typehint import Parameters, SearchSpace, TrialMetric

if TYPE_CHECKING:
    from .objectives import ObjectiveSpec

__all__ = ["Tuner"]

_logger = logging.getLogger(__name__)


class Tuner(Recoverable):
    """Proposes hyperparameters (ask) and learns from the results of trials (tell).

    The engine calls every method from one worker thread, in the order events happened, so a
    tuner needs no locking of its own.
    """

    objectives: ObjectiveSpec | None = None
    """The experiment's objectives and constraints when its config names them (None: NNI's one
    ``default`` metric). Final results then arrive as the trial's whole dict."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Tuner:
        # keep what the user passed, so the web UI can show e.g. HyperoptTuner(algorithm_name='tpe')
        tuner = super().__new__(cls)
        object.__setattr__(tuner, "_init_arguments", (args, kwargs))
        return tuner

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Parameters:
        """Return one configuration for ``parameter_id``; raise NoMoreTrialError when exhausted."""
        raise NotImplementedError("Tuner subclasses must implement generate_parameters()")

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Parameters]:
        """Return configurations for several ids; stops early at NoMoreTrialError."""
        result = []
        for parameter_id in parameter_id_list:
            try:
                result.append(self.generate_parameters(parameter_id, **kwargs))
            except NoMoreTrialError:
                break
        return result

    def receive_trial_result(self, parameter_id: int, parameters: Parameters, value: TrialMetric,
                             **kwargs: Any) -> None:
        """Learn from a final result; ``kwargs['customized']`` is True for user-added trials."""
        raise NotImplementedError("Tuner subclasses must implement receive_trial_result()")

    def receive_customized_trial_result(self, parameter_id: int, parameters: Parameters,
                                        value: TrialMetric, **kwargs: Any) -> None:
        """Deprecated NNI 1.x hook; kept so old tuners that override it still load."""

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """Called when the trial that ran ``parameter_id`` ends, successfully or not."""

    def set_objectives(self, spec: ObjectiveSpec) -> None:
        """Called once, before the first ask, when the config names ``objectives`` or
        ``constraints``; read them from :attr:`objectives`
        (:meth:`nni.objectives.ObjectiveSpec.evaluate` reads a result under them)."""
        self.objectives = spec

    def update_search_space(self, search_space: SearchSpace) -> None:
        """Replace the search space; called before the first ask and on live updates."""
        raise NotImplementedError("Tuner subclasses must implement update_search_space()")

    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Learn from earlier results, a list of ``{'parameter': ..., 'value': ...}``."""

    def restore_proposals(self, proposals: list[dict[str, Any]]) -> None:
        """On a resume, after :meth:`import_data`: what this experiment's tuner handed out that has no
        result, each ``{'parameter_id', 'parameter', 'running'}`` (``running``: its trial runs again
        and its result will arrive). A tuner that avoids repeats counts them as proposed. Also called
        with configurations another tuner handed out for this one (Auto's GP and TPE tell each other)."""

    def _on_exit(self) -> None:
        pass

    def _on_error(self) -> None:
        pass
