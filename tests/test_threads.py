"""Thread counts: results independent of them, and the governor that picks
one per chunk of steps (issue 10)."""
import numba
import numpy as np
import pytest

import jitmlp as jm
from jitmlp._threads import ThreadGovernor, _BlasThreads, products_agree
from jitmlp.kernels import mm_nn, mm_nt, mm_tn

TWO = numba.config.NUMBA_NUM_THREADS >= 2
needs_two = pytest.mark.skipif(not TWO, reason="needs 2 threads")


@pytest.fixture
def threads():
    """Set the thread count for a test; the previous one comes back."""
    prev = jm.get_num_threads()
    blas = _BlasThreads.get().counts()
    yield jm.set_num_threads
    jm.set_num_threads(prev)
    _BlasThreads.get().set(blas)


@needs_two
def test_float32_products_are_bitwise_the_same_on_1_and_2_threads(threads):
    """OpenBLAS splits an inner dimension K above its GEMM_Q one way on one
    thread and another on several (K = 784: MNIST's first layer; a batch of
    600 rows in dW; 1000 outputs in the delta recursion); the kernels chunk
    K so that float32 products agree on every thread count."""
    dt = np.float32
    r = np.random.default_rng(0)
    for B, n, m in [(128, 784, 256), (600, 256, 64), (64, 128, 1000),
                    (96, 3000, 40), (200, 256, 1500)]:
        a = r.standard_normal((B, n)).astype(dt)
        w = r.standard_normal((n, m)).astype(dt)
        d = r.standard_normal((B, m)).astype(dt)
        got = []
        for k in (1, 2):
            threads(k)
            o1, o2, o3 = (np.empty((B, m), dt), np.empty((n, m), dt),
                          np.empty((B, n), dt))
            mm_nn(a, w, o1)
            mm_tn(a, d, o2)
            mm_nt(d, w, o3)
            got.append((o1, o2, o3))
        for x, y in zip(*got):
            assert np.array_equal(x, y)
        for x, ref in zip(got[0], (a @ w, a.T @ d, d @ w.T)):
            np.testing.assert_allclose(x, ref, rtol=2e-4,
                                       atol=2e-4 * np.abs(ref).max())
        assert products_agree([n, m], [B], "float32", [2, 1])


@needs_two
def test_the_governor_stays_put_where_products_disagree(threads, monkeypatch):
    """float64 on OpenBLAS's SkylakeX kernels: 1 and 2 threads differ in the
    last bits for many shapes; then the thread count must not move."""
    import jitmlp._threads as T
    threads(2)
    monkeypatch.setattr(T, "products_agree", lambda *a: False)
    gov = _Restless()
    gov.start("k", [3, 5, 1], [4], "float64")
    assert [gov.next_chunk(8)[0] for _ in range(10)] == [2] * 10
    gov.stop()
    monkeypatch.setattr(T, "products_agree", lambda *a: True)
    gov = _Restless()
    gov.start("k", [3, 5, 1], [4], "float64")
    assert 1 in [gov.next_chunk(8)[0] for _ in range(10)]
    gov.stop()


def _fit(gov=None, epochs=3, norm=None):
    r = np.random.default_rng(1)
    X = r.standard_normal((256, 784)).astype(np.float32)
    y = r.integers(0, 10, 256)
    m = jm.MLP([784, 300, 10], loss="cross_entropy", norm=norm,
               dtype="float32", seed=0)
    t = jm.Trainer(m, jm.Adam(lr=1e-3), batch_size=64, epochs=epochs, seed=0,
                   shuffle=True)
    if gov is not None:
        t.__dict__["_gov"] = gov
    t._chunk = 1      # with one_step_chunks: a change between any two steps
    t.fit(X, y)
    return m.params.copy(), t


class _Restless(ThreadGovernor):
    """Probes at every chunk and switches whenever it can (the worst case
    for reproducibility)."""
    MARGIN = -float("inf")  # every probe wins

    @staticmethod
    def cores_taken(extra):  # whatever the machine's load: probe both ways
        return False

    def next_chunk(self, steps):
        self.wait = 0
        return super().next_chunk(steps)


@pytest.fixture
def one_step_chunks(monkeypatch):
    """Chunks of one step: a thread-count change between any two steps."""
    import jitmlp.trainer as T
    monkeypatch.setattr(T, "_CHUNK_SECONDS", 1e-12)


