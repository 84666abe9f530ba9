"""Fused optimizer updates: one pass over the flat buffer (PyTorch's formulas).

``segs`` (n, 3) int64 rows ``(start, end, decay)`` cover ``params``; weight
decay touches only segments with ``decay == 1`` (the W matrices).
    SGD:   g += wd p;  v = mu v + g;  g = g + mu v (Nesterov) or v;  p -= lr g
    Adam:  g += wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
           p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
    AdamW: p *= 1 - lr wd, then Adam without the L2 term.
"""
import math

from numba import prange

from ._jit import kernel
from .consts import (HP_BETA1, HP_BETA2, HP_EPS, HP_MOMENTUM, HP_NESTEROV,
                     HP_WD, OPT_ADAM, OPT_ADAMW)


# segments shorter than this are updated by one thread: entering a
# parallel=True function costs ~7 us, and below ~2M elements the vectorised
# serial loop wins (measured, Adam float32: 269k elements 0.13 ms serial vs
# 0.20 ms on 2 threads; 6.3M elements 4.6 ms vs 3.3 ms)
PARALLEL_MIN = 1 << 21


@kernel()
def _update_range(opt, nesterov, params_, grad_, m_, v_, a, b, coef):
    """The element loop of one optimizer over params[a:b] (scalars in coef).

    Divergence guard, fused into the same pass: the old value of every
    parameter is written over its (consumed) gradient, and the number of new
    parameters or moments that are not finite is returned, so that a caller
    can put the last finite parameters back from ``grad`` without keeping a
    snapshot (``x - x != 0`` is true exactly for inf and NaN).
    """
    # loops over slices from index 0: with a runtime start index Numba's
    # negative-index wraparound check stops LLVM from vectorising (6x slower)
    p_ = params_[a:b]
    g_ = grad_[a:b]
    n = p_.shape[0]
    lr_ = coef[0]
    gs = coef[1]
    mu = coef[2]
    cb1 = coef[3]
    c1b1 = coef[4]
    cb2 = coef[5]
    c1b2 = coef[6]
    eps = coef[7]
    ibc1 = coef[8]
    ibc2 = coef[9]
    wd = coef[10]
    shrink = coef[11]
    bad = 0
    if opt == OPT_ADAMW or opt == OPT_ADAM:
        # one loop for both: Adam has shrink = 1 and the L2 term wd;
        # AdamW shrinks p first and has wd = 0 (see apply_update)
        m = m_[a:b]
        v = v_[a:b]
        for k in range(n):
            p0 = p_[k]
            p = p0 * shrink
            g = gs * g_[k] + wd * p
            mk = cb1 * m[k] + c1b1 * g
            vk = cb2 * v[k] + c1b2 * g * g
            m[k] = mk
            v[k] = vk
            pn = p - lr_ * (mk * ibc1) / (math.sqrt(vk * ibc2) + eps)
            p_[k] = pn
            g_[k] = p0
            bad += (pn - pn != 0.0) | (vk - vk != 0.0)
    elif v_.shape[0] == 0:  # plain SGD
        for k in range(n):
            p = p_[k]
            pn = p - lr_ * (gs * g_[k] + wd * p)
            p_[k] = pn
            g_[k] = p
            bad += pn - pn != 0.0
    else:
        v = v_[a:b]
        if nesterov:
            for k in range(n):
                p = p_[k]
                g = gs * g_[k] + wd * p
                vk = mu * v[k] + g
                v[k] = vk
                pn = p - lr_ * (g + mu * vk)
                p_[k] = pn
                g_[k] = p
                bad += (pn - pn != 0.0) | (vk - vk != 0.0)
        else:
            for k in range(n):
                p = p_[k]
                g = gs * g_[k] + wd * p
                vk = mu * v[k] + g
                v[k] = vk
                pn = p - lr_ * vk
                p_[k] = pn
                g_[k] = p
                bad += (pn - pn != 0.0) | (vk - vk != 0.0)
    return bad


@kernel(parallel=True)
def _update_parallel(opt, nesterov, params, grad, m, v, a, b, coef, nth):
    """params[a:b] in ``nth`` contiguous chunks, one per thread (race-free);
    returns the summed count of non-finite results (an integer reduction)."""
    size = (b - a + nth - 1) // nth
    bad = 0
    for c in prange(nth):
        lo = a + c * size
        hi = min(b, lo + size)
        bad += _update_range(opt, nesterov, params, grad, m, v, lo, hi, coef)
    return bad


@kernel()
def apply_update(params, grad, m, v, segs, opt, hp, lr, t, gscale, coef, nth):
    """Update ``params`` in place from ``gscale * grad``; ``t`` is the 1-based step.

    Returns the number of parameters or moments that the update made
    non-finite.  ``grad`` is consumed: it holds the old parameters afterwards,
    so that :func:`undo_update` can put them back when that number is not 0.

    Scalars are computed in float64 once per step, then stored in ``coef``
    (the params dtype) so that the element loop runs in the params dtype:
    float32 models update in float32 arithmetic, as PyTorch does.  Long
    segments are split into one contiguous chunk per thread (no races, the
    same result for any thread count ``nth``).
    """
    nesterov = hp[HP_NESTEROV] != 0.0
    b1 = hp[HP_BETA1]
    b2 = hp[HP_BETA2]
    coef[0] = lr
    coef[1] = gscale
    coef[2] = hp[HP_MOMENTUM]
    coef[3] = b1
    coef[4] = 1.0 - b1
    coef[5] = b2
    coef[6] = 1.0 - b2
    coef[7] = hp[HP_EPS]
    if opt == OPT_ADAM or opt == OPT_ADAMW:
        coef[8] = 1.0 / (1.0 - b1 ** t)
        coef[9] = 1.0 / (1.0 - b2 ** t)
    bad = 0
    for s in range(segs.shape[0]):
        wd64 = hp[HP_WD] if segs[s, 2] != 0 else 0.0
        if opt == OPT_ADAMW:   # decoupled: p *= 1 - lr wd, no L2 term
            coef[10] = 0.0
            coef[11] = 1.0 - lr * wd64
        else:                  # L2: g += wd p
            coef[10] = wd64
            coef[11] = 1.0
        a = segs[s, 0]
        b = segs[s, 1]
        n = b - a
        if n < PARALLEL_MIN or nth == 1:
            bad += _update_range(opt, nesterov, params, grad, m, v, a, b, coef)
        else:
            bad += _update_parallel(opt, nesterov, params, grad, m, v, a, b,
                                    coef, nth)
    return bad


@kernel()
def undo_update(params, grad, m, v):
    """After an update that returned a non-zero count: the parameters get back
    their old values (held in ``grad``) and the moments restart from zero
    (their old values are not kept, to need no snapshot of the state)."""
    p_ = params[0:params.shape[0]]
    g_ = grad[0:grad.shape[0]]
    for k in range(p_.shape[0]):
        p_[k] = g_[k]
    m[:] = 0.0
    v[:] = 0.0
