"""A source that echoes what it was sent (its auth header's value, whole, as a token or in base64)
in its error answer: the pull fails, and the value appears nowhere meterbridge keeps or shows it:
the import's message, the source's last error, the source list, the database."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from tests.services.test_usage_pulls import MAPPING, PRODUCTS, no_wait
from tests.support.actors import ACTOR
from tests.support.server import serve

from meterbridge.redaction import MASK, redact
from meterbridge.services import imports, pulls
from meterbridge.services.context import Context

TOKEN = "s3cr3t-vendor-token-4242"


def test_redact_masks_a_secret_its_words_and_their_base64() -> None:
    said = f"denied Bearer {TOKEN} ({base64.b64encode(TOKEN.encode()).decode()}) for {TOKEN[:4]}"
    shown = redact(said, [f"Bearer {TOKEN}", None])
    assert TOKEN not in shown and base64.b64encode(TOKEN.encode()).decode().rstrip("=") not in shown
    assert shown.count(MASK) == 2 and shown.endswith(f"for {TOKEN[:4]}"), shown


def _pull_from(ctx: Context, endpoint: Any) -> Any:
    """A pull source at ``endpoint`` (a vendor on loopback) sending ``Bearer TOKEN``, saved and
    pulled once: the pull's view."""
    with serve(Starlette(routes=[Route("/v1/usage", endpoint)])) as url:
        pulls.save_source(
            ctx, "default", "echo", url=f"{url}/v1/usage", mapping=dict(MAPPING), auth_header="Authorization",
            auth_value=f"Bearer {TOKEN}", actor=ACTOR, options={"values": PRODUCTS},
        )  # fmt: skip
        return pulls.pull(ctx, "default", "echo", actor=ACTOR, sleep=no_wait)


def _token_nowhere(ctx: Context, shown: list[str], tables: tuple[str, ...]) -> None:
    """Neither the token nor its base64 in any text ``shown`` nor in any row of ``tables``."""
    coded = base64.b64encode(TOKEN.encode()).decode().rstrip("=")
    for text_ in shown:
        assert TOKEN not in text_ and coded not in text_, text_
    with ctx.db.session() as session:
        for table in tables:
            for row in session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608 - the test's own names
                assert TOKEN not in str(row) and coded not in str(row), (table, row)


def test_an_echoed_auth_value_is_kept_nowhere(ctx: Context) -> None:
    async def echo(request: Request) -> PlainTextResponse:
        sent = request.headers.get("authorization", "")
        token = sent.removeprefix("Bearer ")
        coded = base64.b64encode(token.encode()).decode()
        return PlainTextResponse(f"refused: you sent {sent!r}, token {token}, encoded {coded}", status_code=401)

    view = _pull_from(ctx, echo)
    assert view.status == "failed" and "answered HTTP 401" in (view.message or ""), view
    assert MASK in (view.message or "")
    shown = [
        view.model_dump_json(),
        pulls.show_source(ctx, "default", "echo").model_dump_json(),
        *(s.model_dump_json() for s in pulls.list_sources(ctx, "default")),
        *(i.model_dump_json() for i in imports.list_imports(ctx, "default")),
    ]
    _token_nowhere(ctx, shown, ("usage_sources", "usage_imports", "usage_import_errors"))


def test_a_vendor_row_that_carries_the_auth_value_is_stored_and_shown_scrubbed(ctx: Context) -> None:
    """Not an error answer the source port redacts: an ordinary 200 whose rows hold the token in
    their values (a vendor echoing what it was sent into a field). The row errors, the import's
    message and every list are scrubbed at the store's boundary, whichever service wrote them."""

    async def rows(request: Request) -> JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        item = {"account": {"id": "A-1", "name": "Acme"}, "metric": "storage", "unit": "GB"}
        if request.query_params.get("page", "1") != "1":
            return JSONResponse({"data": []})
        return JSONResponse({"data": [
            {**item, "measured_at": "2026-10-05T00:00:00Z", "value": f"token={token}"},
            {**item, "measured_at": f"then {base64.b64encode(token.encode()).decode()}", "value": "5"},
            {**item, "measured_at": "2026-10-06T00:00:00Z", "value": "7"},
        ]})  # fmt: skip

    view = _pull_from(ctx, rows)
    (stored,) = imports.list_imports(ctx, "default")
    errors = imports.show_import(ctx, "default", stored.id).errors
    assert len(errors) == 2 and all(MASK in e.message for e in errors), errors  # the rows are named, scrubbed
    shown = [view.model_dump_json(), *(e.model_dump_json() for e in errors), stored.model_dump_json()]
    _token_nowhere(ctx, shown, ("usage_imports", "usage_import_errors", "audit_log"))


def test_every_column_that_keeps_a_message_stores_it_scrubbed() -> None:
    """Each column of the store that keeps text someone else may have written (errors, messages,
    answers, summaries, emails) is of the scrubbing types; a secret this process sealed is masked
    as it is stored there, and only under the message keys of stored data."""
    from meterbridge.redaction import KNOWN
    from meterbridge.store.models import Base
    from meterbridge.store.types import MessageJSON, MessageString, MessageText

    secret = "a-sealed-private-key-0191"
    KNOWN.remember(secret)
    kept = {"error", "last_error", "message", "summary", "result", "response", "detail", "details", "body", "subject"}
    kept.add("value")  # a refused cell
    seen = set()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.name in kept:
                seen.add(f"{table.name}.{column.name}")
                scrubbed = isinstance(column.type, (MessageText, MessageString, MessageJSON))
                assert scrubbed, f"{table.name}.{column.name} keeps raw text"
    assert {"runs.summary", "journal.result", "plan_items.error", "usage_sources.last_error"} <= seen, seen
    assert MessageText().process_bind_param(f"refused {secret}", None) == f"refused {MASK}"  # type: ignore[arg-type]
    data = {"outcome": "failed", "addition_id": 7, "error": {"message": f"echo {secret}", "hint": secret}}
    stored = MessageJSON().process_bind_param(data, None)  # type: ignore[arg-type]
    assert stored == {"outcome": "failed", "addition_id": 7, "error": {"message": f"echo {MASK}", "hint": MASK}}
    assert MessageJSON().process_bind_param({"note": secret}, None) == {"note": secret}  # type: ignore[arg-type]
