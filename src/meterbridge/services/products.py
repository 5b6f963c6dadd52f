"""Products: what is billed on the backup side, with its kind, unit, aggregation basis and the
ConnectWise catalog item it maps to."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from sqlalchemy.orm import Session

from meterbridge.domain.billing import Product as DomainProduct
from meterbridge.domain.billing import ProductKind, validate_configuration
from meterbridge.domain.errors import DomainError, UnitError
from meterbridge.domain.units import Unit, convert
from meterbridge.domain.usage import Basis
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.configuration_options import domain_configuration
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.scope import tenant_row
from meterbridge.services.tiers import tier_views
from meterbridge.services.views import ProductSaved, ProductView
from meterbridge.store.models import Price, Product
from meterbridge.store.repos import catalog
from meterbridge.store.repos import configurations as configs_repo
from meterbridge.store.repos import usage as samples


def _choice(field: str, value: str, allowed: type[StrEnum]) -> str:
    options = [member.value for member in allowed]
    if value not in options:
        raise InvalidInput(f"{field}: {value!r} is not one of {', '.join(options)}", field=field)
    return value


def domain_product(row: Product) -> DomainProduct:
    return DomainProduct(row.key, row.name, ProductKind(row.kind), Unit(row.unit), Basis(row.basis), row.cw_product)


def product_row(session: Session, tenant_id: int, key: str) -> Product:
    product = catalog.product(session, tenant_id, key)
    if product is None:
        raise NotFound(f"product {key!r} does not exist", hint="add the product first", field="product")
    return product


def _view(product: Product, prices: list[Price]) -> ProductView:
    base = next((p for p in prices if p.product_id == product.id and p.customer_id is None), None)
    return ProductView(
        key=product.key,
        name=product.name,
        kind=product.kind,
        unit=product.unit,
        basis=product.basis,
        cw_product=product.cw_product,
        unit_price=base.unit_price if base else None,
        unit_cost=base.unit_cost if base else None,
        tiers=tier_views(base.tiers) if base else [],
        overrides=sum(1 for p in prices if p.product_id == product.id and p.customer_id is not None),
    )


def save_product(
    ctx: Context,
    tenant: str,
    key: str,
    *,
    actor: Actor,
    name: str | None = None,
    kind: str | None = None,
    unit: str | None = None,
    basis: str | None = None,
    cw_product: str | None = None,
) -> ProductSaved:
    """Create a product (kind license, unit count, basis last unless given), or change what is
    given of an existing one; ``cw_product=""`` removes its mapping."""
    if not key.strip() or "/" in key:
        raise InvalidInput("key: a product needs a key without '/' (e.g. storage, server-license)", field="key")
    for field, value, allowed in (("kind", kind, ProductKind), ("unit", unit, Unit), ("basis", basis, Basis)):
        if value is not None:
            _choice(field, value, allowed)
    if cw_product is not None and len(cw_product) > 75:
        raise InvalidInput("cw_product: ConnectWise catalog identifiers are at most 75 characters", field="cw_product")
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        product = catalog.product(session, row.id, key)
        created = product is None
        before = None if product is None else _snapshot(product)
        if product is None:
            product = Product(tenant_id=row.id, key=key, kind="license", unit="count", basis="last")
            session.add(product)
        product.name = name or product.name or key
        product.kind = kind or product.kind
        product.unit = unit or product.unit
        product.basis = basis or product.basis
        if cw_product is not None:
            product.cw_product = cw_product or None
        session.flush()
        if not created:
            _still_fits(session, row.id, product)
        audit(
            session,
            ctx,
            row.id,
            actor,
            "product.create" if created else "product.update",
            _snapshot(product),
            before=before,
        )
        view = _view(product, catalog.prices(session, row.id))
        return ProductSaved(**view.model_dump(), created=created)


def _snapshot(product: Product) -> dict[str, object]:
    return {
        "key": product.key,
        "name": product.name,
        "kind": product.kind,
        "unit": product.unit,
        "basis": product.basis,
        "cw_product": product.cw_product,
    }


def _still_fits(session: Session, tenant_id: int, product: Product) -> None:
    """A changed unit or kind must still fit the samples stored and the configurations that bill it."""
    unit = Unit(product.unit)
    for stored in sorted(samples.units_of(session, tenant_id, product.id)):
        try:
            convert(Decimal(1), Unit(stored), unit)
        except UnitError:
            raise InvalidInput(
                f"unit: samples of {product.key} are stored in {stored}, which {unit.value} cannot measure",
                hint="keep the unit, or make a new product for the new unit",
                field="unit",
            ) from None
    products = {p.key: domain_product(p) for p in catalog.products(session, tenant_id)}
    for config, customer in configs_repo.named(session, tenant_id):
        if product.key not in config.options.get("products", ()):
            continue
        try:
            validate_configuration(domain_configuration(config, customer), products)
        except DomainError as error:
            raise InvalidInput(
                f"{'unit' if 'unit' in str(error) else 'kind'}: with this change, {error}",
                hint=f"change configuration {config.key} first, or keep the product as it is",
                field="unit" if "unit" in str(error) else "kind",
            ) from None


def list_products(ctx: Context, tenant: str) -> list[ProductView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        prices = catalog.prices(session, row.id)
        return [_view(product, prices) for product in catalog.products(session, row.id)]


#: What a product form offers (the values ``save_product`` and ``set_price`` accept).
CHOICES = {
    "kind": [k.value for k in ProductKind],
    "unit": [u.value for u in Unit],
    "basis": [b.value for b in Basis],
    "tier_mode": ["graduated", "volume"],
}
