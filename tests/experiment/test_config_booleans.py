"""A boolean where a number belongs is refused with the key named (pydantic would read True as 1)."""

from __future__ import annotations

import pytest
import yaml

from nni.errors import ConfigError
from nni.experiment import ExperimentConfig
from nni.experiment.config.experiment_config import load_config_file


@pytest.mark.parametrize(("field", "key", "value"), [
    ("trial_concurrency", "trialConcurrency", True),
    ("max_trial_number", "maxTrialNumber", False),
    ("trial_gpu_number", "trialGpuNumber", True),
    ("max_trial_duration", "maxTrialDuration", True),
    ("tuner_gpu_indices", "tunerGpuIndices", [0, True]),
])
def test_assigning_a_boolean_to_a_number_field_names_the_key(field, key, value):
    config = ExperimentConfig("local")
    with pytest.raises(ConfigError, match=f"{key}: must be a number, not the boolean"):
        setattr(config, field, value)


def test_yaml_true_for_trial_concurrency_names_the_file_and_key(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({"trialCommand": "python3 trial.py", "trialConcurrency": True,
                                    "searchSpace": {"x": {"_type": "uniform", "_value": [0, 1]}},
                                    "tuner": {"name": "Random"}, "trainingService": {"platform": "local"}}))
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    message = str(info.value)
    assert "config.yml" in message and "trialConcurrency" in message
    assert "must be a number, not the boolean True" in message


def test_nested_service_fields_refuse_booleans_too():
    with pytest.raises(ConfigError, match=r"trainingService\.maxTrialNumberPerGpu: must be a number"):
        ExperimentConfig.from_dict({"trialCommand": "x", "trainingService": {"platform": "local",
                                                                              "maxTrialNumberPerGpu": True}})


def test_booleans_stay_valid_for_boolean_fields_and_numbers_for_number_fields():
    config = ExperimentConfig("local")
    config.use_annotation = True
    config.trial_concurrency = 2
    config.max_trial_duration = "10m"
    assert (config.use_annotation, config.trial_concurrency, config.max_trial_duration) == (True, 2, "10m")
