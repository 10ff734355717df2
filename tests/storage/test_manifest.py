"""The experiments manifest: merged entries, removal, owner-only files, concurrent writers."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from nni.storage.manifest import manifest_path, read_manifest, remove_manifest_entry, update_manifest_entry


def test_entries_are_created_merged_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "nni-experiments" / ".experiment"
    assert read_manifest(path) == {}
    assert update_manifest_entry("e1", path, port=8080, status="RUNNING") == {"id": "e1", "port": 8080,
                                                                               "status": "RUNNING"}
    update_manifest_entry("e1", path, status="DONE")
    update_manifest_entry("e2", path, port=8081)
    assert read_manifest(path) == {"e1": {"id": "e1", "port": 8080, "status": "DONE"},
                                   "e2": {"id": "e2", "port": 8081}}
    remove_manifest_entry("e1", path)
    remove_manifest_entry("gone", path)
    assert list(read_manifest(path)) == ["e2"]


def test_the_manifest_and_its_folder_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "nni-experiments" / ".experiment"
    update_manifest_entry("e1", path, token="secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_default_manifest_lives_under_home(isolated_home: Path) -> None:
    assert manifest_path() == isolated_home / "nni-experiments" / ".experiment"
    update_manifest_entry("e1", status="RUNNING")
    assert read_manifest() == {"e1": {"id": "e1", "status": "RUNNING"}}


def test_an_unreadable_manifest_reads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / ".experiment"
    for text in ("{torn", "[1, 2]"):
        path.write_text(text)
        assert read_manifest(path) == {}


def test_an_update_keeps_an_unreadable_manifest_aside(tmp_path: Path) -> None:
    path = tmp_path / ".experiment"
    path.write_text('{"e1": {"id": "e1", "port": 80')  # torn by hand: its entries must survive the rewrite
    update_manifest_entry("e2", path, port=8081)
    assert read_manifest(path) == {"e2": {"id": "e2", "port": 8081}}
    kept = list(tmp_path.glob(".experiment.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_text() == '{"e1": {"id": "e1", "port": 80'


def test_concurrent_writers_lose_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "nni-experiments" / ".experiment"

    def write(worker: int) -> None:
        for index in range(10):
            update_manifest_entry(f"e{worker}-{index}", path, status="RUNNING")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(read_manifest(path)) == 60
