"""The console over plain HTTP (no browser): signing in, CSRF, headers and assets, error pages,
bad input that names its row and loses nothing, a push whose plan changed since the review."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser

import httpx2
import pytest
from tests.support.actors import ACTOR
from tests.support.console_world import PASSWORD, ConsoleWorld, _run, finished_run, set_up

from meterbridge.mail import Outbox
from meterbridge.services import customers, notify, prices, push, runs, tenants, usage


@pytest.fixture
def http(world: ConsoleWorld) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=world.url, follow_redirects=False, timeout=60) as client:
        yield client


def sign_in(http: httpx2.Client, username: str) -> str:
    """Sign in; the session's CSRF token (from a page's forms)."""
    answer = http.post("/console/sign-in", data={"username": username, "password": PASSWORD, "next": "/console"})
    assert answer.status_code == 303, answer.text
    page = http.get("/console/t/acme")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_signing_in_comes_back_to_the_page_asked_for_and_never_elsewhere(
    world: ConsoleWorld, http: httpx2.Client
) -> None:
    world.user("acme", "ann", "billing")
    first = http.get("/console/t/acme/billing?period=2026-10")
    assert first.status_code == 303
    assert first.headers["location"] == "/console/sign-in?next=%2Fconsole%2Ft%2Facme%2Fbilling%3Fperiod%3D2026-10"
    wrong = http.post("/console/sign-in", data={"username": "ann", "password": "not it", "next": "/console"})
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    assert "mb_session" not in wrong.headers.get("set-cookie", "")
    assert 'value="ann"' in wrong.text  # the username is kept for the retry, the password is not
    target = "/console/t/acme/billing?period=2026-10"
    back = http.post("/console/sign-in", data={"username": "ann", "password": PASSWORD, "next": target})
    assert back.status_code == 303 and back.headers["location"] == "/console/t/acme/billing?period=2026-10"
    cookie = back.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/api/v1/tenants", "/console\\@evil"):
        answer = http.post("/console/sign-in", data={"username": "ann", "password": PASSWORD, "next": elsewhere})
        assert answer.headers["location"] == "/console", elsewhere


def test_every_change_needs_the_sessions_csrf_token(world: ConsoleWorld, http: httpx2.Client) -> None:
    set_up(world)
    world.user("acme", "ann", "billing")
    csrf = sign_in(http, "ann")
    before = len(runs.list_runs(world.ctx, "acme"))
    for data in ({"period": "2026-10"}, {"period": "2026-10", "csrf_token": "forged"}):
        refused = http.post("/console/t/acme/billing/preview", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
    assert len(runs.list_runs(world.ctx, "acme")) == before
    done = http.post("/console/t/acme/billing/preview", data={"period": "2026-10", "csrf_token": csrf})
    assert done.status_code == 303 and len(runs.list_runs(world.ctx, "acme")) == before + 1


def test_pages_carry_a_strict_policy_and_load_nothing_from_elsewhere(world: ConsoleWorld, http: httpx2.Client) -> None:
    run = set_up(world)
    world.user("acme", "ann", "admin")
    sign_in(http, "ann")
    for path in ("", "/billing", f"/runs/{run}", "/companies", "/products", "/configurations", "/configurations/new",
                 "/usage", "/schedules", "/connection", "/leaks", "/doctor", "/runs", "/settings"):  # fmt: skip
        page = http.get(f"/console/t/acme{path}")
        assert page.status_code == 200, (path, page.text[:500])
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["cache-control"] == "no-store"
        assert not re.search(r'(src|href)="(https?:)?//', page.text), path  # no CDN, no other site
        assert "<script>" not in page.text and " onclick=" not in page.text and " style=" not in page.text
        assert "simpriv" not in page.text
    htmx = http.get("/console/static/htmx-2.0.11.min.js")
    assert htmx.status_code == 200 and htmx.text.startswith("var htmx=function()")
    assert http.get("/console/static/console.css").status_code == 200


class Controls(HTMLParser):
    """Every form control of a page, and whether something names it for a screen reader."""

    def __init__(self) -> None:
        super().__init__()
        self.labelled_ids: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.inside_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self.inside_label += 1
            if found.get("for"):
                self.labelled_ids.add(str(found["for"]))
        elif tag in ("input", "select", "textarea") and found.get("type") not in ("hidden", "submit"):
            self.controls.append({**found, "in-label": "yes" if self.inside_label else None})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.inside_label -= 1

    def unnamed(self) -> list[dict[str, str | None]]:
        return [
            c for c in self.controls
            if not c["in-label"] and not c.get("aria-label") and c.get("id") not in self.labelled_ids
        ]  # fmt: skip


def test_every_control_on_every_page_has_a_label(world: ConsoleWorld, http: httpx2.Client) -> None:
    run = set_up(world)
    world.user("acme", "ann", "admin")
    sign_in(http, "ann")
    for path in ("", "/billing", f"/runs/{run}", "/companies", "/companies?show=suggested", "/products",
                 "/configurations", "/configurations/new", "/usage", "/connection", "/leaks", "/doctor", "/runs",
                 "/customers/acct-0009", "/settings"):  # fmt: skip
        page = Controls()
        page.feed(http.get(f"/console/t/acme{path}").text)
        assert page.controls or path == "", path  # the overview has only links and sign-out
        assert not page.unnamed(), (path, page.unnamed())


def test_errors_are_pages_in_the_console_and_json_in_the_api(world: ConsoleWorld, http: httpx2.Client) -> None:
    world.user("acme", "ann", "viewer")
    sign_in(http, "ann")
    missing = http.get("/console/t/acme/runs/999")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "run 999 does not exist" in missing.text
    bad = http.get("/console/t/acme/runs/not-a-number")
    assert bad.status_code == 422 and "run_id" in bad.text and "Traceback" not in bad.text
    nowhere = http.get("/console/t/acme/nowhere")
    assert nowhere.status_code == 404 and "<html" in nowhere.text
    api = http.get("/api/v1/tenants/acme/runs/999")
    assert api.status_code == 404 and api.json()["kind"] == "not_found"
    assert http.get("/").headers["location"] == "/console"


def test_a_csv_with_a_bad_row_names_it_and_stores_nothing(world: ConsoleWorld, http: httpx2.Client) -> None:
    set_up(world)
    world.user("acme", "ann", "billing")
    csrf = sign_in(http, "ann")
    before = len(usage.list_samples(world.ctx, "acme", limit=100_000))
    text = (
        "customer,product,measured_at,quantity,unit\n"
        "acct-0009,storage,2026-10-29T00:00:00Z,10,GB\n"
        "acct-0009,storage,2026-10-30T00:00:00Z,ten,GB\n"
    )
    answer = http.post(
        "/console/t/acme/usage/upload",
        data={"csrf_token": csrf, "source": "manual"},
        files={"file": ("october.csv", text.encode(), "text/csv")},
    )
    assert answer.status_code == 422
    assert "row 3" in answer.text and "quantity" in answer.text
    assert len(usage.list_samples(world.ctx, "acme", limit=100_000)) == before
    latin_text = f"{text}acct-0009,storage,2026-10-31T00:00:00Z,1,GB\nCafé"
    latin = http.post(
        "/console/t/acme/usage/upload",
        data={"csrf_token": csrf},
        files={"file": ("latin.csv", latin_text.encode("latin-1"), "text/csv")},
    )
    assert latin.status_code == 422 and "line 5, byte 4: b&#39;\\xe9&#39; is not UTF-8" in latin.text
    kept = http.post(
        "/console/t/acme/usage/upload",
        data={"csrf_token": csrf, "source": "manual", "mode": "valid"},
        files={"file": ("october.csv", text.encode(), "text/csv")},
        follow_redirects=True,
    )
    assert kept.status_code == 200 and "1 row(s) refused" in kept.text
    assert len(usage.list_samples(world.ctx, "acme", limit=100_000)) == before + 1
    link = re.search(r'href="(/console/t/acme/usage/imports/(\d+)/errors\.csv)"', kept.text)
    assert link is not None, "the import's error report is linked"
    report = http.get(link.group(1))
    assert report.headers["content-type"].startswith("text/csv")
    assert report.text.splitlines()[1].startswith('3,quantity,ten,"row 3, column quantity')


def test_a_push_of_a_plan_that_changed_since_the_review_is_refused_with_the_reason(
    world: ConsoleWorld, http: httpx2.Client
) -> None:
    run = set_up(world)
    world.user("acme", "ann", "billing")
    csrf = sign_in(http, "ann")
    page = http.get(f"/console/t/acme/billing?period=2026-10&run={run}")
    checksum = re.search(r'name="checksum" value="([0-9a-f]{64})"', page.text)
    assert checksum is not None
    additions = len(world.sim.state.collections["additions"].by_id)
    prices.set_price(world.ctx, "acme", "server", unit_price=Decimal("46"), actor=ACTOR)  # after the review
    started = http.post(
        "/console/t/acme/billing/push", data={"csrf_token": csrf, "period": "2026-10", "checksum": checksum.group(1)}
    )
    assert started.status_code == 303
    pushed = int(started.headers["location"].rsplit("/", 1)[1])
    head = finished_run(world.ctx, "acme", pushed)
    assert head.status.value == "refused"
    assert len(world.sim.state.collections["additions"].by_id) == additions  # nothing was written
    shown = http.get(f"/console/t/acme/runs/{pushed}")
    assert "changed since it was reviewed" in shown.text and "nothing was written" in shown.text
    assert "Preview 2026-10 again" in shown.text
    api = http.get(f"/api/v1/tenants/acme/runs/{pushed}").json()
    assert api["summary"]["error"]["kind"] == "checksum_mismatch"
    assert api["summary"]["error"]["action"] == "preview.again"


def test_a_link_to_a_company_that_was_never_imported_says_so_and_changes_nothing(
    world: ConsoleWorld, http: httpx2.Client
) -> None:
    set_up(world)
    world.user("acme", "ann", "billing")
    csrf = sign_in(http, "ann")
    before = customers.show_customer(world.ctx, "acme", "acct-0009")
    answer = http.post(
        "/console/t/acme/customers/acct-0009/link",
        data={"csrf_token": csrf, "company": "NoSuchCompany", "back": "/console/t/acme/companies?show=linked"},
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/t/acme/companies?show=linked")
    shown = http.get(answer.headers["location"])
    assert 'role="alert"' in shown.text and "NoSuchCompany" in shown.text and "is not among" in shown.text
    assert customers.show_customer(world.ctx, "acme", "acct-0009") == before
    away = http.post(
        "/console/t/acme/customers/acct-0009/unlink", data={"csrf_token": csrf, "back": "https://evil.example/"}
    )
    assert away.headers["location"].startswith("/console/t/acme/companies")  # back only to this tenant's pages


def test_schedules_page_adds_a_schedule_with_errors_next_to_the_field_and_viewers_see_no_form(
    world: ConsoleWorld, http: httpx2.Client
) -> None:
    run = set_up(world)
    world.user("acme", "ann", "admin")
    csrf = sign_in(http, "ann")
    empty = http.get("/console/t/acme/schedules")
    assert empty.status_code == 200 and "No schedules yet" in empty.text and "Save schedule" in empty.text
    wrong = http.post(
        "/console/t/acme/schedules",
        data={"name": "monthly", "kind": "monthly", "day": "32", "at": "06:00", "days": "3", "csrf_token": csrf},
    )
    assert wrong.status_code == 422
    assert re.search(r'id="day"[^>]*aria-invalid="true"', wrong.text), "the error is tied to the day field"
    assert "not a day of the month (1 to 31)" in wrong.text and 'value="32"' in wrong.text  # the input is kept
    saved = http.post(
        "/console/t/acme/schedules",
        data={"name": "monthly", "kind": "monthly", "day": "5", "at": "06:00", "days": "3", "csrf_token": csrf},
    )  # "days" belongs to auto-billing: the form shows every field, only the kind's are sent
    assert saved.status_code == 303
    shown = http.get("/console/t/acme/schedules")
    assert "pushes the previous month on day 5 of each month at 06:00" in shown.text
    disabled = http.post("/console/t/acme/schedules/monthly/enabled", data={"enabled": "false", "csrf_token": csrf})
    assert disabled.status_code == 303 and ">disabled<" in http.get("/console/t/acme/schedules").text
    world.user("acme", "vic", "viewer")
    with httpx2.Client(base_url=world.url, follow_redirects=False, timeout=60) as other:
        sign_in(other, "vic")
        seen = other.get("/console/t/acme/schedules")
        assert "monthly" in seen.text and "Save schedule" not in seen.text and "Disable" not in seen.text
    world.ctx.mailer = Outbox()
    tenants.update_settings(world.ctx, "acme", {"managers": ["billing@msp.example"]}, actor=ACTOR)
    pushed = _run(push.push(world.ctx, "acme", "2026-10", force=True, actor=ACTOR))
    _run(notify.deliver_due(world.ctx))
    page = http.get(f"/console/t/acme/runs/{pushed.run}")
    assert "Messages sent about this run" in page.text and "billing@msp.example" in page.text
    assert "badge-sent" in page.text
    assert run < pushed.run


def test_no_secret_on_any_console_page(world: ConsoleWorld, http: httpx2.Client) -> None:
    """A pull source's auth value (echoed back by the source when pulled), a webhook's signing
    secret and the ConnectWise private key appear on no page an admin (who sees the most) opens."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from tests.support.server import serve

    from meterbridge.services import pulls

    token, hook_secret = "vendor-token-not-on-a-page-77", "hook-secret-not-on-a-page-4242"

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"denied: {request.headers.get('authorization')}", status_code=401)

    run = set_up(world)
    with serve(Starlette(routes=[Route("/v1/usage", echo)])) as echoing:
        mapping = {"customer": "c", "product": "p", "measured_at": "t", "quantity": "q", "unit": "u"}
        pulls.save_source(
            world.ctx, "acme", "vendor", url=f"{echoing}/v1/usage", mapping=mapping, auth_header="Authorization",
            auth_value=f"Bearer {token}", actor=ACTOR,
        )  # fmt: skip
        assert pulls.pull(world.ctx, "acme", "vendor", actor=ACTOR, sleep=lambda _s: None).status == "failed"
        notify.add_webhook(world.ctx, "acme", "books", f"{echoing}/hook", secret=hook_secret, actor=ACTOR)
    world.user("acme", "ann", "admin")
    sign_in(http, "ann")
    for path in ("", "/billing", f"/runs/{run}", "/companies", "/products", "/configurations", "/usage", "/schedules",
                 "/connection", "/leaks", "/doctor", "/runs", "/settings"):  # fmt: skip
        page = http.get(f"/console/t/acme{path}")
        assert page.status_code == 200, (path, page.text[:500])
        for secret in (token, hook_secret, "simpriv"):
            assert secret not in page.text, (path, secret)
        if path == "/usage":  # the failed pull is shown, with what the source said, redacted
            assert "answered HTTP 401" in page.text and "[redacted]" in page.text, page.text[:3000]
