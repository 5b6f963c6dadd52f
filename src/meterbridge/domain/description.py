"""Invoice descriptions: ConnectWise's product description (None) or ours, from a template.

Placeholders: ``{product}``, ``{period}`` (2026-10), ``{month}`` (October 2026), ``{quantity}``
(what ConnectWise bills: units, or blocks), ``{unit}``, ``{block_size}`` (empty without blocks),
``{customer}``. A template is text and placeholders only: ``{{`` and ``}}`` write a literal brace;
a conversion (``{product!r}``), a format spec (``{product:>10}``), a nested field
(``{product:{period}}``), attribute or index access (``{product.x}``, ``{product[0]}``), an empty
or unknown name are refused when the template is made (so when a configuration is saved), with
the position, not when a push is half done. A template is at most ``MAX_LENGTH`` characters with
at most ``MAX_PLACEHOLDERS`` placeholders, and its text is rendered here, never by ``str.format``:
each placeholder is replaced by its value as is. The rendered text is cut at ``MAX_LENGTH``
(ConnectWise's limit for an addition's invoiceDescription), so a long product or customer name
never makes ConnectWise refuse a line.

Without a template ConnectWise's product description is used, except for a line billed in
blocks: its quantity is a count of blocks, so the default says so (``Cloud storage: 208 x 10 GB
blocks``) and the invoice never reads "208 GB".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.periods import Period

PLACEHOLDERS = frozenset({"product", "period", "month", "quantity", "unit", "block_size", "customer"})
BLOCKS_DEFAULT = "{product}: {quantity} x {block_size} {unit} blocks"
MAX_LENGTH = 6000  # ConnectWise's invoiceDescription; a template is no longer, its rendering is cut to it
MAX_PLACEHOLDERS = 20

_NAMES = ", ".join("{" + n + "}" for n in sorted(PLACEHOLDERS))
_BRACES = "write {{ or }} for a literal brace"


class TemplateInvalid(ConfigurationInvalid):
    """A description template that breaks a rule; ``position``: where (0-based), when one place is to blame."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.position = position
        super().__init__(message)


#: A template as text and placeholders: (literal text, placeholder name or None), in order.
Parts = tuple[tuple[str, str | None], ...]


def parse(text: str) -> Parts:
    """The template's parts, or TemplateInvalid naming what is wrong, where, and what to write."""
    if len(text) > MAX_LENGTH:
        raise TemplateInvalid(
            f"description: the template has {len(text)} characters; at most {MAX_LENGTH} (ConnectWise's limit for "
            "an invoice description)"
        )
    parts: list[tuple[str, str | None]] = []
    starts: list[int] = []  # where each placeholder's '{' is
    unknown: list[tuple[int, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text.startswith(char * 2, i):
            literal.append(char)
            i += 2
        elif char == "}":
            raise TemplateInvalid(f"description: '}}' at position {i} closes no placeholder; {_BRACES}", i)
        elif char == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise TemplateInvalid(f"description: '{{' at position {i} is not closed; {_BRACES}", i)
            name = _field(text, i, end)
            if name not in PLACEHOLDERS:
                unknown.append((i, name))
            parts.append(("".join(literal), name))
            starts.append(i)
            literal = []
            i = end + 1
        else:
            literal.append(char)
            i += 1
    if unknown:
        position, _ = unknown[0]
        named = ", ".join(f"{_short('{' + name + '}')} (position {at})" for at, name in unknown[:5])
        named += f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise TemplateInvalid(
            f"description: unknown placeholder(s) {named}; the placeholders are {_NAMES} ({_BRACES})", position
        )
    if len(parts) > MAX_PLACEHOLDERS:
        raise TemplateInvalid(
            f"description: {len(parts)} placeholders; a template has at most {MAX_PLACEHOLDERS} (the one at position "
            f"{starts[MAX_PLACEHOLDERS]} is the first too many)",
            starts[MAX_PLACEHOLDERS],
        )
    if literal:
        parts.append(("".join(literal), None))
    return tuple(parts)


def _field(text: str, at: int, end: int) -> str:
    """The name of the placeholder from ``at`` ('{') to ``end`` (the first '}' after it), or
    TemplateInvalid for anything but a bare name."""
    inner = text[at + 1 : end]
    shown = _short(text[at : _balanced(text, at) + 1])
    bare = inner
    for mark in "{!:.[":
        bare = bare.split(mark, 1)[0]
    write = f"write {{{bare}}}" if bare in PLACEHOLDERS else f"use one of {_NAMES}"
    where = f"description: {shown} at position {at}"
    if "{" in inner:
        raise TemplateInvalid(
            f"{where}: nested fields are not allowed; placeholders are names only, side by side (e.g. "
            "{product} {period})",
            at,
        )
    if "!" in inner:
        raise TemplateInvalid(f"{where}: conversions (!r, !s, !a) are not allowed; {write}", at)
    if ":" in inner:
        raise TemplateInvalid(
            f"{where}: format specs (':' and what follows) are not allowed: a placeholder is its value as is; {write}",
            at,
        )
    if "." in inner or "[" in inner:
        raise TemplateInvalid(f"{where}: attribute and index access ('.', '[') are not allowed; {write}", at)
    if not inner:
        raise TemplateInvalid(f"{where}: a placeholder needs a name: {_NAMES}", at)
    return inner


def _short(shown: str) -> str:
    """A piece of the template as a message quotes it: at most 40 characters."""
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _balanced(text: str, at: int) -> int:
    """Where the '}' that closes the '{' at ``at`` is, nesting counted (for the message only)."""
    depth = 0
    for i in range(at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return len(text) - 1


@dataclass(frozen=True)
class DescriptionTemplate:
    text: str
    parts: Parts = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", parse(self.text))
        self.render(  # sample values: a template that is made renders
            product="Cloud storage",
            period=Period(2026, 10),
            quantity=Decimal("1234.5"),
            unit="GB",
            customer="acme",
            block_size=Decimal(10),
        )

    def render(
        self,
        *,
        product: str,
        period: Period,
        quantity: Decimal,
        unit: str,
        customer: str,
        block_size: Decimal | None = None,
    ) -> str:
        """The text, at most ``MAX_LENGTH`` characters (cut there)."""
        values = {
            "product": product,
            "period": str(period),
            "month": period.first_day.strftime("%B %Y"),
            "quantity": str(quantity),
            "unit": unit,
            "block_size": "" if block_size is None else f"{block_size.normalize():f}",
            "customer": customer,
        }
        pieces: list[str] = []
        length = 0
        for literal, name in self.parts:
            for piece in (literal, "" if name is None else values[name]):
                pieces.append(piece[: MAX_LENGTH - length])
                length += len(pieces[-1])
            if length >= MAX_LENGTH:
                break
        return "".join(pieces)
