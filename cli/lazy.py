"""A click group that imports a command's module only when that command runs.

click's documented ``LazyGroup`` pattern (click docs, "Lazily Loading Subcommands"): the group
holds ``name -> LazyCommand("module:attribute", "short help")``.  ``conddb --help`` and TAB
completion print the short help from that table and import nothing; ``conddb NAME ...`` imports
``module`` and runs ``attribute``.  ``tests/integration/test_cli.py`` checks that every short help
in the table is the command's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (``"package.module:attribute"``) and its one-line help."""

    target: str
    short_help: str


class LazyGroup(click.Group):
    """A :class:`click.Group` whose commands are imported on first use."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, LazyCommand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            self.add_command(self.load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def load(self, cmd_name: str) -> click.Command:
        """Import and return the command registered as ``cmd_name``."""
        module_name, _, attribute = self.lazy_commands[cmd_name].target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wrong table entry
            raise TypeError(f"{self.lazy_commands[cmd_name].target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, from the table (imports nothing)."""
        names = self.list_commands(ctx)
        if names:
            limit = formatter.width - 6 - max(len(name) for name in names)
            rows = [(name, _shorten(self._short_help(name), limit)) for name in names]
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        """Complete command names from the table (imports nothing), then options."""
        from click.shell_completion import CompletionItem

        items = [
            CompletionItem(name, help=self._short_help(name))
            for name in self.list_commands(ctx)
            if name.startswith(incomplete)
        ]
        return items + click.Command.shell_complete(self, ctx, incomplete)

    def _short_help(self, name: str) -> str:
        if name in self.lazy_commands:
            return self.lazy_commands[name].short_help
        return self.commands[name].get_short_help_str()


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters the way click cuts a command's help in a listing."""
    return click.Command(None, help=text).get_short_help_str(limit)


class LazyChoice(click.Choice):
    """A :class:`click.Choice` whose choices are loaded on first use (``load()``), so that a
    module can declare ``click.argument("job", type=LazyChoice(...))`` without importing the
    library that knows the choices."""

    def __init__(self, load: Callable[[], Sequence[str]], case_sensitive: bool = True) -> None:
        self._load = load
        self._choices: tuple[str, ...] | None = None
        self.case_sensitive = case_sensitive

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        if self._choices is None:
            self._choices = tuple(self._load())
        return self._choices
