"""Description templates are text and placeholders only, checked when made, rendered within
ConnectWise's 6000 characters: a template cannot make the process render gigabytes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterbridge.domain.description import MAX_LENGTH, MAX_PLACEHOLDERS, DescriptionTemplate, TemplateInvalid
from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.periods import Period

OCTOBER = Period(2026, 10)


def render(
    template: str,
    *,
    product: str = "Cloud storage",
    quantity: Decimal = Decimal("1234.57"),
    customer: str = "acme",
    block_size: Decimal | None = None,
) -> str:
    return DescriptionTemplate(template).render(
        product=product, period=OCTOBER, quantity=quantity, unit="GB", customer=customer, block_size=block_size
    )


@pytest.mark.parametrize(
    ("template", "position", "message"),
    [
        ("{product:>1000000000}{customer:>1000000000}", 0, r"\{product:>1000000000\} at position 0: format specs"),
        ("{quantity:d}", 0, r"\{quantity:d\} at position 0: format specs .* write \{quantity\}"),
        ("x {product:{period}}", 2, r"\{product:\{period\}\} at position 2: nested fields are not allowed"),
        (
            "{product!r}",
            0,
            r"\{product!r\} at position 0: conversions \(!r, !s, !a\) are not allowed; write \{product\}",
        ),
        ("{product!s:>9}", 0, r"conversions"),
        ("{product.x}", 0, r"\{product\.x\} at position 0: attribute and index access .* write \{product\}"),
        ("{a[0]}", 0, r"\{a\[0\]\} at position 0: attribute and index access .* use one of \{block_size\}"),
        ("{product.__class__}", 0, r"attribute and index access"),
        ("{}", 0, r"\{\} at position 0: a placeholder needs a name"),
        ("{0}", 0, r"unknown placeholder\(s\) \{0\} \(position 0\)"),
        ("ok {colour} {size}", 3, r"unknown placeholder\(s\) \{colour\} \(position 3\), \{size\} \(position 12\)"),
        ("{ product }", 0, r"unknown placeholder\(s\) \{ product \}"),
        ("{unclosed", 0, r"'\{' at position 0 is not closed; write \{\{ or \}\} for a literal brace"),
        ("a } b", 2, r"'\}' at position 2 closes no placeholder"),
        ("{product}}", 9, r"'\}' at position 9 closes no placeholder"),
    ],
)
def test_each_refused_form_names_itself_its_position_and_what_to_write(
    template: str, position: int, message: str
) -> None:
    with pytest.raises(TemplateInvalid, match=message) as refused:
        DescriptionTemplate(template)
    assert str(refused.value).startswith("description: ")
    assert refused.value.position == position
    assert isinstance(refused.value, ConfigurationInvalid)  # what the billing core's callers catch


def test_placeholders_and_literal_braces_render_as_is() -> None:
    every = "{product} for {month} ({period}): {quantity} {unit} in {block_size} blocks, {customer}"
    assert render(every, block_size=Decimal("10.0")) == (
        "Cloud storage for October 2026 (2026-10): 1234.57 GB in 10 blocks, acme"
    )
    assert render("{block_size}") == ""  # without blocks
    assert render("{{product}} {{{product}}} }}{{") == "{product} {Cloud storage} }{"
    assert render("plain text, no placeholders") == "plain text, no placeholders"
    assert render("") == ""
    assert render("{quantity}", quantity=Decimal("1E+3")) == "1E+3"  # as str() writes it, as before
    # values are text, never formatted again: braces or specs inside a product name stay as they are
    assert render("{product}", product="{customer:>99}") == "{customer:>99}"


def test_template_bounds_length_and_placeholders() -> None:
    assert len(render("x" * MAX_LENGTH)) == MAX_LENGTH
    with pytest.raises(TemplateInvalid, match=rf"has {MAX_LENGTH + 1} characters; at most {MAX_LENGTH}"):
        DescriptionTemplate("x" * (MAX_LENGTH + 1))
    DescriptionTemplate("{unit}" * MAX_PLACEHOLDERS)
    with pytest.raises(TemplateInvalid, match=rf"{MAX_PLACEHOLDERS + 1} placeholders; a template has at most") as many:
        DescriptionTemplate("{unit}" * (MAX_PLACEHOLDERS + 1))
    assert many.value.position == 6 * MAX_PLACEHOLDERS


def test_the_rendered_text_is_cut_at_connectwise_limit() -> None:
    long_name = "n" * 5000
    text = render("{product} {customer} {product}", product=long_name, customer="acme")
    assert len(text) == MAX_LENGTH
    assert text == (long_name + " acme " + long_name)[:MAX_LENGTH]
    assert render("{product}", product="p" * 10 * MAX_LENGTH) == "p" * MAX_LENGTH
    short = render("{product}: {quantity} {unit}")
    assert short == "Cloud storage: 1234.57 GB"


def test_a_long_refused_field_is_quoted_short() -> None:
    with pytest.raises(TemplateInvalid) as refused:
        DescriptionTemplate("{product:" + "9" * 5000 + "}")
    assert len(str(refused.value)) < 300 and "..." in str(refused.value)
