"""The whole-epoch training loop: no Python and no allocation between batches.

for each mini-batch of ``plan.order``: gather rows -> forward (batch
statistics, running-statistics EMA) -> loss and delta^(L+1) -> delta
recursion and gradients -> [global-norm clipping] -> fused optimizer update.
"""
import math

from ._jit import kernel
from .consts import (N_IN, N_OUT, OFF_W, STOP_GRAD, STOP_LOSS, STOP_STATS,
                     STOP_UPDATE, X_OUT)
from .dense import _block, backward_batch, forward_batch
from .losses import loss_and_delta, target_cols
from .sparse import note_row, note_threads
from .update import (_update_parallel, parallel_parts, undo_update,
                     update_segments)


@kernel(inline="always")
def _gather(X, Y, order, start, B, ws):
    """Copy rows ``order[start:start+B]`` of X, Y into x^(0) and the target block.

    With sparse input (see sparse.py) X has 0 columns and the row indices go
    to ``ws.sp_rows`` instead: the first layer reads the CSR rows in place."""
    d = X.shape[1]
    yc = Y.shape[1]
    x0 = _block(ws.x, 0, B, d)
    yb = _block(ws.y, 0, B, yc)
    for i in range(B):
        r = order[start + i]
        note_row(ws, i, r)
        for k in range(d):
            x0[i, k] = X[r, k]
        for k in range(yc):
            yb[i, k] = Y[r, k]


@kernel()
def gather(X, Y, order, start, B, ws):
    """:func:`_gather` as a kernel of its own (for the per-step loops in
    Python); the epoch loop inlines the body (one call level less a step)."""
    _gather(X, Y, order, start, B, ws)


@kernel()
def batch_loss_grad(net, grad, ws, B, yc, update_stats, scale, step, row0):
    """:func:`_batch_loss_grad` as a kernel of its own (Trainer.step,
    loss_and_grad, the MPI loop); the epoch loop inlines the body."""
    return _batch_loss_grad(net, grad, ws, B, yc, update_stats, scale, step,
                            row0)


@kernel(inline="always")
def _batch_loss_grad(net, grad, ws, B, yc, update_stats, scale, step, row0):
    """Forward + loss + backward on the B gathered rows; returns the
    (weighted) loss sum.  The gradient is that of ``scale * sum``: scale is
    1/B, or 1/sum(w) with a weight column.  ``step``, ``row0``: the key of
    the dropout masks (see forward_batch)."""
    # bool(...), int(...): values, not literals, so that every caller shares
    # one compiled specialisation (see _jit.py)
    forward_batch(net, ws, B, bool(True), bool(True), update_stats, step,
                  row0)
    lay = net.layout
    nl = lay.shape[0]
    out = lay[nl - 1, N_OUT]
    h = _block(ws.x, B * lay[nl - 1, X_OUT], B, out)
    y = _block(ws.y, 0, B, yc)
    delta = _block(ws.delta, 0, B, out)
    total = loss_and_delta(h, y, net.loss, delta, scale, bool(True),
                           net.huber_delta)
    backward_batch(net, grad, ws, B)
    return total


@kernel()
def sq_norm(a, lo, hi):
    """sum(a[lo:hi]^2) in float64 (a slice from 0, as in update.py)."""
    b = a[lo:hi]
    s = 0.0
    for k in range(b.shape[0]):
        s += b[k] * b[k]
    return s


@kernel()
def _all_finite(a):
    for k in range(a.shape[0]):
        if a[k] - a[k] != 0.0:
            return False
    return True


@kernel()
def train_epoch(net, hy, st, grad, ws, X, Y, plan, out):
    """Train steps ``plan.s_begin <= s < plan.s_end`` (see
    :func:`_epoch_steps`), the optimizer update on one thread."""
    return _epoch_steps(net, hy, st, grad, ws, X, Y, plan, out, False)


@kernel()
def train_epoch_parallel(net, hy, st, grad, ws, X, Y, plan, out):
    """:func:`train_epoch` with the optimizer update of segments of at least
    ``update.PARALLEL_MIN`` parameters split over ``plan.n_threads`` threads
    (the same result: the update is elementwise).  A kernel of its own so
    that models without such segments never compile the parallel loop
    (~4 s of a first fit's ~23 s, measured with an empty cache)."""
    return _epoch_steps(net, hy, st, grad, ws, X, Y, plan, out, True)


