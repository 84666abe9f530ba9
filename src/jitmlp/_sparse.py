"""Sparse ``X``: scipy.sparse input validated once into the CSR arrays the
kernels read (:mod:`jitmlp.kernels.sparse`); never a dense ``(n, d)`` copy.

:func:`check_sparse_X` turns any scipy.sparse matrix or array into a
:class:`CSRRows`: ``data`` in the model's dtype, ``indices`` and ``indptr``
as int64 (one kernel set serves every index width).  CSR input whose arrays
already have these types is used in place; CSC and the other formats are
converted once with ``tocsr()`` (O(nnz)).
"""
import numpy as np

from . import _validation as V


def is_scipy_sparse(X):
    """True for a scipy.sparse matrix or array (without importing scipy)."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz") and hasattr(X, "format")


class CSRRows:
    """A validated sparse X in the kernels' types (rows in CSR form).

    Attributes
    ----------
    data : ndarray of shape (nnz,), the model's dtype
    indices : ndarray of shape (nnz,), int64
        Column of each stored value, in [0, d).
    indptr : ndarray of shape (n + 1,), int64
        Row r's values are ``data[indptr[r]:indptr[r + 1]]``.
    shape : (n, d)

    Row selection (``X[a:b]`` a view, ``X[int_array]`` a copy of those rows'
    entries) keeps it sparse; :meth:`tocsr` gives the scipy matrix sharing
    the arrays.
    """
    ndim = 2

    def __init__(self, data, indices, indptr, shape):
        self.data, self.indices, self.indptr = data, indices, indptr
        self.shape = (int(shape[0]), int(shape[1]))

    dtype = property(lambda self: self.data.dtype)
    nnz = property(lambda self: int(self.indptr[-1] - self.indptr[0]))

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return (f"CSRRows(shape={self.shape}, nnz={self.nnz}, "
                f"dtype={self.dtype.name})")

    def __getitem__(self, key):
        n, d = self.shape
        if isinstance(key, slice):
            a, b, step = key.indices(n)
            if step == 1:
                b = max(a, b)
                lo, hi = self.indptr[a], self.indptr[b]
                return CSRRows(self.data[lo:hi], self.indices[lo:hi],
                               self.indptr[a:b + 1] - lo, (b - a, d))
            key = np.arange(a, b, step)
        rows = np.asarray(key)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64, copy=False).ravel()
        rows = np.where(rows < 0, rows + n, rows)
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        indptr = np.zeros(rows.shape[0] + 1, np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # position of every kept entry in the source arrays
        src = np.repeat(starts - indptr[:-1], lengths) + np.arange(
            indptr[-1], dtype=np.int64)
        return CSRRows(self.data[src], self.indices[src], indptr,
                       (rows.shape[0], d))

    def kernel_X(self):
        """The X the kernels take with a sparse workspace: (n, 0), no data
        (``gather`` then records row indices instead of copying rows)."""
        return np.empty((self.shape[0], 0), self.dtype)

    def tocsr(self):
        """The scipy.sparse.csr_matrix on the same arrays (no copy)."""
        import scipy.sparse as sp
        return sp.csr_matrix((self.data, self.indices, self.indptr),
                             shape=self.shape, copy=False)

    def bind(self, ws):
        """The workspace ``ws`` (made with ``sparse=True``) reading these
        rows."""
        return ws._replace(sp_data=self.data, sp_indices=self.indices,
                           sp_indptr=self.indptr)


def _index_array(a, what, name):
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}.{what} must be an integer array; got dtype "
                        f"{arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if not (out.flags.writeable and out.flags.aligned):
        out = out.copy()
    return out


def _check_before_conversion(X, name):
    """Index bounds of a COO or CSC X, which scipy's conversion to CSR does
    not check (an out-of-range COO row or CSC row index was silently dropped
    and indexed scipy's arrays out of bounds)."""
    n, d = X.shape
    if X.format == "coo":
        for what, idx, bound in (("row", X.row, n), ("col", X.col, d)):
            idx = np.asarray(idx)
            if idx.dtype.kind not in "iu":
                raise TypeError(f"{name}.{what} must be an integer array; "
                                f"got dtype {idx.dtype}")
            if idx.size and (idx.min() < 0 or idx.max() >= bound):
                raise ValueError(f"{name} is not a well-formed COO matrix: "
                                 f"{what} indices must be in [0, {bound})")
    elif X.format == "csc":
        indptr = _index_array(X.indptr, "indptr", name)
        if indptr.shape != (d + 1,) or indptr[0] != 0 \
                or (d > 0 and np.any(np.diff(indptr) < 0)) \
                or indptr[-1] > min(np.shape(X.indices)[0],
                                    np.shape(X.data)[0]):
            raise ValueError(f"{name} is not a well-formed CSC matrix: "
                             f"indptr must be non-decreasing from 0 with "
                             f"{d + 1} entries, within the stored values")
        idx = _index_array(np.asarray(X.indices)[:int(indptr[-1])],
                           "indices", name)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"{name} is not a well-formed CSC matrix: row "
                             f"indices must be in [0, {n})")


def check_sparse_X(X, n_features, dtype, name="X"):
    """Validate a scipy.sparse X into a :class:`CSRRows` of ``dtype``.

    The same rules as dense X (:func:`jitmlp._validation.check_X`): 2-D,
    at least one row, ``n_features`` columns, a numeric (bool, integer or
    float) dtype converted to ``dtype``, finite after conversion; plus a
    well-formed CSR structure (integer indices in [0, d), non-decreasing
    indptr).  Raises ValueError / TypeError naming ``name``.
    """
    if isinstance(X, CSRRows):
        if X.shape[1] != n_features:
            raise ValueError(f"{name} has {X.shape[1]} features but the "
                             f"model expects {n_features}")
        if X.dtype != dtype:
            X = CSRRows(V._kernel_array(X.data, dtype), X.indices, X.indptr,
                        X.shape)
        return X
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got "
                         f"a sparse array of shape {shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric sparse matrix; got dtype "
                        f"{X.dtype}")
    n, d = shape
    if n == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if d != n_features:
        raise ValueError(f"{name} has {d} features but the model expects "
                         f"{n_features}")
    if X.format != "csr":
        _check_before_conversion(X, name)
        X = X.tocsr()     # CSC, COO, ...: once, O(nnz)
    indptr = _index_array(X.indptr, "indptr", name)
    if indptr.shape != (n + 1,) or indptr[0] != 0 \
            or (indptr.shape[0] > 1 and np.any(np.diff(indptr) < 0)):
        raise ValueError(f"{name} is not a well-formed CSR matrix: indptr "
                         f"must be non-decreasing from 0 with {n + 1} "
                         f"entries")
    nnz = int(indptr[-1])
    if nnz > min(np.shape(X.indices)[0], np.shape(X.data)[0]):
        raise ValueError(f"{name} is not a well-formed CSR matrix: indptr "
                         f"ends at {nnz} but it stores "
                         f"{np.shape(X.data)[0]} values")
    indices = _index_array(np.asarray(X.indices)[:nnz], "indices", name)
    if nnz and (indices.min() < 0 or indices.max() >= d):
        raise ValueError(f"{name} is not a well-formed CSR matrix: column "
                         f"indices must be in [0, {d})")
    data = V._kernel_array(np.asarray(X.data)[:nnz], dtype)
    if not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s) "
                         f"(in {np.dtype(dtype).name})")
    return CSRRows(data, indices, indptr, (n, d))
