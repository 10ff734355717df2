"""BOHB (Falkner et al., 2018): Hyperband whose new configurations come from kernel density
estimates of good and bad results (TPE-like), fitted at the largest budget with enough data.

The model works on the shared search-space encoding: Gaussian kernels on the unit-cube numeric
columns, Aitchison-Aitken kernels on choices, and inactive conditional columns matched only
with inactive ones. No ConfigSpace dependency.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...search_space import SearchSpace
from ...typehint import Parameters
from .hyperband_advisor import _EPSILON, SuccessiveHalvingTuner

__all__ = ["BOHB", "BOHBModel", "read_pcs"]

_PCS_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<kind>real|integer|categorical|ordinal)\s*"
                       r"(?P<open>[\[{])(?P<values>[^\]}]*)[\]}]\s*(?:\[[^\]]*\])?\s*(?P<log>log)?\s*$")


def _pcs_value(text: str) -> Any:
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_pcs(path: Path) -> dict[str, Any]:
    """An NNI search space from a ConfigSpace PCS file (what NNI's BOHB ``config_space`` names).

    Parameter lines only (``real``/``integer`` ranges with an optional ``log``, ``categorical``
    and ``ordinal`` sets); conditions and forbidden clauses are refused, naming the line.
    """
    space: dict[str, Any] = {}
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PCS_LINE.match(line)
        if match is None:
            raise ValueError(f"BOHB: config_space {path} line {number}: only parameter lines are supported "
                             f"(real, integer, categorical, ordinal), got {raw.strip()!r}")
        values = [_pcs_value(v) for v in match["values"].split(",")]
        kind, log = match["kind"], bool(match["log"])
        if kind in ("categorical", "ordinal"):
            space[match["name"]] = {"_type": "choice", "_value": values}
        elif len(values) != 2 or not all(isinstance(v, (int, float)) for v in values):
            raise ValueError(f"BOHB: config_space {path} line {number}: a {kind} range needs [low, high]")
        elif kind == "real":
            space[match["name"]] = {"_type": "loguniform" if log else "uniform", "_value": values}
        elif log:  # an integer on a log scale: whole numbers drawn log-uniformly
            space[match["name"]] = {"_type": "qloguniform", "_value": [*values, 1]}
        else:
            space[match["name"]] = {"_type": "randint", "_value": [values[0], values[1] + 1]}
    return space

_MISMATCH = 1e-3
"""Kernel value when one of two points has a conditional column inactive and the other active."""


@dataclass(eq=False)
class BOHBModel:
    """Good/bad kernel density estimates over encoded vectors and the sampling that uses them.

    ``min_points_in_model`` None means the space's dimension + 1, as in BOHB.
    """

    space: SearchSpace
    min_points_in_model: int | None
    top_n_percent: int
    num_samples: int
    random_fraction: float
    bandwidth_factor: float
    min_bandwidth: float
    rng: np.random.Generator
    observations: dict[Any, list[tuple[np.ndarray, float]]] = field(default_factory=dict, init=False)
    """Per budget: the encoded vectors and their losses."""

    def __post_init__(self) -> None:
        given = self.min_points_in_model
        self.min_points = max(given if given is not None else self.space.dim + 1, 1)
        self.categorical = np.array([p.is_categorical for p in self.space.params], dtype=bool)
        self.n_choices = np.array([p.n_choices or 1 for p in self.space.params], dtype=float)

    def add(self, vector: np.ndarray, budget: Any, loss: float) -> None:
        self.observations.setdefault(budget, []).append((vector, loss if math.isfinite(loss) else math.inf))

    def _training_budget(self) -> Any | None:
        """The largest budget with enough observations for both densities, as BOHB does."""
        usable = [b for b, obs in self.observations.items() if len(obs) >= self.min_points + 2]
        if not usable:
            return None
        return max(usable, key=lambda b: (float(b) if isinstance(b, (int, float)) else -math.inf))

    def _bandwidths(self, data: np.ndarray) -> np.ndarray:
        """Normal-reference bandwidths per column (scaled for choices), at least ``min_bandwidth``."""
        n, dim = data.shape
        factor = n ** (-1.0 / (4 + dim))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an always-inactive column has no spread
            spread = np.nanstd(data, axis=0)
        spread = np.where(np.isfinite(spread), spread, 0.0)
        bandwidth = 1.06 * spread * factor
        # a choice's bandwidth is the probability of leaving the observed option, below 1 - 1/k
        categorical = np.minimum(bandwidth / np.maximum(self.n_choices - 1, 1), 1.0 - 1.0 / self.n_choices)
        bandwidth = np.where(self.categorical, categorical, bandwidth)
        return np.maximum(bandwidth, self.min_bandwidth)

    def _density(self, points: np.ndarray, data: np.ndarray, bandwidth: np.ndarray) -> np.ndarray:
        """Mean product-kernel value of each point against the data, shape (len(points),)."""
        p = points[:, None, :]
        d = data[None, :, :]
        p_nan, d_nan = np.isnan(p), np.isnan(d)
        with np.errstate(invalid="ignore"):
            gauss = np.exp(-0.5 * ((p - d) / bandwidth) ** 2) / (bandwidth * math.sqrt(2 * math.pi))
            same = np.round(p) == np.round(d)
        k = np.maximum(self.n_choices - 1, 1)
        aitchison = np.where(same, 1.0 - bandwidth, bandwidth / k)
        value = np.where(self.categorical, aitchison, gauss)
        value = np.where(p_nan & d_nan, 1.0, np.where(p_nan | d_nan, _MISMATCH, value))
        log = np.log(np.maximum(value, 1e-300)).sum(axis=2)
        top = log.max(axis=1, keepdims=True)
        return np.exp(top[:, 0]) * np.exp(log - top).mean(axis=1)

    def _sample_around(self, data: np.ndarray, bandwidth: np.ndarray, count: int) -> np.ndarray:
        """Draws from the widened good density: a random good point, perturbed column by column."""
        base = data[self.rng.integers(len(data), size=count)].copy()
        wide = np.minimum(bandwidth * self.bandwidth_factor, 1.0)
        noise = self.rng.normal(size=base.shape) * wide
        numeric = ~self.categorical
        base[:, numeric] = np.clip(base[:, numeric] + noise[:, numeric], 0.0, 1.0)
        resample = self.rng.random(base.shape) < np.minimum(bandwidth * self.bandwidth_factor, 1.0)
        random_options = np.floor(self.rng.random(base.shape) * self.n_choices)
        base[:, self.categorical] = np.where(resample[:, self.categorical], random_options[:, self.categorical],
                                             base[:, self.categorical])
        # a parent choice that changed activates children with no value yet: draw them at random
        filled = np.where(np.isnan(base), self.space.sample_vectors(self.rng, count), base)
        filled = np.where(np.isnan(filled), self.rng.random(base.shape), filled)
        filled[:, self.categorical] = np.minimum(np.floor(filled[:, self.categorical]),
                                                 self.n_choices[self.categorical] - 1)
        return self.space.mask_inactive(filled)

    def propose(self, count: int) -> list[np.ndarray]:
        """Encoded vectors ranked by good/bad density ratio, or random ones without a model."""
        budget = self._training_budget()
        if budget is None or self.rng.random() < self.random_fraction:
            return list(self.space.sample_vectors(self.rng, count))
        observations = self.observations[budget]
        vectors = np.array([v for v, _ in observations])
        losses = np.array([loss for _, loss in observations])
        order = np.argsort(losses, kind="stable")
        n = len(order)
        n_good = max(self.min_points, (self.top_n_percent * n) // 100)
        n_bad = max(self.min_points, ((100 - self.top_n_percent) * n) // 100)
        good, bad = vectors[order[:n_good]], vectors[order[-n_bad:]]
        good_bw, bad_bw = self._bandwidths(good), self._bandwidths(bad)
        samples = self._sample_around(good, good_bw, max(self.num_samples, count))
        ratio = np.log(self._density(samples, good, good_bw) + 1e-300) - np.log(self._density(samples, bad, bad_bw) + 1e-300)
        return [samples[i] for i in np.argsort(-ratio, kind="stable")]


class BOHB(SuccessiveHalvingTuner):
    """BOHB with NNI's arguments.

    ``min_budget``/``max_budget`` bound TRIAL_BUDGET, ``eta`` is the halving ratio;
    ``min_points_in_model`` (default: dimensions + 1) observations at a budget are needed before
    the model is used; ``top_n_percent`` of them are "good"; ``num_samples`` draws from the
    widened (``bandwidth_factor``) good density are ranked by density ratio; ``random_fraction``
    of configurations are purely random; ``min_bandwidth`` keeps the densities from collapsing.
    ``config_space``: a ConfigSpace PCS file used instead of the experiment's search space.
    One bracket runs at a time, as in NNI. ``seed`` (an addition) makes runs repeatable.
    """

    algorithm_name = "BOHB"

    def __init__(self, optimize_mode: str = "maximize", min_budget: float = 1, max_budget: float = 3, eta: int = 3,
                 min_points_in_model: int | None = None, top_n_percent: int = 15, num_samples: int = 64,
                 random_fraction: float = 1 / 3, bandwidth_factor: float = 3, min_bandwidth: float = 1e-3,
                 config_space: str | None = None, seed: int | None = None) -> None:
        for name, value in (("min_budget", min_budget), ("max_budget", max_budget)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"BOHB: {name} must be a number > 0, got {value!r}")
        if max_budget < min_budget:
            raise ValueError(f"BOHB: max_budget ({max_budget}) must not be smaller than min_budget ({min_budget})")
        if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
            raise ValueError(f"BOHB: eta must be an integer >= 2, got {eta!r}")
        if isinstance(top_n_percent, bool) or not isinstance(top_n_percent, int) or not 1 <= top_n_percent <= 99:
            raise ValueError(f"BOHB: top_n_percent must be an integer from 1 to 99, got {top_n_percent!r}")
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"BOHB: num_samples must be an integer >= 1, got {num_samples!r}")
        if min_points_in_model is not None and (not isinstance(min_points_in_model, int) or min_points_in_model < 1):
            raise ValueError(f"BOHB: min_points_in_model must be None or an integer >= 1, got {min_points_in_model!r}")
        for name, value in (("random_fraction", random_fraction),):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"BOHB: {name} must be a number from 0 to 1, got {value!r}")
        for name, value in (("bandwidth_factor", bandwidth_factor), ("min_bandwidth", min_bandwidth)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"BOHB: {name} must be a number > 0, got {value!r}")
        if config_space is not None and not Path(config_space).expanduser().is_file():
            raise ValueError(f"BOHB: config_space path does not exist: {config_space!r}")
        # as in NNI, a ConfigSpace file replaces the experiment's search space
        self.config_space = read_pcs(Path(config_space).expanduser()) if config_space is not None else None
        self.min_budget = min_budget
        self.min_points_in_model = min_points_in_model
        self.top_n_percent = top_n_percent
        self.num_samples = num_samples
        self.random_fraction = float(random_fraction)
        self.bandwidth_factor = float(bandwidth_factor)
        self.min_bandwidth = float(min_bandwidth)
        self.model: BOHBModel | None = None
        s_max = math.floor(math.log(max_budget / min_budget, eta) + _EPSILON)
        super().__init__(optimize_mode, max_budget, eta, s_max, "serial", seed)

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        """Parse the space and rebuild the model from every result that still fits it."""
        super().update_search_space(self.config_space or search_space)
        assert self.space is not None
        self.model = BOHBModel(self.space, self.min_points_in_model, self.top_n_percent, self.num_samples,
                               self.random_fraction, self.bandwidth_factor, self.min_bandwidth, self._rng)
        for result in self.results:
            self._feed(*self._split_budget(result.params), result.loss)

    def _feed(self, params: Parameters, budget: Any, loss: float) -> None:
        assert self.space is not None and self.model is not None
        try:
            vector = self.space.encode(params)
        except ValueError:
            return
        self.model.add(vector, budget, loss)

    def _on_result(self, params: Parameters, budget: Any, loss: float) -> None:
        if self.model is not None:
            self._feed(params, budget, loss)

    def _new_configs(self, count: int, budget: int | float) -> list[Parameters]:
        space, history = self._require_space(), self._history(budget)
        assert self.model is not None
        configs: list[Parameters] = []
        for _ in range(count):
            proposal = next((p for p in map(space.decode, self.model.propose(1)) if p not in history), None)
            params = self._unseen(budget, proposal)
            if params is None:
                break
            configs.append(params)
        return configs
