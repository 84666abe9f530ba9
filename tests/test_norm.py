"""BatchNorm, LayerNorm and skip connections inside the compiled kernels."""
import numpy as np
import pytest

import jitmlp as jm
import reference as ref
from jitmlp.kernels import (batchnorm_backward, batchnorm_forward,
                            layernorm_backward, layernorm_forward)

ACTS = list(jm.registry.ACTIVATIONS)     # a new entry is tested here
LOSSES = list(jm.registry.LOSSES)
OUT = {"squared": 2, "logistic": 1, "cross_entropy": 3, "huber": 2,
       "poisson": 2, "binary_cross_entropy": 3}


@pytest.mark.parametrize("batch", [2, 17])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_norm_gradients_match_finite_differences(norm, residual, act, loss,
                                                 batch):
    out = OUT[loss]
    m = jm.MLP([4, 5, 5, out], activation=act, norm=norm, residual=residual,
               loss=loss, seed=batch)
    r = np.random.default_rng(3)
    m.params += 0.1 * r.standard_normal(m.params.size)  # gamma, beta off 1, 0
    X = r.standard_normal((batch, 4))
    y = ref.make_targets(loss, batch, out, r)
    stats = m.stats.copy()
    p = m.params.copy()
    _, g = m.loss_and_grad(X, y)
    assert np.array_equal(m.stats, stats) and np.array_equal(m.params, p)
    g_fd = ref.finite_difference(m, X, y)
    assert ref.rel_err(g, g_fd) < 1e-6
    views = m.param_views(g)
    assert np.abs(views["hidden.1.gamma"]).sum() > 0
    assert np.abs(views["hidden.1.beta"]).sum() > 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_norm_kernels_match_numpy_reference(norm, dtype):
    r = np.random.default_rng(0)
    B, K, eps = 11, 6, 1e-5
    z = (3 + 2 * r.standard_normal((B, K))).astype(dtype)
    gamma = (1 + 0.3 * r.standard_normal(K)).astype(dtype)
    beta = r.standard_normal(K).astype(dtype)
    da = r.standard_normal((B, K)).astype(dtype)
    axis = 0 if norm == "batch" else 1
    mu = z.astype(np.float64).mean(axis, keepdims=True)
    var = z.astype(np.float64).var(axis, keepdims=True)
    xhat = (z - mu) / np.sqrt(var + eps)
    a_ref = gamma * xhat + beta
    c = {"z": z.astype(np.float64), "mu": mu, "var": var, "xhat": xhat,
         "eps": eps}
    dz_ref = ref.batchnorm_backward_paper(da.astype(np.float64), c,
                                          gamma.astype(np.float64), axis)
    a = z.copy()
    xh = np.zeros((B, K), dtype)
    rs = np.zeros(max(B, K), dtype)
    v = np.zeros(4 * K, dtype)
    rm, rv = np.zeros(K, dtype), np.ones(K, dtype)
    dgamma, dbeta = np.zeros(K, dtype), np.zeros(K, dtype)
    if norm == "batch":
        batchnorm_forward(a, gamma, beta, rm, rv, xh, rs[:K], v, True, True,
                          True, 0.1, eps)
        dz = da.copy()
        batchnorm_backward(dz, xh, rs[:K], gamma, dgamma, dbeta, v)
        np.testing.assert_allclose(rm, 0.1 * mu[0], rtol=1e-5)
        np.testing.assert_allclose(rv, 0.9 + 0.1 * var[0] * B / (B - 1),
                                   rtol=1e-5)
    else:
        layernorm_forward(a, gamma, beta, xh, rs[:B], True, eps)
        dz = da.copy()
        layernorm_backward(dz, xh, rs[:B], gamma, dgamma, dbeta)
    tol = 1e-11 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(a, a_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(xh, xhat, rtol=tol, atol=tol)
    np.testing.assert_allclose(dz, dz_ref, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(dgamma, (da * xhat).sum(0), rtol=tol * 10,
                               atol=tol * 10)
    np.testing.assert_allclose(dbeta, da.sum(0), rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_model_with_norm_matches_reference(norm, dtype):
    m = jm.MLP([5, 7, 7, 3], norm=norm, residual=True, activation="tanh",
               loss="cross_entropy", dtype=dtype, seed=1)
    r = np.random.default_rng(1)
    m.params += (0.1 * r.standard_normal(m.params.size)).astype(dtype)
    X = r.standard_normal((9, 5)).astype(dtype)
    y = r.integers(0, 3, 9)
    h_ref, cache = ref.forward(m, X)
    tol = 1e-11 if dtype == "float64" else 5e-5
    np.testing.assert_allclose(m.forward(X), h_ref, rtol=tol, atol=tol)
    _, delta = ref.loss_delta("cross_entropy", h_ref, y)
    g_ref = ref.flat(m, ref.backward(m, cache, delta.astype(dtype)))
    _, g = m.loss_and_grad(X, y)
    np.testing.assert_allclose(g, g_ref, atol=tol * 10 * np.abs(g_ref).max())
    if norm == "batch":
        m.eval()
        m.stats[...] = np.abs(r.standard_normal(m.stats.size)) + 0.5
        np.testing.assert_allclose(m.forward(X), ref.forward(m, X, False)[0],
                                   rtol=tol, atol=tol)


def test_batchnorm_layers_have_no_bias():
    sd = jm.MLP([3, 4, 4, 2], norm="batch").state_dict()
    assert "hidden.0.b" not in sd and "hidden.1.b" not in sd and "out.b" in sd


@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_running_statistics_follow_the_ema_formula(momentum):
    m = jm.MLP([4, 6, 5, 2], norm="batch", bn_momentum=momentum, seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.05), seed=0)
    r = np.random.default_rng(0)
    rm = [np.zeros(6), np.zeros(5)]
    rv = [np.ones(6), np.ones(5)]
    for k in range(7):
        Xb = 2 + r.standard_normal((8, 4))
        yb = r.standard_normal((8, 2))
        m.train()
        zs = m.preactivations(Xb)  # batch statistics before this step
        for l in range(2):
            rm[l] = (1 - momentum) * rm[l] + momentum * zs[l].mean(0)
            rv[l] = (1 - momentum) * rv[l] + momentum * zs[l].var(0, ddof=1)
        tr.step(Xb, yb)
    sd = m.state_dict()
    for l in range(2):
        np.testing.assert_allclose(sd[f"hidden.{l}.running_mean"], rm[l],
                                   rtol=1e-12)
        np.testing.assert_allclose(sd[f"hidden.{l}.running_var"], rv[l],
                                   rtol=1e-12)


def test_fit_moves_running_statistics_once_per_step():
    m = jm.MLP([3, 4, 1], norm="batch", bn_momentum=0.5, seed=0)
    r = np.random.default_rng(0)
    X = 5 + r.standard_normal((64, 3))
    jm.Trainer(m, jm.SGD(lr=1e-9), batch_size=16, epochs=3, seed=0).fit(
        X, X[:, 0])
    # 12 steps with momentum 0.5 from 0: the running mean is ~ the batch mean
    z = X @ m.state_dict()["hidden.0.W"]
    np.testing.assert_allclose(m.state_dict()["hidden.0.running_mean"],
                               z.mean(0), rtol=0.05, atol=0.05)


def test_batchnorm_is_invariant_to_column_scaling_of_W():
    r = np.random.default_rng(0)
    m = jm.MLP([5, 8, 8, 3], norm="batch", norm_eps=1e-300, loss="cross_entropy",
               seed=0)
    X = r.standard_normal((16, 5))
    y = r.integers(0, 3, 16)
    base = m.loss(X, y)
    for layer in ("hidden.0.W", "hidden.1.W"):
        m2 = m.copy()
        m2.state_dict()[layer][...] *= r.uniform(0.1, 10.0, 8)
        assert np.isclose(m2.loss(X, y), base, rtol=1e-12, atol=1e-14)
    m3 = jm.MLP([5, 8, 8, 3], loss="cross_entropy", seed=0)
    m3.state_dict()["hidden.0.W"][...] *= 3.0
    assert not np.isclose(m3.loss(X, y), jm.MLP([5, 8, 8, 3],
                          loss="cross_entropy", seed=0).loss(X, y))


def test_train_and_eval_modes():
    r = np.random.default_rng(0)
    X = r.standard_normal((10, 4))
    bn = jm.MLP([4, 6, 2], norm="batch", seed=0)
    assert bn.training
    a = bn.forward(X)
    bn.eval()
    assert not bn.training
    b = bn.forward(X)
    assert not np.allclose(a, b)
    ln = jm.MLP([4, 6, 2], norm="layer", seed=0)
    np.testing.assert_array_equal(ln.train().forward(X), ln.eval().forward(X))
    # one sample: an error in training mode, fine in evaluation mode
    bn.train()
    with pytest.raises(ValueError, match="at least 2 samples"):
        bn.forward(X[:1])
    with pytest.raises(ValueError, match="at least 2 samples"):
        bn.loss_and_grad(X[:1], np.zeros((1, 2)))
    tr = jm.Trainer(bn, jm.SGD(lr=0.1))
    p = bn.params.copy()
    with pytest.raises(ValueError, match="at least 2 samples"):
        tr.step(X[:1], np.zeros((1, 2)))
    with pytest.raises(ValueError, match="batch of 1"):
        jm.Trainer(bn, jm.SGD(lr=0.1), batch_size=3).fit(X, np.zeros((10, 2)))
    assert np.array_equal(bn.params, p)
    bn.eval()
    assert bn.forward(X[:1]).shape == (1, 2)
    assert bn.predict(X[:1]).shape == (1, 2)


def test_residual_only_where_widths_match():
    m = jm.MLP([3, 5, 5, 4, 2], residual=True, seed=0)
    from jitmlp.kernels.consts import RESID
    assert list(m.layout.table[:, RESID]) == [0, 1, 0, 0]


def weight_grad_norms(m, X, y):
    _, g = m.loss_and_grad(X, y)
    v = m.param_views(g)
    L = len(m.sizes) - 2
    return np.array([np.linalg.norm(v[f"hidden.{l}.W"]) for l in range(L)])


def test_vanishing_gradients_and_remedies():
    r = np.random.default_rng(0)
    X = r.standard_normal((64, 128))
    y = r.standard_normal(64)
    sizes = [128] * 31 + [1]
    sig = weight_grad_norms(jm.MLP(sizes, activation="sigmoid", init="xavier",
                                   seed=0), X, y)
    assert sig[0] < 1e-6 * sig[-1]
    res = weight_grad_norms(jm.MLP(sizes, activation="sigmoid", init="xavier",
                                   residual=True, seed=0), X, y)
    assert 1e-2 <= res[0] / res[-1] <= 1e2
    he = weight_grad_norms(jm.MLP(sizes, seed=0), X, y)
    half = weight_grad_norms(jm.MLP(sizes, init_scale=0.5, seed=0), X, y)
    assert np.all(half < 1e-6 * he)
    # the delta recursion's prediction: dW^(l) = x^(l-1).T delta^(l) carries
    # 0.5^(l-1) from the forward pass and 0.5^(31-l) from the backward one,
    # 0.5^30 in all, times the (per-sample) change of the output error h - y
    exponent = np.log(half / he) / np.log(0.5)
    assert np.all((exponent > 29) & (exponent < 36))
    # BatchNorm undoes the scale of every hidden W; the linear output layer
    # is not normalised, so it is given the same weights in both nets
    nets = [jm.MLP(sizes, norm="batch", init_scale=s, seed=0)
            for s in (1.0, 0.5)]
    nets[1].state_dict()["out.W"][...] = nets[0].state_dict()["out.W"]
    bn = [n.loss(X, y) for n in nets]
    assert np.isclose(bn[0], bn[1], rtol=1e-3)  # eps = 1e-5 is the only difference
    g_bn = [weight_grad_norms(n, X, y) for n in nets]
    # and the gradients no longer vanish: dW scales by 1/0.5 (the inverse of
    # the column scale), not by 0.5^30
    np.testing.assert_allclose(g_bn[1], 2 * g_bn[0], rtol=1e-2)