@needs_two
@pytest.mark.parametrize("norm", [None, "batch"])
def test_training_is_the_same_whatever_thread_counts_the_governor_picks(
        threads, norm, one_step_chunks):
    threads(1)
    one, _ = _fit(ThreadGovernor(), norm=norm)
    threads(2)
    fixed, _ = _fit(ThreadGovernor(enabled=False), norm=norm)
    gov = _Restless()
    moving, _ = _fit(gov, norm=norm)
    assert gov.counts_used.get(1, 0) > 2 and gov.counts_used.get(2, 0) > 2
    assert np.array_equal(one, fixed)
    assert np.array_equal(fixed, moving)
    assert jm.get_num_threads() == 2          # the budget came back
    assert set(_BlasThreads.get().counts()) == {2}


class _Clock:
    """Feeds the governor per-step times as a busy or quiet machine would."""

    def __init__(self, per_step, share=None):
        self.per_step = per_step            # threads -> seconds per step
        # threads -> CPU seconds / (wall seconds x threads); None: not given
        self.share = share
        self.noise = {}                     # chunk number -> seconds a step
        self.cores_busy = False             # what the load average says

    def run(self, gov, chunks, steps=40):
        gov.cores_taken = lambda extra: self.cores_busy
        seen = []
        for c in range(chunks):
            n, k = gov.next_chunk(steps)
            wall = self.noise.pop(c, self.per_step[n]) * k
            cpu = None if self.share is None else self.share[n] * wall * n
            gov.record(wall, k, cpu)
            seen.append(n)
        return seen


@pytest.mark.parametrize("share", [None, {2: 0.97, 1: 1.0}])
def test_governor_leaves_two_threads_alone_on_a_quiet_machine(threads,
                                                               share):
    threads(2)
    gov = ThreadGovernor()
    gov.start("a")
    try:
        seen = _Clock({2: 1.0, 1: 1.6}, share).run(gov, 400)
    finally:
        gov.stop()
    assert seen[-1] == 2
    # one calibration probe, then one per MAX_WAIT chunks: a short fit is
    # rarely a probing one
    assert seen.count(1) <= 1 + 400 // ThreadGovernor.MAX_WAIT
    # (the first chunk is not timed, the probe is the fourth)
    assert seen[:4].count(1) == 1 and seen[4:67].count(1) == 0
    assert jm.get_num_threads() == 2


def test_governor_is_not_fooled_by_a_slow_first_chunk(threads):
    """A cold first chunk (thread start-up, caches) three times slower than
    the rest is no reason to leave the budget: the probe is compared with
    the best recent chunk."""
    threads(2)
    gov = ThreadGovernor()
    gov.start("a")
    try:
        clock = _Clock({2: 3.0, 1: 1.6})
        clock.run(gov, 1)                     # cold
        clock.per_step = {2: 1.0, 1: 1.6}
        seen = clock.run(gov, 60)
    finally:
        gov.stop()
    assert seen.count(1) == 1 and seen[-1] == 2


def test_governor_does_not_time_the_first_chunk(threads):
    """Traced on mnist: a new trainer's first chunk ran at 4.2 ms a step
    (against 1.4) and its second at ~2.4; compared with the best of those
    two, a 2.1 ms one-thread probe won and the next epochs ran on one
    thread.  The first chunk after a reset is not timed."""
    threads(2)
    gov = ThreadGovernor()
    gov.start("a")
    try:
        clock = _Clock({2: 1.4, 1: 2.1})
        clock.noise.update({0: 4.2, 1: 2.4})
        seen = clock.run(gov, 60)
    finally:
        gov.stop()
    assert seen.count(1) == 1 and seen[-1] == 2


def test_governor_moves_to_one_thread_when_the_machine_is_busy(threads):
    threads(2)
    gov = ThreadGovernor()
    gov.start("a")
    try:
        clock = _Clock({2: 1.0, 1: 1.6})
        clock.run(gov, 50)
        clock.per_step = {2: 4.0, 1: 1.7}     # another program takes a core
        seen = clock.run(gov, 60)
        assert seen.index(1) < 4               # noticed within a few chunks
        assert seen[-40:].count(2) <= 3        # and mostly stays on 1
        clock.per_step = {2: 1.0, 1: 1.6}     # the other program ended
        seen = clock.run(gov, 200)
        assert seen[-20:] == [2] * 20          # back on 2 threads
    finally:
        gov.stop()
    assert jm.get_num_threads() == 2


