"""The engine: the one component that owns trial state and drives tuner, assessor and trials.

Everything runs on one asyncio event loop. Tuner and assessor calls go, in order, through a single
worker thread so a slow ``generate_parameters`` never blocks the server, and an exception there is
caught, logged with its traceback and turns the experiment to ERROR instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import secrets
import string
import time
import traceback
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..assessor import AssessResult
from ..config import ExperimentConfig, parse_duration
from ..config.experiment_config import check_max_trial_number, check_trial_concurrency
from ..errors import NoMoreTrialError
from ..metrics import metric_default, not_a_number_reason, short_repr
from ..records import Change, ExperimentStatus, MetricRecord, Trial, TrialStatus
from ..search_space import validate_search_space
from ..search_space.tuning import BuiltinTuner
from ..storage.base import Storage
from ..training_service.base import (
    TrainingService,
    TrialEnded,
    TrialEvent,
    TrialMetric,
    TrialSpec,
    TrialStarted,
    TrialWaiting,
)
from .blas import one_blas_thread
from .readout import ExperimentReadout
from .warm_start import load_warm_starts

__all__ = ["Engine", "CallResult", "TrialTracker"]

_logger = logging.getLogger("nni.engine")

_ID_ALPHABET = string.ascii_letters + string.digits
_ACTIVE = (TrialStatus.WAITING, TrialStatus.RUNNING)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _stored_int(value: Any, default: int) -> int:
    """A metric line's sequence or timestamp as SQLite can store it; ``default`` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 63:
        return value
    return default


@dataclass(frozen=True)
class CallResult:
    """How a tuner or assessor call went: what it returned, or that it raised.

    ``failed`` means it raised (the experiment is in ERROR with the traceback); ``no_more_trials``
    means it raised NoMoreTrialError (the tuner's way to say it is exhausted).
    """

    value: Any = None
    failed: bool = False
    no_more_trials: bool = False


class TrialTracker(Protocol):
    """Where finished trials and status changes are also reported (``nni.integrations.Trackers``).

    Its methods must return at once and never raise: the tools behind it are not the experiment's.
    """

    def trial_finished(self, trial: Trial) -> None: ...

    def experiment_status(self, status: ExperimentStatus) -> None: ...

    def close(self) -> None:
        """Flush and end (blocks: the engine calls it off the event loop)."""


