"""DNGO tuner (PyTorch, when installed) and its missing-dependency message."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from nni.algorithms.hpo.builtin import create_algorithm

HAVE_TORCH = importlib.util.find_spec("torch") is not None
SPACE = {
    "c": {"_type": "choice", "_value": ["a", "b", 3]},
    "r": {"_type": "randint", "_value": [0, 4]},
    "u": {"_type": "uniform", "_value": [-1, 1]},
    "qu": {"_type": "quniform", "_value": [0, 1, 0.25]},
    "lu": {"_type": "loguniform", "_value": [1e-3, 1]},
    "qlu": {"_type": "qloguniform", "_value": [1, 50, 1]},
    "n": {"_type": "normal", "_value": [0, 1]},
    "qn": {"_type": "qnormal", "_value": [0, 2, 1]},
    "ln": {"_type": "lognormal", "_value": [0, 1]},
    "qln": {"_type": "qlognormal", "_value": [3, 0.5, 1]},
    "m": {"_type": "choice", "_value": [{"_name": "x", "d": {"_type": "randint", "_value": [1, 3]}}, {"_name": "y"}]},
}


def test_missing_torch_gives_install_hint(monkeypatch) -> None:
    from nni.algorithms.hpo import dngo_tuner
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r'pip install "nni\[dngo\]"'):
        dngo_tuner.DNGOTuner()


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch (optional extra) not installed")
def test_every_type_over_several_rounds_with_training() -> None:
    tuner = create_algorithm("tuner", "DNGO", {"optimize_mode": "minimize", "sample_size": 200,
                                               "trials_per_update": 4, "num_epochs_per_training": 30, "seed": 0})
    tuner.update_search_space(SPACE)
    seen = set()
    for pid in range(18):
        params = tuner.generate_parameters(pid)
        assert tuner.space.contains(params), params
        key = str(sorted(params.items(), key=str))
        assert key not in seen
        seen.add(key)
        tuner.receive_trial_result(pid, params, {"default": params["u"] ** 2 + params["r"], "other": 0})
    assert tuner._network is not None and tuner._trained_on >= 12


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch (optional extra) not installed")
def test_defaults_exhaustion_and_import() -> None:
    from nni.algorithms.hpo.dngo_tuner import DNGOTuner
    default = DNGOTuner()
    assert (default.sample_size, default.trials_per_update, default.num_epochs_per_training) == (1000, 20, 500)
    for args in ({"sample_size": 0}, {"trials_per_update": 1.5}, {"optimize_mode": "y"}):
        with pytest.raises(ValueError):
            DNGOTuner(**args)
    tuner = DNGOTuner(num_epochs_per_training=5, seed=1)
    tuner.import_data([{"parameter": {"c": 1}, "value": 1.0}, {"junk": 0}])
    tuner.update_search_space({"c": {"_type": "choice", "_value": [1, 2, 3]}})
    seen = [1]
    for pid in range(5):
        params = tuner.generate_parameters(pid)
        seen.append(params["c"])
        tuner.receive_trial_result(pid, params, params["c"])
    # every configuration first, then repeats (NNI's DNGO never ends an experiment)
    assert sorted(seen[:3]) == [1, 2, 3] and len(seen) == 6
