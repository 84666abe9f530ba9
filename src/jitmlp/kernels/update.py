"""Fused optimizer updates: one pass over the flat buffer (PyTorch's formulas).

``segs`` (n, 3) int64 rows ``(start, end, decay)`` cover ``params``; weight
decay touches only segments with ``decay == 1`` (the W matrices).
    SGD:   g += wd p;  v = mu v + g;  g = g + mu v (Nesterov) or v;  p -= lr g
    Adam:  g += wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
           p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
    AdamW: p *= 1 - lr wd, then Adam without the L2 term.
"""
import math

from numba import njit

from .consts import (HP_BETA1, HP_BETA2, HP_EPS, HP_MOMENTUM, HP_NESTEROV,
                     HP_WD, OPT_ADAM, OPT_ADAMW)


@njit(cache=True)
def apply_update(params, grad, m, v, segs, opt, hp, lr, t, gscale, coef):
    """Update ``params`` in place from ``gscale * grad``; ``t`` is the 1-based step.

    Scalars are computed in float64 once per step, then stored in ``coef``
    (the params dtype) so that the element loop runs in the params dtype:
    float32 models update in float32 arithmetic, as PyTorch does.
    """
    nesterov = hp[HP_NESTEROV] != 0.0
    adam = opt == OPT_ADAM or opt == OPT_ADAMW
    mu0 = hp[HP_MOMENTUM]
    b1 = hp[HP_BETA1]
    b2 = hp[HP_BETA2]
    coef[0] = lr
    coef[1] = gscale
    coef[2] = mu0
    coef[3] = b1
    coef[4] = 1.0 - b1
    coef[5] = b2
    coef[6] = 1.0 - b2
    coef[7] = hp[HP_EPS]
    if adam:
        coef[8] = 1.0 / (1.0 - b1 ** t)
        coef[9] = 1.0 / (1.0 - b2 ** t)
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
    for s in range(segs.shape[0]):
        wd64 = hp[HP_WD] if segs[s, 2] != 0 else 0.0
        coef[10] = wd64
        coef[11] = 1.0 - lr * wd64
        wd = coef[10]
        shrink = coef[11]
        a = segs[s, 0]
        b = segs[s, 1]
        if adam:
            if opt == OPT_ADAMW:
                for k in range(a, b):
                    p = params[k] * shrink
                    g = gs * grad[k]
                    mk = cb1 * m[k] + c1b1 * g
                    vk = cb2 * v[k] + c1b2 * g * g
                    m[k] = mk
                    v[k] = vk
                    params[k] = p - lr_ * (mk * ibc1) / (math.sqrt(vk * ibc2) + eps)
            else:
                for k in range(a, b):
                    p = params[k]
                    g = gs * grad[k] + wd * p
                    mk = cb1 * m[k] + c1b1 * g
                    vk = cb2 * v[k] + c1b2 * g * g
                    m[k] = mk
                    v[k] = vk
                    params[k] = p - lr_ * (mk * ibc1) / (math.sqrt(vk * ibc2) + eps)
        elif mu0 == 0.0:
            for k in range(a, b):
                p = params[k]
                params[k] = p - lr_ * (gs * grad[k] + wd * p)
        else:
            for k in range(a, b):
                p = params[k]
                g = gs * grad[k] + wd * p
                vk = mu * v[k] + g
                v[k] = vk
                if nesterov:
                    g = g + mu * vk
                else:
                    g = vk
                params[k] = p - lr_ * g
