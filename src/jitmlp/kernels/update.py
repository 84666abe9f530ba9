"""Optimizer update rules: one fused pass over the flat buffer each
(``torch.optim``'s formulas), and the dispatcher that picks one.

Every rule updates ``params[a:b]`` from ``gscale * grad[a:b]`` and its state
buffers in place, in the params dtype (float32 models update in float32, as
PyTorch does: per-step scalars are computed in float64 and cast once).
``wd`` is the weight decay of the segment (0 outside the W matrices).

Divergence guard, fused into the same pass: every rule writes the old value
of each parameter over its (consumed) gradient and returns the number of new
parameters or state values that are not finite, so that :func:`undo_update`
can put the last finite parameters back without a snapshot
(``x - x != 0`` is true exactly for inf and NaN).

Loops run over slices from index 0: with a runtime start index Numba's
negative-index wraparound check stops LLVM from vectorising (6x slower).

Adding an optimizer: a ``RULE_*`` code in consts.py, a rule here with its
formula in the docstring, its branch in :func:`update_segments`, and its
class in ``jitmlp/optim.py`` declaring the state buffers it uses.
"""
import math

import numpy as np
from numba import prange

from ._jit import kernel
from .consts import RULE_ADAGRAD, RULE_ADAM, RULE_RMSPROP, RULE_SGD


# segments shorter than this are updated by one thread: entering a
# parallel=True function costs ~7 us, and below ~2M elements the vectorised
# serial loop wins (measured, Adam float32: 269k elements 0.13 ms serial vs
# 0.20 ms on 2 threads; 6.3M elements 4.6 ms vs 3.3 ms)
PARALLEL_MIN = 1 << 21


@kernel()
def sgd_rule(params, grad, momentum_buffer, a, b, lr, gscale, wd, momentum,
             nesterov):
    """SGD with momentum and Nesterov (torch.optim.SGD, dampening 0).

    g = gscale grad + wd p;  with momentum mu: v = mu v + g (v starts at 0,
    so the first step gives v = g), g = g + mu v (Nesterov) or v;  p -= lr g.
    """
    p_ = params[a:b]
    g_ = grad[a:b]
    n = p_.shape[0]
    cast = params.dtype.type
    lr_ = cast(lr)
    gs = cast(gscale)
    wd_ = cast(wd)
    mu = cast(momentum)
    bad = 0
    if momentum == 0.0:
        for k in range(n):
            p = p_[k]
            pn = p - lr_ * (gs * g_[k] + wd_ * p)
            p_[k] = pn
            g_[k] = p
            bad += pn - pn != 0.0
        return bad
    v = momentum_buffer[a:b]
    if nesterov:
        for k in range(n):
            p = p_[k]
            g = gs * g_[k] + wd_ * p
            vk = mu * v[k] + g
            v[k] = vk
            pn = p - lr_ * (g + mu * vk)
            p_[k] = pn
            g_[k] = p
            bad += (pn - pn != 0.0) | (vk - vk != 0.0)
    else:
        for k in range(n):
            p = p_[k]
            g = gs * g_[k] + wd_ * p
            vk = mu * v[k] + g
            v[k] = vk
            pn = p - lr_ * vk
            p_[k] = pn
            g_[k] = p
            bad += (pn - pn != 0.0) | (vk - vk != 0.0)
    return bad


