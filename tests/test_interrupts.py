"""Ctrl-C at every line: whatever line of jitmlp a SIGINT lands on, the
trainer stays whole.

A CI run on a fresh machine found ``Trainer.step`` interrupted between the
kernel's update and ``optimizer.t += 1`` (a replay of ``t`` steps did not give
the parameters).  These tests raise SIGINT at the k-th line that jitmlp's
Python executes, for every k of a call, and check the invariants after it:
the parameters, running statistics and optimizer state are exactly those of
``optimizer.t`` steps replayed on a fresh trainer; the History's lists agree
with ``trainer.epoch`` and ``optimizer.t``; the thread count is back.
They failed before every state change was put in an atomic section
(``jitmlp._interrupt.Atomic``).
"""
import itertools
import os
import signal
import sys

import numba
import numpy as np
import pytest

import jitmlp as jm
from jitmlp._interrupt import Atomic, DeferredInterrupt

ROOT = os.path.dirname(jm.__file__)

rng = np.random.default_rng(0)
X = rng.standard_normal((24, 4))
Y = rng.integers(0, 3, 24)
XV = rng.standard_normal((10, 4))
YV = rng.integers(0, 3, 10)
BATCH = 8


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler (a background job starts with SIGINT
    ignored, and pytest's children inherit that)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


class _Inject:
    """Raise SIGINT at the k-th line event in jitmlp's own files
    (k = 0: never; :attr:`lines` counts the events)."""

    def __init__(self, k, *more):
        self.ks = {k, *more}
        self.lines = 0
        self.where = None    # (file, line) where SIGINT was last raised

    def _global(self, frame, event, arg):
        return self._local if frame.f_code.co_filename.startswith(ROOT) \
            else None

    def _local(self, frame, event, arg):
        if event == "line":
            self.lines += 1
            if self.lines in self.ks:
                self.where = (os.path.basename(frame.f_code.co_filename),
                              frame.f_lineno)
                signal.raise_signal(signal.SIGINT)
        return self._local

    def run(self, fn):
        """fn() under the tracer; True when a KeyboardInterrupt came out."""
        sys.settrace(self._global)
        try:
            fn()
        except KeyboardInterrupt:
            return True
        finally:
            sys.settrace(None)
        return False


def _trainer():
    m = jm.MLP([4, 8, 3], loss="cross_entropy", norm="batch", dropout=0.2,
               seed=0)
    return jm.Trainer(m, jm.Adam(lr=1e-2), batch_size=BATCH, shuffle=False,
                      seed=0)


def _replay(t):
    """A fresh trainer after t steps on the batches of X in order, as a
    non-shuffled fit takes them."""
    tr = _trainer()
    per_epoch = -(-len(X) // BATCH)
    for s in range(t):
        a = (s % per_epoch) * BATCH
        tr.step(X[a:a + BATCH], Y[a:a + BATCH])
    return tr


def _state(tr):
    o = tr.optimizer
    return (tr.model.params.copy(), tr.model.stats.copy(),
            {} if o.state is None else {k: v.copy()
                                        for k, v in o.state.items()})


def _whole(tr, threads, fit_only=False):
    """The invariants every interrupted call must leave (``fit_only``: every
    step was a fit's, so the History counts them all)."""
    h = tr.history
    t = tr.optimizer.t
    assert numba.get_num_threads() == threads
    assert tr.epoch == len(h)
    assert sum(h.steps) == t if fit_only else sum(h.steps) <= t
    for k in ("epoch", "loss", "lr", "steps", "seconds",
              "samples_per_second", "lr_steps"):
        assert len(getattr(h, k)) == len(h), k
    assert len(h.val_loss) in (0, len(h)) and \
        len(h.val_accuracy) == len(h.val_loss)
    params, stats, opt = _state(tr)
    ref = _state(_replay(t))
    np.testing.assert_array_equal(params, ref[0])
    np.testing.assert_array_equal(stats, ref[1])
    # (buffers bound before the first step are zeros, as unbound ones)
    for k in opt.keys() | ref[2].keys():
        np.testing.assert_array_equal(opt.get(k, 0.0), ref[2].get(k, 0.0))


def _every_line(call, setup=None, first=None, fit_only=False):
    """Run ``call(trainer)`` on a fresh trainer once per line it executes,
    with SIGINT raised at that line (``first``: and at that line before,
    a second Ctrl-C at every later line); check the invariants each time.
    Returns (lines, interrupted runs).  (How many lines a call runs varies
    a little with the thread governor's timings: k goes up until SIGINT
    no longer fires.)"""
    threads = numba.get_num_threads()
    tr = _trainer()      # kernels and one-time checks done
    if setup:
        setup(tr)
    assert not _Inject(0).run(lambda: call(tr))
    _whole(tr, threads, fit_only)
    raised = 0
    for k in itertools.count(1 if first is None else first + 1):
        tr = _trainer()
        if setup:
            setup(tr)
        inj = _Inject(k) if first is None else _Inject(first, k)
        got = inj.run(lambda: call(tr))
        if inj.lines < k:
            return k - 1, raised
        try:
            _whole(tr, threads, fit_only)
        except AssertionError as e:
            raise AssertionError(f"SIGINT at {inj.where}: {e}") from None
        assert got, f"SIGINT at {inj.where} was swallowed"
        raised += got


@pytest.fixture
def one_step_chunks(monkeypatch):
    """Every kernel call one step, so that an epoch of 3 steps has 3 calls
    and Ctrl-C can land between the steps of an epoch."""
    import jitmlp.trainer as T
    monkeypatch.setattr(T, "_CHUNK_SECONDS", 0.0)


def _two_steps(tr):
    tr.step(X[:BATCH], Y[:BATCH])
    tr.step(X[BATCH:2 * BATCH], Y[BATCH:2 * BATCH])


def test_ctrl_c_at_every_line_of_step(python_sigint):
    lines, raised = _every_line(_two_steps)
    assert lines > 500 and raised == lines    # nothing swallowed


def _fit2(tr):
    tr.fit(X, Y, validation_data=(XV, YV), epochs=2)


def _fit1(tr):
    tr.fit(X, Y, validation_data=(XV, YV), epochs=1)


def test_ctrl_c_at_every_line_of_fit(python_sigint, one_step_chunks):
    # the first Ctrl-C of a fit stops it cleanly at the next kernel call
    # (then it raises KeyboardInterrupt, naming the epoch)
    lines, raised = _every_line(_fit2, setup=_fit1, fit_only=True)
    assert lines > 500 and raised == lines


def test_a_second_ctrl_c_at_every_line_of_fit(python_sigint,
                                              one_step_chunks):
    # the first inside the fit's first epoch, a second at every line after
    first = 650
    lines, raised = _every_line(_fit2, setup=_fit1, first=first,
                                fit_only=True)
    assert lines > first + 100 and raised == lines - first


def _raise_now(signum, frame):
    raise KeyboardInterrupt


def test_ctrl_c_at_every_line_of_fit_with_a_handler_that_raises(
        one_step_chunks):
    # a handler of the user's is called once the fit has stopped cleanly
    old = signal.signal(signal.SIGINT, _raise_now)
    try:
        lines, raised = _every_line(_fit2, setup=_fit1, fit_only=True)
    finally:
        signal.signal(signal.SIGINT, old)
    assert lines > 500 and raised == lines


def test_a_handler_that_does_not_raise_is_called_once_and_the_fit_stops(
        python_sigint):
    seen = []

    def note(signum, frame):
        seen.append(len(tr.history))
    signal.signal(signal.SIGINT, note)
    tr = _trainer()
    stop_in = []

    def ctrl_c(trainer, hist):   # a callback after the first epoch
        if not stop_in:
            stop_in.append(trainer.epoch)
            signal.raise_signal(signal.SIGINT)
    tr.callbacks = [ctrl_c]
    hist = tr.fit(X, Y, validation_data=(XV, YV), epochs=5)   # no raise
    assert hist.interrupted and tr.history.interrupted
    # in a callback (which may run long) the handler ran at once, and
    # once only; the fit ended after that epoch
    assert len(hist) == 1 and seen == [0]
    _whole(tr, numba.get_num_threads())


def test_ctrl_c_at_every_line_of_optimizer_step(python_sigint):
    model = jm.MLP([4, 8, 3], seed=0)
    g = np.linspace(-1.0, 1.0, model.n_params)

    def run(k):
        m, opt = model.copy(), jm.Adam(lr=0.1)
        _Inject(k).run(lambda: [opt.step(m, g) for _ in range(2)])
        ref, ropt = model.copy(), jm.Adam(lr=0.1)
        for _ in range(opt.t):
            ropt.step(ref, g)
        np.testing.assert_array_equal(m.params, ref.params)
        for key in ropt.state or {}:
            np.testing.assert_array_equal(opt.state[key], ropt.state[key])
    probe = _Inject(0)
    m, opt = model.copy(), jm.Adam(lr=0.1)
    probe.run(lambda: [opt.step(m, g) for _ in range(2)])
    for k in range(1, probe.lines + 1):
        run(k)


# ----------------------------------------------------- the mechanism itself
def test_atomic_hands_a_held_ctrl_c_on_after_the_section(python_sigint):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with Atomic():
            signal.raise_signal(signal.SIGINT)
            done.append("rest of the section")
    assert done == ["rest of the section"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_atomic_sections_nest_and_leave_other_handlers_alone(python_sigint):
    seen = []
    signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
    with Atomic():
        with Atomic():
            signal.raise_signal(signal.SIGINT)
        assert seen == []         # held by the outer section
    assert seen == [signal.SIGINT]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with Atomic():                # ignored stays ignored
        signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_deferred_interrupt_records_every_ctrl_c_but_where_told(
        python_sigint):
    with DeferredInterrupt() as ctrl_c:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)      # a second: recorded too
        assert ctrl_c.hit
        ctrl_c.raise_now = True                 # a compile, a callback
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert not ctrl_c.raise_now             # once
        ctrl_c.raise_now = True
        held = []
        with pytest.raises(KeyboardInterrupt):
            with Atomic():        # inside a section: after it
                signal.raise_signal(signal.SIGINT)
                held.append(True)
        assert held == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_atomic_does_nothing_off_the_main_thread(python_sigint):
    import threading
    out = []

    def worker():
        with Atomic() as a:
            out.append(a._old)
    th = threading.Thread(target=worker)
    th.start()
    th.join()
    assert out == [None]


# ------------------------------------------------ a first compile, estimators
@pytest.mark.parametrize("where", ["before the first call", "in the loop"])
def test_ctrl_c_during_a_compile_raises_at_once(python_sigint, monkeypatch,
                                                where):
    # a first compile takes 10-25 s: a Ctrl-C then must raise at once, not
    # after it (the fit's deferral used to wait for the compile and a
    # chunk); stands in for the compile: SIGINT inside _compile.ensure
    import jitmlp._compile as comp
    import jitmlp.trainer as T
    calls = []
    real_ensure, real_ready = comp.ensure, comp.ready

    def ensure(dispatcher, key, args):
        calls.append(dispatcher)
        signal.raise_signal(signal.SIGINT)
        real_ensure(dispatcher, key, args)
    monkeypatch.setattr(comp, "ensure", ensure)
    # "in the loop": the kernel of the governor's first probe compiles
    # between two chunks (an epoch of 3 one-step chunks)
    tr = _trainer()
    monkeypatch.setattr(comp, "ready", lambda d, k: bool(calls) or (
        where == "in the loop" and tr.optimizer.t < 1))
    monkeypatch.setattr(T, "_CHUNK_SECONDS", 0.0)
    with pytest.raises(KeyboardInterrupt):
        tr.fit(X, Y, validation_data=(XV, YV), epochs=2)
    # no kernel call after the Ctrl-C: before the first one nothing ran,
    # in the loop the steps before it are on record
    assert tr.optimizer.t == (0 if where == "before the first call" else 1)
    assert tr.history.interrupted
    _whole(tr, numba.get_num_threads(), fit_only=True)


def test_optimizer_step_compiles_before_its_section(monkeypatch,
                                                   python_sigint):
    import jitmlp._compile as comp
    seen = []
    monkeypatch.setattr(comp, "ensure",
                        lambda d, k, a: seen.append(signal.getsignal(
                            signal.SIGINT)))
    model = jm.MLP([4, 8, 3], seed=0)
    jm.Adam().step(model, np.ones(model.n_params))
    # Python's own handler was in charge while it compiled
    assert seen == [signal.default_int_handler]


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
@pytest.mark.parametrize("Est", [jm.MLPRegressor, jm.MLPClassifier])
def test_estimators_keep_count_after_ctrl_c_as_scikit_learn(python_sigint,
                                                            Est):
    # scikit-learn warns "Training interrupted by user." and keeps what was
    # trained; jitmlp once left loss_curve_ empty and counted the epochs
    # again at the next partial_fit
    pytest.importorskip("sklearn")
    y = Y if Est is jm.MLPClassifier else X[:, 0]
    est = Est((8,), max_iter=6, batch_size=8, random_state=0)
    state = {"n": 0}

    def ctrl_c_in_epoch_3(trainer, hist):
        state["n"] += 1
        if state["n"] == 3:
            signal.raise_signal(signal.SIGINT)
    est.fit(X, y)     # the trainer exists now; a callback interrupts
    est.trainer_.callbacks = list(est.trainer_.callbacks) + [
        ctrl_c_in_epoch_3]
    before = len(est.loss_curve_)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est.partial_fit(X, y)
        est.partial_fit(X, y)
        est.partial_fit(X, y)   # the third epoch: interrupted in it
    h = est.trainer_.history
    assert len(est.loss_curve_) == len(h) == before + 3
    assert est.loss_curve_ == h.loss
    assert est.t_ == len(h) * len(X)


# --------------------------------------------------------------- model.save
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_at_every_line_of_save_leaves_old_or_new_file(python_sigint,
                                                             tmp_path):
    old = jm.MLP([4, 8, 3], seed=0)
    new = jm.MLP([4, 8, 3], seed=1)
    path = tmp_path / "m.npz"
    old.save(path)
    probe = _Inject(0)
    probe.run(lambda: new.save(path))
    old.save(path)
    for k in range(1, probe.lines + 1):
        inj = _Inject(k)
        try:
            got = inj.run(lambda: new.save(path))
        except Exception as e:     # a KeyboardInterrupt, nothing else
            raise AssertionError(f"SIGINT at {inj.where}: {e!r}") from None
        back = jm.load(path)
        assert np.array_equal(back.params, (old if got else new).params) \
            or np.array_equal(back.params, new.params), inj.where
        assert sorted(os.listdir(tmp_path)) == ["m.npz"], inj.where
        old.save(path)


def test_a_compile_that_numba_fails_after_a_ctrl_c_raises_keyboardinterrupt(
        python_sigint):
    # llvmlite swallows a KeyboardInterrupt raised in its ctypes callbacks,
    # and Numba then fails with "RuntimeError: no compiled object yet" (seen
    # on a first Optimizer.step with an empty cache): the user pressed
    # Ctrl-C, so that is what ensure raises
    import jitmlp._compile as comp

    class FakeDispatcher:
        overloads = {}

        @staticmethod
        def typeof_pyval(a):
            return a

        @staticmethod
        def compile(sig):
            try:
                signal.raise_signal(signal.SIGINT)    # in a ctypes callback
            except KeyboardInterrupt:
                pass                                  # swallowed there
            raise RuntimeError("no compiled object yet")
    with pytest.raises(KeyboardInterrupt):
        comp.ensure(FakeDispatcher, "k", lambda: (1,))
    assert not comp.ready(FakeDispatcher, "k")

    class Broken(FakeDispatcher):    # no Ctrl-C: Numba's error as it is
        @staticmethod
        def compile(sig):
            raise RuntimeError("a real compile error")
    with pytest.raises(RuntimeError, match="a real compile error"):
        comp.ensure(Broken, "k", lambda: (1,))


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
def test_estimators_do_not_count_an_epoch_cut_short(python_sigint,
                                                    monkeypatch):
    # scikit-learn counts whole epochs only (loss_curve_, n_iter_, t_, the
    # validation scores); a new user saw n_iter_ 7 and t_ = 7 epochs of rows
    # with the last epoch at 82 of 150 steps
    pytest.importorskip("sklearn")
    import jitmlp.trainer as T
    est = jm.MLPRegressor((8,), max_iter=3, batch_size=8, random_state=0)
    est.fit(X, X[:, 0])
    before = (list(est.loss_curve_), est.t_)
    monkeypatch.setattr(T, "_CHUNK_SECONDS", 0.0)   # one step a call
    real_plan = T.EpochPlan

    def plan(**kw):
        if kw["s_begin"] == 1:     # Ctrl-C during the epoch's second step
            signal.raise_signal(signal.SIGINT)
        return real_plan(**kw)
    monkeypatch.setattr(T, "EpochPlan", plan)
    est.trainer_._chunk = 1      # (the size the fit above left)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est.partial_fit(X, X[:, 0])
    h = est.trainer_.history
    assert h.steps[-1] == 2 and h.interrupted        # the trainer's record
    assert (est.loss_curve_, est.t_) == before and est.n_iter_ == 0


def test_ctrl_c_in_a_callback_is_on_record(python_sigint):
    # an attack session: the callback's KeyboardInterrupt left
    # history.interrupted False
    tr = _trainer()
    tr.callbacks = [lambda trainer, hist: signal.raise_signal(signal.SIGINT)]
    with pytest.raises(KeyboardInterrupt):
        tr.fit(X, Y, validation_data=(XV, YV), epochs=3)
    assert tr.history.interrupted and len(tr.history) == 1
    _whole(tr, numba.get_num_threads(), fit_only=True)


def test_a_handler_raising_systemexit_in_a_compile_keeps_the_steps(
        monkeypatch):
    # the governor's first one-thread probe compiles mid-epoch; a user's
    # handler there raised SystemExit and the steps made went unrecorded
    import jitmlp._compile as comp
    import jitmlp.trainer as T
    tr = _trainer()
    monkeypatch.setattr(comp, "ready", lambda d, k: tr.optimizer.t < 1)
    monkeypatch.setattr(comp, "ensure",
                        lambda d, k, a: signal.raise_signal(signal.SIGINT))
    monkeypatch.setattr(T, "_CHUNK_SECONDS", 0.0)

    def leave(signum, frame):
        raise SystemExit("stopped by user")
    old = signal.signal(signal.SIGINT, leave)
    try:
        with pytest.raises(SystemExit):
            tr.fit(X, Y, epochs=2)
    finally:
        signal.signal(signal.SIGINT, old)
        monkeypatch.undo()     # (the replay below compiles for real)
    assert tr.optimizer.t == 1 and tr.history.steps == [1]
    assert tr.history.interrupted
    _whole(tr, numba.get_num_threads(), fit_only=True)
