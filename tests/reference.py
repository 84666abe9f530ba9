"""Plain-numpy transcriptions of the lecture's formulas, for the tests.

Written for clarity, in the obvious form, independently of the kernels
(BatchNorm backward in the original paper's dmu/dvar form, dW as an explicit
sum of per-sample outer products).
"""
import math

import numpy as np


def phi(name, a):
    if name == "relu":
        return np.maximum(a, 0), (a > 0).astype(a.dtype)
    if name == "leaky_relu":
        return np.where(a > 0, a, 0.01 * a), np.where(a > 0, 1.0, 0.01).astype(a.dtype)
    if name == "tanh":
        t = np.tanh(a)
        return t, 1 - t * t
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-a))
        return s, s * (1 - s)
    if name == "gelu":
        erf = np.vectorize(math.erf)
        c = 0.5 * (1 + erf(a / math.sqrt(2)))
        return (a * c).astype(a.dtype), (c + a * np.exp(-a * a / 2) / math.sqrt(2 * math.pi)).astype(a.dtype)
    if name == "elu":
        return np.where(a > 0, a, np.expm1(np.minimum(a, 0))), np.where(a > 0, 1.0, np.exp(np.minimum(a, 0))).astype(a.dtype)
    if name == "silu":
        s = 0.5 * (1 + np.tanh(0.5 * a))          # sigmoid, another form
        return a * s, s + a * s * (1 - s)
    if name == "softplus":
        return np.logaddexp(0, a), 0.5 * (1 + np.tanh(0.5 * a))
    if name == "identity":
        return a, np.ones_like(a)
    raise NotImplementedError(f"no numpy reference for activation {name!r}")


def forward(model, X, training=True):
    """Returns h and the per-layer cache of the forward pass."""
    sd = model.state_dict()
    L = len(model.sizes) - 2
    eps = model.norm_eps
    x = X
    cache = []
    for l in range(L):
        p = f"hidden.{l}"
        W = sd[p + ".W"]
        z = x @ W
        if p + ".b" in sd:
            z = z + sd[p + ".b"]
        c = {"x_in": x, "z": z}
        a = z
        if model.norm is not None:
            if model.norm == "batch" and training:
                mu, var = z.mean(0), z.var(0)
            elif model.norm == "batch":
                mu, var = sd[p + ".running_mean"], sd[p + ".running_var"]
            else:
                mu, var = z.mean(1, keepdims=True), z.var(1, keepdims=True)
            xhat = (z - mu) / np.sqrt(var + eps)
            a = sd[p + ".gamma"] * xhat + sd[p + ".beta"]
            c.update(mu=mu, var=var, xhat=xhat)
        c["a"] = a
        y, dphi = phi(model.activation, a)
        c["dphi"] = dphi
        c["resid"] = model.residual and W.shape[0] == W.shape[1]
        x = y + x if c["resid"] else y
        cache.append(c)
    h = x @ sd["out.W"] + sd["out.b"]
    cache.append({"x_in": x, "z": h})
    return h, cache


def loss_delta(loss, h, y):
    """Mean loss and delta^(L+1) = d(mean loss)/dh (float64 math)."""
    h = h.astype(np.float64)
    n = h.shape[0]
    if loss == "squared":
        y = np.asarray(y, np.float64).reshape(h.shape)
        return 0.5 * ((h - y) ** 2).sum() / n, (h - y) / n
    if loss == "logistic":
        y = np.asarray(y, np.float64).reshape(-1, 1)
        t = -y * h
        return np.logaddexp(0, t).mean(), -y / (1 + np.exp(-t)) / n
    if loss == "huber":            # delta 1 (the default huber_delta)
        y = np.asarray(y, np.float64).reshape(h.shape)
        r = h - y
        small = np.abs(r) <= 1.0
        per = np.where(small, 0.5 * r * r, np.abs(r) - 0.5).sum(1)
        return per.mean(), np.where(small, r, np.sign(r)) / n
    if loss == "poisson":          # h the log-rate, no Stirling term
        y = np.asarray(y, np.float64).reshape(h.shape)
        return (np.exp(h) - y * h).sum(1).mean(), (np.exp(h) - y) / n
    if loss == "binary_cross_entropy":
        y = np.asarray(y, np.float64).reshape(h.shape)
        return (np.logaddexp(0, h) - y * h).sum(1).mean(), \
            (0.5 * (1 + np.tanh(0.5 * h)) - y) / n
    if loss != "cross_entropy":
        raise NotImplementedError(f"no numpy reference for loss {loss!r}")
    y = np.asarray(y).astype(int)
    m = h.max(1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(h - m).sum(1))
    P = np.exp(h - lse[:, None])
    onehot = np.zeros_like(h)
    onehot[np.arange(n), y] = 1
    return (lse - h[np.arange(n), y]).mean(), (P - onehot) / n


