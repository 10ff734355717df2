"""``objectives`` / ``constraints`` in the config: accepted forms, canonical JSON, and every refusal
(made before any trial starts, naming the key, and the file when there is one)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from nni.errors import ConfigError
from nni.experiment import Constraint, ExperimentConfig, Objective
from nni.objectives import ObjectiveSpec

SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}}


def _config(**fields: object) -> ExperimentConfig:
    config = ExperimentConfig("local", trial_command="true", trial_concurrency=1, search_space=SPACE)
    config.tuner.name = "Random"
    for key, value in fields.items():
        setattr(config, key, value)
    return config


def test_dicts_and_objects_give_the_same_spec() -> None:
    from_dicts = _config(objectives=[{"metric": "accuracy", "mode": "maximize"}, {"metric": "latency_ms",
                                                                                  "mode": "minimize"}],
                         constraints=[{"metric": "memory_mb", "max": 512}, {"metric": "accuracy", "min": 0.5}])
    from_objects = _config(objectives=[Objective("accuracy", "maximize"), Objective("latency_ms", "minimize")],
                           constraints=[Constraint("memory_mb", max=512), Constraint("accuracy", min=0.5)])
    spec = from_dicts.objective_spec()
    assert spec == from_objects.objective_spec()
    assert spec == ObjectiveSpec((Objective("accuracy", "maximize"), Objective("latency_ms", "minimize")),
                                 (Constraint("memory_mb", None, 512.0), Constraint("accuracy", 0.5, None)))
    from_dicts.validate()


def test_camel_case_json_round_trips() -> None:
    config = _config(objectives=[{"Metric": "a", "MODE": "Minimize"}], constraints=[{"metric": "m", "min": 1}])
    data = config.json()
    assert data["objectives"] == [{"metric": "a", "mode": "minimize"}]
    assert data["constraints"] == [{"metric": "m", "min": 1.0}]
    assert ExperimentConfig.model_validate(data).objective_spec() == config.objective_spec()


def test_without_them_the_spec_is_none_and_the_json_unchanged() -> None:
    plain = _config()
    assert plain.objective_spec() is None
    assert "objectives" not in plain.json() and "constraints" not in plain.json()
    cleared = _config(objectives=[{"metric": "a"}], constraints=[{"metric": "m", "max": 1}])
    cleared.objectives = None
    cleared.constraints = None
    assert json.dumps(cleared.json()) == json.dumps(plain.json())


def test_constraints_alone_keep_the_default_metric_in_the_tuners_mode() -> None:
    config = _config(constraints=[{"metric": "m", "max": 1}])
    config.tuner.class_args = {"optimize_mode": "minimize"}
    assert config.objective_spec() == ObjectiveSpec((Objective("default", "minimize"),), (Constraint("m", None, 1),))
    assert config.objective_spec("maximize").objectives == (Objective("default", "maximize"),)


BAD = [
    ("objectives", [], "objectives: must list at least one objective"),
    ("objectives", [{"metric": "a", "mode": "up"}], "objectives: [0].mode: must be one of maximize, minimize"),
    ("objectives", [{"metric": "a"}, {"metric": "a", "mode": "minimize"}], "objectives: each metric may appear once"),
    ("objectives", [{"metric": 3}], "objectives: [0].metric: must be the name of a result key"),
    ("objectives", [{"metric": ""}], "objectives: [0].metric: must be the name of a result key"),
    ("objectives", [{"mode": "maximize"}], "objectives: [0].metric: Field required"),
    ("objectives", [{"metric": "a", "goal": 1}], "objectives: [0]: unknown key 'goal'"),
    ("objectives", "accuracy", "objectives: must be a list of objectives"),
    ("objectives", [Constraint("a", max=1)], "objectives: [0]: a Constraint does not belong in objectives"),
    ("constraints", [], "constraints: must list at least one constraint"),
    ("constraints", [{"metric": "m"}], "constraints: [0]: constraint on 'm' needs min, max or both"),
    ("constraints", [{"metric": "m", "min": 2, "max": 1}], "constraints: [0]: constraint on 'm': min 2 is above max 1"),
    ("constraints", [{"metric": "m", "max": 1}, {"metric": "m", "min": 0}], "constraints: each metric may appear once"),
    ("constraints", [{"metric": "m", "max": float("nan")}], "constraints: [0].max: must be a finite number"),
    ("constraints", [{"metric": "m", "max": True}], "constraints: [0].max: must be a number, not the boolean"),
    ("constraints", [{"metric": "m", "max": "big"}], "constraints: [0].max: Input should be a valid number"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD)
def test_malformed_entries_are_refused_naming_the_key(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(**{key: value})
    assert message in str(info.value)


@pytest.mark.parametrize(("key", "value", "message"), BAD[:3] + BAD[10:12])
def test_malformed_entries_in_a_file_name_the_file_and_line(tmp_path: Path, key: str, value: object,
                                                            message: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(textwrap.dedent(f"""\
        trialCommand: python trial.py
        trialConcurrency: 1
        searchSpace: {{x: {{_type: uniform, _value: [0, 1]}}}}
        tuner: {{name: Random}}
        trainingService: {{platform: local}}
        {key}: {json.dumps(value)}
        """))
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.load(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {key} (line 6): ") and message.split(": ", 1)[1] in text


@pytest.mark.parametrize(("tuner", "fields", "words"), [
    ("Anneal", {"objectives": [{"metric": "a"}, {"metric": "b"}]}, "objectives: the tuner Anneal cannot take several"),
    ("Anneal", {"objectives": [{"metric": "accuracy"}]}, "objectives: the tuner Anneal cannot take several"),
    ("Anneal", {"constraints": [{"metric": "m", "max": 1}]}, "constraints: the tuner Anneal cannot take constraints"),
    ("Hyperband", {"objectives": [{"metric": "a"}, {"metric": "b"}]}, "objectives: the tuner Hyperband cannot"),
    ("BOHB", {"constraints": [{"metric": "m", "max": 1}]}, "constraints: the tuner BOHB cannot"),
])
def test_a_tuner_that_cannot_is_refused_listing_those_that_can(tmp_path: Path, tuner: str, fields: dict[str, object],
                                                                words: str) -> None:
    config = _config(**fields)
    config.tuner.name = tuner
    with pytest.raises(ConfigError) as info:
        config.validate()
    assert words in str(info.value)
    # the list is read from the built-ins' flags: those set in main at least, never the refused one
    capable = str(info.value).split("built-in tuners that can: ")[1]
    assert all(name in capable for name in ("Random", "GridSearch", "Batch")) and tuner not in capable


def test_a_tuner_refusal_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("trialCommand: 'true'\ntrialConcurrency: 1\nsearchSpace: {x: {_type: uniform, _value: [0, 1]}}\n"
                    "tuner: {name: Anneal}\ntrainingService: {platform: local}\n"
                    "objectives: [{metric: a}, {metric: b, mode: minimize}]\n")
    with pytest.raises(ConfigError, match=rf"^{path}: objectives: the tuner Anneal cannot"):
        ExperimentConfig.load(path).validate()


def test_one_default_objective_needs_no_flag() -> None:
    config = _config(objectives=[{"metric": "default", "mode": "minimize"}])
    config.tuner.name = "Anneal"
    config.validate()


def test_a_custom_tuner_takes_them(tmp_path: Path) -> None:
    (tmp_path / "my_tuner.py").write_text("from nni.tuner import Tuner\n\nclass MyTuner(Tuner):\n    pass\n")
    config = _config(objectives=[{"metric": "a"}, {"metric": "b"}], constraints=[{"metric": "m", "max": 1}])
    config.tuner = {"className": "my_tuner.MyTuner", "codeDirectory": str(tmp_path)}
    config.validate()


def test_refused_before_any_trial_starts(make_experiment, free_port) -> None:
    experiment = make_experiment("import nni", tuner="Anneal", objectives=[{"metric": "a"}, {"metric": "b"}])
    with pytest.raises(ConfigError, match="objectives: the tuner Anneal cannot"):
        experiment.run(free_port)
    assert not (experiment.experiment_dir / "trials").exists()


def test_a_tuner_object_is_judged_by_its_class_flags() -> None:
    from nni.algorithms.hpo.random_tuner import RandomTuner
    from nni.search_space.tuning import BuiltinTuner

    class SingleMinded(BuiltinTuner):
        """A built-in style tuner that optimises one number only (the flags stay False)."""

    config = _config(objectives=[{"metric": "a"}, {"metric": "b"}])
    config.tuner = None
    config.validate(live_tuner=RandomTuner())
    with pytest.raises(ConfigError, match="objectives: the tuner SingleMinded cannot take several objectives"):
        config.validate(live_tuner=SingleMinded())
