"""A Ray cluster (``platform: ray``): each trial holds its resources through Ray while it runs.

The manager is a Ray driver (``ray.init(address)``). Before the first trial a small task runs on
every node to check that its Python imports a compatible nni. A trial asks for ``trialCpuNumber``
CPUs, the trial's GPUs and ``trialResources``, in ``runtimeEnv``:

* without GPUs, Ray reserves them as a placement group of one bundle, and the node's long-lived
  :class:`._ray_trial.TrialAgent` actor (one per node, asking for nothing) starts the trial. A Ray
  task per trial would hold a Ray worker process per running trial, which hundreds of concurrent
  fractional-CPU trials cannot afford (at 256 on 2 cores a slot waited 23 s for its worker).
  The group of a trial that ended is kept for the next trial for a moment (every group of an
  experiment has the same shape), saving the GCS and the raylets a group's create and remove per
  trial; it is removed when no trial takes it, when a trial of the experiment waits for a group of
  its own (so the waiting one is not held up), and at stop;
* with GPUs, it is a streaming-generator task of its own (:func:`._ray_trial.run_trial`), so that
  Ray picks the devices.

The code directory (minus ``.nniignore``) is put once in
Ray's object store and unpacked once per node, unless ``runtimeEnv`` names a ``working_dir`` (a URI
Ray fetches) or sets it to null (the nodes see the code directory at its own path). The agent or task runs
the trial command through the trial runner and yields its metrics and output back through Ray.

Kill and stop cancel the call (which ends the trial's process group on its node), forcing a task's
cancellation when it is not honoured in time; since a forced cancel shows up as a crashed worker or
an exit by SIGKILL rather than as a cancellation, the service records which trials it killed. A node
that dies fails its trials with Ray's reason. Trials, agents and placement groups are owned by the
driver, so they end with the manager and are not adopted after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..config.training_services import RayConfig
from . import _ray_trial
from ._code_archive import list_code_files, pack_code
from ._mirror import TrialMirror
from ._process import compatible_versions
from .base import CANCELED_BEFORE_START, EventSink, ServiceBase, TrainingServiceError, TrialRun, TrialSpec

__all__ = ["RayTrainingService"]

_logger = logging.getLogger("nni.training_service.ray")

_KILL_GRACE_SECONDS = 3.0
_CHECK_TIMEOUT_SECONDS = 180.0
_CONNECT_TIMEOUT_SECONDS = 10.0
_AGENT_CONCURRENCY = 100_000
"""Calls an agent runs at once: every trial placed on its node."""
_IDLE_GROUP_SECONDS = 2.0
"""How long the placement group of an ended trial waits for the next trial before it is removed."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise TrainingServiceError("platform 'ray' needs Ray: pip install 'nni[ray]' (the same Ray and Python "
                                   "versions as the cluster)") from None
    return ray


def _node_check() -> Any:
    """A function defined here so that Ray ships it by value: it must run where nni is missing too."""
    def check() -> dict[str, Any]:
        import platform
        import sys

        import ray

        result: dict[str, Any] = {"ip": ray.util.get_node_ip_address(), "python": platform.python_version(),
                                  "executable": sys.executable}
        try:
            import nni
            from nni.runtime import protocol  # noqa: F401 - trials need the trial side too

            result["nni"] = nni.__version__
        except ImportError as error:
            result["error"] = f"{type(error).__name__}: {error}"
            return result
        try:
            from nni.training_service import _process  # noqa: F401 - what the trial runner needs besides
        except ImportError as error:
            result["runner"] = f"{type(error).__name__}: {error}"
        return result
    return check


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), type(error).__name__)[:300]


@dataclass
class _RayTrial(TrialRun):
    mirror: TrialMirror = field(init=False)
    generator: Any = None
    node_ip: str | None = None
    node_id: str | None = None
    sys_dir: str | None = None
    agent: Any = None
    """The node's agent running the trial; None for a trial with GPUs (a task of its own)."""
    placement: Any = None
    """The placement group holding the trial's resources, until its end."""
    placing: asyncio.Task[None] | None = None
    """Waits for the placement and runs the trial on the agent; cancelled by a kill before it starts."""
    runner_done: bool = False
    """The trial runner reported the end of the trial's processes, so its placement is free again."""

    def __post_init__(self) -> None:
        self.mirror = TrialMirror(Path(self.spec.trial_dir))


