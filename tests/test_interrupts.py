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

    def __init__(self, k):
        self.k = k
        self.lines = 0
        self.where = None    # (file, line) where SIGINT was raised

    def _global(self, frame, event, arg):
        return self._local if frame.f_code.co_filename.startswith(ROOT) \
            else None

    def _local(self, frame, event, arg):
        if event == "line":
            self.lines += 1
            if self.lines == self.k:
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


def _whole(tr, threads):
    """The invariants every interrupted call must leave."""
    h = tr.history
    t = tr.optimizer.t
    assert numba.get_num_threads() == threads
    assert tr.epoch == len(h) and sum(h.steps) <= t
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


def _every_line(call, setup=None):
    """Run ``call(trainer)`` on a fresh trainer once per line it executes,
    with SIGINT raised at that line; check the invariants each time.
    Returns (lines, interrupted runs).  (How many lines a call runs varies
    a little with the thread governor's timings: k goes up until SIGINT
    no longer fires.)"""
    threads = numba.get_num_threads()
    tr = _trainer()      # kernels and one-time checks done
    if setup:
        setup(tr)
    assert not _Inject(0).run(lambda: call(tr))
    _whole(tr, threads)
    raised = 0
    for k in itertools.count(1):
        tr = _trainer()
        if setup:
            setup(tr)
        inj = _Inject(k)
        got = inj.run(lambda: call(tr))
        if inj.where is None:
            return k - 1, raised
        try:
            _whole(tr, threads)
        except AssertionError as e:
            raise AssertionError(f"SIGINT at {inj.where}: {e}") from None
        assert got, f"SIGINT at {inj.where} was swallowed"
        raised += got


def _two_steps(tr):
    tr.step(X[:BATCH], Y[:BATCH])
    tr.step(X[BATCH:2 * BATCH], Y[BATCH:2 * BATCH])


def test_ctrl_c_at_every_line_of_step(python_sigint):
    lines, raised = _every_line(_two_steps)
    assert lines > 500 and raised == lines    # nothing swallowed


def test_ctrl_c_at_every_line_of_fit(python_sigint):
    # the first Ctrl-C of a fit stops it cleanly at the next chunk of steps
    # (then it raises KeyboardInterrupt, naming the epoch)
    lines, raised = _every_line(
        lambda tr: tr.fit(X, Y, validation_data=(XV, YV), epochs=2),
        setup=lambda tr: tr.fit(X, Y, validation_data=(XV, YV), epochs=1))
    assert lines > 500 and raised == lines


def _raise_now(signum, frame):
    raise KeyboardInterrupt


def test_ctrl_c_at_every_line_of_fit_with_a_handler_that_raises():
    # a handler of the user's is called once the fit has stopped cleanly
    old = signal.signal(signal.SIGINT, _raise_now)
    try:
        lines, raised = _every_line(
            lambda tr: tr.fit(X, Y, validation_data=(XV, YV), epochs=2),
            setup=lambda tr: tr.fit(X, Y, validation_data=(XV, YV),
                                    epochs=1))
    finally:
        signal.signal(signal.SIGINT, old)
    assert lines > 500 and raised == lines


def test_a_handler_that_does_not_raise_gets_ctrl_c_after_a_clean_stop(
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
    # the fit ended after that epoch, then the handler ran (once)
    assert len(hist) == 1 and seen == [1]
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


def test_deferred_interrupt_records_the_first_and_raises_the_second(
        python_sigint):
    with DeferredInterrupt() as ctrl_c:
        signal.raise_signal(signal.SIGINT)
        assert ctrl_c.hit
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
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
