"""Forward pass, delta recursion and gradient outer products over one flat buffer.

Notation of the seed lecture, weights stored input-major:
    z^(l) = x^(l-1) @ W^(l) + b^(l),   x^(l) = phi(norm(z^(l))) [+ x^(l-1)]
    delta^(l) = (delta^(l+1) @ W^(l+1).T) * phi'(z^(l))
    dW^(l) = x^(l-1).T @ delta^(l),    db^(l) = sum_rows delta^(l)
Products go through BLAS's gemm unless the product is so small that the call
overhead dominates, where a plain loop wins.

The BLAS calls are the same for any thread count, bit for bit
-------------------------------------------------------------
OpenBLAS splits a product's inner dimension K into blocks of at most
``GEMM_Q`` (a few hundred, per CPU) and, when K is larger, it halves it with
one rounding rule on one thread and another on several (driver/level3.c vs
level3_thread.c), so that ``x @ W`` for K = 784 (MNIST's first layer)
differed in the last bits between 1 and 2 BLAS threads.  Every product here
therefore calls gemm once per chunk of K of at most ``K_CHUNK`` (accumulating
with beta = 1 from the second chunk on): within one chunk every thread count
runs the same micro-kernel over the same K in the same order, and the chunks
depend on the shape only.  This makes training bitwise independent of the
thread count, which lets :mod:`jitmlp._threads` change the count between
chunks of steps when the machine gets busy.  Measured cost against one
``np.dot`` (float32, 2 threads, 20 calls): 128x784 @ 784x256 348 vs 325 us,
512x1024 @ 1024x2048 12.3 vs 12.1 ms; for K <= K_CHUNK the call is np.dot's.
gemm is reached through Numba's own BLAS entry point ``numba_xxgemm`` (the
one ``np.dot`` compiles to; SciPy's BLAS), which keeps ``cache=True``.
"""
import numpy as np
from numba import types
from numba.extending import overload
from numba.np.linalg import ensure_blas

from ._jit import kernel
from .activations import phi_and_dphi
from .consts import (ACT, ACT_IDENTITY, ACT_LEAKY_RELU, ACT_RELU, DROP,
                     DROP_SCALE, LEAKY_SLOPE, N_IN, N_OUT, NORM, NORM_BATCH,
                     NORM_LAYER, OFF_B, OFF_BETA, OFF_GAMMA, OFF_RMEAN,
                     OFF_RVAR, OFF_W, RESID, X_IN, X_OUT, Z_OFF)
from .norm import (batchnorm_backward, batchnorm_forward, layernorm_backward,
                   layernorm_forward)
from .sparse import (first_layer_add, first_layer_grad, first_layer_mm,
                     is_sparse)

# multiply-adds up to which a loop beats the BLAS call (measured: 1x16x32
# 0.12 us looped vs 0.21 us BLAS; 32x64x1 7.6 us looped vs 0.22 us BLAS)
SMALL_PRODUCT = 1024

# inner-dimension chunk of one gemm call: at most OpenBLAS's smallest GEMM_Q
# on x86 (256), so that no thread count splits a chunk again
K_CHUNK = 256

ensure_blas()   # SciPy's BLAS, which numba_xxgemm calls
# int numba_xxgemm(kind, transa, transb, m, n, k, *alpha, *a, lda, *b, ldb,
#                  *beta, *c, ldc): column-major gemm, kind 's' or 'd'
_xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char, types.intp, types.intp, types.intp,
    types.voidptr, types.voidptr, types.intp, types.voidptr, types.intp,
    types.voidptr, types.voidptr, types.intp))
_N = np.int8(ord("n"))
_T = np.int8(ord("t"))
_S = np.int8(ord("s"))   # constants: ord() in a kernel compiles Numba's
_D = np.int8(ord("d"))   # unicode support (~0.3 s on a first run)


@kernel(inline="always")
def _kind(a):
    return _S if a.itemsize == 4 else _D


@kernel(inline="always")
def _chunks(k):
    return (k + K_CHUNK - 1) // K_CHUNK


@kernel(inline="always")
def _alpha_beta(a):
    """[alpha, beta] = [1, 0] in a's dtype (beta becomes 1 after a chunk)."""
    ab = np.empty(2, a.dtype)
    ab[0] = 1.0
    ab[1] = 0.0
    return ab


# The three BLAS products.  As plain Python (NUMBA_DISABLE_JIT) they are
# np.dot; compiled, the overloads call gemm once per K chunk.
def gemm_nn(a, b, out):
    """out (B, m) = a (B, n) @ b (n, m)."""
    np.dot(a, b, out)


