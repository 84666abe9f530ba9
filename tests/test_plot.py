"""History.plot (jitmlp._plot): panels, labels, legends, event markers."""
import numpy as np
import pytest

import jitmlp as jm

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _data(n=300, seed=0):
    return jm.datasets.make_spirals(n, n_classes=3, seed=seed)


def _labels(ax):
    return ax.get_legend_handles_labels()[1]


def test_plot_panels_labels_and_legends():
    X, y = _data()
    m = jm.MLP([2, 16, 16, 3], loss="cross_entropy", seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.05, momentum=0.9), batch_size=32,
                    epochs=4, seed=0,
                    schedule=jm.schedules.Cosine(T=40, eta_min=1e-3))
    h = tr.fit(X[:240], y[:240], validation_data=(X[240:], y[240:]))
    fig = h.plot(title="spirals")
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == 4
    assert fig._suptitle.get_text() == "spirals"
    for a in axes:
        assert a.get_xlabel() == "epoch" and a.get_ylabel()
        assert a.get_legend() is not None
    assert "validation loss" in _labels(axes[0])
    # the learning rate per step: 4 epochs x 8 steps
    lr_line = axes[2].get_lines()[0]
    assert len(lr_line.get_xdata()) == sum(h.steps) == 32
    np.testing.assert_allclose(lr_line.get_ydata(), np.concatenate(h.lr_steps))
    assert len(axes[3].get_lines()) == 3  # 2 hidden layers + output


def test_plot_marks_divergence_with_its_epoch():
    X, y = _data()
    m = jm.MLP([2, 16, 3], loss="cross_entropy", seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=1e30), batch_size=32, epochs=3, seed=0)
    with pytest.raises(jm.DivergenceError) as err:
        tr.fit(X, y)
    h = err.value.history
    assert h.diverged and h.diverged_epoch == err.value.epoch
    assert tr.history.diverged_epoch == err.value.epoch
    assert f"diverged in epoch {err.value.epoch + 1}" in repr(h)
    fig = h.plot()
    labels = _labels(fig.axes[0])
    assert f"diverged in epoch {err.value.epoch + 1}" in labels, labels
    # several runs in one axes, each labelled
    fig2, ax = plt.subplots()
    h.plot(ax=ax, label="lr 1e30")
    assert any(t.startswith("lr 1e30: diverged in epoch") for t in
               _labels(ax))


def test_plot_marks_early_stopping_and_interruption():
    X, y = _data()
    m = jm.MLP([2, 8, 3], loss="cross_entropy", seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=1e-6), batch_size=32, epochs=30, seed=0,
                    early_stopping=True, patience=2, min_delta=1.0)
    h = tr.fit(X[:240], y[:240], validation_data=(X[240:], y[240:]))
    assert h.stopped_early
    labels = _labels(h.plot().axes[0])
    assert f"best epoch {h.best_epoch + 1}" in labels
    assert any(t.startswith("stopped early after epoch") for t in labels)
    h.interrupted = True
    assert any("interrupted" in t for t in _labels(h.plot().axes[0]))


@pytest.mark.parametrize("x, xlabel", [("step", "optimizer steps"),
                                       ("samples", "samples seen")])
def test_plot_x_axis_steps_and_samples(x, xlabel):
    X, y = _data(200)
    m = jm.MLP([2, 8, 3], loss="cross_entropy", seed=0)
    h = jm.Trainer(m, jm.SGD(lr=0.01), batch_size=50, epochs=3,
                   seed=0).fit(X, y)
    fig = h.plot(x=x)
    a = fig.axes[0]
    assert a.get_xlabel() == xlabel
    xs = a.get_lines()[0].get_xdata()
    want = [4, 8, 12] if x == "step" else [200, 400, 600]
    np.testing.assert_allclose(xs, want)
    with pytest.raises(ValueError, match="x must be one of"):
        h.plot(x="seconds")


def test_plot_into_given_figure():
    X, y = _data(100)
    m = jm.MLP([2, 4, 3], loss="cross_entropy", seed=0)
    h = jm.Trainer(m, jm.SGD(lr=0.01), epochs=2, seed=0).fit(X, y)
    fig = plt.figure()
    assert h.plot(fig=fig) is fig
