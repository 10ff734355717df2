"""The root config of an experiment (NNI's ``ExperimentConfig``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import ConfigError
from ..metrics import short_repr
from ..objectives import ObjectiveSpec
from .algorithm import AlgorithmConfig, CustomAlgorithmConfig, parse_algorithm
from .base import ConfigBase, config_error_from, parse_duration, real_path
from .objectives import ConstraintConfig, ObjectiveConfig, parse_constraints, parse_objectives
from .other_platforms import OTHER_PLATFORMS
from .shared_storage import SharedStorageConfig, parse_shared_storage
from .trackers import TrackerConfig, parse_trackers
from .training_services import (
    SHORTCUTS,
    LocalConfig,
    RemoteConfig,
    TrainingServiceConfig,
    parse_training_service,
)
from .trial_function import check_importable, function_command, function_of, function_reference

__all__ = ["ExperimentConfig", "load_config_file", "MAX_TRIAL_CONCURRENCY", "MAX_TRIAL_NUMBER",
           "check_trial_concurrency", "check_max_trial_number", "MAX_TRIAL_RETRIES"]

_logger = logging.getLogger(__name__)

AnyAlgorithm = AlgorithmConfig | CustomAlgorithmConfig

MAX_TRIAL_CONCURRENCY = 10_000
"""More trials at once than any one manager can follow; a larger value is a typo (or an attack)."""
MAX_TRIAL_NUMBER = 10_000_000
MAX_TRIAL_RETRIES = 100
"""A trial failing more often than this needs fixing, not retrying."""
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
    shared_storage: SerializeAsAny[SharedStorageConfig] | None = None
    # retries and warm starts (docs/retries-and-warm-starts.md); None keeps NNI's canonical JSON
    max_trial_retries: int | None = None
    """How often a failed (or lost) trial runs again with the same parameters; None or 0: never."""
    warm_start: list[str] | None = None
    """Experiment ids or exported result files whose results the tuner learns from before it starts."""

    # -- tracking tools (docs/tracking.md) --
    trackers: list[SerializeAsAny[TrackerConfig]] | None = None
    """Tools that also log every finished trial: names or mappings (``[mlflow, {name: wandb, mode: offline}]``)."""

    @field_validator("trackers", mode="before")
    @classmethod
    def _trackers(cls, value: Any) -> Any:
        return parse_trackers(value)
    # -- end of tracking tools --

    # -- several objectives and constraints (docs/multiobjective.md); None keeps NNI's canonical JSON --
    objectives: list[ObjectiveConfig] | None = None
    """Metrics optimised together (``[{metric: accuracy, mode: maximize}, ...]``); None: NNI's ``default``."""
    constraints: list[ConstraintConfig] | None = None
    """Bounds a result must keep to be feasible (``[{metric: memory_mb, max: 512}, ...]``)."""

    @field_validator("objectives", "constraints", mode="before")
    @classmethod
    def _objective_entries(cls, value: Any, info: ValidationInfo) -> Any:
        return (parse_objectives if info.field_name == "objectives" else parse_constraints)(value)

    def objective_spec(self, default_mode: str | None = None) -> ObjectiveSpec | None:
        """The objectives and constraints as one :class:`~nni.objectives.ObjectiveSpec`; None when
        neither is set (NNI's single ``default`` metric, read by the tuner in its optimize mode).

        With constraints alone the objective is ``default`` in ``default_mode`` (the tuner's optimize
        mode), else the tuner's ``classArgs.optimize_mode``, else maximize.
        """
        if self.objectives is None and self.constraints is None:
            return None
        if self.objectives is not None:
            objectives = tuple(entry.to_objective() for entry in self.objectives)
        else:
            mode = default_mode or str(self._tuner_class_args().get("optimize_mode") or "maximize").lower()
            objectives = ObjectiveSpec.single(mode).objectives
        return ObjectiveSpec(objectives, tuple(entry.to_constraint() for entry in self.constraints or []))

    def _tuner_class_args(self) -> dict[str, Any]:
        algorithm = self.advisor or self.tuner
        return algorithm.class_args if algorithm is not None else {}
    # -- end of objectives --

    trial_function: Any = None
    """A top-level function ``params -> metric or dict`` run as each trial, or its ``module:function``
    reference (kept as the reference); fills ``trial_command`` (see docs/function-trials.md)."""
    _source_file: str | None = PrivateAttr(default=None)

    def __init__(self, training_service: Any = None, **data: Any) -> None:
        """NNI's forms: ``ExperimentConfig('local')`` (then set fields one by one), or keyword fields."""
        if training_service is not None:
            data["training_service"] = training_service
            # NNI's placeholder tuner for ``config.tuner.name = ...``, its classArgs explicitly empty
            data.setdefault("tuner", AlgorithmConfig(class_args={}))
        super().__init__(**data)

    @field_validator("shared_storage", mode="before")
    @classmethod
    def _storage(cls, value: Any) -> Any:
        return parse_shared_storage(value)

    @field_validator("tuner", "assessor", "advisor", mode="before")
    @classmethod
    def _algorithm(cls, value: Any) -> Any:
        return parse_algorithm(value)

    @field_validator("training_service", mode="before")
    @classmethod
    def _service(cls, value: Any) -> Any:
        return parse_training_service(value)

    # -- trialFunction --------------------------------------------------------------------------

    @field_validator("trial_function", mode="before")
    @classmethod
    def _function(cls, value: Any) -> str | None:
        return None if value is None else function_reference(value)

    @model_validator(mode="after")
    def _function_command(self) -> ExperimentConfig:
        """Keep ``trial_command`` the command that runs ``trial_function``; refuse another command with it."""
        command = self.trial_command
        if self.trial_function is None:
            if function_of(command) is not None:
                self.__dict__["trial_command"] = None  # the function it ran was removed
            return self
        if command and function_of(command) is None:
            raise ValueError("trialCommand and trialFunction: give one of them, not both "
                             f"(trialCommand is {short_repr(command, 80)})")
        # set in __dict__: an assignment would validate the model again, and again
        self.__dict__["trial_command"] = function_command(self.trial_function)
        return self

    def _check_trial_function(self) -> None:
        """Before start: no service sets its own command, and the trials can find the function."""
        if self.trial_function is None:
            return
        if function_of(self.trial_command) is None:
            raise ConfigError("trialCommand and trialFunction: give one of them, not both")
        for service in self._services():
            if "trial_command" in service.model_fields_set and function_of(service.trial_command) is None:
                raise ConfigError(f"trialFunction: trainingService ({service.platform}) sets its own trialCommand; "
                                  "give one of them, not both")
        code_dir = Path(self.trial_code_directory).expanduser()
        problem = check_importable(self.trial_function, code_dir) if code_dir.is_dir() else None
        if problem:
            raise ConfigError(f"trialFunction: {self.trial_function}: {problem}")

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

    @field_validator("max_trial_retries")
    @classmethod
    def _retries(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= MAX_TRIAL_RETRIES:
            raise ValueError(f"must be an integer from 0 to {MAX_TRIAL_RETRIES}, got {value}")
        return value

    @field_validator("warm_start", mode="before")
    @classmethod
    def _warm_start(cls, value: Any) -> Any:
        """One id or file, or a list of them; an existing file is kept as its absolute path (the
        detached manager runs in another folder)."""
        entries = [value] if isinstance(value, (str, Path)) else value
        if entries is None:
            return None
        if not isinstance(entries, list) or not all(isinstance(e, (str, Path)) and str(e).strip() for e in entries):
            raise ValueError(f"must be a list of experiment ids or result files, got {short_repr(value, 100)}")
        return [str(Path(e).expanduser().resolve()) if Path(e).expanduser().is_file() else str(e).strip()
                for e in entries]

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

    def service_value(self, name: str) -> Any:
        """A shortcut field (``trial_command``, ``trial_gpu_number``, ...) for the one training
        service: its own value when set there, else the root's (a hybrid list takes the root's,
        each of its services overriding per trial)."""
        assert name in SHORTCUTS
        service = self.training_service
        if isinstance(service, TrainingServiceConfig) and name in service.model_fields_set:
            return getattr(service, name)
        return getattr(self, name)

    def _canonicalize(self, parents: list[ConfigBase]) -> None:
        """NNI's canonical form: defaults filled, advisor folded into tuner, the search space file
        read into ``search_space``, shortcuts copied into every training service."""
        if self.log_level is None:
            self.log_level = "debug" if self.debug else "info"
        if self.tuner_gpu_indices is not None and not isinstance(self.tuner_gpu_indices, list):
            self.tuner_gpu_indices = _gpu_list(self.tuner_gpu_indices)
        if isinstance(self.tuner, AlgorithmConfig) and self.tuner.name is None:
            self.tuner = None  # the unnamed placeholder
        if self.advisor is not None and self.tuner is None:
            self.tuner, self.advisor = self.advisor, None
        super()._canonicalize(parents)
        if self.search_space_file is not None:
            try:
                self.search_space = _read_search_space(Path(self.search_space_file))
            except ConfigError:
                if self.search_space is None:
                    raise
                # an already canonical config whose file went away keeps the space it was read with

    def resolved_search_space(self) -> dict[str, Any]:
        """The search space given inline or read from ``search_space_file``."""
        if self.search_space is not None:
            return self.search_space
        assert self.search_space_file is not None
        return _read_search_space(Path(self.search_space_file).expanduser())

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

        if self.trial_concurrency is None:
            raise ConfigError("trialConcurrency: required (how many trials run at once)")
        if self.search_space is None and self.search_space_file is None:
            raise ConfigError("searchSpace / searchSpaceFile: give one of them (a file given too is read over searchSpace)")
        if self.training_service is None:
            raise ConfigError("trainingService: required (e.g. platform: local)")
        tuner_named = self.tuner is not None and (isinstance(self.tuner, CustomAlgorithmConfig) or self.tuner.name)
        # neither tuner nor advisor: the launcher runs Auto (fill_default_tuner)
        if tuner_named and self.advisor is not None:
            raise ConfigError("advisor: cannot be used together with tuner (advisors are tuners now)")
        self._check_nothing_ignored()
        self._check_trial_function()
        for index, service in enumerate(self._services()):
            where = "trainingService" + (f"[{index}]" if isinstance(self.training_service, list) else "")
            self._check_service(service, where)

        # Batch's options are whole configurations (plain dicts, no _name); BatchTuner checks its own
        batch = isinstance(self.tuner, AlgorithmConfig) and str(self.tuner.name or "").lower() in ("batch", "batchtuner")
        if not (batch or getattr(live_tuner, "validates_own_search_space", False)):
            validate_search_space(self.resolved_search_space())
            self._check_tuner_takes_space(live_tuner)
        self._check_tuner_takes_objectives(live_tuner)

    def fill_default_tuner(self) -> None:
        """Name ``Auto`` when neither a tuner nor an advisor is (an unnamed placeholder's classArgs are
        kept), so the stored config, view and resume show the tuner that ran."""
        if self.advisor is None and (self.tuner is None or (isinstance(self.tuner, AlgorithmConfig)
                                                            and not self.tuner.name)):
            args = {} if self.tuner is None else self.tuner.class_args
            self.tuner = AlgorithmConfig(name="Auto", class_args=args) if args else AlgorithmConfig(name="Auto")

    def _services(self) -> list[TrainingServiceConfig]:
        service = self.training_service
        return list(service) if isinstance(service, list) else [] if service is None else [service]

    def _check_service(self, service: TrainingServiceConfig, where: str) -> None:
        """One training service: a platform that runs here, a command, a code folder, GPU settings."""
        if service.platform in OTHER_PLATFORMS:
            name = OTHER_PLATFORMS[service.platform][1]
            raise ConfigError(f"{where}.platform: {service.platform!r} ({name}) is not supported: its config loads, "
                              "but no training service here runs it; run the trials on your machines with "
                              "platform: remote, on a Ray cluster with platform: ray, or with Slurm with "
                              "platform: slurm (see docs/training_services/)")

        def value(name: str) -> Any:
            return getattr(service, name) if name in service.model_fields_set else getattr(self, name)

        if not value("trial_command"):
            raise ConfigError("trialCommand: required (the command that runs one trial), at the root or in "
                              f"{where}; or trialFunction (a Python function run as each trial)")
        if isinstance(service, LocalConfig) and value("trial_gpu_number") and service.use_active_gpu is None:
            raise ConfigError(f"{where}.useActiveGpu: must be set when trialGpuNumber > 0 "
                              "(true shares GPUs that other programs use; false waits for idle ones)")
        per_gpu = [service.max_trial_number_per_gpu] if isinstance(service, LocalConfig) else \
            [m.max_trial_number_per_gpu for m in service.machine_list] if isinstance(service, RemoteConfig) else []
        if not value("trial_gpu_number") and any(n != 1 for n in per_gpu):
            raise ConfigError(f"{where}: maxTrialNumberPerGpu has no effect without trialGpuNumber > 0 (as in NNI); "
                              "set trialGpuNumber or remove maxTrialNumberPerGpu")
        if isinstance(service, LocalConfig) and service.reuse_mode:
            raise ConfigError(f"{where}.reuseMode: true is not supported on the local platform (NNI keeps one "
                              "trial runner alive between trials there; here each trial is its own process): "
                              "remove it or set it to false")
        code_dir = Path(value("trial_code_directory") or ".").expanduser()
        if not code_dir.is_dir():
            key = f"{where}.trialCodeDirectory" if "trial_code_directory" in service.model_fields_set \
                else "trialCodeDirectory"
            raise ConfigError(f"{key}: {code_dir} is not a folder")

    def _check_nothing_ignored(self) -> None:
        """Stop the start on an NNI field that would otherwise do nothing here, saying why."""
        if self.use_annotation:
            raise ConfigError("useAnnotation: NNI annotations (search space comments rewritten into the trial "
                              "code) are not supported; read parameters with nni.get_next_parameter() and give "
                              "searchSpace or searchSpaceFile")
        if self.shared_storage is not None:
            raise ConfigError(f"sharedStorage: {self.shared_storage.storage_type} shared storage is not mounted "
                              "by NNI here; mount it on every machine yourself and point trialCodeDirectory "
                              "(and your data paths) at it, then remove sharedStorage")
        if self.tuner_gpu_indices is not None:
            raise ConfigError("tunerGpuIndices: the tuner runs inside the experiment's manager process; choose "
                              "its GPUs with CUDA_VISIBLE_DEVICES in the environment of nnictl create (or of the "
                              "Python script) and remove tunerGpuIndices")
        for service in self._services():
            ip = service.nni_manager_ip if "nni_manager_ip" in service.model_fields_set else self.nni_manager_ip
            if ip and service.platform != "local":
                _logger.warning("nniManagerIp %s is not needed on platform %s: trials report to the manager "
                                "through the connection it opened to them", ip, service.platform)

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

    def _check_tuner_takes_objectives(self, live_tuner: Any) -> None:
        """Refuse objectives or constraints a built-in tuner would ignore, listing the built-ins that can.

        A custom tuner (``className``, or one given in Python without the flags) reads them itself
        from ``Tuner.objectives``; a built-in says what it honours with ``supports_objectives`` and
        ``supports_constraints``.
        """
        spec = self.objective_spec()
        algorithm = self.advisor or self.tuner
        if spec is None:
            return
        if live_tuner is not None:
            tuner_class: type = type(live_tuner)
            name = tuner_class.__name__
        elif isinstance(algorithm, AlgorithmConfig) and algorithm.name:
            from ..algorithms.hpo.builtin import builtin_class, find_builtin

            tuner_class, name = builtin_class(algorithm.name, "tuner"), find_builtin(algorithm.name, "tuner").name
        else:
            return
        for key, flag, needed, what in (
                ("objectives", "supports_objectives", spec.metrics != ("default",),
                 "several objectives, or one other than 'default'"),
                ("constraints", "supports_constraints", bool(spec.constraints), "constraints")):
            if needed and not getattr(tuner_class, flag, True):
                raise ConfigError(f"{key}: the tuner {name} cannot take {what}; built-in tuners that can: "
                                  f"{', '.join(_builtins_with(flag)) or 'none'} (or a custom tuner, which reads "
                                  "them from self.objectives)")

    def resolve_paths(self, base: Path) -> None:
        """Make relative paths absolute against ``base`` (a YAML file's folder), in nested configs too."""
        _resolve_relative(self, base)

    @classmethod
    def load(cls, path: str | Path) -> ExperimentConfig:
        """Read a YAML (or JSON) config file; relative paths resolve against its folder."""
        return load_config_file(path)


def _resolve_relative(config: ConfigBase, base: Path) -> None:
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, Path) and not value.expanduser().is_absolute():
            setattr(config, name, real_path(value, base))
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ConfigBase):
                _resolve_relative(child, base)


def _builtins_with(flag: str) -> list[str]:
    """The built-in tuners whose class sets ``flag`` (read from the classes, so it follows them)."""
    from ..algorithms.hpo.builtin import BUILTIN_ALGORITHMS, builtin_class

    names = []
    for info in BUILTIN_ALGORITHMS.values():
        try:
            if info.kind == "tuner" and getattr(builtin_class(info.name, "tuner"), flag, False):
                names.append(info.name)
        except (ImportError, ConfigError):
            continue  # a tuner whose optional dependency is missing cannot be offered
    return names


def _gpu_list(value: Any) -> list[int]:
    """NNI's canonical GPU list from an int or a string like "0,1"."""
    try:
        return [value] if isinstance(value, int) else [int(i) for i in str(value).split(",")]
    except ValueError:
        raise ConfigError(f"tunerGpuIndices: must be integers separated by commas, got {value!r}") from None


def _read_search_space(path: Path) -> Any:
    """A search space file, JSON or YAML (PyYAML reads YAML 1.1, not all JSON: JSON is tried first)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"searchSpaceFile: cannot read {path}: {error.strerror}") from None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"searchSpaceFile {path}: not valid JSON/YAML: {error}") from None


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
