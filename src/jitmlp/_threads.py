"""Thread control for Numba's threads and the BLAS under ``np.dot``.

Numba's ``np.dot`` calls SciPy's BLAS (``scipy.linalg.cython_blas``), which
for the PyPI wheels is the OpenBLAS bundled with SciPy; threadpoolctl (when
installed) or ``openblas_set_num_threads`` via ctypes sets its thread count.
"""
import ctypes
import glob
import numbers
import os

import numba


def _openblas_libs():
    libs = []
    try:
        import scipy
        root = os.path.dirname(os.path.dirname(scipy.__file__))
        pats = [os.path.join(root, "scipy.libs", "libscipy_openblas*.so*"),
                os.path.join(root, "scipy.libs", "libopenblas*.so*")]
        import numpy
        nroot = os.path.dirname(os.path.dirname(numpy.__file__))
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


def set_num_threads(n):
    """Use ``n`` threads in Numba's parallel loops and in BLAS products.

    Returns the previous Numba thread count.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    n = int(n)                        # numpy integers too (ctypes needs int)
    prev = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    done = False
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=n, user_api="blas")
        done = True
    except ImportError:
        pass
    if not done:
        for lib in _openblas_libs():
            for name in ("scipy_openblas_set_num_threads64_",
                         "scipy_openblas_set_num_threads",
                         "openblas_set_num_threads64_",
                         "openblas_set_num_threads"):
                fn = getattr(lib, name, None)
                if fn is not None:
                    fn(ctypes.c_int(n))
                    break
    return prev


def get_num_threads():
    """Numba's current thread count."""
    return numba.get_num_threads()