@kernel()
def adam_rule(params, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, a, b, lr,
              gscale, wd, t, b1, b2, eps, decoupled, amsgrad):
    """Adam / AdamW (Kingma & Ba 2015, Alg. 1; Loshchilov & Hutter 2019).

    AdamW first p *= 1 - lr wd (decoupled), Adam adds g += wd p (L2);
    m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  with amsgrad
    vmax = max(vmax, v) replaces v below;
    p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
    """
    p_ = params[a:b]
    g_ = grad[a:b]
    n = p_.shape[0]
    cast = params.dtype.type
    lr_ = cast(lr)
    gs = cast(gscale)
    cb1 = cast(b1)
    c1b1 = cast(1.0 - b1)
    cb2 = cast(b2)
    c1b2 = cast(1.0 - b2)
    eps_ = cast(eps)
    ibc1 = cast(1.0 / (1.0 - b1 ** t))
    ibc2 = cast(1.0 / (1.0 - b2 ** t))
    if decoupled:
        l2 = cast(0.0)
        shrink = cast(1.0 - lr * wd)
    else:
        l2 = cast(wd)
        shrink = cast(1.0)
    m = exp_avg[a:b]
    v = exp_avg_sq[a:b]
    bad = 0
    if not amsgrad:
        for k in range(n):
            p0 = p_[k]
            p = p0 * shrink
            g = gs * g_[k] + l2 * p
            mk = cb1 * m[k] + c1b1 * g
            vk = cb2 * v[k] + c1b2 * g * g
            m[k] = mk
            v[k] = vk
            pn = p - lr_ * (mk * ibc1) / (math.sqrt(vk * ibc2) + eps_)
            p_[k] = pn
            g_[k] = p0
            bad += (pn - pn != 0.0) | (vk - vk != 0.0)
        return bad
    vmax = max_exp_avg_sq[a:b]
    for k in range(n):
        p0 = p_[k]
        p = p0 * shrink
        g = gs * g_[k] + l2 * p
        mk = cb1 * m[k] + c1b1 * g
        vk = cb2 * v[k] + c1b2 * g * g
        m[k] = mk
        v[k] = vk
        vm = max(vmax[k], vk)
        vmax[k] = vm
        pn = p - lr_ * (mk * ibc1) / (math.sqrt(vm * ibc2) + eps_)
        p_[k] = pn
        g_[k] = p0
        bad += (pn - pn != 0.0) | (vk - vk != 0.0)
    return bad


@kernel()
def rmsprop_rule(params, grad, square_avg, grad_avg, momentum_buffer, a, b, lr,
                 gscale, wd, alpha, eps, momentum, centered):
    """RMSprop (torch.optim.RMSprop; Hinton's lecture 6e, Graves 2013).

    g = gscale grad + wd p;  s = alpha s + (1-alpha) g^2;
    centered: gbar = alpha gbar + (1-alpha) g, d = sqrt(s - gbar^2) + eps,
    else d = sqrt(s) + eps;
    momentum mu > 0: buf = mu buf + g / d, p -= lr buf;  else p -= lr g / d.
    """
    p_ = params[a:b]
    g_ = grad[a:b]
    n = p_.shape[0]
    cast = params.dtype.type
    lr_ = cast(lr)
    gs = cast(gscale)
    wd_ = cast(wd)
    al = cast(alpha)
    c1al = cast(1.0 - alpha)
    eps_ = cast(eps)
    mu = cast(momentum)
    use_mu = momentum > 0.0
    s_ = square_avg[a:b]
    ga = grad_avg[a:b] if centered else grad_avg[0:0]
    buf = momentum_buffer[a:b] if use_mu else momentum_buffer[0:0]
    bad = 0
    for k in range(n):
        p = p_[k]
        g = gs * g_[k] + wd_ * p
        sk = al * s_[k] + c1al * g * g
        s_[k] = sk
        if centered:
            gk = al * ga[k] + c1al * g
            ga[k] = gk
            d = math.sqrt(sk - gk * gk) + eps_
        else:
            d = math.sqrt(sk) + eps_
        if use_mu:
            bk = mu * buf[k] + g / d
            buf[k] = bk
            pn = p - lr_ * bk
        else:
            pn = p - lr_ * (g / d)
        p_[k] = pn
        g_[k] = p
        bad += (pn - pn != 0.0) | (sk - sk != 0.0)
    return bad


@kernel()
def adagrad_rule(params, grad, sum_, a, b, lr, gscale, wd, t, lr_decay, eps):
    """Adagrad (torch.optim.Adagrad; Duchi, Hazan & Singer 2011).

    g = gscale grad + wd p;  clr = lr / (1 + (t-1) lr_decay);
    sum += g^2;  p -= clr g / (sqrt(sum) + eps).
    """
    p_ = params[a:b]
    g_ = grad[a:b]
    n = p_.shape[0]
    cast = params.dtype.type
    clr = cast(lr / (1.0 + (t - 1) * lr_decay))
    gs = cast(gscale)
    wd_ = cast(wd)
    eps_ = cast(eps)
    sm = sum_[a:b]
    bad = 0
    for k in range(n):
        p = p_[k]
        g = gs * g_[k] + wd_ * p
        sk = sm[k] + g * g
        sm[k] = sk
        pn = p - clr * g / (math.sqrt(sk) + eps_)
        p_[k] = pn
        g_[k] = p
        bad += (pn - pn != 0.0) | (sk - sk != 0.0)
    return bad


