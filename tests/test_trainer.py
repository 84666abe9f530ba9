"""Trainer: epochs, resuming, early stopping, clipping, divergence, callbacks."""
import numpy as np
import pytest

import jitmlp as jm
from jitmlp import schedules as S


def regression_data(n=200, d=5, seed=0):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, d))
    y = np.sin(X @ r.standard_normal(d)) + 0.1 * r.standard_normal(n)
    return X, y


def test_epoch_visits_every_sample_once_in_a_seeded_order():
    X, y = regression_data(50)
    runs = []
    for _ in range(2):
        m = jm.MLP([5, 8, 1], seed=0)
        jm.Trainer(m, jm.SGD(lr=0.01), batch_size=7, epochs=3, seed=4).fit(X, y)
        runs.append(m.params.copy())
    assert np.array_equal(runs[0], runs[1])
    m = jm.MLP([5, 8, 1], seed=0)
    jm.Trainer(m, jm.SGD(lr=0.01), batch_size=7, epochs=3, seed=5).fit(X, y)
    assert not np.array_equal(m.params, runs[0])
    # batch 7 on 50 samples: 8 steps an epoch, the last one of 1 sample
    m = jm.MLP([5, 8, 1], seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.01), batch_size=7, epochs=3, seed=4)
    tr.fit(X, y)
    assert tr.optimizer.t == 24


def test_fit_equals_steps_on_the_same_batches():
    X, y = regression_data(30)
    a = jm.MLP([5, 8, 8, 1], norm="batch", seed=0)
    b = a.copy()
    ta = jm.Trainer(a, jm.Adam(lr=0.01), batch_size=8, epochs=1, seed=3)
    hist = ta.fit(X, y)
    order = np.random.default_rng([3, 0]).permutation(30)
    tb = jm.Trainer(b, jm.Adam(lr=0.01), seed=0)
    losses = []
    for s in range(0, 30, 8):
        idx = order[s:s + 8]
        losses.append(tb.step(X[idx], y[idx]) * len(idx))
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.stats, b.stats)
    assert hist.loss[0] == pytest.approx(sum(losses) / 30, rel=1e-12)


