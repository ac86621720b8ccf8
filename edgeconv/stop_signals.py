"""Stop signals (SIGINT, SIGTERM, SIGHUP) as an exception that unwinds a command's work.

The command line installs a handler (:func:`catch`) that raises :class:`Interrupted`; unwinding
removes staged outputs, lock files and created parents (``outdir``). Python runs a handler between
two bytecodes of the main thread and the exception propagates from there, except where Python
ignores exceptions: a weak-reference callback (the import system's module locks use one), a
finalizer, a garbage-collection callback. A stop landing there would be lost and the command would
run to its end and write its outputs. So the handler also records the signal, and :func:`check`
raises it again: before staged outputs are put in place, at each step of a progress bar, and when
a command returns. Such a lost exception is not printed (Python's "Exception ignored" report):
its stop is reported once, by the command line, like any other.
"""

from __future__ import annotations

import signal
import sys
from typing import Any, Optional

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_received: Optional[int] = None  # the stop signal that arrived, if one did


class Interrupted(BaseException):
    """A stop signal arrived. It unwinds the work like KeyboardInterrupt (``except Exception`` does
    not catch it), so staged outputs, lock files and created parents are removed on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum: int, frame: Any) -> None:
    global _received
    for stop in STOP_SIGNALS:  # the clean-up that follows must not be cut short by a second signal
        signal.signal(stop, signal.SIG_IGN)
    _received = signum
    raise Interrupted(signum)


def _quiet_lost_stop(unraisable: Any) -> None:
    """sys.unraisablehook: an Interrupted that Python could not raise stays silent (check() raises
    it again); anything else goes to the default report."""
    if not isinstance(unraisable.exc_value, Interrupted):
        sys.__unraisablehook__(unraisable)


def catch() -> None:
    """Turn the stop signals into :class:`Interrupted`, except those the caller ignores (``nohup``)."""
    for stop in STOP_SIGNALS:
        if signal.getsignal(stop) != signal.SIG_IGN:
            signal.signal(stop, _raise_interrupted)
    sys.unraisablehook = _quiet_lost_stop


def check() -> None:
    """Raise :class:`Interrupted` if a stop signal has arrived (its first raise may have been lost)."""
    if _received is not None:
        raise Interrupted(_received)
