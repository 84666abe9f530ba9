"""Small synthetic data sets made with numpy (no downloads)."""
import numpy as np


def make_spirals(n_samples=6000, n_classes=3, noise=0.15, n_features=2,
                 seed=0):
    """Interleaved spiral arms, one class per arm: a classic problem no linear
    model solves.  Extra features (``n_features > 2``) are noise.

    Returns X (n, n_features) float64 and y (n,) int64 class indices.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_samples)
    r = rng.uniform(0.05, 1.0, n_samples)
    theta = 7.0 * r + 2.0 * np.pi * y / n_classes
    X = np.empty((n_samples, n_features))
    X[:, 0] = r * np.cos(theta)
    X[:, 1] = r * np.sin(theta)
    X[:, :2] += noise * r[:, None] * rng.standard_normal((n_samples, 2))
    if n_features > 2:
        X[:, 2:] = 0.1 * rng.standard_normal((n_samples, n_features - 2))
    return X * 2.0, y.astype(np.int64)


def make_regression(n_samples=4000, n_features=16, noise=0.1, seed=0):
    """A smooth nonlinear target ``sum_k sin(x W)_k`` plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    W = rng.standard_normal((n_features, 8)) / np.sqrt(n_features)
    y = np.sin(2.0 * X @ W).sum(axis=1) + noise * rng.standard_normal(n_samples)
    return X, y
