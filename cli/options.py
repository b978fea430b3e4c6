"""The click options and arguments several ``conddb`` commands share, declared once.

Same names, same destinations, same help everywhere (``--at`` is always an ISO 8601 time with a
zone, ``--type`` always a payload type).  Only click at import time, like :mod:`cli.context`, so
``--help`` and TAB completion stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from cli.complete import global_tag_names, tag_names

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]

#: ``--json``: print the command's result in the JSON shape of ``conditions.service.serializers``.
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")

#: ``--description TEXT`` of the commands that create a tag, global tag or payload type.
DESCRIPTION = click.option("--description", default="", help="Free text shown with it.")

#: ``--quiet``: no progress lines (commands that run fits).
QUIET = click.option("--quiet", is_flag=True, help="No progress lines.")

#: ``HASH``: a payload hash or an unambiguous prefix of at least 8 hex digits.
PAYLOAD_HASH = click.argument("payload_hash", metavar="HASH")


def as_of(what: str) -> Decorator[Any]:
    """``--at TIME``; ``what``: the help's start, e.g. "The map as it was" (ISO 8601, with its
    zone: a naive time is refused, :mod:`conditions.times`)."""
    return click.option(
        "--at", "at", default=None, metavar="TIME", help=f"{what} at this time (ISO 8601)."
    )


def payload_type(help: str, *, required: bool = False) -> Decorator[Any]:
    """``--type NAME`` (a payload type), into the parameter ``type_name``."""
    return click.option("--type", "type_name", required=required, default=None, help=help)


def tag_argument(param: str = "name", metavar: str | None = None) -> Decorator[Any]:
    """A tag-name argument (names complete on TAB); ``metavar`` default: ``param`` upper-cased."""
    return click.argument(param, metavar=metavar, shell_complete=tag_names)


def global_tag_argument(param: str = "name", metavar: str | None = None) -> Decorator[Any]:
    """A global-tag-name argument (names complete on TAB)."""
    return click.argument(param, metavar=metavar, shell_complete=global_tag_names)


def band_toys(default: int) -> Decorator[Any]:
    """``--band-toys N``: toy refits of the f_nonlin systematics band (comprehensive campaigns)."""
    return click.option(
        "--band-toys",
        type=click.IntRange(min=0),
        default=default,
        show_default=True,
        help="Toy refits of the f_nonlin systematics band (comprehensive campaigns).",
    )
