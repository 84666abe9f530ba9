"""Dropout: masks in the kernels, a pure function of (seed, step, row, unit)."""
import numpy as np
import pytest

import jitmlp as jm
import reference as ref


def probe(p, n=200, K=500, seed=0, dtype="float64"):
    """h = the dropped-out activations: identity phi, z = 1, W_out = I."""
    m = jm.MLP([1, K, K], activation="identity", dropout=p, seed=seed,
               dtype=dtype)
    sd = m.state_dict()
    sd["hidden.0.W"][...] = 1.0
    sd["out.W"][...] = np.eye(K)
    return m, np.ones((n, 1))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keep_fraction_and_scale(p):
    m, X = probe(p)
    h = m.forward(X)                      # training mode (initial)
    kept = h != 0
    frac = kept.mean()
    sd = np.sqrt(p * (1 - p) / h.size)
    assert abs(frac - (1 - p)) < 5 * sd
    np.testing.assert_allclose(h[kept], 1 / (1 - p), rtol=1e-12)
    # rows and units are not all alike: masks vary along both
    assert kept.any(0).all() and kept.any(1).all()
    assert len({r.tobytes() for r in kept[:20]}) == 20


def test_evaluation_mode_is_the_identity():
    X = np.random.default_rng(0).standard_normal((30, 4))
    m = jm.MLP([4, 16, 16, 3], dropout=0.5, residual=True, norm="batch",
               seed=1).eval()
    m0 = jm.MLP([4, 16, 16, 3], residual=True, norm="batch", seed=1).eval()
    assert np.array_equal(m.forward(X), m0.forward(X))


def test_masks_depend_on_seed_and_step_only():
    m, X = probe(0.5)
    a = m.forward(X)
    assert np.array_equal(a, m.forward(X))          # same step: same mask
    assert np.array_equal(a, probe(0.5)[0].forward(X))   # same seed
    assert not np.array_equal(a, probe(0.5, seed=1)[0].forward(X))
    m.dropout_step = 1
    assert not np.array_equal(a, m.forward(X))
    # chunking does not matter: rows 0..n-1 whatever the chunk size
    m.dropout_step = 0
    m2, X2 = probe(0.5, n=2500, K=20)
    full = m2.forward(X2)
    assert np.array_equal(full[:1500], m2.forward(X2[:1500]))


@pytest.mark.parametrize("act", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("residual", [False, True])
def test_gradient_matches_finite_differences_under_a_fixed_mask(act, norm,
                                                                 residual):
    """loss_and_grad and loss (training mode) draw the masks of
    model.dropout_step: the same mask, so finite differences apply."""
    r = np.random.default_rng(3)
    m = jm.MLP([4, 6, 6, 3], activation=act, norm=norm, residual=residual,
               loss="cross_entropy", dropout=[0.3, 0.5], seed=4)
    m.params += 0.1 * r.standard_normal(m.params.size)
    m.dropout_step = 7
    X = r.standard_normal((11, 4))
    y = r.integers(0, 3, 11)
    L, g = m.loss_and_grad(X, y)
    assert np.isclose(L, m.loss(X, y), rtol=1e-12)
    g_fd = ref.finite_difference(m, X, y)
    assert ref.rel_err(g, g_fd) < 1e-6
    # and the gradient is not the one without dropout
    m0 = jm.MLP([4, 6, 6, 3], activation=act, norm=norm, residual=residual,
                loss="cross_entropy", seed=4)
    m0.params[...] = m.params
    assert not np.allclose(m0.loss_and_grad(X, y)[1], g)


def test_fit_equals_steps_on_the_same_batches():
    r = np.random.default_rng(0)
    X, y = r.standard_normal((40, 5)), r.integers(0, 3, 40)
    m1 = jm.MLP([5, 16, 16, 3], loss="cross_entropy", dropout=0.4, seed=0)
    m2 = m1.copy()
    jm.Trainer(m1, jm.Adam(1e-2), batch_size=8, epochs=2,
               shuffle=False).fit(X, y)
    t2 = jm.Trainer(m2, jm.Adam(1e-2), batch_size=8)
    for _ in range(2):
        for s in range(0, 40, 8):
            t2.step(X[s:s + 8], y[s:s + 8])
    assert np.array_equal(m1.params, m2.params)


def test_same_result_for_any_thread_count():
    r = np.random.default_rng(0)
    X, y = r.standard_normal((64, 5)), r.standard_normal(64)
    out = []
    old = jm.get_num_threads()
    try:
        for k in (1, 2):
            jm.set_num_threads(k)
            m = jm.MLP([5, 32, 32, 1], dropout=0.3, seed=0)
            h = m.forward(X)
            jm.Trainer(m, jm.Adam(1e-2), batch_size=16, epochs=2,
                       seed=0).fit(X, y)
            out.append((h, m.params.copy()))
    finally:
        jm.set_num_threads(old)
    assert np.array_equal(out[0][0], out[1][0])          # the masks
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-12, atol=1e-15)


