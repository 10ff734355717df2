"""MLflow: one parent run per experiment, one nested run per trial (``pip install 'nni[mlflow]'``).

A trial's run holds its parameters (one level deep), every numeric metric key with each
intermediate result as a step and the final result as the last step, its NNI status and times. A
resumed experiment finds its parent run again by the ``nni.experiment_id`` tag.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..analysis.flattening import flatten_parameters
from ..config.trackers import MlflowTrackerConfig
from ..records import ExperimentStatus, Trial, TrialStatus
from .base import ExperimentInfo, Tracker, metric_values, require, steps

__all__ = ["MlflowTracker", "run_status", "param_key"]

_PARAM_LIMIT = 500
"""Characters of a parameter value kept: the longest every MLflow store and server version accepts."""
_BATCH_METRICS = 1000
_BATCH_PARAMS = 100
"""MLflow's limits for one ``log_batch`` call."""
_NOT_A_KEY = re.compile(r"[^\w\-. :/]")
_TERMINAL = {ExperimentStatus.DONE: "FINISHED", ExperimentStatus.ERROR: "FAILED",
             ExperimentStatus.STOPPED: "KILLED"}


def run_status(status: TrialStatus) -> str:
    """MLflow's run status for a finished trial (the exact NNI status is the ``nni.status`` tag)."""
    return {TrialStatus.SUCCEEDED: "FINISHED", TrialStatus.FAILED: "FAILED"}.get(status, "KILLED")


def param_key(name: str) -> str:
    """A parameter or metric name MLflow accepts: characters it refuses become ``_``."""
    return _NOT_A_KEY.sub("_", name) or "_"


class MlflowTracker(Tracker):
    name, module, package = "mlflow", "mlflow", "mlflow-skinny"

    def __init__(self, options: MlflowTrackerConfig, experiment: ExperimentInfo) -> None:
        super().__init__(experiment)
        self.options = options
        # MLflow's own default is ./mlflow.db in whatever folder the manager runs in: beside the
        # experiments instead, where `mlflow ui --backend-store-uri sqlite:///...` finds every run
        default = f"sqlite:///{experiment.experiment_dir.parent / 'mlflow.db'}"
        self.tracking_uri: str = options.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default
        if self.tracking_uri.startswith("sqlite:"):
            require("sqlalchemy", "mlflow", "sqlalchemy")
            require("alembic", "mlflow", "alembic")
        self.mlflow_experiment = options.experiment_name or experiment.experiment_name or "nni"
        self._client: Any = None
        self._experiment_id = ""
        self.parent_run_id = ""
        self._parent_status = "RUNNING"

    def open(self) -> None:
        from mlflow.tracking import MlflowClient

        self._client = client = MlflowClient(tracking_uri=self.tracking_uri)
        found = client.get_experiment_by_name(self.mlflow_experiment)
        if found is not None and found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)  # a deleted name cannot be created again
        self._experiment_id = found.experiment_id if found is not None else \
            client.create_experiment(self.mlflow_experiment, artifact_location=self._artifact_location())
        existing = client.search_runs(
            [self._experiment_id], max_results=1,
            filter_string=f"tags.`nni.experiment_id` = '{self.experiment.experiment_id}' "
                          "and tags.`nni.role` = 'experiment'")
        if existing:
            self.parent_run_id = existing[0].info.run_id
            client.update_run(self.parent_run_id, status="RUNNING")
            return
        run = client.create_run(self._experiment_id, run_name=self.experiment.title, tags={
            "nni.experiment_id": self.experiment.experiment_id, "nni.role": "experiment",
            "nni.experiment_dir": str(self.experiment.experiment_dir)})
        self.parent_run_id = run.info.run_id
        settings = {key: value for key, value in self.experiment.config.items()
                    if key in ("trialConcurrency", "maxTrialNumber", "maxExperimentDuration", "trialCommand")}
        tuner = self.experiment.config.get("tuner") or {}
        if tuner.get("name") or tuner.get("className"):
            settings["tuner"] = tuner.get("name") or tuner.get("className")
        self._log(self.parent_run_id, params=settings)
        client.log_dict(self.parent_run_id, self.experiment.config, "nni/config.json")

    def _artifact_location(self) -> str | None:
        """Artifacts of a SQLite store go beside its file (MLflow's default is the current folder)."""
        if not self.tracking_uri.startswith("sqlite:///"):
            return None  # a server or a file store places them itself
        database = Path(self.tracking_uri.removeprefix("sqlite:///")).expanduser()
        return (database.parent / "mlartifacts").resolve().as_uri()

    def _log(self, run_id: str, params: dict[str, Any] | None = None, metrics: list[Any] | None = None) -> None:
        from mlflow.entities import Param

        items = [Param(param_key(str(k)), str(v)[:_PARAM_LIMIT]) for k, v in (params or {}).items()]
        for start in range(0, len(items), _BATCH_PARAMS):
            self._client.log_batch(run_id, params=items[start:start + _BATCH_PARAMS])
        metrics = metrics or []
        for start in range(0, len(metrics), _BATCH_METRICS):
            self._client.log_batch(run_id, metrics=metrics[start:start + _BATCH_METRICS])

    def log_trial(self, trial: Trial) -> None:
        from mlflow.entities import Metric

        client = self._client
        tags = {"mlflow.parentRunId": self.parent_run_id, "nni.experiment_id": self.experiment.experiment_id,
                "nni.trial_id": trial.trial_id, "nni.sequence_id": str(trial.sequence_id),
                "nni.parameter_id": str(trial.parameter_id), "nni.status": trial.status.value, "nni.role": "trial"}
        if trial.customized:
            tags["nni.customized"] = "true"
        if trial.message:
            tags["nni.message"] = trial.message[:_PARAM_LIMIT]
        run = client.create_run(self._experiment_id, start_time=trial.start_time_ms or trial.submit_time_ms,
                                tags=tags, run_name=f"trial-{trial.sequence_id}-{trial.trial_id}")
        metrics = [Metric(param_key(key), number, record.timestamp_ms, step)
                   for step, record in steps(trial) for key, number in metric_values(record.value).items()]
        self._log(run.info.run_id, params=flatten_parameters(trial.parameters), metrics=metrics)
        client.set_terminated(run.info.run_id, status=run_status(trial.status), end_time=trial.end_time_ms)

    def experiment_status(self, status: ExperimentStatus) -> None:
        if status == ExperimentStatus.RUNNING and self._parent_status != "RUNNING":
            self._client.update_run(self.parent_run_id, status="RUNNING")
            self._parent_status = "RUNNING"
        elif status in _TERMINAL and self._parent_status == "RUNNING":
            # a DONE experiment that is then stopped stays FINISHED
            self._parent_status = _TERMINAL[status]
            self._client.set_terminated(self.parent_run_id, status=self._parent_status)
