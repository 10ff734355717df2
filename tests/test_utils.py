"""NNI's public helpers in ``nni.utils`` and the lazy ``nni.Experiment``: names, signatures, semantics."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

import nni
import nni.typehint
from nni.utils import (
    ClassArgsValidator,
    NodeType,
    OptimizeMode,
    convert_dict2tuple,
    is_finite_number,
    json2parameter,
    json2space,
    merge_parameter,
    parse_optimize_mode,
    split_index,
)

NESTED = {
    "model": {"_type": "choice", "_value": [
        {"_name": "mlp", "depth": {"_type": "randint", "_value": [1, 4]}},
        {"_name": "linear"},
    ]},
    "lr": {"_type": "qloguniform", "_value": [0.001, 1, 0.001]},
    "drop": {"_type": "quniform", "_value": [0, 1, 0.5]},
}


def test_merge_parameter_updates_a_namespace_in_place() -> None:
    args = argparse.Namespace(lr=0.1, batch_size=64, name="x", extra=None)
    merged = merge_parameter(args, {"lr": 1, "batch_size": 32, "extra": [1]})
    assert merged is args and args.lr == 1.0 and isinstance(args.lr, float)
    assert args.batch_size == 32 and args.extra == [1]
    assert merge_parameter(args, None) is args


def test_merge_parameter_updates_a_dict() -> None:
    base = {"lr": 0.1, "kernel": "rbf"}
    assert merge_parameter(base, {"kernel": "linear"}) == {"lr": 0.1, "kernel": "linear"}


@pytest.mark.parametrize(("override", "message"), [
    ({"momentum": 0.5}, "Key 'momentum' not found"),
    ({"batch_size": "64"}, '"batch_size" in override parameters to have type int, but found str'),
    ({"lr": "fast"}, "type float, but found str"),
])
def test_merge_parameter_refuses_unknown_keys_and_other_types(override: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        merge_parameter(argparse.Namespace(lr=0.1, batch_size=64), override)


def test_json2space_names_parameters_as_nni_does() -> None:
    assert json2space(NESTED) == [
        "root[model]-choice[0][depth]-randint", "root[model]-choice", "root[lr]-qloguniform",
        "root[drop]-quniform",
    ]
    indexed = {"model": {NodeType.INDEX: 1, NodeType.VALUE: {"_name": "linear"}}, "lr": 0.1, "drop": 0.5}
    assert json2space(NESTED, indexed) == ["root[model]-choice", "root[lr]-qloguniform", "root[drop]-quniform"]


def test_json2parameter_samples_indexed_values_and_split_index_strips_them() -> None:
    names = json2space(NESTED)
    rng = np.random.RandomState(3)
    for _ in range(30):
        indexed = json2parameter(NESTED, dict.fromkeys(names, True), rng)
        assert set(indexed["model"]) == {NodeType.INDEX, NodeType.VALUE}
        plain = split_index(indexed)
        assert plain["model"]["_name"] in ("mlp", "linear")
        if plain["model"]["_name"] == "mlp":
            assert plain["model"]["depth"] in (1, 2, 3)
        assert 0.001 <= plain["lr"] <= 1 and isinstance(plain["lr"], float)
        assert plain["drop"] in (0.0, 0.5, 1.0) and isinstance(plain["drop"], float)
    # is_rand False copies from oldy: only the chosen name is redrawn
    old = json2parameter(NESTED, dict.fromkeys(names, True), rng)
    keep = dict.fromkeys(names, False) | {"root[lr]-qloguniform": True}
    new = json2parameter(NESTED, keep, rng, old)
    assert new["model"] == old["model"] and new["drop"] == old["drop"]


def test_nested_option_without_name_is_refused() -> None:
    space = {"x": {"_type": "choice", "_value": [{"a": 1}]}}
    with pytest.raises(RuntimeError, match="'_name' key is not found"):
        json2space(space)


def test_convert_dict2tuple_makes_nested_dicts_hashable() -> None:
    value = {"b": {"y": 1, "x": 2}, "a": 0}
    converted = convert_dict2tuple(value)
    assert converted == (("a", 0), ("b", (("x", 2), ("y", 1))))
    assert hash(converted) is not None and convert_dict2tuple(5) == 5


class _ModeValidator(ClassArgsValidator):
    def validate_class_args(self, **kwargs: object) -> None:
        if "optimize_mode" in kwargs:
            self.choices("optimize_mode", "maximize", "minimize")(kwargs["optimize_mode"])
        if "n" in kwargs:
            self.range("n", int, 1, 10)(kwargs["n"])


def test_class_args_validator_helpers(tmp_path: Path) -> None:
    ClassArgsValidator().validate_class_args(anything=1)  # the base accepts everything
    validator = _ModeValidator()
    validator.validate_class_args(optimize_mode="maximize", n=3)
    with pytest.raises(ValueError, match=r"optimize_mode should be in \[\('maximize', 'minimize'\)\]"):
        validator.validate_class_args(optimize_mode="up")
    with pytest.raises(ValueError, match="n should be in range of"):
        validator.validate_class_args(n=11)
    with pytest.raises(ValueError, match="n should be int type"):
        validator.validate_class_args(n="3")
    assert validator.path("p").validate(str(tmp_path)) == str(tmp_path)
    with pytest.raises(ValueError, match="p path does not exist"):
        validator.path("p")(str(tmp_path / "missing"))


def test_one_optimize_mode_enum_whose_values_are_the_typehint_literal() -> None:
    assert tuple(mode.value for mode in OptimizeMode) == get_args(nni.typehint.OptimizeMode)
    assert OptimizeMode("maximize") is OptimizeMode.Maximize and OptimizeMode.Minimize == "minimize"


@pytest.mark.parametrize(("given", "expected"), [
    ("maximize", OptimizeMode.Maximize), ("Minimize", OptimizeMode.Minimize), (OptimizeMode.Maximize, OptimizeMode.Maximize),
])
def test_parse_optimize_mode(given: object, expected: OptimizeMode) -> None:
    assert parse_optimize_mode(given) is expected


@pytest.mark.parametrize("given", ["max", "", None, 1, ["maximize"]])
def test_parse_optimize_mode_refuses_other_values_naming_the_owner(given: object) -> None:
    message = f"optimize_mode must be 'minimize' or 'maximize', got {given!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_optimize_mode(given)
    with pytest.raises(ValueError, match=r"^GP: optimize_mode must be"):
        parse_optimize_mode(given, "GP")


def test_is_finite_number() -> None:
    assert is_finite_number(1) and is_finite_number(-2.5) and is_finite_number(1e308)
    for value in (True, float("nan"), float("inf"), 10 ** 400, "1", None, {"default": 1}, [1]):
        assert not is_finite_number(value)


def test_standalone_get_current_parameter_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    import nni.trial

    monkeypatch.setattr(nni.trial, "_context", None)
    assert nni.get_current_parameter() == {}
    nni.get_next_parameter()
    assert nni.get_current_parameter() == {}


def test_nni_experiment_is_lazy() -> None:
    code = ("import json, sys, nni; before = 'nni.experiment' in sys.modules; cls = nni.Experiment; "
            "print(json.dumps([before, cls.__module__]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [False, "nni.experiment.experiment"]
    from nni.experiment import Experiment

    assert nni.Experiment is Experiment and "Experiment" in nni.__all__
