"""nnictl's query and control commands: update, trial, experiment, log, webui, config, algo, top."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ...analysis.compare import flag_cell
from ...config import ExperimentConfig, parse_duration
from ...engine.handle import setting_named
from ...engine.warm_start import read_result_file
from ...experiment.detach import manager_alive, stop_experiment
from ...metrics import metric_default
from ...objectives import ObjectiveSpec
from ...search_space import validate_search_space
from ...storage.manifest import read_manifest, remove_manifest_entry
from ...storage.nni30 import trial_file_location
from .common import (
    console,
    effective_status,
    entry_of,
    experiment_dir,
    fail,
    print_json,
    resolve_id,
    rest_call,
    running_ids,
    table,
)
from .data import export_rows, metrics_json, profile_json, status_json, trials_json

__all__ = ["update", "trial_ls", "trial_kill", "experiment_show", "experiment_status", "experiment_list",
           "experiment_delete", "experiment_import", "experiment_export", "log", "webui_url", "config_show",
           "top"]


def _time(ms: Any) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%m-%d %H:%M:%S") if ms else ""


def _final(trial: dict[str, Any]) -> Any:
    finals = trial.get("finalMetricData") or []
    return finals[0]["data"] if finals else None


# -- update -----------------------------------------------------------------------------------------

def update(args: argparse.Namespace) -> int:
    experiment_id = resolve_id(args.id)
    if args.target == "searchspace":
        path = Path(args.filename).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
            space = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            validate_search_space(space)
        except OSError as error:
            fail(f"{path}: cannot read: {error.strerror}")
        except (ValueError, yaml.YAMLError) as error:
            fail(f"{path}: {error}")
        _put_setting(experiment_id, "searchSpace", space)
        console.print(f"Search space of {experiment_id} updated from {path}.")
        return 0
    key = {"concurrency": "trialConcurrency", "duration": "maxExperimentDuration",
           "trialnum": "maxTrialNumber"}[args.target]
    value: Any = args.value
    if args.target == "duration":
        try:
            parse_duration(value)
        except ValueError as error:
            fail(f"--value: {error}")
    else:
        try:
            value = int(value)
        except ValueError:
            fail(f"--value: must be a positive integer, got {value!r}")
        if value <= 0:
            fail(f"--value: must be a positive integer, got {value}")
    _put_setting(experiment_id, key, value)
    console.print(f"{key} of {experiment_id} set to {value}.")
    return 0


def _put_setting(experiment_id: str, field: str, value: Any) -> None:
    """Change one setting of :data:`~nni.engine.handle.UPDATABLE` through the manager's REST API."""
    update_type = setting_named(field).update_type
    rest_call(experiment_id, "PUT", f"/experiment?update_type={update_type}", {"params": {field: value}})


# -- trial ------------------------------------------------------------------------------------------

def _optimize_mode(experiment_id: str) -> str:
    params = profile_json(experiment_id).get("params", {})
    algorithm = params.get("tuner") or params.get("advisor") or {}
    mode = (algorithm.get("classArgs") or {}).get("optimize_mode", "maximize")
    return "minimize" if str(mode).lower() == "minimize" else "maximize"


def _objective_spec(experiment_id: str) -> ObjectiveSpec | None:
    config = ExperimentConfig.model_validate(profile_json(experiment_id).get("params", {}))
    return config.objective_spec(_optimize_mode(experiment_id))


def _ranked(trials: list[dict[str, Any]], experiment_id: str) -> list[dict[str, Any]]:
    """Trials with a usable final result, best first: by ``default`` in the optimize mode, or under
    objectives the feasible ones by their losses in order (the first objective decides, as for the
    best trial)."""
    spec = _objective_spec(experiment_id)
    if spec is not None:
        losses: dict[str, tuple[float, ...]] = {}
        for trial in trials:
            evaluation = spec.evaluate(_final(trial))
            if evaluation.feasible and evaluation.losses is not None:
                losses[trial["trialJobId"]] = evaluation.losses
        return sorted((t for t in trials if t["trialJobId"] in losses), key=lambda t: losses[t["trialJobId"]])
    scored = [t for t in trials if metric_default(_final(t)) is not None]
    best_first = _optimize_mode(experiment_id) == "maximize"
    scored.sort(key=lambda t: metric_default(_final(t)), reverse=best_first)  # type: ignore[arg-type,return-value]
    return scored


