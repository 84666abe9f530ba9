"""One layer at a time: the forward and backward pass of forward_batch /
backward_batch cut at every BatchNorm layer, so that Python can combine
per-feature reductions across processes (synchronised BatchNorm, used by the
Trainer with an MPI communicator) between the cached kernels.

Only the data-parallel path calls these; the single-process path
(train_epoch) does not, so its arithmetic is untouched.

Forward of layer l (python drives):
    linear_forward                 z = x W + b
    BatchNorm:  bn_sums  -> Allreduce(sum z, rows) -> mu
                bn_sqdev -> Allreduce(sum (z-mu)^2) -> var (biased, global N)
                bn_apply_act       running stats (unbiased with global N),
                                   xhat, gamma xhat + beta, activation
    otherwise:  norm_act           LayerNorm (per row) and activation
Loss: loss_delta with delta scaled by 1/N (N = global rows), so that the
per-rank gradients add up to the gradient of the global mean loss.
Backward of layer l:
    backward_pre        delta = dL/dx * phi'; BatchNorm: the local
                        (sum delta, sum delta xhat) into grad and ``red``
    [Allreduce red]
    backward_post       BatchNorm dz with the global sums; LayerNorm;
                        dW, db, dL/dx of the layer below
"""
import math

from ._jit import kernel
from .consts import (ACT, N_IN, N_OUT, NORM, NORM_BATCH, NORM_LAYER, OFF_B,
                     OFF_BETA, OFF_GAMMA, OFF_RMEAN, OFF_RVAR, OFF_W, RESID,
                     X_IN, X_OUT, Z_OFF)
from .dense import _block, activate, mm_nn, mm_nt, mm_tn
from .losses import loss_and_delta
from .norm import layernorm_backward, layernorm_forward


@kernel()
def linear_forward(net, ws, B, l):
    """z^(l) = x^(l-1) W + b of the B rows in the workspace."""
    lay = net.layout
    params = net.params
    n_in = lay[l, N_IN]
    n_out = lay[l, N_OUT]
    x = _block(ws.x, B * lay[l, X_IN], B, n_in)
    z = _block(ws.x, B * lay[l, X_OUT], B, n_out)
    mm_nn(x, _block(params, lay[l, OFF_W], n_in, n_out), z)
    ob = lay[l, OFF_B]
    if ob >= 0:
        bias = params[ob:ob + n_out]
        for i in range(B):
            for j in range(n_out):
                z[i, j] += bias[j]


@kernel()
def bn_sums(net, ws, B, l, red):
    """red[:K] = sum over the rows of z^(l) (float64)."""
    lay = net.layout
    K = lay[l, N_OUT]
    z = _block(ws.x, B * lay[l, X_OUT], B, K)
    s = red[:K]
    for f in range(K):
        s[f] = 0.0
    for i in range(B):
        for f in range(K):
            s[f] += z[i, f]


@kernel()
def bn_sqdev(net, ws, B, l, mu, red):
    """red[:K] = sum over the rows of (z^(l) - mu)^2 (float64)."""
    lay = net.layout
    K = lay[l, N_OUT]
    z = _block(ws.x, B * lay[l, X_OUT], B, K)
    s = red[:K]
    for f in range(K):
        s[f] = 0.0
    for i in range(B):
        for f in range(K):
            d = z[i, f] - mu[f]
            s[f] += d * d


@kernel()
def bn_apply_act(net, ws, B, l, mu, sqdev, N, update_stats):
    """BatchNorm with the global batch's mean ``mu`` and sum of squared
    deviations ``sqdev`` over ``N`` rows, then the activation (stores xhat,
    1/std and phi' for the backward pass)."""
    lay = net.layout
    params = net.params
    stats = net.stats
    K = lay[l, N_OUT]
    zo = B * lay[l, Z_OFF]
    z = _block(ws.x, B * lay[l, X_OUT], B, K)
    x = _block(ws.x, B * lay[l, X_IN], B, lay[l, N_IN])
    og = lay[l, OFF_GAMMA]
    gamma = params[og:og + K]
    obt = lay[l, OFF_BETA]
    beta = params[obt:obt + K]
    orm = lay[l, OFF_RMEAN]
    orv = lay[l, OFF_RVAR]
    rmean = stats[orm:orm + K]
    rvar = stats[orv:orv + K]
    rs = ws.rstd[zo:zo + K]
    xh = _block(ws.xhat, zo, B, K)
    m = net.bn_momentum
    for f in range(K):
        var = sqdev[f] / N
        if update_stats:
            rmean[f] = (1.0 - m) * rmean[f] + m * mu[f]
            rvar[f] = (1.0 - m) * rvar[f] + m * (var * N / (N - 1))
        rs[f] = 1.0 / math.sqrt(var + net.norm_eps)
    for i in range(B):
        for f in range(K):
            t = (z[i, f] - mu[f]) * rs[f]
            xh[i, f] = t
            z[i, f] = gamma[f] * t + beta[f]
    activate(z, x, _block(ws.dphi, zo, B, K), lay[l, ACT], lay[l, RESID] != 0)


