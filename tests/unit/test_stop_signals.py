"""A stop signal whose exception Python loses (raised in a weak-reference callback) still stops the
work: staged outputs are not put in place, a progress step raises it again, and Python's report of
the lost exception stays silent (``edgeconv.stop_signals``)."""

from __future__ import annotations

import signal
import sys
import weakref

import pytest

from edgeconv import outdir, progress, stop_signals
from edgeconv.stop_signals import Interrupted


@pytest.fixture
def caught(monkeypatch):
    """The command line's handlers installed in this process, and everything restored afterwards."""
    saved = {stop: signal.getsignal(stop) for stop in stop_signals.STOP_SIGNALS}
    monkeypatch.setattr(stop_signals, "_received", None)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    stop_signals.catch()
    yield
    for stop, handler in saved.items():
        signal.signal(stop, handler)


class _Thing:
    pass


def _lose_a_stop(signum: int) -> None:
    """Run the handler inside a weak-reference callback, where Python reports its exception to
    sys.unraisablehook instead of raising it (as a signal landing in the import system's lock
    callback does)."""
    thing = _Thing()
    ref = weakref.ref(thing, lambda _: stop_signals._raise_interrupted(signum, None))
    del thing
    assert ref() is None


def test_a_lost_stop_keeps_the_staged_directory_from_being_put_in_place(tmp_path, caught, capsys):
    out = tmp_path / "runs" / "out"
    with pytest.raises(Interrupted) as stopped:
        with outdir.staged_directory(out) as staging:
            (staging / "model.c").write_text("int x;\n")
            _lose_a_stop(signal.SIGTERM)
            (staging / "report.json").write_text("{}\n")  # the work went on: nothing was raised
    assert stopped.value.signum == signal.SIGTERM
    assert list(tmp_path.iterdir()) == []  # no output, no staging directory, no lock, no parents
    assert capsys.readouterr().err == ""  # no "Exception ignored" report


def test_a_lost_stop_keeps_a_staged_file_from_replacing_the_old_one(tmp_path, caught):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"old")
    with pytest.raises(Interrupted):
        with outdir.staged_file(path) as temporary:
            temporary.write_bytes(b"new")
            _lose_a_stop(signal.SIGHUP)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


def test_a_lost_stop_is_raised_again_at_the_next_progress_step(caught):
    with progress.task("fine-tuning", total=3) as bar:
        bar.advance()
        _lose_a_stop(signal.SIGINT)
        with pytest.raises(Interrupted) as stopped:
            bar.advance()
    assert stopped.value.signum == signal.SIGINT


def test_the_handler_ignores_further_stop_signals_and_other_lost_exceptions_are_still_reported(caught, capsys):
    _lose_a_stop(signal.SIGTERM)
    assert all(signal.getsignal(stop) == signal.SIG_IGN for stop in stop_signals.STOP_SIGNALS)
    thing = _Thing()
    ref = weakref.ref(thing, lambda _: 1 / 0)
    del thing
    assert ref() is None
    assert "ZeroDivisionError" in capsys.readouterr().err
