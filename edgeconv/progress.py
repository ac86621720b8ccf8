"""Progress bars and verbose notes for long work, on stderr, silent when asked.

Long steps (calibration, fine-tuning epochs, builds, verification runs, profiling) report through
this module only, so one switch quiets them all::

    with progress.task("fine-tuning", total=epochs) as bar:
        for epoch in range(epochs):
            ...
            bar.advance()

The command line calls :func:`configure` from ``--quiet`` / ``--verbose`` / ``--json`` (no bars,
notes only with ``--verbose``); Python callers get bars only when stderr is a terminal. Output never goes to stdout, which carries the
command's result (a table or JSON).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from . import stop_signals


@dataclass
class _Settings:
    enabled: Optional[bool] = None  # None: bars when stderr is a terminal
    verbose: bool = False


_settings = _Settings()


def configure(*, quiet: bool = False, verbose: bool = False, bars: Optional[bool] = None) -> None:
    """Bars and notes off with ``quiet``; notes on with ``verbose``.

    ``bars`` None: bars when stderr is a terminal; False: never (``--json``, for clean logs).
    """
    _settings.enabled = False if quiet else bars
    _settings.verbose = verbose and not quiet


def _console() -> Console:
    return Console(file=sys.stderr)


def _bars_enabled() -> bool:
    if _settings.enabled is not None:
        return _settings.enabled
    return sys.stderr.isatty()


def note(message: str) -> None:
    """A line on stderr under ``--verbose`` (what is being done, which file, which choice)."""
    if _settings.verbose:
        _console().print(message, markup=False, highlight=False)


class Task:
    """Handle on one bar: :meth:`advance` moves it on; a disabled task does nothing."""

    def __init__(self, bar: Optional[Progress], task_id: Optional[int]):
        self._bar = bar
        self._task_id = task_id

    def advance(self, steps: float = 1) -> None:
        stop_signals.check()  # long work notices a stop whose exception was lost (stop_signals)
        if self._bar is not None:
            self._bar.advance(self._task_id, steps)

    def describe(self, description: str) -> None:
        """Change the text before the bar (e.g. the layer or runtime being worked on)."""
        if self._bar is not None:
            self._bar.update(self._task_id, description=description)


_active: Optional[Progress] = None  # the live display; nested tasks add rows to it


@contextmanager
def task(description: str, total: Optional[float] = None) -> Iterator[Task]:
    """A bar of ``total`` steps (a spinner when ``total`` is None), removed when the work ends.

    Tasks nest: a task opened inside another adds a row under it in the same display (rich
    allows one live display at a time).
    """
    global _active
    note(description)
    if not _bars_enabled():
        yield Task(None, None)
        return
    if _active is not None:
        task_id = _active.add_task(description, total=total)
        try:
            yield Task(_active, task_id)
        finally:
            _active.remove_task(task_id)
        return
    # Time left is rich's estimate from the recent rate of steps (blank for a spinner).
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn()]
    with Progress(*columns, console=_console(), transient=True) as bar:
        _active = bar
        try:
            yield Task(bar, bar.add_task(description, total=total))
        finally:
            _active = None
