"""Training works on real data, and the seed's variance-preserving claim."""
import numpy as np
import pytest

import jitmlp as jm

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def split(X, y, seed=0):
    return train_test_split(X, y, test_size=0.25, random_state=seed)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_digits_plain_sgd_reaches_95_percent(dtype):
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = split(X, y)
    sx = StandardScaler().fit(Xtr)
    Xtr, Xte = sx.transform(Xtr), sx.transform(Xte)
    m = jm.MLP([64, 128, 10], loss="cross_entropy", dtype=dtype, seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.05), batch_size=32, epochs=30, seed=0)
    hist = tr.fit(Xtr, ytr, validation_data=(Xte, yte))
    acc = m.score(Xte, yte)
    assert acc >= 0.95
    assert hist.val_accuracy[-1] == acc
    assert hist.loss[-1] < hist.loss[0]
    assert m.training is False


def test_diabetes_regression_r2():
    # diabetes is small and nearly linear (least squares: R^2 0.47 on this
    # split); a small tanh net with weight decay matches it without overfitting
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = split(X, y, seed=4)
    sx = StandardScaler().fit(Xtr)
    mu, sd = ytr.mean(), ytr.std()
    m = jm.MLP([10, 16, 1], activation="tanh", loss="squared", seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.005, weight_decay=1e-2), batch_size=16,
                    epochs=50, seed=0)
    tr.fit(sx.transform(Xtr), (ytr - mu) / sd)
    pred = m.predict(sx.transform(Xte)) * sd + mu
    r2 = 1 - ((yte - pred) ** 2).sum() / ((yte - yte.mean()) ** 2).sum()
    assert r2 >= 0.40
    assert np.isclose(m.score(sx.transform(Xte), (yte - mu) / sd), r2)


def test_breast_cancer_logistic():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = split(X, np.where(y == 1, 1, -1))
    sx = StandardScaler().fit(Xtr)
    m = jm.MLP([30, 32, 1], loss="logistic", seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.01), batch_size=16, epochs=40, seed=0)
    tr.fit(sx.transform(Xtr), ytr)
    assert m.score(sx.transform(Xte), yte) >= 0.95
    assert set(np.unique(m.predict(sx.transform(Xte)))) <= {-1, 1}


def variance_ratio(scale):
    ratios = []
    for seed in range(10):
        m = jm.MLP([256] * 21 + [1], activation="relu", init="he",
                   init_scale=scale, seed=seed)
        X = np.random.default_rng(100 + seed).standard_normal((256, 256))
        z = m.preactivations(X)
        ratios.append(z[19].var() / z[0].var())
    return float(np.mean(ratios))


def test_he_initialisation_preserves_variance_over_20_layers():
    assert 0.5 <= variance_ratio(1.0) <= 2.0
    assert variance_ratio(0.5) < 1e-9
    assert variance_ratio(2.0) > 1e9


def test_demo_runs(capsys):
    from jitmlp.__main__ import main
    assert main(["--epochs", "2", "--samples", "2000"]) == 0
    out = capsys.readouterr().out
    assert "epoch   2" in out and "held-out accuracy" in out and "samples/s" in out
