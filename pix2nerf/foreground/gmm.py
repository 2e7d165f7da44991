"""Gaussian mixture colour models: fit by a few EM steps, log-likelihood of pixels. Plain numpy (single-threaded:
these arrays are too small for threads to pay), no downloads."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

COVARIANCE_FLOOR = 1e-4  # added to each mixture component's covariance diagonal (colours in [0, 1])
MAX_FIT_SAMPLES = 2048  # colours an EM fit reads


def _log_softmax(values: np.ndarray, axis: int) -> np.ndarray:
    peak = values.max(axis, keepdims=True)
    return values - peak - np.log(np.exp(values - peak).sum(axis, keepdims=True))


@dataclass
class ColorModel:
    """K full-covariance Gaussians over colours: log weights (K,), means (K, C), precision Cholesky factors
    (K, C, C) and log-normalisers (K,)."""

    log_weights: np.ndarray
    means: np.ndarray
    precision_chol: np.ndarray
    log_norm: np.ndarray

    @classmethod
    def fit(cls, colors: np.ndarray, components: int, iterations: int = 4) -> ColorModel:
        """EM on colours (N, C) float32 (at most MAX_FIT_SAMPLES of them, evenly strided), started from
        `components` evenly spaced samples sorted by brightness."""
        colors = colors[:: max(1, colors.shape[0] // MAX_FIT_SAMPLES)]
        order = colors.sum(1).argsort()
        k = max(1, min(components, colors.shape[0]))
        means = colors[order[np.linspace(0, colors.shape[0] - 1, k).astype(int)]]
        distance = ((colors[:, None] - means[None]) ** 2).sum(-1)
        responsibility = np.exp(_log_softmax(-distance / 0.01, 1))
        for _ in range(iterations):
            model = cls._m_step(colors, responsibility)
            responsibility = np.exp(_log_softmax(model._component_log_likelihood(colors), 0)).T
        return cls._m_step(colors, responsibility)

    @classmethod
    def _m_step(cls, colors: np.ndarray, responsibility: np.ndarray) -> ColorModel:
        counts = responsibility.sum(0) + 1e-6
        means = responsibility.T @ colors / counts[:, None]
        centred = colors[None] - means[:, None]  # (K, N, C)
        eye = np.eye(colors.shape[1], dtype=colors.dtype)
        covariance = (centred * responsibility.T[..., None]).transpose(0, 2, 1) @ centred / counts[:, None, None]
        chol = np.linalg.cholesky(covariance + COVARIANCE_FLOOR * eye)
        precision_chol = np.linalg.inv(chol).transpose(0, 2, 1)
        log_det = np.log(np.diagonal(precision_chol, axis1=1, axis2=2)).sum(1)
        log_norm = log_det - 0.5 * colors.shape[1] * math.log(2 * math.pi)
        return cls(np.log(counts / counts.sum()), means, precision_chol, log_norm)

    def _component_log_likelihood(self, colors: np.ndarray) -> np.ndarray:
        """(K, N) log of weight_k * N(colour_n; component k)."""
        projected = (colors[None] - self.means[:, None]) @ self.precision_chol
        return (self.log_weights + self.log_norm)[:, None] - 0.5 * (projected**2).sum(-1)

    def log_likelihood(self, colors: np.ndarray) -> np.ndarray:
        """log p(colour) (N,) of colours (N, C)."""
        per_component = self._component_log_likelihood(colors)
        peak = per_component.max(0)
        return peak + np.log(np.exp(per_component - peak).sum(0))
