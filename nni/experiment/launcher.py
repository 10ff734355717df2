"""The composition root: build storage, algorithms, training service, engine and server for one
experiment and run them on a private event loop (in a thread of this process, or as the main loop
of a detached manager process)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from ..algorithms.hpo.builtin import create_algorithm
from ..config import AlgorithmConfig, CustomAlgorithmConfig, ExperimentConfig, parse_duration
from ..engine.engine import Engine
from ..engine.handle import ExperimentHandle
from ..errors import ConfigError
from ..integrations import ExperimentInfo, open_trackers
from ..records import ExperimentStatus
from ..server.app import create_app
from ..storage.manifest import update_manifest_entry
from ..storage.nni30 import open_storage
from ..storage.private import make_private_dir, touch_private_file
from ..storage.sqlite import DB_DIR, database_dir
from ..training_service import create_training_service
from .lock import ExperimentLock

__all__ = ["ExperimentRunner", "experiment_dir_of", "bind_port", "check_port", "find_experiment_dir",
           "load_stored_config"]

_logger = logging.getLogger("nni.experiment")


def experiment_dir_of(config: ExperimentConfig, experiment_id: str) -> Path:
    return Path(config.experiment_working_directory).expanduser().resolve() / experiment_id


def find_experiment_dir(experiment_id: str) -> Path:
    """Where an experiment lives: its manifest entry's logDir, else ``~/nni-experiments/<id>``."""
    from ..storage.manifest import read_manifest

    entry = read_manifest().get(experiment_id) or {}
    if entry.get("logDir"):
        # Our entries name the experiment's folder; NNI 3.0's name the folder that holds it.
        log_dir = Path(entry["logDir"]).expanduser()
        return log_dir / experiment_id if database_dir(log_dir / experiment_id).is_dir() else log_dir
    return Path("~/nni-experiments").expanduser().resolve() / experiment_id


def load_stored_config(experiment_id: str, experiment_dir: Path | None = None) -> ExperimentConfig:
    """The config an experiment was last run with, read from its database (for resume and view)."""
    from ..engine.view import load_stored_profile

    experiment_dir = experiment_dir or find_experiment_dir(experiment_id)
    profile = load_stored_profile(experiment_dir)
    if profile is None:
        raise ConfigError(f"experiment {experiment_id} not found: no database in {experiment_dir / 'db'}")
    return ExperimentConfig.model_validate(profile["config"])


