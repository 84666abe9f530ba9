"""BatchNorm and LayerNorm forward and backward, in place on (B, K) blocks.

Forward (Ioffe & Szegedy 2015, eq. in Alg. 1; Ba et al. 2016 for LayerNorm):
    xhat = (z - mu) / sqrt(var + eps),   a = gamma * xhat + beta
with mu, var (biased) over the batch per feature (BatchNorm) or over the
features per sample (LayerNorm).  Backward, the full form through mu and var:
    dxhat = da * gamma
    dz    = rstd / N * (N * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
where sums and N run over the same axis as the statistics.
"""
import math

from ._jit import kernel


@kernel()
def batchnorm_forward(z, gamma, beta, rmean, rvar, xh, rs, v, training,
                      store, update_stats, momentum, eps):
    """z (B, K) -> gamma * xhat + beta in place; xh (B, K), rs (K,) stored if ``store``.

    Training mode: batch statistics; when ``update_stats`` the running
    statistics move by ``r = (1-m) r + m s`` with the unbiased batch variance.
    Evaluation mode: the running statistics.
    """
    B, K = z.shape
    mu = v[:K]
    rstd = v[K:2 * K]
    if training:
        for f in range(K):
            mu[f] = 0.0
            rstd[f] = 0.0
        for i in range(B):
            for f in range(K):
                mu[f] += z[i, f]
        for f in range(K):
            mu[f] /= B
        # two-pass variance: no cancellation when |mu| >> std
        for i in range(B):
            for f in range(K):
                d = z[i, f] - mu[f]
                rstd[f] += d * d
        for f in range(K):
            var = rstd[f] / B
            if update_stats:
                rmean[f] = (1.0 - momentum) * rmean[f] + momentum * mu[f]
                rvar[f] = (1.0 - momentum) * rvar[f] + momentum * (var * B / (B - 1))
            rstd[f] = 1.0 / math.sqrt(var + eps)
    else:
        for f in range(K):
            mu[f] = rmean[f]
            rstd[f] = 1.0 / math.sqrt(rvar[f] + eps)
    for i in range(B):
        for f in range(K):
            t = (z[i, f] - mu[f]) * rstd[f]
            if store:
                xh[i, f] = t
            z[i, f] = gamma[f] * t + beta[f]
    if store:
        for f in range(K):
            rs[f] = rstd[f]


@kernel()
def batchnorm_backward(da, xh, rs, gamma, dgamma, dbeta, v):
    """da (B, K) = dL/da -> dL/dz in place; dgamma, dbeta (K,) written."""
    B, K = da.shape
    s1 = v[:K]   # sum(dxhat)
    s2 = v[K:2 * K]  # sum(dxhat * xhat)
    for f in range(K):
        dgamma[f] = 0.0
        dbeta[f] = 0.0
    for i in range(B):
        for f in range(K):
            g = da[i, f]
            dbeta[f] += g
            dgamma[f] += g * xh[i, f]
    for f in range(K):
        s1[f] = dbeta[f] * gamma[f]
        s2[f] = dgamma[f] * gamma[f]
    invB = 1.0 / B
    for i in range(B):
        for f in range(K):
            da[i, f] = rs[f] * (da[i, f] * gamma[f] - invB * (s1[f] + xh[i, f] * s2[f]))


@kernel()
def layernorm_forward(z, gamma, beta, xh, rs, store, eps):
    """z (B, K) -> gamma * xhat + beta in place, statistics per row; rs (B,)."""
    B, K = z.shape
    for i in range(B):
        mu = 0.0
        for f in range(K):
            mu += z[i, f]
        mu /= K
        var = 0.0
        for f in range(K):
            d = z[i, f] - mu
            var += d * d
        r = 1.0 / math.sqrt(var / K + eps)
        if store:
            rs[i] = r
        for f in range(K):
            t = (z[i, f] - mu) * r
            if store:
                xh[i, f] = t
            z[i, f] = gamma[f] * t + beta[f]


@kernel()
def layernorm_backward(da, xh, rs, gamma, dgamma, dbeta):
    """da (B, K) = dL/da -> dL/dz in place; dgamma, dbeta (K,) written."""
    B, K = da.shape
    for f in range(K):
        dgamma[f] = 0.0
        dbeta[f] = 0.0
    invK = 1.0 / K
    for i in range(B):
        s1 = 0.0
        s2 = 0.0
        for f in range(K):
            g = da[i, f]
            dbeta[f] += g
            dgamma[f] += g * xh[i, f]
            dx = g * gamma[f]
            s1 += dx
            s2 += dx * xh[i, f]
        r = rs[i]
        for f in range(K):
            da[i, f] = r * (da[i, f] * gamma[f] - invK * (s1 + xh[i, f] * s2))
