"""``conddb serve``: run the HTTP conditions service (FastAPI app on uvicorn)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cli.context import Context, pass_context


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes (each with its own connection pool and caches).",
)
@click.option(
    "--read-db",
    "read_url",
    envvar="CONDDB_READ_URL",
    default=None,
    metavar="URL",
    help="Read-replica URL for GET traffic (default: the --db database).",
)
@click.option(
    "--tokens-file",
    envvar="CONDDB_TOKENS_FILE",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Hashed tokens (JSON lines, `conddb token add`); without it every write is refused.",
)
@click.option(
    "--audit-log",
    envvar="CONDDB_AUDIT_LOG",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Live copy (JSON lines) of the audit_log table; default: the conddb.audit logger.",
)
@click.option(
    "--forwarded-allow-ips",
    envvar="CONDDB_FORWARDED_ALLOW_IPS",
    default=None,
    metavar="IPS",
    help="Reverse proxies (comma-separated IPs/CIDRs) whose X-Forwarded-For is trusted; "
    "default: none, the client is the TCP peer.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@pass_context
def serve(
    ctx: Context,
    host: str,
    port: int,
    workers: int,
    read_url: str | None,
    tokens_file: Path | None,
    audit_log: Path | None,
    forwarded_allow_ips: str | None,
    log_level: str,
    access_log: bool,
) -> None:
    """Serve the read API (cacheable GETs) and the token-protected write API over HTTP.

    Further settings come from the environment (CONDDB_FROZEN_MAX_AGE, CONDDB_OPEN_MAX_AGE,
    CONDDB_MAX_PAYLOAD_BYTES, ...: see conditions/service/settings.py).  OpenAPI: /docs.
    """
    import uvicorn

    ctx.engine()  # checks the schema: fail here, with one line, rather than in every worker
    # Workers are separate processes that read their settings from the environment.
    env = {
        "CONDDB_URL": ctx.url,
        "CONDDB_READ_URL": read_url,
        "CONDDB_TOKENS_FILE": None if tokens_file is None else str(tokens_file.resolve()),
        "CONDDB_AUDIT_LOG": None if audit_log is None else str(audit_log.resolve()),
        "CONDDB_FORWARDED_ALLOW_IPS": forwarded_allow_ips,
    }
    for key, value in env.items():
        if value is not None:
            os.environ[key] = value
    click.echo(
        f"conddb serve: http://{host}:{port}/ ({workers} worker(s)); OpenAPI at /docs", err=True
    )
    # The workers build the app from an import string: a worker imports conditions.service, never
    # this CLI (a spawned worker re-runs only the light `conddb` script and cli.main), so it
    # answers uvicorn's health check within its 5 s even on a loaded machine.
    uvicorn.run(
        "conditions.service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        proxy_headers=False,  # the app honours them from --forwarded-allow-ips only
        http="conditions.service.protocol:NoDelayHTTPProtocol",  # see that module: 8x faster
    )