@kernel()
def update_segments(params, grad, segments, hy, st, lr, t, gscale, part,
                    nparts):
    """Every segment by the rule ``hy.rule`` (an unknown rule is an error);
    weight decay on the segments marked for it (the W matrices).

    ``part`` of ``nparts``: segments of at least PARALLEL_MIN elements are
    split into ``nparts`` contiguous chunks of which this call updates the
    ``part``-th; shorter segments belong to part 0.  The parallel update runs
    the parts on different threads (disjoint ranges: no races, the same
    result for any thread count).

    The rules get their state buffers as separate arguments: passing the
    OptState tuple into every per-segment call cost ~45 ns a call in
    reference counting (measured in one process, SGD over the 4 segments of
    a 16-32-1 net: 146 ns with the rule's own arrays, 326 ns with a tuple of
    7 arrays passed along).
    """
    m, v, aux = st.m, st.v, st.aux   # bound once, not per segment
    bad = 0
    for s in range(segments.shape[0]):
        a = segments[s, 0]
        b = segments[s, 1]
        if nparts > 1 and b - a >= PARALLEL_MIN:
            size = (b - a + nparts - 1) // nparts
            a, b = a + part * size, min(b, a + (part + 1) * size)
        elif part != 0:
            continue
        wd = hy.weight_decay if segments[s, 2] != 0 else 0.0
        # the slots of OptState by the names of each rule's buffers
        if hy.rule == RULE_SGD:
            bad += sgd_rule(params, grad, m, a, b, lr, gscale, wd,
                            hy.momentum, hy.nesterov)
        elif hy.rule == RULE_ADAM:
            bad += adam_rule(params, grad, m, v, aux, a, b, lr,
                             gscale, wd, t, hy.beta1, hy.beta2, hy.eps,
                             hy.decoupled, hy.amsgrad)
        elif hy.rule == RULE_RMSPROP:
            bad += rmsprop_rule(params, grad, v, aux, m, a, b, lr,
                                gscale, wd, hy.alpha, hy.eps, hy.momentum,
                                hy.centered)
        elif hy.rule == RULE_ADAGRAD:
            bad += adagrad_rule(params, grad, v, a, b, lr, gscale, wd, t,
                                hy.lr_decay, hy.eps)
        else:
            raise ValueError("jitmlp kernel: unknown optimizer rule")
    return bad


@kernel(parallel=True)
def _update_parallel(params, grad, segments, hy, st, lr, t, gscale, nth):
    """update_segments with its parts on ``nth`` threads; returns the summed
    count of non-finite results (an integer reduction)."""
    bad = 0
    for c in prange(nth):
        bad += update_segments(params, grad, segments, hy, st, lr, t, gscale,
                               np.int64(c), nth)
    return bad


@kernel()
def parallel_parts(segments, nth):
    """``nth`` when some segment is long enough to split over threads, else 1."""
    if nth > 1:
        for s in range(segments.shape[0]):
            if segments[s, 1] - segments[s, 0] >= PARALLEL_MIN:
                return nth
    return 1


@kernel()
def apply_update(params, grad, segments, hy, st, lr, t, gscale, parts):
    """Update ``params`` in place from ``gscale * grad``; ``t`` is the 1-based
    step, ``segments`` the (start, end, decay) rows covering params,
    ``parts`` the :func:`parallel_parts` of the segments and thread count.

    Returns the number of parameters or state values that the update made
    non-finite.  ``grad`` is consumed: it holds the old parameters afterwards,
    so that :func:`undo_update` can put them back when that number is not 0.
    """
    if parts > 1:
        return _update_parallel(params, grad, segments, hy, st, lr, t, gscale,
                                parts)
    return update_segments(params, grad, segments, hy, st, lr, t, gscale,
                           int(0), int(1))


@kernel()
def undo_update(params, grad, st):
    """After an update that returned a non-zero count: the parameters get back
    their old values (held in ``grad``) and the optimizer state restarts from
    zero (its old values are not kept, to need no snapshot of the state)."""
    p_ = params[0:params.shape[0]]
    g_ = grad[0:grad.shape[0]]
    for k in range(p_.shape[0]):
        p_[k] = g_[k]
    st.m[:] = 0.0
    st.v[:] = 0.0
    st.aux[:] = 0.0
