"""``nnictl experiment save`` / ``experiment load``: an experiment as one zip file, NNI's layout.

The archive ``nni_experiment_<id>.zip`` holds ``experiment/`` (the experiment folder: database,
logs, trial folders), ``nnictl/.experiment`` (its manifest entry, without the access token) and
``nnictl/<id>/log``, and optionally ``code/`` (the trial code) and ``searchSpace/<file>``.
Loading puts the folder back, points the stored config at the new code folder and adds the
manifest entry, so ``nnictl view`` / ``resume`` / ``experiment export`` work on it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ...experiment.detach import manager_alive
from ...storage.manifest import read_manifest, update_manifest_entry
from ...storage.sqlite import SqliteStorage, database_dir
from .common import console, entry_of, experiment_dir, fail

__all__ = ["experiment_save", "experiment_load"]

_PRIVATE = ("token", "pid", "nonce")
"""Manifest fields that belong to one running manager, never to an archive."""


def _stored_config(directory: Path) -> dict[str, Any]:
    storage = SqliteStorage(database_dir(directory), read_only=True)
    try:
        profile = storage.load_profile() or {}
    finally:
        storage.close()
    config = profile.get("config")
    return config if isinstance(config, dict) else {}


def experiment_save(args: argparse.Namespace) -> int:
    if not args.id:
        fail("give the id of the experiment to save (see: nnictl experiment list --all)")
    entry = entry_of(args.id)
    if manager_alive(args.id):
        fail(f"experiment {args.id} is running; only a stopped experiment can be saved: nnictl stop {args.id}")
    directory = experiment_dir(args.id)
    if not database_dir(directory).is_dir():
        fail(f"experiment {args.id}: its folder {directory} has no database to save")
    config = _stored_config(directory)
    target = Path(args.path or ".").expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    archive = target / f"nni_experiment_{args.id}.zip"
    with tempfile.TemporaryDirectory(prefix="nni-save-") as temp:
        root = Path(temp)
        shutil.copytree(directory, root / "experiment", ignore=shutil.ignore_patterns("*.lock"))
        (root / "nnictl").mkdir()
        saved = {k: v for k, v in entry.items() if k not in _PRIVATE} | {"id": args.id}
        (root / "nnictl" / ".experiment").write_text(json.dumps(saved), encoding="utf-8")
        log_dir = root / "nnictl" / args.id / "log"
        if (directory / "log").is_dir():
            shutil.copytree(directory / "log", log_dir)
        else:
            log_dir.mkdir(parents=True)
        if args.saveCodeDir:
            code = Path(str(config.get("trialCodeDirectory") or "")).expanduser()
            if not code.is_dir():
                fail(f"experiment {args.id}: its trial code folder {code} does not exist; save without --saveCodeDir")
            shutil.copytree(code, root / "code")
        space_file = config.get("searchSpaceFile")
        if space_file and Path(space_file).is_file():
            (root / "searchSpace").mkdir()
            shutil.copyfile(space_file, root / "searchSpace" / Path(space_file).name)
        elif space_file:
            console.print(f"Warning: search space file {space_file} does not exist; saved without it.")
        made = shutil.make_archive(str(archive.with_suffix("")), "zip", root)
    console.print(f"Saved experiment {args.id} to {made}")
    return 0


def _read_archive(path: Path, into: Path) -> tuple[dict[str, Any], Path]:
    """Unpack ``path`` into ``into`` and return its manifest entry and experiment folder."""
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.startswith("/") or ".." in Path(name).parts:
                    fail(f"{path}: refusing an archive entry outside the archive's folder: {name}")
            archive.extractall(into)
    except (zipfile.BadZipFile, OSError) as error:
        fail(f"{path}: not an experiment archive made by nnictl experiment save: {error}")
    experiment = into / "experiment"
    if not database_dir(experiment).is_dir():
        fail(f"{path}: invalid archive: it holds no experiment database (experiment/db)")
    try:
        entry = json.loads((into / "nnictl" / ".experiment").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        fail(f"{path}: invalid archive: no readable nnictl metadata (nnictl/.experiment): {error}")
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
        fail(f"{path}: invalid archive: nnictl/.experiment names no experiment id")
    return entry, experiment


def _copy_code(source: Path, code_dir: Path) -> None:
    for item in sorted(source.iterdir()):
        target = code_dir / item.name
        if target.exists():
            console.print(f"Warning: {target} exists; kept it, the archive's copy was not unpacked.")
        elif item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy2(item, target)


def _repoint(config: dict[str, Any], code_dir: Path, space_file: Path | None, working_dir: Path) -> dict[str, Any]:
    """The stored config moved to its new place: code folder, search space file, working folder."""
    old_code = config.get("trialCodeDirectory")
    config["trialCodeDirectory"] = str(code_dir)
    services = config.get("trainingService")
    for service in services if isinstance(services, list) else [services]:
        if isinstance(service, dict) and service.get("trialCodeDirectory") in (None, old_code):
            service["trialCodeDirectory"] = str(code_dir)
    if space_file is not None:
        config["searchSpaceFile"] = str(space_file)
    config["experimentWorkingDirectory"] = str(working_dir)
    return config


def experiment_load(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    if not path.is_file():
        fail(f"{path}: no such archive")
    if args.searchSpacePath and Path(args.searchSpacePath).expanduser().is_dir():
        fail(f"--searchSpacePath {args.searchSpacePath}: give a file path, not a folder")
    code_dir = Path(args.codeDir).expanduser().resolve()
    if not code_dir.is_dir():
        fail(f"--codeDir {args.codeDir}: no such folder")
    working_dir = Path(args.logDir or "~/nni-experiments").expanduser().resolve()
    if args.logDir and not working_dir.is_dir():
        fail(f"--logDir {args.logDir}: no such folder")
    with tempfile.TemporaryDirectory(prefix="nni-load-") as temp:
        entry, experiment = _read_archive(path, Path(temp))
        experiment_id = entry["id"]
        if experiment_id in read_manifest():
            fail(f"experiment {experiment_id} already exists here; delete it first "
                 f"(nnictl experiment delete {experiment_id}) to load the archive")
        target = working_dir / experiment_id
        if target.exists():
            fail(f"{target} already exists; remove it or load into another folder with --logDir")
        space_file: Path | None = None
        spaces = sorted((Path(temp) / "searchSpace").glob("*")) if (Path(temp) / "searchSpace").is_dir() else []
        if spaces:
            space_file = Path(args.searchSpacePath or code_dir / "search_space.json").expanduser().resolve()
            if space_file.exists():
                fail(f"{space_file} already exists; give another --searchSpacePath")
        working_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(experiment, target)
        if (Path(temp) / "code").is_dir():
            _copy_code(Path(temp) / "code", code_dir)
        if spaces and space_file is not None:
            space_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(spaces[0], space_file)
    storage = SqliteStorage(database_dir(target))
    try:
        profile = storage.load_profile() or {}
        if isinstance(profile.get("config"), dict):
            profile["config"] = _repoint(profile["config"], code_dir, space_file, working_dir)
            storage.save_profile(profile)
    finally:
        storage.close()
    fields = {k: v for k, v in entry.items() if k not in (*_PRIVATE, "id")}
    update_manifest_entry(experiment_id, **{**fields, "logDir": str(target)})
    console.print(f"Loaded experiment {experiment_id} into {target} (code in {code_dir}).")
    console.print(f"Open it with: nnictl view {experiment_id}   or continue it with: nnictl resume {experiment_id}")
    return 0
