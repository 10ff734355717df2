"""Batch specifics: configurations handed over as-is and in order, skipping ones already run,
NoMoreTrialError at the end, and clear refusals of anything but one choice."""

from __future__ import annotations

from typing import Any

import pytest

from nni.algorithms.hpo.batch_tuner import BatchTuner
from nni.algorithms.hpo.builtin import create_algorithm
from nni.errors import NoMoreTrialError, SearchSpaceError

CONFIGS = [{"lr": 0.1, "opt": "sgd"}, {"lr": 0.01, "opt": "adam"}, {"lr": 0.001, "opt": "adam"}]
SPACE = {"combine_params": {"_type": "choice", "_value": CONFIGS}}


def test_runs_each_configuration_as_is_then_stops() -> None:
    tuner = create_algorithm("tuner", name="Batch")
    assert isinstance(tuner, BatchTuner)
    tuner.update_search_space(SPACE)
    assert tuner.generate_multiple_parameters([0, 1, 2, 3]) == CONFIGS
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(4)


def test_imported_and_replayed_configurations_are_skipped() -> None:
    tuner = BatchTuner()
    tuner.update_search_space(SPACE)
    tuner.import_data([{"parameter": {"opt": "sgd", "lr": 0.1}, "value": 0.9}])
    tuner.receive_trial_result(77, CONFIGS[2], 0.5)  # replayed after a resume
    assert tuner.generate_parameters(0) == CONFIGS[1]
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(1)


@pytest.mark.parametrize(("space", "message"), [
    ({**SPACE, "other": {"_type": "choice", "_value": [1]}}, "exactly one key"),
    ({"x": {"_type": "uniform", "_value": [0, 1]}}, "'x': Batch supports only _type 'choice', got 'uniform'; use GridSearch"),
    ({"x": {"_type": "choice", "_value": []}}, "non-empty list"),
    ([1, 2], "exactly one key"),
])
def test_other_spaces_are_refused(space: Any, message: str) -> None:
    with pytest.raises(SearchSpaceError, match=message):
        BatchTuner().update_search_space(space)
