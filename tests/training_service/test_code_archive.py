""".nniignore (gitignore syntax) and the code archive shipped to remote machines and Ray nodes."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from nni.training_service._code_archive import IgnoreRules, list_code_files, pack_code
from nni.training_service.base import TrainingServiceError


@pytest.mark.parametrize(("patterns", "path", "is_dir", "ignored"), [
    (["*.pyc"], "a/b/c.pyc", False, True),
    (["*.pyc"], "a/b/c.py", False, False),
    (["data/"], "data", True, True),
    (["data/"], "data", False, False),          # a file named data is not a folder
    (["data/"], "sub/data", True, True),        # no slash inside: matches at any depth
    (["/data"], "sub/data", True, False),       # leading slash: only at the top
    (["sub/data"], "sub/data", True, True),
    (["sub/data"], "x/sub/data", True, False),  # a slash inside anchors it
    (["**/logs"], "a/b/logs", True, True),
    (["a/**/z.txt"], "a/z.txt", False, True),
    (["a/**/z.txt"], "a/b/c/z.txt", False, True),
    (["out/**"], "out/x/y", False, True),
    (["*.bin", "!keep.bin"], "keep.bin", False, False),
    (["*.bin", "!keep.bin"], "drop.bin", False, True),
    (["file?.txt"], "file1.txt", False, True),
    (["file?.txt"], "file12.txt", False, False),
    (["[ab].txt"], "b.txt", False, True),
    (["[!ab].txt"], "b.txt", False, False),
    (["# comment", "", "\\#hash"], "#hash", False, True),
    (["*"], "anything/at/all", False, True),
])
def test_gitignore_semantics(patterns: list[str], path: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules(patterns).ignored(path, is_dir) is ignored


def test_an_ignored_folder_is_not_entered_and_the_archive_holds_the_rest(tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "data" / "keep").mkdir(parents=True)
    (code / "data" / "keep" / "x.txt").write_text("x")
    (code / "src").mkdir()
    (code / "src" / "model.py").write_text("m")
    (code / "main.py").write_text("p")
    (code / "link.py").symlink_to("main.py")
    (code / ".nniignore").write_text("data/\n!data/keep/x.txt\n")
    folders, files = list_code_files(code)
    assert folders == ["src"]
    assert files == [".nniignore", "link.py", "main.py", "src/model.py"]
    digest = pack_code(code, tmp_path / "a.tar.gz")
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        names = sorted(tar.getnames())
        assert tar.getmember("link.py").issym()
    assert names == [".nniignore", "link.py", "main.py", "src", "src/model.py"]
    (code / "main.py").write_text("changed")
    assert pack_code(code, tmp_path / "b.tar.gz") != digest
    assert IgnoreRules.patterns_of(code) == ["data/", "!data/keep/x.txt"]


def test_a_code_directory_that_is_a_data_set_is_refused(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    for i in range(2001):
        (code / f"{i}.npy").touch()
    with pytest.raises(TrainingServiceError, match=r"more than 2000 files.*\.nniignore"):
        list_code_files(code)
    (code / ".nniignore").write_text("*.npy\n")
    assert list_code_files(code) == ([], [".nniignore"])
    with pytest.raises(TrainingServiceError, match="is not a folder"):
        list_code_files(tmp_path / "missing")