class RayTrainingService(ServiceBase[RayConfig, _RayTrial]):
    platform = "ray"
    stop_timeout = _KILL_GRACE_SECONDS + 15

    def __init__(self, config: RayConfig, experiment_id: str, experiment_dir: Path) -> None:
        super().__init__(config, experiment_id, experiment_dir)
        self._initialized_here = False
        self._remote: Any = None
        self._agent_class: Any = None
        self._agents: dict[str, Any] = {}
        self._idle_groups: list[tuple[Any, str]] = []
        """Placement groups of ended trials, with their node, newest last."""
        self._groups_made = 0
        self._awaiting_placement = 0
        self._next_node = 0
        self._nodes: list[dict[str, Any]] = []
        self._checked_code: dict[str, str | None] = {}
        self._code_refs: dict[str, tuple[Any, str]] = {}

    # -- interface --------------------------------------------------------------------------------

    async def start(self, events: EventSink) -> None:
        await super().start(events)
        ray = _ray()
        if not ray.is_initialized():
            await self._connect(ray)
        self._nodes = [n for n in ray.nodes() if n.get("Alive")]
        if not self._nodes:
            raise TrainingServiceError(f"ray: the cluster at {self.config.address} has no live node")
        await self._check_nodes(ray)
        if self.config.trial_code_directory is not None:
            problem = self._code_problem(Path(self.config.trial_code_directory).expanduser().resolve())
            if problem:
                raise TrainingServiceError(problem)
        self._remote = ray.remote(_ray_trial.run_trial)
        self._agent_class = ray.remote(_ray_trial.TrialAgent)

    async def _connect(self, ray: Any) -> None:
        address = self.config.address
        host, _, port = address.rpartition(":")
        if host and port.isdigit() and "://" not in address:
            # ray.init waits a long time for a head that is not there: fail fast with a clear reason
            try:
                await asyncio.wait_for(asyncio.to_thread(socket.create_connection, (host, int(port)), 5),
                                       _CONNECT_TIMEOUT_SECONDS)
            except (OSError, asyncio.TimeoutError) as error:
                raise TrainingServiceError(f"ray: cannot reach the Ray head at {address}: "
                                           f"{error or 'timed out'}") from None
        try:
            await asyncio.to_thread(ray.init, address=address, namespace=self.config.namespace,
                                    logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise TrainingServiceError(f"ray: cannot connect to the Ray cluster at {address}: "
                                       f"{_first_line(error)}") from None
        self._initialized_here = True

    async def _check_nodes(self, ray: Any) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        check = ray.remote(num_cpus=0, max_retries=0)(_node_check())
        env = self._runtime_env()
        refs = [check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
                              runtime_env=env).remote() for n in self._nodes]
        try:
            results = await asyncio.wait_for(asyncio.gather(*refs, return_exceptions=True), _CHECK_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            for ref in refs:
                _cancel(ref, force=True)
            raise TrainingServiceError(f"ray: the nodes did not run the check task within "
                                       f"{_CHECK_TIMEOUT_SECONDS:g}s (runtime environment still installing?)") from None
        problems = []
        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
        checked = []
        for node, result in zip(self._nodes, results, strict=True):
            where = f"ray node {node.get('NodeManagerAddress')} ({node['NodeID'][:8]})"
            if isinstance(result, BaseException) and node["NodeID"] not in alive:
                continue  # it died meanwhile: trials go to the others
            checked.append(node)
            if isinstance(result, BaseException):
                problems.append(f"{where}: the check task failed: {_first_line(result)}")
            elif "error" in result:
                problems.append(f"{where}: {result['executable']} cannot import nni ({result['error']}); install "
                                f"nni=={__version__} on the nodes or add it to runtimeEnv (pip)")
            elif not compatible_versions(__version__, result["nni"]):
                problems.append(f"{where}: has nni {result['nni']} but the manager runs {__version__}")
            elif "runner" in result:
                problems.append(f"{where}: has nni {result['nni']} but cannot import what the trial runner needs "
                                f"({result['runner']}); reinstall nni=={__version__} there")
        if problems:
            raise TrainingServiceError("Ray nodes failed the pre-flight check:\n  " + "\n  ".join(problems))
        if not checked:
            raise TrainingServiceError(f"ray: the cluster at {self.config.address} has no live node")
        self._nodes = checked

    async def submit(self, spec: TrialSpec) -> None:
        ray = _ray()
        trial = _RayTrial(spec)
        self._trials[spec.trial_id] = trial
        trial.mirror.prepare(spec.parameter_record)
        problem = self._code_problem(Path(spec.code_dir))
        if problem:
            self._finish(trial, None, problem)
            return
        env = self._runtime_env()
        code: dict[str, Any] = {"mode": self._code_mode(), "path": str(spec.code_dir)}
        if code["mode"] == "ship":
            code["ref"], code["digest"] = await self._code_ref(Path(spec.code_dir))
        cpus = self.config.trial_cpu_number
        request = {
            "experiment_id": self.experiment_id, "trial_id": spec.trial_id, "command": spec.command,
            "code": code,
            "parameter_record": spec.parameter_record, "work_root": self.config.working_directory,
            "kill_grace": _KILL_GRACE_SECONDS,
            "env": {**spec.env, "NNI_PLATFORM": "ray", "NNI_EXP_ID": self.experiment_id,
                    "NNI_TRIAL_JOB_ID": spec.trial_id, "NNI_TRIAL_SEQ_ID": str(spec.sequence_id)},
        }
        if not spec.gpu_number:
            self._set_waiting(spec.trial_id, self._waiting_reason(cpus, 0))
            trial.placing = self._spawn(self._run_on_agent(trial, request), f"running trial {spec.trial_id} on "
                                        f"a Ray node", trial)
            return
        try:
            trial.generator = self._remote.options(
                num_cpus=cpus, num_gpus=spec.gpu_number, resources=dict(self.config.trial_resources) or None,
                runtime_env=env, max_retries=0, retry_exceptions=False, num_returns="streaming",
                name=f"nni-trial-{self.experiment_id}-{spec.trial_id}").remote(request)
        except (ValueError, TypeError, ray.exceptions.RayError) as error:
            self._finish(trial, None, f"Ray refused the task: {_first_line(error)}")
            return
        self._set_waiting(spec.trial_id, self._waiting_reason(cpus, spec.gpu_number))
        self._spawn(self._consume(trial), f"following the Ray task of trial {spec.trial_id}", trial)

    async def _run_on_agent(self, trial: _RayTrial, request: dict[str, Any]) -> None:
        """Reserve the trial's resources, then run it on the agent of the node that holds them."""
        from ray.util.placement_group import placement_group, placement_group_table

        ray = _ray()
        bundle = {"CPU": self.config.trial_cpu_number, **self.config.trial_resources}
        bundle = {k: v for k, v in bundle.items() if v}
        idle = self._idle_group() if bundle else None
        if idle is not None:
            trial.placement, node_id = idle
        elif bundle:
            try:
                trial.placement = placement_group([bundle], strategy="STRICT_PACK",
                                                  name=f"nni-trials-{self.experiment_id}-{self._groups_made}")
            except (ValueError, TypeError, ray.exceptions.RayError) as error:
                self._finish(trial, None, f"Ray refused the placement group: {_first_line(error)}")
                return
            self._groups_made += 1
            self._awaiting_placement += 1
            try:
                await trial.placement.ready()
            finally:
                self._awaiting_placement -= 1
            node_id = placement_group_table(trial.placement)["bundles_to_node_id"][0]
        else:  # nothing to reserve: take the nodes in turn
            node_id = self._nodes[self._next_node % len(self._nodes)]["NodeID"]
            self._next_node += 1
        trial.node_id = node_id
        trial.node_ip = next((n.get("NodeManagerAddress") for n in self._nodes if n["NodeID"] == node_id), None)
        trial.agent = self._agent(node_id)
        trial.generator = trial.agent.run.options(num_returns="streaming").remote(request)
        trial.placing = None
        await self._consume(trial)

    def _agent(self, node_id: str) -> Any:
        """The trial agent of a node, started on first use."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if node_id not in self._agents:
            self._agents[node_id] = self._agent_class.options(
                num_cpus=0, max_restarts=0, max_concurrency=_AGENT_CONCURRENCY, runtime_env=self._runtime_env(),
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)).remote()
        return self._agents[node_id]

    async def kill(self, trial_id: str) -> None:
        trial = self._trials.get(trial_id)
        if trial is None or trial.ended:
            return
        trial.killed = True
        if trial.generator is None:  # still waiting for its placement
            if trial.placing is not None:
                trial.placing.cancel()
            self._finish(trial, None, CANCELED_BEFORE_START)
            return
        _cancel(trial.generator, force=False)
        self._spawn(self._force_later(trial), f"forcing the cancellation of trial {trial_id}")

    async def _force_later(self, trial: _RayTrial) -> None:
        await asyncio.sleep(_KILL_GRACE_SECONDS + 5)
        if trial.ended:
            return
        if trial.agent is None:  # Ray cannot force the cancellation of an actor's call
            _cancel(trial.generator, force=True)
        await asyncio.sleep(5)
        self._finish(trial, None, self._unconfirmed_kill(trial))

    def _unconfirmed_kill(self, trial: _RayTrial) -> str:
        return "killed (Ray did not confirm the cancellation)"

    def _release(self, trial: _RayTrial) -> None:
        group, trial.placement = trial.placement, None
        if group is None:
            return
        if trial.runner_done and not self._awaiting_placement and (trial.node_id or "") in self._agents:
            self._idle_groups.append((group, trial.node_id or ""))
            asyncio.get_running_loop().call_later(_IDLE_GROUP_SECONDS, self._expire_group, group)
        else:
            _remove_group(group)

    def _idle_group(self) -> tuple[Any, str] | None:
        """The newest kept placement group on a node whose agent still serves, if any."""
        while self._idle_groups:
            group, node_id = self._idle_groups.pop()
            if node_id in self._agents:
                return group, node_id
            _remove_group(group)
        return None

    def _expire_group(self, group: Any) -> None:
        for i, (kept, _) in enumerate(self._idle_groups):
            if kept is group:
                del self._idle_groups[i]
                _remove_group(group)
                return

    async def _close(self) -> None:
        self._code_refs.clear()
        for group, _ in self._idle_groups:
            _remove_group(group)
        self._idle_groups.clear()
        ray = _ray()
        for agent in self._agents.values():
            try:
                ray.kill(agent)
            except (ray.exceptions.RayError, ValueError) as error:
                _logger.warning("ray: could not end a trial agent: %s", error)
        self._agents.clear()
        if self._initialized_here:
            await asyncio.to_thread(ray.shutdown)
            self._initialized_here = False

    def describe(self) -> dict[str, Any]:
        return {"platform": self.platform, "address": self.config.address,
                "nodes": [n.get("NodeManagerAddress") for n in self._nodes]}

    # -- helpers ----------------------------------------------------------------------------------

    def _runtime_env(self) -> dict[str, Any] | None:
        """The tasks' runtime environment: the config's, less a null working_dir."""
        env = dict(self.config.runtime_env or {})
        if env.get("working_dir", "") is None:
            env.pop("working_dir")
        return env or None

    def _code_mode(self) -> str:
        """'ship' (through the object store), 'working_dir' (Ray fetches it) or 'in_place'."""
        env = self.config.runtime_env or {}
        if "working_dir" not in env:
            return "ship"
        return "in_place" if env["working_dir"] is None else "working_dir"

    def _code_problem(self, code_dir: Path) -> str | None:
        """Why the code directory cannot be shipped (checked once per folder), else None."""
        key = str(code_dir)
        if key not in self._checked_code:
            try:
                if self._code_mode() == "ship":
                    list_code_files(code_dir)
                self._checked_code[key] = None
            except TrainingServiceError as error:
                self._checked_code[key] = str(error)
        return self._checked_code[key]

    async def _code_ref(self, code_dir: Path) -> tuple[Any, str]:
        """The packed code directory in Ray's object store (put once), and its digest."""
        key = str(code_dir)
        if key not in self._code_refs:
            archive = self._scratch_dir() / f"code-{len(self._code_refs)}.tar.gz"
            digest = await asyncio.to_thread(pack_code, code_dir, archive)
            if key not in self._code_refs:
                self._code_refs[key] = (_ray().put(archive.read_bytes()), digest)
        return self._code_refs[key]

    def _waiting_reason(self, cpus: float, gpus: int) -> str:
        wanted = {"CPU": cpus, "GPU": float(gpus), **self.config.trial_resources}
        wanted = {k: v for k, v in wanted.items() if v}
        words = ", ".join(f"{k} {v:g}" for k, v in wanted.items()) or "no resources"
        if not any(all(node.get("Resources", {}).get(k, 0) >= v for k, v in wanted.items()) for node in self._nodes):
            largest = "; ".join(", ".join(f"{k} {node.get('Resources', {}).get(k, 0):g}" for k in wanted)
                                for node in self._nodes)
            return (f"waiting for a Ray node with {words}: no node has that now (nodes: {largest}); Ray keeps it "
                    f"pending until one joins")
        return f"waiting for Ray to schedule it ({words})"

    async def _consume(self, trial: _RayTrial) -> None:
        try:
            async for ref in trial.generator:
                self._handle(trial, await ref)
                if trial.ended:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as error:  # what Ray raises for a cancelled, crashed or lost task
            self._failed(trial, error)
            return
        self._finish(trial, None, "the Ray task ended without an exit status")

    def _handle(self, trial: _RayTrial, message: dict[str, Any]) -> None:
        kind = message.get("ev")
        if kind in ("exit", "error"):  # the runner has reaped the trial, or never started it
            trial.runner_done = True
        if kind == "node":
            trial.node_ip, trial.node_id, trial.sys_dir = message["ip"], message["node_id"], message["sys_dir"]
            trial.gpus = tuple(int(g) for g in message.get("gpus") or () if str(g).isdigit())
        elif kind == "started" and not trial.started:
            self._emit_started(trial, f"ray://{trial.node_ip}{trial.sys_dir}", stdout_path=trial.mirror.stdout,
                               stderr_path=trial.mirror.stderr, host=trial.node_ip,
                               handle={"node_id": trial.node_id, "ip": trial.node_ip})
        else:
            self._mirror_message(trial, trial.mirror, message, f"ray node {trial.node_ip}")

    def _failed(self, trial: _RayTrial, error: Exception) -> None:
        exceptions = _ray().exceptions
        cause = getattr(error, "cause", None)
        where = f"Ray node {trial.node_ip} ({trial.node_id[:8]})" if trial.node_id else "its Ray node"
        if isinstance(error, exceptions.RayActorError) and self._agents.get(trial.node_id or "") is trial.agent:
            self._agents.pop(trial.node_id or "")  # the next trial on that node starts a new agent
        if trial.killed:
            self._finish(trial, None, "killed" if trial.started else CANCELED_BEFORE_START)
        elif isinstance(error, getattr(exceptions, "NodeDiedError", ())) or (
                isinstance(error, exceptions.RayActorError) and not self._node_alive(trial.node_id)):
            self._finish(trial, None, f"{where} died: {_first_line(error)}")
        elif isinstance(error, exceptions.RayActorError):
            self._finish(trial, None, f"the Ray agent running the trial on {where} died: {_first_line(error)}")
        elif isinstance(error, exceptions.WorkerCrashedError):
            self._finish(trial, None, f"the Ray worker running the trial on {where} died: {_first_line(error)}")
        elif isinstance(error, exceptions.RuntimeEnvSetupError):
            self._finish(trial, None, f"Ray could not set up the runtime environment: {_first_line(error)}")
        elif isinstance(error, exceptions.TaskCancelledError) or isinstance(cause, exceptions.TaskCancelledError):
            self._finish(trial, None, "the Ray task was cancelled outside NNI")
        else:
            self._finish(trial, None, f"the Ray task failed: {type(error).__name__}: {_first_line(error)}")

    def _node_alive(self, node_id: str | None) -> bool:
        return any(n["NodeID"] == node_id and n.get("Alive") for n in _ray().nodes())


def _remove_group(group: Any) -> None:
    """Remove a placement group; best effort, as its node may have died meanwhile."""
    from ray.util.placement_group import remove_placement_group

    try:
        remove_placement_group(group)
    except (_ray().exceptions.RayError, ValueError) as error:
        _logger.warning("ray: could not remove placement group %s: %s", group.id, error)


def _cancel(ref: Any, force: bool) -> None:
    """Cancel a Ray task; best effort, as the task may have ended or its node died meanwhile."""
    ray = _ray()
    try:
        ray.cancel(ref, force=force)
    except (ray.exceptions.RayError, ValueError, TypeError) as error:
        _logger.warning("ray: could not cancel task %s%s: %s", ref, " (forced)" if force else "", error)
