"""Thread control: Numba's threading layer and threads, and the BLAS under ``np.dot``.

Threading layer
---------------
Numba runs ``parallel=True`` kernels (here only the optimizer update of
segments of >= 2^21 parameters) on one of three layers: ``tbb``, ``omp``
(GNU OpenMP on Linux) or ``workqueue``.  Numba's default picks ``omp`` when
TBB is absent, and GNU OpenMP is not fork-safe: a fork-started child
(``multiprocessing``'s default on Linux, joblib, a Jupyter kernel's helpers)
that trains after its parent ran a parallel kernel is killed ("fork() called
from a process already using GNU OpenMP"), and a fork ``Pool`` never returns.

At import jitmlp therefore asks Numba for its ``"forksafe"`` layer: ``tbb``
when the optional ``tbb`` package is installed and loadable (fork- and
thread-safe), else ``workqueue`` (on macOS and Windows Numba may also pick its
fork-safe OpenMP there).  Measured on 2 cores (Adam, 2.5M float32 parameters,
one update, best of 50, the second core busy with another process): omp
1.5-1.9 ms, workqueue 1.5-1.7 ms, single thread 1.5-1.7 ms; the update is
memory-bound, and the two layers are within noise of each other.
``workqueue`` is not thread-safe for *concurrent* parallel launches, which
jitmlp never makes: no kernel releases the GIL.

The choice is only a default and is made without launching any thread:
- ``NUMBA_THREADING_LAYER`` (environment or Numba's config file), or
  ``numba.config.THREADING_LAYER`` set in code before the first parallel
  launch, wins;
- if the program already launched Numba's threads before importing jitmlp,
  its layer is kept (it cannot change within a process).

BLAS threads
------------
Numba's ``np.dot`` calls SciPy's BLAS (``scipy.linalg.cython_blas``), which
for the PyPI wheels is the OpenBLAS bundled with SciPy (``scipy.libs``).
:func:`set_num_threads` loads it first (otherwise it loads at the first
kernel call, after the limit was set, and keeps its default thread count),
then limits it with threadpoolctl when installed, else with
``openblas_set_num_threads`` through ctypes.
"""
import ctypes
import glob
import os

import numba
import numpy as np

#: the layer that jitmlp asks Numba for when the user did not choose one
DEFAULT_LAYER = "forksafe"


def choose_threading_layer():
    """Make Numba's threading layer fork-safe unless the user chose one.

    Returns the layer setting in force (a name, ``"forksafe"``, or the name of
    the layer already running)."""
    try:
        from numba.np.ufunc import parallel
        if getattr(parallel, "_is_initialized", False):
            return parallel.threading_layer()   # already running: keep it
    except Exception:   # private API moved: fall through to the config
        pass
    current = str(numba.config.THREADING_LAYER).lower()
    if current != "default":
        return current                         # the user's choice
    numba.config.THREADING_LAYER = DEFAULT_LAYER
    return DEFAULT_LAYER


def _load_scipy_blas():
    """Load the BLAS that the kernels call, so that a limit reaches it."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:
        pass


def _openblas_libs():
    libs = []
    try:
        import scipy
        root = os.path.dirname(os.path.dirname(scipy.__file__))
        pats = [os.path.join(root, "scipy.libs", "libscipy_openblas*.so*"),
                os.path.join(root, "scipy.libs", "libopenblas*.so*")]
        nroot = os.path.dirname(os.path.dirname(np.__file__))
        pats += [os.path.join(nroot, "numpy.libs", "libscipy_openblas*.so*"),
                 os.path.join(nroot, "numpy.libs", "libopenblas*.so*")]
        for pat in pats:
            for path in glob.glob(pat):
                try:
                    libs.append(ctypes.CDLL(path))
                except OSError:
                    pass
    except ImportError:
        pass
    return libs


def _limit_blas(n):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        threadpool_limits(limits=n, user_api="blas")
        return
    for lib in _openblas_libs():
        for name in ("scipy_openblas_set_num_threads64_",
                     "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_",
                     "openblas_set_num_threads"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                break


def set_num_threads(n):
    """Use ``n`` threads in Numba's parallel loops and in BLAS products.

    ``n``: a positive integer (Python or NumPy; not a bool).  Both counts
    are capped at ``numba.config.NUMBA_NUM_THREADS`` (by default the
    machine's cores): more BLAS threads than cores wait on each other
    (measured on 2 cores, a 512-wide epoch: 0.71 s with 2 threads, 11.3 s
    with 8, 46 s with 1000).  Takes effect at once, also when called before
    the first fit.

    Parameters
    ----------
    n : int >= 1
        Threads for Numba's parallel loops and for BLAS.

    Returns
    -------
    int
        The previous Numba thread count.

    Examples
    --------
    >>> import jitmlp as jm
    >>> previous = jm.set_num_threads(1)   # one core, e.g. per MPI rank
    >>> jm.get_num_threads()
    1
    >>> _ = jm.set_num_threads(previous)

    Raises
    ------
    TypeError, ValueError
        ``n`` is not a positive integer (nothing is changed then).
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be a positive integer; got {n!r}")
    n = int(n)                        # numpy integers too (ctypes needs int)
    if n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    prev = numba.get_num_threads()
    numba.set_num_threads(n)
    _load_scipy_blas()
    _limit_blas(n)
    return prev


def get_num_threads():
    """Numba's current thread count (that of the parallel loops; BLAS follows
    :func:`set_num_threads`).

    Returns
    -------
    int
        Between 1 and ``numba.config.NUMBA_NUM_THREADS``.

    Examples
    --------
    >>> import numba, jitmlp as jm
    >>> 1 <= jm.get_num_threads() <= numba.config.NUMBA_NUM_THREADS
    True
    """
    return numba.get_num_threads()
