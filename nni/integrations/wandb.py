"""Weights & Biases: one run per trial, grouped by experiment (``pip install 'nni[wandb]'``).

Each run's config is the trial's parameters; its history has every numeric metric key at each
intermediate step and the final result as the last step, and its summary holds the final result,
the NNI status and times. ``mode: offline`` (or ``WANDB_MODE=offline``) writes runs that
``wandb sync`` uploads later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.trackers import WandbTrackerConfig
from ..records import Trial, TrialStatus
from .base import ExperimentInfo, Tracker, final_step, metric_values, steps

__all__ = ["WandbTracker"]


class WandbTracker(Tracker):
    name = module = package = "wandb"

    def __init__(self, options: WandbTrackerConfig, experiment: ExperimentInfo) -> None:
        super().__init__(experiment)
        self.options = options
        self.dir = Path(options.dir or experiment.experiment_dir)
        """W&B writes into its ``wandb/`` folder in here."""
        self.project = options.project or experiment.experiment_name or "nni"
        self.group = options.group or experiment.experiment_id

    def open(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def log_trial(self, trial: Trial) -> None:
        wandb = self.tool
        run = wandb.init(
            project=self.project, entity=self.options.entity, group=self.group, job_type="trial",
            name=f"trial-{trial.sequence_id}-{trial.trial_id}", id=f"{self.experiment.experiment_id}-{trial.trial_id}",
            dir=str(self.dir), mode=self.options.mode, tags=self.options.tags, config=trial.parameters,
            reinit="create_new",
            # the manager's own output and process are not the trial's: no capture, no system metrics
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True, x_disable_meta=True,
                                    disable_git=True, save_code=False, x_save_requirements=False))
        try:
            for step, record in steps(trial):
                values = metric_values(record.value)
                if values:
                    run.log(values, step=step)
            summary: dict[str, Any] = {"nni/trial_id": trial.trial_id, "nni/sequence_id": trial.sequence_id,
                                       "nni/status": trial.status.value, "nni/experiment_id": self.experiment.experiment_id,
                                       "nni/customized": trial.customized, "nni/final_step": final_step(trial)}
            if trial.start_time_ms and trial.end_time_ms:
                summary["nni/duration_s"] = (trial.end_time_ms - trial.start_time_ms) / 1000
            if trial.final is not None:
                summary.update(metric_values(trial.final.value))
            run.summary.update(summary)
        finally:
            run.finish(exit_code=0 if trial.status == TrialStatus.SUCCEEDED else 1)
