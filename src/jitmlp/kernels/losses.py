"""Loss values and delta^(L+1) = dLoss/dh, numerically stable.

Targets ``y`` always arrive as a 2-D float array of the model's dtype:
``(B, out)`` for the losses with one target per output (squared, huber,
poisson, binary_cross_entropy), ``(B, 1)`` holding -1/+1 (logistic) or the
class index (cross-entropy).  With sample weights the block has one more,
trailing, column holding each row's weight ``w_i``: the loss sum is then
``sum_i w_i l_i`` and ``delta_i = scale * w_i * dl_i/dh`` (without it every
``w_i`` is 1, and multiplying by 1.0 is exact, so unweighted results are
bitwise those of a kernel without weights).
"""
import math

from ._jit import kernel
from .activations import sigmoid
from .consts import (LOSS_BCE, LOSS_CROSS_ENTROPY, LOSS_HUBER, LOSS_LOGISTIC,
                     LOSS_POISSON, LOSS_SQUARED)


@kernel(inline="always")
def target_cols(loss_code, out):
    """Columns of the targets of a loss without the weight column."""
    if loss_code == LOSS_LOGISTIC or loss_code == LOSS_CROSS_ENTROPY:
        return 1
    return out


@kernel()
def loss_and_delta(h, y, loss_code, delta, scale, want_delta, hd=1.0):
    """Sum over the rows of the (weighted) per-sample loss;
    ``delta = scale * w * dloss/dh``.

    h, delta: (B, out); y: (B, out) or (B, 1), plus the optional trailing
    weight column.  Returns a float64 sum.  ``hd``: the Huber delta.
    squared:        0.5 ||y - h||^2,            dloss/dh = h - y
    logistic:       log(1 + exp(-y h)),         dloss/dh = -y sigmoid(-y h)
    cross_entropy:  logsumexp(h) - h_y,         dloss/dh = softmax(h) - onehot(y)
    huber (r = h - y): 0.5 r^2 if |r| <= hd else hd (|r| - hd/2),
                                                dloss/dh = clip(r, -hd, hd)
    poisson (h the log-rate): exp(h) - y h,     dloss/dh = exp(h) - y
        (exp overflows for h > ~709 (float64) / ~88 (float32): the loss is
        then inf, which the callers report; h -> -inf is finite)
    binary_cross_entropy: log(1 + exp(h)) - y h, dloss/dh = sigmoid(h) - y
    """
    B, out = h.shape
    weighted = y.shape[1] > target_cols(loss_code, out)
    wc = y.shape[1] - 1
    total = 0.0
    if loss_code == LOSS_LOGISTIC:
        for i in range(B):
            wi = y[i, wc] if weighted else 1.0
            yi = y[i, 0]
            t = -yi * h[i, 0]
            # softplus(t) = max(t, 0) + log1p(exp(-|t|)): no overflow for any h
            total += wi * (max(t, 0.0) + math.log1p(math.exp(-abs(t))))
            if want_delta:
                delta[i, 0] = (scale * wi) * (-yi * sigmoid(t))
    elif loss_code == LOSS_CROSS_ENTROPY:
        for i in range(B):
            wi = y[i, wc] if weighted else 1.0
            si = scale * wi
            c = int(y[i, 0])
            # log-sum-exp with the max subtracted
            mx = h[i, 0]
            for j in range(1, out):
                if h[i, j] > mx:
                    mx = h[i, j]
            se = 0.0
            for j in range(out):
                se += math.exp(h[i, j] - mx)
            lse = mx + math.log(se)
            total += wi * (lse - h[i, c])
            if want_delta:
                inv = 1.0 / se
                for j in range(out):
                    delta[i, j] = si * (math.exp(h[i, j] - mx) * inv)
                delta[i, c] -= si
    elif loss_code == LOSS_SQUARED:
        for i in range(B):
            wi = y[i, wc] if weighted else 1.0
            si = scale * wi
            for j in range(out):
                r = h[i, j] - y[i, j]
                total += wi * 0.5 * r * r
                if want_delta:
                    delta[i, j] = si * r
    elif loss_code == LOSS_HUBER:
        for i in range(B):
            wi = y[i, wc] if weighted else 1.0
            si = scale * wi
            row = 0.0
            for j in range(out):
                r = h[i, j] - y[i, j]
                a = abs(r)
                if a <= hd:
                    row += 0.5 * r * r
                    g = r
                else:
                    row += hd * (a - 0.5 * hd)
                    g = hd if r > 0 else -hd
                if want_delta:
                    delta[i, j] = si * g
            total += wi * row
    elif loss_code == LOSS_POISSON:
        for i in range(B):
            wi = y[i, wc] if weighted else 1.0
            si = scale * wi
            row = 0.0
            for j in range(out):
                e = math.exp(h[i, j])
                row += e - y[i, j] * h[i, j]
                if want_delta:
                    delta[i, j] = si * (e - y[i, j])
            total += wi * row
    elif loss_code == LOSS_BCE:
        for i in range(B):
            wi = y[i, wc] if weighted else 1.0
            si = scale * wi
            row = 0.0
            for j in range(out):
                t = h[i, j]
                # softplus(t) - y t, softplus without overflow
                row += max(t, 0.0) + math.log1p(math.exp(-abs(t))) \
                    - y[i, j] * t
                if want_delta:
                    delta[i, j] = si * (sigmoid(t) - y[i, j])
            total += wi * row
    else:
        raise ValueError("jitmlp kernel: unknown loss code")
    return total