def test_resume_is_bit_identical(tmp_path):
    X, y = regression_data()
    kw = dict(batch_size=16, epochs=3, seed=11,
              schedule=S.LinearWarmup(5, after=S.Cosine(T=50)))
    full = jm.MLP([5, 16, 16, 1], norm="batch", seed=0)
    tf = jm.Trainer(full, jm.Adam(lr=0.01), **kw)
    tf.fit(X, y, epochs=6)

    part = jm.MLP([5, 16, 16, 1], norm="batch", seed=0)
    tp = jm.Trainer(part, jm.Adam(lr=0.01), **kw)
    tp.fit(X, y)
    part.save(tmp_path / "m.npz")
    state = tp.state_dict()

    resumed = jm.load(tmp_path / "m.npz")
    tr = jm.Trainer(resumed, jm.Adam(lr=0.01), **kw)
    tr.load_state_dict(state)
    tr.fit(X, y)
    assert np.array_equal(resumed.params, full.params)
    assert np.array_equal(resumed.stats, full.stats)
    assert tr.optimizer.t == tf.optimizer.t
    # and fit continues where the last one stopped unless told to reset
    tp.fit(X, y)
    assert np.array_equal(part.params, full.params)
    tp.fit(X, y, reset=True, epochs=1)
    assert tp.optimizer.t == -(-200 // 16)


def test_early_stopping_restores_the_best_weights():
    r = np.random.default_rng(0)
    X = r.standard_normal((40, 10))
    y = r.standard_normal(40)          # noise: the validation loss must rise
    Xv, yv = r.standard_normal((40, 10)), r.standard_normal(40)
    m = jm.MLP([10, 64, 64, 1], seed=0)
    seen = {}

    def keep(trainer, hist):
        seen[hist.epoch[-1]] = m.params.copy()

    tr = jm.Trainer(m, jm.Adam(lr=0.01), batch_size=8, epochs=200,
                    early_stopping=True, patience=5, callbacks=[keep], seed=0)
    hist = tr.fit(X, y, validation_data=(Xv, yv))
    assert hist.stopped_early and len(hist) < 200
    best = int(np.argmin(hist.val_loss))
    assert hist.best_epoch == hist.epoch[best]
    assert len(hist) == best + 1 + 5
    assert np.array_equal(m.params, seen[hist.best_epoch])
    assert m.loss(Xv, yv) == pytest.approx(min(hist.val_loss), rel=1e-12)


def test_clipping_bounds_the_global_gradient_norm():
    X, y = regression_data(32)
    y = 100 * y
    m = jm.MLP([5, 8, 1], seed=0)
    _, g = m.loss_and_grad(X, y)
    assert np.linalg.norm(g) > 10
    tr = jm.Trainer(m, jm.SGD(lr=0.1), clip_grad_norm=1.0)
    p = m.params.copy()
    tr.step(X, y)
    step = np.linalg.norm(m.params - p) / 0.1
    assert step == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose((p - m.params) / 0.1, g / np.linalg.norm(g),
                               rtol=1e-5, atol=1e-9)


def test_divergence_stops_with_a_clear_error_and_finite_parameters():
    X, y = regression_data()
    for dtype in ("float64", "float32"):
        m = jm.MLP([5, 16, 1], dtype=dtype, seed=0)
        tr = jm.Trainer(m, jm.SGD(lr=1e6), batch_size=16, epochs=5, seed=0)
        with pytest.raises(jm.DivergenceError, match=r"epoch \d+ step \d+") as e:
            tr.fit(X, y)
        assert np.isfinite(m.params).all()
        assert e.value.epoch >= 0 and e.value.step >= 0
        assert not m.training


def test_history_fields_and_validation_split():
    r = np.random.default_rng(0)
    X = r.standard_normal((120, 4))
    y = (X[:, 0] > 0).astype(int)
    m = jm.MLP([4, 8, 8, 2], loss="cross_entropy", seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.1), batch_size=10, epochs=4,
                    validation_split=0.25, seed=0,
                    schedule=S.StepDecay(9, 0.5))
    h = tr.fit(X, y)
    assert len(h) == 4 and len(h.val_loss) == 4 and len(h.val_accuracy) == 4
    assert h.epoch == [0, 1, 2, 3]
    # 90 training rows, batch 10: 9 steps an epoch, the rate halves each epoch
    assert h.lr == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert all(len(s) == 9 for s in h.lr_steps)
    assert all(g.shape == (3,) and np.all(g > 0) for g in h.grad_norms)
    assert all(s > 0 for s in h.samples_per_second)
    assert set(h.as_dict()) >= {"loss", "val_loss", "lr", "grad_norms"}
    assert tr.history.epoch == [0, 1, 2, 3]
    tr.fit(X, y, epochs=1)
    assert tr.history.epoch == [0, 1, 2, 3, 4]


def test_callback_can_stop_training():
    X, y = regression_data(40)
    m = jm.MLP([5, 4, 1], seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.01), epochs=50,
                    callbacks=[lambda t, h: len(h) >= 3])
    assert len(tr.fit(X, y)) == 3


def test_uniform_sampling_draws_full_batches_with_replacement():
    X, y = regression_data(50)
    m = jm.MLP([5, 8, 1], seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.01), batch_size=1, epochs=2,
                    sampling="uniform", seed=0)
    h = tr.fit(X, y)
    assert tr.optimizer.t == 100 and np.isfinite(h.loss).all()
    a = m.params.copy()
    m2 = jm.MLP([5, 8, 1], seed=0)
    jm.Trainer(m2, jm.SGD(lr=0.01), batch_size=1, epochs=2,
               sampling="uniform", seed=0).fit(X, y)
    assert np.array_equal(a, m2.params)


def test_verbose_prints_progress(capsys):
    X, y = regression_data(40)
    m = jm.MLP([5, 4, 1], seed=0)
    jm.Trainer(m, jm.SGD(lr=0.01), epochs=2, verbose=True).fit(X, y)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "loss" in text and "samples/s" in text


def test_momentum_beats_plain_sgd_on_regression():
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import StandardScaler
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    final = {}
    for mom in (0.0, 0.9):
        m = jm.MLP([10, 32, 1], seed=0)
        h = jm.Trainer(m, jm.SGD(lr=0.001, momentum=mom), batch_size=32,
                       epochs=20, seed=0).fit(X, y)
        final[mom] = h.loss[-1]
    assert final[0.9] < 0.9 * final[0.0]


