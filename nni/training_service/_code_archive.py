"""The trial code directory as shipped to other machines: its files minus what ``.nniignore`` excludes.

``.nniignore`` (in the code directory's top folder) uses ``.gitignore`` syntax, as in NNI: one
pattern a line, ``#`` comments, ``!`` re-includes, a trailing ``/`` matches only folders, a pattern
with a ``/`` is anchored to the top folder, ``*``/``?``/``[...]`` stay within one path component and
``**`` spans several. An ignored folder is not entered, so nothing below it can be re-included.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .base import TrainingServiceError

__all__ = ["IGNORE_FILE", "MAX_FILES", "IgnoreRules", "list_code_files", "pack_code"]

IGNORE_FILE = ".nniignore"
MAX_FILES = 2000
"""More files than this is almost always a data set or a virtualenv in the code folder (NNI's limit too)."""


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _translate(pattern: str) -> str:
    """A gitignore glob as a regular expression over '/'-separated relative paths."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            before_ok = i == 0 or pattern[i - 1] == "/"
            after = pattern[i + 2] if i + 2 < n else ""
            if before_ok and after == "/":
                out.append("(?:.*/)?")
                i += 3
                continue
            if before_ok and after == "":
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "^") else i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class IgnoreRules:
    """The patterns of one ``.nniignore``; the last pattern matching a path decides."""

    def __init__(self, lines: list[str]) -> None:
        self.rules: list[_Rule] = []
        for raw in lines:
            line = raw.rstrip("\n").rstrip("\r")
            if not line.endswith("\\ "):
                line = line.rstrip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate or line.startswith("\\#") or line.startswith("\\!"):
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            if not line:
                continue
            anchored = "/" in line
            body = _translate(line.lstrip("/"))
            regex = re.compile(body if anchored else "(?:.*/)?" + body, re.DOTALL)
            self.rules.append(_Rule(regex, negate, dir_only))

    @classmethod
    def from_dir(cls, code_dir: Path) -> IgnoreRules:
        path = code_dir / IGNORE_FILE
        try:
            return cls(path.read_text(encoding="utf-8").splitlines())
        except FileNotFoundError:
            return cls([])

    @staticmethod
    def patterns_of(code_dir: Path) -> list[str]:
        """The pattern lines of a code directory's ``.nniignore`` (for tools that take gitignore
        patterns themselves, such as Ray's ``excludes``)."""
        try:
            lines = (Path(code_dir) / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        verdict = False
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.fullmatch(relpath):
                verdict = not rule.negate
        return verdict


def list_code_files(code_dir: Path) -> tuple[list[str], list[str]]:
    """(folders, files) to ship, as '/'-separated paths relative to ``code_dir``, in a stable order."""
    code_dir = Path(code_dir)
    if not code_dir.is_dir():
        raise TrainingServiceError(f"trialCodeDirectory {code_dir} is not a folder")
    rules = IgnoreRules.from_dir(code_dir)
    folders: list[str] = []
    files: list[str] = []
    for root, dirnames, filenames in os.walk(code_dir):
        rel_root = os.path.relpath(root, code_dir)
        prefix = "" if rel_root == "." else rel_root.replace(os.sep, "/") + "/"
        kept = []
        for name in sorted(dirnames):
            rel = prefix + name
            if os.path.islink(os.path.join(root, name)):
                if not rules.ignored(rel, False):
                    files.append(rel)  # shipped as a link, not followed
            elif not rules.ignored(rel, True):
                kept.append(name)
                folders.append(rel)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = prefix + name
            if not rules.ignored(rel, False):
                files.append(rel)
        if len(files) > MAX_FILES:
            raise TrainingServiceError(
                f"trialCodeDirectory {code_dir} has more than {MAX_FILES} files to upload; list data sets, "
                f"virtualenvs and outputs in {code_dir / IGNORE_FILE} (.gitignore syntax) to leave them out")
    return folders, files


def pack_code(code_dir: Path, archive: Path) -> str:
    """Write the shippable files as a gzip tarball; returns a digest of their names and contents."""
    code_dir = Path(code_dir)
    folders, files = list_code_files(code_dir)
    digest = hashlib.sha256()
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        for rel in folders:
            tar.add(code_dir / rel, arcname=rel, recursive=False)
        for rel in files:
            path = code_dir / rel
            tar.add(path, arcname=rel, recursive=False)
            digest.update(rel.encode() + b"\0")
            if path.is_file() and not path.is_symlink():
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
    return digest.hexdigest()
