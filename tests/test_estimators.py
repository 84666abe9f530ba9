"""scikit-learn compatible estimators: check_estimator and real use."""
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import load_digits, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import jitmlp as jm  # noqa: E402


@parametrize_with_checks([jm.MLPClassifier(max_iter=50, random_state=0),
                          jm.MLPRegressor(max_iter=50, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_classifier_on_digits_with_string_labels():
    X, y = load_digits(return_X_y=True)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six",
                      "seven", "eight", "nine"])
    Xtr, Xte, ytr, yte = train_test_split(X, names[y], test_size=0.25,
                                          random_state=0)
    clf = make_pipeline(StandardScaler(),
                        jm.MLPClassifier((128,), max_iter=30,
                                         random_state=0))
    clf.fit(Xtr, ytr)
    assert clf.score(Xte, yte) >= 0.95
    assert set(clf.predict(Xte)) <= set(names)
    P = clf.predict_proba(Xte)
    assert P.shape == (len(Xte), 10) and np.allclose(P.sum(1), 1)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(Xte), clf.predict(Xte))


def test_partial_fit_and_regressor_outputs():
    X, y = make_regression(200, 5, n_targets=2, noise=0.1, random_state=0)
    y = y / y.std(0)
    reg = jm.MLPRegressor((32,), solver="sgd", learning_rate_init=0.01,
                          batch_size=16, random_state=0)
    for _ in range(30):
        reg.partial_fit(X, y)
    assert reg.predict(X).shape == (200, 2)
    # n_iter_ counts the last call (as scikit-learn), loss_curve_ all 30
    assert len(reg.loss_curve_) == 30 and reg.n_iter_ == 1
    assert reg.score(X, y) > 0.9
    clf = jm.MLPClassifier((8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, (y[:, 0] > 0).astype(int))
    clf.partial_fit(X, (y[:, 0] > 0).astype(int), classes=[0, 1])
    assert list(clf.classes_) == [0, 1]


def test_stops_when_the_loss_stalls():
    X, y = make_regression(100, 3, noise=0.0, random_state=0)
    reg = jm.MLPRegressor((16,), max_iter=500, tol=1e9, n_iter_no_change=3,
                          random_state=0).fit(X, y / y.std())
    assert reg.n_iter_ == 5  # scikit-learn stops after n_iter_no_change + 1


# ----------------------------------------------------- issue 9, items 17-20
def _data(n, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=n)


@pytest.mark.parametrize("Est", ["MLPClassifier", "MLPRegressor"])
def test_partial_fit_with_early_stopping_is_an_error_before_any_change(Est):
    from sklearn import neural_network
    X, y = _data(40)
    y = (y > 0).astype(int)
    kw = {"classes": [0, 1]} if Est == "MLPClassifier" else {}
    with pytest.raises(ValueError, match="partial_fit does not support "
                                         "early_stopping=True"):
        getattr(neural_network, Est)(early_stopping=True).partial_fit(X, y,
                                                                      **kw)
    est = getattr(jm, Est)((4,), early_stopping=True, random_state=0)
    with pytest.raises(ValueError, match="early_stopping=True.*never train"):
        est.partial_fit(X, y, **kw)
    assert not hasattr(est, "model_") and not hasattr(est, "n_features_in_")
    assert not hasattr(est, "classes_")
    est.fit(X, y)  # fit is fine; a later partial_fit changes nothing
    before = est.model_.params.copy(), est.n_iter_
    with pytest.raises(ValueError, match="early_stopping"):
        est.partial_fit(X, y, **kw)
    np.testing.assert_array_equal(est.model_.params, before[0])
    assert est.n_iter_ == before[1]


def test_early_stopping_ends_with_the_best_epoch_when_max_iter_stops():
    # pure-noise targets and a wide net: it overfits, the validation R^2 peaks
    # early; patience never runs out, so max_iter ends training
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(60, 10)), rng.normal(size=60)
    kw = dict(hidden_layer_sizes=(64,), learning_rate_init=0.01,
              early_stopping=True, validation_fraction=0.3,
              n_iter_no_change=1000, batch_size=8, random_state=0)
    reg = jm.MLPRegressor(max_iter=25, **kw).fit(X, y)
    scores = reg.validation_scores_
    assert reg.n_iter_ == 25 and len(scores) == 25
    best = int(np.argmax(scores))
    assert best < 24, "the case must have its best epoch before the last"
    assert reg.best_validation_score_ == max(scores)
    assert reg.best_loss_ is None  # as scikit-learn with early_stopping
    # the same run stopped right after the best epoch has the same parameters
    ref = jm.MLPRegressor(max_iter=best + 1, **kw).fit(X, y)
    np.testing.assert_array_equal(reg.model_.params, ref.model_.params)
    np.testing.assert_array_equal(reg.model_.stats, ref.model_.stats)
    assert reg.predict(X).tolist() == ref.predict(X).tolist()


