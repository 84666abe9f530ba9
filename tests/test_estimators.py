"""scikit-learn compatible estimators: check_estimator and real use."""
import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import load_digits, make_regression  # noqa: E402
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
    assert reg.n_iter_ == 30 and reg.score(X, y) > 0.9
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
