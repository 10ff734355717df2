"""``Experiment``: NNI's Python launch API (both the 2.0 form with a live tuner and the 3.0 form)."""

from __future__ import annotations

import atexit
import html
import logging
import secrets
import string
import sys
import time
import types
import weakref
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis.pareto import analyse
from ..assessor import Assessor
from ..config import ExperimentConfig
from ..engine.handle import setting_named
from ..errors import ConfigError
from ..metrics import metric_number
from ..records import ExperimentStatus
from ..storage.manifest import read_manifest
from ..storage.sqlite import database_dir
from ..tuner import Tuner
from .data import TrialJob, TrialMetricData, TrialResult
from .launcher import ExperimentRunner
from .progress import ProgressLine, format_outcome, reopen_command
from .rest_client import RestClient, RestError

if TYPE_CHECKING:
    import pandas

__all__ = ["Experiment", "RunMode"]

_logger = logging.getLogger("nni.experiment")
_ID_CHARS = string.ascii_lowercase + string.digits
_running: weakref.WeakSet[Experiment] = weakref.WeakSet()


class RunMode(Enum):
    """Background: the manager ends with this Python process. Foreground: also logs to the console.
    Detach: the manager keeps running after this script exits."""

    Background = "background"
    Foreground = "foreground"
    Detach = "detach"


def _new_id() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(8))


