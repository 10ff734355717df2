"""Tuner, assessor and advisor configs: a built-in by name, or a custom class by import path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from .base import ConfigBase

__all__ = ["AlgorithmConfig", "CustomAlgorithmConfig", "parse_algorithm"]


class _WithClassArgs(ConfigBase):
    """What both kinds share: ``classArgs``, empty when null, left out of ``json()`` unless given (as NNI)."""

    _omit_unless_set: ClassVar[frozenset[str]] = frozenset({"class_args"})

    @field_validator("class_args", mode="before", check_fields=False)
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class AlgorithmConfig(_WithClassArgs):
    """A built-in algorithm: ``{name: TPE, classArgs: {optimize_mode: maximize}}``."""

    name: str | None = None
    class_args: dict[str, Any] = Field(default_factory=dict)


class CustomAlgorithmConfig(_WithClassArgs):
    """A user's class: ``{className: my_tuner.MyTuner, codeDirectory: ., classArgs: {...}}``."""

    class_name: str
    code_directory: Path | None = Path(".")
    class_args: dict[str, Any] = Field(default_factory=dict)


def parse_algorithm(value: Any) -> Any:
    """Pick the class from the keys present (either spelling of className)."""
    if isinstance(value, dict) and any(str(k).replace("_", "").lower() == "classname" for k in value):
        return CustomAlgorithmConfig.model_validate(value)
    if isinstance(value, dict):
        return AlgorithmConfig.model_validate(value)
    return value
