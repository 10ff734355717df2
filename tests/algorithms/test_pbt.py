"""PBT: checkpoint folders, generations, exploit/explore, resume, every type."""

from __future__ import annotations

import json
import os

import pytest

from nni.algorithms.hpo.builtin import create_algorithm
from nni.algorithms.hpo.pbt_tuner import PBTTuner
from nni.errors import NoMoreTrialError, SearchSpaceError

SPACE = {
    "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    "momentum": {"_type": "uniform", "_value": [0.5, 0.99]},
    "layers": {"_type": "randint", "_value": [1, 6]},
    "opt": {"_type": "choice", "_value": ["sgd", "adam", "rmsprop"]},
}


def _generation(tuner: PBTTuner, first_id: int, score) -> list[dict]:
    got = tuner.generate_multiple_parameters(list(range(first_id, first_id + tuner.population_size + 3)))
    assert len(got) == tuner.population_size
    assert tuner.generate_multiple_parameters([999]) == []  # the generation is out: none right now
    for offset, params in enumerate(got):
        tuner.receive_trial_result(first_id + offset, params, score(params))
        tuner.trial_end(first_id + offset, True)
    return got


def test_checkpoint_dirs_and_exploit(tmp_path) -> None:
    tuner = PBTTuner(all_checkpoint_dir=str(tmp_path), population_size=5, fraction=0.2, seed=0)
    tuner.update_search_space(SPACE)
    first = _generation(tuner, 0, lambda p: p["momentum"])
    for index, params in enumerate(first):
        assert params["save_checkpoint_dir"] == params["load_checkpoint_dir"] == os.path.join(str(tmp_path), str(index), "0")
    second = tuner.generate_multiple_parameters(list(range(100, 105)))
    best = max(first, key=lambda p: p["momentum"])
    worst = min(first, key=lambda p: p["momentum"])
    saves = sorted(p["save_checkpoint_dir"] for p in second)
    assert saves == sorted(os.path.join(str(tmp_path), str(i), "1") for i in range(5))
    replaced = [p for p in second if p["save_checkpoint_dir"].startswith(os.path.dirname(worst["save_checkpoint_dir"]))]
    assert len(replaced) == 1 and replaced[0]["load_checkpoint_dir"] == best["save_checkpoint_dir"]
    kept = [p for p in second if p is not replaced[0]]
    assert all(p["load_checkpoint_dir"] == p["save_checkpoint_dir"].rsplit(os.sep, 1)[0] + os.sep + "0" for p in kept)
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(200)


def test_failed_member_is_replaced_minimize(tmp_path) -> None:
    tuner = PBTTuner(optimize_mode="minimize", all_checkpoint_dir=str(tmp_path), population_size=4, seed=1)
    tuner.update_search_space(SPACE)
    got = tuner.generate_multiple_parameters([0, 1, 2, 3])
    for pid, params in enumerate(got):
        if pid == 2:
            tuner.trial_end(pid, False)
        else:
            tuner.receive_trial_result(pid, params, {"default": float(pid)})
            tuner.trial_end(pid, True)
    nxt = tuner.generate_multiple_parameters([4, 5, 6, 7])
    failed_folder = os.path.dirname(got[2]["save_checkpoint_dir"])
    member = next(p for p in nxt if p["save_checkpoint_dir"].startswith(failed_folder))
    assert member["load_checkpoint_dir"] == got[0]["save_checkpoint_dir"]  # copies the lowest loss


def test_perturbations_stay_in_range_for_every_type(tmp_path) -> None:
    space = {"c": {"_type": "choice", "_value": [1, 2, 4]}, "r": {"_type": "randint", "_value": [0, 3]},
             "u": {"_type": "uniform", "_value": [0, 1]}, "qu": {"_type": "quniform", "_value": [0, 10, 2]},
             "lu": {"_type": "loguniform", "_value": [1e-3, 1]}, "qlu": {"_type": "qloguniform", "_value": [1, 64, 1]},
             "n": {"_type": "normal", "_value": [0, 1]}, "qn": {"_type": "qnormal", "_value": [0, 4, 1]},
             "ln": {"_type": "lognormal", "_value": [0, 1]}, "qln": {"_type": "qlognormal", "_value": [3, 0.5, 2]}}
    tuner = PBTTuner(all_checkpoint_dir=str(tmp_path), population_size=6, fraction=0.5, seed=2)
    tuner.update_search_space(space)
    for generation in range(6):
        for params in _generation(tuner, 100 * generation, lambda p: p["u"] + p["r"]):
            values = {k: v for k, v in params.items() if not k.endswith("checkpoint_dir")}
            assert tuner.space.contains(values), values
            assert isinstance(values["r"], int)


