"""Tree-structured Parzen Estimator (TPE) tuner, native numpy.

TPE splits the finished trials into a good set and a bad set by loss, models each with a Parzen
(kernel) density in the shared unit-cube encoding, and proposes the candidate with the highest
ratio good-density / bad-density among candidates drawn from the good density.

Our internals (NNI's arguments keep their meaning):

* start-up: the first ``n_startup_jobs`` configurations (by default one more than the number of
  parameters, 5 to 10) come from a Latin hypercube over the prior (random, but evenly spread);
* multivariate by default: kernels are products over parameters, so correlated parameters are
  modelled jointly (``tpe_args={'multivariate': False}`` gives NNI's independent TPE);
* the good set is the best 10% (at the default ``gamma``), weighted by rank (1, 1/2, 1/3, ...);
* kernel bandwidths follow the spread of each set (half of Scott's rule, per dimension), floored
  so the model keeps exploring, and the prior is one more component of weight ``prior_weight``;
* discrete parameters keep exploring as the history grows: a plain choice's kernel spreads at
  least a quarter of its mass over the other options, a randint kernel is at least half a step wide;
* nested choices: a parameter inactive in an observation contributes its prior to that kernel;
* parallel asks: running configurations get a constant-liar loss (``constant_liar_type``; the
  default 'worst' counts them as bad, so a batch spreads out instead of piling onto one point),
  and each running one makes the pick less greedy (fewer candidates, see :meth:`TpeTuner.n_candidates`);
* several objectives (``set_objectives``): the good set is filled front by front (non-dominated
  ranks, the less crowded first) and weighted per front; under constraints infeasible results
  come after every feasible one (least violation first) and the score adds the log probability
  of feasibility, from densities of feasible and infeasible results;
* long histories: the bad density keeps at most 256 kernels (the newest trials and a reweighted
  random share of older ones), so an ask costs about the same at 300 trials as at 30,000.

State is the list of observations (live results, ``import_data`` and the engine's replay after a
resume), so a resumed tuner continues where it stopped without a checkpoint.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, cast

import numpy as np
from scipy.special import ndtr, ndtri

from ...objectives import crowding_distance, pareto_mask
from ...search_space.space import SearchSpace
from ...search_space.tuning import Observation, SearchSpaceTuner

__all__ = ["TpeTuner", "TpeArguments", "latin_hypercube"]

_logger = logging.getLogger(__name__)

_LOG_EPS = 1e-300
_MAX_BAD_COMPONENTS = 256
"""Kernels of the bad density at most (beyond that, a reweighted random subset; see _subsample)."""
_FLAT_CHOICE_EPS = 0.25
"""The least share of a plain choice's kernel spread over its other options (see TpeTuner._model)."""


LiarType = Literal["best", "worst", "mean"]


class TpeArguments(NamedTuple):
    """TPE's own knobs (NNI's ``tpe_args``); ``multivariate`` is this package's addition."""

    constant_liar_type: LiarType | None = "worst"
    n_startup_jobs: int | None = None
    """None: scaled to the space (see :meth:`TpeTuner.startup_size`)."""
    n_ei_candidates: int = 64
    """Optuna and NNI draw 24; 64 sharpens the pick at small budgets (benchmarks/tuners.py, BBOB)."""
    linear_forgetting: int = 25
    prior_weight: float = 1.0
    gamma: float = 0.25
    multivariate: bool = True