def trial_ls(args: argparse.Namespace) -> int:
    experiment_id = resolve_id(args.id, need_running=False)
    trials = trials_json(experiment_id)
    if args.pareto:
        if _objective_spec(experiment_id) is None:
            fail(f"--pareto: experiment {experiment_id} has no objectives or constraints in its config, so no "
                 "Pareto front (--head 1 shows its best trial)")
        front = {row["trialJobId"] for row in export_rows(experiment_id) if row.get("pareto")}
        trials = [t for t in trials if t["trialJobId"] in front]
    if args.head or args.tail:
        scored = _ranked(trials, experiment_id)
        trials = scored[:args.head] if args.head else list(reversed(scored))[:args.tail]
    if args.json:
        print_json(trials)
        return 0
    rows = [[t["trialJobId"], t["sequenceId"], t["status"], _time(t.get("startTime")), _time(t.get("endTime")),
             json.dumps(t["hyperParameters"][0].get("parameters")), _final(t), t.get("message") or ""]
            for t in sorted(trials, key=lambda t: t["sequenceId"])]
    table(f"Trials of {experiment_id}", ["trial", "#", "status", "start", "end", "parameters", "final", "message"],
          rows)
    return 0


def trial_kill(args: argparse.Namespace) -> int:
    experiment_id = resolve_id(args.id)
    rest_call(experiment_id, "DELETE", f"/trial-jobs/{args.trial_id}")
    console.print(f"Trial {args.trial_id} of {experiment_id} is being killed.")
    return 0


# -- experiment -------------------------------------------------------------------------------------

def experiment_show(args: argparse.Namespace) -> int:
    print_json(profile_json(resolve_id(args.id, need_running=False)))
    return 0


def experiment_status(args: argparse.Namespace) -> int:
    experiment_id = resolve_id(args.id, need_running=False)
    status = status_json(experiment_id)
    if not manager_alive(experiment_id):
        status["manager"] = effective_status(entry_of(experiment_id))
    print_json(status)
    return 0


def experiment_list(args: argparse.Namespace) -> int:
    rows = []
    for experiment_id, entry in sorted(read_manifest().items(), key=lambda kv: kv[1].get("startTime") or 0):
        status = effective_status(entry)
        if not args.all and not manager_alive(experiment_id, entry):
            continue
        rows.append([experiment_id, entry.get("experimentName") or "", status, entry.get("port"),
                     entry.get("platform") or "", _time(entry.get("startTime")), _time(entry.get("endTime"))])
    if args.json:
        print_json([dict(zip(["id", "name", "status", "port", "platform", "startTime", "endTime"], r, strict=True))
                    for r in rows])
        return 0
    if not rows:
        console.print("No experiment is running." + ("" if args.all else " (nnictl experiment list --all shows all)"))
        return 0
    table("Experiments", ["id", "name", "status", "port", "platform", "start", "end"], rows)
    return 0


def experiment_delete(args: argparse.Namespace) -> int:
    manifest = read_manifest()
    if args.all:
        ids = list(manifest)
    elif args.id:
        entry_of(args.id)
        ids = [args.id]
    else:
        fail("give the id of the experiment to delete, or --all")
    if args.all and not args.yes and sys.stdin.isatty():
        answer = input(f"Delete {len(ids)} experiment(s) and all their files? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            console.print("Nothing deleted.")
            return 0
    for experiment_id in ids:
        if manager_alive(experiment_id):
            if not args.all:
                fail(f"experiment {experiment_id} is running; stop it first: nnictl stop {experiment_id}")
            stop_experiment(experiment_id)
        directory = experiment_dir(experiment_id)
        if directory.is_dir():
            shutil.rmtree(directory)
        remove_manifest_entry(experiment_id)
        console.print(f"Experiment {experiment_id} deleted ({directory}).")
    return 0


def _read_import(path: Path) -> list[dict[str, Any]]:
    try:
        return read_result_file(path)
    except ValueError as error:
        fail(str(error))


def experiment_import(args: argparse.Namespace) -> int:
    experiment_id = resolve_id(args.id)
    data = _read_import(Path(args.filename).expanduser())
    rest_call(experiment_id, "POST", "/experiment/import-data", data)
    console.print(f"Imported {len(data)} result(s) into {experiment_id}.")
    return 0


def experiment_export(args: argparse.Namespace) -> int:
    experiment_id = resolve_id(args.id, need_running=False)
    rows = export_rows(experiment_id)
    intermediate: dict[str, list[Any]] = {}
    if args.intermediate:
        for metric in metrics_json(experiment_id):
            if metric["type"] == "PERIODICAL":
                intermediate.setdefault(metric["trialJobId"], []).append(metric["data"])
    path = Path(args.filename).expanduser()
    # under objectives every row says whether it is feasible and on the front; otherwise NNI's columns only
    flags = ["feasible", "pareto"] if any("pareto" in r for r in rows) else []
    if args.type == "json":
        out = [{"parameter": r["parameter"], "value": r["value"], "trialJobId": r["trialJobId"],
                **{flag: r[flag] for flag in flags},
                **({"intermediate": intermediate.get(r["trialJobId"], [])} if args.intermediate else {})}
               for r in rows]
        path.write_text(json.dumps(out, indent=2), encoding="utf-8")
    else:
        keys: list[str] = []
        for row in rows:
            keys += [k for k in row["parameter"] if k not in keys]
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["trialJobId", *keys, "value", *flags, *(["intermediate"] if args.intermediate else [])])
            for row in rows:
                cells = [json.dumps(row["parameter"].get(k)) if not isinstance(row["parameter"].get(k), str)
                         else row["parameter"][k] for k in keys]
                value = row["value"]
                writer.writerow([row["trialJobId"], *cells, json.dumps(value) if isinstance(value, dict) else value,
                                 *(flag_cell(row[flag]) for flag in flags),
                                 *([json.dumps(intermediate.get(row["trialJobId"], []))] if args.intermediate else [])])
    console.print(f"Exported {len(rows)} trial(s) of {experiment_id} to {path}.")
    return 0


