"""Loss values and delta^(L+1) = dLoss/dh, numerically stable.

Targets ``y`` always arrive as a 2-D float array of the model's dtype:
``(B, out)`` for the squared loss, ``(B, 1)`` holding -1/+1 (logistic) or the
class index (cross-entropy).
"""
import math

from ._jit import kernel
from .activations import sigmoid
from .consts import LOSS_CROSS_ENTROPY, LOSS_LOGISTIC, LOSS_SQUARED


@kernel()
def loss_and_delta(h, y, loss_code, delta, scale, want_delta):
    """Sum over the rows of the per-sample loss; ``delta = scale * dloss/dh``.

    h, delta: (B, out); y: (B, out) or (B, 1).  Returns a float64 sum.
    squared:        0.5 ||y - h||^2,            dloss/dh = h - y
    logistic:       log(1 + exp(-y h)),         dloss/dh = -y sigmoid(-y h)
    cross_entropy:  logsumexp(h) - h_y,         dloss/dh = softmax(h) - onehot(y)
    """
    B, out = h.shape
    total = 0.0
    if loss_code == LOSS_LOGISTIC:
        for i in range(B):
            yi = y[i, 0]
            t = -yi * h[i, 0]
            # softplus(t) = max(t, 0) + log1p(exp(-|t|)): no overflow for any h
            total += max(t, 0.0) + math.log1p(math.exp(-abs(t)))
            if want_delta:
                delta[i, 0] = scale * (-yi * sigmoid(t))
    elif loss_code == LOSS_CROSS_ENTROPY:
        for i in range(B):
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
            total += lse - h[i, c]
            if want_delta:
                inv = 1.0 / se
                for j in range(out):
                    delta[i, j] = scale * (math.exp(h[i, j] - mx) * inv)
                delta[i, c] -= scale
    elif loss_code == LOSS_SQUARED:
        for i in range(B):
            for j in range(out):
                r = h[i, j] - y[i, j]
                total += 0.5 * r * r
                if want_delta:
                    delta[i, j] = scale * r
    else:
        raise ValueError("jitmlp kernel: unknown loss code")
    return total