@kernel()
def norm_act(net, ws, B, l):
    """LayerNorm (if any) and the activation of hidden layer l."""
    lay = net.layout
    params = net.params
    K = lay[l, N_OUT]
    zo = B * lay[l, Z_OFF]
    z = _block(ws.x, B * lay[l, X_OUT], B, K)
    x = _block(ws.x, B * lay[l, X_IN], B, lay[l, N_IN])
    if lay[l, NORM] == NORM_LAYER:
        og = lay[l, OFF_GAMMA]
        obt = lay[l, OFF_BETA]
        layernorm_forward(z, params[og:og + K], params[obt:obt + K],
                          _block(ws.xhat, zo, B, K), ws.rstd[zo:zo + B],
                          True, net.norm_eps)
    activate(z, x, _block(ws.dphi, zo, B, K), lay[l, ACT], lay[l, RESID] != 0)


@kernel()
def loss_delta(net, ws, B, yc, scale):
    """Loss sum of the B rows; delta^(L+1) = scale * dloss/dh."""
    lay = net.layout
    nl = lay.shape[0]
    out = lay[nl - 1, N_OUT]
    h = _block(ws.x, B * lay[nl - 1, X_OUT], B, out)
    y = _block(ws.y, 0, B, yc)
    delta = _block(ws.delta, 0, B, out)
    return loss_and_delta(h, y, net.loss, delta, scale, bool(True),
                          net.huber_delta)


@kernel()
def backward_pre(net, grad, ws, B, l, slot, red):
    """Hidden layer l: delta^(l) = dL/dx^(l) (in ws.dx slot) * phi'.
    BatchNorm: dbeta = sum delta, dgamma = sum delta xhat of these rows into
    ``grad`` and into red[:K], red[K:2K] (to be summed over processes)."""
    lay = net.layout
    K = lay[l, N_OUT]
    half = ws.dx.shape[0] // 2
    delta = _block(ws.delta, 0, B, K)
    g_out = _block(ws.dx, slot * half, B, K)
    zo = B * lay[l, Z_OFF]
    dp = _block(ws.dphi, zo, B, K)
    for i in range(B):
        for j in range(K):
            delta[i, j] = g_out[i, j] * dp[i, j]
    if lay[l, NORM] == NORM_BATCH:
        og = lay[l, OFF_GAMMA]
        obt = lay[l, OFF_BETA]
        dgamma = grad[og:og + K]
        dbeta = grad[obt:obt + K]
        xh = _block(ws.xhat, zo, B, K)
        for f in range(K):
            dgamma[f] = 0.0
            dbeta[f] = 0.0
        for i in range(B):
            for f in range(K):
                g = delta[i, f]
                dbeta[f] += g
                dgamma[f] += g * xh[i, f]
        for f in range(K):
            red[f] = dbeta[f]
            red[K + f] = dgamma[f]


@kernel()
def backward_post(net, grad, ws, B, l, slot, red, N):
    """Finish layer l: BatchNorm's dz with the global sums in ``red`` over N
    rows (or LayerNorm's), then dW, db and dL/dx^(l-1) into the other
    ws.dx slot.  Returns that slot."""
    lay = net.layout
    params = net.params
    nl = lay.shape[0]
    n_in = lay[l, N_IN]
    K = lay[l, N_OUT]
    half = ws.dx.shape[0] // 2
    delta = _block(ws.delta, 0, B, K)
    if l < nl - 1:
        norm = lay[l, NORM]
        zo = B * lay[l, Z_OFF]
        og = lay[l, OFF_GAMMA]
        obt = lay[l, OFF_BETA]
        if norm == NORM_BATCH:
            gamma = params[og:og + K]
            rs = ws.rstd[zo:zo + K]
            xh = _block(ws.xhat, zo, B, K)
            invN = 1.0 / N
            for i in range(B):
                for f in range(K):
                    s1 = red[f] * gamma[f]
                    s2 = red[K + f] * gamma[f]
                    delta[i, f] = rs[f] * (delta[i, f] * gamma[f]
                                           - invN * (s1 + xh[i, f] * s2))
        elif norm == NORM_LAYER:
            layernorm_backward(delta, _block(ws.xhat, zo, B, K),
                               ws.rstd[zo:zo + B], params[og:og + K],
                               grad[og:og + K], grad[obt:obt + K])
    x = _block(ws.x, B * lay[l, X_IN], B, n_in)
    ow = lay[l, OFF_W]
    mm_tn(x, delta, _block(grad, ow, n_in, K))
    ob = lay[l, OFF_B]
    if ob >= 0:
        gb = grad[ob:ob + K]
        for j in range(K):
            gb[j] = 0.0
        for i in range(B):
            for j in range(K):
                gb[j] += delta[i, j]
    if l == 0:
        return slot
    nslot = 1 - slot
    g_in = _block(ws.dx, nslot * half, B, n_in)
    mm_nt(delta, _block(params, ow, n_in, K), g_in)
    if l < nl - 1 and lay[l, RESID] != 0:
        g_out = _block(ws.dx, slot * half, B, K)
        for i in range(B):
            for j in range(n_in):
                g_in[i, j] += g_out[i, j]
    return nslot
