"""Point config errors at their line: find a dotted key path (``trainingService.useActiveGpu``,
``machineList[0].user``) in the YAML text and say which line holds it."""

from __future__ import annotations

import re

import yaml

from .base import normalize_key

__all__ = ["key_line", "with_lines"]

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
# A "key.path: message" segment of a ConfigError ("; " separates several).
_SEGMENT = re.compile(r"(^|; )([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*|\[\d+\])*)(: )")
_UNKNOWN = re.compile(r"unknown key '([^']+)'")


def key_line(text: str, path: str) -> int | None:
    """1-based line of ``path`` in the YAML ``text`` (keys matched ignoring case and '_'), or None."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for name, index in _PART.findall(path):
        if node is None:
            return None
        if index:
            if not isinstance(node, yaml.SequenceNode) or int(index) >= len(node.value):
                return None
            node = node.value[int(index)]
            line = node.start_mark.line + 1
            continue
        if not isinstance(node, yaml.MappingNode):
            return None
        match = next(((k, v) for k, v in node.value if normalize_key(str(k.value)) == normalize_key(name)), None)
        if match is None:
            return None
        line = match[0].start_mark.line + 1
        node = match[1]
    return line


def with_lines(message: str, text: str) -> str:
    """Add ``(line N)`` after each key path of ``message`` found in ``text``."""
    segments = list(_SEGMENT.finditer(message))
    if not segments:
        return message
    out, last = [], 0
    for number, match in enumerate(segments):
        end = segments[number + 1].start() if number + 1 < len(segments) else len(message)
        path = match.group(2)
        unknown = _UNKNOWN.search(message, match.end(), end)
        lookup = path if path == "config" or not unknown else f"{path}.{unknown.group(1)}"
        if path == "config" and unknown:
            lookup = unknown.group(1)
        line = key_line(text, lookup)
        out.append(message[last:match.end(2)])
        if line is not None:
            out.append(f" (line {line})")
        last = match.end(2)
    out.append(message[last:])
    return "".join(out)
