"""Bad input gets a clear error naming the problem, and nothing changes."""
import numpy as np
import pytest

import jitmlp as jm


@pytest.fixture
def setup():
    m = jm.MLP([3, 5, 3], loss="cross_entropy", seed=0)
    opt = jm.SGD(lr=0.1, momentum=0.9)
    tr = jm.Trainer(m, opt, batch_size=4, epochs=2, seed=0)
    r = np.random.default_rng(0)
    X = r.standard_normal((10, 3))
    y = r.integers(0, 3, 10)
    tr.fit(X, y)  # optimizer state exists
    return m, opt, tr, X, y


def snapshot(m, opt, tr):
    return (m.params.copy(), m.stats.copy(),
            {k: v.copy() for k, v in opt.state.items()}, opt.t, tr.epoch)


def unchanged(m, opt, tr, snap):
    return (np.array_equal(m.params, snap[0]) and np.array_equal(m.stats, snap[1])
            and opt.state.keys() == snap[2].keys()
            and all(np.array_equal(opt.state[k], snap[2][k]) for k in snap[2])
            and opt.t == snap[3]
            and tr.epoch == snap[4])


X_BAD = [
    (lambda X, y: (X[:, :2], y), ValueError, "2 features but the model expects 3"),
    (lambda X, y: (X, y[:-1]), ValueError, "different lengths"),
    (lambda X, y: (np.where(np.arange(3) == 1, np.nan, X), y), ValueError, "NaN"),
    (lambda X, y: (np.where(np.arange(3) == 1, np.inf, X), y), ValueError, "infinite"),
    (lambda X, y: (X, np.where(np.arange(10) == 2, np.nan, y)), ValueError, "y contains NaN"),
    (lambda X, y: (X, y + 3), ValueError, r"integer class indices in \[0, 3\)"),
    (lambda X, y: (X, y - 1), ValueError, r"integer class indices in \[0, 3\)"),
    (lambda X, y: (X, y + 0.5), ValueError, "integer class indices"),
    (lambda X, y: (X[:0], y[:0]), ValueError, "empty"),
    (lambda X, y: (X[:, 0], y), ValueError, "must be 2-D"),
    (lambda X, y: (X.astype(str), y), TypeError, "numeric"),
    (lambda X, y: (X, y.astype(str)), TypeError, "numeric"),
    (lambda X, y: (X.astype(complex), y), TypeError, "numeric"),
]


@pytest.mark.parametrize("make,exc,msg", X_BAD)
def test_bad_data_raises_and_changes_nothing(setup, make, exc, msg):
    m, opt, tr, X, y = setup
    Xb, yb = make(X, y)
    snap = snapshot(m, opt, tr)
    for call in (lambda: tr.fit(Xb, yb), lambda: tr.step(Xb, yb),
                 lambda: m.loss_and_grad(Xb, yb), lambda: m.loss(Xb, yb)):
        with pytest.raises(exc, match=msg):
            call()
        assert unchanged(m, opt, tr, snap)


def test_bad_validation_data_raises_before_training(setup):
    m, opt, tr, X, y = setup
    snap = snapshot(m, opt, tr)
    with pytest.raises(ValueError, match="X_val|features"):
        tr.fit(X, y, validation_data=(X[:, :2], y))
    with pytest.raises(ValueError, match="pair"):
        tr.fit(X, y, validation_data=X)
    assert unchanged(m, opt, tr, snap)


def test_logistic_labels_must_be_plus_minus_one():
    m = jm.MLP([2, 1], loss="logistic", seed=0)
    p = m.params.copy()
    with pytest.raises(ValueError, match=r"-1 or \+1; found \[0"):
        m.loss_and_grad(np.zeros((3, 2)), [0, 1, 1])
    assert np.array_equal(p, m.params)


def test_squared_target_shape_checked():
    m = jm.MLP([2, 3], seed=0)
    with pytest.raises(ValueError, match="3 outputs"):
        m.loss(np.zeros((4, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="2 columns but the model has 3"):
        m.loss(np.zeros((4, 2)), np.zeros((4, 2)))


def test_integer_and_other_float_X_are_converted(setup):
    m, opt, tr, X, y = setup
    a = m.forward(np.round(X * 10).astype(np.int32))
    b = m.forward(np.round(X * 10).astype(np.float64))
    assert a.dtype == np.float64 and np.array_equal(a, b)
    m32 = jm.MLP([3, 2], dtype="float32", seed=0)
    assert m32.forward(X).dtype == np.float32
    assert m32.forward(X.astype(np.float16)).dtype == np.float32
    _, g = m32.loss_and_grad(X, np.zeros((10, 2)))
    assert g.dtype == np.float32


def test_bad_constructor_arguments():
    cases = [
        (dict(sizes=[3]), ValueError, "at least"),
        (dict(sizes=[3, 0, 1]), ValueError, "integer >= 1"),
        (dict(sizes=[3, 2.5, 1]), ValueError, "integer >= 1"),
        (dict(sizes=[3, 1], activation="swish"), ValueError, "activation must be one of"),
        (dict(sizes=[3, 1], loss="hinge"), ValueError, "loss must be one of"),
        (dict(sizes=[3, 1], init="orthogonal"), ValueError, "init must be one of"),
        (dict(sizes=[3, 1], dtype="float16"), ValueError, "dtype must be"),
        (dict(sizes=[3, 1], norm="group"), ValueError, "norm must be one of"),
        (dict(sizes=[3, 2], loss="logistic"), ValueError, "1 output"),
        (dict(sizes=[3, 1], loss="cross_entropy"), ValueError, "at least 2 outputs"),
        (dict(sizes=[3, 1], init_scale=-1), ValueError, "init_scale"),
        (dict(sizes=[3, 1], seed="a"), TypeError, "seed"),
    ]
    for kw, exc, msg in cases:
        sizes = kw.pop("sizes")
        with pytest.raises(exc, match=msg):
            jm.MLP(sizes, **kw)


def test_bad_trainer_arguments():
    m = jm.MLP([3, 1], seed=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        jm.Trainer(m, jm.SGD(), batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        jm.Trainer(m, jm.SGD(), batch_size=2.5)
    with pytest.raises(ValueError, match="epochs"):
        jm.Trainer(m, jm.SGD(), epochs=0)
    with pytest.raises(ValueError, match="sampling"):
        jm.Trainer(m, jm.SGD(), sampling="stratified")
    with pytest.raises(TypeError, match="optimizer"):
        jm.Trainer(m, "sgd")


def test_batch_size_larger_than_data_is_clamped_with_warning():
    m = jm.MLP([3, 1], seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.01), batch_size=100, epochs=1, seed=0)
    X = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.warns(UserWarning, match="larger than the 10"):
        tr.fit(X, X[:, 0])
    assert tr.optimizer.t == 1
