"""Inference over many rows in chunks: forward only, nothing stored for backward."""
from ._jit import kernel
from .consts import N_OUT, X_OUT
from .dense import _block, forward_batch
from .epoch import gather
from .losses import loss_and_delta


@kernel()
def forward_rows(net, ws, X, Y, order, chunk, training, loss_code, out,
                 step=0):
    """Forward all rows of X in chunks; copy h into ``out`` (n, out) when it is
    non-empty, and return the summed (weighted, with a weight column in Y)
    loss against Y when ``loss_code >= 0``.  In training mode dropout uses
    the masks of ``step`` for rows 0..n-1 (whatever the chunk size)."""
    n = X.shape[0]
    lay = net.layout
    nl = lay.shape[0]
    k = lay[nl - 1, N_OUT]
    yc = Y.shape[1]
    want_out = out.shape[0] > 0
    total = 0.0
    for start in range(0, n, chunk):
        B = min(chunk, n - start)
        gather(X, Y, order, start, B, ws)
        forward_batch(net, ws, B, training, bool(False), bool(False),
                      int(step), start)
        h = _block(ws.x, B * lay[nl - 1, X_OUT], B, k)
        if want_out:
            for i in range(B):
                for j in range(k):
                    out[start + i, j] = h[i, j]
        if loss_code >= 0:
            total += loss_and_delta(h, _block(ws.y, 0, B, yc), loss_code,
                                    _block(ws.delta, 0, B, k), 1.0, bool(False),
                                    net.huber_delta)
    return total
