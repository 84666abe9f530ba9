"""The first layer on sparse input: products over the stored entries of CSR rows.

With a scipy.sparse X the workspace carries X's CSR arrays (``sp_data``,
``sp_indices``, ``sp_indptr``, bound per call, never copied to a dense block)
and the rows of the current batch (``sp_rows``, written by ``gather``).
``forward_batch`` and ``backward_batch`` call these kernels for layer 1
instead of the dense products; every other layer is unchanged.  With
``nnz_B`` the stored entries of the batch rows and K1 the width of layer 1:

    z^(1)_i  = sum_{k: x_ik stored} x_ik W^(1)_k          O(nnz_B K1)
    dW^(1)_k = sum_{i: x_ik stored} x_ik delta^(1)_i      O(nnz_B K1 + d K1)

(``x^(0).T @ delta^(1)`` and ``x^(0) @ W^(1)`` of dense.py restricted to the
stored entries; a row of W is contiguous, since W is stored input-major.)
The d K1 term is the zeroing of dW^(1): rows of features absent from the
batch get an exact zero gradient, as on the dense path, and the optimizer
then updates every row as it would on ``X.toarray()``.  Zeroing is one
streaming write of the block, a fraction of the fused update's cost (which
reads and writes it three to four times).

It cannot be limited to the rows the previous batch scattered into: every
update rule writes the old parameter over each gradient element it consumes
(the divergence guard, update.py), so after any step *every* row of dW^(1)
holds W^(1) as it was before that step (tests/test_sparse.py's pinned sparse
fits fail at once when only the batch's rows are zeroed).  Keeping exact
zeros there would need the guard's old parameters in a second W^(1)-sized
buffer: the same memory traffic as the zeroing.  Letting the update skip the
gradient reads of rows known to be zero saves nothing either, since it
writes those elements anyway.  Measured (benchmarks/sparse.py's 10k x 50k
TF-IDF, batch 200, K1 = 64, float64, 1 thread, a step ~8.5-10 ms): zeroing
~0.6 ms; the Adam rule over 3.2M elements 3.68 ms, 3.67 ms with no gradient
read at all; a prefetch hint for the row a few entries ahead in both products
made no difference in the step's own order (forward ~1.8-1.9 ms, zeroing +
scatter ~2.3-2.5 ms with and without), nor did scattering in column order
(a per-batch counting sort: 2.4 vs 1.8 ms, ~2 entries per touched row).

On several threads (``ws.sp_threads``, written by the epoch kernel from its
plan) the two products split the work so that no sum changes its order:
the forward product by batch rows, the weight gradient by feature ranges
(each thread zeroes its rows of dW^(1) and walks all of the batch's stored
values, adding those of its features).  Measured at 2 threads: a step
7.9-8.8 ms against 8.8-9.9 ms on one product thread.
"""
from numba import prange
from numba.core import types
from numba.extending import overload

from ._jit import kernel

# Dense and sparse input reach the same kernels (forward_batch, gather, ...)
# with two Workspace types: the dense one holds None in the sp_* fields.  The
# functions below (is_sparse ... first_layer_add) are what those kernels
# call; compiled, each is an overload that picks its body from the Workspace
# type, so that the dense kernels contain no sparse code (it cost ~3-4 s of
# every first compile as a runtime branch) and the sparse ones no test.  As
# plain Python (Numba disabled) they test the field.


def _dense_type(ws):
    return isinstance(ws.types[ws.fields.index("sp_indptr")], types.NoneType)


def is_sparse(ws):
    """True when the workspace carries a sparse X (its CSR arrays)."""
    return ws.sp_indptr is not None


@overload(is_sparse)
def _is_sparse_jit(ws):
    if _dense_type(ws):
        return lambda ws: False
    return lambda ws: True


def note_row(ws, i, r):
    """Record that row i of the batch is row r of the sparse X (gather)."""
    if ws.sp_rows is not None:
        ws.sp_rows[i] = r


@overload(note_row)
def _note_row_jit(ws, i, r):
    if _dense_type(ws):
        return lambda ws, i, r: None

    def impl(ws, i, r):
        ws.sp_rows[i] = r
    return impl


def note_threads(ws, n):
    """Let the first layer's sparse products use ``n`` threads (no-op for
    dense input)."""
    if ws.sp_threads is not None:
        ws.sp_threads[0] = n


@overload(note_threads)
def _note_threads_jit(ws, n):
    if _dense_type(ws):
        return lambda ws, n: None

    def impl(ws, n):
        ws.sp_threads[0] = n
    return impl


def first_layer_mm(ws, B, W, z):
    """z = X[rows] @ W of a sparse X (no-op for dense input)."""
    if ws.sp_indptr is not None:
        sparse_rows_mm(ws, B, W, z)


@overload(first_layer_mm)
def _first_layer_mm_jit(ws, B, W, z):
    if _dense_type(ws):
        return lambda ws, B, W, z: None

    def impl(ws, B, W, z):
        nth = _threads_for(ws, B, W.shape[1])
        if nth > 1:
            sparse_rows_mm_parallel(ws, B, W, z, nth)
        else:
            sparse_rows_mm(ws, B, W, z)
    return impl


def first_layer_grad(ws, B, delta, dW):
    """dW = X[rows].T @ delta of a sparse X (no-op for dense input)."""
    if ws.sp_indptr is not None:
        sparse_rows_grad(ws, B, delta, dW)


