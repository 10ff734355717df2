"""SMAC tuner through SMAC3 (when installed) and its missing-dependency message."""

from __future__ import annotations

import importlib.util
import logging
import sys

import pytest

from nni.algorithms.hpo.builtin import create_algorithm
from nni.errors import NoMoreTrialError, SearchSpaceError

HAVE_SMAC = importlib.util.find_spec("smac") is not None
SPACE = {
    "c": {"_type": "choice", "_value": ["a", 2, [1, 2]]},
    "r": {"_type": "randint", "_value": [-1, 3]},
    "one": {"_type": "randint", "_value": [7, 8]},
    "u": {"_type": "uniform", "_value": [-2, 2]},
    "q": {"_type": "quniform", "_value": [0, 10, 2.5]},
    "lu": {"_type": "loguniform", "_value": [1e-4, 1]},
    "qlu": {"_type": "qloguniform", "_value": [1, 100, 5]},
}


def test_missing_smac_gives_install_hint(monkeypatch) -> None:
    from nni.algorithms.hpo import smac_tuner
    monkeypatch.setitem(sys.modules, "smac", None)  # import smac now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "nni\[smac\]"'):
        smac_tuner.SMACTuner()


@pytest.mark.skipif(not HAVE_SMAC, reason="SMAC3 (optional extra) not installed")
def test_smac_generates_valid_configs_and_learns() -> None:
    tuner = create_algorithm("tuner", "SMAC", {"optimize_mode": "minimize", "seed": 0})
    assert tuner.config_dedup is False
    tuner.import_data([{"parameter": {"c": "a", "r": 0, "one": 7, "u": 0.0, "q": 5.0, "lu": 0.01, "qlu": 10.0},
                        "value": 0.5}, {"broken": True}])
    tuner.update_search_space(SPACE)
    seen = set()
    for pid in range(12):
        params = tuner.generate_parameters(pid)
        assert tuner.space.contains(params), params
        assert params["one"] == 7 and isinstance(params["r"], int) and params["q"] in (0, 2.5, 5, 7.5, 10)
        key = str(sorted(params.items(), key=str))
        assert key not in seen
        seen.add(key)
        if pid == 3:
            tuner.trial_end(pid, False)  # crashed without a result
            continue
        tuner.receive_trial_result(pid, params, {"default": params["u"] ** 2 + params["r"]})
        tuner.trial_end(pid, True)
    tuner.receive_trial_result(999, {**params, "u": 1.0}, 2.0)  # replayed result of an unknown id


@pytest.mark.skipif(not HAVE_SMAC, reason="SMAC3 (optional extra) not installed")
def test_smac_refusals_and_exhaustion() -> None:
    from nni.algorithms.hpo.smac_tuner import SMACTuner
    with pytest.raises(SearchSpaceError, match="'n'.*normal.*TPE or GP"):
        SMACTuner().update_search_space({"n": {"_type": "normal", "_value": [0, 1]}})
    tuner = SMACTuner(seed=1)
    tuner.update_search_space({"c": {"_type": "choice", "_value": [1, 2, 3]}})
    seen = []
    for pid in range(6):
        params = tuner.generate_parameters(pid)
        seen.append(params["c"])
        tuner.receive_trial_result(pid, params, params["c"])
    # every configuration first, then repeats: without config_dedup NNI's SMAC never ends
    assert sorted(seen[:3]) == [1, 2, 3] and set(seen[3:]) <= {1, 2, 3}
    dedup = SMACTuner(config_dedup=True, seed=1)
    dedup.update_search_space({"c": {"_type": "choice", "_value": [1, 2, 3]}})
    firsts = []
    for pid in range(3):
        params = dedup.generate_parameters(pid)
        firsts.append(params["c"])
        dedup.receive_trial_result(pid, params, params["c"])
    assert sorted(firsts) == [1, 2, 3]
    with pytest.raises(NoMoreTrialError):  # with it, a used-up space ends the experiment, as in NNI
        dedup.generate_parameters(3)


def test_smac_leaves_the_process_logging_as_it_was() -> None:
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    level, handlers = root.level, list(root.handlers)
    try:
        tuner = create_algorithm("tuner", "SMAC", {})
        tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
        assert (root.level, root.handlers) == (level, handlers)
    finally:
        root.removeHandler(handler)


@pytest.mark.skipif(not HAVE_SMAC, reason="SMAC3 (optional extra) not installed")
@pytest.mark.timeout(120)
def test_smac_answers_when_every_configuration_is_still_running() -> None:
    """More trials at once than the space has configurations: no result has come back yet."""
    from nni.algorithms.hpo.smac_tuner import SMACTuner
    space = {"c": {"_type": "choice", "_value": [1, 2, 3]}}
    tuner = SMACTuner(seed=1)
    tuner.update_search_space(space)
    asked = [tuner.generate_parameters(pid)["c"] for pid in range(5)]
    assert sorted(asked[:3]) == [1, 2, 3] and set(asked[3:]) <= {1, 2, 3}
    dedup = SMACTuner(config_dedup=True, seed=1)
    dedup.update_search_space(space)
    assert sorted(dedup.generate_parameters(pid)["c"] for pid in range(3)) == [1, 2, 3]
    with pytest.raises(NoMoreTrialError):
        dedup.generate_parameters(3)
