"""Sparse X (scipy.sparse): kernels/sparse.py against plain numpy, and every
public method on CSR / CSC input against the same method on ``X.toarray()``
(equal to rounding), with the workspace never holding a (B, d) block."""
import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")

import jitmlp as jm  # noqa: E402
from jitmlp._layout import make_workspace  # noqa: E402
from jitmlp._sparse import CSRRows, check_sparse_X  # noqa: E402
from jitmlp.kernels.sparse import (sparse_rows_add, sparse_rows_grad,  # noqa: E402
                                   sparse_rows_grad_parallel, sparse_rows_mm,
                                   sparse_rows_mm_parallel)

RTOL = {"float64": 1e-12, "float32": 2e-5}


def _sparse(n=80, d=60, density=0.08, seed=0, fmt="csr"):
    r = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format=fmt, random_state=seed,
                  data_rvs=r.standard_normal)
    return X


def _close(a, b, dtype):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(), 1e-30)
    assert np.abs(a - b).max() <= RTOL[dtype] * scale * 10, \
        np.abs(a - b).max() / scale


# ------------------------------------------------------------- the kernels
def _ws_for(X, B, K):
    """A sparse workspace of a [d, K, 1] network bound to X (CSRRows)."""
    m = jm.MLP([X.shape[1], K, 1], seed=0)
    return X.bind(make_workspace(m._layout, B, 1, np.float64, sparse=True))


