"""How the console gets to the use case an error or a blocked line names (``action``): a link to
the page that does it, with what it needs (a period, a customer); the CLI prints a command instead."""

from __future__ import annotations

from urllib.parse import quote

LINKS = {
    "connection.set": ("/connection", "Set the connection"),
    "companies.import": ("/companies", "Import the companies"),
    "companies.link": ("/companies?show=all&q={customer}", "Link {customer} to its company"),
    "rules.set": ("/configurations?rule={name}#rules", "Add the rule {name}"),
    "doctor.create": ("/doctor?period={period}", "Let the doctor create what is missing"),
    "prices.places": ("/products", "Set the price's decimals"),
    "preview": ("/billing?period={period}", "Preview {period} first"),
    "preview.again": ("/billing?period={period}", "Preview {period} again"),
}


def link(base: str, action: str | None, params: dict[str, str]) -> tuple[str, str] | None:
    """(the URL, its label) for ``action``, or None when the console has no page for it."""
    if action is None or action not in LINKS:
        return None
    path, label = LINKS[action]
    safe = {k: quote(str(v), safe="") for k, v in params.items()}
    try:
        return base + path.format(**safe), label.format(**params)
    except KeyError:
        return None
