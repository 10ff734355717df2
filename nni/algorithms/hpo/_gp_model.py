"""Gaussian-process regression shared by the GP and Metis tuners.

Inputs are the search-space module's encoded vectors: numeric columns in [0, 1] (log scale and
normal CDF already applied by the encoding), categorical columns as option indices, NaN for
inactive conditional parameters. The kernel is Matern 5/2 with one lengthscale per column; a
categorical column contributes a Hamming distance. Hyperparameters maximise the marginal
likelihood under a dimension-scaled lengthscale prior (Hvarfner et al., 2024), which keeps plain
GP-based optimisation effective in ten and more dimensions.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.optimize import minimize
from scipy.special import erfcx, log_ndtr, ndtr

__all__ = ["SUPPORTED_NU", "GaussianProcess", "GPInputs", "transform_targets", "log_expected_improvement",
           "acquisition_values"]

_SQRT3 = math.sqrt(3.0)
_SQRT5 = math.sqrt(5.0)
SUPPORTED_NU = (0.5, 1.5, 2.5, math.inf)
PRIOR = "unit"
_INACTIVE_FILL = 0.5
"""Numeric value given to an inactive conditional column: all inactive points share it."""


@dataclass
class GPInputs:
    """Encoded vectors split into the numeric and categorical parts the kernel uses."""

    numeric: np.ndarray
    """(n, d_num) floats; inactive entries replaced by the neutral fill."""
    categorical: np.ndarray
    """(n, d_cat) ints; inactive entries are -1, a category of their own."""

    def __len__(self) -> int:
        return len(self.numeric)

    def subset(self, rows: np.ndarray | list[int]) -> GPInputs:
        return GPInputs(self.numeric[rows], self.categorical[rows])

    def append(self, other: GPInputs) -> GPInputs:
        return GPInputs(np.vstack([self.numeric, other.numeric]), np.vstack([self.categorical, other.categorical]))


class GaussianProcess:
    """Matern ARD Gaussian process (smoothness ``nu``) with zero mean on standardised targets."""

    def __init__(self, numeric_columns: list[int], categorical_columns: list[int], n_choices: list[int],
                 min_noise: float = 1e-6, nu: float = 2.5) -> None:
        if nu not in SUPPORTED_NU:
            raise ValueError(f"GP: nu must be one of 0.5, 1.5, 2.5 or inf (Matern smoothness), got {nu!r}")
        self.nu = float(nu)
        self.numeric_columns = numeric_columns
        self.categorical_columns = categorical_columns
        self.n_choices = n_choices
        self.min_noise = max(float(min_noise), 1e-10)
        dim = max(len(numeric_columns) + len(categorical_columns), 1)
        self._prior_mean = math.sqrt(2.0) + 0.5 * math.log(dim)
        self._prior_std = math.sqrt(3.0)
        # log lengthscales..., log signal variance, log noise variance
        self.theta = self._default_theta(len(numeric_columns) + len(categorical_columns))
        self._train: GPInputs | None = None
        self._y: np.ndarray | None = None
        self._alpha: np.ndarray | None = None
        self._chol: np.ndarray | None = None
        self._k_inv: np.ndarray | None = None
        self._train_scaled: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # -- inputs ------------------------------------------------------------------------------------

    def inputs(self, vectors: np.ndarray) -> GPInputs:
        """Split encoded vectors (n, dim) into kernel inputs."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=float))
        numeric = vectors[:, self.numeric_columns]
        numeric = np.where(np.isnan(numeric), _INACTIVE_FILL, numeric)
        categorical = vectors[:, self.categorical_columns]
        categorical = np.where(np.isnan(categorical), -1, np.round(categorical)).astype(int)
        return GPInputs(numeric, categorical)

    # -- kernel ------------------------------------------------------------------------------------

    @property
    def _num_dims(self) -> int:
        return len(self.numeric_columns)

    def _weights(self, theta: np.ndarray) -> np.ndarray:
        return np.exp(-2.0 * theta[:-2])

    def _one_hot(self, categorical: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Scaled one-hot columns: dot products count matching categories, weighted."""
        blocks = []
        for column, size in enumerate(self.n_choices):
            values = categorical[:, column]
            block = np.zeros((len(values), size + 1))
            block[np.arange(len(values)), values + 1] = math.sqrt(weights[column])
            blocks.append(block)
        return np.hstack(blocks) if blocks else np.zeros((len(categorical), 0))

    def _scaled(self, a: GPInputs, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lengthscale-scaled numeric inputs, their squared norms, and scaled one-hot choices."""
        w_num, w_cat = weights[:self._num_dims], weights[self._num_dims:]
        scaled = a.numeric * np.sqrt(w_num)
        return scaled, (scaled ** 2).sum(1), self._one_hot(a.categorical, w_cat)

    def _sq_dist(self, a: GPInputs, b: GPInputs, weights: np.ndarray,
                 b_scaled: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        xa, na, ha = self._scaled(a, weights)
        xb, nb, hb = b_scaled if b_scaled is not None else self._scaled(b, weights)
        dist = na[:, None] + nb[None, :] - 2.0 * xa @ xb.T
        if hb.shape[1]:
            dist += weights[self._num_dims:].sum() - ha @ hb.T
        return np.maximum(dist, 0.0)

    def _kernel(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit-variance kernel values k(r) and (dk/dr) / r, which stays finite at r = 0."""
        if self.nu == 0.5:
            e = np.exp(-r)
            # at r = 0 the squared distances it multiplies are 0 too
            return e, np.where(r > 1e-9, -e / np.maximum(r, 1e-9), 0.0)
        if self.nu == 1.5:
            e = np.exp(-_SQRT3 * r)
            return (1.0 + _SQRT3 * r) * e, -3.0 * e
        if self.nu == 2.5:
            e = np.exp(-_SQRT5 * r)
            return (1.0 + _SQRT5 * r + (5.0 / 3.0) * r ** 2) * e, -(5.0 / 3.0) * (1.0 + _SQRT5 * r) * e
        e = np.exp(-0.5 * r ** 2)
        return e, -e

    # -- hyperparameters ---------------------------------------------------------------------------

    def _objective(self, theta: np.ndarray, x: GPInputs, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log marginal likelihood plus negative log prior, and its gradient."""
        n = len(y)
        weights = self._weights(theta)
        signal, noise = math.exp(theta[-2]), math.exp(theta[-1]) + self.min_noise
        base, factor = self._kernel(np.sqrt(self._sq_dist(x, x, weights)))
        k = signal * base
        k[np.diag_indices(n)] += noise
        try:
            chol = cholesky(k, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        alpha = cho_solve((chol, True), y, check_finite=False)
        nll = 0.5 * y @ alpha + np.log(np.diag(chol)).sum() + 0.5 * n * math.log(2 * math.pi)
        w_mat = cho_solve((chol, True), np.eye(n), check_finite=False) - np.outer(alpha, alpha)
        grad = np.zeros_like(theta)
        g = w_mat * (-signal * factor)
        row = g.sum(1)
        dims = self._num_dims
        if dims:
            xn = x.numeric
            # sum_ab G_ab (x_aj - x_bj)^2 = 2 (sum_a x_aj^2 rowsum_a - x_j' G x_j)
            quad = 2.0 * ((xn ** 2 * row[:, None]).sum(0) - np.einsum("aj,aj->j", xn, g @ xn))
            grad[:dims] = 0.5 * weights[:dims] * quad
        if self.categorical_columns:
            total = g.sum()
            for column in range(len(self.categorical_columns)):
                values = x.categorical[:, column]
                same = 0.0
                for value in np.unique(values):
                    member = values == value
                    same += g[np.ix_(member, member)].sum()
                grad[dims + column] = 0.5 * weights[dims + column] * (total - same)
        k_signal = k.copy()
        k_signal[np.diag_indices(n)] -= noise
        grad[-2] = 0.5 * np.sum(w_mat * k_signal)
        grad[-1] = 0.5 * np.trace(w_mat) * (noise - self.min_noise)
        nll, grad = self._add_prior(theta, nll, grad)
        return float(nll), grad

    def _default_theta(self, n_lengths: int) -> np.ndarray:
        start = self._prior_mean - 1.0 if PRIOR == "hvarfner" else 0.0
        return np.concatenate([np.full(n_lengths, start), [0.0, math.log(1e-3)]])

    def _add_prior(self, theta: np.ndarray, nll: float, grad: np.ndarray) -> tuple[float, np.ndarray]:
        lengths = theta[:-2]
        if PRIOR == "hvarfner":
            nll += 0.5 * np.sum(((lengths - self._prior_mean) / self._prior_std) ** 2)
            grad[:-2] += (lengths - self._prior_mean) / self._prior_std ** 2
            nll += 0.5 * theta[-2] ** 2
            grad[-2] += theta[-2]
            nll += 0.5 * (theta[-1] + 4.0) ** 2
            grad[-1] += theta[-1] + 4.0
        else:
            # penalise lengthscales far from the unit cube's size, both ways
            up, down = np.exp(2.0 * lengths), np.exp(-2.0 * lengths)
            nll += 0.1 * np.sum(up + down)
            grad[:-2] += 0.2 * (up - down)
            signal = math.exp(theta[-2])
            nll += -(theta[-2] - signal)
            grad[-2] += -(1.0 - signal)
            noise = math.exp(theta[-1])
            nll += -(0.1 * theta[-1] - 30.0 * noise)
            grad[-1] += -(0.1 - 30.0 * noise)
        return nll, grad

    def fit_hyperparameters(self, x: GPInputs, y: np.ndarray, max_iter: int = 200, restart: bool = True) -> None:
        """Maximise the marginal likelihood (with priors) from the current values and, with
        ``restart``, also from the default values, keeping the better optimum."""
        n_len = len(self.theta) - 2
        bounds = [(-5.0, 7.0)] * n_len + [(-6.0, 4.0), (math.log(1e-9), 1.0)]
        starts = [np.clip(self.theta, [b[0] for b in bounds], [b[1] for b in bounds])]
        default = self._default_theta(n_len)
        if restart and not np.allclose(starts[0], default):
            starts.append(default)
        best: tuple[float, np.ndarray] | None = None
        for start in starts:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = minimize(self._objective, start, args=(x, y), jac=True, method="L-BFGS-B",
                                  bounds=bounds, options={"maxiter": max_iter})
            if np.all(np.isfinite(result.x)) and (best is None or result.fun < best[0]):
                best = (float(result.fun), result.x)
        if best is not None:
            self.theta = best[1]

    # -- posterior ---------------------------------------------------------------------------------

    def set_data(self, x: GPInputs, y: np.ndarray) -> None:
        """Condition on (x, y) with the current hyperparameters."""
        weights = self._weights(self.theta)
        signal, noise = math.exp(self.theta[-2]), math.exp(self.theta[-1]) + self.min_noise
        k = signal * self._kernel(np.sqrt(self._sq_dist(x, x, weights)))[0]
        chol = _jittered_cholesky(k, noise)
        self._train, self._y, self._chol = x, y, chol
        self._train_scaled = self._scaled(x, weights)
        self._alpha = cho_solve((chol, True), y, check_finite=False)
        inv_chol = solve_triangular(chol, np.eye(len(y)), lower=True, check_finite=False)
        self._k_inv = inv_chol.T @ inv_chol

    def add_data(self, x: GPInputs, y: np.ndarray) -> None:
        """Condition on more points (x, y) with the current hyperparameters, by block updates of
        the Cholesky factor and inverse: O(n^2 m) for m new points instead of a refactorisation."""
        assert self._train is not None and self._y is not None and self._chol is not None and self._k_inv is not None
        if not len(y):
            return
        weights = self._weights(self.theta)
        signal, noise = math.exp(self.theta[-2]), self.noise
        cross = signal * self._kernel(np.sqrt(self._sq_dist(self._train, x, weights, None)))[0]
        inner = signal * self._kernel(np.sqrt(self._sq_dist(x, x, weights)))[0]
        lower = solve_triangular(self._chol, cross, lower=True, check_finite=False)
        schur = inner - lower.T @ lower
        corner = _jittered_cholesky(schur, noise)
        n, m = len(self._y), len(y)
        chol = np.zeros((n + m, n + m))
        chol[:n, :n], chol[n:, :n], chol[n:, n:] = self._chol, lower.T, corner
        inv_corner = solve_triangular(corner, np.eye(m), lower=True, check_finite=False)
        schur_inv = inv_corner.T @ inv_corner
        u = self._k_inv @ cross
        us = u @ schur_inv
        k_inv = np.empty((n + m, n + m))
        k_inv[:n, :n] = self._k_inv + us @ u.T
        k_inv[:n, n:] = -us
        k_inv[n:, :n] = -us.T
        k_inv[n:, n:] = schur_inv
        self._train, self._y, self._chol, self._k_inv = self._train.append(x), np.concatenate([self._y, y]), chol, k_inv
        self._train_scaled = self._scaled(self._train, weights)
        self._alpha = k_inv @ self._y

    @property
    def noise(self) -> float:
        return math.exp(self.theta[-1]) + self.min_noise

    def train_mean(self) -> np.ndarray:
        """Posterior mean at the training points."""
        assert self._y is not None and self._alpha is not None
        return self._y - self.noise * self._alpha

    def loo_means(self) -> np.ndarray:
        """Leave-one-out predicted mean of each training point (how well the model generalises)."""
        assert self._y is not None and self._alpha is not None and self._k_inv is not None
        return self._y - self._alpha / np.maximum(np.diag(self._k_inv), 1e-300)

    def loo_z_scores(self) -> np.ndarray:
        """Leave-one-out standardised residuals of the training points (outlier detection)."""
        assert self._alpha is not None and self._k_inv is not None
        diag = np.maximum(np.diag(self._k_inv), 1e-300)
        return (self._alpha / diag) * np.sqrt(diag)

    @overload
    def predict(self, x: GPInputs, gradient: Literal[False] = False) -> tuple[np.ndarray, np.ndarray]: ...

    @overload
    def predict(self, x: GPInputs, gradient: Literal[True]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

    def predict(self, x: GPInputs, gradient: bool = False
                ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at x; with ``gradient`` also their derivatives
        with respect to the numeric inputs, shape (n, d_num)."""
        assert self._train is not None and self._alpha is not None and self._k_inv is not None
        weights = self._weights(self.theta)
        signal = math.exp(self.theta[-2])
        base, factor = self._kernel(np.sqrt(self._sq_dist(x, self._train, weights, self._train_scaled)))
        k_star = signal * base
        mean = k_star @ self._alpha
        v = k_star @ self._k_inv
        var = np.maximum(signal - np.einsum("ij,ij->i", v, k_star), 1e-12)
        std = np.sqrt(var)
        if not gradient:
            return mean, std
        # dk/dx_j = s (dk/dr / r) w_j (x_j - X_j)
        factor = signal * factor
        w_num = weights[:self._num_dims]
        diff = x.numeric[:, None, :] - self._train.numeric[None, :, :]
        dk = factor[:, :, None] * diff * w_num
        d_mean = np.einsum("inj,n->ij", dk, self._alpha)
        d_var = -2.0 * np.einsum("inj,in->ij", dk, v)
        d_std = d_var / (2.0 * std[:, None])
        return mean, std, d_mean, d_std


def _jittered_cholesky(matrix: np.ndarray, noise: float) -> np.ndarray:
    """Lower Cholesky factor of ``matrix + noise * I``, adding jitter (1e-8, growing tenfold) while
    rounding leaves it short of positive definite, as near-duplicate points do."""
    jitter = 0.0
    for _ in range(8):
        try:
            return cholesky(matrix + (noise + jitter) * np.eye(len(matrix)), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            jitter = max(jitter * 10.0, 1e-8)
    raise np.linalg.LinAlgError("GP kernel matrix is not positive definite")


def transform_targets(values: np.ndarray) -> np.ndarray:
    """Standardised losses whose upper quarter is compressed logarithmically.

    Huge losses of bad regions (Rosenbrock-like objectives, diverged trainings) would otherwise
    dominate the GP's fit; the best three quarters, where the search happens, stay linear.
    Non-finite losses (failed trials) become the worst finite loss.
    """
    y = np.asarray(values, dtype=float).copy()
    finite = np.isfinite(y)
    if not finite.any():
        return np.zeros_like(y)
    y[~finite] = y[finite].max()
    if len(y) >= 8:
        low, knee = float(y.min()), float(np.percentile(y, 75))
        scale = knee - low
        if scale > 0:
            y = np.where(y > knee, knee + scale * np.log1p(np.maximum(y - knee, 0.0) / scale), y)
    spread = y.std()
    if spread <= 1e-12 * max(1.0, abs(y.mean())):
        return np.zeros_like(y)
    return (y - y.mean()) / spread


def _log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z Phi(z)), accurate for very negative z (the log-EI of Ament et al., 2023)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu ** 2) / math.sqrt(2 * math.pi) + zu * ndtr(zu))
    lower = ~upper
    zl = z[lower]
    log_phi = -0.5 * zl ** 2 - 0.5 * math.log(2 * math.pi)
    very = zl < -1e6
    with np.errstate(all="ignore"):
        a = np.log(erfcx(-zl / math.sqrt(2)) * -zl) + 0.5 * math.log(math.pi / 2)
        # log(1 - exp(a)) for a < 0
        log1mexp = np.where(a > -math.log(2), np.log(-np.expm1(a)), np.log1p(-np.exp(a)))
    out[lower] = np.where(very, log_phi - 2.0 * np.log(np.abs(zl) + 1e-300), log_phi + log1mexp)
    return out


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float
                             ) -> tuple[np.ndarray, np.ndarray]:
    """log EI for minimisation, and d logEI / dz with z = (best - xi - mean) / std."""
    z = (best - xi - mean) / std
    log_h = _log_h(z)
    dz = np.exp(log_ndtr(z) - log_h)
    return np.log(std) + log_h, dz


def acquisition_values(utility: str, mean: np.ndarray, std: np.ndarray, best: float, kappa: float,
                       xi: float, d_mean: np.ndarray | None = None, d_std: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """Acquisition to maximise (minimisation problem) and, given input derivatives, its gradient.

    'ei' is log expected improvement, 'poi' log probability of improvement, 'ucb' the lower
    confidence bound negated.
    """
    grad = None
    if utility == "ei":
        value, dz = log_expected_improvement(mean, std, best, xi)
        if d_mean is not None and d_std is not None:
            z = (best - xi - mean) / std
            grad = d_std / std[:, None] + dz[:, None] * (-d_mean - z[:, None] * d_std) / std[:, None]
    elif utility == "poi":
        z = (best - xi - mean) / std
        value = log_ndtr(z)
        if d_mean is not None and d_std is not None:
            ratio = np.exp(-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi) - value)
            grad = ratio[:, None] * (-d_mean - z[:, None] * d_std) / std[:, None]
    else:
        value = -mean + kappa * std
        if d_mean is not None and d_std is not None:
            grad = -d_mean + kappa * d_std
    return value, grad
