"""Bad input is refused before any trial starts, with the key (and file) named."""

from __future__ import annotations

import socket

import pytest

from nni.errors import ConfigError, SearchSpaceError
from nni.experiment import Experiment, ExperimentConfig

BAD_SPACES = [
    ({"lr": {"_type": "uniform", "_value": [1, 0]}}, "lr", "low <= high"),
    ({"lr": {"_type": "uniform", "_value": [0]}}, "lr", "takes 2 values"),
    ({"lr": {"_type": "quniform", "_value": [0, 1]}}, "lr", "takes 3 values"),
    ({"lr": {"_type": "quniform", "_value": [0, 1, 0]}}, "lr", "q > 0"),
    ({"lr": {"_type": "loguniform", "_value": [0, 1]}}, "lr", "low > 0"),
    ({"lr": {"_type": "qloguniform", "_value": [-1, 1, 0.1]}}, "lr", "low > 0"),
    ({"n": {"_type": "randint", "_value": [5, 5]}}, "n", "lower < upper"),
    ({"n": {"_type": "randint", "_value": [0.5, 5]}}, "n", "integers"),
    ({"s": {"_type": "normal", "_value": [0, 0]}}, "s", "sigma > 0"),
    ({"s": {"_type": "qnormal", "_value": [0, 1]}}, "s", "takes 3 values"),
    ({"s": {"_type": "lognormal", "_value": [0, -1]}}, "s", "sigma > 0"),
    ({"s": {"_type": "qlognormal", "_value": [0, 1, -1]}}, "s", "q > 0"),
    ({"c": {"_type": "choice", "_value": []}}, "c", "at least one"),
    ({"c": {"_type": "choices", "_value": [1]}}, "c", "unknown _type"),
    ({"c": {"_type": "choice", "_value": [{"kernel": {"_type": "choice", "_value": [3]}}]}}, "c[0]", "_name"),
    ({"c": {"_type": "choice", "_value": [{"_name": "a", "k": {"_type": "uniform", "_value": [2, 1]}}]}},
     "c[0].k", "low <= high"),
    ({"c": {"_value": [1]}}, "c", "_type"),
    ({"c": {"_type": "uniform", "_value": ["a", "b"]}}, "c", "finite numbers"),
]


@pytest.mark.parametrize(("space", "key", "words"), BAD_SPACES)
def test_malformed_search_space_is_refused_before_any_trial(make_experiment, free_port, space, key, words):
    experiment = make_experiment("import nni", search_space=space)
    with pytest.raises(SearchSpaceError) as info:
        experiment.run(free_port)
    assert f"'{key}'" in str(info.value) and words in str(info.value)
    assert not (experiment.experiment_dir / "trials").exists()


def test_unknown_tuner_name_lists_the_valid_ones(make_experiment, free_port):
    experiment = make_experiment("import nni", tuner="NoSuchTuner")
    with pytest.raises(ConfigError, match=r"tuner\.name: unknown built-in tuner 'NoSuchTuner' \(valid: TPE, Random"):
        experiment.run(free_port)


def test_builtin_names_are_case_insensitive(make_experiment, free_port):
    experiment = make_experiment("import nni; nni.get_next_parameter(); nni.report_final_result(1)",
                                 tuner="tpe", max_trial_number=1)
    assert experiment.run(free_port) is True


def test_missing_trial_command(make_experiment, free_port):
    experiment = make_experiment("import nni")
    experiment.config.trial_command = None
    with pytest.raises(ConfigError, match="trialCommand: required"):
        experiment.run(free_port)


def test_missing_tuner_is_not_refused_auto_runs():
    config = ExperimentConfig("local")
    config.trial_command, config.trial_concurrency, config.search_space = "true", 1, {}
    config.validate()
    config.fill_default_tuner()
    assert config.tuner.name == "Auto"


NESTED = {"m": {"_type": "choice", "_value": [{"_name": "a", "k": {"_type": "uniform", "_value": [0, 1]}}]}}


@pytest.mark.parametrize(("tuner", "space", "words"), [
    ("Metis", {"opt": {"_type": "choice", "_value": ["sgd", "adam"]}}, "'opt': Metis only supports choices of numbers"),
    ("MetisTuner", {"s": {"_type": "normal", "_value": [0, 1]}}, "'s'"),
    ("PBT", NESTED, "PBT"),
    ("SMAC", {"s": {"_type": "normal", "_value": [0, 1]}}, "SMAC"),
])
def test_a_space_the_tuner_cannot_take_is_refused_at_validation(make_experiment, free_port, tuner, space, words):
    experiment = make_experiment("import nni", search_space=space, tuner=tuner)
    with pytest.raises(SearchSpaceError, match=words):
        experiment.config.validate()
    with pytest.raises(SearchSpaceError, match=words):
        experiment.run(free_port)


@pytest.mark.parametrize("value", [0, -3, 10_001, 10**9])
def test_trial_concurrency_must_be_from_1_to_10000(value):
    experiment = Experiment("local")
    with pytest.raises(ConfigError, match="trialConcurrency: must be an integer from 1 to 10,000"):
        experiment.config.trial_concurrency = value
    with pytest.raises(ConfigError, match="trialConcurrency: must be an integer from 1 to 10,000"):
        ExperimentConfig.from_dict({"trialConcurrency": value})