def test_early_stopping_by_patience_keeps_the_best_epoch_too():
    X, y = _data(200)
    clf = jm.MLPClassifier((8,), early_stopping=True, n_iter_no_change=2,
                           tol=0.5, max_iter=100, random_state=0)
    clf.fit(X, (y > 0).astype(int))
    assert clf.n_iter_ == 4  # 1 best + (n_iter_no_change + 1) without gain
    assert len(clf.validation_scores_) == 4
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_early_stopping_validation_set_too_small_as_scikit_learn():
    from sklearn.neural_network import MLPRegressor
    X, y = _data(10)
    for est in (MLPRegressor(early_stopping=True),
                jm.MLPRegressor((2,), early_stopping=True)):
        with pytest.raises(ValueError, match="validation set is too small"):
            est.fit(X, y)
    X, y = _data(11)  # ceil(0.1 * 11) = 2 validation rows
    jm.MLPRegressor((2,), early_stopping=True, max_iter=2).fit(X, y)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_batchnorm_any_sample_count_no_error_no_spurious_warning(
        early_stopping):
    import warnings
    X, y = _data(230)
    labels = np.arange(230) % 2
    for n in range(1, 231):
        too_small = n < (11 if early_stopping else 2)
        for est, yy in ((jm.MLPRegressor, y), (jm.MLPClassifier, labels)):
            if est is jm.MLPClassifier and n < 4:
                continue  # needs 2 classes (and 2 of each to stratify)
            m = est((3,), norm="batch", max_iter=2, random_state=0,
                    early_stopping=early_stopping)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                # max_iter=2 does not converge: scikit-learn's warning is due
                warnings.simplefilter("ignore", ConvergenceWarning)
                if too_small:
                    with pytest.raises(ValueError, match="at least 2 training"
                                       if not early_stopping else
                                       "validation set is too small"):
                        m.fit(X[:n], yy[:n])
                    continue
                m.fit(X[:n], yy[:n])
                assert np.isfinite(m.predict(X[:n]).astype(float)).all()
            n_train = n - int(np.ceil(0.1 * n)) if early_stopping else n
            b = m.trainer_.batch_size
            assert b >= min(200, n_train) and n_train % b != 1, (n, b)


