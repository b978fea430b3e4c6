"""The one progress API of the ``conddb`` commands: lines and bars on stderr.

stdout stays clean for ``--json``.  ``Progress.step`` prints a timed line (``[  12.3 s] fitting
light yield``), ``Progress.bar`` a click progress bar whose :class:`Bar` speaks both callback
protocols of the library: ``advance(n)`` (n more done) and ``at(done, total, label)`` (absolute).
A hidden progress (``--quiet``) prints nothing and its bars ignore every call.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click


class Bar:
    """Callbacks that move a click progress bar (or nothing, when hidden)."""

    def __init__(self, bar: Any | None) -> None:
        self._bar = bar
        self._done = 0

    def advance(self, n: int = 1) -> None:
        """``n`` more items done."""
        if self._bar is not None:
            self._bar.update(n)
        self._done += n

    def at(self, done: int, total: int, label: str = "") -> None:
        """``done`` of ``total`` items done; ``label`` says what is being done now."""
        if self._bar is not None and label:
            self._bar.label = label
        self.advance(done - self._done)


class Progress:
    """Progress of one command, timed from its creation; ``show=False`` hides everything."""

    def __init__(self, show: bool = True) -> None:
        self.show = show
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the command started."""
        return time.perf_counter() - self._start

    def step(self, text: str) -> None:
        """One timed line on stderr."""
        if self.show:
            click.echo(f"  [{self.elapsed():6.1f} s] {text}", err=True)

    @contextmanager
    def bar(self, length: int, label: str, *, min_length: int = 1) -> Iterator[Bar]:
        """A progress bar over ``length`` items (hidden when fewer than ``min_length``)."""
        if not self.show or length < max(min_length, 1):
            yield Bar(None)
            return
        with click.progressbar(
            length=length, label=label, file=sys.stderr, show_pos=True
        ) as bar:
            yield Bar(bar)