@pytest.mark.parametrize("value", [0, 10_000_001, 10**400])
def test_max_trial_number_must_be_from_1_to_ten_million(value):
    experiment = Experiment("local")
    with pytest.raises(ConfigError, match="maxTrialNumber: must be an integer from 1 to 10,000,000"):
        experiment.config.max_trial_number = value
    with pytest.raises(ConfigError, match="maxTrialNumber: must be an integer from 1 to 10,000,000"):
        ExperimentConfig.from_dict({"maxTrialNumber": value})


def test_trial_concurrency_required(make_experiment, free_port):
    experiment = make_experiment("import nni")
    experiment.config.trial_concurrency = None
    with pytest.raises(ConfigError, match="trialConcurrency: required"):
        experiment.run(free_port)


@pytest.mark.parametrize("value", [10**400, float("nan"), float("inf"), "9" * 400 + "s", 0, "-1h"])
def test_an_unbounded_or_not_finite_duration_is_refused_by_key(value):
    for key in ("maxExperimentDuration", "maxTrialDuration"):
        with pytest.raises(ConfigError, match=f"{key}: duration must"):
            ExperimentConfig.from_dict({key: value})


def test_wrong_types_and_unknown_keys_name_the_field():
    with pytest.raises(ConfigError, match="maxTrialNumber"):
        ExperimentConfig.from_dict({"maxTrialNumber": "many"})
    with pytest.raises(ConfigError, match="unknown key 'trialConcurency'"):
        ExperimentConfig.from_dict({"trialConcurency": 1})
    with pytest.raises(ConfigError, match="maxExperimentDuration: .*'30s'"):
        ExperimentConfig.from_dict({"maxExperimentDuration": "soon"})
    with pytest.raises(ConfigError, match=r"trainingService.*unknown key 'gpuIndice'"):
        ExperimentConfig.from_dict({"trainingService": {"platform": "local", "gpuIndice": 0}})
    with pytest.raises(ConfigError, match="platform must be one of"):
        ExperimentConfig.from_dict({"trainingService": {"platform": "mars"}})


def test_keys_match_ignoring_case_and_underscores():
    config = ExperimentConfig.from_dict({"trial_concurrency": 3, "MAXTRIALNUMBER": 7,
                                         "training_service": {"platform": "local", "gpu_indices": "0,2"}})
    assert config.trial_concurrency == 3 and config.max_trial_number == 7
    assert config.training_service.gpu_indices == [0, 2]
    assert config.json()["trainingService"]["gpuIndices"] == [0, 2]


def test_yaml_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("trialConcurrency: 1\ntuner: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid YAML \(line \d+"):
        ExperimentConfig.load(path)
    path.write_text("trialConcurrency: 0\n")
    with pytest.raises(ConfigError, match=rf"{path}: trialConcurrency"):
        ExperimentConfig.load(path)


def test_yaml_relative_paths_resolve_against_the_file(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "space.json").write_text('{"x": {"_type": "uniform", "_value": [0, 1]}}')
    path = tmp_path / "config.yml"
    path.write_text("trialCommand: python3 t.py\ntrialCodeDirectory: code\nsearchSpaceFile: space.json\n"
                    "trialConcurrency: 1\ntuner: {name: TPE}\ntrainingService: {platform: local}\n")
    config = ExperimentConfig.load(path)
    assert config.trial_code_directory == tmp_path / "code"
    config.validate()
    assert config.resolved_search_space()["x"]["_type"] == "uniform"
    bad = tmp_path / "bad.yml"
    bad.write_text(path.read_text().replace("space.json", "missing.json"))
    with pytest.raises(ConfigError, match=rf"{bad}: searchSpaceFile: cannot read"):
        ExperimentConfig.load(bad).validate()


def test_gpu_trials_need_use_active_gpu_to_be_set(make_experiment, free_port):
    experiment = make_experiment("import nni", trial_gpu_number=1)
    with pytest.raises(ConfigError, match="useActiveGpu: must be set when trialGpuNumber > 0"):
        experiment.run(free_port)


def test_port_in_use_names_the_port(make_experiment):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        experiment = make_experiment("import nni")
        with pytest.raises(RuntimeError, match=f"Port {port} on 127.0.0.1 is already in use"):
            experiment.run(port)


def test_bad_experiment_id():
    with pytest.raises(ValueError, match="experiment id"):
        Experiment("local", id="has space")


def test_detach_refuses_a_live_tuner(make_experiment, free_port):
    from nni.algorithms.hpo.tpe_tuner import TpeTuner
    from nni.experiment import RunMode

    experiment = make_experiment("import nni", tuner=TpeTuner())
    with pytest.raises(ConfigError, match="live tuner object"):
        experiment.start(free_port, run_mode=RunMode.Detach)


def test_trial_code_directory_must_exist(make_experiment, free_port, tmp_path):
    experiment = make_experiment("import nni")
    experiment.config.trial_code_directory = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match="trialCodeDirectory: .* is not a folder"):
        experiment.run(free_port)




def test_a_live_batch_tuner_takes_its_own_search_space(make_experiment, free_port):
    from nni.algorithms.hpo.batch_tuner import BatchTuner

    space = {"combo": {"_type": "choice", "_value": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}}
    experiment = make_experiment("import nni; p = nni.get_next_parameter(); nni.report_final_result(p['x'])",
                                 search_space=space, tuner=BatchTuner(), max_trial_number=5)
    assert experiment.run(free_port) is True
    assert sorted(t.finalMetricData[0].data for t in experiment.list_trial_jobs()) == [1, 3]
