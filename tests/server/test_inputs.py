"""Request input helpers on real files: path confinement (links included) and bounded JSON parsing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from starlette.exceptions import HTTPException

from nni.server.inputs import MAX_JSON_DEPTH, confined_path, parse_json_text


def test_confined_path_accepts_files_inside(tmp_path: Path):
    (tmp_path / "trials" / "t1").mkdir(parents=True)
    assert confined_path(tmp_path, "trials/t1", "a/b.txt") == (tmp_path / "trials" / "t1" / "a" / "b.txt").resolve()
    assert confined_path(tmp_path, "log", "nnimanager.log") == (tmp_path / "log" / "nnimanager.log").resolve()


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x", "", "a\x00b", ".", "../../../../etc/passwd"])
def test_confined_path_refuses_escapes(tmp_path: Path, name: str):
    (tmp_path / "trials" / "t1").mkdir(parents=True)
    assert confined_path(tmp_path, "trials/t1", name) is None


def test_a_trial_that_replaces_its_folder_with_a_link_gains_nothing(tmp_path: Path):
    (tmp_path / "trials").mkdir()
    os.symlink("/", tmp_path / "trials" / "t1")
    assert confined_path(tmp_path, "trials/t1", "etc/passwd") is None
    inner = tmp_path / "trials" / "t2"
    inner.mkdir()
    os.symlink("/etc/passwd", inner / "passwd")
    assert confined_path(tmp_path, "trials/t2", "passwd") is None


def test_an_experiment_folder_reached_through_a_link_still_works(tmp_path: Path):
    real = tmp_path / "real"
    (real / "trials" / "t1").mkdir(parents=True)
    os.symlink(real, tmp_path / "alias")
    assert confined_path(tmp_path / "alias", "trials/t1", "stdout") == real / "trials" / "t1" / "stdout"


def test_parse_json_text_refuses_what_would_wedge_or_crash():
    assert parse_json_text(b'{"a": [1, 2]}') == {"a": [1, 2]}
    assert parse_json_text('"[[[[["') == "[[[[["  # brackets inside strings do not count
    for bad, word in [(b"{", "not JSON"), (b"\xff\xfe", "UTF-8"), ("[" * 100_000 + "]" * 100_000, "deeper"),
                      ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "deeper")]:
        with pytest.raises(HTTPException) as caught:
            parse_json_text(bad)
        assert caught.value.status_code == 400 and word in caught.value.detail
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json_text(nested) == json.loads(nested)
