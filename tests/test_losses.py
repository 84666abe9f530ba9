"""The huber, poisson and binary_cross_entropy losses: values, predictions,
float32 against float64, targets.  Finite differences and the numpy
reference for every loss run in test_model.py / test_norm.py."""
import numpy as np
import pytest

import jitmlp as jm
import reference as ref

NEW = ["huber", "poisson", "binary_cross_entropy"]


@pytest.mark.parametrize("loss", NEW)
def test_float32_agrees_with_float64(loss):
    r = np.random.default_rng(0)
    X = r.standard_normal((20, 4))
    y = ref.make_targets(loss, 20, 3, r)
    m64 = jm.MLP([4, 8, 8, 3], loss=loss, norm="layer", residual=True,
                 seed=2)
    m32 = jm.MLP([4, 8, 8, 3], loss=loss, norm="layer", residual=True,
                 seed=2, dtype="float32")
    m32.params[...] = m64.params
    L64, g64 = m64.loss_and_grad(X, y)
    L32, g32 = m32.loss_and_grad(X, y)
    assert abs(L32 - L64) <= 1e-4 * max(1.0, abs(L64))
    assert np.abs(g32 - g64).max() <= 1e-4 * max(1.0, np.abs(g64).max())


@pytest.mark.parametrize("hd", [0.1, 1.0, 3.0])
def test_huber_delta_reaches_the_kernel(hd):
    r = np.random.default_rng(1)
    X = r.standard_normal((30, 3))
    y = 3 * r.standard_normal((30, 2))
    m = jm.MLP([3, 5, 2], loss="huber", huber_delta=hd, seed=0)
    h = m.forward(X)
    rr = h - y
    a = np.abs(rr)
    per = np.where(a <= hd, 0.5 * rr ** 2, hd * (a - 0.5 * hd)).sum(1)
    L, g = m.loss_and_grad(X, y)
    assert np.isclose(L, per.mean(), rtol=1e-12)
    assert np.isclose(m.loss(X, y), per.mean(), rtol=1e-12)
    g_fd = ref.finite_difference(m, X, y)
    assert ref.rel_err(g, g_fd) < 1e-6
    # torch's HuberLoss(delta) with reduction "sum" / n is the same number
    torch = pytest.importorskip("torch")
    t = torch.nn.HuberLoss(reduction="sum", delta=hd)(
        torch.tensor(h), torch.tensor(y)).item() / len(y)
    assert np.isclose(L, t, rtol=1e-12)


def test_poisson_matches_torch_and_predicts_rates():
    r = np.random.default_rng(2)
    X = r.standard_normal((25, 3))
    y = r.poisson(2.0, (25, 2)).astype(float)
    m = jm.MLP([3, 6, 2], loss="poisson", seed=0)
    h = m.forward(X)
    L = m.loss(X, y)
    torch = pytest.importorskip("torch")
    t = torch.nn.PoissonNLLLoss(log_input=True, full=False,
                                reduction="sum")(
        torch.tensor(h), torch.tensor(y)).item() / len(y)
    assert np.isclose(L, t, rtol=1e-12)
    np.testing.assert_allclose(m.predict(X), np.exp(h), rtol=1e-12)
    m1 = jm.MLP([3, 6, 1], loss="poisson", seed=0)
    assert m1.predict(X).shape == (25,)
    with pytest.raises(ValueError, match=">= 0"):
        m.loss(X, -y)


def test_binary_cross_entropy_matches_torch_predict_and_proba():
    r = np.random.default_rng(3)
    X = r.standard_normal((25, 3))
    y = r.integers(0, 2, (25, 4))
    m = jm.MLP([3, 6, 4], loss="binary_cross_entropy", seed=0)
    h = m.forward(X)
    torch = pytest.importorskip("torch")
    t = torch.nn.BCEWithLogitsLoss(reduction="sum")(
        torch.tensor(h), torch.tensor(y, dtype=torch.float64)).item() / 25
    assert np.isclose(m.loss(X, y), t, rtol=1e-12)
    p = m.predict(X)
    assert p.shape == (25, 4) and p.dtype == np.int64
    assert np.array_equal(p, (h > 0).astype(np.int64))
    P = m.predict_proba(X)
    assert P.shape == (25, 4) and P.dtype == m.dtype
    np.testing.assert_allclose(P, 1 / (1 + np.exp(-h)), rtol=1e-12)
    assert m.score(X, p) == 1.0       # subset accuracy
    with pytest.raises(ValueError, match="0 or 1"):
        m.loss(X, 2 * y)
    with pytest.raises(ValueError, match="columns"):
        m.loss(X, y[:, :3])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_new_losses_train(dtype):
    r = np.random.default_rng(4)
    X = r.standard_normal((200, 3))
    rate = np.exp(0.5 * X[:, :2])
    cases = {"huber": (X[:, :2] ** 2 + 5 * (r.random((200, 2)) < 0.05)),
             "poisson": r.poisson(rate).astype(float),
             "binary_cross_entropy": (X[:, :2] > 0).astype(int)}
    for loss, y in cases.items():
        m = jm.MLP([3, 16, 2], loss=loss, dtype=dtype, seed=0)
        before = m.loss(X, y)
        hist = jm.Trainer(m, jm.Adam(1e-2), batch_size=32, epochs=20,
                          seed=0).fit(X, y)
        assert hist.loss[-1] < 0.7 * before, loss