def _parse_args(tpe_args: dict[str, Any] | None) -> TpeArguments:
    args = dict(tpe_args or {})
    unknown = set(args) - set(TpeArguments._fields)
    if unknown:
        raise ValueError(f"tpe_args: unknown keys {sorted(unknown)} (valid: {', '.join(TpeArguments._fields)})")
    parsed = TpeArguments(**args)
    liar = parsed.constant_liar_type
    if isinstance(liar, str) and liar.lower() in ("none", "null"):
        parsed = parsed._replace(constant_liar_type=None)
    elif liar is not None and (not isinstance(liar, str) or liar.lower() not in ("best", "worst", "mean")):
        raise ValueError(f"tpe_args.constant_liar_type must be 'best', 'worst', 'mean' or None, got {liar!r}")
    elif liar is not None:
        parsed = parsed._replace(constant_liar_type=cast(LiarType, liar.lower()))  # checked just above
    for name in ("n_startup_jobs", "n_ei_candidates", "linear_forgetting"):
        value = getattr(parsed, name)
        if name == "n_startup_jobs" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "n_startup_jobs" else 1):
            raise ValueError(f"tpe_args.{name} must be a {'non-negative' if name == 'n_startup_jobs' else 'positive'} "
                             f"integer, got {value!r}")
    if not isinstance(parsed.prior_weight, (int, float)) or not parsed.prior_weight >= 0:
        raise ValueError(f"tpe_args.prior_weight must be >= 0, got {parsed.prior_weight!r}")
    if not isinstance(parsed.gamma, (int, float)) or not 0 < parsed.gamma <= 1:
        raise ValueError(f"tpe_args.gamma must be in (0, 1], got {parsed.gamma!r}")
    return parsed