def test_resume_from_records_and_replayed_results(tmp_path) -> None:
    tuner = PBTTuner(all_checkpoint_dir=str(tmp_path), population_size=3, seed=3)
    tuner.update_search_space(SPACE)
    first = _generation(tuner, 0, lambda p: p["lr"])
    records = [{"parameter": p, "value": p["lr"]} for p in first]
    resumed = PBTTuner(all_checkpoint_dir=str(tmp_path), population_size=3, seed=4)
    resumed.update_search_space(SPACE)
    for pid, record in enumerate(records):  # the engine replays results after a restart
        resumed.receive_trial_result(1000 + pid, record["parameter"], record["value"])
    got = resumed.generate_multiple_parameters([0, 1, 2])
    assert resumed.generation == 1
    assert sorted(p["save_checkpoint_dir"][-1] for p in got) == ["1", "1", "1"]
    imported = PBTTuner(all_checkpoint_dir=str(tmp_path), population_size=3, seed=5)
    imported.update_search_space(SPACE)
    imported.import_data(records + [{"bad": 1}])
    assert imported.generation == 1
    partial = PBTTuner(all_checkpoint_dir=str(tmp_path), population_size=3, seed=6)
    partial.update_search_space(SPACE)
    partial.import_data(records[:2])  # no complete generation: start afresh
    assert partial.generation == 0


def test_default_checkpoint_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path / "ckpt"))
    tuner = create_algorithm("tuner", "PBT", {})
    assert (tuner.population_size, tuner.factor, tuner.resample_probability, tuner.fraction) == (10, 0.2, 0.25, 0.2)
    tuner.update_search_space(SPACE)
    assert tuner.all_checkpoint_dir == str(tmp_path / "ckpt")
    monkeypatch.delenv("NNI_CHECKPOINT_DIRECTORY")
    monkeypatch.setenv("NNI_EXP_ID", "abc123")
    monkeypatch.setenv("HOME", str(tmp_path))
    other = PBTTuner()
    other.update_search_space(SPACE)
    assert other.all_checkpoint_dir == str(tmp_path / "nni" / "checkpoint" / "abc123")


def test_refusals() -> None:
    with pytest.raises(SearchSpaceError, match="nested choice.*PBT|PBT.*nested"):
        PBTTuner(all_checkpoint_dir="/tmp/x").update_search_space(
            {"m": {"_type": "choice", "_value": [{"_name": "a", "x": {"_type": "uniform", "_value": [0, 1]}}]}})
    for args in ({"population_size": 1}, {"fraction": 0.9}, {"resample_probability": -1}, {"optimize_mode": "x"}):
        with pytest.raises(ValueError):
            PBTTuner(**args)
    with pytest.raises(RuntimeError, match="update_search_space"):
        PBTTuner().generate_multiple_parameters([0])


PBT_TRIAL = """
import json, os
import nni
p = nni.get_next_parameter()
state = {"steps": 0}
load = os.path.join(p["load_checkpoint_dir"], "state.json")
if os.path.exists(load):
    state = json.load(open(load))
state["steps"] += 1
os.makedirs(p["save_checkpoint_dir"], exist_ok=True)
json.dump(state, open(os.path.join(p["save_checkpoint_dir"], "state.json"), "w"))
nni.report_final_result(state["steps"] * p["momentum"])
"""


@pytest.mark.slow
def test_pbt_runs_a_real_experiment_passing_checkpoints(make_experiment, free_port, tmp_path) -> None:
    experiment = make_experiment(PBT_TRIAL, SPACE, tuner="PBT", trial_concurrency=3, max_trial_number=9)
    experiment.config.tuner.class_args = {"population_size": 3, "all_checkpoint_dir": str(tmp_path / "ckpt")}
    assert experiment.run(free_port) is True
    jobs = experiment.list_trial_jobs()
    assert len(jobs) == 9 and all(job.status == "SUCCEEDED" for job in jobs)
    final = [job.hyperParameters[0].parameters for job in jobs if job.hyperParameters[0].parameters[
        "save_checkpoint_dir"].endswith(os.sep + "2")]
    assert len(final) == 3
    for params in final:  # generation 2 continued from a generation-1 checkpoint, two steps in
        with open(os.path.join(params["save_checkpoint_dir"], "state.json")) as handle:
            assert json.load(handle)["steps"] == 3
