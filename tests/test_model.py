"""MLP: gradients (finite differences), agreement with the numpy reference,
losses' stability and state_dict (save/load: test_io.py)."""
import numpy as np
import pytest

import jitmlp as jm
import reference as ref

ACTS = list(jm.registry.ACTIVATIONS)     # a new entry is tested here
LOSSES = list(jm.registry.LOSSES)


def out_for(loss):
    return {"squared": 2, "logistic": 1, "cross_entropy": 3, "huber": 2,
            "poisson": 2, "binary_cross_entropy": 3}[loss]


def data(loss, n, d, out, seed):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, d)), ref.make_targets(loss, n, out, r)


@pytest.mark.parametrize("batch", [1, 17])
@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_gradient_matches_finite_differences(act, loss, depth, batch):
    out = out_for(loss)
    sizes = [4] + [5] * depth + [out]
    m = jm.MLP(sizes, activation=act, loss=loss, seed=depth + batch)
    m.params += 0.05  # biases away from 0: no ReLU kink at a tested point
    X, y = data(loss, batch, 4, out, seed=7)
    lval, g = m.loss_and_grad(X, y)
    assert np.isclose(lval, m.loss(X, y), rtol=1e-12)
    g_fd = ref.finite_difference(m, X, y)
    assert ref.rel_err(g, g_fd) < 1e-6


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_kernels_match_numpy_reference(act, loss, dtype):
    out = out_for(loss)
    m = jm.MLP([6, 9, 7, 7, out], activation=act, loss=loss, dtype=dtype,
               residual=True, seed=3)
    X, y = data(loss, 13, 6, out, seed=1)
    Xd = X.astype(dtype)
    h_ref, cache = ref.forward(m, Xd)
    tol = 1e-12 if dtype == "float64" else 2e-5
    h = m.forward(X)
    assert h.dtype == np.dtype(dtype)
    np.testing.assert_allclose(h, h_ref, rtol=tol, atol=tol)
    L_ref, delta = ref.loss_delta(loss, h_ref, y)
    grads = ref.backward(m, cache, delta.astype(dtype))
    L, g = m.loss_and_grad(X, y)
    assert g.dtype == np.dtype(dtype)
    assert np.isclose(L, L_ref, rtol=tol * 10)
    g_ref = ref.flat(m, grads)
    scale = np.abs(g_ref).max()
    np.testing.assert_allclose(g, g_ref, rtol=0, atol=tol * 10 * scale)


