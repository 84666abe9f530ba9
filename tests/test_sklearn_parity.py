"""The estimators against scikit-learn's own MLP (issue 13 items 1, 5, 6)."""
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkC  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkR  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import jitmlp as jm  # noqa: E402


def regression(n=120, d=5, k=1, seed=0):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, d))
    y = X @ r.standard_normal((d, k)) + 0.1 * r.standard_normal((n, k))
    return X, y[:, 0] if k == 1 else y


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_fitted_attributes_have_scikit_learn_shapes(solver):
    X, y = regression()
    kw = dict(hidden_layer_sizes=(7, 5), solver=solver, max_iter=5,
              random_state=0)
    ours = jm.MLPRegressor(**kw)
    theirs = SkR(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == \
        [b.shape for b in theirs.intercepts_]
    for name in ("n_layers_", "n_outputs_", "out_activation_", "t_",
                 "n_iter_"):
        if solver == "lbfgs" and name in ("n_iter_", "t_"):
            continue   # iterations depend on the line searches
        assert getattr(ours, name) == getattr(theirs, name), name
    assert len(ours.loss_curve_) == ours.n_iter_
    # coefs_ are live views: writing them changes the model
    before = ours.predict(X[:3])
    ours.coefs_[-1][...] = 0.0
    ours.intercepts_[-1][...] = 1.5
    np.testing.assert_allclose(ours.predict(X[:3]), 1.5)
    assert not np.allclose(before, 1.5)


def test_invscaling_rates_and_samples_seen_follow_scikit_learn():
    X, y = regression()
    kw = dict(hidden_layer_sizes=(6,), solver="sgd", learning_rate="invscaling",
              power_t=0.5, learning_rate_init=0.05, batch_size=16,
              max_iter=4, random_state=0, tol=0.0, n_iter_no_change=100)
    ours = jm.MLPRegressor(**kw)
    theirs = SkR(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    n = len(X)
    assert ours.t_ == theirs.t_ == 4 * n
    # the rate of epoch k is lr0 / (k n + 1) ** power_t
    want = [0.05 / (k * n + 1) ** 0.5 for k in range(4)]
    np.testing.assert_allclose(ours.trainer_.history.lr, want, rtol=1e-12)
    # scikit-learn's optimizer holds the rate of the next epoch
    np.testing.assert_allclose(theirs._optimizer.learning_rate,
                               0.05 / (4 * n + 1) ** 0.5, rtol=1e-12)


def test_adaptive_divides_by_five_and_stops_as_scikit_learn():
    X, y = regression()
    # tol huge: no epoch counts as an improvement, so the schedule alone
    # decides: /5 after n_iter_no_change + 1 stalled epochs, stop at 1e-6
    kw = dict(hidden_layer_sizes=(6,), solver="sgd", learning_rate="adaptive",
              learning_rate_init=0.01, batch_size=32, max_iter=200,
              random_state=0, tol=1e9, n_iter_no_change=2)
    ours = jm.MLPRegressor(**kw)
    theirs = SkR(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.trainer_.optimizer.lr == pytest.approx(
        theirs._optimizer.learning_rate, rel=1e-12)


def test_lbfgs_on_digits_matches_scikit_learn_accuracy_in_less_time():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3,
                                          random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    # the same budget: tol=0 runs both for max_iter iterations
    kw = dict(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=100,
              alpha=1e-4, random_state=0, tol=0.0)
    scores, seconds = {}, {}
    # one BLAS thread for both (threadpoolctl restores it after): on a busy
    # 2-core machine two BLAS threads that wait on each other make either
    # library's small products 30x slower, and the comparison a coin toss
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with warnings.catch_warnings(), threadpoolctl.threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        jm.MLPClassifier(**dict(kw, max_iter=2)).fit(Xtr, ytr)   # warm up
        for name, cls in (("jitmlp", jm.MLPClassifier), ("sklearn", SkC)):
            best = np.inf
            for _ in range(2):
                t0 = time.perf_counter()
                est = cls(**kw).fit(Xtr, ytr)
                best = min(best, time.perf_counter() - t0)
            seconds[name] = best
            scores[name] = est.score(Xte, yte)
            assert est.n_iter_ == 100, (name, est.n_iter_)
    assert scores["jitmlp"] >= scores["sklearn"] - 0.01, scores
    assert seconds["jitmlp"] < seconds["sklearn"], seconds


def test_lbfgs_refusals():
    X, y = regression()
    with pytest.raises(ValueError, match="BatchNorm"):
        jm.MLPRegressor(solver="lbfgs", norm="batch").fit(X, y)
    est = jm.MLPRegressor(solver="lbfgs", max_iter=3)
    with pytest.raises(ValueError, match="stochastic"):
        est.partial_fit(X, y)


def test_warm_start_goes_on_from_the_fitted_parameters():
    X, y = regression()
    kw = dict(hidden_layer_sizes=(6,), max_iter=3, random_state=0, tol=0.0,
              n_iter_no_change=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = jm.MLPRegressor(warm_start=True, **kw).fit(X, y)
        first = warm.coefs_[0].copy()
        warm.fit(X, y)
        cold = jm.MLPRegressor(**dict(kw, max_iter=6)).fit(X, y)
    assert len(warm.loss_curve_) == 6
    assert not np.array_equal(warm.coefs_[0], first)
    np.testing.assert_array_equal(warm.coefs_[0], cold.coefs_[0])
