"""Slurm (``platform: slurm``): one ``sbatch`` job per trial; metrics through the shared filesystem.

The trial folder (under the experiment folder) must be on a filesystem the compute nodes share with
the manager, as is usual on Slurm clusters: the job writes its stdout and stderr there (``--output``,
``--error``) and the trial appends its metrics there, which the manager tails. Job states come from
one ``squeue`` call per poll for all trials, and ``scontrol``/``sacct`` once a job has left the
queue. A pending job reports Slurm's reason (Priority, Resources, ...) as the trial's waiting reason;
jobs never requeue (``--no-requeue``), so a failed node fails the trial with that reason.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.training_services import SlurmConfig
from ..runtime import protocol
from ..runtime.protocol import EXIT_CODE_FILE
from ._process import exit_reason, exit_wrapper, read_exit_code
from .base import CANCELED_BEFORE_START, EventSink, ServiceBase, TrainingServiceError, TrialRun, TrialSpec

__all__ = ["SlurmTrainingService", "job_options"]

_POLL_SECONDS = 0.5
_COMMAND_TIMEOUT_SECONDS = 60.0
_STOP_WAIT_SECONDS = 30.0
_TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
             "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
_RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "SUSPENDED", "STOPPED", "RESV_DEL_HOLD"}


def job_options(config: SlurmConfig, gpu_number: int) -> list[str]:
    """The sbatch options every trial job gets from the config (no per-trial ones)."""
    options = ["--no-requeue", f"--cpus-per-task={config.trial_cpu_number}"]
    if config.partition:
        options.append(f"--partition={config.partition}")
    if config.account:
        options.append(f"--account={config.account}")
    if config.time_limit:
        options.append(f"--time={config.time_limit}")
    if config.gres:
        options.append(f"--gres={config.gres}")
    elif gpu_number > 0:
        options.append(f"--gres=gpu:{gpu_number}")
    for entry in config.sbatch_options:
        options.extend(shlex.split(entry))
    return options


@dataclass
class _Job(TrialRun):
    job_id: str | None = None
    state: str = "SUBMITTING"
    node: str | None = None
    tail: protocol.MetricTail | None = None
    missing_polls: int = 0


class SlurmTrainingService(ServiceBase[SlurmConfig, _Job]):
    platform = "slurm"
    stop_timeout = _STOP_WAIT_SECONDS
    _poller: asyncio.Task[None] | None = None
    """Follows every job: one squeue a round."""

    # -- commands ---------------------------------------------------------------------------------

    async def _command(self, *argv: str, timeout: float = _COMMAND_TIMEOUT_SECONDS) -> tuple[int, str, str]:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as error:
            return 127, "", str(error)
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except asyncio.TimeoutError:
            try:
                process.kill()
            except ProcessLookupError:
                pass  # it ended just now: wait() below collects it
            await process.wait()
            return 124, "", f"{argv[0]} did not answer within {timeout:g}s"
        return process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")

    # -- interface --------------------------------------------------------------------------------

    async def start(self, events: EventSink) -> None:
        await super().start(events)
        missing = [c for c in ("sbatch", "squeue", "scancel", "sinfo", "scontrol") if shutil.which(c) is None]
        if missing:
            raise TrainingServiceError(f"platform 'slurm' needs the Slurm client commands on PATH; missing: "
                                       f"{', '.join(missing)} (run the manager on a Slurm login node)")
        conf = os.environ.get("SLURM_CONF")
        if conf and not Path(conf).is_file():  # Slurm's clients would retry a missing file for a minute
            raise TrainingServiceError(f"slurm: SLURM_CONF={conf} does not exist")
        code, out, err = await self._command("sinfo", "-h", "-o", "%P", timeout=30)
        if code != 0:
            raise TrainingServiceError(f"slurm: cannot reach the Slurm controller (sinfo: {err.strip() or out.strip()})")
        partitions = {p.strip().rstrip("*") for p in out.split()}
        if self.config.partition and self.config.partition not in partitions:
            raise TrainingServiceError(f"slurm: partition {self.config.partition!r} does not exist "
                                       f"(partitions: {', '.join(sorted(partitions)) or 'none'})")
        gpus = self.config.trial_gpu_number or 0
        options = job_options(self.config, gpus)
        code, out, err = await self._command("sbatch", "--test-only", *options, "--wrap", "true")
        if code != 0:
            detail = (err.strip() or out.strip()).splitlines()
            raise TrainingServiceError(f"slurm: sbatch refuses the job options {' '.join(options)}: "
                                       f"{detail[-1] if detail else 'exit status ' + str(code)}")
        self._poller = self._spawn(self._poll_loop(), "following the Slurm jobs")

    async def submit(self, spec: TrialSpec) -> None:
        job = _Job(spec)
        self._trials[spec.trial_id] = job
        trial_dir = Path(spec.trial_dir)
        (trial_dir / ".nni").mkdir(parents=True, exist_ok=True)
        protocol.write_parameter_file(trial_dir, spec.parameter_record)
        for name in ("stdout", "stderr"):
            (trial_dir / name).touch()
        (trial_dir / EXIT_CODE_FILE).unlink(missing_ok=True)  # left by an earlier run of this trial
        script = trial_dir / ".nni" / "job.sh"
        script.write_text(self._script(spec), encoding="utf-8")
        job.tail = protocol.MetricTail(trial_dir / protocol.METRICS_FILE)
        # '%' starts a Slurm filename pattern (%j, %x, ...)
        out_dir = str(trial_dir).replace("%", "%%")
        argv = ["sbatch", "--parsable", f"--job-name=nni-{self.experiment_id}-{spec.trial_id}",
                f"--output={out_dir}/stdout", f"--error={out_dir}/stderr", f"--chdir={spec.code_dir}",
                "--open-mode=append", *job_options(self.config, spec.gpu_number), str(script)]
        code, out, err = await self._command(*argv)
        if code != 0:
            detail = (err.strip() or out.strip()).splitlines()
            self._finish(job, None, f"sbatch failed: {detail[-1] if detail else 'exit status ' + str(code)}")
            return
        job.job_id = out.strip().split(";")[0]
        job.state = "PENDING"
        if job.killed:
            await self._command("scancel", job.job_id)
        self._wake.set()

    def _script(self, spec: TrialSpec) -> str:
        trial_dir = str(spec.trial_dir)
        env = dict(spec.env)
        env.update(self._trial_env(spec, trial_dir, str(spec.code_dir)))
        lines = ["#!/bin/bash", "# written by nni: one trial of experiment " + self.experiment_id]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
        if spec.gpu_number == 0 and not self.config.gres:
            lines.append("export CUDA_VISIBLE_DEVICES=")
        else:
            # Slurm sets it for the GPUs it allocated; without GPU gres it would be the manager's own value
            lines.append('[ -n "${SLURM_JOB_GPUS:-}${SLURM_STEP_GPUS:-}" ] || export CUDA_VISIBLE_DEVICES=')
        # pythonPath, else the manager's interpreter (the nodes share its filesystem), comes first so
        # that `python3 trial.py` finds this package, as with the local service
        python_bin = self.config.python_path or os.path.dirname(sys.executable)
        lines.append(f'export PATH={shlex.quote(python_bin)}:"$PATH"')
        lines.append(exit_wrapper(spec.command, Path(trial_dir) / EXIT_CODE_FILE))
        return "\n".join(lines)

    async def kill(self, trial_id: str) -> None:
        job = self._trials.get(trial_id)
        if job is None or job.ended:
            return
        job.killed = True
        if job.job_id is not None:
            await self._command("scancel", job.job_id)
            self._wake.set()

    async def _kill_all(self, trials: list[_Job]) -> None:
        """One scancel for all jobs; a job still being submitted is cancelled once sbatch answers."""
        for job in trials:
            job.killed = True
        ids = [j.job_id for j in trials if j.job_id is not None]
        if ids:
            await self._command("scancel", *ids)

    def _unconfirmed_kill(self, trial: _Job) -> str:
        return f"Slurm job {trial.job_id} did not end within {_STOP_WAIT_SECONDS:g}s of scancel"

    async def adopt(self, spec: TrialSpec, handle: dict[str, Any]) -> bool:
        job_id = handle.get("job_id")
        if not job_id:
            return False
        exit_file = Path(spec.trial_dir) / EXIT_CODE_FILE
        state, _, _ = await self._final_state(str(job_id))
        if state is None and not exit_file.is_file():
            return False
        if state in _TERMINAL and not exit_file.is_file() and state != "COMPLETED":
            return False
        job = _Job(spec, job_id=str(job_id), state="RUNNING", started=True,
                   tail=protocol.MetricTail(Path(spec.trial_dir) / protocol.METRICS_FILE))
        self._trials[spec.trial_id] = job
        self._wake.set()
        return True

    def describe(self) -> dict[str, Any]:
        return {"platform": self.platform, "partition": self.config.partition,
                "jobs": {j.trial_id: j.job_id for j in self._trials.values() if not j.ended}}

    # -- following jobs ---------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        while True:
            await self._wait_for_wake(_POLL_SECONDS)
            try:
                await self._poll()
            except Exception as error:  # one failed poll (controller restarting) must not end the service
                for job in self._trials.values():
                    if not job.ended and job.job_id is not None:
                        self._job_waiting(job, f"cannot read Slurm job states: {error}")

    async def _poll(self) -> None:
        active = {j.job_id: j for j in self._trials.values() if not j.ended and j.job_id is not None}
        for job in active.values():
            self._drain(job)
        if not active:
            return
        code, out, err = await self._command("squeue", "--me", "-h", "-t", "all", "-o", "%i|%T|%r|%N")
        if code != 0:
            raise TrainingServiceError(f"squeue: {err.strip() or out.strip()}")
        seen: dict[str, tuple[str, str, str]] = {}
        for line in out.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 4 and parts[0] in active:
                seen[parts[0]] = (parts[1], parts[2], parts[3])
        for job_id, job in active.items():
            if job_id not in seen:
                # just submitted and not listed yet, or already purged from the controller's memory
                job.missing_polls += 1
                if job.missing_polls >= 3:
                    await self._ended(job, *await self._final_state(job_id))
                continue
            state, reason, node = seen[job_id]
            job.missing_polls = 0
            job.state = state
            if node and node not in ("(null)", "n/a"):
                job.node = node
            if state in _TERMINAL:
                final_state, final_reason, exit_code = await self._final_state(job_id)
                await self._ended(job, final_state or state, final_reason or reason, exit_code)
            elif state in _RUNNING:
                self._mark_started(job)
            else:
                why = reason if reason and reason != "None" else state.lower()
                self._job_waiting(job, f"Slurm job {job_id} is {state.lower()} ({why})")

    async def _final_state(self, job_id: str) -> tuple[str | None, str | None, int | None]:
        """(state, reason, exit code) from scontrol, else sacct; Nones when Slurm forgot the job."""
        code, out, _ = await self._command("scontrol", "show", "job", "-o", job_id)
        if code == 0 and "JobState=" in out:
            fields = dict(item.split("=", 1) for item in out.split() if "=" in item)
            return fields.get("JobState"), fields.get("Reason"), _exit_code(fields.get("ExitCode"))
        code, out, _ = await self._command("sacct", "-n", "-P", "-X", "-j", job_id, "-o", "State,ExitCode")
        line = out.strip().splitlines()[0] if code == 0 and out.strip() else ""
        if "|" in line:
            state, exit_code = line.split("|", 1)
            return state.split()[0], None, _exit_code(exit_code)
        return None, None, None

    def _mark_started(self, job: _Job) -> None:
        if job.started:
            return
        trial_dir = Path(job.spec.trial_dir)
        self._emit_started(job, f"file://{job.node or 'slurm'}:{trial_dir}", stdout_path=trial_dir / "stdout",
                           stderr_path=trial_dir / "stderr", host=job.node, handle={"job_id": job.job_id})

    def _job_waiting(self, job: _Job, reason: str) -> None:
        if not job.started:
            self._set_waiting(job.trial_id, reason)

    def _drain(self, job: _Job) -> None:
        if job.tail is None:
            return
        for record in job.tail.read_new():
            self._metric(job, record)

    async def _ended(self, job: _Job, state: str | None, reason: str | None, slurm_exit: int | None) -> None:
        code = read_exit_code(job.spec.trial_dir)
        never_ran = not job.started and job.node is None
        if state == "CANCELLED" and never_ran:
            self._finish(job, None, CANCELED_BEFORE_START if job.killed else
                         f"Slurm job {job.job_id} was cancelled while pending ({reason or 'outside NNI'})")
            return
        if not job.started and state is not None:
            self._mark_started(job)
        if code is None and state == "COMPLETED":
            code = slurm_exit if slurm_exit is not None else 0
        if state == "NODE_FAIL" and job.node:
            # the node's own reason (set by the admin or by slurmctld) says more than the job's NodeDown
            status, out, _ = await self._command("sinfo", "-h", "-N", "-n", job.node, "-o", "%E")
            node_reason = out.strip().splitlines()[0].strip() if status == 0 and out.strip() else ""
            if node_reason and node_reason.lower() != "none":
                reason = f"{reason}: {node_reason}" if reason else node_reason
        # When Slurm ended the job (time limit, node failure, scancel) its state says why; the exit
        # status the script may still have written is only the SIGTERM it got.
        words = {
            "TIMEOUT": f"reached the Slurm time limit ({self.config.time_limit or 'partition default'})",
            "NODE_FAIL": f"Slurm node {job.node or '?'} failed ({reason or 'node failure'})",
            "PREEMPTED": "preempted by Slurm",
            "OUT_OF_MEMORY": "ran out of memory (Slurm OUT_OF_MEMORY)",
            "BOOT_FAIL": f"Slurm node {job.node or '?'} failed to boot",
            "DEADLINE": "missed its Slurm deadline",
            "CANCELLED": "killed" if job.killed else f"Slurm job {job.job_id} was cancelled outside NNI",
        }.get(state or "")
        if words is None:
            if code is None and slurm_exit is not None and state == "FAILED":
                code = slurm_exit
            if code is None:
                words = (f"Slurm job {job.job_id} ended {state}" + (f" ({reason})" if reason else "") if state
                         else f"Slurm no longer knows job {job.job_id} and it left no exit status")
            else:
                words = exit_reason(code)
        self._finish(job, code, words)

    def _release(self, run: _Job) -> None:
        self._drain(run)


def _exit_code(text: str | None) -> int | None:
    """Slurm's ``ExitCode=status:signal`` as one status, negative for a signal."""
    if not text or ":" not in text:
        return None
    status, _, signum = text.partition(":")
    try:
        status_i, signal_i = int(status), int(signum)
    except ValueError:
        return None
    return -signal_i if signal_i else status_i

