"""Bayesian optimisation on the shared encoding: observations, a fitted GP, and acquisition search
by random and local candidates followed by gradient refinement. Used by GPTuner and MetisTuner.

Constraint violations, when some observation has one, get a GP of their own: the acquisition is
then multiplied by the probability of feasibility (added in log space), and before any feasible
point is known that probability alone is maximised."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc

from ...search_space import SearchSpace
from ._gp_model import GaussianProcess, GPInputs, acquisition_values, transform_targets
from ._hypervolume import log_ehvi_2d, staircase

__all__ = ["BayesianOptimizer", "AcquisitionFn"]

_logger = logging.getLogger(__name__)

AcquisitionFn = Callable[[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None],
                         tuple[np.ndarray, np.ndarray | None]]
"""(mean, std, d_mean, d_std) -> (value to maximise, gradient or None)."""

_MODEL_POINTS = 300
"""Beyond this many observations the posterior uses a subset: the best third and a random rest."""
_LARGE_CANDIDATES = 2048
"""Candidates scored per ask at most once the model is that large: each costs O(points^2)."""
_FIT_POINTS = 200
_MAX_GRID = 1000
"""Discrete parameters with more values than this are searched as continuous ones and rounded."""
_EXHAUSTIVE = 32
"""Discrete parameters with at most this many values are tried exhaustively during refinement."""
"""Hyperparameters are fitted on at most this many observations (chosen the same way)."""


class BayesianOptimizer:
    """Keeps encoded observations (losses: lower is better) and proposes new encoded vectors."""

    def __init__(self, space: SearchSpace, rng: np.random.Generator, nu: float = 2.5, alpha: float = 1e-6,
                 n_candidates: int = 2048, n_refine: int = 3) -> None:
        self.space = space
        self.rng = rng
        self.numeric = [p.index for p in space.params if not p.is_categorical]
        self.categorical = [p.index for p in space.params if p.is_categorical]
        # numeric parameters with a finite set of values (randint, q-uniform types): searched on
        # their grid, as encoded values, instead of by gradient
        self.discrete: dict[int, np.ndarray] = {}
        for spec in space.params:
            grid = None if spec.is_categorical else spec.grid
            if grid is not None and len(grid) <= _MAX_GRID:
                self.discrete[spec.index] = np.unique([spec.to_unit(v) for v in grid])
        self.continuous = [i for i in self.numeric if i not in self.discrete]
        self.gp = GaussianProcess(self.numeric, self.categorical,
                                  [space.params[i].n_choices or 1 for i in self.categorical],
                                  min_noise=alpha, nu=nu)
        self.n_candidates = max(int(n_candidates), 16)
        self.n_refine = max(int(n_refine), 0)
        self.vectors: list[np.ndarray] = []
        self.losses: list[float] = []
        self.violations: list[float] = []
        self.objective_losses: list[tuple[float, ...]] = []
        """Every objective's loss per observation (one entry when there is one objective)."""
        self.targets = np.zeros(0)
        """The losses the model was last fitted to (``losses``, or a scalarisation of several)."""
        self._feasibility_gp = GaussianProcess(self.numeric, self.categorical,
                                               [space.params[i].n_choices or 1 for i in self.categorical],
                                               min_noise=alpha, nu=nu)
        self.feasibility: GaussianProcess | None = None
        """The violation model, fitted only once some observation is infeasible."""
        self._feasible_threshold = 0.0
        self._any_feasible = True
        self._fitted_count = -1
        self._fits = 0
        self._fitted_y = np.zeros(0)
        self._fitted_targets = np.zeros(0)
        self._fitted_pessimism = 0.0
        self._fitted_pending: list[np.ndarray] = []
        """What the model was last conditioned on: transformed targets, raw targets, pessimism, pending."""
        self._rows = np.zeros(0, dtype=int)
        self._objective_gps: list[GaussianProcess] = []
        self._objective_counts: list[int] = []
        self._objective_scale = np.zeros((2, 0))
        """Per objective: the offset and spread mapping the objective GPs' outputs to normalised losses."""
        self._use_objectives = False
        """Whether acquisitions see the objective GPs' stacked predictions (set by :meth:`fit_objectives`)."""
        self._design = qmc.Sobol(d=max(space.dim, 1), scramble=True, seed=rng)

    # -- data ------------------------------------------------------------------------------------

    def observe(self, vector: np.ndarray, loss: float, violation: float = 0.0,
                losses: tuple[float, ...] = ()) -> None:
        self.vectors.append(np.asarray(vector, dtype=float))
        self.losses.append(float(loss))
        self.violations.append(float(violation))
        self.objective_losses.append(tuple(losses) or (float(loss),))

    def __len__(self) -> int:
        return len(self.vectors)

    # -- sampling ----------------------------------------------------------------------------------

    def _from_unit(self, unit: np.ndarray) -> np.ndarray:
        """Unit-cube points to encoded vectors: categorical columns become option indices."""
        out = unit[:, :self.space.dim].copy()
        for index in self.categorical:
            size = self.space.params[index].n_choices or 1
            out[:, index] = np.minimum(np.floor(out[:, index] * size), size - 1)
        return self.space.mask_inactive(out)

    def design_points(self, n: int) -> np.ndarray:
        """The next ``n`` points of the initial design, one scrambled Sobol sequence drawn in order
        so that the first points of an experiment cover the space evenly."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol balance warnings for non powers of two
            return self._from_unit(self._design.random(n))

    def space_filling(self, n: int) -> np.ndarray:
        """``n`` points of a freshly scrambled Sobol sequence, as encoded vectors."""
        sobol = qmc.Sobol(d=max(self.space.dim, 1), scramble=True, seed=self.rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._from_unit(sobol.random(n))

    def _repair(self, vectors: np.ndarray) -> np.ndarray:
        """Fill active columns left NaN (a parent choice changed) at random, NaN the inactive ones."""
        random = self.rng.random(vectors.shape)
        for index in self.categorical:
            size = self.space.params[index].n_choices or 1
            random[:, index] = np.minimum(np.floor(random[:, index] * size), size - 1)
        return self.space.mask_inactive(np.where(np.isnan(vectors), random, vectors))

    # -- model -------------------------------------------------------------------------------------

    @staticmethod
    def _order(targets: np.ndarray, violations: np.ndarray) -> np.ndarray:
        """Observations best first: feasible ones by target, then infeasible ones by violation."""
        return np.lexsort((targets, violations))

    def _subset(self, order: np.ndarray, limit: int) -> np.ndarray:
        n = len(order)
        if n <= limit:
            return np.arange(n)
        best = order[:limit // 3]
        rest = self.rng.choice(order[limit // 3:], size=limit - len(best), replace=False)
        return np.sort(np.concatenate([best, rest]))

    def fit(self, pending: list[np.ndarray] | None = None, targets: np.ndarray | None = None,
            pessimism: float = 0.0) -> np.ndarray:
        """Fit the GP to the observations' losses, or to ``targets`` in their place (hyperparameters
        refitted when new data arrived), the violation GP when some are infeasible, and condition
        the first on pending points believed at their predicted mean plus ``pessimism`` standard
        deviations (0: the kriging believer).

        When only pending points were added since the last call, the model is kept and conditioned
        on the new ones alone: a batch of asks costs one fit, not one per ask.

        Returns the transformed targets of the observations used.
        """
        losses = np.array(self.losses if targets is None else targets, dtype=float)
        if pending and self._extends_last_fit(losses, pending, pessimism):
            self._condition_on_pending(pending[len(self._fitted_pending):], pessimism)
            self._fitted_pending = list(pending)
            return self._fitted_y
        violations = np.array(self.violations)
        self.targets = losses
        self._use_objectives = False
        rows = self._subset(self._order(losses, violations), _MODEL_POINTS)
        self._rows = rows
        x = self.gp.inputs(np.array(self.vectors)[rows])
        y = transform_targets(losses[rows])
        n = len(self.losses)
        # hyperparameters move little once there is much data: refit every ~5% new results then
        refit = self._fitted_count < 0 or (n != self._fitted_count and (n <= 100 or n - self._fitted_count >= n // 20))
        fit_rows = self._subset(self._order(y, violations[rows]), _FIT_POINTS)
        if refit:
            self._fits += 1
            self.gp.fit_hyperparameters(x.subset(fit_rows), y[fit_rows],
                                        max_iter=200 if len(fit_rows) < _FIT_POINTS else 50,
                                        restart=n < 30 or self._fits % 10 == 0)
            self._fitted_count = n
        self.gp.set_data(x, y)
        feasible = violations[rows] <= 0
        self._any_feasible = bool(feasible.any())
        means = self.gp.train_mean()
        self._incumbent = float(np.min(means[feasible] if self._any_feasible else means))
        self._fit_feasibility(x, violations[rows], fit_rows, refit)
        self._fitted_y, self._fitted_targets, self._fitted_pessimism = y, losses, pessimism
        self._fitted_pending = list(pending or [])
        if pending:
            self._condition_on_pending(pending, pessimism)
        return y

    def _extends_last_fit(self, losses: np.ndarray, pending: list[np.ndarray], pessimism: float) -> bool:
        """Whether the model last fitted saw these observations and targets, and pending points
        that begin the list ``pending`` (configurations are handed out and pend in order)."""
        done = self._fitted_pending
        return (len(self._fitted_targets) == len(losses) == len(self.losses)
                and pessimism == self._fitted_pessimism and len(done) <= len(pending)
                and np.array_equal(self._fitted_targets, losses, equal_nan=True)
                and all(np.array_equal(a, b, equal_nan=True) for a, b in zip(done, pending[:len(done)], strict=True)))

    def _condition_on_pending(self, pending: list[np.ndarray], pessimism: float) -> None:
        if not pending:
            return
        fake = self.gp.inputs(np.array(pending))
        mean, std = self.gp.predict(fake)
        self.gp.add_data(fake, mean + pessimism * std)

    def _fit_feasibility(self, x: GPInputs, violations: np.ndarray, fit_rows: np.ndarray, refit: bool) -> None:
        """Model log(1 + violation / typical violation), standardised; feasible means below the
        midpoint between 0 and the least positive value."""
        positive = violations[violations > 0]
        if not len(positive):
            self.feasibility = None
            return
        c = np.log1p(violations / float(np.median(positive)))
        threshold = 0.5 * float(c[c > 0].min())
        mean, spread = float(c.mean()), max(float(c.std()), 1e-12)
        z = (c - mean) / spread
        gp = self._feasibility_gp
        if refit or self.feasibility is None:
            gp.fit_hyperparameters(x.subset(fit_rows), z[fit_rows], max_iter=100, restart=len(z) < 30)
        gp.set_data(x, z)
        self.feasibility = gp
        self._feasible_threshold = (threshold - mean) / spread

    def normalised_objectives(self) -> np.ndarray:
        """Every objective's losses (n, m) scaled to [0, 1] over the observations; non-finite
        ones (failed trials) count as the worst."""
        losses = np.array(self.objective_losses, dtype=float)
        finite = np.isfinite(losses)
        low = np.min(np.where(finite, losses, np.inf), axis=0)
        high = np.max(np.where(finite, losses, -np.inf), axis=0)
        low, high = np.where(np.isfinite(low), low, 0.0), np.where(np.isfinite(high), high, 1.0)
        return (np.where(finite, losses, high) - low) / np.where(high > low, high - low, 1.0)

    def fit_objectives(self, pending: list[np.ndarray] | None = None) -> np.ndarray:
        """Fit one GP per objective to the normalised losses (linearly standardised, so that
        their predictions keep the geometry of the front) on the rows :meth:`fit` used; call
        :meth:`fit` first. Acquisitions then get stacked (n, m) means and standard deviations
        and (n, m, d) derivatives. Returns the predicted normalised losses of ``pending``."""
        scaled = self.normalised_objectives()
        rows = self._rows
        x = self.gp.inputs(np.array(self.vectors)[rows])
        n, m = len(self.vectors), scaled.shape[1]
        while len(self._objective_gps) < m:
            self._objective_gps.append(GaussianProcess(self.numeric, self.categorical,
                                                       [self.space.params[i].n_choices or 1 for i in self.categorical],
                                                       min_noise=self.gp.min_noise, nu=self.gp.nu))
            self._objective_counts.append(-1)
        offsets, spreads = np.zeros(m), np.ones(m)
        for k in range(m):
            y = scaled[rows, k]
            offsets[k], spreads[k] = float(y.mean()), max(float(y.std()), 1e-9)
            z = (y - offsets[k]) / spreads[k]
            gp, fitted = self._objective_gps[k], self._objective_counts[k]
            if fitted < 0 or (n != fitted and (n <= 100 or n - fitted >= n // 20)):
                fit_rows = self._subset(np.argsort(z, kind="stable"), _FIT_POINTS)
                gp.fit_hyperparameters(x.subset(fit_rows), z[fit_rows],
                                       max_iter=200 if len(fit_rows) < _FIT_POINTS else 50, restart=n < 30)
                self._objective_counts[k] = n
            gp.set_data(x, z)
        self._objective_scale = np.vstack([offsets, spreads])
        self._use_objectives = True
        if not pending:
            return np.zeros((0, m))
        return self._predict_objectives(self.gp.inputs(np.array(pending)), gradient=False)[0]

    def _predict_objectives(self, inputs: GPInputs, gradient: bool
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        offsets, spreads = self._objective_scale
        m = len(offsets)
        gps = self._objective_gps[:m]
        if not gradient:
            pairs = [gp.predict(inputs) for gp in gps]
            mean = np.stack([p[0] for p in pairs], axis=1) * spreads + offsets
            return mean, np.stack([p[1] for p in pairs], axis=1) * spreads, None, None
        parts = [gp.predict(inputs, gradient=True) for gp in gps]
        mean = np.stack([p[0] for p in parts], axis=1) * spreads + offsets
        std = np.stack([p[1] for p in parts], axis=1) * spreads
        d_mean = np.stack([p[2] for p in parts], axis=1) * spreads[None, :, None]
        d_std = np.stack([p[3] for p in parts], axis=1) * spreads[None, :, None]
        return mean, std, d_mean, d_std

    def ehvi_acquisition(self, pending: list[np.ndarray] | None = None) -> AcquisitionFn:
        """log expected hypervolume improvement over the feasible front of two objectives, pending
        points joining that front at their predicted losses; fits the objective GPs."""
        believed = self.fit_objectives(pending)
        scaled = self.normalised_objectives()
        feasible = np.array(self.violations) <= 0
        front = np.vstack([scaled[feasible], believed]) if len(believed) else scaled[feasible]
        cells = staircase(front, np.full(2, 1.1))

        def function(mean: np.ndarray, std: np.ndarray, d_mean: np.ndarray | None,
                     d_std: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
            return log_ehvi_2d(mean, std, cells, d_mean, d_std)
        return function

    def _score(self, acquisition: AcquisitionFn, inputs: GPInputs, gradient: bool
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Acquisition values (and input gradients) with the log probability of feasibility added;
        that probability alone while no observation is feasible."""
        if self._use_objectives:
            value, grad = acquisition(*self._predict_objectives(inputs, gradient))
        elif gradient:
            value, grad = acquisition(*self.gp.predict(inputs, gradient=True))
        else:
            value, grad = acquisition(*self.gp.predict(inputs), None, None)
        if self.feasibility is None:
            return value, grad
        if gradient:
            mean, std, d_mean, d_std = self.feasibility.predict(inputs, gradient=True)
        else:
            (mean, std), d_mean, d_std = self.feasibility.predict(inputs), None, None
        log_pof, pof_grad = acquisition_values("poi", mean, std, self._feasible_threshold, 0.0, 0.0, d_mean, d_std)
        if not self._any_feasible:
            return log_pof, pof_grad
        if grad is not None and pof_grad is not None:
            grad = grad + pof_grad
        return value + log_pof, grad

    @property
    def incumbent(self) -> float:
        """Lowest posterior mean at an observed point (transformed scale)."""
        return self._incumbent

    # -- acquisition search ------------------------------------------------------------------------

    def standard_acquisition(self, utility: str, kappa: float, xi: float) -> AcquisitionFn:
        def function(mean: np.ndarray, std: np.ndarray, d_mean: np.ndarray | None,
                     d_std: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
            return acquisition_values(utility, mean, std, self.incumbent, kappa, xi, d_mean, d_std)
        return function

    def _local_candidates(self, n: int) -> np.ndarray:
        """Perturbations of the best observations, scaled by the fitted lengthscales."""
        top = self._best_rows()[:5]
        base = np.array(self.vectors)[self.rng.choice(top, size=n)]
        out = base.copy()
        if self.numeric:
            lengths = np.exp(self.gp.theta[:len(self.numeric)])
            relative = lengths / math.exp(np.mean(np.log(lengths)))
            scale = self.rng.choice([0.2, 0.05, 0.01], size=(n, 1)) * np.clip(relative, 0.1, 10.0)
            dims = len(self.numeric)
            mask = self.rng.random((n, dims)) < min(1.0, max(0.2, 3.0 / dims))
            mask[np.arange(n), self.rng.integers(dims, size=n)] = True
            step = self.rng.normal(size=(n, dims)) * scale * mask
            cols = np.array(self.numeric)
            out[:, cols] = np.clip(out[:, cols] + step, 0.0, 1.0)
        if self.categorical:
            flip = self.rng.random((n, len(self.categorical))) < 1.0 / (len(self.categorical) + 1)
            random = self.space.sample_vectors(self.rng, n)[:, self.categorical]
            random = np.where(np.isnan(random), 0, random)
            cols = np.array(self.categorical)
            out[:, cols] = np.where(flip, random, out[:, cols])
            # children of a changed choice get fresh values when they become active
            for spec in self.space.params:
                if spec.condition is not None:
                    parent, _ = spec.condition
                    changed = flip[:, self.categorical.index(parent)]
                    out[changed, spec.index] = np.nan
        return self._repair(out)

    def _best_rows(self) -> np.ndarray:
        """Observation indices, best first under the targets last fitted (the losses before any fit)."""
        targets = self.targets if len(self.targets) == len(self.losses) else np.array(self.losses)
        return self._order(targets, np.array(self.violations))

    def _evaluate(self, acquisition: AcquisitionFn, vectors: np.ndarray) -> np.ndarray:
        values = np.empty(len(vectors))
        for start in range(0, len(vectors), 1024):
            chunk = self.gp.inputs(vectors[start:start + 1024])
            values[start:start + 1024] = self._score(acquisition, chunk, gradient=False)[0]
        return values

    def _gradient_step(self, acquisition: AcquisitionFn, vector: np.ndarray, value: float
                       ) -> tuple[np.ndarray, float]:
        """L-BFGS-B ascent over the active numeric columns, preconditioned by the lengthscales."""
        columns = [i for i, c in enumerate(self.numeric) if c not in self.discrete and not np.isnan(vector[c])]
        if not columns:
            return vector, value
        base = self.gp.inputs(vector[None, :])
        encoded = np.array(self.numeric)[columns]
        scale = np.exp(self.gp.theta[columns])

        def negative(z: np.ndarray) -> tuple[float, np.ndarray]:
            numeric = base.numeric.copy()
            numeric[0, columns] = z * scale
            result, grad = self._score(acquisition, GPInputs(numeric, base.categorical), gradient=True)
            assert grad is not None
            return -float(result[0]), -grad[0, columns] * scale

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = minimize(negative, vector[encoded] / scale, jac=True, method="L-BFGS-B",
                              bounds=[(0.0, 1.0 / s) for s in scale], options={"maxiter": 100, "gtol": 1e-4})
        if np.all(np.isfinite(result.x)) and np.isfinite(result.fun) and -result.fun > value:
            out = vector.copy()
            out[encoded] = np.clip(result.x * scale, 0.0, 1.0)
            return out, float(-result.fun)
        return vector, value

    def snap(self, vectors: np.ndarray) -> np.ndarray:
        """Move discrete numeric columns to their nearest grid value (in place) and return them."""
        for column, grid in self.discrete.items():
            values = vectors[:, column]
            active = ~np.isnan(values)
            position = np.clip(np.searchsorted(grid, values[active]), 1, max(len(grid) - 1, 1))
            lower = grid[np.maximum(position - 1, 0)]
            upper = grid[np.minimum(position, len(grid) - 1)]
            values[active] = np.where(np.abs(values[active] - lower) <= np.abs(upper - values[active]), lower, upper)
            vectors[:, column] = values
        return vectors

    def _discrete_step(self, acquisition: AcquisitionFn, vector: np.ndarray, value: float
                       ) -> tuple[np.ndarray, float]:
        """Try the options of each active choice and grid values of each discrete number in turn."""
        for index in self.categorical + list(self.discrete):
            if np.isnan(vector[index]):
                continue
            if index in self.discrete:
                grid = self.discrete[index]
                if len(grid) > _EXHAUSTIVE:
                    here = int(np.argmin(np.abs(grid - vector[index])))
                    grid = grid[max(here - 4, 0):here + 5]
                options = grid
            else:
                options = np.arange(self.space.params[index].n_choices or 1, dtype=float)
            if len(options) < 2:
                continue
            trials = np.repeat(vector[None, :], len(options), axis=0)
            trials[:, index] = options
            if index in self.categorical:
                trials = self.snap(self._repair(self.space.mask_inactive(trials)))
            values = self._evaluate(acquisition, trials)
            best = int(np.argmax(values))
            if values[best] > value:
                vector, value = trials[best], float(values[best])
        return vector, value

    def _refine(self, acquisition: AcquisitionFn, vector: np.ndarray, value: float) -> tuple[np.ndarray, float]:
        for _ in range(2):
            before = value
            vector, value = self._gradient_step(acquisition, vector, value)
            if self.categorical or self.discrete:
                vector, value = self._discrete_step(acquisition, vector, value)
            if value <= before + 1e-9 * abs(before):
                break
        return vector, value

    def maximize(self, acquisition: AcquisitionFn, n_candidates: int | None = None,
                 n_refine: int | None = None) -> list[np.ndarray]:
        """Encoded vectors ordered from the best acquisition value down.

        Candidates: a Sobol sample and perturbations of the best observations; the best of them,
        others drawn with probability rising with their value, and the best observation are then
        refined by gradient ascent and exhaustive choice moves (none with ``n_refine`` 0).
        """
        total = n_candidates or self.n_candidates
        if len(self.vectors) > _MODEL_POINTS // 2:
            total = min(total, _LARGE_CANDIDATES)
        n_local = total // 4 if self.vectors else 0
        pool = self.snap(np.vstack([self.space_filling(total - n_local)]
                                   + ([self._local_candidates(n_local)] if n_local else [])))
        values = self._evaluate(acquisition, pool)
        order = np.argsort(-values, kind="stable")
        refine = self.n_refine if n_refine is None else n_refine
        if refine == 0:
            return [pool[i] for i in order[:64]]
        best = int(np.argmax(values))
        starts = [best]
        if len(self.vectors) > _MODEL_POINTS // 2:
            refine = min(refine, 4)  # each refinement step costs O(n^2) with a large history
        finite = np.isfinite(values)
        if refine > 1 and finite.sum() > 1:
            weights = np.where(finite, np.exp(np.minimum(values - values[best], 0.0)), 0.0)
            weights[best] = 0.0
            count = min(refine - 1, int(np.count_nonzero(weights)))
            if count:
                starts += list(self.rng.choice(len(pool), size=count, replace=False, p=weights / weights.sum()))
        refined = [self._refine(acquisition, pool[i], float(values[i])) for i in starts]
        if self.vectors:
            incumbent = self.vectors[int(self._best_rows()[0])]
            refined.append(self._refine(acquisition, incumbent,
                                        float(self._evaluate(acquisition, incumbent[None, :])[0])))
        refined.sort(key=lambda item: -item[1])
        return [vector for vector, _ in refined] + [pool[i] for i in order[:64]]
