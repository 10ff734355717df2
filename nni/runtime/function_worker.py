"""Runs a Python function as a trial: once as a plain command, or as a fork server for a pool.

A function trial's command is ``python3 -m nni.runtime.function_worker REF`` (:func:`function_command`),
where ``REF`` is ``module:qualname`` or ``path/to/file.py:qualname`` (relative to the trial's code
folder). Every training service can run that command like any other: it calls the function with the
trial's parameters and reports its return value as the final result unless the function reported one
itself. The local service recognises the command (:func:`function_of`) and instead asks a pool
(:mod:`nni.training_service.function_pool`) to fork the trial from a warm server process started with
``--serve REF``, which has imported nni and the function's module once: each trial is still its own
process (own session, own stdout/stderr files), but starting one costs a fork, not an interpreter.

The server reads one JSON request a line on stdin, ``{"run": {"trial_id", "trial_dir", "env", "unset"}}``
(the variables to set and to remove, from the server's own environment), and
writes one JSON object a line on stdout: ``{"started": id, "pid": n}`` after the fork and
``{"exited": id, "code": c}`` once the child ended (negative for a signal), having left the exit status
in the trial's ``.nni/exitcode`` as the shell wrapper of a command trial would. End of stdin ends the
server; trials still running carry on in their own sessions, as command trials do.

Standard library only, and nothing heavy imported before the function's own module: this runs on
every machine that runs trials.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import selectors
import shlex
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["function_command", "function_of", "parse_reference", "resolve", "run_trial", "main"]

_MODULE = "nni.runtime.function_worker"
_MAIN_MODULE = "__nni_function_main__"
"""The name a function's file is imported under: not ``__main__``, so its ``if __name__ == '__main__'``
block (which usually starts the experiment) does not run again in the trial."""


def function_command(reference: str) -> str:
    """The trial command that runs the function ``reference`` (see the module's docstring)."""
    return f"python3 -m {_MODULE} {shlex.quote(reference)}"


def function_of(command: str | None) -> str | None:
    """The function reference of a command made by :func:`function_command`; None for any other."""
    if not command or _MODULE not in command:
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if len(words) == 4 and words[1:3] == ["-m", _MODULE] and os.path.basename(words[0]).startswith("python"):
        return words[3]
    return None


def parse_reference(reference: str) -> tuple[str, str]:
    """``(module or file, qualname)`` of ``module:qualname``; ValueError saying what is wrong."""
    where, sep, name = reference.rpartition(":")
    if not sep or not where or not name:
        raise ValueError(f"must be 'module:function' or 'file.py:function', got {reference!r}")
    if not all(part.isidentifier() for part in name.split(".")):
        raise ValueError(f"{name!r} is not a Python name (in {reference!r})")
    if not where.endswith(".py") and not all(part.isidentifier() for part in where.split(".")):
        raise ValueError(f"{where!r} is neither a module name nor a .py file (in {reference!r})")
    return where, name


def resolve(reference: str, code_dir: str) -> Callable[..., Any]:
    """Import the function ``reference`` names, with ``code_dir`` first on the module path."""
    where, name = parse_reference(reference)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    if where.endswith(".py"):
        path = os.path.join(code_dir, where)
        module = sys.modules.get(_MAIN_MODULE)
        if module is None or getattr(module, "__file__", None) != path:
            spec = importlib.util.spec_from_file_location(_MAIN_MODULE, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[_MAIN_MODULE] = module
            spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    target: Any = module
    for part in name.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{reference} is a {type(target).__name__}, not a function")
    return target


def run_trial(reference: str, code_dir: str, function: Callable[..., Any] | None = None) -> int:
    """Call the function with this trial's parameters and report its result; the exit status.

    The trial's context (``NNI_*`` variables, parameter file) is read afresh, as a new process would.
    """
    import nni
    from nni import trial

    trial._context = None
    try:
        if function is None:
            function = resolve(reference, code_dir)
        result = function(nni.get_next_parameter())
        context = trial._ctx()
        if result is not None and not _reported_final(context):
            nni.report_final_result(result)
    except BaseException:  # noqa: BLE001 - whatever the function raises fails the trial, shown in its stderr
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def _reported_final(context: Any) -> bool:
    """Whether the function called report_final_result itself (its metrics file has a FINAL line)."""
    from nni.runtime import protocol

    path = os.path.join(context.sys_dir, protocol.METRICS_FILE)
    if context._metrics_file is not None:
        context._metrics_file.flush()
    try:
        with open(path, encoding="utf-8") as f:
            return any(json.loads(line).get("type") == "FINAL" for line in f if line.strip())
    except (OSError, ValueError):
        return False


def _write_exit_code(trial_dir: str, code: int) -> None:
    from nni.runtime import protocol

    try:
        with open(os.path.join(trial_dir, protocol.EXIT_CODE_FILE), "w", encoding="utf-8") as f:
            f.write(f"{code}\n")
    except OSError:
        pass  # the folder went away; the pool still reports the status


def _child(request: dict[str, Any], reference: str, code_dir: str, function: Callable[..., Any] | None,
           closing: list[int]) -> None:
    """In the forked child: become the trial (session, environment, files), run it, exit."""
    try:
        os.setsid()
        for fd in closing:
            os.close(fd)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        trial_dir = request["trial_dir"]
        os.environ.update(request["env"])
        for name in request.get("unset", ()):
            os.environ.pop(name, None)
        os.chdir(code_dir)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            out = os.open(os.path.join(trial_dir, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(out, fd)
            os.close(out)
        code = run_trial(reference, code_dir, function)
        _write_exit_code(trial_dir, code)
    except BaseException:  # noqa: BLE001 - the child must never return into the server's loop
        traceback.print_exc()
        code = 1
    os._exit(code)


def serve(reference: str, code_dir: str) -> int:
    """The fork server: one child per request until stdin ends (see the module's docstring)."""
    try:
        function: Callable[..., Any] | None = resolve(reference, code_dir)
    except BaseException:  # noqa: BLE001 - each trial imports again and shows the error in its stderr
        function = None
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: _poke(wake_w))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    stdin_fd, stdout = sys.stdin.fileno(), sys.stdout
    children: dict[int, tuple[str, str]] = {}
    selector = selectors.DefaultSelector()
    selector.register(stdin_fd, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    pending = b""
    open_input = True

    def send(message: dict[str, Any]) -> None:
        try:
            stdout.write(json.dumps(message) + "\n")
            stdout.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the pool is gone; children keep running in their own sessions

    while open_input:
        for key, _ in selector.select():
            if key.fd == wake_r:
                os.read(wake_r, 4096)
                continue
            chunk = os.read(stdin_fd, 65536)
            if not chunk:
                open_input = False
                break
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)["run"]
                pid = os.fork()
                if pid == 0:
                    _child(request, reference, code_dir, function, [wake_r, wake_w, stdin_fd])
                children[pid] = (request["trial_id"], request["trial_dir"])
                send({"started": request["trial_id"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            trial_id, trial_dir = children.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            _write_exit_code(trial_dir, code)
            send({"exited": trial_id, "code": code})
    return 0


def _poke(fd: int) -> None:
    try:
        os.write(fd, b"x")
    except BlockingIOError:
        pass  # a wake-up is already pending


def main(argv: list[str] | None = None) -> int:
    """``REF`` runs one trial in this process; ``--serve REF`` is the pool's fork server."""
    args = sys.argv[1:] if argv is None else argv
    code_dir = os.getcwd()
    if len(args) == 2 and args[0] == "--serve":
        return serve(args[1], code_dir)
    if len(args) != 1:
        print(f"usage: python -m {_MODULE} [--serve] module:function", file=sys.stderr)
        return 2
    return run_trial(args[0], code_dir)


if __name__ == "__main__":
    sys.exit(main())