class _class_or_instance:  # noqa: N801 - used as a decorator
    """A method callable on the class (NNI 2.x ``Experiment.resume(id)``) or on an instance."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return types.MethodType(self.func, obj if obj is not None else owner)


def _instance_resume(experiment: Experiment, port: int = 8080, wait_completion: bool = True,
                     debug: bool = False) -> bool | None:
    runner = experiment._start_stored("resume", port, debug)
    return experiment._wait_stored(runner) if wait_completion else None


def _class_resume(cls: type[Experiment], experiment_id: str, port: int = 8080, wait_completion: bool = True,
                  debug: bool = False) -> Experiment:
    experiment = cls(None, id=experiment_id)
    _instance_resume(experiment, port, wait_completion, debug)
    return experiment


def _instance_view(experiment: Experiment, port: int = 8080, non_blocking: bool = False) -> None:
    experiment._start_stored("view", port, False)
    if non_blocking:
        return
    try:
        while True:
            time.sleep(10)
    except KeyboardInterrupt:
        print("\nStopping the view...", file=sys.stderr, flush=True)
        experiment.stop()


def _class_view(cls: type[Experiment], experiment_id: str, port: int = 8080, non_blocking: bool = False) -> Experiment:
    experiment = cls(None, id=experiment_id)
    _instance_view(experiment, port, non_blocking)
    return experiment


class Experiment:
    """Configure with ``experiment.config.*``, then ``run(port)``; query and steer while it runs."""

    def __init__(self, config_or_platform: Any = None, id: str | None = None, *args: Any,  # noqa: A002
                 tuner: Tuner | None = None, assessor: Assessor | None = None,
                 training_service: Any = None) -> None:
        live_tuner, live_assessor = tuner, assessor
        # NNI 2.0 form: Experiment(tuner, 'local') or Experiment(tuner, assessor, 'local').
        positional = [config_or_platform, id, *args]
        if isinstance(config_or_platform, Tuner):
            live_tuner = config_or_platform
            rest = [p for p in positional[1:] if p is not None]
            if rest and isinstance(rest[0], Assessor):
                live_assessor = rest.pop(0)
            training_service = training_service or (rest[0] if rest else None)
            config_or_platform, id = None, None
        elif args:
            raise TypeError("Experiment(config_or_platform=None, id=None) takes at most two positional arguments")
        if id is not None and not _valid_id(id):
            raise ValueError(f"experiment id must match [A-Za-z0-9_-]{{1,32}}, got {id!r}")
        if isinstance(config_or_platform, ExperimentConfig):
            self.config = config_or_platform
        elif config_or_platform is not None or training_service is not None:
            self.config = ExperimentConfig(training_service=config_or_platform or training_service)
        else:
            self.config = ExperimentConfig()
        self.id: str = id or _new_id()
        self.port: int | None = None
        self.url_prefix: str | None = None
        self._tuner = live_tuner
        self._assessor = live_assessor
        self._runner: ExperimentRunner | None = None
        self._client: RestClient | None = None
        self._host = "127.0.0.1"
        self._enqueued: list[dict[str, Any]] = []

    # -- life cycle -------------------------------------------------------------------------------

    def start(self, port: int = 8080, debug: bool = False, run_mode: RunMode = RunMode.Background,
              host: str = "127.0.0.1", url_prefix: str | None = None) -> None:
        """Start the manager (and its web UI on ``host:port``) and return once trials can run."""
        if self._runner is not None or self._client is not None:
            raise RuntimeError(f"experiment {self.id} is already started on port {self.port}")
        if url_prefix is not None:
            self.url_prefix = url_prefix
        if run_mode == RunMode.Detach:
            from .detach import start_detached

            if self._tuner is not None or self._assessor is not None:
                raise ConfigError("run_mode=Detach needs the tuner given in config (tuner.name or "
                                  "tuner.className): a live tuner object cannot outlive this process")
            self._client = start_detached(self.id, self.config, port, host, self.url_prefix or "", debug)
            self.port, self._host = self._client.port, host
            for parameters in self._enqueued:  # another process's engine: queued as soon as it answers
                self._client.post("/trial-jobs", {"parameters": parameters})
            self._enqueued.clear()
            return
        runner = ExperimentRunner(self.id, self.config, tuner=self._tuner, assessor=self._assessor, port=port,
                                  host=host, url_prefix=self.url_prefix or "", debug=debug,
                                  console_log=run_mode == RunMode.Foreground, enqueued=self._enqueued)
        self._enqueued = []
        runner.start_in_thread()
        self._runner, self.port, self._host = runner, runner.port, host
        self._client = RestClient(runner.port, host, self.url_prefix or "", runner.token)
        _running.add(self)
        print(f"Experiment {self.id} started. Web portal: {runner.url}", flush=True)

    def stop(self) -> None:
        """Stop the experiment: kill its trials, stop the manager and its web server."""
        if self._runner is not None:
            self._runner.stop()
            self._runner = None
        elif self._client is not None:
            try:
                self._client.delete("/experiment")
            except OSError:
                pass
        self._client = None
        self.port = None
        _running.discard(self)

    def run(self, port: int = 8080, wait_completion: bool = True, debug: bool = False) -> bool | None:
        """Start, then block until the experiment ends: True for DONE/STOPPED, False for ERROR.

        Ctrl-C stops the experiment. Afterwards it stays queryable until ``stop()`` or exit.
        """
        self.start(port, debug)
        if not wait_completion:
            return None
        assert self._runner is not None
        runner = self._runner
        try:
            with ProgressLine(self._summary, runner.url) as progress:
                progress.wait(runner.wait_finished)
        except KeyboardInterrupt:
            _logger.warning("KeyboardInterrupt: stopping the experiment")
            print("\nInterrupted: stopping the experiment...", file=sys.stderr, flush=True)
            self.stop()
            return None
        engine = runner.engine
        assert engine is not None
        failed = engine.status == ExperimentStatus.ERROR
        print(format_outcome(self._outcome()), file=sys.stderr if failed else sys.stdout, flush=True)
        return not failed

    def run_function(self, function: Any, port: int = 8080, wait_completion: bool = True,
                     debug: bool = False) -> bool | None:
        """Run ``function`` (a top-level ``params -> metric or dict``) as every trial, then as :meth:`run`.

        Each trial calls it in its own process forked from a warm worker (see docs/function-trials.md);
        a lambda or nested function is refused here, before anything starts.
        """
        self.config.trial_function = function
        return self.run(port, wait_completion, debug)

    def _outcome(self) -> dict[str, Any]:
        """What ``run()`` reports at the end (see :func:`~nni.experiment.progress.format_outcome`)."""
        engine = self._runner.engine if self._runner else None
        assert engine is not None
        stats = engine.statistics()
        best = engine.best_trial()
        spec = engine.objective_spec()
        return {
            "id": self.id, "status": engine.status.value, "error": engine.error, "total": len(engine.trials),
            "succeeded": stats.get("SUCCEEDED", 0), "failed": stats.get("FAILED", 0),
            "best": None if best is None or best.final is None else {
                "trial_id": best.trial_id, "sequence_id": best.sequence_id, "parameters": best.parameters,
                "value": best.final.value, "mode": engine.optimize_mode(),
                **({} if spec is None else {"objectives": spec.objectives})},
            **({} if spec is None else {"front": len(analyse(engine.trials.values(), spec).front)}),
            "directory": str(engine.experiment_dir),
            "reopen": reopen_command(self.id, Path(self.config.experiment_working_directory), self.port),
        }

    def _summary(self) -> dict[str, Any]:
        engine = self._runner.engine if self._runner else None
        if engine is None:
            return {}
        stats = engine.statistics()
        best = engine.best_trial()
        finished = sum(n for s, n in stats.items() if s not in ("WAITING", "RUNNING"))
        # under objectives: the best trial's first objective (the one it is best on)
        spec = engine.objective_spec()
        key = spec.metrics[0] if spec is not None else "default"
        return {"status": engine.status.value, "done": finished, "max": self.config.max_trial_number,
                "running": stats.get("RUNNING", 0), "waiting": stats.get("WAITING", 0),
                "best": metric_number(best.final.value, key) if best and best.final else None,
                "elapsed": engine.elapsed_seconds()}

    @classmethod
    def connect(cls, port: int) -> Experiment:
        """Attach to an experiment already running on ``port`` (started elsewhere)."""
        entry = next((e for e in read_manifest().values()
                      if e.get("port") == port and e.get("status") not in ("STOPPED",)), None)
        token = entry.get("token") if entry else None
        client = RestClient(port, token=token, url_prefix=(entry or {}).get("urlPrefix", ""))
        profile = client.get("/experiment")
        experiment = cls(ExperimentConfig.model_validate(profile["params"]), id=profile["id"])
        experiment._client, experiment.port = client, port
        return experiment

    # -- resume and view (NNI 2.x class-level forms and NNI 3.0 instance forms) -------------------

    def _stored_dir(self) -> Path:
        from .launcher import find_experiment_dir

        if database_dir(self.experiment_dir).is_dir():
            return self.experiment_dir
        return find_experiment_dir(self.id)

    def _start_stored(self, mode: str, port: int, debug: bool) -> ExperimentRunner:
        """Start this process's manager on the stored experiment ``self.id`` (resume or view)."""
        from .detach import kill_unadoptable_trials, manager_alive
        from .launcher import check_port, load_stored_config
        from .lock import ExperimentLock

        if self._runner is not None or self._client is not None:
            raise RuntimeError(f"experiment {self.id} is already started on port {self.port}")
        if manager_alive(self.id):
            entry = read_manifest().get(self.id, {})
            raise RuntimeError(f"experiment {self.id} is already running (pid {entry.get('pid')}, port "
                               f"{entry.get('port')}); stop it first")
        check_port(port)
        directory = self._stored_dir()
        config = load_stored_config(self.id, directory)
        # Taken before the resume kills anything, so a second resume cannot harm the first one's trials.
        lock = ExperimentLock.acquire(self.id, directory, mode)
        try:
            if mode == "resume":
                kill_unadoptable_trials(self.id, directory)
            config.experiment_working_directory = directory.resolve().parent
            runner = ExperimentRunner(self.id, config, tuner=self._tuner, assessor=self._assessor, port=port,
                                      url_prefix=self.url_prefix or "", debug=debug, mode=mode, lock=lock,
                                      enqueued=self._enqueued if mode == "resume" else None)
            runner.start_in_thread()
            if mode == "resume":
                self._enqueued = []
        except BaseException:
            lock.release()
            raise
        self.config = config
        self._runner, self.port = runner, runner.port
        self._client = RestClient(runner.port, "127.0.0.1", self.url_prefix or "", runner.token)
        _running.add(self)
        verb = "resumed" if mode == "resume" else "opened read-only"
        print(f"Experiment {self.id} {verb}. Web portal: {runner.url}", flush=True)
        return runner

    def _wait_stored(self, runner: ExperimentRunner) -> bool | None:
        try:
            with ProgressLine(self._summary, runner.url) as progress:
                progress.wait(runner.wait_finished)
        except KeyboardInterrupt:
            print("\nInterrupted: stopping the experiment...", file=sys.stderr, flush=True)
            self.stop()
            return None
        assert runner.engine is not None
        return runner.engine.status != ExperimentStatus.ERROR

    @_class_or_instance
    def resume(target: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - class or instance
        """Continue a stopped or crashed experiment from what its database holds.

        ``Experiment.resume(experiment_id, port=8080, wait_completion=True, debug=False)`` (NNI 2.x)
        returns the experiment; ``experiment.resume(port=8080, wait_completion=True, debug=False)``
        (NNI 3.0) returns like ``run()``: True/False when it waited, None otherwise.
        """
        if isinstance(target, type):
            return _class_resume(target, *args, **kwargs)
        return _instance_resume(target, *args, **kwargs)

    @_class_or_instance
    def view(target: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - class or instance
        """Serve a stored experiment read-only (web portal and queries; changes are refused).

        ``Experiment.view(experiment_id, port=8080, non_blocking=False)`` or
        ``experiment.view(port=8080, non_blocking=False)``; blocking views end on Ctrl-C.
        """
        if isinstance(target, type):
            return _class_view(target, *args, **kwargs)
        return _instance_view(target, *args, **kwargs)

    def run_or_resume(self, port: int = 8080, wait_completion: bool = True, debug: bool = False) -> bool | None:
        """Resume the experiment ``self.id`` when it exists on disk, else create and run it."""
        if self.has_checkpoint():
            return _instance_resume(self, port, wait_completion, debug)
        return self.run(port, wait_completion, debug)

    def has_checkpoint(self) -> bool:
        """True when experiment ``self.id`` is recorded on disk, so it can be resumed or viewed."""
        from ..engine.view import load_stored_profile

        return load_stored_profile(self._stored_dir()) is not None

    def load_checkpoint(self) -> None:
        """Load the config experiment ``self.id`` was run with.

        As in NNI, a config already set on this object is kept (a difference is only logged); a
        stored experiment that is not on disk is a ``ConfigError``.
        """
        from .launcher import load_stored_config

        stored = load_stored_config(self.id, self._stored_dir())
        current = None if self.config is None else self.config.model_dump()
        if current is None or current == ExperimentConfig().model_dump():  # nothing set yet
            self.config = stored
        elif current != stored.model_dump():
            _logger.warning("Experiment %s: the stored config differs from the current one; the current "
                            "config is kept.", self.id)

    def save_checkpoint(self) -> None:
        """Nothing to do: the engine writes the experiment's state to its database as it runs."""

    # -- queries ----------------------------------------------------------------------------------

    def _rest(self) -> RestClient:
        if self._client is None:
            raise RuntimeError(f"experiment {self.id} is not running: call start() or run() first")
        return self._client

    def get_status(self) -> str:
        return self._rest().get("/check-status")["status"]

    def get_trial_job(self, trial_job_id: str) -> TrialJob:
        return TrialJob.from_json(self._rest().get(f"/trial-jobs/{trial_job_id}"))

    def list_trial_jobs(self) -> list[TrialJob]:
        return [TrialJob.from_json(t) for t in self._rest().get("/trial-jobs")]

    def get_job_statistics(self) -> list[dict[str, Any]]:
        return self._rest().get("/job-statistics")

    def get_job_metrics(self, trial_job_id: str | None = None) -> dict[str, list[TrialMetricData]]:
        path = f"/metric-data/{trial_job_id}" if trial_job_id else "/metric-data"
        metrics: dict[str, list[TrialMetricData]] = {}
        for item in self._rest().get(path):
            metrics.setdefault(item["trialJobId"], []).append(TrialMetricData.from_json(item))
        return metrics

    def get_experiment_profile(self) -> dict[str, Any]:
        return self._rest().get("/experiment")

    def get_experiment_metadata(self, exp_id: str) -> dict[str, Any]:
        return read_manifest().get(exp_id, {})

    def get_all_experiments_metadata(self) -> list[dict[str, Any]]:
        return list(read_manifest().values())

    def export_data(self) -> list[TrialResult]:
        """The succeeded trials' results; under objectives each also has ``feasible`` and ``pareto`` set."""
        return [TrialResult(r["parameter"], r["value"], r["trialJobId"], feasible=r.get("feasible"),
                            pareto=r.get("pareto")) for r in self._rest().get("/export-data")]

    def get_pareto_front(self) -> list[TrialResult]:
        """The succeeded trials on the Pareto front: feasible, and no other feasible trial is at least as
        good in every objective and better in one. ValueError when the config names no objectives or
        constraints (then there is one best trial, not a front)."""
        if self.config.objective_spec() is None:
            raise ValueError("get_pareto_front: the experiment's config names no objectives or constraints "
                             "(set config.objectives, see docs/multiobjective.md)")
        return [result for result in self.export_data() if result.pareto]

    def export_dataframe(self, intermediate: bool = False) -> pandas.DataFrame:
        """The trials as a pandas DataFrame (``pip install 'nni[pandas]'``), from the running manager or,
        when none runs, from the stored experiment ``self.id``.

        One row per trial: ``trial_id``, ``sequence_id``, ``parameter_id``, ``status``, the flags
        ``customized`` (added by hand) and ``imported`` (a result given with ``import_data`` or a warm
        start: a row without id, status or times),
        ``start_time``/``end_time`` (UTC datetimes), ``duration`` (seconds), ``message``, then
        ``params.<name>`` for each parameter (a nested choice ``p`` also gives ``p/key``) and
        ``metrics.<key>`` for each key of the final result (a scalar result is ``metrics.default``).
        Under objectives or constraints ``feasible`` and ``pareto`` come after ``message`` (as in
        :meth:`export_data`, read over every trial with a final result). With ``intermediate=True``: one row per intermediate result instead, with ``step``
        and ``timestamp`` in place of the flags and times.
        """
        from .dataframe import (
            INTERMEDIATE_COLUMNS,
            TRIAL_COLUMNS,
            intermediate_rows,
            running_records,
            stored_records,
            to_dataframe,
            trial_rows,
        )

        if self._client is not None:
            trials, metrics, imported, spec = running_records(self._rest())
        else:
            trials, metrics, imported, spec = stored_records(self.id, self._stored_dir())
        if intermediate:
            return to_dataframe(intermediate_rows(trials, metrics), INTERMEDIATE_COLUMNS)
        return to_dataframe(trial_rows(trials, metrics, imported, spec), TRIAL_COLUMNS)

    # -- updates ----------------------------------------------------------------------------------

    def _update(self, field: str, value: Any) -> None:
        """Change ``field`` (one of :data:`~nni.engine.handle.UPDATABLE`) through the manager's REST API,
        then in this object's config too (the manager works on its own copy)."""
        setting = setting_named(field)
        self._rest().put(f"/experiment?update_type={setting.update_type}", {"params": {field: value}})
        setattr(self.config, setting.attribute, value)

    def update_trial_concurrency(self, value: int) -> None:
        self._update("trialConcurrency", value)

    def update_max_experiment_duration(self, value: str) -> None:
        self._update("maxExperimentDuration", value)

    def update_search_space(self, value: dict[str, Any]) -> None:
        self._update("searchSpace", value)

    def update_max_trial_number(self, value: int) -> None:
        self._update("maxTrialNumber", value)

    def kill_trial_job(self, trial_job_id: str) -> None:
        self._rest().delete(f"/trial-jobs/{trial_job_id}")

    def import_data(self, data: list[dict[str, Any]]) -> None:
        self._rest().post("/experiment/import-data", data)

    def enqueue_trial(self, parameters: dict[str, Any]) -> str | None:
        """Run a trial with these parameters before the tuner's next ones, exactly once.

        Before ``start``/``run`` it is kept and queued as the experiment starts, ahead of the tuner's
        first trial (None is returned: the id exists once it starts); on a running experiment the
        new trial's id is returned.
        """
        if not isinstance(parameters, dict):
            raise ValueError(f"enqueue_trial needs a dict of parameters, got {type(parameters).__name__}")
        if self._client is None:
            self._enqueued.append(parameters)
            return None
        return self._rest().post("/trial-jobs", {"parameters": parameters})["trialJobId"]

    @property
    def experiment_dir(self) -> Path:
        return Path(self.config.experiment_working_directory).expanduser() / self.id

    def _repr_html_(self) -> str:
        """Jupyter's view of an experiment: id, name, status, trial counts, folder and the portal link."""
        engine = self._runner.engine if self._runner else None
        if engine is not None:
            status, stats = engine.status.value, engine.statistics()
        elif self._client is not None:
            try:
                status, stats = self.get_status(), {s["trialJobStatus"]: s["trialJobNumber"]
                                                    for s in self.get_job_statistics()}
            except (OSError, RestError):  # a repr must render even when the manager is gone
                status, stats = "UNREACHABLE", {}
        else:
            status, stats = "not started", {}
        rows = [("ID", self.id), ("Name", self.config.experiment_name or "—"), ("Status", status),
                ("Trials", ", ".join(f"{n} {s.lower()}" for s, n in sorted(stats.items())) or "none yet"),
                ("Folder", str(self.experiment_dir))]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in rows)
        url = self._runner.url if self._runner is not None else (
            f"http://{self._host}:{self.port}{self.url_prefix or ''}/" if self.port is not None else None)
        if url:
            link = f"<a href=\"{html.escape(url)}\" target=\"_blank\">{html.escape(url)}</a>"
        elif database_dir(self.experiment_dir).is_dir():
            command = reopen_command(self.id, Path(self.config.experiment_working_directory), None)
            link = f"not running: <code>{html.escape(command)}</code> reopens it"
        else:
            link = "not running"
        return (f"<div class='nni-experiment'><b>NNI experiment</b><table>{body}"
                f"<tr><th style='text-align:left'>Web portal</th><td>{link}</td></tr></table></div>")


def _valid_id(value: str) -> bool:
    return 1 <= len(value) <= 32 and all(c.isalnum() or c in "_-" for c in value) and value.isascii()


@atexit.register
def _stop_all() -> None:
    for experiment in list(_running):
        try:
            experiment.stop()
        except Exception as error:  # one that cannot stop must not keep the others from stopping
            _logger.warning("stopping experiment %s at exit failed: %s", experiment.id, error)
