"""Shell completion of tag and global-tag names (click ``shell_complete`` callbacks).

The database is opened only when the shell asks for candidates (TAB on a NAME argument), with
the ``--db`` already typed on the line (else ``$CONDDB_URL`` / the embedded file); any failure
(no database, a remote URL, a bad URL) completes nothing rather than printing an error into the
user's shell.  Import cost: click only, until TAB is pressed.
"""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem


def _names(ctx: click.Context, kind: str, incomplete: str) -> list[CompletionItem]:
    url = ctx.find_root().params.get("url")
    try:
        from cli.context import Context

        context = Context(url)
        if context.is_remote():
            return []
        from conditions.store.search import names

        try:
            with context.reading() as s:
                return [CompletionItem(n) for n in names(s, kind, incomplete)]
        finally:
            context.close()
    except Exception:  # completion must never break the shell
        return []


def tag_names(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Tag names starting with ``incomplete``."""
    return _names(ctx, "tag", incomplete)


def global_tag_names(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Global-tag names starting with ``incomplete``."""
    return _names(ctx, "global tag", incomplete)
