"""sample_weight in loss, loss_and_grad, Trainer.fit and Trainer.step."""
import numpy as np
import pytest

import jitmlp as jm
import reference as ref

LOSSES = list(jm.registry.LOSSES)
OUT = {"squared": 2, "logistic": 1, "cross_entropy": 3, "huber": 2,
       "poisson": 2, "binary_cross_entropy": 3}


def data(loss, n=12, seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, 4)), ref.make_targets(loss, n, OUT[loss], r)


@pytest.mark.parametrize("norm", [None, "layer"])
@pytest.mark.parametrize("loss", LOSSES)
def test_integer_weights_equal_repeated_rows(loss, norm):
    X, y = data(loss)
    w = np.random.default_rng(1).integers(0, 4, len(X))
    w[0] = 2
    m = jm.MLP([4, 6, 5, OUT[loss]], loss=loss, norm=norm, seed=0)
    Lw, gw = m.loss_and_grad(X, y, sample_weight=w)
    Xr, yr = np.repeat(X, w, axis=0), np.repeat(y, w, axis=0)
    Lr, gr = m.loss_and_grad(Xr, yr)
    assert np.isclose(Lw, Lr, rtol=1e-10)
    np.testing.assert_allclose(gw, gr, rtol=1e-10, atol=1e-14)
    assert np.isclose(m.loss(X, y, sample_weight=w), Lr, rtol=1e-10)
    # and one optimizer step on the batch
    m2 = m.copy()
    t1 = jm.Trainer(m, jm.SGD(0.1, momentum=0.9))
    t2 = jm.Trainer(m2, jm.SGD(0.1, momentum=0.9))
    assert np.isclose(t1.step(X, y, sample_weight=w), t2.step(Xr, yr),
                      rtol=1e-10)
    np.testing.assert_allclose(m.params, m2.params, rtol=1e-10, atol=1e-14)


def test_weighted_gradient_matches_finite_differences():
    X, y = data("cross_entropy", 9)
    w = np.random.default_rng(2).random(9)
    m = jm.MLP([4, 5, 3], loss="cross_entropy", activation="tanh", seed=0)
    _, g = m.loss_and_grad(X, y, sample_weight=w)
    p0 = m.params.copy()
    g_fd = np.zeros_like(p0)
    for k in range(p0.size):
        m.params[k] = p0[k] + 1e-6
        lp = m.loss(X, y, sample_weight=w)
        m.params[k] = p0[k] - 1e-6
        lm = m.loss(X, y, sample_weight=w)
        m.params[k] = p0[k]
        g_fd[k] = (lp - lm) / 2e-6
    assert ref.rel_err(g, g_fd) < 1e-6


def test_zero_weight_rows_have_no_effect():
    X, y = data("squared", 20)
    w = np.ones(20)
    w[::3] = 0
    m = jm.MLP([4, 6, 2], seed=0)
    L, g = m.loss_and_grad(X, y, sample_weight=w)
    L2, g2 = m.loss_and_grad(X[w > 0], y[w > 0])
    assert np.isclose(L, L2, rtol=1e-12)
    np.testing.assert_allclose(g, g2, rtol=1e-12, atol=1e-15)
    # even with huge targets on the zero-weight rows
    y_bad = y.copy()
    y_bad[w == 0] = 1e6
    L3, g3 = m.loss_and_grad(X, y_bad, sample_weight=w)
    assert np.isclose(L3, L2, rtol=1e-12)
    np.testing.assert_allclose(g3, g2, rtol=1e-12, atol=1e-15)


def test_unit_weights_are_bitwise_the_unweighted_fit():
    X, y = data("cross_entropy", 50)
    ps = []
    for w in (None, np.ones(50)):
        m = jm.MLP([4, 8, 3], loss="cross_entropy", seed=0)
        h = jm.Trainer(m, jm.Adam(1e-2), batch_size=8, epochs=2,
                       seed=0).fit(X, y, sample_weight=w)
        ps.append((m.params.copy(), h.loss))
    assert np.array_equal(ps[0][0], ps[1][0]) and ps[0][1] == ps[1][1]


def test_a_batch_of_zero_weight_is_skipped():
    """Rule: no update (parameters, optimizer state, running statistics
    unchanged), loss 0 (weight 0 in the epoch mean), but the step counts."""
    X, y = data("squared", 6)
    w = np.array([0, 0, 1, 1, 1, 1.0])
    m1 = jm.MLP([4, 5, 2], norm="batch", seed=0)
    m2 = m1.copy()
    t1 = jm.Trainer(m1, jm.SGD(0.1), batch_size=2, epochs=1, shuffle=False)
    h1 = t1.fit(X, y, sample_weight=w)
    t2 = jm.Trainer(m2, jm.SGD(0.1), batch_size=2, epochs=1, shuffle=False)
    h2 = t2.fit(X[2:], y[2:])
    assert np.array_equal(m1.params, m2.params)
    assert np.array_equal(m1.stats, m2.stats)
    assert np.isclose(h1.loss[0], h2.loss[0], rtol=1e-12)
    assert t1.optimizer.t == 3 and t2.optimizer.t == 2


def test_epoch_loss_is_the_weighted_mean():
    X, y = data("squared", 10)
    w = np.arange(1.0, 11.0)
    m = jm.MLP([4, 5, 2], seed=0)
    m0 = m.copy()
    h = jm.Trainer(m, jm.SGD(0.1), batch_size=10, epochs=1,
                   shuffle=False).fit(X, y, sample_weight=w)
    assert np.isclose(h.loss[0], m0.loss(X, y, sample_weight=w), rtol=1e-12)


@pytest.mark.parametrize("w, msg", [
    (np.ones(5), "different lengths"),
    (np.ones((6, 1)), "1-D"),
    (-np.ones(6), ">= 0"),
    (np.array([1, 1, 1, np.nan, 1, 1]), "NaN"),
    (np.zeros(6), "all zero"),
    (np.array(["a"] * 6), "numeric"),
])
def test_invalid_weights_are_refused_before_anything_changes(w, msg):
    X, y = data("squared", 6)
    m = jm.MLP([4, 5, 2], seed=0)
    t = jm.Trainer(m, jm.Adam(1e-2), batch_size=2)
    p = m.params.copy()
    for call in (lambda: m.loss(X, y, sample_weight=w),
                 lambda: m.loss_and_grad(X, y, sample_weight=w),
                 lambda: t.step(X, y, sample_weight=w),
                 lambda: t.fit(X, y, sample_weight=w)):
        with pytest.raises((ValueError, TypeError), match=msg):
            call()
    assert np.array_equal(m.params, p) and t.optimizer.t == 0
    assert len(t.history) == 0


def test_validation_split_with_weights_is_unweighted():
    X, y = data("squared", 40)
    w = np.random.default_rng(0).random(40)
    m = jm.MLP([4, 5, 2], seed=0)
    t = jm.Trainer(m, jm.Adam(1e-2), batch_size=8, epochs=2,
                   validation_split=0.25, seed=0)
    h = t.fit(X, y, sample_weight=w)
    assert len(h.val_loss) == 2 and np.isfinite(h.val_loss).all()
