"""Pages from Jinja2 templates (autoescaped), with the filters that show money as money and
times in the tenant's zone; every console answer carries a strict Content-Security-Policy
(scripts and styles from /console/static only)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from meterbridge.domain.money import format_money, format_unit_price
from meterbridge.services.errors import ServiceError
from meterbridge.web.console import charts

PREFIX = "/console"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value if value not in (None, "") else 0))


def money(value: Any, currency: str = "$") -> str:
    return format_money(_decimal(value), currency)


def change(value: Any, currency: str = "$") -> str:
    """A change in money, always signed: +$12.00, -$3.50, $0.00."""
    amount = _decimal(value)
    shown = format_money(amount, currency)
    return f"+{shown}" if amount > 0 else shown


def unit_price(value: Any, currency: str = "$") -> str:
    return format_unit_price(_decimal(value), currency)


def quantity(value: Any) -> str:
    amount = _decimal(value).normalize()
    return f"{amount:,f}" if amount != amount.to_integral_value() else f"{amount:,.0f}"


def when(value: datetime | None, zone: str = "UTC") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def query(**params: Any) -> str:
    """``?a=1&b=2`` of the parameters that have a value."""
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return "?" + urlencode(kept) if kept else ""


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("meterbridge.web.console", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, change=change, unit_price=unit_price, quantity=quantity, when=when)
    env.globals.update(query=query, bar_chart=lambda trend, currency="$": Markup(charts.bars(trend, currency)))  # noqa: S704
    return env


ENVIRONMENT = _environment()


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` rendered with ``context`` (and ``request``, ``prefix``)."""
    html = ENVIRONMENT.get_template(template).render(request=request, prefix=PREFIX, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def redirect(url: str, notice: str | None = None, *, failed: bool = False) -> RedirectResponse:
    """See other (303): after a form, the page that shows what it did (``notice``: one line of it;
    ``failed``: it is why nothing was done, shown as an error)."""
    if notice:
        url, hashed, fragment = url.partition("#")
        url += ("&" if "?" in url else "?") + urlencode({"failed" if failed else "done": notice[:300]})
        url += hashed + fragment
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def field_errors(error: ServiceError) -> dict[str, str]:
    """The error shown next to the field it names (and at the top of the form)."""
    return {error.field: error.message} if error.field else {}
