"""Ctrl-C (SIGINT) that never splits a change of state from its bookkeeping.

Python raises ``KeyboardInterrupt`` at whatever bytecode runs when the signal
is handled: after a kernel returned but before ``optimizer.t`` was counted up,
between two lists of a History, between the optimizer's and the schedule's
state.  A CI run on a fresh machine caught the first (a replay of
``optimizer.t`` steps did not give the interrupted trainer's parameters).

:class:`Atomic` marks such a section: a SIGINT arriving inside is held and
handed, when the section ends, to the handler that was in place when it
began (Python's, which raises ``KeyboardInterrupt``; a user's; or
:class:`DeferredInterrupt`'s).  :class:`DeferredInterrupt` turns a first
Ctrl-C during a fit into a clean stop at the next chunk of steps, with
Python's handler or a handler of the user's alike.

Only the main thread receives SIGINT in Python, and only it may change the
handler: elsewhere both classes do nothing.  A handler that is not a Python
callable (``SIG_IGN``, ``SIG_DFL``, one set from C) is left alone.  Cost: a
section changes the handler twice (~0.6 us); a :meth:`Trainer.step` enters
three (measured: 86 us a step of a [4, 8, 1] network against 81 before).
"""
import signal
import threading

try:   # the C functions under signal's: without its enum conversions they
    # cost 0.3 us a call instead of 4 (a section makes three)
    from _signal import getsignal as _getsignal, signal as _setsignal
except ImportError:   # another Python implementation
    _getsignal, _setsignal = signal.getsignal, signal.signal

__all__ = ["Atomic", "DeferredInterrupt"]

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


class DeferredInterrupt:
    """Ctrl-C during a fit is recorded in :attr:`hit`, not raised; the fit
    checks it after every chunk of steps (and validation block) and stops
    cleanly.

    With Python's own handler, the fit then raises ``KeyboardInterrupt``
    itself, and a second Ctrl-C raises at once (except inside an
    :class:`Atomic` section, which hands it on when it ends).  A handler of
    the user's is called once when the fit has stopped and recorded
    everything (at :meth:`__exit__`), and for every further Ctrl-C at once.
    """

    def __init__(self):
        self.hit = False      # a Ctrl-C here (or, with MPI, on another rank)
        self._got = False     # a Ctrl-C in this process
        self._old = None

    def _handler(self, signum, frame):
        if self._got:
            if self._old is signal.default_int_handler:
                raise KeyboardInterrupt
            self._old(signum, frame)
            return
        self._got = self.hit = True

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