def test_blas_and_loop_products_agree(rng):
    from jitmlp.kernels import mm_nn, mm_nt, mm_tn
    # loop path, one gemm, gemm chunked over n (mm_nn), B (mm_tn), m (mm_nt)
    for B, n, m in [(1, 3, 4), (64, 200, 150), (40, 600, 30), (530, 20, 9),
                    (7, 30, 700)]:
        for dt in (np.float64, np.float32):
            a = rng.standard_normal((B, n)).astype(dt)
            w = rng.standard_normal((n, m)).astype(dt)
            d = rng.standard_normal((B, m)).astype(dt)
            tol = 1e-12 if dt == np.float64 else 1e-4
            o = np.empty((B, m), dt)
            mm_nn(a, w, o)
            np.testing.assert_allclose(o, a @ w, rtol=tol, atol=tol)
            o = np.empty((n, m), dt)
            mm_tn(a, d, o)
            np.testing.assert_allclose(o, a.T @ d, rtol=tol, atol=tol * 10)
            o = np.empty((B, n), dt)
            mm_nt(d, w, o)
            np.testing.assert_allclose(o, d @ w.T, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
def test_losses_stable_for_huge_outputs(loss, dtype):
    out = out_for(loss)
    m = jm.MLP([2, out], loss=loss, dtype=dtype, seed=0)
    sd = m.state_dict()
    sd["out.W"][...] = 0
    for sign in (1, -1):
        sd["out.b"][...] = sign * 1e4 * (np.arange(out) + 1) / out
        X = np.zeros((3, 2))
        y = {"squared": np.zeros((3, out)), "logistic": np.array([1, -1, 1]),
             "cross_entropy": np.array([0, 1, 2]),
             "huber": np.zeros((3, out)), "poisson": np.ones((3, out)),
             "binary_cross_entropy": np.array([[0, 1, 1], [1, 0, 1],
                                               [1, 1, 0]])}[loss]
        if loss == "poisson" and sign == 1:
            # exp(1e4) overflows any float: a clear error, never a NaN
            with pytest.raises(jm.NonFiniteOutputError):
                m.loss_and_grad(X, y)
            with pytest.raises(jm.NonFiniteOutputError):
                m.loss(X, y)
            continue
        L, g = m.loss_and_grad(X, y)
        assert np.isfinite(L) and np.isfinite(g).all()
        if loss == "logistic":
            # two samples at margin 1e4 (loss 0) and one at -1e4 (loss 1e4)
            exp = 1e4 / 3 if sign == 1 else 2e4 / 3
            assert np.isclose(L, exp, rtol=1e-6)
        if loss == "cross_entropy":
            _, delta = ref.loss_delta(loss, m.forward(X), y)
            assert np.isfinite(delta).all()
        if loss == "poisson":          # h = -1e4: exp(h) = 0, loss -y h
            assert np.isclose(L, 1e4 * (1 + 2) / 2, rtol=1e-6)
        if loss == "binary_cross_entropy":
            # per row: softplus(h) - y h summed over the 3 outputs
            h = m.forward(X).astype(np.float64)
            exp = (np.logaddexp(0, h) - y * h).sum(1).mean()
            assert np.isclose(L, exp, rtol=1e-6)
    if m._loss.proba is not None:
        assert np.isfinite(m.predict_proba(np.zeros((2, 2)))).all()


def test_logistic_and_cross_entropy_values_match_reference(rng):
    for loss in ("logistic", "cross_entropy"):
        out = out_for(loss)
        m = jm.MLP([3, 4, out], loss=loss, seed=1)
        X, y = data(loss, 20, 3, out, seed=2)
        assert np.isclose(m.loss(X, y), ref.loss_delta(loss, m.forward(X), y)[0],
                          rtol=1e-12)


def test_predict_and_proba_conventions(rng):
    X = rng.standard_normal((10, 3))
    m = jm.MLP([3, 4, 1], loss="logistic", seed=0)
    p = m.predict(X)
    assert set(np.unique(p)) <= {-1, 1}
    P = m.predict_proba(X)
    assert P.shape == (10, 2) and np.allclose(P.sum(1), 1)
    assert np.all((P[:, 1] >= 0.5) == (p == 1))
    m = jm.MLP([3, 4, 5], loss="cross_entropy", seed=0)
    P = m.predict_proba(X)
    assert np.allclose(P.sum(1), 1) and np.all(m.predict(X) == P.argmax(1))
    m = jm.MLP([3, 4, 1], seed=0)
    assert m.predict(X).shape == (10,)
    m = jm.MLP([3, 4, 2], seed=0)
    assert m.predict(X).shape == (10, 2)
    with pytest.raises(ValueError, match="predict_proba"):
        m.predict_proba(X)


def test_many_rows_are_chunked_consistently(rng):
    m = jm.MLP([5, 8, 3], seed=0)
    X = rng.standard_normal((2500, 5))
    h = m.forward(X)
    np.testing.assert_allclose(h, ref.forward(m, X)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("init,var", [("he", lambda i, o: 2 / i),
                                      ("xavier", lambda i, o: 2 / (i + o)),
                                      ("lecun", lambda i, o: 1 / i)])
def test_initialisers_have_the_documented_variance(init, var):
    m = jm.MLP([400, 300, 10], init=init, init_scale=1.5, seed=0)
    W = m.state_dict()["hidden.0.W"]
    assert abs(W.var() / (1.5 ** 2 * var(400, 300)) - 1) < 0.02
    assert abs(W.mean()) < 0.01
    assert np.all(m.state_dict()["hidden.0.b"] == 0)


def test_same_seed_same_weights_in_both_dtypes():
    a = jm.MLP([4, 8, 2], seed=5)
    b = jm.MLP([4, 8, 2], seed=5)
    c = jm.MLP([4, 8, 2], seed=5, dtype="float32")
    assert np.array_equal(a.params, b.params)
    assert np.array_equal(a.params.astype(np.float32), c.params)
    assert not np.array_equal(a.params, jm.MLP([4, 8, 2], seed=6).params)


def test_state_dict_views_and_names():
    m = jm.MLP([3, 4, 4, 2], norm="batch", seed=0)
    sd = m.state_dict()
    assert list(sd) == [
        "hidden.0.W", "hidden.0.gamma", "hidden.0.beta",
        "hidden.0.running_mean", "hidden.0.running_var",
        "hidden.1.W", "hidden.1.gamma", "hidden.1.beta",
        "hidden.1.running_mean", "hidden.1.running_var", "out.W", "out.b"]
    sd["out.b"][0] = 3.0
    assert m.params[-2] == 3.0
    m.params[0] = 7.0
    assert m.state_dict()["hidden.0.W"][0, 0] == 7.0
    assert np.all(sd["hidden.0.running_var"] == 1)
    n = sum(v.size for k, v in sd.items() if "running" not in k)
    assert n == m.params.size
    m2 = jm.MLP([3, 4, 2], norm="layer", seed=0)
    assert "hidden.0.b" in m2.state_dict() and "hidden.0.gamma" in m2.state_dict()


def test_load_state_dict_validates_and_changes_nothing():
    m = jm.MLP([3, 4, 2], norm="batch", seed=0)
    other = jm.MLP([3, 4, 2], norm="batch", seed=1)
    before = m.params.copy(), m.stats.copy()
    sd = {k: v.copy() for k, v in other.state_dict().items()}
    for bad, msg in [
        ({k: v for k, v in sd.items() if k != "out.b"}, "missing.*out.b"),
        (dict(sd, extra=np.zeros(2)), "unexpected.*extra"),
        (dict(sd, **{"out.W": np.zeros((4, 3))}), "out.W.*shape"),
        (dict(sd, **{"out.b": np.array([np.nan, 0])}), "out.b.*NaN"),
    ]:
        with pytest.raises(ValueError, match=msg):
            m.load_state_dict(bad)
        assert np.array_equal(m.params, before[0])
        assert np.array_equal(m.stats, before[1])
    m.load_state_dict(sd)
    assert np.array_equal(m.params, other.params)
    assert np.array_equal(m.stats, other.stats)


def test_linear_model_depth_zero(rng):
    m = jm.MLP([3, 1], seed=0)
    X = rng.standard_normal((4, 3))
    sd = m.state_dict()
    np.testing.assert_allclose(m.predict(X), X @ sd["out.W"][:, 0] + sd["out.b"][0])
    assert m.layout.table.shape[0] == 1


def test_repr_and_config():
    m = jm.MLP([3, 4, 2], loss="cross_entropy")
    assert "MLP([3, 4, 2]" in repr(m)
    assert m.get_config()["loss"] == "cross_entropy"