def check_port(port: Any) -> int:
    """``port`` if it is a TCP port number (0 picks a free one), else a ConfigError saying so."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port must be an integer from 0 to 65535 (0: any free port), got {port!r}")
    return port


def bind_port(host: str, port: int, wait: float = 0.0) -> socket.socket:
    """Bind the server socket now, so a taken port is reported before anything starts.

    Port 0 binds a free port; the socket's ``getsockname()`` tells which. ``wait``: seconds to
    retry a taken port, for one a manager that was just killed is about to free.
    """
    check_port(port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + wait
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            # two managers may both bind before either listens: the one that listens second learns here
            sock.listen(128)
            break
        except OSError as error:
            sock.close()
            if error.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise RuntimeError(f"Port {port} on {host} is already in use ({error.strerror}); "
                               f"choose another port, e.g. {port + 1}, or 0 for any free port") from None
    sock.setblocking(False)
    return sock


def _make_algorithm(kind: str, config: AlgorithmConfig | CustomAlgorithmConfig | None,
                    experiment: ExperimentConfig | None = None) -> Any:
    if config is None:
        return None
    if isinstance(config, CustomAlgorithmConfig):
        return create_algorithm(kind, class_name=config.class_name, class_args=config.class_args,
                                code_directory=config.code_directory)
    args = dict(config.class_args)
    if experiment is not None and str(config.name).lower() in ("auto", "autotuner"):
        # Auto's budget and concurrency hints, from the experiment unless the user gave them
        duration = experiment.max_experiment_duration
        hints = {"max_trial_number": experiment.max_trial_number, "trial_concurrency": experiment.trial_concurrency,
                 "max_experiment_duration": None if duration is None else parse_duration(duration)}
        args.update({key: value for key, value in hints.items() if value is not None and key not in args})
    return create_algorithm(kind, name=config.name, class_args=args)


def _setup_logging(log_dir: Path, debug: bool, level: str | None, console: bool) -> list[logging.Handler]:
    make_private_dir(log_dir)
    fmt = logging.Formatter("[%(asctime)s] %(levelname)s (%(name)s) %(message)s")
    handlers: list[logging.Handler] = []
    manager = logging.FileHandler(touch_private_file(log_dir / "nnimanager.log"))
    manager.addFilter(lambda r: not r.name.startswith("nni.algorithms"))
    dispatcher = logging.FileHandler(touch_private_file(log_dir / "dispatcher.log"))
    dispatcher.addFilter(lambda r: r.name.startswith("nni.algorithms"))
    handlers += [manager, dispatcher]
    if console:
        handlers.append(logging.StreamHandler())
    root = logging.getLogger("nni")
    root.setLevel(logging.DEBUG if debug else getattr(logging, (level or "info").upper(), logging.INFO))
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)
    return handlers


class ExperimentRunner:
    """Owns one running experiment: its event loop thread, engine and HTTP server."""

    def __init__(self, experiment_id: str, config: ExperimentConfig, *, tuner: Any = None, assessor: Any = None,
                 port: int = 8080, host: str = "127.0.0.1", url_prefix: str = "", debug: bool = False,
                 console_log: bool = False, token: str | None = None, mode: str = "create",
                 lock: ExperimentLock | None = None, nonce: str | None = None,
                 enqueued: list[dict[str, Any]] | None = None) -> None:
        self.experiment_id = experiment_id
        self.enqueued = list(enqueued or [])
        """Parameters of trials to run before the tuner's (``Experiment.enqueue_trial`` before start)."""
        self.mode = mode
        """'create', 'resume' (continue the stored experiment) or 'view' (serve it read-only)."""
        self.config = config.model_copy(deep=True)
        """The runner's own copy: the default tuner it fills in and live updates stay out of the
        caller's object (NNI's ``Experiment`` also starts from a copy)."""
        self.port = port
        self.host = host
        self.url_prefix = url_prefix
        self.token = token or secrets.token_urlsafe(18)
        self.nonce = nonce or secrets.token_hex(8)
        """Random per start; check-status shows it, so a launcher knows the answer is its manager's."""
        self.lock = lock
        """The experiment's lock, held while this runner runs (taken by ``start_in_thread`` if not given)."""
        self.experiment_dir = experiment_dir_of(config, experiment_id)
        self._live_tuner = tuner
        self._live_assessor = assessor
        self._debug = debug or config.debug
        self._console_log = console_log
        self.engine: ExperimentHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stop_requested: asyncio.Event | None = None
        self._handlers: list[logging.Handler] = []
        self.done = threading.Event()
        self.finished = threading.Event()
        """Set while the experiment is DONE, STOPPED or in ERROR (cleared if it runs again)."""

    @property
    def url(self) -> str:
        """The page's address with the token: for the user's eyes only, never for a log file."""
        return f"{self.public_url}?token={self.token}"

    @property
    def public_url(self) -> str:
        """The page's address without the token."""
        host = "localhost" if self.host in ("127.0.0.1", "localhost", "::1") else self.host
        prefix = "/" + self.url_prefix.strip("/") if self.url_prefix.strip("/") else ""
        return f"http://{host}:{self.port}{prefix}/"

    # -- start ------------------------------------------------------------------------------------

    def prepare(self) -> ExperimentHandle:
        """Validate and build every part; raise ConfigError/RuntimeError before anything runs."""
        if self.mode == "view":
            from ..engine.view import ViewEngine

            self.engine = ViewEngine(self.experiment_id, self.experiment_dir)
            return self.engine
        if self._live_tuner is None:
            self.config.fill_default_tuner()
        self.config.validate(live_tuner=self._live_tuner)
        tuner = self._live_tuner if self._live_tuner is not None else \
            _make_algorithm("tuner", self.config.advisor or self.config.tuner, self.config)
        assessor = self._live_assessor if self._live_assessor is not None else \
            _make_algorithm("assessor", self.config.assessor)
        make_private_dir(self.experiment_dir)
        for sub in (DB_DIR, "log", "trials", "checkpoint"):
            (self.experiment_dir / sub).mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("NNI_CHECKPOINT_DIRECTORY", str(self.experiment_dir / "checkpoint"))
        os.environ.setdefault("NNI_EXP_ID", self.experiment_id)
        # NNI 3.0's own database is converted into ours here (its file kept as a backup).
        storage = open_storage(database_dir(self.experiment_dir))
        service = create_training_service(self.config.training_service, self.experiment_id, self.experiment_dir)
        trackers = open_trackers(self.config.trackers, ExperimentInfo(
            self.experiment_id, self.experiment_dir, self.config.experiment_name, self.config.json()))
        engine = Engine(self.experiment_id, self.config, self.experiment_dir, storage, service, tuner, assessor,
                        on_status=self._on_status, trackers=trackers)
        for parameters in self.enqueued:
            engine.queue_at_start(parameters)
        self.engine = engine
        return engine

    def start_in_thread(self) -> None:
        """Start the manager in a daemon thread of this process and wait until it runs."""
        sock = bind_port(self.host, self.port)
        self.port = sock.getsockname()[1]
        try:
            if self.lock is None:
                self.lock = ExperimentLock.acquire(self.experiment_id, self.experiment_dir, self.mode)
            self.prepare()
        except BaseException:
            sock.close()
            self._release_lock()
            raise
        self._handlers = _setup_logging(self.experiment_dir / "log", self._debug, self.config.log_level,
                                        self._console_log)
        self._thread = threading.Thread(target=self._thread_main, args=(sock,), name="nni-manager", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            self.stop()
            raise self._start_error

    def run_in_foreground(self, sock: socket.socket) -> None:
        """Run as the main loop of this process (the detached manager); returns once stopped."""
        self.port = sock.getsockname()[1]
        self._handlers = _setup_logging(self.experiment_dir / "log", self._debug, self.config.log_level,
                                        self._console_log)
        self._thread_main(sock)

    def _thread_main(self, sock: socket.socket) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main(sock))
        finally:
            try:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            except RuntimeError as error:  # the loop was left running or closed: nothing left to finalize
                _logger.warning("closing the manager's async generators failed: %s", error)
            self.loop.close()
            # Everything is written: another manager may take the experiment now.
            self._release_lock()
            self.done.set()
            self._ready.set()

    async def _main(self, sock: socket.socket) -> None:
        assert self.engine is not None
        engine = self.engine
        self._stop_requested = asyncio.Event()
        app = create_app(engine, self.token, self.host, self.url_prefix, request_stop=self._request_stop_async)
        app.state.manager_identity = {"experimentId": self.experiment_id, "nonce": self.nonce}
        # the live-update stream keeps connections open: cut them shortly after a stop
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        # uvicorn before 0.29 installs signal handlers; the manager's own ones must stay in charge
        self._server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        # In the manifest before the server answers: a launcher that sees check-status reads it next.
        self._update_manifest()
        server_task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        try:
            await engine.start()
        except Exception as error:  # a training service that cannot start, say
            engine.fail(f"the experiment could not start: {error}")
        if engine.status == ExperimentStatus.ERROR and not engine.trials:
            self._start_error = RuntimeError(engine.error or "the experiment could not start")
        self._update_manifest()
        self._ready.set()
        await self._stop_requested.wait()
        await engine.stop()
        self._update_manifest()
        self._server.should_exit = True
        try:
            await server_task
        except (OSError, RuntimeError) as error:  # the experiment is stopped and stored either way
            _logger.warning("the web server of experiment %s ended with an error: %s", self.experiment_id, error)
        app.state.workspace.close()
        engine.storage.close()

    # -- status and stop --------------------------------------------------------------------------

    def _on_status(self, status: ExperimentStatus) -> None:
        if status in (ExperimentStatus.DONE, ExperimentStatus.STOPPED, ExperimentStatus.ERROR):
            self.finished.set()
        else:
            self.finished.clear()
        if self._ready.is_set():
            self._update_manifest()

    def _update_manifest(self) -> None:
        engine = self.engine
        assert engine is not None
        update_manifest_entry(
            self.experiment_id, port=self.port, status=engine.status.value, pid=os.getpid(),
            experimentName=self.config.experiment_name or "", platform=",".join(self.config.platforms),
            startTime=engine.start_time_ms, endTime=engine.end_time_ms, logDir=str(self.experiment_dir),
            tag=[], host=self.host, urlPrefix=self.url_prefix, token=self.token)

    async def _request_stop_async(self) -> None:
        assert self._stop_requested is not None
        self._stop_requested.set()

    def request_stop(self) -> None:
        if self.loop is not None and not self.loop.is_closed() and self._stop_requested is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._stop_requested.set)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the experiment, kill its trials and the server, and wait for all of it."""
        self.request_stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        for handler in self._handlers:
            logging.getLogger("nni").removeHandler(handler)
            handler.close()
        self._handlers = []

    def _release_lock(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Block until the experiment is DONE, STOPPED or in ERROR (or the manager ended)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self.finished.is_set() or self.done.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.finished.wait(0.5)
        return True

    def call(self, coro: Any, timeout: float = 60.0) -> Any:
        """Run a coroutine on the manager's loop from another thread and return its result."""
        if self.loop is None or self.loop.is_closed():
            raise RuntimeError("the experiment is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