def gemm_tn(a, d, out):
    """out (n, m) = a.T @ d, a (B, n), d (B, m)."""
    np.dot(a.T, d, out)


def gemm_nt(d, w, out):
    """out (B, n) = d (B, m) @ w.T, w (n, m)."""
    np.dot(d, w.T, out)


@kernel(inline="always")
def _gemm_k(ta, tb, m, n, K, a, a_step, lda, b, b_step, ldb, out, ldc):
    """Column-major out (m, n) = op(a) op(b), summed over K in chunks of at
    most K_CHUNK (beta = 1 from the second chunk on); chunk k0 of an operand
    starts ``k0 * step`` elements into its (C-contiguous) buffer."""
    af = a.reshape(a.size)
    bf = b.reshape(b.size)
    ab = _alpha_beta(out)
    nk = _chunks(K)
    for c in range(nk):
        k0 = (c * K) // nk
        k1 = ((c + 1) * K) // nk
        _xxgemm(_kind(out), ta, tb, m, n, k1 - k0, ab[0:1].ctypes,
                af[k0 * a_step:].ctypes, lda, bf[k0 * b_step:].ctypes, ldb,
                ab[1:2].ctypes, out.ctypes, ldc)
        ab[1] = 1.0     # the next chunks accumulate


@overload(gemm_nn)
def _gemm_nn_jit(a, b, out):
    def impl(a, b, out):
        # row-major out = a b is column-major out^T = b^T a^T; K = n: rows
        # of b, columns of a
        B, n = a.shape
        m = b.shape[1]
        _gemm_k(_N, _N, m, B, n, b, m, m, a, 1, n, out, m)
    return impl


@overload(gemm_tn)
def _gemm_tn_jit(a, d, out):
    def impl(a, d, out):
        # column-major out^T (m, n) = d^T (m, B) a (B, n); K = B: rows of both
        B, n = a.shape
        m = d.shape[1]
        _gemm_k(_N, _T, m, n, B, d, m, m, a, n, n, out, m)
    return impl


@overload(gemm_nt)
def _gemm_nt_jit(d, w, out):
    def impl(d, w, out):
        # column-major out^T (n, B) = w (n, m) d^T (m, B); K = m: columns of
        # both
        B, m = d.shape
        n = w.shape[0]
        _gemm_k(_T, _N, n, B, m, w, 1, m, d, 1, m, out, n)
    return impl


@kernel(fastmath={"contract"})
def mm_nn(a, b, out):
    """out (B, m) = a (B, n) @ b (n, m)."""
    B, n = a.shape
    m = b.shape[1]
    if B * n * m <= SMALL_PRODUCT:
        for i in range(B):
            for j in range(m):
                out[i, j] = 0.0
            for k in range(n):
                aik = a[i, k]
                for j in range(m):
                    out[i, j] += aik * b[k, j]
    else:
        gemm_nn(a, b, out)


@kernel(fastmath={"contract"})
def mm_tn(a, d, out):
    """out (n, m) = a.T @ d: the sum over rows of the outer products a_i d_i^T."""
    B, n = a.shape
    m = d.shape[1]
    if B * n * m <= SMALL_PRODUCT:
        for k in range(n):
            for j in range(m):
                out[k, j] = 0.0
        for i in range(B):
            for k in range(n):
                aik = a[i, k]
                for j in range(m):
                    out[k, j] += aik * d[i, j]
    else:
        gemm_tn(a, d, out)


# reassociation lets LLVM vectorise the row-times-row reductions
@kernel(fastmath={"reassoc", "contract", "nsz"})
def mm_nt(d, w, out):
    """out (B, n) = d (B, m) @ w.T, w (n, m)."""
    B, m = d.shape
    n = w.shape[0]
    if B * n * m <= SMALL_PRODUCT:
        for i in range(B):
            for k in range(n):
                s = 0.0
                for j in range(m):
                    s += d[i, j] * w[k, j]
                out[i, k] = s
    else:
        gemm_nt(d, w, out)


@kernel(inline="always")
def _block(buf, off, rows, cols):
    """The (rows, cols) C-contiguous view of buf[off:off + rows*cols]."""
    return buf[off:off + rows * cols].reshape((rows, cols))


# splitmix64 (Steele, Lea & Flood 2014): the counter-based hash of dropout
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)