def test_adam_on_digits_reaches_97_percent():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    sx = StandardScaler().fit(Xtr)
    m = jm.MLP([64, 256, 256, 10], loss="cross_entropy", dtype="float32",
               seed=0)
    h = jm.Trainer(m, jm.Adam(lr=1e-3), batch_size=32, epochs=30,
                   seed=0).fit(sx.transform(Xtr), ytr,
                               validation_data=(sx.transform(Xte), yte))
    assert max(h.val_accuracy) >= 0.97
    assert m.score(sx.transform(Xte), yte) >= 0.97


OPT_VARIANTS = [jm.SGD(momentum=0.9), jm.SGD(momentum=0.9, nesterov=True),
                jm.Adam(weight_decay=0.1), jm.AdamW(amsgrad=True),
                jm.RMSprop(momentum=0.5, centered=True), jm.Adagrad(lr_decay=0.1)]
OPT_VARIANTS += [cls() for cls in jm.optim.OPTIMIZERS.values()]


@pytest.fixture(scope="module")
def big_model():
    # a W of 2.25M weights: above PARALLEL_MIN, split over threads
    return jm.MLP([1500, 1500, 1], dtype="float32", seed=0)


@pytest.mark.parametrize("opt", OPT_VARIANTS, ids=repr)
def test_parallel_update_is_bitwise_independent_of_thread_count(opt,
                                                                 big_model):
    from jitmlp.kernels.update import PARALLEL_MIN, apply_update
    model = big_model
    assert (np.diff(model.layout.segments[:, :2]) >= PARALLEL_MIN).any()
    r = np.random.default_rng(0)
    n = model.n_params
    g = r.standard_normal(n).astype(np.float32)
    opt.reset()
    opt.bind(model)
    for k in opt.state:   # non-zero state; mean squares above grad_avg^2
        opt.state[k][...] = (0.1 if k == "grad_avg" else 1.0) * np.abs(
            r.standard_normal(n)) + (k != "grad_avg")
    start = {k: v.copy() for k, v in opt.state.items()}
    ref = None
    for parts in (1, 2, 3):
        for k in opt.state:
            opt.state[k][...] = start[k]
        p = model.params.copy()
        apply_update(p, g.copy(), model.layout.segments, opt.hyper(),
                     opt._state_tuple(model.dtype), 1e-3, 7, 0.9, parts)
        assert np.isfinite(p).all()
        if ref is None:
            ref = p, {k: v.copy() for k, v in opt.state.items()}
            continue
        assert np.array_equal(p, ref[0])
        for k in opt.state:
            assert np.array_equal(opt.state[k], ref[1][k]), k


def test_set_num_threads_validates():
    with pytest.raises(ValueError, match="positive integer"):
        jm.set_num_threads(0)
    prev = jm.get_num_threads()
    assert jm.set_num_threads(1) == prev
    assert jm.get_num_threads() == 1
    jm.set_num_threads(prev)


# ------------------------------------------------------------- progress
def test_progress_bar_advances_within_an_epoch(monkeypatch):
    import io
    import re
    import sys
    from jitmlp import trainer as T
    pytest.importorskip("tqdm")
    monkeypatch.setattr(T, "_BAR_MININTERVAL", 0.0)  # draw every chunk
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    X, y = regression_data(3000)
    m = jm.MLP([5, 8, 1], seed=0)
    tr = jm.Trainer(m, jm.SGD(lr=0.01), batch_size=1, epochs=2, seed=0,
                    verbose=True)
    tr._chunk = 16  # chunks of 16, <= 128, <= 1024, ... steps: >= 4 an epoch
    tr.fit(X, y)
    frames = [f for f in re.split(r"[\r\n]", buf.getvalue()) if f.strip()]
    first = [f for f in frames if "epoch 1/2" in f]
    counts = {int(c) for f in first
              for c in re.findall(r"\| *(\d+)/6000", f)}
    # the bar (6000 steps in all) moved several times inside epoch 1
    assert len([c for c in counts if 0 < c < 3000]) >= 2, frames[:6]
    assert any("epoch 2/2" in f for f in frames)
    text = buf.getvalue()
    assert re.search(r"loss \d", text)
    rates = re.findall(r"([\d.]+[kMG]?) samples/s", text)
    assert rates and all(re.fullmatch(r"\d{1,3}(\.\d+)?[kMG]?", r)
                         for r in rates), rates
    assert "e+0" not in text


