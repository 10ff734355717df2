"""The parsed search space: specs, sampling per type, encoding, dedup keys, finite enumeration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nni.errors import SearchSpaceError
from nni.search_space import ConfigHistory, check_supported_types, config_key, parse_search_space

ALL_TYPES = {
    "c": {"_type": "choice", "_value": [1, "x", [2, 3], None]},
    "ri": {"_type": "randint", "_value": [-2, 3]},
    "u": {"_type": "uniform", "_value": [-1.5, 2.5]},
    "qu": {"_type": "quniform", "_value": [0.25, 2, 0.5]},
    "lu": {"_type": "loguniform", "_value": [1e-5, 1e-1]},
    "qlu": {"_type": "qloguniform", "_value": [1, 100, 5]},
    "n": {"_type": "normal", "_value": [3, 2]},
    "qn": {"_type": "qnormal", "_value": [0, 4, 2]},
    "ln": {"_type": "lognormal", "_value": [0, 1]},
    "qln": {"_type": "qlognormal", "_value": [1, 0.5, 0.5]},
}

NESTED = {
    "model": {"_type": "choice", "_value": [
        {"_name": "linear", "alpha": {"_type": "loguniform", "_value": [1e-4, 1]}},
        {"_name": "tree", "depth": {"_type": "randint", "_value": [1, 5]},
         "split": {"_type": "choice", "_value": [{"_name": "gini"}, {"_name": "entropy",
                                                                      "w": {"_type": "uniform", "_value": [0, 1]}}]}},
        "none",
    ]},
    "lr": {"_type": "uniform", "_value": [0, 1]},
}


def _is_multiple(value: float, q: float) -> bool:
    return math.isclose(round(value / q) * q, value, abs_tol=1e-9)


def check_value(name: str, value: object) -> None:
    """Assert ``value`` is a legal value of ALL_TYPES[name]."""
    kind, v = ALL_TYPES[name]["_type"], ALL_TYPES[name]["_value"]
    if kind == "choice":
        assert value in v
        return
    assert isinstance(value, (int, float)) and math.isfinite(value)
    if kind == "randint":
        assert type(value) is int and v[0] <= value < v[1]
    elif kind in ("uniform", "loguniform"):
        assert v[0] <= value <= v[1]
    elif kind in ("quniform", "qloguniform"):
        assert v[0] <= value <= v[1]
        assert _is_multiple(value, v[2]) or value in (v[0], v[1])
    elif kind == "qnormal":
        assert _is_multiple(value, v[2])
    elif kind == "lognormal":
        assert value > 0
    elif kind == "qlognormal":
        assert value >= 0 and _is_multiple(value, v[2])


def test_specs_carry_keys_ranges_and_conditions() -> None:
    space = parse_search_space(NESTED)
    keys = [p.key for p in space.params]
    assert keys == [("model",), ("model", 0, "alpha"), ("model", 1, "depth"), ("model", 1, "split"),
                    ("model", 1, "split", 1, "w"), ("lr",)]
    alpha = space.by_key[("model", 0, "alpha")]
    assert alpha.condition == (0, 0) and alpha.log
    assert alpha.low == pytest.approx(math.log(1e-4)) and alpha.high == pytest.approx(0.0)
    w = space.by_key[("model", 1, "split", 1, "w")]
    assert w.condition == (3, 1) and w.path == "model[1].split[1].w"
    model = space.params[0]
    assert model.is_categorical and model.n_choices == 3 and model.nested == (True, True, False)
    assert model.children == (1, 2, 3)
    assert space.by_key[("model", 1, "depth")].integer
    assert space.has_nested and space.types == {"choice", "loguniform", "randint", "uniform"}


def test_parse_validates_with_key_path() -> None:
    with pytest.raises(SearchSpaceError, match="model\\[0\\].alpha"):
        parse_search_space({"model": {"_type": "choice", "_value": [
            {"_name": "a", "alpha": {"_type": "loguniform", "_value": [0, 1]}}]}})
    with pytest.raises(SearchSpaceError, match="'x'.*randint"):
        parse_search_space({"x": {"_type": "randint", "_value": [3, 3]}})


def test_sample_respects_every_type() -> None:
    space = parse_search_space(ALL_TYPES)
    rng = np.random.default_rng(1)
    seen_ri = set()
    for _ in range(2000):
        params = space.sample(rng)
        assert set(params) == set(ALL_TYPES)
        for name, value in params.items():
            check_value(name, value)
        seen_ri.add(params["ri"])
    assert seen_ri == {-2, -1, 0, 1, 2}


def test_quniform_clips_to_bounds_that_are_not_multiples() -> None:
    space = parse_search_space({"x": {"_type": "quniform", "_value": [0.2, 2, 0.5]}})
    assert space.params[0].grid == [0.2, 0.5, 1.0, 1.5, 2.0]
    rng = np.random.default_rng(0)
    values = {space.sample(rng)["x"] for _ in range(500)}
    assert values == {0.2, 0.5, 1.0, 1.5, 2.0}


def test_q_rounding_has_no_binary_noise() -> None:
    space = parse_search_space({"x": {"_type": "quniform", "_value": [0, 1, 0.1]}})
    assert space.params[0].grid == [round(0.1 * k, 1) for k in range(11)]


def test_sample_distributions_match_types() -> None:
    space = parse_search_space({"n": {"_type": "normal", "_value": [3, 2]},
                                "lu": {"_type": "loguniform", "_value": [1e-4, 1]}})
    rng = np.random.default_rng(2)
    draws = [space.sample(rng) for _ in range(4000)]
    normal = np.array([d["n"] for d in draws])
    assert abs(normal.mean() - 3) < 0.15 and abs(normal.std() - 2) < 0.15
    logs = np.log10([d["lu"] for d in draws])
    assert abs(logs.mean() + 2) < 0.1  # uniform in log space: mean exponent is the midpoint


def test_nested_samples_are_well_formed() -> None:
    space = parse_search_space(NESTED)
    rng = np.random.default_rng(3)
    names = set()
    for _ in range(300):
        params = space.sample(rng)
        model = params["model"]
        assert 0 <= params["lr"] <= 1
        if model == "none":
            names.add("none")
            continue
        names.add(model["_name"])
        if model["_name"] == "linear":
            assert set(model) == {"_name", "alpha"} and 1e-4 <= model["alpha"] <= 1
        else:
            assert set(model) == {"_name", "depth", "split"} and model["depth"] in (1, 2, 3, 4)
            split = model["split"]
            assert split == {"_name": "gini"} or (set(split) == {"_name", "w"} and split["_name"] == "entropy")
    assert names == {"linear", "tree", "none"}


def test_encode_decode_roundtrip_and_inactive_nan() -> None:
    space = parse_search_space({**NESTED, **ALL_TYPES})
    rng = np.random.default_rng(4)
    for _ in range(300):
        params = space.sample(rng)
        vector = space.encode(params)
        active = space.active_mask(vector)
        assert np.all(np.isnan(vector) == ~active)
        numeric = [p.index for p in space.params if not p.is_categorical and active[p.index]]
        assert np.all((vector[numeric] >= 0) & (vector[numeric] <= 1))
        back = space.decode(vector)
        assert config_key(back) == config_key(params) or _close(back, params)


def _close(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_sample_vectors_decode_inside_bounds_and_mask() -> None:
    space = parse_search_space(NESTED)
    vectors = space.sample_vectors(np.random.default_rng(5), 200)
    for vector in vectors:
        assert np.array_equal(np.isnan(vector), ~space.active_mask(vector))
        space.decode(vector)


def test_decode_clips_out_of_range_coordinates() -> None:
    space = parse_search_space({"ri": ALL_TYPES["ri"], "u": ALL_TYPES["u"], "c": ALL_TYPES["c"]})
    assert space.decode(np.array([1.0, 1.0, 3.0])) == {"ri": 2, "u": 2.5, "c": None}
    assert space.decode(np.array([-1.0, 7.0, -5.0])) == {"ri": -2, "u": 2.5, "c": 1}


def test_encode_refuses_configs_outside_the_space() -> None:
    space = parse_search_space(NESTED)
    with pytest.raises(ValueError, match="not one of the choice options"):
        space.encode({"model": "forest", "lr": 0.5})
    with pytest.raises(ValueError, match="lr: missing"):
        space.encode({"model": "none"})
    with pytest.raises(ValueError, match="finite number"):
        space.encode({"model": "none", "lr": "high"})
    assert not space.contains({"model": {"_name": "tree", "depth": 2}, "lr": 0.1})
    assert space.contains({"model": {"_name": "tree", "depth": 2, "split": {"_name": "gini"}}, "lr": 0.1})


def test_config_key_is_canonical() -> None:
    assert config_key({"a": 1, "b": {"_name": "x", "y": 2.0}}) == config_key({"b": {"y": 2, "_name": "x"}, "a": 1.0})
    assert config_key({"a": np.int64(3)}) == config_key({"a": 3})
    assert config_key({"a": True}) != config_key({"a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})


def test_choice_options_are_found_as_config_key_compares_them() -> None:
    space = parse_search_space({"c": {"_type": "choice", "_value": [1, "1", True, None, 2.5, [2, 3]]}})
    spec = space.params[0]
    found = {repr(v): spec.option_index(v) for v in (1, 1.0, np.int64(1), "1", True, np.bool_(True), None,
                                                    2.5, np.float32(2.5), [2, 3], (2, 3))}
    assert found == {"1": 0, "1.0": 0, "np.int64(1)": 0, "'1'": 1, "True": 2, "np.True_": 2, "None": 3,
                     "2.5": 4, "np.float32(2.5)": 4, "[2, 3]": 5, "(2, 3)": 5}
    for missing in (2, "True", False, float("nan"), [3, 2]):
        with pytest.raises(ValueError, match="not one of the choice options"):
            spec.option_index(missing)
    with pytest.raises(ValueError, match="expected a finite number"):
        parse_search_space({"u": {"_type": "uniform", "_value": [0, 1]}}).encode({"u": float("inf")})


def test_finite_size_and_enumeration() -> None:
    space = parse_search_space({
        "m": {"_type": "choice", "_value": [{"_name": "a", "k": {"_type": "randint", "_value": [0, 3]}}, "b"]},
        "q": {"_type": "quniform", "_value": [0, 1, 0.5]},
    })
    assert space.size == (3 + 1) * 3
    configs = list(space.iter_configs())
    assert len(configs) == 12 and len({config_key(c) for c in configs}) == 12
    assert all(space.contains(c) for c in configs)
    assert parse_search_space(ALL_TYPES).size is None
    with pytest.raises(ValueError, match="not finite"):
        next(parse_search_space(ALL_TYPES).iter_configs())


def test_config_history_finds_every_unseen_then_exhausts() -> None:
    space = parse_search_space({"a": {"_type": "choice", "_value": [1, 2, 3]},
                                "b": {"_type": "randint", "_value": [0, 2]}})
    history = ConfigHistory(space)
    rng = np.random.default_rng(0)
    assert history.add({"a": 1, "b": 0}) and not history.add({"b": 0, "a": 1})
    history.add({"a": 9, "b": 0})  # outside the space: does not count towards exhaustion
    while (params := history.random_unseen(rng)) is not None:
        assert history.add(params)
    assert history.exhausted and len(history) == 7


def test_check_supported_types_names_type_key_and_alternative() -> None:
    space = parse_search_space(NESTED)
    with pytest.raises(SearchSpaceError, match=r"'model\[0\]\.alpha'.*'loguniform'.*use TPE"):
        check_supported_types(space, "Foo", {"choice", "uniform", "randint"}, suggestion="TPE")
    with pytest.raises(SearchSpaceError, match=r"'model'.*nested choice.*use Random"):
        check_supported_types(space, "Foo", {"choice", "uniform", "randint", "loguniform"}, nested=False,
                              suggestion="Random")
    check_supported_types(space, "Foo", {"choice", "uniform", "randint", "loguniform"})