@kernel(inline="always")
def _mix(z):
    """splitmix64's finaliser: a bijection of uint64 with full avalanche."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@kernel()
def dropout_mask(z, dp, rate, keep, seed, step, row0, unit0):
    """Inverted dropout on z (B, K) in place, and on phi' in dp when it has rows.

    Unit j of row i is kept when the top 32 bits of
    hash(seed, step, row0 + i, unit0 + j) are >= ``rate`` (parts per 2^32),
    i.e. with probability 1 - rate / 2^32, and then scaled by ``keep``
    = 1 / (1 - p); otherwise it is zeroed.  The mask is a pure function of
    its key, so it is the same for any thread count, chunking or call path.
    """
    B, K = z.shape
    store = dp.shape[0] > 0
    thr = np.uint64(rate)
    base = _mix(_mix(np.uint64(seed) + _GOLDEN) ^ (np.uint64(step) * _MIX1))
    for i in range(B):
        rk = _mix(base ^ (np.uint64(row0 + i) * _GOLDEN))
        for j in range(K):
            hsh = _mix(rk + np.uint64(unit0 + j) * _MIX2)
            m = keep if (hsh >> _S32) >= thr else 0.0
            z[i, j] = z[i, j] * m
            if store:
                dp[i, j] = dp[i, j] * m


@kernel()
def forward_batch(net, ws, B, training, store, update_stats, step=0, row0=0):
    """Forward pass of the B rows already in x^(0) (the head of ws.x; with
    sparse input the batch rows of the CSR X in ws, see sparse.py).

    Writes every x^(l) into ws.x; the output h = x^(L+1) is the last block.
    ``training``: BatchNorm uses batch statistics (else running ones), and
    dropout is applied (layers with a DROP rate) with the masks of optimizer
    step ``step`` for the rows ``row0, ..., row0 + B - 1``.
    ``store``: keep phi'(a), xhat and 1/std for the backward pass.
    ``update_stats``: move the BatchNorm running statistics (EMA).
    """
    params = net.params
    stats = net.stats
    lay = net.layout
    A = ws.x
    nl = lay.shape[0]
    for l in range(nl):
        n_in = lay[l, N_IN]
        n_out = lay[l, N_OUT]
        z = _block(A, B * lay[l, X_OUT], B, n_out)
        W = _block(params, lay[l, OFF_W], n_in, n_out)
        resid_sparse = False
        if l == 0 and is_sparse(ws):   # x^(0): CSR rows, no dense block
            x = _block(A, 0, B, 0)
            first_layer_mm(ws, B, W, z)
            resid_sparse = lay[l, RESID] != 0
        else:
            x = _block(A, B * lay[l, X_IN], B, n_in)
            mm_nn(x, W, z)
        ob = lay[l, OFF_B]
        if ob >= 0:
            # a slice, not params[ob + j]: indices from 0 let LLVM vectorise
            bias = params[ob:ob + n_out]
            for i in range(B):
                for j in range(n_out):
                    z[i, j] += bias[j]
        if l == nl - 1:
            break  # linear output layer
        norm = lay[l, NORM]
        zo = B * lay[l, Z_OFF]
        if norm != 0:
            og = lay[l, OFF_GAMMA]
            gamma = params[og:og + n_out]
            obt = lay[l, OFF_BETA]
            beta = params[obt:obt + n_out]
            if store:
                xh = _block(ws.xhat, zo, B, n_out)
            else:
                xh = _block(ws.xhat, 0, 0, n_out)
            if norm == NORM_BATCH:
                orm = lay[l, OFF_RMEAN]
                orv = lay[l, OFF_RVAR]
                batchnorm_forward(z, gamma, beta, stats[orm:orm + n_out],
                                  stats[orv:orv + n_out], xh,
                                  ws.rstd[zo:zo + n_out], ws.feat, training,
                                  store, update_stats, net.bn_momentum,
                                  net.norm_eps)
            elif norm == NORM_LAYER:
                layernorm_forward(z, gamma, beta, xh, ws.rstd[zo:zo + B],
                                  store, net.norm_eps)
            else:
                raise ValueError("jitmlp kernel: unknown norm code")
        act = lay[l, ACT]
        resid = lay[l, RESID] != 0 and not resid_sparse
        rate = lay[l, DROP]
        if store:
            dp = _block(ws.dphi, zo, B, n_out)
        else:
            dp = _block(ws.dphi, 0, 0, n_out)
        drop = training and rate > 0
        # one call site: activate is inlined, and each site is a copy of
        # every activation's loops (~1 s of compile time)
        activate(z, x, dp, act, resid and not drop)
        if drop:
            # phi, then the mask on phi (and phi'), then the residual add
            keep = lay.view(np.float64)[l, DROP_SCALE]
            dropout_mask(z, dp, rate, keep, net.mask_seed, step, row0,
                         lay[l, Z_OFF])
            if resid:
                for i in range(B):
                    for j in range(n_out):
                        z[i, j] += x[i, j]
        if resid_sparse:
            first_layer_add(ws, B, z)


@kernel(inline="always")
def activate(z, x, dp, act, resid):
    """z (B, K) -> phi(z) [+ x] in place; phi'(z) into dp when it has rows.

    The activation code is tested once, outside the element loops, so that
    the common ones (ReLU, leaky ReLU, identity) vectorise.
    """
    B, K = z.shape
    store = dp.shape[0] > 0
    if act == ACT_RELU or act == ACT_LEAKY_RELU:
        slope = 0.0 if act == ACT_RELU else LEAKY_SLOPE
        if store:
            for i in range(B):
                for j in range(K):
                    a = z[i, j]
                    pos = a > 0
                    dp[i, j] = 1.0 if pos else slope
                    z[i, j] = a if pos else slope * a
        else:
            for i in range(B):
                for j in range(K):
                    a = z[i, j]
                    z[i, j] = a if a > 0 else slope * a
    elif act == ACT_IDENTITY:
        if store:
            for i in range(B):
                for j in range(K):
                    dp[i, j] = 1.0
    else:
        for i in range(B):
            for j in range(K):
                p, d = phi_and_dphi(act, z[i, j])
                if store:
                    dp[i, j] = d
                z[i, j] = p
    if resid:
        for i in range(B):
            for j in range(K):
                z[i, j] += x[i, j]


@kernel()
def backward_batch(net, grad, ws, B):
    """Delta recursion from delta^(L+1) (the head of ws.delta) down to layer 1.

    Writes dW, db, dgamma, dbeta into ``grad`` (layout of ``params``).
    Needs the forward pass run with ``store`` on the same B rows.
    """
    params = net.params
    lay = net.layout
    A = ws.x
    Dbuf = ws.delta
    G = ws.dx
    half = G.shape[0] // 2
    nl = lay.shape[0]
    slot = 0
    for l in range(nl - 1, -1, -1):
        n_in = lay[l, N_IN]
        n_out = lay[l, N_OUT]
        delta = _block(Dbuf, 0, B, n_out)
        if l < nl - 1:
            # dL/dx^(l) sits in G[slot]; turn it into delta^(l) = dL/dz^(l)
            g_out = _block(G, slot * half, B, n_out)
            zo = B * lay[l, Z_OFF]
            dp = _block(ws.dphi, zo, B, n_out)
            for i in range(B):
                for j in range(n_out):
                    delta[i, j] = g_out[i, j] * dp[i, j]
            norm = lay[l, NORM]
            if norm != 0:
                og = lay[l, OFF_GAMMA]
                obt = lay[l, OFF_BETA]
                xh = _block(ws.xhat, zo, B, n_out)
                if norm == NORM_BATCH:
                    batchnorm_backward(delta, xh, ws.rstd[zo:zo + n_out],
                                       params[og:og + n_out],
                                       grad[og:og + n_out],
                                       grad[obt:obt + n_out], ws.feat)
                elif norm == NORM_LAYER:
                    layernorm_backward(delta, xh, ws.rstd[zo:zo + B],
                                       params[og:og + n_out],
                                       grad[og:og + n_out],
                                       grad[obt:obt + n_out])
                else:
                    raise ValueError("jitmlp kernel: unknown norm code")
        ow = lay[l, OFF_W]
        if l == 0 and is_sparse(ws):
            first_layer_grad(ws, B, delta, _block(grad, ow, n_in, n_out))
        else:
            x = _block(A, B * lay[l, X_IN], B, n_in)
            mm_tn(x, delta, _block(grad, ow, n_in, n_out))
        ob = lay[l, OFF_B]
        if ob >= 0:
            gb = grad[ob:ob + n_out]
            for j in range(n_out):
                gb[j] = 0.0
            for i in range(B):
                for j in range(n_out):
                    gb[j] += delta[i, j]
        if l > 0:
            nslot = 1 - slot
            g_in = _block(G, nslot * half, B, n_in)
            mm_nt(delta, _block(params, ow, n_in, n_out), g_in)
            if l < nl - 1 and lay[l, RESID] != 0:
                g_out = _block(G, slot * half, B, n_out)
                for i in range(B):
                    for j in range(n_in):
                        g_in[i, j] += g_out[i, j]
            slot = nslot
