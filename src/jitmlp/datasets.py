"""Small synthetic data sets made with numpy (no downloads)."""
import numpy as np


def make_spirals(n_samples=6000, n_classes=3, noise=0.15, n_features=2,
                 seed=0):
    """Interleaved spiral arms, one class per arm: a classic problem no linear
    model solves.  Extra features (``n_features > 2``) are noise.

    Parameters
    ----------
    n_samples : int
        Number of rows.
    n_classes : int
        Number of arms (classes).
    noise : float
        Standard deviation of the radial jitter, relative to the radius.
    n_features : int >= 2
        Columns of X; those after the first two are N(0, 0.1^2) noise.
    seed : int
        Same seed, same data.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,), int64
        Class indices in ``[0, n_classes)``.

    Examples
    --------
    >>> import jitmlp as jm
    >>> X, y = jm.datasets.make_spirals(100, n_classes=3, seed=0)
    >>> X.shape, y.max()
    ((100, 2), np.int64(2))
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
    """A smooth nonlinear target ``sum_k sin(2 x W)_k`` plus Gaussian noise.

    Parameters
    ----------
    n_samples : int
        Number of rows.
    n_features : int
        Columns of X, standard normal.
    noise : float
        Standard deviation of the additive noise.
    seed : int
        Same seed, same data (``W`` of shape (n_features, 8) included).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,), float64

    Examples
    --------
    >>> import jitmlp as jm
    >>> X, y = jm.datasets.make_regression(50, n_features=4)
    >>> X.shape, y.shape
    ((50, 4), (50,))
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    W = rng.standard_normal((n_features, 8)) / np.sqrt(n_features)
    y = np.sin(2.0 * X @ W).sum(axis=1) + noise * rng.standard_normal(n_samples)
    return X, y


def shard(a, comm=None, *, rank=None, size=None):
    """This rank's contiguous block of rows of ``a``: a view, no copy.

    Rows are split as evenly as possible: with n rows and R ranks, rank r
    gets rows ``[r*n//R, (r+1)*n//R)`` (sizes differ by at most one).  Works
    on any array that slices without copying, in particular
    ``np.load(path, mmap_mode="r")``: only the shard's pages are ever read.
    ``Trainer.fit`` converts a read-only or non-C-contiguous input to the
    model's dtype once, so each rank then holds a copy of its shard only,
    never of the whole file.

    Parameters
    ----------
    a : array_like with a first axis (ndarray, np.memmap, h5py dataset...)
    comm : mpi4py communicator, optional
        Supplies ``rank`` and ``size`` (``comm.rank``, ``comm.size``).
    rank, size : int, optional
        Instead of ``comm``.

    Returns
    -------
    array_like
        ``a[start:stop]`` for this rank: a view of ``a`` (its type, e.g. a
        memmap stays a memmap).

    Raises
    ------
    TypeError
        Neither ``comm`` nor both ``rank`` and ``size`` given.
    ValueError
        ``rank`` not in ``[0, size)``.

    Examples
    --------
    >>> import numpy as np, jitmlp as jm
    >>> a = np.arange(10)
    >>> [jm.datasets.shard(a, rank=r, size=3).tolist() for r in range(3)]
    [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    """
    if comm is not None:
        rank, size = comm.rank, comm.size
    if rank is None or size is None:
        raise TypeError("shard needs a communicator or rank= and size=")
    rank, size = int(rank), int(size)
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"rank={rank} is not in [0, size={size})")
    n = len(a)
    return a[rank * n // size:(rank + 1) * n // size]