def test_verbose_without_tqdm_prints_a_line_per_epoch(capsys, monkeypatch):
    import builtins
    real = builtins.__import__

    def no_tqdm(name, *a, **kw):
        if name.startswith("tqdm"):
            raise ImportError("No module named 'tqdm'")
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    X, y = regression_data(40)
    tr = jm.Trainer(jm.MLP([5, 4, 1], seed=0), jm.SGD(lr=0.01), epochs=3,
                    verbose=True)
    tr.fit(X, y)
    tr.fit(X, y, epochs=1)
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        "epoch 1/3", "epoch 2/3", "epoch 3/3", "epoch 4/4"]
    assert all("samples/s" in line and "e+0" not in line for line in out)


@pytest.mark.parametrize("x, text", [(879123, "879k"), (1234567, "1.23M"),
                                     (999.9, "1k"), (12.5, "12.5"),
                                     (3.2e9, "3.2G"), (0, "0")])
def test_readable_numbers(x, text):
    from jitmlp.trainer import readable
    assert readable(x) == text


def test_trainer_and_history_reprs():
    X, y = regression_data(64)
    m = jm.MLP([5, 4, 1], seed=0)
    tr = jm.Trainer(m, jm.Adam(lr=1e-3), batch_size=16, epochs=3, seed=7)
    r = repr(tr)
    assert r.startswith("Trainer(MLP([5, 4, 1]") and "Adam(" in r
    assert "batch_size=16" in r and "0 epochs trained" in r
    h = tr.fit(X, y, validation_data=(X, y))
    assert "3 epochs trained" in repr(tr)
    r = repr(h)
    assert r.startswith("History(3 epochs, loss ") and "->" in r
    assert "val_loss" in r and "samples/s" in r and "e+0" not in r
    assert repr(jm.History()) == "History(0 epochs)"


@pytest.mark.parametrize("change, err", [
    (lambda tr: setattr(tr, "batch_size", True), TypeError),
    (lambda tr: setattr(tr, "batch_size", 0), ValueError),
    (lambda tr: setattr(tr, "clip_grad_norm", -1.0), ValueError),
    (lambda tr: setattr(tr, "shuffle", 1), TypeError),
    (lambda tr: tr.callbacks.append(3), TypeError),
    (lambda tr: setattr(tr, "model", "not a model"), TypeError),
    (lambda tr: setattr(tr.optimizer, "lr", -1.0), ValueError),
    (lambda tr: setattr(tr.optimizer, "momentum", float("nan")), ValueError),
    (lambda tr: tr.optimizer.state.__setitem__(
        "momentum_buffer", np.full(tr.model.n_params, np.nan)), ValueError),
])
def test_settings_changed_between_steps_are_checked_again(change, err):
    """step() and fit() skip re-checking settings that did not change since
    the last check (a per-step cost); any change is still checked, before
    anything moves."""
    X = np.random.default_rng(0).standard_normal((8, 3))
    y = X[:, 0]
    tr = jm.Trainer(jm.MLP([3, 4, 1], seed=0), jm.SGD(lr=0.1, momentum=0.9),
                    batch_size=4, callbacks=[])
    tr.step(X, y)
    tr.step(X, y)                      # the unchanged-settings path
    params = tr.model.params.copy()
    t = tr.optimizer.t
    change(tr)
    with pytest.raises(err):
        tr.step(X, y)
    with pytest.raises(err):
        tr.fit(X, y)
    if isinstance(tr.model, jm.MLP):
        np.testing.assert_array_equal(tr.model.params, params)
    assert tr.optimizer.t == t


def test_checked_settings_cache_survives_pickling():
    import pickle
    X = np.random.default_rng(0).standard_normal((8, 3))
    tr = jm.Trainer(jm.MLP([3, 4, 1], seed=0), jm.Adam(lr=0.01), batch_size=4)
    tr.step(X, X[:, 0])
    tr2 = pickle.loads(pickle.dumps(tr))
    assert "_checked_settings" not in tr2.__dict__
    assert "_checked" not in tr2.optimizer.__dict__
    a, b = tr.step(X, X[:, 0]), tr2.step(X, X[:, 0])
    assert a == b
    np.testing.assert_array_equal(tr.model.params, tr2.model.params)
    tr2.optimizer.lr = "x"
    with pytest.raises((TypeError, ValueError)):
        tr2.step(X, X[:, 0])


