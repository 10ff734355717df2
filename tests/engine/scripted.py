"""A tuner and an assessor whose answers the test fixes, logging every call the engine makes."""

from __future__ import annotations

from typing import Any

from nni.assessor import Assessor, AssessResult
from nni.errors import NoMoreTrialError
from nni.tuner import Tuner

__all__ = ["ScriptedTuner", "ScriptedAssessor"]


class ScriptedTuner(Tuner):
    """Proposes ``proposals`` in order (NoMoreTrialError after the last) and logs every call.

    Results and ends reach it in the background: read them after the engine stopped (stop waits for them).

    ``fail`` names a method that raises RuntimeError, after ``fail_after`` successful calls of it.
    """

    def __init__(self, proposals: list[dict[str, Any]] | None = None, fail: str | None = None,
                 fail_after: int = 0) -> None:
        self.proposals = list(proposals if proposals is not None else [{"x": i / 10} for i in range(10)])
        self.fail = fail
        self.fail_after = fail_after
        self.calls: list[tuple[Any, ...]] = []
        self.asked: list[int] = []
        """Every parameter id asked for, answered or not."""
        self.exited = False
        self._given = 0

    def _log(self, name: str, *args: Any) -> None:
        if name == self.fail:
            if self.fail_after <= 0:
                raise RuntimeError(f"scripted failure in {name}")
            self.fail_after -= 1
        self.calls.append((name, *args))

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        self._log("space", search_space)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self.asked.append(parameter_id)
        if self._given >= len(self.proposals):
            raise NoMoreTrialError("scripted tuner: nothing left")
        self._log("generate", parameter_id)
        self._given += 1
        return self.proposals[self._given - 1]

    def receive_trial_result(self, parameter_id: int, parameters: dict[str, Any], value: Any,
                             **kwargs: Any) -> None:
        self._log("result", parameter_id, value, kwargs.get("customized", False))

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        self._log("end", parameter_id, success)

    def import_data(self, data: list[dict[str, Any]]) -> None:
        self._log("import", data)

    def _on_exit(self) -> None:
        self.exited = True
        if self.fail == "_on_exit":
            raise RuntimeError("scripted failure in _on_exit")

    def named(self, name: str) -> list[tuple[Any, ...]]:
        """The logged calls of one method, in order."""
        return [call for call in self.calls if call[0] == name]


class ScriptedAssessor(Assessor):
    """Early-stops every trial once it has reported ``patience`` intermediate results."""

    def __init__(self, patience: int = 2) -> None:
        self.patience = patience
        self.ended: list[tuple[str, bool]] = []

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        return AssessResult.Bad if len(trial_history) >= self.patience else AssessResult.Good

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        self.ended.append((trial_job_id, success))
