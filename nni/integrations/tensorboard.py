"""TensorBoard HParams: one run folder of event files per trial (``pip install 'nni[tensorboard]'``).

Each trial's folder (``trial-<sequence>-<id>`` under ``logDir``) holds its parameters as an HParams
session and every numeric metric key as a scalar: intermediate results at their steps, the final
result as the last step (the value the HParams table shows). ``tensorboard --logdir <logDir>``
lists the trials side by side; no TensorFlow is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..analysis.flattening import flatten_parameters
from ..config.trackers import TensorboardTrackerConfig
from ..records import Trial, TrialStatus
from .base import ExperimentInfo, Tracker, metric_values, steps

__all__ = ["TensorboardTracker", "run_folder"]


def run_folder(trial: Trial) -> str:
    """The run name (folder) of a trial: sorted by sequence in most views, unique by id."""
    return f"trial-{trial.sequence_id}-{trial.trial_id}"


class TensorboardTracker(Tracker):
    name = package = "tensorboard"
    module = "tensorboard.summary.writer.event_file_writer"

    def __init__(self, options: TensorboardTrackerConfig, experiment: ExperimentInfo) -> None:
        super().__init__(experiment)
        self.options = options
        self.log_dir = Path(options.log_dir or experiment.experiment_dir / "tensorboard")

    def open(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def log_trial(self, trial: Trial) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        start_s = (trial.start_time_ms or trial.submit_time_ms) / 1000
        end_s = (trial.end_time_ms or trial.start_time_ms or trial.submit_time_ms) / 1000
        start = plugin_data_pb2.SessionStartInfo(group_name=trial.trial_id, start_time_secs=start_s)
        for key, value in flatten_parameters(trial.parameters).items():
            _set_hparam(start.hparams[key], value)
        status = api_pb2.STATUS_SUCCESS if trial.status == TrialStatus.SUCCEEDED else api_pb2.STATUS_FAILURE
        end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=end_s)

        def hparams_event(tag: str, data: plugin_data_pb2.HParamsPluginData, wall_time: float) -> Any:
            value = summary_pb2.Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))
            return event_pb2.Event(wall_time=wall_time, summary=summary_pb2.Summary(value=[value]))

        writer = EventFileWriter(str(self.log_dir / run_folder(trial)))
        try:
            writer.add_event(hparams_event(metadata.SESSION_START_INFO_TAG,
                                           plugin_data_pb2.HParamsPluginData(session_start_info=start), start_s))
            for step, record in steps(trial):
                values = [summary_pb2.Summary.Value(tag=key, simple_value=number)
                          for key, number in metric_values(record.value).items()]
                if values:
                    writer.add_event(event_pb2.Event(wall_time=record.timestamp_ms / 1000, step=step,
                                                     summary=summary_pb2.Summary(value=values)))
            writer.add_event(hparams_event(metadata.SESSION_END_INFO_TAG,
                                           plugin_data_pb2.HParamsPluginData(session_end_info=end), end_s))
        finally:
            writer.close()


def _set_hparam(target: Any, value: Any) -> None:
    """An HParams value: numbers, strings and booleans as themselves, anything else as its JSON."""
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, (int, float)):
        target.number_value = float(value)
    elif isinstance(value, str):
        target.string_value = value
    else:
        target.string_value = json.dumps(value, sort_keys=True)