@pytest.mark.parametrize("make, attr, value", [
    (lambda: jm.SGD(lr=0.01, momentum=0.9, nesterov=True), "nesterov", 1),
    (lambda: jm.Adam(), "amsgrad", 0),
    (lambda: jm.SGD(), "weight_decay", False),
    (lambda: jm.SGD(lr=1.0), "lr", True),            # True == 1.0
    (lambda: jm.Adam(), "lr", np.array([1e-3])),
    (lambda: jm.Adam(), "lr", np.array([1e-2, 1e-3])),
    (lambda: jm.Adam(), "betas", (0.9, np.array(0.999))),
])
def test_optimizer_setting_of_another_type_is_refused_after_steps(
        make, attr, value):
    """An equal value of a refused type (a bool for a float, an int for a
    bool flag, an array) is refused after steps as on a fresh optimizer,
    with the setting's name, before anything moves."""
    X = np.random.default_rng(0).standard_normal((16, 3))
    opt = make()
    tr = jm.Trainer(jm.MLP([3, 4, 1], seed=0), opt, batch_size=8, seed=0)
    tr.step(X[:8], X[:8, 0])
    params, t = tr.model.params.copy(), opt.t
    setattr(opt, attr, value)
    for call in (lambda: tr.step(X[8:], X[8:, 0]),
                 lambda: tr.fit(X, X[:, 0]),
                 lambda: opt.step(tr.model, np.ones(tr.model.n_params))):
        with pytest.raises(TypeError, match=attr):
            call()
    np.testing.assert_array_equal(tr.model.params, params)
    assert opt.t == t


def test_array_trainer_setting_is_named_after_steps():
    X = np.random.default_rng(0).standard_normal((16, 3))
    tr = jm.Trainer(jm.MLP([3, 4, 1], seed=0), jm.SGD(lr=0.01), batch_size=8)
    tr.step(X[:8], X[:8, 0])
    tr.min_delta = np.array([0.0, 0.1])
    with pytest.raises(TypeError, match="min_delta"):
        tr.step(X[8:], X[8:, 0])


@pytest.mark.parametrize("make, key, value", [
    (lambda: jm.Adagrad(lr=0.1), "sum", -1e-12),
    (lambda: jm.RMSprop(lr=0.01), "square_avg", -1e-12),
    (lambda: jm.Adam(amsgrad=True), "max_exp_avg_sq", -1e-12),
    (lambda: jm.Adam(), "exp_avg", np.nan),
    (lambda: jm.Adam(), "exp_avg_sq", np.inf),
    (lambda: jm.SGD(lr=0.01, momentum=0.9), "momentum_buffer", -np.inf),
])
def test_state_values_written_in_place_are_checked_every_step(make, key,
                                                              value):
    """State values written into the buffers in place between steps are
    refused with a ValueError naming the buffer, before anything moves
    (not trained on, and not a DivergenceError after a reset of the
    moments)."""
    X = np.random.default_rng(0).standard_normal((16, 3))
    opt = make()
    tr = jm.Trainer(jm.MLP([3, 4, 1], seed=0), opt, batch_size=8, seed=0)
    tr.step(X[:8], X[:8, 0])
    opt.state[key][1] = value
    params, t = tr.model.params.copy(), opt.t
    state = {k: v.copy() for k, v in opt.state.items()}
    with pytest.raises(ValueError, match=key):
        tr.step(X[8:], X[8:, 0])
    np.testing.assert_array_equal(tr.model.params, params)
    assert opt.t == t
    for k, v in state.items():
        np.testing.assert_array_equal(opt.state[k], v)


def test_fit_reset_with_a_bad_setting_changes_nothing():
    X = np.random.default_rng(0).standard_normal((32, 3))
    tr = jm.Trainer(jm.MLP([3, 4, 1], seed=0), jm.Adam(lr=1e-2),
                    batch_size=8, epochs=1, seed=0)
    tr.fit(X, X[:, 0])
    state = {k: v.copy() for k, v in tr.optimizer.state.items()}
    t, epoch, hist = tr.optimizer.t, tr.epoch, len(tr.history)
    tr.optimizer.lr = -1.0
    with pytest.raises(ValueError, match="lr"):
        tr.fit(X, X[:, 0], reset=True)
    assert (tr.optimizer.t, tr.epoch, len(tr.history)) == (t, epoch, hist)
    for k, v in state.items():
        np.testing.assert_array_equal(tr.optimizer.state[k], v)