class Engine(ExperimentReadout):
    """Runs one experiment: ask the tuner, submit trials, record events, tell the tuner results."""

    def __init__(self, experiment_id: str, config: ExperimentConfig, experiment_dir: Path, storage: Storage,
                 training_service: TrainingService, tuner: Any, assessor: Any | None = None,
                 on_status: Callable[[ExperimentStatus], None] | None = None,
                 trackers: TrialTracker | None = None) -> None:
        self.experiment_id = experiment_id
        self.config = config
        self.experiment_dir = Path(experiment_dir)
        self.storage = storage
        self.service = training_service
        self.tuner = tuner
        self.assessor = assessor
        self.status = ExperimentStatus.INITIALIZED
        self.error: str | None = None
        self.trials: dict[str, Trial] = {}
        self._active_trials: dict[str, Trial] = {}
        """The WAITING and RUNNING trials, kept as statuses change: scheduling never scans every trial."""
        self._tuner_created = 0
        """How many trials count against maxTrialNumber (see :meth:`_created_by_tuner`)."""
        self._status_counts: Counter[TrialStatus] = Counter()
        """Trials per status, kept as statuses change: job statistics never scan every trial."""
        self.search_space: dict[str, Any] = {}
        self.start_time_ms = _now_ms()
        self.end_time_ms: int | None = None
        self.revision = 0
        self._on_status = on_status
        self.trackers = trackers
        self._changes: deque[Change] = deque(maxlen=20000)
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        self._background: set[asyncio.Task[Any]] = set()
        self._tuner_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nni-tuner")
        self._next_parameter_id = 0
        self._tuner_exhausted = False
        self._duration_reached = False
        self._kill_status: dict[str, tuple[TrialStatus, str | None]] = {}
        self._trial_timers: dict[str, asyncio.TimerHandle] = {}
        self._customized_queue: deque[Trial] = deque()
        """Trials that run before the tuner's next ones as slots free: customized (enqueued), retried, rerun."""
        self._notes: dict[str, list[str]] = {}
        """Per trial: warnings about its metrics, shown as its message (kept when it succeeds)."""
        self._withheld: set[str] = set()
        """Trials whose final result the built-in tuner could not use (it hears they failed)."""
        self._elapsed_before_ms = 0
        self._resumed_at_ms = self.start_time_ms
        self._loop_task: asyncio.Task[None] | None = None
        self._at_start: list[dict[str, Any]] = []
        """Parameters enqueued before :meth:`start` (``Experiment.enqueue_trial``): queued first thing."""
        self._duration_timer: asyncio.TimerHandle | None = None
        self.spec = self.objective_spec()
        """The objectives and constraints results are read under; None: NNI's one ``default`` metric."""

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check everything, start the training service and the scheduling loop."""
        self.search_space = self.config.resolved_search_space()
        profile = self.storage.load_profile()
        if profile is not None:
            self._restore(profile)
        self._save_profile()
        await self.service.start(self._on_trial_event)
        # before the search space and any replay, so a resumed tuner reads old results under the spec too
        if self.spec is not None and (await self._tuner_call(self.tuner.set_objectives, self.spec)).failed:
            return
        if (await self._tuner_call(self.tuner.update_search_space, self.search_space)).failed:
            return
        if profile is not None:
            await self._replay_results()
            await self._adopt_or_requeue()
        elif self.config.warm_start:
            await self._warm_start(self.config.warm_start)
        for parameters in self._at_start:
            self.enqueue_trial(parameters)
        self._at_start.clear()
        self._set_status(ExperimentStatus.RUNNING)
        self._arm_duration_timer()
        self._loop_task = asyncio.ensure_future(self._schedule_loop())
        self._wake.set()

    async def stop(self, status: ExperimentStatus = ExperimentStatus.STOPPED) -> None:
        """Kill every trial, record them as canceled, and leave the experiment in ``status``."""
        if self._stopping:
            return
        self._stopping = True  # from here on nothing new is scheduled
        if self.status not in (ExperimentStatus.ERROR,):
            self._set_status(ExperimentStatus.STOPPING)
        for trial in self.trials.values():
            if trial.status in _ACTIVE:
                self._kill_status.setdefault(trial.trial_id, (TrialStatus.USER_CANCELED, "experiment stopped"))
        while self._customized_queue:
            trial = self._customized_queue.popleft()
            self._update_trial(trial, "ended", status=TrialStatus.USER_CANCELED, end_time_ms=_now_ms(),
                               message="experiment stopped before it ran")
        try:
            await self.service.stop()
        except Exception:  # the trials are recorded as canceled all the same; say why they may linger
            _logger.exception("stopping the %s training service failed", self.service.platform)
        self._stopped.set()
        self._wake.set()
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._duration_timer is not None:
            self._duration_timer.cancel()
        for timer in self._trial_timers.values():
            timer.cancel()
        if self._background:  # last results and trial_end calls reach the tuner before it exits
            await asyncio.wait(list(self._background), timeout=30)
        if self.status != ExperimentStatus.ERROR:
            self._set_status(status)
        self.end_time_ms = self.end_time_ms or _now_ms()
        self._save_profile()
        for target in (self.tuner, self.assessor):
            if target is not None:
                try:
                    await self._run_in_tuner_thread(target._on_exit)
                except Exception:  # the experiment has ended either way; its status stays as it is
                    _logger.exception("%s._on_exit failed", type(target).__name__)
        if self.trackers is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.trackers.close)
        self._tuner_thread.shutdown(wait=False)

    @property
    def finished(self) -> bool:
        return self.status in (ExperimentStatus.DONE, ExperimentStatus.ERROR, ExperimentStatus.STOPPED)

    # -- change feed ----------------------------------------------------------------------------

    def _changed_now(self, kind: str, trial_id: str | None = None) -> None:
        self.revision += 1
        self._changes.append(Change(self.revision, kind, trial_id))
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_changes(self, after: int, timeout: float) -> list[Change]:
        """Changes with ``seq > after``; waits up to ``timeout`` seconds for the first one.

        A single ``Change(kind='reset')`` means the feed no longer holds everything since ``after``.
        """
        if self.revision <= after:
            event = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        if self.revision <= after:
            return []
        if not self._changes or self._changes[0].seq > after + 1:
            return [Change(self.revision, "reset")]
        # seqs in the feed are consecutive: the first wanted sits at a known offset
        return list(itertools.islice(self._changes, after + 1 - self._changes[0].seq, None))

    # -- state changes (the only place trial and experiment state change) ---------------------

    def _set_status(self, status: ExperimentStatus, error: str | None = None) -> None:
        if status == self.status and error is None:
            return
        self.status = status
        if error is not None:
            self.error = error
        if status in (ExperimentStatus.DONE, ExperimentStatus.STOPPED, ExperimentStatus.ERROR):
            self.end_time_ms = _now_ms()
        elif status == ExperimentStatus.RUNNING:
            self.end_time_ms = None
        _logger.info("experiment %s: %s", self.experiment_id, status.value)
        self.storage.append_experiment_event("status", {"status": status.value, "error": self.error})
        self._save_profile()
        self._changed_now("experiment")
        if self._on_status is not None:
            self._on_status(status)
        if self.trackers is not None:
            self.trackers.experiment_status(status)

    def _update_trial(self, trial: Trial, kind: str, **fields: Any) -> None:
        previous = trial.status
        for key, value in fields.items():
            setattr(trial, key, value)
        if "status" in fields:
            self._track_activity(trial, previous)
        self.storage.append_trial_event(trial, kind, fields)
        self._changed_now("trial", trial.trial_id)

    def _fail(self, message: str) -> None:
        _logger.error("%s", message)
        self._set_status(ExperimentStatus.ERROR, message)
        self._wake.set()

    def fail(self, message: str) -> None:
        """Turn the experiment to ERROR with ``message`` (the launcher's, when ``start`` itself raised)."""
        self._fail(message)

    # -- tuner calls ------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        """Run ``coro`` in the background, keeping a reference so stop() can wait for it."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _run_in_tuner_thread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        """Queue ``fn`` on the tuner's one thread now, so calls run in the order they are made.

        Queueing at call time (not when a spawned task first runs) keeps a trial's result and end
        ahead of the next ``generate_multiple_parameters``; otherwise an advisor waiting for them
        could answer "nothing yet" while nothing runs, which reads as exhausted.
        """
        loop = asyncio.get_running_loop()

        def call() -> Any:
            with one_blas_thread():
                return fn(*args, **kwargs)
        return loop.run_in_executor(self._tuner_thread, call)

    def _tuner_call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[CallResult]:
        """Call the tuner/assessor (queued now, see above); on an exception record ERROR with the traceback."""
        return self._tuner_outcome(fn, self._run_in_tuner_thread(fn, *args, **kwargs))

    async def _tuner_outcome(self, fn: Callable[..., Any], future: asyncio.Future[Any]) -> CallResult:
        try:
            return CallResult(await future)
        except NoMoreTrialError:
            return CallResult(no_more_trials=True)
        except Exception as error:
            owner = type(getattr(fn, "__self__", fn)).__name__
            name = getattr(fn, "__name__", "call")
            detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            self._fail(f"{owner}.{name} raised {type(error).__name__}: {error}\n{detail}")
            return CallResult(failed=True)

    # -- scheduling -------------------------------------------------------------------------------

    def _track_activity(self, trial: Trial, previous: TrialStatus | None) -> None:
        """Keep ``trial`` in the active index exactly while its status is WAITING or RUNNING, and the
        counts per status current (``previous``: its status before, None for a new trial)."""
        if previous is not None:
            self._status_counts[previous] -= 1
        self._status_counts[trial.status] += 1
        if trial.status in _ACTIVE:
            self._active_trials[trial.trial_id] = trial
        else:
            self._active_trials.pop(trial.trial_id, None)

    def statistics(self) -> dict[str, int]:
        return {status.value: count for status, count in self._status_counts.items() if count > 0}

    def _active(self) -> list[Trial]:
        return list(self._active_trials.values())

    def _occupied(self) -> int:
        """Trial slots in use: active trials the service holds (a queued customized trial waits here, in none)."""
        return len(self._active_trials) - len(self._customized_queue)

    def _created_by_tuner(self) -> int:
        """Trials counted by maxTrialNumber: the tuner's first runs (not their retries or reruns)."""
        return self._tuner_created

    def _may_create(self) -> bool:
        limit = self.config.max_trial_number
        return not (self._tuner_exhausted or self._duration_reached or (limit is not None and self._created_by_tuner() >= limit))

    async def _schedule_loop(self) -> None:
        while not self._stopped.is_set():
            await self._wake.wait()
            self._wake.clear()
            if self._stopping or self.status == ExperimentStatus.ERROR:
                continue
            await self._schedule()

    async def _schedule(self) -> None:
        concurrency = self.config.trial_concurrency or 1
        while self._customized_queue and self._occupied() < concurrency:
            trial = self._customized_queue.popleft()
            await self._submit(trial)
        free = concurrency - self._occupied()
        if free > 0 and self._may_create():
            limit = self.config.max_trial_number
            count = free if limit is None else min(free, limit - self._created_by_tuner())
            ids = list(range(self._next_parameter_id, self._next_parameter_id + count))
            # A trial that ends while the ask is in flight reaches the tuner after it: "nothing now"
            # then means "wait for that end", so only an ask made with nothing running can exhaust.
            ran_at_ask = bool(self._active_trials)
            result = await self._tuner_call(self.tuner.generate_multiple_parameters, ids)
            # the tuner raised (ERROR is recorded), another call failed meanwhile, or we stop
            if result.failed or self._stopping or self.status == ExperimentStatus.ERROR:
                return
            proposals = [] if result.no_more_trials else list(result.value or [])
            for parameter_id, parameters in zip(ids, proposals, strict=False):
                await self._submit(self._new_trial(parameter_id, parameters, "algorithm"))
            if not proposals and not ran_at_ask and not self._active_trials:
                # A tuner that has nothing to offer while nothing runs never will: it is exhausted.
                self._tuner_exhausted = True
        self._update_run_status()

    def _update_run_status(self) -> None:
        if self.status not in (ExperimentStatus.RUNNING, ExperimentStatus.NO_MORE_TRIAL,
                               ExperimentStatus.TUNER_NO_MORE_TRIAL, ExperimentStatus.DONE):
            return
        if self._may_create() or self._customized_queue:
            self._set_status(ExperimentStatus.RUNNING)
        elif self._active_trials:
            self._set_status(ExperimentStatus.TUNER_NO_MORE_TRIAL if self._tuner_exhausted
                             else ExperimentStatus.NO_MORE_TRIAL)
        else:
            self._set_status(ExperimentStatus.DONE)

    @property
    def next_parameter_id(self) -> int:
        return self._next_parameter_id

    def _new_trial_id(self) -> str:
        while True:
            trial_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(5))
            if trial_id not in self.trials:
                return trial_id

    def _new_trial(self, parameter_id: int, parameters: dict[str, Any], source: str,
                   again: Trial | None = None, attempt: int = 0) -> Trial:
        """A new trial record; ``again`` is the trial it re-runs (same parameter id, a new sequence id)."""
        sequence_id = max(self._next_parameter_id, parameter_id)
        self._next_parameter_id = sequence_id + 1
        record = {"parameter_id": parameter_id, "parameter_source": source, "parameters": parameters,
                  "parameter_index": 0}
        trial = Trial(self._new_trial_id(), sequence_id=sequence_id, parameter_id=parameter_id,
                      parameter_record=record, customized=source == "customized", submit_time_ms=_now_ms(),
                      retry_of=None if again is None else again.trial_id, attempt=attempt)
        trial.message = self._label(trial)
        self.trials[trial.trial_id] = trial
        self._track_activity(trial, None)
        self._tuner_created += not trial.customized and trial.retry_of is None
        _logger.info("trial %s (#%d) created with %s parameters: %s%s", trial.trial_id, sequence_id, source,
                     short_repr(parameters), f" ({trial.message})" if trial.message else "")
        fields = {"sequence_id": trial.sequence_id, "parameter_id": parameter_id, "parameter_record": record,
                  "customized": trial.customized, "submit_time_ms": trial.submit_time_ms, "status": trial.status}
        if again is not None:
            fields |= {"retry_of": trial.retry_of, "attempt": attempt, "message": trial.message}
        self.storage.append_trial_event(trial, "created", fields)
        self._changed_now("trial", trial.trial_id)
        return trial

    def _label(self, trial: Trial) -> str | None:
        """What its row says about a trial that runs another one again (NNI clients read the message)."""
        if trial.retry_of is None:
            return None
        if trial.attempt == 0:
            return f"rerun of trial {trial.retry_of}"
        return f"retry {trial.attempt} of {self.config.max_trial_retries or trial.attempt} of trial {trial.retry_of}"

    def _spec(self, trial: Trial) -> TrialSpec:
        return TrialSpec(
            trial_id=trial.trial_id, sequence_id=trial.sequence_id, command=self.config.service_value("trial_command") or "",
            code_dir=Path(self.config.service_value("trial_code_directory") or ".").expanduser().resolve(),
            trial_dir=self.experiment_dir / "trials" / trial.trial_id, parameter_record=trial.parameter_record,
            gpu_number=self.config.service_value("trial_gpu_number") or 0,
            env={"NNI_EXP_ID": self.experiment_id})

    async def _submit(self, trial: Trial) -> None:
        if not self._stopping:
            await self.service.submit(self._spec(trial))

    # -- events from the training service -------------------------------------------------------

    def _on_trial_event(self, event: TrialEvent) -> None:
        trial = self.trials.get(event.trial_id)
        if trial is None or trial.finished:
            return
        if isinstance(event, TrialWaiting):
            _logger.info("trial %s waiting: %s", trial.trial_id, event.reason)
            self._update_trial(trial, "waiting", message=event.reason)
        elif isinstance(event, TrialStarted):
            _logger.info("trial %s running on %s%s", trial.trial_id, event.host or self.service.platform,
                         f" (GPUs {','.join(map(str, event.gpus))})" if event.gpus else "")
            self._update_trial(trial, "started", status=TrialStatus.RUNNING, start_time_ms=event.timestamp_ms or _now_ms(),
                               log_path=event.log_path, host=event.host, gpus=tuple(event.gpus),
                               message=self._label(trial),
                               stdout_path=str(event.stdout_path) if event.stdout_path else None,
                               stderr_path=str(event.stderr_path) if event.stderr_path else None,
                               handle=dict(event.handle))
            self._arm_trial_timer(trial)
        elif isinstance(event, TrialMetric):
            self._on_metric(trial, event.record)
        elif isinstance(event, TrialEnded):
            self._on_end(trial, event)

    @property
    def _tuner_needs_number(self) -> bool:
        """Built-in tuners (and subclasses of them) optimise a number; a custom tuner gets every value as
        reported, as in NNI."""
        return isinstance(self.tuner, BuiltinTuner)

    def _usable(self, value: Any) -> bool:
        return self._withheld_reason(value) is None

    def _withheld_reason(self, value: Any) -> str | None:
        """Why a final result does not reach the tuner (None: it does). Under objectives every tuner
        gets only results with a finite number for each objective and constraint."""
        if self.spec is not None:
            evaluation = self.spec.evaluate(value)
            return None if evaluation.usable else f"the final result is not given to the tuner: {evaluation.reason}"
        if not self._tuner_needs_number or metric_default(value) is not None:
            return None
        return (f"the final result is not given to {type(self.tuner).__name__}, which needs a number: "
                f"{not_a_number_reason(value)}")

    def _note(self, trial: Trial, text: str) -> None:
        """Keep a warning about a trial in the manager's log and in the trial's message (its row)."""
        _logger.warning("trial %s: %s", trial.trial_id, text)
        notes = self._notes.setdefault(trial.trial_id, [])
        if text not in notes:
            notes.append(text)
            self._update_trial(trial, "note", message="; ".join(notes))

    def _on_metric(self, trial: Trial, record: dict[str, Any]) -> None:
        kind = "FINAL" if record.get("type") == "FINAL" else "PERIODICAL"  # the protocol allows only these
        sequence = _stored_int(record.get("sequence"), 0) if kind == "PERIODICAL" else 0
        metric = MetricRecord(trial.trial_id, trial.parameter_id, kind, sequence,
                              _stored_int(record.get("timestamp"), _now_ms()), record.get("value"))
        if kind == "FINAL" and trial.final is not None:
            if not self._same_metric(trial.final, metric):  # not the first one read again after a resume
                self._note(trial, f"a second final result was reported and ignored (the first is kept): "
                                  f"{short_repr(metric.value, 200)}")
            return
        if not self.storage.add_metric(metric):
            return  # already recorded (re-read after a resume)
        if kind == "FINAL":
            trial.final = metric
            self._changed_now("metric", trial.trial_id)
            withheld = self._withheld_reason(metric.value)
            if withheld is None:
                self._spawn(self._tuner_call(
                    self.tuner.receive_trial_result, trial.parameter_id, trial.parameters, metric.value,
                    customized=trial.customized, trial_job_id=trial.trial_id))
            else:
                self._withheld.add(trial.trial_id)
                self._note(trial, withheld)
        else:
            trial.intermediate.append(metric)
            self._changed_now("metric", trial.trial_id)
            if self.assessor is not None and trial.status == TrialStatus.RUNNING:
                self._spawn(self._assess(trial))

    @staticmethod
    def _same_metric(a: MetricRecord, b: MetricRecord) -> bool:
        # NaN is not equal to itself: compare the JSON text, as it is stored
        return a.timestamp_ms == b.timestamp_ms and json.dumps(a.value) == json.dumps(b.value)

    async def _assess(self, trial: Trial) -> None:
        history = [v for v in (metric_default(m.value) for m in trial.intermediate) if v is not None]
        if self.assessor is None or not history:
            return
        verdict = await self._tuner_call(self.assessor.assess_trial, trial.trial_id, history)
        if verdict.value == AssessResult.Bad and trial.status in _ACTIVE:
            await self._kill(trial, TrialStatus.EARLY_STOPPED, "early stopped by the assessor")

    def _on_end(self, trial: Trial, event: TrialEnded) -> None:
        timer = self._trial_timers.pop(trial.trial_id, None)
        if timer is not None:
            timer.cancel()
        message = event.reason
        if trial.trial_id in self._kill_status and (event.killed or event.exit_code != 0):
            status, message = self._kill_status.pop(trial.trial_id)
        elif event.exit_code == 0:
            status = TrialStatus.SUCCEEDED  # whatever it reported, as in NNI; a note says what the tuner missed
        else:
            status = TrialStatus.FAILED
            tail = self._stderr_tail(trial)
            message = f"{message or 'failed'}: {tail}" if tail else message
            if event.exit_code is None and not event.killed:
                message = message or "the trial process was lost"
        retry = self._retry_of_failed(trial) if status == TrialStatus.FAILED else None
        message = "; ".join([m for m in (self._label(trial), message, *self._notes.pop(trial.trial_id, []),
                                         f"retried as trial {retry.trial_id}" if retry else None) if m]) or None
        self._update_trial(trial, "ended", status=status, end_time_ms=event.timestamp_ms or _now_ms(),
                           exit_code=event.exit_code, message=message)
        _logger.info("trial %s %s%s", trial.trial_id, status.value, f": {message}" if message else "")
        if self.trackers is not None:
            self.trackers.trial_finished(copy.deepcopy(trial))  # a copy: the trackers read it on their thread
        success = status == TrialStatus.SUCCEEDED and trial.trial_id not in self._withheld
        self._withheld.discard(trial.trial_id)
        if retry is None:  # a retried trial's parameters are not done yet: the tuner hears of them once
            self._spawn(self._tuner_call(self.tuner.trial_end, trial.parameter_id, success,
                                         trial_job_id=trial.trial_id))
        if self.assessor is not None:
            self._spawn(self._tuner_call(self.assessor.trial_end, trial.trial_id, success))
        self._wake.set()

    def _retry_of_failed(self, trial: Trial) -> Trial | None:
        """A retry of a failed trial, queued, while ``maxTrialRetries`` allows; None when it ends here.

        One that already reported its final result is not retried: the tuner has its one result.
        """
        if self._stopping or trial.final is not None or trial.attempt >= (self.config.max_trial_retries or 0):
            return None
        return self._queue_again(trial, trial.attempt + 1)

    def _queue_again(self, trial: Trial, attempt: int) -> Trial:
        again = self._new_trial(trial.parameter_id, trial.parameters, trial.parameter_record["parameter_source"],
                                again=trial, attempt=attempt)
        self._customized_queue.append(again)
        self._wake.set()
        return again

    @staticmethod
    def _stderr_tail(trial: Trial) -> str | None:
        if not trial.stderr_path:
            return None
        try:
            with open(trial.stderr_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 4096))
                lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except OSError:
            return None
        return lines[-1][:500] if lines else None

    # -- limits ----------------------------------------------------------------------------------

    def elapsed_seconds(self) -> float:
        end = self.end_time_ms if self.finished and self.end_time_ms else _now_ms()
        return (self._elapsed_before_ms + end - self._resumed_at_ms) / 1000

    def _arm_duration_timer(self) -> None:
        if self._duration_timer is not None:
            self._duration_timer.cancel()
            self._duration_timer = None
        limit = self.config.max_experiment_seconds
        if limit is None:
            self._duration_reached = False
            return
        remaining = limit - self.elapsed_seconds()
        if remaining <= 0:
            self._on_duration_reached()
        else:
            self._duration_reached = False
            self._duration_timer = asyncio.get_running_loop().call_later(remaining, self._on_duration_reached)

    def _on_duration_reached(self) -> None:
        self._duration_reached = True
        for trial in self._active():
            self._spawn(self._kill(trial, TrialStatus.SYS_CANCELED, "maxExperimentDuration reached"))
        self._wake.set()

    def _arm_trial_timer(self, trial: Trial) -> None:
        limit = self.config.max_trial_seconds
        if limit is None:
            return
        def expire() -> None:
            if trial.status in _ACTIVE:
                self._spawn(self._kill(trial, TrialStatus.EARLY_STOPPED,
                                                 f"exceeded maxTrialDuration ({self.config.max_trial_duration})"))
        self._trial_timers[trial.trial_id] = asyncio.get_running_loop().call_later(limit, expire)

    # -- commands (from the REST server / Experiment API) ---------------------------------------

    async def _kill(self, trial: Trial, status: TrialStatus, message: str | None) -> None:
        self._kill_status.setdefault(trial.trial_id, (status, message))
        await self.service.kill(trial.trial_id)

    async def kill_trial(self, trial_id: str) -> None:
        trial = self.trials.get(trial_id)
        if trial is None:
            raise KeyError(trial_id)
        if trial in self._customized_queue:
            self._customized_queue.remove(trial)
            self._update_trial(trial, "ended", status=TrialStatus.USER_CANCELED, end_time_ms=_now_ms(),
                               message="canceled by the user")
            return
        if trial.status in _ACTIVE:
            await self._kill(trial, TrialStatus.USER_CANCELED, "canceled by the user")

    async def add_customized_trial(self, parameters: dict[str, Any]) -> str:
        """Queue a trial with user-chosen parameters; it runs when a slot frees."""
        return self.enqueue_trial(parameters)

    def enqueue_trial(self, parameters: dict[str, Any]) -> str:
        """Queue a trial with user-chosen parameters: it runs once, before the tuner's next trials
        (a resume keeps it queued)."""
        self._check_parameters(parameters)
        trial = self._new_trial(self._next_parameter_id, parameters, "customized")
        self._customized_queue.append(trial)
        self._wake.set()
        return trial.trial_id

    def queue_at_start(self, parameters: dict[str, Any]) -> None:
        """Enqueue ``parameters`` once :meth:`start` has restored what is stored, so they run first."""
        self._check_parameters(parameters)
        self._at_start.append(parameters)

    @staticmethod
    def _check_parameters(parameters: Any) -> None:
        if not isinstance(parameters, dict):
            raise ValueError(f"a customized trial needs a dict of parameters, got {short_repr(parameters, 100)}")

    def rerun_candidates(self) -> list[Trial]:
        """The failed trials whose parameters never succeeded and are not running again (``--failed``)."""
        settled = {t.parameter_id for t in self.trials.values()
                   if t.status == TrialStatus.SUCCEEDED or t.status in _ACTIVE}
        latest: dict[int, Trial] = {}
        for trial in sorted(self.trials.values(), key=lambda t: t.sequence_id):
            latest[trial.parameter_id] = trial
        return [t for t in latest.values() if t.status == TrialStatus.FAILED and t.parameter_id not in settled]

    async def rerun_trials(self, trial_ids: list[str] | None) -> dict[str, str]:
        """Run finished trials again with their parameters and parameter ids; ``None``: every failed one
        (see :meth:`rerun_candidates`). Returns ``{old id: new id}``; the tuner gets their results.

        KeyError for an unknown id, ValueError for a trial that has not finished or an experiment in ERROR.
        """
        if self.status == ExperimentStatus.ERROR or self._stopping:
            raise ValueError(f"experiment {self.experiment_id} is {self.status.value}: nothing can run")
        chosen = self.rerun_candidates() if trial_ids is None else \
            [self._finished_trial(i) for i in dict.fromkeys(trial_ids)]
        rerun = {trial.trial_id: self._queue_again(trial, 0).trial_id for trial in chosen}
        self._resume_if_done()
        return rerun

    def _finished_trial(self, trial_id: str) -> Trial:
        trial = self.trials.get(trial_id)
        if trial is None:
            raise KeyError(trial_id)
        if not trial.finished:
            raise ValueError(f"trial {trial_id} is {trial.status.value}: only a finished trial can run again")
        return trial

    def _config_event(self, field: str, value: Any) -> None:
        self.storage.append_experiment_event("config", {"field": field, "value": value})
        self._save_profile()
        self._changed_now("experiment")
        self._wake.set()

    async def update_trial_concurrency(self, value: int) -> None:
        self.config.trial_concurrency = check_trial_concurrency(value)
        self._config_event("trialConcurrency", value)

    async def update_max_trial_number(self, value: int) -> None:
        self.config.max_trial_number = check_max_trial_number(value)
        self._config_event("maxTrialNumber", value)
        self._resume_if_done()

    async def update_max_experiment_duration(self, value: str | int | float) -> None:
        parse_duration(value)
        self.config.max_experiment_duration = value
        self._arm_duration_timer()
        self._config_event("maxExperimentDuration", value)
        self._resume_if_done()

    async def update_search_space(self, space: dict[str, Any]) -> None:
        validate_search_space(space)
        if (await self._tuner_call(self.tuner.update_search_space, space)).failed:
            return
        self.search_space = space
        self.config.search_space = space
        self.config.search_space_file = None
        self._tuner_exhausted = False
        self._config_event("searchSpace", space)
        self._resume_if_done()

    def _resume_if_done(self) -> None:
        if self.status in (ExperimentStatus.DONE, ExperimentStatus.NO_MORE_TRIAL, ExperimentStatus.TUNER_NO_MORE_TRIAL) \
                and (self._may_create() or self._customized_queue):
            self._set_status(ExperimentStatus.RUNNING)
            self._wake.set()

    async def import_data(self, data: list[dict[str, Any]]) -> None:
        """Give earlier results to the tuner (and keep them so a resume gives them again)."""
        clean = [d for d in data if isinstance(d, dict) and "parameter" in d and self._usable(d.get("value"))]
        self.storage.append_experiment_event("import_data", {"data": clean})
        await self._tuner_call(self.tuner.import_data, clean)

    async def _warm_start(self, sources: list[str]) -> None:
        """Give the tuner the results of earlier experiments or files, fitted to the search space; each
        source is stored as an import (flagged with its source) so a resume gives it again."""
        roots = [self.experiment_dir.parent, Path(self.config.experiment_working_directory).expanduser().resolve()]
        for warm in load_warm_starts(sources, self.search_space, roots):
            _logger.info("warm start from %s: %d result(s) fit the search space, %d skipped",
                         warm.source, len(warm.records), warm.skipped)
            clean = [d for d in warm.records if self._usable(d.get("value"))]
            self.storage.append_experiment_event("import_data", {"data": clean, "source": warm.source,
                                                                 "skipped": warm.skipped + len(warm.records) - len(clean)})
            if clean and (await self._tuner_call(self.tuner.import_data, clean)).failed:
                return

    # -- persistence and resume -------------------------------------------------------------------

    def _save_profile(self) -> None:
        self.storage.save_profile({
            "id": self.experiment_id, "config": self.config.json(), "status": self.status.value, "error": self.error,
            "start_time_ms": self.start_time_ms, "end_time_ms": self.end_time_ms,
            "elapsed_ms": self._elapsed_before_ms + (self.end_time_ms or _now_ms()) - self._resumed_at_ms,
            "next_parameter_id": self._next_parameter_id, "live_tuner": self.live_tuner(),
        })

    def _restore(self, profile: dict[str, Any]) -> None:
        self.start_time_ms = profile.get("start_time_ms", self.start_time_ms)
        self._elapsed_before_ms = int(profile.get("elapsed_ms") or 0)
        self._resumed_at_ms = _now_ms()
        self.trials = {t.trial_id: t for t in self.storage.load_trials()}
        self._active_trials = {i: t for i, t in self.trials.items() if t.status in _ACTIVE}
        self._status_counts = Counter(t.status for t in self.trials.values())
        self._tuner_created = sum(1 for t in self.trials.values() if not t.customized and t.retry_of is None)
        self._next_parameter_id = max([int(profile.get("next_parameter_id") or 0)]
                                      + [max(t.parameter_id, t.sequence_id) + 1 for t in self.trials.values()])

    async def _replay_results(self) -> None:
        """Rebuild the tuner's state from what is stored: imported data, then every final result."""
        for event in self.storage.experiment_events("import_data"):
            await self._tuner_call(self.tuner.import_data, event["data"]["data"])
        replay = [{"parameter": t.parameters, "value": t.final.value} for t in self.trials.values()
                  if t.final is not None and self._usable(t.final.value)]
        if replay and (await self._tuner_call(self.tuner.import_data, replay)).failed:
            return
        # What the tuner handed out without a result yet: a grid must not walk those points again.
        handed_out = [{"parameter_id": t.parameter_id, "parameter": t.parameters, "running": t.status in _ACTIVE}
                      for t in self.trials.values()
                      if not t.customized and not (t.final is not None and self._usable(t.final.value))]
        if handed_out:
            await self._tuner_call(self.tuner.restore_proposals, handed_out)

    async def _adopt_or_requeue(self) -> None:
        """Trials that were active when the old manager died: follow them if alive, else run again."""
        for trial in list(self.trials.values()):
            if trial.status not in _ACTIVE:
                continue
            handle = getattr(trial, "handle", None) or {}
            if trial.status == TrialStatus.RUNNING and await self.service.adopt(self._spec(trial), handle):
                self._arm_trial_timer(trial)
                continue
            if trial.status == TrialStatus.RUNNING:
                self._update_trial(trial, "requeued", status=TrialStatus.WAITING, message="re-run after resume")
            elif trial.customized or trial.retry_of is not None:
                self._customized_queue.append(trial)  # waited for a slot: it still does, and runs once
                continue
            await self._submit(trial)

    def wake(self) -> None:
        self._wake.set()

