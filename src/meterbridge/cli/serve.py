"""meterbridge serve: the REST API (and the console) over HTTP, in one process."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from meterbridge.cli.app import app
from meterbridge.cli.lazy import lazy
from meterbridge.cli.render import guarded, state

if TYPE_CHECKING:
    from meterbridge import runtime
    from meterbridge.services import runs
else:  # loaded when the command runs, not for its --help
    runtime = lazy("meterbridge.runtime")
    runs = lazy("meterbridge.services.runs")


@app.command()
@guarded(None)  # a server: no JSON to print
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
    insecure_cookies: Annotated[
        bool, typer.Option("--insecure-cookies", help="Session cookies without Secure (plain HTTP off localhost).")
    ] = False,
) -> None:
    """Serve the console on http://HOST:PORT/console and the REST API on /api/v1 (OpenAPI at /docs)."""
    import uvicorn

    st = state(ctx)
    context = st.context()  # migrate and open the key before listening: errors end here, as messages
    settings = st.settings
    environment = {
        "MBRIDGE_HOME": str(settings.home),
        "MBRIDGE_DATABASE_URL": settings.resolved_database_url,
        "MBRIDGE_KEY_FILE": str(settings.resolved_key_file),
        "MBRIDGE_SECURE_COOKIES": "false" if insecure_cookies else "true",
    }
    if settings.public_url is None:  # links in emails point here unless MBRIDGE_PUBLIC_URL says otherwise
        shown = f"[{host}]" if ":" in host else host
        anywhere = host in ("0.0.0.0", "::")  # noqa: S104 - naming the any-address, not binding to it
        environment["MBRIDGE_PUBLIC_URL"] = f"http://{'127.0.0.1' if anywhere else shown}:{port}"
    os.environ.update(environment)  # the server process reads its settings as this command resolved them
    if settings.secret_key is not None:
        os.environ["MBRIDGE_SECRET_KEY"] = settings.secret_key.get_secret_value()
    revision = context.db.current_revision()
    dead = runs.settle_dead_runs(context)  # pushes a server that died left "running": interrupted, said so
    if dead:
        st.console.print(
            f"run(s) {', '.join(map(str, dead))} had been left running by a process that is gone: marked "
            "interrupted (the next push of their period completes them)"
        )
    clock = (
        f"schedules run here (every {settings.tick_seconds:g} s)"
        if settings.scheduler
        else "schedules are left to `meterbridge worker` (MBRIDGE_SCHEDULER=false)"
    )
    st.console.print(
        f"meterbridge on http://{host}:{port}: the console at /console, the REST API at /api/v1, OpenAPI at /docs "
        f"(database {runtime.database_label(settings)}, schema {revision}); {clock}"
    )
    # proxy_headers off: the app reads X-Forwarded-For only from MBRIDGE_TRUSTED_PROXIES (docs/security.md)
    uvicorn.run(
        "meterbridge.web.app:factory", factory=True, host=host, port=port, log_level="info", proxy_headers=False
    )
