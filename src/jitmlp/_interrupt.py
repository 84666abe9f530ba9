"""Ctrl-C (SIGINT) that never splits a change of state from its bookkeeping.

Python raises ``KeyboardInterrupt`` at whatever bytecode runs when the signal
is handled: after a kernel returned but before ``optimizer.t`` was counted up,
between two lists of a History, between the optimizer's and the schedule's
state.  A CI run on a fresh machine caught the first (a replay of
``optimizer.t`` steps did not give the interrupted trainer's parameters).

:class:`Atomic` marks such a section: a SIGINT arriving inside is held and
handed, when the section ends, to the handler that was in place when it
began (Python's, which raises ``KeyboardInterrupt``; a user's; or
:class:`DeferredInterrupt`'s); :meth:`Atomic.opened` lets the previous
handler act for a stretch inside (a compile between two kernel calls).
:class:`DeferredInterrupt` turns every Ctrl-C during a fit into a clean stop
at the next kernel call, with Python's handler or a handler of the user's
alike, except in an :class:`AtOnce` block (``raise_now``: a first compile,
callbacks), where it acts at once.  So a fit's own bookkeeping needs no
section: nothing raises there.

Only the main thread receives SIGINT in Python, and only it may change the
handler: elsewhere both classes do nothing.  A handler that is not a Python
callable (``SIG_IGN``, ``SIG_DFL``, one set from C) is left alone.  Cost: a
section changes the handler twice (~0.6 us); a :meth:`Trainer.step` enters
three.
"""
import signal
import threading

try:   # the C functions under signal's: without its enum conversions they
    # cost 0.3 us a call instead of 4 (a section makes three)
    from _signal import getsignal as _getsignal, signal as _setsignal
except ImportError:   # another Python implementation
    _getsignal, _setsignal = signal.getsignal, signal.signal

__all__ = ["Atomic", "AtOnce", "DeferredInterrupt", "Watch"]

_main = threading.main_thread()
_SIGINT = int(signal.SIGINT)


def _swap(handler):
    """Install ``handler`` for SIGINT in place of a Python-callable one;
    return the previous handler, or None when nothing was changed."""
    if threading.current_thread() is not _main:
        return None
    try:
        old = _getsignal(_SIGINT)
        if not callable(old):
            return None
        _setsignal(_SIGINT, handler)
    except (ValueError, OSError):   # not the main interpreter, no signals
        return None
    return old


class Atomic:
    """A section that SIGINT cannot split.

    A Ctrl-C inside is delivered to the previous handler when the section
    ends (normally or by an exception), so that a ``KeyboardInterrupt`` is
    raised after the section, never inside it.  Sections nest.

    Examples
    --------
    >>> from jitmlp._interrupt import Atomic
    >>> state = {"params": 0, "t": 0}
    >>> with Atomic():
    ...     state["params"] += 1
    ...     state["t"] += 1
    >>> state
    {'params': 1, 't': 1}
    """

    __slots__ = ("_old", "_held")

    def __init__(self):
        self._old = None
        self._held = False

    @property
    def held(self):
        """A Ctrl-C came during the section (it is handed on at the end)."""
        return self._held

    def _hold(self, signum, frame):
        self._held = True

    def __enter__(self):
        self._held = False
        self._old = _swap(self._hold)
        return self

    def __exit__(self, *exc):
        old = self._old
        if old is not None:
            self._old = None
            _setsignal(_SIGINT, old)
            if self._held:
                self._held = False
                old(signal.SIGINT, None)    # may raise KeyboardInterrupt
        return False

    def opened(self):
        """A stretch inside the section where the previous handler is in
        charge again (a compile in the middle of a chunk loop, where nothing
        has changed since the last count); a Ctrl-C held before stays held.
        """
        return _Opened(self)


class _Opened:
    __slots__ = ("_a",)

    def __init__(self, a):
        self._a = a

    def __enter__(self):
        if self._a._old is not None:
            _setsignal(_SIGINT, self._a._old)
        return self

    def __exit__(self, *exc):
        if self._a._old is not None:
            _setsignal(_SIGINT, self._a._hold)
        return False


class DeferredInterrupt:
    """Ctrl-C during a fit is recorded in :attr:`hit`, not raised; the fit
    checks it after every chunk of steps (and validation block) and stops
    cleanly, then raises ``KeyboardInterrupt`` itself (with Python's own
    handler) or calls the user's handler once (at :meth:`__exit__`).  Every
    further Ctrl-C is recorded the same way: the fit's own code never sees a
    ``KeyboardInterrupt`` except where :attr:`raise_now` is set (a first
    compile, callbacks of the user's: code that may run long and where the
    trainer's state is whole), there the first Ctrl-C raises (or calls the
    user's handler) at once.
    """

    def __init__(self):
        self.hit = False       # a Ctrl-C here (or, with MPI, on another rank)
        self.raise_now = False
        self._got = False      # one to hand to a user's handler at the end
        self._old = None

    def _handler(self, signum, frame):
        self.hit = True
        if self.raise_now:
            self.raise_now = False
            if self._old is signal.default_int_handler:
                raise KeyboardInterrupt
            self._old(signum, frame)
            return
        self._got = True

    def __enter__(self):
        self._old = _swap(self._handler)
        return self

    @property
    def user_handler(self):
        """A handler of the user's is in charge (the fit does not raise)."""
        return self._old is not None and \
            self._old is not signal.default_int_handler

    def __exit__(self, *exc):
        old = self._old
        if old is not None:
            self._old = None
            _setsignal(_SIGINT, old)
            if self._got and old is not signal.default_int_handler:
                self._got = False
                old(signal.SIGINT, None)
        return False


class AtOnce:
    """``flag.raise_now`` for the block (a :class:`DeferredInterrupt`, or
    None: nothing): where the state is whole and code may run long (a
    compile, callbacks), a Ctrl-C of a fit acts at once."""

    __slots__ = ("_flag",)

    def __init__(self, flag):
        self._flag = flag

    def __enter__(self):
        if self._flag is not None:
            self._flag.raise_now = True
        return self

    def __exit__(self, *exc):
        if self._flag is not None:
            self._flag.raise_now = False
        return False


class Watch:
    """Notes whether a SIGINT came (:attr:`came`) while the previous handler
    stays in charge.  For a Numba compile: a ``KeyboardInterrupt`` raised in
    one of llvmlite's ctypes callbacks is swallowed there ("Exception
    ignored on calling ctypes callback function"), and Numba then fails
    later with an unrelated ``RuntimeError`` ("no compiled object yet").
    """

    __slots__ = ("_old", "came")

    def __init__(self):
        self._old = None
        self.came = False

    def _note(self, signum, frame):
        self.came = True
        self._old(signum, frame)

    def __enter__(self):
        self.came = False
        self._old = _swap(self._note)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            _setsignal(_SIGINT, self._old)
            self._old = None
        return False
