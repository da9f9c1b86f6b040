"""Progress for long commands: a rich progress bar on a terminal, nothing when piped or ``--json``.

The bar writes to its own copy of the terminal's descriptor, so it keeps
drawing while a command sends fd 1 elsewhere (the demo sends Airflow's task
logs to files), and it is erased when the command ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer


class Steps:
    """Lines and steps of a command, printed plainly (no terminal, or ``--json``)."""

    def start(self, label: str) -> None:
        """A step begins (the previous one is done)."""

    def line(self, text: str) -> None:
        typer.echo(text)


class _Bar(Steps):
    def __init__(self, progress, task) -> None:
        self.progress, self.task, self.started = progress, task, False

    def start(self, label: str) -> None:
        self.progress.update(self.task, description=label, advance=1 if self.started else 0)
        self.started = True

    def line(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)


def on_terminal() -> bool:
    return sys.stdout.isatty()


@contextmanager
def steps(total: int, title: str, show: bool = True) -> Iterator[Steps]:
    """A progress bar of ``total`` steps when ``show`` and standard output is a terminal."""
    if not (show and on_terminal()):
        yield Steps()
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    sys.stdout.flush()
    with os.fdopen(os.dup(sys.stdout.fileno()), "w") as terminal:
        console = Console(file=terminal, force_terminal=True)
        with Progress(SpinnerColumn(), TextColumn(f"{escape(title)} [bold]{{task.description}}"),
                      BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      transient=True, redirect_stdout=False, redirect_stderr=False) as progress:
            yield _Bar(progress, progress.add_task("", total=total))