def test_kernels_against_numpy():
    S = _sparse(30, 20, 0.2, seed=1)
    S = sp.csr_matrix((np.r_[S.data, 1.5], np.r_[S.indices, 3],
                       np.r_[S.indptr[:-1], S.indptr[-1] + 1]),
                      shape=S.shape)            # a duplicate entry in row 29
    X = check_sparse_X(S, 20, np.float64)
    D = S.toarray()
    r = np.random.default_rng(0)
    rows = np.array([29, 3, 3, 0, 17], np.int64)
    B, K = rows.size, 7
    ws = _ws_for(X, B, K)
    ws.sp_rows[:B] = rows
    W = r.standard_normal((20, K))
    z = np.full((B, K), np.nan)
    sparse_rows_mm(ws, B, W, z)
    np.testing.assert_allclose(z, D[rows] @ W, rtol=1e-13, atol=1e-13)
    delta = r.standard_normal((B, K))
    dW = np.full((20, K), np.nan)       # untouched rows must become 0
    sparse_rows_grad(ws, B, delta, dW)
    np.testing.assert_allclose(dW, D[rows].T @ delta, rtol=1e-13, atol=1e-13)
    assert (dW[~D[rows].any(0)] == 0).all()
    z = r.standard_normal((B, 20))
    want = z + D[rows]
    sparse_rows_add(ws, B, z)
    np.testing.assert_allclose(z, want, rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("nth", [2, 3, 7])
def test_parallel_kernels_are_bitwise_one_thread(nth, dtype):
    """The first layer's parallel products split the batch rows (forward) or
    the features (weight gradient) over threads without changing any sum's
    order: bitwise the one-thread result, duplicates and empty rows included
    (nth > rows or features of a block is allowed)."""
    S = _sparse(40, 25, 0.15, seed=3)
    S = sp.csr_matrix((np.r_[S.data, 1.5, -2.0], np.r_[S.indices, 3, 3],
                       np.r_[S.indptr[:-1], S.indptr[-1] + 2]),
                      shape=S.shape)            # duplicates in row 39
    X = check_sparse_X(S, 25, np.dtype(dtype))
    r = np.random.default_rng(1)
    for rows in ([39, 3, 3, 0, 17, 22], [5], [39, 1]):
        rows = np.array(rows, np.int64)
        B, K = rows.size, 9
        m = jm.MLP([25, K, 1], seed=0, dtype=dtype)
        ws = X.bind(make_workspace(m._layout, B, 1, np.dtype(dtype),
                                   sparse=True))
        ws.sp_rows[:B] = rows
        W = r.standard_normal((25, K)).astype(dtype)
        z1, z2 = np.full((B, K), np.nan, dtype), np.full((B, K), 7.0, dtype)
        sparse_rows_mm(ws, B, W, z1)
        sparse_rows_mm_parallel(ws, B, W, z2, nth)
        assert z1.tobytes() == z2.tobytes()
        delta = r.standard_normal((B, K)).astype(dtype)
        g1, g2 = np.full((25, K), np.nan, dtype), np.full((25, K), 5.0, dtype)
        sparse_rows_grad(ws, B, delta, g1)
        sparse_rows_grad_parallel(ws, B, delta, g2, nth)
        assert g1.tobytes() == g2.tobytes()


def test_sparse_fit_is_the_same_on_1_and_2_threads():
    """A fit whose batches are large enough for the parallel first-layer
    products gives the bits of a one-thread fit."""
    S = _sparse(600, 3000, 0.02, seed=4)
    y = np.random.default_rng(4).integers(0, 3, 600)
    out = []
    for nth in (1, 2):
        old = jm.get_num_threads()
        jm.set_num_threads(nth)
        try:
            m = jm.MLP([3000, 64, 3], loss="cross_entropy", seed=0)
            jm.Trainer(m, jm.Adam(lr=1e-3), batch_size=200, epochs=2,
                       seed=0).fit(S, y)
        finally:
            jm.set_num_threads(old)
        out.append(m.params.tobytes())
    assert out[0] == out[1]


def test_workspace_has_no_input_block():
    m = jm.MLP([5000, 16, 3], loss="cross_entropy", seed=0)
    ws = make_workspace(m._layout, 64, 1, np.float64, sparse=True)
    assert max(a.size for a in ws) < 64 * 5000 / 10
    dense = make_workspace(m._layout, 64, 1, np.float64)
    assert dense.x.size == ws.x.size + 64 * 5000


# ------------------------------------------------------------- the model
CONFIGS = [
    dict(),
    dict(norm="batch"),
    dict(norm="layer"),
    dict(dropout=0.3),
    dict(activation="tanh", norm="layer", dropout=[0.2, 0.1]),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_model_methods_equal_dense(cfg, dtype):
    S = _sparse()
    D = S.toarray()
    y = np.random.default_rng(1).integers(0, 3, S.shape[0])
    w = np.random.default_rng(2).uniform(0, 2, S.shape[0])
    m = jm.MLP([60, 24, 12, 3], loss="cross_entropy", seed=0, dtype=dtype,
               **cfg)
    for fmt in ("csr", "csc", "coo"):
        Xs = S.asformat(fmt)
        for sw in (None, w):
            ld, gd = m.loss_and_grad(D, y, sample_weight=sw)
            ls, gs = m.loss_and_grad(Xs, y, sample_weight=sw)
            _close(ls, ld, dtype)
            _close(gs, gd, dtype)
            assert gs.dtype == np.dtype(dtype)
        m.eval()
        _close(m.forward(Xs), m.forward(D), dtype)
        _close(m.predict_proba(Xs), m.predict_proba(D), dtype)
        _close(m.loss(Xs, y, sample_weight=w), m.loss(D, y, sample_weight=w),
               dtype)
        m.train()
    for a, b in zip(m.preactivations(S), m.preactivations(D)):
        _close(a, b, dtype)


def test_residual_first_layer_and_regression():
    S = _sparse(50, 20, 0.15, seed=3)
    D = S.toarray()
    y = np.random.default_rng(0).standard_normal((50, 2))
    m = jm.MLP([20, 20, 20, 2], residual=True, seed=0)
    ld, gd = m.loss_and_grad(D, y)
    ls, gs = m.loss_and_grad(S, y)
    _close(ls, ld, "float64")
    _close(gs, gd, "float64")
    m.eval()
    _close(m.predict(S), m.predict(D), "float64")
    for a, b in zip(m.preactivations(S), m.preactivations(D)):
        _close(a, b, "float64")


def test_finite_difference_gradient():
    S = _sparse(40, 30, 0.1, seed=4)
    y = np.random.default_rng(0).integers(0, 3, 40)
    w = np.random.default_rng(1).uniform(0.5, 1.5, 40)
    m = jm.MLP([30, 8, 3], activation="tanh", norm="layer",
               loss="cross_entropy", seed=0, dropout=0.2)
    _, g = m.loss_and_grad(S, y, sample_weight=w)
    p0 = m.params.copy()
    r = np.random.default_rng(5)
    # every first-layer weight of a stored feature, and a sample of the rest
    used = np.unique(S.indices)
    idx = np.r_[used[:10] * 8 + 3, r.choice(p0.size, 40, replace=False)]
    eps = 1e-6
    for k in idx:
        m.params[k] = p0[k] + eps
        lp = m.loss_and_grad(S, y, sample_weight=w)[0]
        m.params[k] = p0[k] - eps
        lm = m.loss_and_grad(S, y, sample_weight=w)[0]
        m.params[k] = p0[k]
        assert abs((lp - lm) / (2 * eps) - g[k]) <= 1e-6 * (1 + abs(g[k]))


def test_update_bn_equal_dense():
    S = _sparse(64, 40, 0.1, seed=6)
    m = jm.MLP([40, 16, 2], norm="batch", seed=0)
    m2 = m.copy()
    m.update_bn(S, batch_size=16)
    m2.update_bn(S.toarray(), batch_size=16)
    _close(m.stats, m2.stats, "float64")


# ------------------------------------------------------------- the trainer
@pytest.mark.parametrize("opt, cfg", [
    (lambda: jm.SGD(lr=0.05, momentum=0.9, nesterov=True), dict()),
    (lambda: jm.Adam(lr=3e-3, weight_decay=1e-3), dict(norm="batch")),
    (lambda: jm.AdamW(lr=3e-3), dict(norm="layer", dropout=0.25)),
])
def test_trainer_fit_and_step_equal_dense(opt, cfg):
    S = _sparse(120, 70, 0.06, seed=7)
    D = S.toarray()
    y = np.random.default_rng(0).integers(0, 3, 120)
    w = np.random.default_rng(3).uniform(0, 2, 120)
    base = jm.MLP([70, 32, 3], loss="cross_entropy", seed=0, **cfg)
    runs = []
    for X, Xv in ((S, S[:30].tocsc()), (D, D[:30])):
        m = base.copy()
        tr = jm.Trainer(m, opt(), batch_size=16, epochs=3, seed=1)
        h = tr.fit(X, y, validation_data=(Xv, y[:30]), sample_weight=w)
        loss = tr.step(X[:20], y[:20])
        runs.append((m, h, loss))
    (ms, hs, ls), (md, hd, ld) = runs
    _close(ms.params, md.params, "float64")
    if md.stats.size:
        _close(ms.stats, md.stats, "float64")
    _close(hs.loss, hd.loss, "float64")
    _close(hs.val_loss, hd.val_loss, "float64")
    _close(ls, ld, "float64")


def test_trainer_float32_and_validation_split():
    S = _sparse(100, 50, 0.08, seed=8)
    y = np.random.default_rng(0).standard_normal(100)
    base = jm.MLP([50, 16, 1], seed=0, dtype="float32")
    out = []
    for X in (S, S.toarray()):
        m = base.copy()
        h = jm.Trainer(m, jm.Adam(lr=1e-2), batch_size=10, epochs=2, seed=0,
                       validation_split=0.2).fit(X, y)
        out.append((m.params, h.val_loss))
    _close(out[0][0], out[1][0], "float32")
    _close(out[0][1], out[1][1], "float32")


def test_large_d_fit_never_allocates_dense_rows():
    import tracemalloc
    n, d = 2000, 200_000          # dense float64 X: 3.2 GB; a (B, d) block 320 MB
    S = sp.random(n, d, density=5e-5, format="csr", random_state=0)
    y = (np.asarray(S.sum(1)).ravel() > 0).astype(int)
    m = jm.MLP([d, 4, 2], loss="cross_entropy", seed=0)
    tr = jm.Trainer(m, jm.Adam(), batch_size=200, epochs=1, seed=0)
    tr.fit(S[:400], y[:400])          # compile outside the measurement
    m.predict(S[:5])
    tracemalloc.start()
    tr.fit(S, y)
    m.predict(S)
    m.loss_and_grad(S, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    params = m.params.nbytes          # the gradient and Adam's moments: 4x
    assert peak < 6 * params + 50 * S.nnz * 8 + (1 << 20), peak


# ------------------------------------------------------------- validation
def test_invalid_sparse_X_is_named_and_changes_nothing():
    S = _sparse(20, 10, 0.3, seed=9)
    y = np.zeros(20, int)
    m = jm.MLP([10, 4, 2], loss="cross_entropy", seed=0)
    tr = jm.Trainer(m, jm.Adam(), batch_size=4, epochs=1, seed=0)
    before = m.params.copy()
    bad = S.copy()
    bad.data[2] = np.nan
    with pytest.raises(ValueError, match="X contains 1 NaN or infinite"):
        tr.fit(bad, y)
    with pytest.raises(ValueError, match="X has 9 features"):
        tr.fit(S[:, :9], y)
    with pytest.raises(ValueError, match="X is empty"):
        m.predict(S[:0])
    with pytest.raises(TypeError, match="numeric sparse"):
        m.predict(S.astype(np.complex128))
    huge = S.copy()
    huge.data[0] = 1e300
    m32 = jm.MLP([10, 4, 2], seed=0, dtype="float32")
    with pytest.raises(ValueError, match="NaN or infinite value.*float32"), \
            np.errstate(over="ignore"):
        m32.forward(huge)
    broken = sp.csr_matrix((S.data, S.indices.copy(), S.indptr), shape=S.shape)
    broken.indices[0] = 12
    with pytest.raises(ValueError, match=r"column indices must be in \[0, 10\)"):
        m.forward(broken)
    with pytest.raises(TypeError, match="only X may be sparse"):
        m.loss(S, sp.csr_matrix(np.ones((20, 1))))
    with pytest.raises(ValueError, match="X_val has 9 features"):
        tr.fit(S, y, validation_data=(S[:, :9], y))
    np.testing.assert_array_equal(m.params, before)
    assert tr.optimizer.t == 0
    # integer and boolean data are converted as for dense X
    Si = sp.csr_matrix(np.eye(20, 10, dtype=np.int64) * 3)
    np.testing.assert_allclose(m.eval().forward(Si),
                               m.forward(Si.toarray().astype(float)))
    np.testing.assert_allclose(m.forward(Si.astype(bool)),
                               m.forward(Si.toarray() > 0))


def test_csrrows_row_selection():
    S = _sparse(30, 12, 0.3, seed=10)
    X = check_sparse_X(S, 12, np.float64)
    D = S.toarray()
    for key in (slice(3, 17), slice(None, None, 2), np.array([5, 0, 5, 29]),
                np.arange(30) % 3 == 0, slice(20, 10)):
        got = X[key]
        assert isinstance(got, CSRRows)
        np.testing.assert_array_equal(got.tocsr().toarray(), D[key])
    assert check_sparse_X(X, 12, np.float64) is X


# ------------------------------------------------------------- estimators
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_classifier_sparse_equals_dense(solver):
    S = _sparse(150, 40, 0.1, seed=11)
    y = np.array(["a", "b", "c"])[
        np.argmax(S.toarray() @ np.random.default_rng(0).standard_normal(
            (40, 3)), 1)]
    kw = dict(hidden_layer_sizes=(16,), max_iter=15, random_state=0,
              solver=solver, batch_size=32)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = jm.MLPClassifier(**kw).fit(S, y)
        b = jm.MLPClassifier(**kw).fit(S.toarray(), y)
    _close(a.predict_proba(S.tocsc()), b.predict_proba(S.toarray()),
           "float64")
    np.testing.assert_array_equal(a.predict(S), b.predict(S.toarray()))
    _close(a.loss_curve_, b.loss_curve_, "float64")


def test_estimators_partial_fit_early_stopping_and_regressor():
    import warnings
    S = _sparse(200, 30, 0.15, seed=12)
    D = S.toarray()
    t = D @ np.random.default_rng(0).standard_normal(30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = dict(hidden_layer_sizes=(8,), max_iter=8, random_state=0,
                  early_stopping=True)
        a = jm.MLPRegressor(**kw).fit(S, t)
        b = jm.MLPRegressor(**kw).fit(D, t)
    _close(a.predict(S), b.predict(D), "float64")
    _close(a.validation_scores_, b.validation_scores_, "float64")
    c = jm.MLPClassifier((8,), random_state=0)
    e = jm.MLPClassifier((8,), random_state=0)
    for k in range(3):
        rows = slice(60 * k, 60 * k + 60)
        c.partial_fit(S[rows], t[rows] > 0, classes=[False, True])
        e.partial_fit(D[rows], t[rows] > 0, classes=[False, True])
    _close(c.predict_proba(S), e.predict_proba(D), "float64")


def test_tfidf_pipeline():
    text = pytest.importorskip("sklearn.feature_extraction.text")
    from sklearn.pipeline import make_pipeline
    docs = ["good movie great fun", "bad movie awful plot", "great acting",
            "awful boring bad", "fun great good", "boring plot bad"] * 10
    y = [1, 0, 1, 0, 1, 0] * 10
    clf = make_pipeline(text.TfidfVectorizer(),
                        jm.MLPClassifier((8,), max_iter=30, random_state=0,
                                         learning_rate_init=0.05))
    clf.fit(docs, y)
    assert clf.score(docs, y) == 1.0


def test_coo_and_csc_indices_out_of_range_are_refused():
    """scipy's conversion to CSR does not check COO rows or CSC row indices
    (found by the attack session: an entry with row 60 of 50 was dropped
    silently)."""
    r = np.random.default_rng(0)
    D = r.standard_normal((50, 20))
    D[r.random(D.shape) < 0.8] = 0
    m = jm.MLP([20, 8, 3], loss="cross_entropy", seed=0)
    Xo = sp.coo_matrix(D)
    Xo.row[0] = 60
    with pytest.raises(ValueError, match="row indices must be in"):
        m.forward(Xo)
    Xo = sp.coo_matrix(D)
    Xo.col[0] = -1
    with pytest.raises(ValueError, match="col indices must be in"):
        m.forward(Xo)
    Xc = sp.csc_matrix(D)
    Xc.indices[0] = 60
    with pytest.raises(ValueError, match="row indices must be in"):
        m.forward(Xc)
    np.testing.assert_allclose(m.forward(sp.csc_matrix(D)), m.forward(D))


# ------------------------------- the first layer's gradient buffer, every rule
# The sparse first layer scatters into dW1 only the rows of the batch's
# features; every other row must read as an exact 0 to clipping, gradient-
# norm tracking and the update, step after step and after a refused step (the
# update and the divergence guard keep the old parameters in that buffer).
RULES = {
    "adam": lambda: jm.Adam(lr=3e-3, weight_decay=1e-3),
    "sgd": lambda: jm.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3),
    "rmsprop": lambda: jm.RMSprop(lr=1e-3, momentum=0.5, weight_decay=1e-3),
    "adagrad": lambda: jm.Adagrad(lr=5e-2, weight_decay=1e-3),
}


def _disjoint(n=64, blocks=8, width=8, seed=0):
    """Row i stores features of block (i * blocks // n) only: in order and
    in batches of n / blocks rows, consecutive batches touch disjoint
    feature sets."""
    r = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    for i in range(n):
        b = i * blocks // n
        c = r.choice(width, 3, replace=False) + b * width
        rows += [i] * 3
        cols += list(c)
        vals += list(r.uniform(0.5, 2.0, 3))
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, blocks * width))


def _fit(X, y, rule, dtype, **kw):
    m = jm.MLP([X.shape[1], 16, 3], loss="cross_entropy", dtype=dtype,
               seed=0)
    tr = jm.Trainer(m, RULES[rule](), batch_size=8, epochs=3, seed=1,
                    clip_grad_norm=0.5, track_grad_norms=True, **kw)
    h = tr.fit(X, y)
    return m, tr, h


def _digest(m, tr, h):
    import hashlib
    d = hashlib.sha256(m.params.tobytes())
    for v in tr.optimizer.state.values():
        if v is not None:
            d.update(np.asarray(v).tobytes())
    d.update(np.array(h.loss).tobytes())
    d.update(np.array([np.asarray(g) for g in h.grad_norms]).tobytes())
    return d.hexdigest()[:16]


# digests of the sparse fits below computed before the first layer's
# gradient kept track of its rows (every step zeroed all of dW1): the
# results must stay bit-identical (x86-64, as tests/test_digest.py)
SPARSE_PINNED = {
    'random-adagrad-float64': '688ea15e34490988',
    'random-adagrad-float32': 'fb0ae07b87f7410e',
    'random-adam-float64': 'ef043ee21fb88788',
    'random-adam-float32': '79112d725a7a127f',
    'random-rmsprop-float64': 'f96dd05c48f54e83',
    'random-rmsprop-float32': '2d7eb6d38d130d68',
    'random-sgd-float64': 'a5afa16efbaebe08',
    'random-sgd-float32': 'fa1cbffde983a4c7',
    'disjoint-adagrad-float64': 'eaddd5e053053b1b',
    'disjoint-adagrad-float32': '13842661ff7e72ce',
    'disjoint-adam-float64': '962b076e98a17008',
    'disjoint-adam-float32': '35bb7f08d4f3b762',
    'disjoint-rmsprop-float64': '11662440e4ed44fa',
    'disjoint-rmsprop-float32': '21901b94868a71d1',
    'disjoint-sgd-float64': '043a5e50767fba78',
    'disjoint-sgd-float32': 'f3ba8b83afe110db',
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("data", ["random", "disjoint"])
def test_sparse_fit_equals_dense_and_is_pinned(data, rule, dtype):
    S = _sparse(64, 64, 0.06, seed=5) if data == "random" else _disjoint()
    y = np.random.default_rng(2).integers(0, 3, 64)
    kw = dict(shuffle=False) if data == "disjoint" else {}
    ms, trs, hs = _fit(S, y, rule, dtype, **kw)
    md, trd, hd = _fit(S.toarray(), y, rule, dtype, **kw)
    _close(ms.params, md.params, dtype)
    for k, v in trs.optimizer.state.items():
        if v is not None:
            _close(v, trd.optimizer.state[k], dtype)
    _close(hs.loss, hd.loss, dtype)
    _close(np.array(hs.grad_norms), np.array(hd.grad_norms), dtype)
    # the disjoint batches really are disjoint
    if data == "disjoint":
        feats = [set(S[8 * b:8 * b + 8].indices) for b in range(8)]
        assert all(not (feats[b] & feats[b + 1]) for b in range(7))
    key = f"{data}-{rule}-{dtype}"
    got = _digest(ms, trs, hs)
    assert got == SPARSE_PINNED[key], (key, got)


def _state(tr):
    m = tr.model
    return [m.params.copy(), m.stats.copy(), tr.optimizer.t] + [
        np.array(v) for v in tr.optimizer.state.values() if v is not None]


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_refused_steps_on_sparse_input(dtype):
    """A step refused before the update (non-finite loss) changes nothing,
    one undone after it (the update overflows) puts the parameters back and
    restarts the state; both leave the gradient buffer holding something
    other than a gradient, and the fit after them equals the same sequence
    on dense input (and, after the first kind, the sequence without it)."""
    big = 1e30 if dtype == "float32" else 1e300
    S = _disjoint()
    y = np.random.default_rng(2).integers(0, 3, 64)
    bad = S[8:16].copy()
    bad.data[:] = big                       # z overflows: the loss is inf
    runs = []
    for X, Xbad in ((S, bad), (S.toarray(), bad.toarray()), (S, None)):
        m = jm.MLP([64, 16, 3], loss="cross_entropy", dtype=dtype, seed=0)
        tr = jm.Trainer(m, jm.Adam(lr=3e-3, weight_decay=1e-3), batch_size=8,
                        epochs=1, seed=1, shuffle=False, clip_grad_norm=0.5)
        tr.fit(X, y)
        if Xbad is not None:
            before = _state(tr)
            with pytest.raises(jm.DivergenceError, match="no update"):
                tr.step(Xbad, y[8:16])
            _same(_state(tr), before)
        tr.fit(X, y)
        runs.append(_state(tr))
    _same(runs[0], runs[2])              # the refused step left no trace
    for u, v in zip(runs[0], runs[1]):
        if np.size(u):
            _close(u, v, dtype)
    # an update that overflows: undone, then the fit goes on
    runs = []
    for X in (S, S.toarray()):
        m = jm.MLP([64, 16, 3], loss="cross_entropy", dtype=dtype, seed=0)
        tr = jm.Trainer(m, jm.SGD(lr=0.05, momentum=0.9), batch_size=8,
                        epochs=1, seed=1, shuffle=False, clip_grad_norm=0.5)
        tr.fit(X, y)
        before = _state(tr)
        huge = 1e30 if dtype == "float32" else 1e300
        tr.optimizer.lr = tr.optimizer.weight_decay = huge  # lr wd p: inf
        with pytest.raises(jm.DivergenceError, match="update made"):
            tr.step(X[8:16], y[8:16])
        after = _state(tr)
        np.testing.assert_array_equal(after[0], before[0])   # parameters
        assert after[2] == before[2]                          # t
        assert all((a == 0).all() for a in after[3:])         # state: zero
        tr.optimizer.lr, tr.optimizer.weight_decay = 0.05, 0.0
        tr.fit(X, y)
        runs.append(_state(tr))
    for u, v in zip(*runs):
        if np.size(u):
            _close(u, v, dtype)