@overload(first_layer_grad)
def _first_layer_grad_jit(ws, B, delta, dW):
    if _dense_type(ws):
        return lambda ws, B, delta, dW: None

    def impl(ws, B, delta, dW):
        nth = _threads_for(ws, B, dW.shape[1])
        if nth > 1:
            sparse_rows_grad_parallel(ws, B, delta, dW, nth)
        else:
            sparse_rows_grad(ws, B, delta, dW)
    return impl


def first_layer_add(ws, B, z):
    """z += X[rows] of a sparse X (no-op for dense input)."""
    if ws.sp_indptr is not None:
        sparse_rows_add(ws, B, z)


@overload(first_layer_add)
def _first_layer_add_jit(ws, B, z):
    if _dense_type(ws):
        return lambda ws, B, z: None
    return lambda ws, B, z: sparse_rows_add(ws, B, z)


# Work (stored values x output width) of a batch below which the products
# stay on one thread: a parallel region costs some microseconds to start.
PARALLEL_WORK = 1 << 16


@kernel()
def _threads_for(ws, B, K):
    """The thread count for the first layer's sparse products of this batch:
    ``ws.sp_threads[0]`` (the epoch kernel's count, which the trainer's
    thread governor chooses; not numba.get_num_threads(), which would stop
    the kernels from being cached) when the batch holds at least
    PARALLEL_WORK / K stored values, else 1.  The results do not depend on
    it (see the *_parallel kernels)."""
    nth = ws.sp_threads[0]
    if nth < 2:
        return 1
    rows = ws.sp_rows
    indptr = ws.sp_indptr
    nnz = 0
    for i in range(B):
        nnz += indptr[rows[i] + 1] - indptr[rows[i]]
    return nth if nnz * K >= PARALLEL_WORK else 1


@kernel(inline="always", fastmath={"contract"})
def _rows_mm(ws, i0, i1, W, z):
    """Rows i0 <= i < i1 of z = X[rows] @ W (see sparse_rows_mm)."""
    data = ws.sp_data
    indices = ws.sp_indices
    indptr = ws.sp_indptr
    rows = ws.sp_rows
    K = W.shape[1]
    for i in range(i0, i1):
        zi = z[i]
        for j in range(K):
            zi[j] = 0.0
        r = rows[i]
        for p in range(indptr[r], indptr[r + 1]):
            v = data[p]
            wk = W[indices[p]]
            for j in range(K):
                zi[j] += v * wk[j]


@kernel(fastmath={"contract"}, parallel=True)
def sparse_rows_mm_parallel(ws, B, W, z, nth):
    """:func:`sparse_rows_mm` with the batch rows split into ``nth`` blocks,
    one per thread: every z[i, :] is summed by one thread in the same order,
    so the result is bitwise that of one thread."""
    for c in prange(nth):
        _rows_mm(ws, c * B // nth, (c + 1) * B // nth, W, z)


@kernel(inline="always", fastmath={"contract"})
def _rows_grad(ws, B, delta, dW, lo, hi):
    """Rows lo <= k < hi of dW = X[rows].T @ delta: zeroed, then every stored
    x_ik with k in range scatters x_ik * delta[i, :] into row k, in the
    order of the batch's stored values (see sparse_rows_grad)."""
    K = dW.shape[1]
    data = ws.sp_data
    indices = ws.sp_indices
    indptr = ws.sp_indptr
    rows = ws.sp_rows
    for k in range(lo, hi):
        gk = dW[k]
        for j in range(K):
            gk[j] = 0.0
    for i in range(B):
        di = delta[i]
        r = rows[i]
        for p in range(indptr[r], indptr[r + 1]):
            k = indices[p]
            if lo <= k < hi:
                v = data[p]
                gk = dW[k]
                for j in range(K):
                    gk[j] += v * di[j]


@kernel(fastmath={"contract"}, parallel=True)
def sparse_rows_grad_parallel(ws, B, delta, dW, nth):
    """:func:`sparse_rows_grad` with the features split into ``nth`` ranges,
    one per thread: each thread zeroes its rows of dW and walks all of the
    batch's stored values in the same order, adding those of its features,
    so that every row of dW is summed in the one-thread order (bitwise the
    same result)."""
    d = dW.shape[0]
    for c in prange(nth):
        _rows_grad(ws, B, delta, dW, c * d // nth, (c + 1) * d // nth)


# contraction (FMA) as in dense.mm_nn
@kernel(fastmath={"contract"})
def sparse_rows_mm(ws, B, W, z):
    """z (B, K) = X[rows] @ W for the B batch rows ``ws.sp_rows[:B]`` of the
    CSR X in ``ws``: each stored x_ik adds x_ik * W[k, :] to z[i, :]."""
    _rows_mm(ws, 0, B, W, z)


@kernel(fastmath={"contract"})
def sparse_rows_grad(ws, B, delta, dW):
    """dW (d, K) = X[rows].T @ delta (B, K): dW is zeroed, then every stored
    x_ik scatters x_ik * delta[i, :] into row k (duplicate entries add up,
    as in scipy's ``toarray``)."""
    _rows_grad(ws, B, delta, dW, 0, dW.shape[0])


@kernel()
def sparse_rows_add(ws, B, z):
    """z (B, d) += X[rows]: the residual x^(1) = phi(.) + x^(0) of a first
    layer as wide as the input."""
    data = ws.sp_data
    indices = ws.sp_indices
    indptr = ws.sp_indptr
    rows = ws.sp_rows
    for i in range(B):
        r = rows[i]
        for p in range(indptr[r], indptr[r + 1]):
            z[i, indices[p]] += data[p]