# -- log, webui, config -----------------------------------------------------------------------------

def _print_file(path: Path, head: int | None, tail: int | None) -> None:
    if not path.is_file():
        fail(f"no log file {path}")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if head:
        lines = lines[:head]
    elif tail:
        lines = lines[-tail:]
    sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))


def log(args: argparse.Namespace) -> int:
    experiment_id = resolve_id(args.id, need_running=False)
    log_dir = experiment_dir(experiment_id) / "log"
    if args.target in ("stdout", "stderr"):
        path = log_dir / ("nnimanager.log" if args.target == "stdout" else "manager-output.log")
        if args.path:
            console.print(str(path), soft_wrap=True)
        else:
            _print_file(path, args.head, args.tail)
    else:
        trials = trials_json(experiment_id)
        if args.trial_id:
            if not any(t["trialJobId"] == args.trial_id for t in trials):
                fail(f"experiment {experiment_id} has no trial {args.trial_id!r}")
            folder = experiment_dir(experiment_id)
            path = Path(folder, *trial_file_location(folder, args.trial_id, "stderr" if args.stderr else "stdout"))
            if args.path:
                console.print(f"id:{args.trial_id} path:{path}", soft_wrap=True)
            else:
                _print_file(path, args.head, args.tail)
        else:
            table(f"Trial logs of {experiment_id}", ["trial", "status", "log path"],
                  [[t["trialJobId"], t["status"], t.get("logPath") or ""] for t in trials])
    return 0


def webui_url(args: argparse.Namespace) -> int:
    experiment_id = resolve_id(args.id)
    entry = entry_of(experiment_id)
    host = entry.get("host") or "127.0.0.1"
    shown = "localhost" if host in ("127.0.0.1", "localhost", "::1") else host
    prefix = "/" + entry["urlPrefix"].strip("/") if (entry.get("urlPrefix") or "").strip("/") else ""
    token = f"?token={entry['token']}" if entry.get("token") else ""
    console.print(f"Web portal URLs: http://{shown}:{entry.get('port')}{prefix}/{token}")
    return 0


def config_show(args: argparse.Namespace) -> int:
    experiment_id = resolve_id(args.id, need_running=False)
    params = profile_json(experiment_id).get("params", {})
    sys.stdout.write(yaml.safe_dump(params, sort_keys=False))
    return 0


# -- top --------------------------------------------------------------------------------------------

def _top_view(experiment_id: str) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    status = status_json(experiment_id)
    trials = trials_json(experiment_id)
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial["status"]] = counts.get(trial["status"], 0) + 1
    head = Text(f"{experiment_id}  {status['status']}  {len(trials)} trials  "
                + "  ".join(f"{k}: {v}" for k, v in sorted(counts.items())), style="bold")
    view = Table(header_style="bold")
    for column in ("trial", "#", "status", "duration", "final", "parameters"):
        view.add_column(column, overflow="ellipsis", no_wrap=True)
    now = time.time() * 1000
    for trial in sorted(trials, key=lambda t: t["sequenceId"], reverse=True)[:40]:
        start, end = trial.get("startTime"), trial.get("endTime")
        duration = f"{((end or now) - start) / 1000:.1f}s" if start else ""
        view.add_row(trial["trialJobId"], str(trial["sequenceId"]), trial["status"], duration,
                     "" if _final(trial) is None else str(_final(trial)),
                     json.dumps(trial["hyperParameters"][0].get("parameters")))
    return Group(head, view)


def _top_all(experiment_ids: list[str]) -> Any:
    from rich.console import Group
    from rich.text import Text

    if not experiment_ids:
        return Text("There is no experiment running...")
    return Group(*(_top_view(i) for i in experiment_ids))


def top(args: argparse.Namespace) -> int:
    """NNI's monitor: every running experiment (or the one given) and its trials, refreshed every --time s."""
    from rich.live import Live

    if args.time <= 0:
        fail(f"--time: must be a positive number of seconds, got {args.time}")
    if args.id:
        resolve_id(args.id, need_running=False)

    def shown() -> Any:
        return _top_all([args.id] if args.id else sorted(running_ids()))

    if args.once or not sys.stdout.isatty():
        console.print(shown())
        return 0
    try:
        with Live(shown(), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(args.time)
                live.update(shown())
    except KeyboardInterrupt:
        return 0