def batchnorm_backward_paper(da, c, gamma, axis):
    """Ioffe & Szegedy (2015), backward of Alg. 1 in its dmu/dvar form."""
    N = da.shape[axis]
    xhat, var, mu, z = c["xhat"], c["var"], c["mu"], c["z"]
    eps = c["eps"]
    dxhat = da * gamma
    dvar = (dxhat * (z - mu) * -0.5 * (var + eps) ** -1.5).sum(axis, keepdims=True)
    dmu = (-dxhat / np.sqrt(var + eps)).sum(axis, keepdims=True) \
        + dvar * (-2 * (z - mu)).sum(axis, keepdims=True) / N
    return dxhat / np.sqrt(var + eps) + dvar * 2 * (z - mu) / N + dmu / N


def backward(model, cache, delta):
    """Gradients by name from delta^(L+1): the delta recursion, dW as the sum
    over samples of outer products x_i delta_i^T, db as the sum of deltas."""
    sd = model.state_dict()
    grads = {}
    L = len(model.sizes) - 2
    dt = delta.dtype
    names = [f"hidden.{l}" for l in range(L)] + ["out"]
    g = None
    for l in range(L, -1, -1):
        p = names[l]
        c = cache[l]
        if l < L:
            da = g * c["dphi"]
            if model.norm is not None:
                grads[p + ".gamma"] = (da * c["xhat"]).sum(0)
                grads[p + ".beta"] = da.sum(0)
                axis = 0 if model.norm == "batch" else 1
                c = dict(c, eps=model.norm_eps)
                delta = batchnorm_backward_paper(da, c, sd[p + ".gamma"], axis)
            else:
                delta = da
        x = c["x_in"]
        dW = np.zeros(sd[p + ".W"].shape, dt)
        for i in range(x.shape[0]):
            dW += np.outer(x[i], delta[i])
        grads[p + ".W"] = dW
        if p + ".b" in sd:
            grads[p + ".b"] = delta.sum(0)
        g_in = delta @ sd[p + ".W"].T
        if l < L and c["resid"]:
            g_in = g_in + g
        g = g_in
    return grads


def flat(model, grads):
    """Assemble a dict of gradients into the params layout."""
    out = np.zeros_like(model.params)
    sd = model.state_dict()
    for name, arr in sd.items():
        if name in grads:
            off = np.shares_memory(arr, model.params)
            assert off
            start = (arr.__array_interface__["data"][0]
                     - model.params.__array_interface__["data"][0]) // model.params.itemsize
            out[start:start + arr.size] = np.asarray(grads[name]).ravel()
    return out


def make_targets(loss, n, out, rng):
    if loss == "squared":
        return rng.standard_normal((n, out))
    if loss == "logistic":
        return rng.choice([-1.0, 1.0], n)
    if loss == "cross_entropy":
        return rng.integers(0, out, n)
    if loss == "huber":            # residuals on both sides of delta = 1
        return 2.0 * rng.standard_normal((n, out))
    if loss == "poisson":
        return rng.poisson(1.5, (n, out)).astype(np.float64)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, out))
    raise NotImplementedError(f"no targets for loss {loss!r}")


def finite_difference(model, X, y, h=1e-6):
    """Central differences of the mean training-mode loss in every parameter."""
    p0 = model.params.copy()
    g = np.zeros_like(p0)
    was = model.training
    model.train()
    try:
        for k in range(p0.size):
            model.params[k] = p0[k] + h
            lp = model.loss(X, y)
            model.params[k] = p0[k] - h
            lm = model.loss(X, y)
            model.params[k] = p0[k]
            g[k] = (lp - lm) / (2 * h)
    finally:
        model.params[...] = p0
        model.train(was)
    return g


def rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)