def test_a_probe_lost_to_noise_on_a_busy_machine_is_tried_again(threads):
    """Busy from the start, and the first probe of one thread happens to be
    slow: the low CPU share of the two-thread chunks (threads waiting for
    a core) brings the next probe at once, instead of MAX_WAIT chunks
    later (measured before: MNIST kept 34 % of its speed for a whole run).
    """
    threads(2)
    busy = {2: 4.0, 1: 1.7}
    for share, moved_by in (({2: 0.62, 1: 1.0}, 5), (None, None)):
        gov = ThreadGovernor()
        gov.start("a")
        try:
            clock = _Clock(busy, share)
            clock.noise[3] = 6.0                 # the first probe (chunk 3)
            seen = clock.run(gov, 60)
        finally:
            gov.stop()
        assert seen[3] == 1                      # the noisy probe was made
        if moved_by is None:   # timings alone: two threads, MAX_WAIT chunks
            assert seen[4:60].count(1) == 0
        else:
            assert 1 in seen[4:4 + moved_by]
            assert seen[-40:].count(2) <= 3


def test_a_low_cpu_share_without_a_gain_probes_rarely(threads):
    """A network whose second thread has little to do (share 0.5 on two
    threads, the same speed on one): probes that lose come rarer, up to one
    per MAX_CONTENDED_WAIT chunks."""
    threads(2)
    gov = ThreadGovernor()
    gov.start("a")
    try:
        seen = _Clock({2: 1.0, 1: 1.0}, {2: 0.5, 1: 1.0}).run(gov, 400)
    finally:
        gov.stop()
    assert seen.count(1) <= 6 + 400 // ThreadGovernor.MAX_CONTENDED_WAIT


def test_slowdowns_on_one_thread_bring_no_probe_of_more(threads):
    """Found by a new user: Trainer.step on a loaded machine, one large step
    a chunk, ran 550 / 100 / 50 ms in a loop: noise (a chunk 1.3x slower)
    on one thread brought a probe of two threads each time, at 11x the
    cost.  A slowdown now brings forward probes of fewer threads only."""
    threads(2)
    gov = ThreadGovernor()
    gov.start("a")
    try:
        clock = _Clock({2: 11.0, 1: 1.0}, {2: 0.6, 1: 1.0})
        clock.run(gov, 10)                       # settles on one thread
        for c in range(0, 200, 5):
            clock.noise[c] = 1.5                 # every 5th chunk is slow
        seen = clock.run(gov, 200)
    finally:
        gov.stop()
    # the regular probes alone (backoff 4, 16, 64, 64: <= 5 in 200 chunks)
    assert seen.count(2) <= 5, seen.count(2)


def test_no_probe_of_more_threads_while_their_cores_are_busy(threads):
    """Found by a new user: on a loaded machine a small net ran 0.2 ms a
    step on one thread and 15-25 ms on two, and every regular two-thread
    probe (124 steps) took 1.9 s of the demo.  While the load average says
    the cores are taken, probes of more threads are skipped; once it says
    they are free, the governor goes back up."""
    threads(2)
    gov = ThreadGovernor()
    gov.start("a")
    try:
        clock = _Clock({2: 100.0, 1: 1.0}, {2: 0.5, 1: 1.0})
        clock.cores_busy = True
        seen = clock.run(gov, 300)
        assert seen[4:].count(2) == 0          # on one thread after a probe
        clock.per_step = {2: 0.5, 1: 1.0}     # the other program ended
        clock.share = {2: 0.97, 1: 1.0}
        clock.cores_busy = False
        seen = clock.run(gov, 200)
        assert seen[-20:] == [2] * 20
    finally:
        gov.stop()


def test_cores_taken_reads_the_load_average(monkeypatch):
    import os as _os
    monkeypatch.setattr(_os, "cpu_count", lambda: 2)
    monkeypatch.setattr(_os, "getloadavg", lambda: (2.1, 0.0, 0.0))
    assert ThreadGovernor.cores_taken(1)           # 2.1 + 1 > 2.5
    monkeypatch.setattr(_os, "getloadavg", lambda: (1.0, 0.0, 0.0))
    assert not ThreadGovernor.cores_taken(1)       # this process alone

    def unknown():
        raise OSError("no load average here")
    monkeypatch.setattr(_os, "getloadavg", unknown)
    assert not ThreadGovernor.cores_taken(1)


def test_governor_probe_chunks_are_short(threads):
    threads(2)
    gov = ThreadGovernor()
    gov.start("a")
    try:
        sizes = {}
        for _ in range(30):
            n, k = gov.next_chunk(40)
            sizes.setdefault(gov.probe is not None, set()).add(k)
            gov.record(1.0 * k, k)
    finally:
        gov.stop()
    assert sizes[True] == {10} and sizes[False] == {40}


def test_governor_does_nothing_on_one_thread(threads):
    threads(1)
    gov = ThreadGovernor()
    gov.start("a")
    assert [gov.next_chunk(8) for _ in range(20)] == [(1, 8)] * 20
    gov.stop()
    assert jm.get_num_threads() == 1


