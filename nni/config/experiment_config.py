"""The root config of an experiment (NNI's ``ExperimentConfig``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, SerializeAsAny, ValidationError, field_validator

from ..errors import ConfigError
from ..metrics import short_repr
from .algorithm import AlgorithmConfig, CustomAlgorithmConfig, parse_algorithm
from .base import ConfigBase, config_error_from, parse_duration
from .training_services import LocalConfig, TrainingServiceConfig, parse_training_service

__all__ = ["ExperimentConfig", "load_config_file", "MAX_TRIAL_CONCURRENCY", "MAX_TRIAL_NUMBER",
           "check_trial_concurrency", "check_max_trial_number"]

AnyAlgorithm = AlgorithmConfig | CustomAlgorithmConfig

MAX_TRIAL_CONCURRENCY = 10_000
"""More trials at once than any one manager can follow; a larger value is a typo (or an attack)."""
MAX_TRIAL_NUMBER = 10_000_000
"""Every trial is kept in memory and in the database; ten million is already far past practical."""


def _count_problem(value: Any, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer from 1 to {high:,}, got {type(value).__name__} {short_repr(value, 100)}"
    if not 1 <= value <= high:
        return f"must be an integer from 1 to {high:,}, got {short_repr(value, 100)}"
    return None


def check_trial_concurrency(value: Any) -> int:
    """The check of trialConcurrency, shared by the config and the live update paths (REST, engine)."""
    problem = _count_problem(value, MAX_TRIAL_CONCURRENCY)
    if problem:
        raise ConfigError(f"trialConcurrency: {problem}")
    return value


def check_max_trial_number(value: Any) -> int:
    """The check of maxTrialNumber, shared by the config and the live update paths (REST, engine)."""
    problem = _count_problem(value, MAX_TRIAL_NUMBER)
    if problem:
        raise ConfigError(f"maxTrialNumber: {problem}")
    return value


class ExperimentConfig(ConfigBase):
    """Everything that describes an experiment; assign fields one by one, then ``validate()``."""

    experiment_name: str | None = None
    experiment_type: str = "hpo"
    search_space_file: Path | None = None
    search_space: Any = None
    trial_command: str | None = None
    trial_code_directory: Path = Path(".")
    trial_concurrency: int | None = None
    trial_gpu_number: int | None = Field(default=None, ge=0)
    max_experiment_duration: str | int | float | None = None
    max_trial_number: int | None = None
    max_trial_duration: str | int | float | None = None
    nni_manager_ip: str | None = None
    use_annotation: bool = False
    debug: bool = False
    log_level: str | None = None
    experiment_working_directory: Path = Path("~/nni-experiments")
    tuner_gpu_indices: list[int] | int | str | None = None
    tuner: AnyAlgorithm | None = Field(default_factory=AlgorithmConfig)
    assessor: AnyAlgorithm | None = None
    advisor: AnyAlgorithm | None = None
    training_service: SerializeAsAny[TrainingServiceConfig] | list[SerializeAsAny[TrainingServiceConfig]] | None = None
    shared_storage: dict[str, Any] | None = None
    _source_file: str | None = PrivateAttr(default=None)

    def __init__(self, training_service: Any = None, **data: Any) -> None:
        """NNI's forms: ``ExperimentConfig('local')``, ``ExperimentConfig(training_service=...)``."""
        if training_service is not None:
            data["training_service"] = training_service
        super().__init__(**data)

    @field_validator("tuner", "assessor", "advisor", mode="before")
    @classmethod
    def _algorithm(cls, value: Any) -> Any:
        return parse_algorithm(value)

    @field_validator("training_service", mode="before")
    @classmethod
    def _service(cls, value: Any) -> Any:
        return parse_training_service(value)

    @field_validator("trial_concurrency")
    @classmethod
    def _concurrency(cls, value: int | None) -> int | None:
        problem = None if value is None else _count_problem(value, MAX_TRIAL_CONCURRENCY)
        if problem:
            raise ValueError(problem)  # the key is named by config_error_from
        return value

    @field_validator("max_trial_number")
    @classmethod
    def _trial_number(cls, value: int | None) -> int | None:
        problem = None if value is None else _count_problem(value, MAX_TRIAL_NUMBER)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("max_experiment_duration", "max_trial_duration")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str | None) -> str | None:
        levels = ("trace", "debug", "info", "warning", "error", "fatal")
        if value is not None and value.lower() not in levels:
            raise ValueError(f"must be one of {', '.join(levels)}, got {value!r}")
        return value

    # -- derived values -------------------------------------------------------------------------

    @property
    def max_experiment_seconds(self) -> float | None:
        return None if self.max_experiment_duration is None else parse_duration(self.max_experiment_duration)

    @property
    def max_trial_seconds(self) -> float | None:
        return None if self.max_trial_duration is None else parse_duration(self.max_trial_duration)

    @property
    def platforms(self) -> list[str]:
        services = self.training_service if isinstance(self.training_service, list) else [self.training_service]
        return [s.platform for s in services if s is not None]

    def resolved_search_space(self) -> dict[str, Any]:
        """The search space given inline or read from ``search_space_file``."""
        if self.search_space is not None:
            return self.search_space
        assert self.search_space_file is not None
        path = Path(self.search_space_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"searchSpaceFile: cannot read {path}: {error.strerror}") from None
        try:
            return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as error:
            raise ConfigError(f"searchSpaceFile {path}: not valid JSON/YAML: {error}") from None

    def validate(self, live_tuner: Any = None) -> None:  # type: ignore[override]
        """Check the config is complete and consistent before an experiment starts.

        Raises ConfigError naming the key (and the file it came from); ``live_tuner`` is the
        tuner object given in Python, if any.
        """
        try:
            self._check_complete(live_tuner)
        except ConfigError as error:
            if self._source_file:
                raise type(error)(f"{self._source_file}: {error}") from None
            raise

    def _check_complete(self, live_tuner: Any) -> None:
        from ..search_space import validate_search_space

        if not self.trial_command:
            raise ConfigError("trialCommand: required (the command that runs one trial)")
        if self.trial_concurrency is None:
            raise ConfigError("trialConcurrency: required (how many trials run at once)")
        if (self.search_space is None) == (self.search_space_file is None):
            raise ConfigError("searchSpace / searchSpaceFile: give exactly one of them")
        if self.training_service is None:
            raise ConfigError("trainingService: required (e.g. platform: local)")
        tuner_named = self.tuner is not None and (isinstance(self.tuner, CustomAlgorithmConfig) or self.tuner.name)
        if not live_tuner and not tuner_named and self.advisor is None:
            raise ConfigError("tuner: required, e.g. tuner: {name: TPE, classArgs: {optimize_mode: maximize}}")
        if tuner_named and self.advisor is not None:
            raise ConfigError("advisor: cannot be used together with tuner (advisors are tuners now)")
        services = self.training_service if isinstance(self.training_service, list) else [self.training_service]
        for service in services:
            gpus = service.trial_gpu_number if service.trial_gpu_number is not None else self.trial_gpu_number
            if isinstance(service, LocalConfig) and gpus and service.use_active_gpu is None:
                raise ConfigError("trainingService.useActiveGpu: must be set when trialGpuNumber > 0 "
                                  "(true shares GPUs that other programs use; false waits for idle ones)")
        code_dir = Path(self.trial_code_directory).expanduser()
        if not code_dir.is_dir():
            raise ConfigError(f"trialCodeDirectory: {code_dir} is not a folder")
        # Batch's options are whole configurations (plain dicts, no _name); BatchTuner checks its own
        batch = isinstance(self.tuner, AlgorithmConfig) and str(self.tuner.name or "").lower() in ("batch", "batchtuner")
        if not (batch or getattr(live_tuner, "validates_own_search_space", False)):
            validate_search_space(self.resolved_search_space())
            self._check_tuner_takes_space(live_tuner)

    def _check_tuner_takes_space(self, live_tuner: Any) -> None:
        """Refuse, before anything runs, a space the tuner cannot take (Metis and a string choice, say).

        Tuners that know their limits without being created say so with a ``check_search_space``
        classmethod; a tuner without one finds out at its first ``update_search_space``.
        """
        check = getattr(live_tuner, "check_search_space", None)
        algorithm = self.advisor or self.tuner
        if live_tuner is None and isinstance(algorithm, AlgorithmConfig) and algorithm.name:
            from ..algorithms.hpo.builtin import builtin_class

            check = getattr(builtin_class(algorithm.name, "tuner"), "check_search_space", None)
        if callable(check):
            check(self.resolved_search_space())

    def resolve_paths(self, base: Path) -> None:
        """Make relative paths absolute against ``base`` (a YAML file's folder)."""
        if not Path(self.trial_code_directory).expanduser().is_absolute():
            self.trial_code_directory = (base / self.trial_code_directory).resolve()
        if self.search_space_file is not None and not Path(self.search_space_file).expanduser().is_absolute():
            self.search_space_file = (base / self.search_space_file).resolve()
        for algorithm in (self.tuner, self.assessor, self.advisor):
            if isinstance(algorithm, CustomAlgorithmConfig) and algorithm.code_directory is not None \
                    and not Path(algorithm.code_directory).expanduser().is_absolute():
                algorithm.code_directory = (base / algorithm.code_directory).resolve()

    @classmethod
    def load(cls, path: str | Path) -> ExperimentConfig:
        """Read a YAML (or JSON) config file; relative paths resolve against its folder."""
        return load_config_file(path)


def load_config_file(path: str | Path) -> ExperimentConfig:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of keys, got {type(data).__name__}")
    from .convert_v1 import convert_v1_config, is_v1_config
    from .yaml_lines import with_lines

    try:
        if is_v1_config(data):
            data = convert_v1_config(data, source=str(path))
        try:
            config = ExperimentConfig.model_validate(data)
        except ValidationError as error:
            raise config_error_from(error, str(path)) from None
    except ConfigError as error:
        raise ConfigError(with_lines(str(error).removeprefix(f"{path}: "), text).join((f"{path}: ", ""))) from None
    config.resolve_paths(path.resolve().parent)
    config._source_file = str(path)
    return config
