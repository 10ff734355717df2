"""``nnictl``: NNI's command line. Exit status 0 on success, 1 on an error, 2 on a usage mistake."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ... import __version__
from ...errors import ConfigError, ExperimentInUseError, StorageError
from ...experiment.launcher import check_port
from . import algo, archive, commands, launch, platform, trials, workspace
from .common import CliError, err_console

__all__ = ["main", "build_parser"]


def _id(parser: argparse.ArgumentParser, required: bool = False) -> None:
    if required:
        parser.add_argument("id", help="experiment id")
    else:
        parser.add_argument("id", nargs="?", help="experiment id (optional when exactly one experiment runs)")


def _sub(subparsers: argparse._SubParsersAction, name: str, handler: Callable[[argparse.Namespace], int],  # type: ignore[type-arg]
         help_text: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def _group(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=lambda _args, p=parser: (p.print_help(), 2)[1])
    return parser.add_subparsers(title="commands", metavar="COMMAND")


def _port(text: str) -> int:
    """An argparse type: a TCP port number, 0 for any free port."""
    try:
        return check_port(int(text))
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 65535 (0: any free port), got {text!r}") \
            from None


def _head_tail(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--head", type=int, help="only the first N")
    parser.add_argument("--tail", type=int, help="only the last N")


def _host(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (127.0.0.1; off loopback every request needs the token)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnictl", description="Manage NNI experiments from the shell.")
    parser.add_argument("--version", "-v", action="version", version=__version__)

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=usage)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = _sub(sub, "create", launch.create, "create an experiment from a YAML config and start it")
    p.add_argument("--config", "-c", required=True, help="the experiment's YAML config (v2, or legacy v1)")
    p.add_argument("--port", "-p", type=_port, default=8080, help="port of the web portal and REST API (8080; 0: any free port)")
    p.add_argument("--debug", "-d", action="store_true", help="log at debug level")
    p.add_argument("--url_prefix", "-u", help="serve under this path prefix")
    p.add_argument("--foreground", "-f", action="store_true", help="run in this shell, logging to the console")
    p.add_argument("--id", help="use this experiment id instead of a random one")
    p.add_argument("--warm-start", dest="warm_start", action="append", metavar="ID_OR_FILE",
                   help="learn from an earlier experiment's results (or an exported file) first; repeat for more")
    _host(p)

    for name, handler, text in (("resume", launch.resume, "resume a stopped or crashed experiment"),
                                ("view", workspace.view, "open a stopped experiment read-only (--all: every one)")):
        p = _sub(sub, name, handler, text)
        if name == "resume":
            _id(p, required=True)
        else:
            p.add_argument("id", nargs="?", help="experiment id (none with --all)")
        p.add_argument("--port", "-p", type=_port, default=8080, help="port of the web portal and REST API (8080; 0: any free port)")
        p.add_argument("--experiment_dir", "-e", help="the folder holding the experiment's folder, "
                                                      "when it is not in ~/nni-experiments/.experiment")
        p.add_argument("--debug", "-d", action="store_true", help="log at debug level")
        _host(p)
        if name == "resume":
            p.add_argument("--foreground", "-f", action="store_true", help="run in this shell")
        else:
            p.add_argument("--all", "-a", action="store_true",
                           help="serve every experiment of the experiments folder on one port, in this shell")

    p = _sub(sub, "stop", launch.stop, "stop an experiment (its manager and every trial)")
    _id(p)
    p.add_argument("--port", "-p", type=_port, help="stop the experiment on this port")
    p.add_argument("--all", "-a", action="store_true", help="stop every experiment")

    group = _group(sub, "update", "change a running experiment")
    p = _sub(group, "searchspace", commands.update, "replace the search space")
    _id(p)
    p.add_argument("--filename", "-f", required=True, help="JSON or YAML search space file")
    p.set_defaults(target="searchspace")
    for name, text, example in (("concurrency", "set trialConcurrency", "4"),
                                ("duration", "set maxExperimentDuration", "2h"),
                                ("trialnum", "set maxTrialNumber", "100")):
        p = _sub(group, name, commands.update, text)
        _id(p)
        p.add_argument("--value", "-v", required=True, help=f"the new value, e.g. {example}")
        p.set_defaults(target=name)

    group = _group(sub, "trial", "list, kill, rerun or enqueue trials")
    p = _sub(group, "ls", commands.trial_ls, "list the trials (best first with --head/--tail)")
    _id(p)
    _head_tail(p)
    p.add_argument("--pareto", action="store_true",
                   help="only the trials on the Pareto front (experiments with objectives or constraints)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = _sub(group, "kill", commands.trial_kill, "kill one trial")
    _id(p)
    p.add_argument("--trial_id", "-T", required=True, help="id of the trial to kill")
    p = _sub(group, "rerun", trials.trial_rerun, "run finished trials again with their parameters (the tuner gets the results)")
    _id(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--failed", action="store_true", help="every failed trial whose parameters never succeeded")
    which.add_argument("--trial_id", "-T", action="append", help="a trial to run again (repeat for more)")
    p = _sub(group, "enqueue", trials.trial_enqueue, "run a trial with these parameters next, exactly once")
    _id(p)
    p.add_argument("--params", "-p", required=True, help='the parameters as a JSON object, e.g. \'{"lr": 0.1}\'')

    group = _group(sub, "experiment", "show, list, delete, import and export experiments")
    p = _sub(group, "show", commands.experiment_show, "print the experiment's profile")
    _id(p)
    p = _sub(group, "status", commands.experiment_status, "print the experiment's status")
    _id(p)
    p = _sub(group, "list", commands.experiment_list, "list running experiments (--all: every one)")
    p.add_argument("--all", "-a", action="store_true", help="include stopped experiments")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = _sub(group, "delete", commands.experiment_delete, "delete a stopped experiment and its files")
    _id(p)
    p.add_argument("--all", "-a", action="store_true", help="delete every experiment")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p = _sub(group, "import", commands.experiment_import, "give a running experiment's tuner earlier results")
    _id(p)
    p.add_argument("--filename", "-f", required=True, help="JSON list of {parameter, value} (or an exported CSV)")
    p = _sub(group, "export", workspace.export, "write the results of the succeeded trials (of several: one file)")
    p.add_argument("ids", nargs="*", help="experiment id(s); several go to one file with an experimentId column")
    p.add_argument("--all", "-a", action="store_true", help="export every experiment of the experiments folder")
    p.add_argument("--type", "-t", required=True, choices=["json", "csv"], help="file format")
    p.add_argument("--filename", "-f", required=True, help="file to write")
    p.add_argument("--intermediate", "-i", action="store_true", help="include intermediate results")

    p = _sub(group, "save", archive.experiment_save, "pack a stopped experiment into nni_experiment_<id>.zip")
    _id(p)
    p.add_argument("--path", "-p", help="folder to write the archive in (default: the current folder)")
    p.add_argument("--saveCodeDir", "-s", action="store_true", help="put the trial code folder in the archive too")
    p = _sub(group, "load", archive.experiment_load, "unpack an archive made by experiment save")
    p.add_argument("--path", "-p", required=True, help="the archive (nni_experiment_<id>.zip)")
    p.add_argument("--codeDir", "-c", required=True, help="folder for the trial code (the archive's is unpacked here)")
    p.add_argument("--logDir", "-l", help="folder to put the experiment's folder in (default: ~/nni-experiments)")
    p.add_argument("--searchSpacePath", "-s", help="file for the saved search space "
                                                  "(default: <codeDir>/search_space.json)")

    group = _group(sub, "platform", "the machines of a training platform")
    p = _sub(group, "clean", platform.platform_clean, "remove the folders experiments left on the platform's machines")
    p.add_argument("--config", "-c", required=True, help="the experiment config naming the platform and machines")

    group = _group(sub, "log", "print the experiment's logs")
    for name, text in (("stdout", "the manager's log"), ("stderr", "the manager's own output (errors)"),
                       ("trial", "a trial's output, or every trial's log path")):
        p = _sub(group, name, commands.log, f"print {text}")
        _id(p)
        p.add_argument("--head", *([] if name == "trial" else ["-H"]), type=int, help="only the first N lines")
        p.add_argument("--tail", *([] if name == "trial" else ["-T"]), type=int, help="only the last N lines")
        p.add_argument("--path", action="store_true", help="print the log file's path instead of its lines")
        p.set_defaults(target=name)
        if name == "trial":
            p.add_argument("--trial_id", "-T", help="the trial whose output to print")
            p.add_argument("--stderr", action="store_true", help="print the trial's stderr instead of stdout")

    group = _group(sub, "webui", "the web portal")
    p = _sub(group, "url", commands.webui_url, "print the web portal's URL")
    _id(p)

    group = _group(sub, "config", "the experiment's config")
    p = _sub(group, "show", commands.config_show, "print the config as YAML")
    _id(p)

    group = _group(sub, "algo", "built-in and registered algorithms")
    _sub(group, "list", algo.algo_list, "list the built-in and registered tuners and assessors")
    p = _sub(group, "show", algo.algo_show, "show one algorithm and its classArgs")
    p.add_argument("name", help="algorithm name, e.g. TPE")
    p = _sub(group, "register", algo.algo_register, "register a custom tuner or assessor by its meta file")
    p.add_argument("--meta_path", "-m", required=True,
                   help="YAML meta file: algoType, builtinName, className, classArgsValidator")
    p = _sub(group, "unregister", algo.algo_unregister, "remove a registered algorithm")
    p.add_argument("name", help="the registered builtinName")

    p = _sub(sub, "top", commands.top, "a live table of every running experiment and its trials (Ctrl-C quits)")
    p.add_argument("id", nargs="?", help="show only this experiment")
    p.add_argument("--time", "-t", type=float, default=3.0, help="seconds between refreshes (3)")
    p.add_argument("--once", action="store_true", help="print the table once and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except (CliError, StorageError, ExperimentInUseError) as error:
        err_console.print(f"Error: {error}", markup=False)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