def test_batchnorm_batch_size_201_and_explicit_choices():
    import warnings
    X, y = _data(300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = jm.MLPRegressor((3,), norm="batch", max_iter=1).fit(X[:201],
                                                                y[:201])
        assert m.trainer_.batch_size == 201  # one batch, not 200 + 1
        # auto counts the training rows: 222 - 23 validation = 199
        m = jm.MLPRegressor((3,), norm="batch", max_iter=1,
                            early_stopping=True).fit(X[:222], y[:222])
        assert m.trainer_.batch_size == 199
    # an explicit batch size that would leave a batch of 1 is changed, loudly
    with pytest.warns(UserWarning, match="batch_size=16 with 33 training "
                                         "samples.*using batch_size=17"):
        m = jm.MLPRegressor((3,), norm="batch", batch_size=16,
                            max_iter=1).fit(X[:33], y[:33])
    assert m.trainer_.batch_size == 17
    with pytest.warns(UserWarning, match="using batch_size=2"):
        jm.MLPRegressor((3,), norm="batch", batch_size=1,
                        max_iter=1).fit(X[:10], y[:10])
    # partial_fit: the batch size follows each chunk
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = jm.MLPRegressor((3,), norm="batch")
        for n in (201, 5, 2, 3):
            m.partial_fit(X[:n], y[:n])
        assert np.isfinite(m.predict(X)).all()
    with pytest.raises(ValueError, match="at least 2 training samples"):
        m.partial_fit(X[:1], y[:1])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_explicit_batch_size_larger_than_the_data_warns_as_scikit_learn():
    from sklearn.neural_network import MLPRegressor
    X, y = _data(50)
    with pytest.warns(UserWarning, match="clipped"):
        MLPRegressor(batch_size=100, max_iter=1).fit(X, y)
    with pytest.warns(UserWarning, match="batch_size=100 is larger than the "
                                         "50 training samples; it is clipped"):
        m = jm.MLPRegressor((3,), batch_size=100, max_iter=1).fit(X, y)
    assert m.trainer_.batch_size == 50


def test_partial_fit_classes_as_scikit_learn():
    from sklearn.neural_network import MLPClassifier
    X, y = _data(40)
    y = np.where(y > 0, "b", "a")
    for Est in (MLPClassifier, jm.MLPClassifier):
        with pytest.raises(ValueError, match="classes must be passed"):
            Est().partial_fit(X, y)
        est = Est(random_state=0).partial_fit(X, y, classes=["a", "b", "c"])
        assert list(est.classes_) == ["a", "b", "c"]
        est.partial_fit(X, y, classes=["c", "b", "a"])  # same set: fine
        est.partial_fit(X, y)
        with pytest.raises(ValueError, match="not the same"):
            est.partial_fit(X, y, classes=["a", "b"])
        with pytest.raises(ValueError, match="not the same"):
            est.partial_fit(X, y, classes=["a", "b", "c", "d"])
        with pytest.raises(ValueError, match="classes"):
            est.partial_fit(X, np.where(y == "a", "d", y))  # unseen label
    # jitmlp: the refused calls changed nothing
    est = jm.MLPClassifier((4,), random_state=0)
    est.partial_fit(X, y, classes=["a", "b", "c"])
    p = est.model_.params.copy()
    for bad in (dict(classes=["a", "b"]), dict(classes=["x", "y", "z"])):
        with pytest.raises(ValueError, match="not the same as on the first"):
            est.partial_fit(X, y, **bad)
    with pytest.raises(ValueError, match=r"not in classes_.*\['d'\]"):
        est.partial_fit(X, np.where(y == "a", "d", y))
    np.testing.assert_array_equal(est.model_.params, p)
    assert list(est.classes_) == ["a", "b", "c"] and est.n_iter_ == 1
    # labels outside classes on the first call: refused, nothing set
    est = jm.MLPClassifier((4,))
    with pytest.raises(ValueError, match="not in classes_"):
        est.partial_fit(X, y, classes=["a", "c"])
    assert not hasattr(est, "classes_") and not hasattr(est, "model_")


def test_multilabel_y_trains_and_multioutput_classes_are_refused():
    X, y = _data(30)
    Y = np.c_[y > 0, y > 0.5].astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = jm.MLPClassifier((4,), max_iter=5, random_state=0).fit(X, Y)
        assert est.predict(X).shape == Y.shape
        est2 = jm.MLPClassifier((4,), random_state=0)
        est2.partial_fit(X, Y, classes=[0, 1])
        assert est2.predict_proba(X).shape == Y.shape
    with pytest.raises(ValueError, match="multi-output"):
        jm.MLPClassifier((4,)).fit(X, np.c_[Y[:, 0], Y[:, 1] * 2])


def test_sparse_X_is_accepted():
    sparse = pytest.importorskip("scipy.sparse")
    X, y = _data(30)
    for S in (sparse.csr_matrix(X), sparse.csr_array(X),
              sparse.csc_matrix(X)):
        for est in (jm.MLPClassifier((4,), max_iter=1),
                    jm.MLPRegressor((4,), max_iter=1)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(S, (y > 0).astype(int))
            assert est.predict(S).shape == (30,)


def test_pandas_nullable_frames():
    pd = pytest.importorskip("pandas")
    X, y = _data(40)
    labels = (y > 0).astype(int)
    frame = pd.DataFrame({"f": X[:, 0], "i": np.round(X[:, 1] * 10),
                          "g": X[:, 2]})
    nullable = frame.astype({"f": "Float64", "i": "Int64", "g": "Float64"})
    for Est, target in ((jm.MLPClassifier, labels), (jm.MLPRegressor, y)):
        ref = Est((4,), max_iter=3, random_state=0).fit(frame, target)
        est = Est((4,), max_iter=3, random_state=0).fit(nullable, target)
        np.testing.assert_array_equal(est.model_.params, ref.model_.params)
        np.testing.assert_array_equal(est.predict(nullable),
                                      ref.predict(frame))
        assert list(est.feature_names_in_) == ["f", "i", "g"]
        missing = nullable.copy()
        missing.iloc[3, 1] = pd.NA
        with pytest.raises(ValueError, match=r"1 missing value\(s\) \(pd.NA"):
            Est((4,), max_iter=3).fit(missing, target)
        with pytest.raises(ValueError, match=r"pd.NA"):
            est.predict(missing)
    # nullable labels: classes_ keep their integer type; NA labels refused
    clf = jm.MLPClassifier((4,), max_iter=2, random_state=0).fit(
        X, pd.Series(labels, dtype="Int64"))
    assert clf.classes_.tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"y contains 1 missing"):
        jm.MLPClassifier((4,), max_iter=2).fit(
            X, pd.Series(labels, dtype="Int64").mask(np.arange(40) == 0))


def test_max_iter_without_convergence_warns_as_scikit_learn():
    X, y = _data(60)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        jm.MLPRegressor((4,), max_iter=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = jm.MLPRegressor((4,), max_iter=1, random_state=0)
        m.partial_fit(X, y)          # partial_fit never warns, as sklearn


def test_estimators_without_scikit_learn_say_what_to_install():
    """Found by a new user: a bare ModuleNotFoundError 'sklearn'."""
    import subprocess
    import sys
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import jitmlp as jm\n"
            "try:\n    jm.MLPClassifier\n"
            "except ImportError as e:\n    print('MSG', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, timeout=120)
    assert "MSG jitmlp.MLPClassifier needs scikit-learn: pip install" \
        in r.stdout, r.stdout + r.stderr
