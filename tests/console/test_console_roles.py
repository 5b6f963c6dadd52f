"""Roles and tenants in the browser: a viewer sees every page and no button that writes (and a
write sent anyway is refused); a user of tenant A cannot see tenant B; a user of several tenants
switches between them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.support.console_world import ConsoleWorld, set_up

pytestmark = [pytest.mark.browser]

PAGES = ("", "/billing", "/runs", "/companies", "/products", "/configurations", "/usage", "/connection", "/leaks",
         "/doctor")  # fmt: skip
WRITE_BUTTONS = (
    "Push to ConnectWise", "Preview", "Import companies", "Link automatically", "Save connection", "Test connection",
    "Add product", "Save price", "Upload", "Add configuration", "Save rule", "Link",
)  # fmt: skip


def test_a_viewer_sees_everything_and_no_button_that_writes(open_console: Any, world: ConsoleWorld) -> None:
    run = set_up(world)
    world.user("acme", "vic", "viewer")
    c = open_console()
    c.sign_in("vic")
    p = c.page
    for path in (*PAGES, f"/runs/{run}", f"/billing?period=2026-10&run={run}"):
        response = c.go(f"/console/t/acme{path}")
        assert response.status == 200, path
        forms = p.locator("form[method=post]")
        actions = [forms.nth(i).get_attribute("action") for i in range(forms.count())]
        assert actions == ["/console/sign-out"], (path, actions)
        for label in WRITE_BUTTONS:
            assert p.locator(f"button:text-is('{label}')").count() == 0, (path, label)
    c.go(f"/console/t/acme/billing?period=2026-10&run={run}")
    assert "Push to ConnectWise" not in p.content() and p.locator("#totals").is_visible()
    c.shot("viewer-billing")
    # A write sent anyway (the form the viewer cannot see, with the session's own CSRF token) is refused.
    token = re.search(r'name="csrf_token" value="([^"]+)"', p.content())
    assert token is not None
    refused = p.request.post(
        f"{world.url}/console/t/acme/billing/preview", form={"csrf_token": token.group(1), "period": "2026-10"}
    )
    assert refused.status == 403 and "billing role" in refused.text()
    assert [r.kind.value for r in _runs(world)] == ["preview"]  # nothing new was started


def _runs(world: ConsoleWorld) -> list[Any]:
    from meterbridge.services import runs

    return runs.list_runs(world.ctx, "acme")


def test_a_user_of_one_tenant_cannot_see_another(open_console: Any, world: ConsoleWorld) -> None:
    set_up(world)
    world.user("beta", "bob", "billing")
    c = open_console()
    c.sign_in("bob")
    p = c.page
    assert p.url.endswith("/console/t/beta")
    assert p.locator("#tenant-switch").count() == 0  # one tenant: nothing to switch to
    for path in ("", "/billing", "/runs/1", "/companies", "/customers/acct-0009"):
        response = c.go(f"/console/t/acme{path}")
        assert response.status == 404, path
        assert "no tenant 'acme'" in p.locator(".error").inner_text()
        assert "acct-" not in p.content() and "Billed" not in p.content()
    api = p.request.get(f"{world.url}/api/v1/tenants/acme/runs")
    assert api.status == 404  # the API, with the same session, answers the same
    switched = c.go("/console/switch?tenant=acme")
    assert switched.url.endswith("/console/t/beta")  # not a way in either: back to his own tenant


def test_a_user_of_several_tenants_switches_between_them(open_console: Any, world: ConsoleWorld) -> None:
    world.user("acme", "max", "billing")
    world.user("beta", "max", "viewer")
    c = open_console(width=820, height=1100)  # a tablet
    c.sign_in("max")
    p = c.page
    assert "Your tenants" in p.locator("h1").inner_text()
    p.click("a:has-text('acme')")
    assert p.url.endswith("/console/t/acme")
    assert p.locator("button:has-text('Preview')").count() == 0  # the overview has none; billing has
    p.select_option("#tenant-switch", "beta")
    p.wait_for_url("**/console/t/beta")
    assert p.locator(".role").text_content() == "viewer"
    c.go("/console/t/beta/billing")
    assert p.locator("button:has-text('Preview')").count() == 0
    c.go("/console/t/acme/billing")
    assert p.locator("button:has-text('Preview 2026-10')").count() == 1
    c.shot("tablet-billing")
