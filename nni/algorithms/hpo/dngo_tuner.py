"""DNGO tuner (Snoek et al., 2015), NNI's ``DNGO`` built-in: Bayesian linear regression on the
last hidden layer of a small neural network, with expected improvement to pick the next trial.

PyTorch is an optional dependency (``pip install "nni[dngo]"``): this module imports without it
and creating the tuner without it raises an ImportError saying what to install. The network is
retrained every ``trials_per_update`` new results for ``num_epochs_per_training`` epochs; the
Bayesian layer (its prior and noise precisions set by maximising the evidence) is refitted at
every ask. Inputs are the shared encoding (one-hot choices, unit-cube numbers).
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
from scipy.optimize import minimize

from ...search_space import ConfigHistory, SearchSpace
from ...search_space.tuning import BuiltinTuner, Result
from ...typehint import Parameters
from ._gp_model import log_expected_improvement

__all__ = ["DNGOTuner", "MISSING_TORCH_MESSAGE"]

_logger = logging.getLogger(__name__)

MISSING_TORCH_MESSAGE = ('The DNGO tuner needs PyTorch, an optional dependency that is not installed: '
                         'pip install "nni[dngo]" (or pip install torch)')
_HIDDEN = 50
_COLD_START = 10


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as error:
        raise ImportError(f"{MISSING_TORCH_MESSAGE} ({error})") from error
    return torch


class _BayesianLinear:
    """Bayesian linear regression on fixed features, evidence-maximising precisions."""

    def fit(self, features: np.ndarray, y: np.ndarray) -> None:
        n, h = features.shape
        gram, proj = features.T @ features, features.T @ y

        def negative_evidence(log_params: np.ndarray) -> float:
            alpha, beta = np.exp(np.clip(log_params, -12, 12))
            a = beta * gram + alpha * np.eye(h)
            try:
                chol = np.linalg.cholesky(a)
            except np.linalg.LinAlgError:
                return 1e25
            mean = beta * np.linalg.solve(a, proj)
            resid = y - features @ mean
            value = (0.5 * h * math.log(alpha) + 0.5 * n * math.log(beta) - 0.5 * beta * resid @ resid
                     - 0.5 * alpha * mean @ mean - np.log(np.diag(chol)).sum())
            return -float(value)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = minimize(negative_evidence, np.array([0.0, 3.0]), method="Nelder-Mead",
                              options={"maxiter": 200, "xatol": 1e-3, "fatol": 1e-6})
        self.alpha, self.beta = np.exp(np.clip(result.x, -12, 12))
        a = self.beta * gram + self.alpha * np.eye(h)
        self.a_inv = np.linalg.inv(a)
        self.mean = self.beta * self.a_inv @ proj

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = features @ self.mean
        var = np.einsum("ij,jk,ik->i", features, self.a_inv, features) + 1.0 / self.beta
        return mean, np.sqrt(np.maximum(var, 1e-12))


class DNGOTuner(BuiltinTuner):
    """DNGO with NNI's arguments: ``sample_size`` random candidates scored per ask,
    ``trials_per_update`` new results between network trainings, ``num_epochs_per_training``.
    Supports every search-space type. ``seed`` (an addition) makes runs repeatable.
    """

    algorithm_name = "DNGO"

    def __init__(self, optimize_mode: str = "maximize", sample_size: int = 1000, trials_per_update: int = 20,
                 num_epochs_per_training: int = 500, seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        for name, value in (("sample_size", sample_size), ("trials_per_update", trials_per_update),
                            ("num_epochs_per_training", num_epochs_per_training)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DNGO: {name} must be an integer >= 1, got {value!r}")
        self._torch = _import_torch()
        self.sample_size = sample_size
        self.trials_per_update = trials_per_update
        self.num_epochs_per_training = num_epochs_per_training
        self._rng = np.random.default_rng(seed)
        self._torch_seed = int(self._rng.integers(2 ** 31 - 1))
        self.space: SearchSpace | None = None
        self.history: ConfigHistory | None = None
        self._vectors: list[np.ndarray] = []
        self._losses: list[float] = []
        self._network: Any = None
        self._trained_on = 0
        self._blr = _BayesianLinear()

    # -- search space and data ---------------------------------------------------------------------

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        """Parse the space; earlier results that fit it are kept, the network is retrained."""
        self.space = self.check_search_space(search_space)
        self.history = ConfigHistory(self.space)
        self._vectors, self._losses = [], []
        self._network = None
        for result in self.results:
            self._observe(result.params, result.loss)

    def _features(self, vectors: np.ndarray) -> np.ndarray:
        """Network inputs: numeric columns (inactive at 0.5) and one-hot choices (plus 'inactive')."""
        assert self.space is not None
        columns = []
        for spec in self.space.params:
            column = vectors[:, spec.index]
            if spec.is_categorical:
                index = np.where(np.isnan(column), -1, np.round(column)).astype(int)
                one_hot = np.zeros((len(vectors), (spec.n_choices or 1) + 1))
                one_hot[np.arange(len(vectors)), index + 1] = 1.0
                columns.append(one_hot)
            else:
                columns.append(np.where(np.isnan(column), 0.5, column)[:, None])
        return np.hstack(columns)

    def _observe(self, params: Parameters, loss: float) -> bool:
        assert self.space is not None and self.history is not None
        clean = self.space.restrict(params)
        try:
            vector = self.space.encode(clean)
        except ValueError as error:
            _logger.info("DNGO: ignoring a result outside the search space: %s", error)
            return False
        self.history.add(clean)
        self._vectors.append(vector)
        self._losses.append(loss)
        return True

    def _learn(self, results: list[Result]) -> int:
        """Keep results for the model (in :attr:`results` until a search space arrives)."""
        if self.space is None:
            return len(results)
        return sum(self._observe(result.params, result.loss) for result in results)

    # -- model -------------------------------------------------------------------------------------

    def _targets(self) -> np.ndarray:
        y = np.array(self._losses, dtype=float)
        spread = y.std()
        return (y - y.mean()) / spread if spread > 0 else np.zeros_like(y)

    def _train(self, x: np.ndarray, y: np.ndarray) -> None:
        torch = self._torch
        generator = torch.Generator().manual_seed(self._torch_seed + len(y))
        layers = []
        width = x.shape[1]
        for _ in range(3):
            linear = torch.nn.Linear(width, _HIDDEN, dtype=torch.float64)
            torch.nn.init.xavier_uniform_(linear.weight, generator=generator)
            torch.nn.init.zeros_(linear.bias)
            layers += [linear, torch.nn.Tanh()]
            width = _HIDDEN
        body = torch.nn.Sequential(*layers)
        head = torch.nn.Linear(_HIDDEN, 1, dtype=torch.float64)
        optimizer = torch.optim.Adam([*body.parameters(), *head.parameters()], lr=0.01, weight_decay=1e-4)
        inputs, targets = torch.from_numpy(x), torch.from_numpy(y)[:, None]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a net this small only loses time to thread hand-offs
        try:
            for _ in range(self.num_epochs_per_training):
                optimizer.zero_grad()
                loss = torch.mean((head(body(inputs)) - targets) ** 2)
                loss.backward()
                optimizer.step()
        finally:
            torch.set_num_threads(threads)
        self._network = body.eval()
        self._trained_on = len(y)

    def _basis(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            hidden = self._network(torch.from_numpy(x)).numpy()
        return np.hstack([hidden, np.ones((len(x), 1))])

    # -- asking ------------------------------------------------------------------------------------

    def _candidates(self) -> np.ndarray:
        assert self.space is not None
        random = self.space.sample_vectors(self._rng, self.sample_size)
        best = np.array(self._vectors)[np.argsort(np.array(self._losses))[:5]]
        local = best[self._rng.integers(len(best), size=max(self.sample_size // 4, 1))].copy()
        numeric = [p.index for p in self.space.params if not p.is_categorical]
        if numeric:
            step = self._rng.normal(scale=0.05, size=(len(local), len(numeric)))
            local[:, numeric] = np.clip(local[:, numeric] + step, 0.0, 1.0)
        return np.vstack([random, local])

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Parameters:
        """Maximise expected improvement under the DNGO model; random until enough results."""
        if self.space is None or self.history is None:
            raise RuntimeError("DNGO: update_search_space() must be called before asking")
        ordered: list[np.ndarray] = []
        if len(self._losses) >= _COLD_START and np.ptp(self._targets()) > 0:
            x, y = self._features(np.array(self._vectors)), self._targets()
            if self._network is None or len(y) - self._trained_on >= self.trials_per_update:
                self._train(x, y)
            self._blr.fit(self._basis(x), y)
            candidates = self._candidates()
            mean, std = self._blr.predict(self._basis(self._features(candidates)))
            score, _ = log_expected_improvement(mean, std, float(y.min()), 0.0)
            ordered = [candidates[i] for i in np.argsort(-score)[:64]]
        for vector in ordered:
            params = self.space.decode(vector)
            if self.history.add(params):
                return params
        unseen = self.history.random_unseen(self._rng) if self.space.is_finite else self.space.sample(self._rng)
        if unseen is None:  # exhausted: as NNI's DNGO, keep proposing (the model's best, a repeat)
            unseen = self.space.decode(ordered[0]) if ordered else self.space.sample(self._rng)
        self.history.add(unseen)
        return unseen