@kernel(inline="always")
def _epoch_steps(net, hy, st, grad, ws, X, Y, plan, out, parallel):
    """Train steps ``plan.s_begin <= s < plan.s_end`` of the epoch that visits
    ``plan.order`` in batches of ``plan.batch_size`` (the last may be smaller).

    Step s uses rows order[s*batch_size : (s+1)*batch_size], learning rate
    plan.lrs[s] and optimizer step count plan.t0 + s + 1 (also the step of
    the dropout masks), so that an epoch run in chunks of steps is bitwise
    the same as one run in one call.
    out.step_loss[s] receives the mean batch loss before the update.
    With sample weights (a trailing weight column of Y, see losses.py) the
    mean is sum(w l) / sum(w) over the batch, and a batch whose weights sum
    to 0 is skipped: nothing changes, its loss is recorded as 0, and it
    still counts as a step (the step count and the schedule move on).  Every
    plan.gnorm_stride-th step adds each layer's ||dW|| to out.gnorm_acc[l]
    and 1 to out.gnorm_acc[-1].

    Divergence guard: a step whose loss, running statistics or gradient are
    not finite changes nothing (the statistics are put back); a step whose
    update makes a parameter or a state value non-finite is undone
    (parameters exactly, the optimizer state restarts from zero).  The loop
    then stops, out.info[0] says why (consts.STOP_*), and the index of that
    step is returned; otherwise plan.s_end is returned.  out.info[1] holds
    the same number (the caller can read it even when an interrupt arrives
    between the kernel's return and the assignment of its value).
    """
    params = net.params
    stats = net.stats
    lay = net.layout
    order = plan.order
    batch_size = plan.batch_size
    n = order.shape[0]
    yc = Y.shape[1]
    nl = lay.shape[0]
    stride = plan.gnorm_stride
    clip = plan.clip
    P = params.shape[0]
    S = stats.shape[0]
    stats_before = ws.stats_before
    # every tuple field used in the loop is bound once here: a field read
    # inside the loop is a fresh array reference each step
    gnorm_acc = out.gnorm_acc
    step_loss = out.step_loss
    info = out.info
    lrs = plan.lrs
    t0 = plan.t0
    segments = net.segments
    parts = 1
    if parallel:   # a constant after inlining: the other kernel prunes this
        parts = parallel_parts(segments, plan.n_threads)
    # a trailing weight column in Y (sample weights)?
    weighted = yc > target_cols(net.loss, lay[nl - 1, N_OUT])
    yb = ws.y
    info[0] = 0
    note_threads(ws, plan.n_threads)
    for s in range(plan.s_begin, plan.s_end):
        start = s * batch_size
        B = min(batch_size, n - start)
        for k in range(S):
            stats_before[k] = stats[k]
        _gather(X, Y, order, start, B, ws)
        den = float(B)
        if weighted:    # plain loops: no view, no call on the unweighted path
            den = 0.0
            for i in range(B):
                den += yb[i * yc + yc - 1]
            if den == 0.0:
                step_loss[s] = 0.0
                continue
        total = _batch_loss_grad(net, grad, ws, B, yc, bool(True),
                                1.0 / den, t0 + s + 1, int(0))
        loss = total / den
        step_loss[s] = loss
        stop = 0
        if not math.isfinite(loss):
            stop = STOP_LOSS
        elif S > 0 and not _all_finite(stats):
            stop = STOP_STATS
        gscale = 1.0
        if stop == 0 and clip > 0.0:
            gn = math.sqrt(sq_norm(grad, int(0), P))
            if not math.isfinite(gn):
                stop = STOP_GRAD
            elif gn > clip:
                gscale = clip / (gn + 1e-6)
        if stop == 0 and stride > 0 and s % stride == 0:
            for l in range(nl):
                ow = lay[l, OFF_W]
                gnorm_acc[l] += math.sqrt(
                    sq_norm(grad, ow, ow + lay[l, N_IN] * lay[l, N_OUT]))
            gnorm_acc[nl] += 1.0
        if stop == 0:
            # update_segments directly (not apply_update): one call level
            # less of the OptState tuple per step (~45 ns a level)
            if parallel and parts > 1:
                bad = _update_parallel(params, grad, segments, hy, st,
                                       lrs[s], t0 + s + 1, gscale,
                                       parts)
            else:
                bad = update_segments(params, grad, segments, hy, st,
                                      lrs[s], t0 + s + 1, gscale,
                                      int(0), int(1))
            if bad != 0:
                undo_update(params, grad, st)
                stop = STOP_UPDATE
        if stop != 0:
            for k in range(S):
                stats[k] = stats_before[k]
            info[0] = stop
            info[1] = s
            return s
    info[1] = plan.s_end
    return plan.s_end