class _Parzen:
    """A weighted product-kernel density over encoded vectors (numeric in [0, 1], categorical index).

    Component 0 is the prior (uniform over the encoding). NaN coordinates (inactive parameters)
    make that factor the prior as well. All kernels of one dimension share a bandwidth, so the
    squared distances of every candidate to every centre are one matrix product.
    """

    def __init__(self, space: SearchSpace, points: np.ndarray, weights: np.ndarray, prior_weight: float,
                 bandwidth: np.ndarray, cat_eps: np.ndarray, num_cols: np.ndarray, cat_cols: np.ndarray) -> None:
        self.space = space
        self.points = points
        self.has_prior = prior_weight > 0
        w = np.concatenate([[prior_weight], weights]) if self.has_prior else np.asarray(weights, dtype=float)
        self.w = w / w.sum()
        self.log_w = np.log(np.maximum(self.w, _LOG_EPS))
        self.num_cols, self.cat_cols = num_cols, cat_cols
        self.cat_eps = cat_eps
        mu = points[:, num_cols]
        self.mu = mu
        self.sigma = bandwidth[num_cols]
        active = ~np.isnan(mu)
        self.dense = bool(active.all())
        centre = mu if self.dense else np.where(active, mu, 0.0)
        scaled = centre / self.sigma
        # truncation mass of each kernel on [0, 1]; a NaN centre is the prior factor (log density 0)
        mass = ndtr((1 - centre) / self.sigma) - ndtr(-scaled)
        log_norm = np.log(np.maximum(mass, _LOG_EPS)) + (np.log(self.sigma) + 0.5 * math.log(2 * math.pi))
        scaled_sq = scaled * scaled
        self.scaled = scaled
        self.active = active.astype(float)
        self.scaled_sq = np.where(active, scaled_sq, 0.0)
        self.log_norm = np.where(active, log_norm, 0.0)
        # every candidate coordinate active and every centre too: the common case, one product
        self.dense_const = self.base_log_w() - 0.5 * self.scaled_sq.sum(axis=1) - self.log_norm.sum(axis=1)

    def base_log_w(self) -> np.ndarray:
        """Log weights of the data components (the prior's, if any, is ``log_w[0]``)."""
        return self.log_w[1:] if self.has_prior else self.log_w

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` vectors: pick a component, then each coordinate from its kernel factor."""
        space = self.space
        comp = rng.choice(len(self.w), size=n, p=self.w)
        out = space.sample_vectors(rng, n, mask=False)  # prior draws: the prior component, NaN centres
        point_idx = comp - 1 if self.has_prior else comp
        rows = np.flatnonzero(point_idx >= 0)
        if len(rows):
            src = point_idx[rows]
            if len(self.num_cols):
                centre = self.mu[src]
                drawn = _truncnorm(rng, centre, self.sigma)
                block = out[np.ix_(rows, self.num_cols)]
                out[np.ix_(rows, self.num_cols)] = np.where(np.isnan(centre), block, drawn)
            for col in self.cat_cols:
                centre = self.points[src, col]
                keep = ~np.isnan(centre) & (rng.random(len(rows)) >= self.cat_eps[col])
                out[rows[keep], col] = centre[keep]
        return space.mask_inactive(out)

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Log density of each row of ``x`` over its active coordinates."""
        n_cand = len(x)
        if len(self.points):
            xn = x[:, self.num_cols]
            x_active = ~np.isnan(xn)
            if self.dense and x_active.all():
                xs = xn / self.sigma
                total = self.dense_const[None, :] + xs @ self.scaled.T - 0.5 * (xs * xs).sum(axis=1)[:, None]
            else:
                xs = np.where(x_active, xn, 0.0) / self.sigma
                xa = x_active.astype(float)
                total = self.base_log_w()[None, :] - 0.5 * ((xs * xs) @ self.active.T - 2.0 * xs @ self.scaled.T
                                                            + xa @ self.scaled_sq.T) - xa @ self.log_norm.T
            for col in self.cat_cols:
                k = self.space.params[col].n_choices
                eps = self.cat_eps[col]
                xc, pc = x[:, col], self.points[:, col]
                factor = np.where(xc[:, None] == pc[None, :], math.log(1 - eps + eps / k), math.log(eps / k))
                factor[:, np.isnan(pc)] = -math.log(k)
                factor[np.isnan(xc), :] = 0.0
                total += factor
        else:
            total = np.zeros((n_cand, 0))
        if self.has_prior:
            prior = np.full(n_cand, self.log_w[0])
            for col in self.cat_cols:
                prior -= np.where(np.isnan(x[:, col]), 0.0, math.log(self.space.params[col].n_choices))
            total = np.concatenate([prior[:, None], total], axis=1)
        top = total.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(total - top).sum(axis=1, keepdims=True)))[:, 0]

def _front_mask(losses: np.ndarray) -> np.ndarray:
    """Which rows are non-dominated (as :func:`nni.objectives.pareto_mask`), vectorised for one or
    two objectives since an ask peels several fronts of up to thousands of results."""
    if losses.shape[1] == 1:
        return losses[:, 0] == losses[:, 0].min()
    if losses.shape[1] > 2:
        return pareto_mask(losses)
    order = np.lexsort((losses[:, 1], losses[:, 0]))
    first, second = losses[order, 0], losses[order, 1]
    best_before = np.minimum.accumulate(np.concatenate([[np.inf], second[:-1]]))
    strict = second < best_before
    # an exact duplicate shares the verdict of the first of its run
    repeat = np.concatenate([[False], (first[1:] == first[:-1]) & (second[1:] == second[:-1])])
    head = np.maximum.accumulate(np.where(repeat, 0, np.arange(len(order))))
    mask = np.empty(len(order), dtype=bool)
    mask[order] = strict[head]
    return mask


def _truncnorm(rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Samples of N(mu, sigma) truncated to [0, 1] (elementwise, broadcast), by inverting the CDF."""
    lo, hi = ndtr(-mu / sigma), ndtr((1 - mu) / sigma)
    u = lo + rng.random(mu.shape) * np.maximum(hi - lo, 1e-300)
    with np.errstate(invalid="ignore"):
        x = mu + sigma * ndtri(np.clip(u, 1e-300, 1 - 1e-16))
    return np.clip(x, 0.0, 1.0)


def latin_hypercube(rng: np.random.Generator, space: SearchSpace, n: int) -> np.ndarray:
    """``n`` encoded vectors, one per stratum in every dimension (categories spread evenly too)."""
    cube = (np.argsort(rng.random((space.dim, n)), axis=1).T + rng.random((n, space.dim))) / n
    for spec in space.params:
        if spec.is_categorical:
            cube[:, spec.index] = np.minimum(np.floor(cube[:, spec.index] * spec.n_choices), spec.n_choices - 1)
    return space.mask_inactive(cube)


class TpeTuner(SearchSpaceTuner):
    """NNI's ``TPE`` built-in: ``TpeTuner(optimize_mode='minimize', seed=None, tpe_args=None)``.

    ``tpe_args`` keys: ``constant_liar_type`` ('best' | 'worst' | 'mean' | None, default 'worst'),
    ``n_startup_jobs`` (None: see :meth:`startup_size`), ``n_ei_candidates`` (64),
    ``linear_forgetting`` (25), ``prior_weight`` (1.0), ``gamma`` (0.25) and ``multivariate``
    (True). Supports every search space type and nested choice, several objectives and constraints.
    """

    algorithm_name = "TPE"
    supports_objectives = True
    supports_constraints = True

    def __init__(self, optimize_mode: str = "minimize", seed: int | None = None,
                 tpe_args: dict[str, Any] | None = None) -> None:
        super().__init__(optimize_mode, seed)
        self.args = _parse_args(tpe_args)
        self._startup: np.ndarray | None = None
        self._startup_next = 0
        self._x = np.zeros((0, 0))
        self._y = np.zeros(0)
        self._losses = np.zeros((0, 1))
        self._violation = np.zeros(0)
        self._n = 0
        self._pending: dict[int, np.ndarray] = {}
        """Encodings of the running configurations (the liar's points), kept so an ask need not encode them."""
        self._order: tuple[int, np.ndarray, np.ndarray] | None = None
        """The last multi-objective order (how many places are exact, scores, tiers), until a new result."""
        _logger.info("TPE using random seed %d", self.seed)

    # -- observation arrays, kept incrementally so an ask does not rebuild them ---------------------

    def _on_space_updated(self) -> None:
        assert self.space is not None
        self._startup = None
        self._startup_next = 0
        self._x = np.zeros((max(64, 2 * len(self.observations)), self.space.dim))
        self._y = np.zeros(len(self._x))
        self._n = 0
        for obs in self.observations:
            self._append(obs)
        self._pending = {}
        for parameter_id, params in self.running.items():
            self._on_proposed(parameter_id, params)

    def _on_observed(self, obs: Observation) -> None:
        if obs.parameter_id is not None:
            self._pending.pop(obs.parameter_id, None)
        self._append(obs)

    def _on_proposed(self, parameter_id: int, params: dict[str, Any]) -> None:
        assert self.space is not None
        try:
            self._pending[parameter_id] = self.space.encode(params)
        except ValueError:  # a proposal from before a space update that no longer fits
            return

    def _on_abandoned(self, parameter_id: int) -> None:
        self._pending.pop(parameter_id, None)

    def _append(self, obs: Observation) -> None:
        if self._n == 0:  # every observation has as many losses as the spec has objectives
            self._losses = np.zeros((len(self._x), len(obs.losses)))
            self._violation = np.zeros(len(self._x))
        elif self._n == len(self._x):
            self._x, self._y, self._losses, self._violation = (
                np.concatenate([a, np.zeros_like(a)]) for a in (self._x, self._y, self._losses, self._violation))
        self._x[self._n] = obs.vector
        self._y[self._n] = obs.loss
        self._losses[self._n] = obs.losses
        self._violation[self._n] = obs.violation
        self._n += 1
        self._order = None

    # -- proposals ------------------------------------------------------------------------------

    def startup_size(self) -> int:
        """How many Latin-hypercube configurations come before the model (at least one: a model
        needs a result): ``n_startup_jobs`` when given, else one more than the number of
        parameters, from 5 to 10. Fewer than NNI's 20 lets the model start while budgets are small;
        each parameter wants about one start-up point before its kernel width means anything."""
        assert self.space is not None
        if self.args.n_startup_jobs is not None:
            return max(self.args.n_startup_jobs, 1)
        return min(max(self.space.dim + 1, 5), 10)

    def _suggest(self, parameter_id: int) -> dict[str, Any] | None:
        space = self.space
        assert space is not None
        n = self.startup_size()
        if self._n < n:
            if self._startup is None:
                self._startup = latin_hypercube(self.rng, space, n)
            if self._startup_next < n:
                self._startup_next += 1
                return space.decode(self._startup[self._startup_next - 1])
            return space.sample(self.rng)
        x, y, tiers = self._training_set()
        return space.decode(self._propose(space, x, y, tiers))

    def n_candidates(self) -> int:
        """Candidates drawn from the good density for the next pick: ``n_ei_candidates`` when nothing
        is running, divided by ``1 + 3k`` with ``k`` configurations running (at least 4, or
        ``n_ei_candidates`` when that is smaller).

        The best of many candidates sits on the good density's peak; while results are pending
        the model has not moved, so a greedy pick per proposal spends the batch near one spot.
        Picking from fewer candidates draws the batch from the good density itself. On BBOB
        (d = 2, 5, 10, 10 seeds, batches of 8) this cut the parallel loss against sequential at
        100 / 200 evaluations from 1.78 / 2.10 to 1.61 / 1.68 (benchmarks/tuners.py --concurrency).
        """
        n = self.args.n_ei_candidates
        return max(min(4, n), round(n / (1 + 3 * len(self._pending))))

    def _training_set(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Observed vectors and their scores (oldest first), plus running ones with the liar's score.

        The score is the loss with one objective and no constraints; otherwise it is the position in
        the multi-objective order (see :meth:`_ordered_scores`), with each point's tier returned too.
        """
        assert self.space is not None
        x = self._x[:self._n]
        y, tiers = self._ordered_scores() if self._multi_scores() else (self._y[:self._n], None)
        liar = self.args.constant_liar_type
        if liar is None or not self._pending:
            return x, y, tiers
        lie = {"best": y.min(), "worst": y.max(), "mean": y.mean()}[liar]
        extra = np.asarray(list(self._pending.values())).reshape(-1, self.space.dim)
        if tiers is not None:
            # a pending point shares the tier of the observed point whose place the lie takes
            lie_tier = tiers[np.argsort(y, kind="stable")[min(int(lie), len(y) - 1)]]
            tiers = np.concatenate([tiers, np.full(len(extra), lie_tier)])
        return np.vstack([x, extra]), np.concatenate([y, np.full(len(extra), lie)]), tiers

    def _multi_scores(self) -> bool:
        """Whether results are ranked by the multi-objective order (several objectives or constraints)."""
        spec = self.spec
        return spec.is_multi or bool(spec.constraints)

    def _ordered_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Each observation's place in the good-first order, and its tier, under several objectives
        or constraints.

        Feasible results come first, front by front (non-dominated ranks, MOTPE's split); within a
        front the less crowded come first, so the good set spreads along the front. Infeasible
        results follow, least violation first (so while nothing is feasible the model climbs
        towards feasibility). Only the first places that can enter the good set are ordered
        exactly; the rest keep a place after them, which is all the split and the liars need.
        """
        n = self._n
        wanted = self._n_good(n + len(self._pending)) + 1
        if self._order is not None and self._order[0] >= wanted:
            return self._order[1], self._order[2]
        losses, violation = self._losses[:n], self._violation[:n]
        order: list[np.ndarray] = []
        tier_of: list[np.ndarray] = []
        placed = 0
        remaining = np.flatnonzero(violation == 0)
        tier = 0
        while placed < wanted and len(remaining):
            front_mask = _front_mask(losses[remaining])
            front = remaining[front_mask]
            front = front[np.argsort(-crowding_distance(losses[front]), kind="stable")]
            order.append(front)
            tier_of.append(np.full(len(front), tier))
            placed += len(front)
            remaining = remaining[~front_mask]
            tier += 1
        infeasible = np.flatnonzero(violation > 0)
        infeasible = infeasible[np.argsort(violation[infeasible], kind="stable")]
        order += [remaining, infeasible]
        tier_of += [np.full(len(remaining), tier), tier + 1 + np.arange(len(infeasible))]
        ranked = np.concatenate(order)
        scores = np.empty(n)
        scores[ranked] = np.arange(n, dtype=float)
        tiers = np.empty(n)
        tiers[ranked] = np.concatenate(tier_of)
        self._order = (wanted, scores, tiers)
        return scores, tiers

    def _n_good(self, n: int) -> int:
        """Size of the good set: ``ceil(0.4 * gamma * n)`` (the best 10% at the default gamma 0.25),
        at most ``linear_forgetting``. A fixed fraction keeps the good density from collapsing onto
        two or three points, which NNI's ``gamma * sqrt(n)`` does around 100 trials."""
        return max(1, min(math.ceil(0.4 * self.args.gamma * n), self.args.linear_forgetting))

    def _weights(self, n: int) -> np.ndarray:
        """NNI's linear forgetting for ``n`` trials oldest first: beyond the newest
        ``linear_forgetting``, weights ramp down to 1/n."""
        lf = self.args.linear_forgetting
        if n <= lf:
            return np.ones(n)
        return np.concatenate([np.linspace(1.0 / n, 1.0, n - lf), np.ones(lf)])

    def _bandwidth(self, points: np.ndarray, n_numeric: int) -> np.ndarray:
        """Per-dimension kernel width: the set's spread times half of Scott's factor, floored.

        TPE only needs the density ratio's peak, and narrow kernels around the good set exploit it
        sooner; the floor (0.3 / (n + 1), shrinking with the set's size) keeps some exploration.
        A floor of 0.5 / (n + 1) kept the first model-based proposals too wide: on BBOB it trailed
        Optuna's TPE at 25 and 50 evaluations.
        """
        n = max(len(points), 1)
        if n > 1:
            nan = np.isnan(points)
            if nan.any():
                count = (~nan).sum(axis=0)
                filled = np.where(nan, 0.0, points)
                mean = filled.sum(axis=0) / np.maximum(count, 1)
                var = (np.where(nan, 0.0, points - mean) ** 2).sum(axis=0) / np.maximum(count, 1)
                spread = np.where(count > 1, np.sqrt(var), 0.5)
            else:
                spread = points.std(axis=0)
        else:
            spread = np.full(points.shape[1], 0.5)
        width = spread * (0.5 * n ** (-1.0 / (max(n_numeric, 1) + 4)))
        return np.clip(width, 0.3 / min(100.0, n + 1.0), 1.0)

    def _model(self, space: SearchSpace, points: np.ndarray, weights: np.ndarray) -> _Parzen:
        """The Parzen density of ``points``, with the discrete parameters kept from collapsing.

        A choice's kernel moves ``1 / (n + 1)`` of its mass to the other options, but at least
        _FLAT_CHOICE_EPS for a choice of plain values: as the set grew, a shrinking share locked
        the model onto the first good option and the run stalled (our TPE trailed Optuna's by
        1.2-1.7x on the ML tasks at 100-200 evaluations). A nested choice keeps the shrinking
        share, since switching its option abandons the sub-space learnt so far. A randint kernel
        is at least half an integer wide, so the neighbouring values stay within reach.
        """
        params = space.params
        numeric = np.array([not p.is_categorical for p in params], dtype=bool)
        share = min(0.5, 1.0 / (len(points) + 1))
        cat_eps = np.array([0.0 if not p.is_categorical else share if p.is_nested_choice
                            else max(share, _FLAT_CHOICE_EPS) for p in params])
        half_cell = np.array([0.5 / max(p.high - p.low, 1.0) if p.integer else 0.0 for p in params])
        return _Parzen(space, points, weights, self.args.prior_weight,
                       np.maximum(self._bandwidth(points, int(numeric.sum())), half_cell), cat_eps,
                       np.flatnonzero(numeric), np.flatnonzero(~numeric))

    def _propose(self, space: SearchSpace, x: np.ndarray, y: np.ndarray, tiers: np.ndarray | None) -> np.ndarray:
        good, bad = self._split(y)
        # rank weights (1, 1/2, 1/3, ...): the best trials shape the good density most; with several
        # objectives one weight per front, so the good density covers the whole front
        good_weights = 1.0 / np.arange(1.0, len(good) + 1.0) if tiers is None else 1.0 / (1.0 + tiers[good])
        below = self._model(space, x[good], good_weights)
        bad_weights = self._weights(len(bad))
        if len(bad) > max(_MAX_BAD_COMPONENTS, 2 * self.args.linear_forgetting):
            bad, bad_weights = self._subsample(bad, bad_weights)
        above = self._model(space, x[bad], bad_weights)
        cand = below.sample(self.rng, self.n_candidates())
        feasibility = self._feasibility(space)

        def score_of(points: np.ndarray) -> np.ndarray:
            score = below.log_pdf(points) - above.log_pdf(points)
            return score if feasibility is None else score + feasibility(points)

        if not self.args.multivariate:
            return self._pick_independent(space, cand, score_of)
        score = score_of(cand)
        return cand[int(np.argmax(score))]

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Good indices best first (ties: older first), and bad indices oldest first, in O(n)."""
        n_good = self._n_good(len(y))
        threshold = np.partition(y, n_good - 1)[n_good - 1]
        near = np.flatnonzero(y <= threshold)
        good = near[np.argsort(y[near], kind="stable")[:n_good]]
        is_bad = np.ones(len(y), dtype=bool)
        is_bad[good] = False
        return good, np.flatnonzero(is_bad)

    def _subsample(self, bad: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """At most _MAX_BAD_COMPONENTS (or 2 x linear_forgetting) kernels for the bad density: the newest ``linear_forgetting``
        trials and a random share of the older ones, reweighted so the total is unchanged. The
        estimate stays unbiased and an ask stays fast however long the history grows."""
        lf = self.args.linear_forgetting
        limit = max(_MAX_BAD_COMPONENTS, 2 * lf)
        take = self.rng.choice(len(bad) - lf, size=limit - lf, replace=False)
        scaled = weights[take] * (weights[:-lf].sum() / weights[take].sum())
        return np.concatenate([bad[take], bad[-lf:]]), np.concatenate([scaled, weights[-lf:]])

    def _feasibility(self, space: SearchSpace) -> Callable[[np.ndarray], np.ndarray] | None:
        """Under constraints, the log probability that a candidate is feasible, from densities of
        the feasible and of the infeasible results (c-TPE's idea, as constrained EI weights it).

        Added to the log density ratio, it steers candidates off where constraints failed while
        costing nothing well inside the feasible region. None while every result (or none) is feasible.
        """
        if not self.spec.constraints:
            return None
        feasible = self._violation[:self._n] == 0
        n_ok, n_fail = int(feasible.sum()), int((~feasible).sum())
        if not n_ok or not n_fail:
            return None
        x = self._x[:self._n]
        ok = self._model(space, x[feasible], np.ones(n_ok))
        fail = self._model(space, x[~feasible], np.ones(n_fail))
        odds = math.log(n_fail / n_ok)
        return lambda points: -np.logaddexp(0.0, odds + fail.log_pdf(points) - ok.log_pdf(points))

    def _pick_independent(self, space: SearchSpace, cand: np.ndarray,
                          score_of: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """NNI's univariate TPE: each parameter takes its own best candidate value."""
        chosen = np.full(space.dim, np.nan)
        for spec in space.params:
            column = cand[:, spec.index]
            valid = ~np.isnan(column)
            if not valid.any():
                chosen[spec.index] = space.sample_vector(self.rng)[spec.index]
                continue
            probe = np.full((int(valid.sum()), space.dim), np.nan)
            probe[:, spec.index] = column[valid]
            score = score_of(probe)
            chosen[spec.index] = column[valid][int(np.argmax(score))]
        return space.mask_inactive(chosen[None, :])[0]