class _Failing(_Restless):
    """Fails in the middle of a run, on one thread (as an interrupt would)."""

    def record(self, seconds, steps, cpu_seconds=None):
        super().record(seconds, steps, cpu_seconds)
        if sum(self.counts_used.values()) == 5:
            raise KeyboardInterrupt


@needs_two
def test_thread_counts_come_back_after_an_interrupt_mid_fit(
        threads, one_step_chunks):
    threads(2)
    t = jm.Trainer(jm.MLP([3, 4, 1], seed=0), jm.SGD(lr=0.1), batch_size=8,
                   epochs=3)
    gov = t.__dict__["_gov"] = _Failing()
    t._chunk = 1
    with pytest.raises(KeyboardInterrupt):
        t.fit(np.ones((64, 3)), np.ones(64))
    assert 1 in gov.counts_used
    assert jm.get_num_threads() == 2
    assert set(_BlasThreads.get().counts()) == {2}


@needs_two
def test_the_parallel_update_kernel_trains_as_the_serial_one(threads):
    """A 1500 x 1500 layer (2.25M weights >= PARALLEL_MIN): on 2 threads the
    Trainer runs train_epoch_parallel, on 1 train_epoch; the same bits."""
    from jitmlp.kernels import train_epoch_parallel
    r = np.random.default_rng(0)
    X = r.standard_normal((32, 8)).astype(np.float32)
    y = r.standard_normal(32).astype(np.float32)
    out = []
    for k in (1, 2):
        threads(k)
        m = jm.MLP([8, 1500, 1500, 1], dtype="float32", seed=0)
        t = jm.Trainer(m, jm.Adam(lr=1e-3), batch_size=16, epochs=2, seed=0)
        t.__dict__["_gov"] = ThreadGovernor(enabled=False)
        t.fit(X, y)
        out.append(m.params.copy())
    assert any("float32" in str(s) for s in train_epoch_parallel.signatures)
    assert np.array_equal(out[0], out[1])


@needs_two
def test_two_governed_runs_at_once_hold_their_budget(threads):
    """BLAS's thread count is process-wide: while two runs are governed
    (fits in two Python threads), neither moves it, and the last one to stop
    leaves the user's counts."""
    threads(2)
    a, b = _Restless(), _Restless()
    a.start("a")
    assert a.next_chunk(8)[0] == 1 and set(_BlasThreads.get().counts()) == {1}
    a.record(1.0, 2)                   # the probe wins: a runs on 1 thread
    numba.set_num_threads(2)   # Numba's count is per Python thread: b's
    b.start("b")               # own, as in a second thread; a is on 1
    assert set(_BlasThreads.get().counts()) == {2}
    assert b.budget == 2
    assert [a.next_chunk(8)[0] for _ in range(5)] == [2] * 5
    assert [b.next_chunk(8)[0] for _ in range(5)] == [2] * 5
    a.stop()
    assert set(_BlasThreads.get().counts()) == {2}
    assert 1 in [b.next_chunk(8)[0] for _ in range(5)]   # alone again: moves
    b.stop()
    assert set(_BlasThreads.get().counts()) == {2}
    assert jm.get_num_threads() == 2


def test_two_python_threads_fitting_at_once_leave_the_counts(threads):
    import threading
    threads(2)
    errors = []

    def work(seed):
        try:
            _fit(_Restless(), epochs=2)
        except Exception as exc:   # reported below
            errors.append(exc)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert set(_BlasThreads.get().counts()) == {2}
    assert jm.get_num_threads() == 2


@needs_two
def test_an_interrupt_in_the_governors_check_is_not_remembered(
        threads, monkeypatch):
    """A Ctrl-C in the first products_agree check must not leave the full
    ladder for a network whose products disagree (found by the attack
    session: the key was stored before the check ran)."""
    import jitmlp._threads as T
    threads(2)
    calls = []

    def flaky(*a):
        calls.append(a)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return False
    monkeypatch.setattr(T, "products_agree", flaky)
    t = jm.Trainer(jm.MLP([6, 5, 3], seed=0), jm.SGD(lr=0.1), batch_size=4)
    X, y = np.ones((8, 6)), np.ones((8, 3))
    with pytest.raises(KeyboardInterrupt):
        t.step(X[:4], y[:4])
    assert T._ACTIVE[0] == 0          # the run was counted out again
    t.step(X[:4], y[:4])
    assert len(calls) == 2 and t._governor.ladder == [2]
    assert set(_BlasThreads.get().counts()) == {2}