def test_rate_zero_is_bitwise_no_dropout():
    r = np.random.default_rng(0)
    X, y = r.standard_normal((50, 5)), r.integers(0, 3, 50)
    ps = []
    for kw in ({}, {"dropout": 0.0}, {"dropout": [0.0, 0.0]}):
        m = jm.MLP([5, 16, 16, 3], loss="cross_entropy", seed=0, **kw)
        jm.Trainer(m, jm.SGD(0.1, momentum=0.9), batch_size=8, epochs=2,
                   seed=0).fit(X, y)
        ps.append(m.params.copy())
    assert np.array_equal(ps[0], ps[1]) and np.array_equal(ps[0], ps[2])


def test_per_layer_rates():
    m = jm.MLP([3, 4, 5, 2], dropout=[0.5, 0.0], seed=0)
    assert list(m.layout.table[:, jm.kernels.consts.DROP]) == [1 << 31, 0, 0]
    assert m.dropout == [0.5, 0.0]
    assert "dropout" in repr(m)


@pytest.mark.parametrize("bad, exc", [(1.0, ValueError), (-0.1, ValueError),
                                      ([0.1], ValueError), ("0.1", TypeError),
                                      ([0.1, 1.5], ValueError)])
def test_invalid_rates_are_refused(bad, exc):
    with pytest.raises(exc, match="dropout"):
        jm.MLP([3, 4, 5, 2], dropout=bad)


def test_dropout_regularises_training_not_evaluation():
    r = np.random.default_rng(0)
    X, y = r.standard_normal((100, 5)), r.integers(0, 3, 100)
    m = jm.MLP([5, 64, 3], loss="cross_entropy", dropout=0.5, seed=0)
    jm.Trainer(m, jm.Adam(1e-2), batch_size=20, epochs=5, seed=0).fit(X, y)
    assert not m.training
    a = m.forward(X)
    assert np.array_equal(a, m.forward(X))
    m.train()
    assert not np.array_equal(a, m.forward(X))


def test_pickle_keeps_the_mask_key():
    import pickle
    m, X = probe(0.5, n=5, K=8, seed=None)
    m2 = pickle.loads(pickle.dumps(m))
    assert np.array_equal(m.forward(X), m2.forward(X))


def test_float32_and_large_batches_in_blocks():
    m, X = probe(0.3, n=300, K=200, dtype="float32")
    h = m.forward(X)
    assert h.dtype == np.float32
    np.testing.assert_allclose(h[h != 0], 1 / 0.7, rtol=1e-6)
    # loss_and_grad sums blocks of 4096 rows; loss runs chunks of 1024: the
    # masks follow the row index in X, so both see the same network
    r = np.random.default_rng(0)
    X = r.standard_normal((5000, 3))
    y = r.standard_normal(5000)
    m = jm.MLP([3, 8, 1], dropout=0.5, seed=0)
    L, _ = m.loss_and_grad(X, y)
    assert np.isclose(L, m.loss(X, y), rtol=1e-12)


def test_old_pickles_without_dropout_load():
    """A pickle from before dropout: 14-column layout, no mask key."""
    import pickle
    m = jm.MLP([3, 4, 2], seed=0)
    state = m.__getstate__()
    lay = state["_layout"]
    import dataclasses
    state["_layout"] = dataclasses.replace(lay, table=lay.table[:, :14])
    for k in ("_mask_seed", "dropout_step"):
        state.pop(k)
    state["_config"] = {k: v for k, v in state["_config"].items()
                        if k not in ("dropout", "huber_delta")}
    old = jm.MLP.__new__(jm.MLP)
    old.__setstate__(state)
    X = np.ones((2, 3))
    assert np.array_equal(old.forward(X), m.forward(X))
    assert old.layout.table.shape == m.layout.table.shape
    assert pickle.loads(pickle.dumps(old)).get_config() == m.get_config()
