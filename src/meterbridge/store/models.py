"""meterbridge's tables (SQLAlchemy 2). Every table but ``tenants`` belongs to one tenant.

Money and quantities use ExactDecimal, times UTCDateTime (types.py). Structured settings that
the billing core reads as a whole (a configuration's options, tiers, a plan item) are JSON.
The schema is created and changed only by the Alembic migrations in ``migrations/``; a test
checks the migrations and these models agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from meterbridge.store.types import ExactDecimal, MessageJSON, MessageString, MessageText, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _tenant() -> Mapped[int]:
    return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # policies and thresholds


class Connection(Base):
    """The tenant's ConnectWise connection; the private key is sealed (secrets.py)."""

    __tablename__ = "connections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), unique=True)
    site: Mapped[str] = mapped_column(String(255))
    company_id: Mapped[str] = mapped_column(String(100))
    public_key: Mapped[str] = mapped_column(String(100))
    private_key_sealed: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(100))
    api_version: Mapped[str] = mapped_column(String(16))
    codebase: Mapped[str | None] = mapped_column(String(64))
    tested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Customer(Base):
    """A company on the backup side; ``external_id`` comes from the usage source."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("tenant_id", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    managed_id: Mapped[str | None] = mapped_column(String(100))  # basic setup: Backup Stats by Managed ID
    push_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str | None] = mapped_column(String(200))  # the usage source that created it, if one did
    missing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())  # its source no longer lists it


class CustomerRename(Base):
    """A customer's name changed by its usage source: the old and the new name, and when."""

    __tablename__ = "customer_renames"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    old_name: Mapped[str] = mapped_column(String(200))
    new_name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class CWCompany(Base):
    """The cache of ConnectWise companies, refreshed by an import."""

    __tablename__ = "cw_companies"
    __table_args__ = (UniqueConstraint("tenant_id", "cw_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    cw_id: Mapped[int] = mapped_column(Integer)
    identifier: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Link(Base):
    """Customer -> ConnectWise company (or not set)."""

    __tablename__ = "links"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    cw_company_id: Mapped[int | None] = mapped_column(Integer)
    cw_identifier: Mapped[str | None] = mapped_column(String(200))
    how: Mapped[str] = mapped_column(String(20))  # identifier, name, manual, unset
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(10))
    basis: Mapped[str] = mapped_column(String(10))
    cw_product: Mapped[str | None] = mapped_column(String(75))  # the product mapping (catalog identifier)


class Price(Base):
    """A product's price, or a customer's override of it (customer_id set)."""

    __tablename__ = "prices"
    __table_args__ = (UniqueConstraint("product_id", "customer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    unit_price: Mapped[Decimal] = mapped_column(ExactDecimal())
    unit_cost: Mapped[Decimal] = mapped_column(ExactDecimal())
    places: Mapped[int] = mapped_column(Integer, default=2)
    tier_mode: Mapped[str] = mapped_column(String(12), default="graduated")
    tiers: Mapped[list[dict[str, str | None]]] = mapped_column(JSON, default=list)  # decimals as text


class BillingConfigurationRow(Base):
    __tablename__ = "billing_configurations"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)  # products, modes, blocks, ranges, rule, ...
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class RuleRow(Base):
    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(12))  # agreement | addition
    text: Mapped[str] = mapped_column(Text)


class Pin(Base):
    """A person's choice of agreement (or addition to adopt) that overrides a rule."""

    __tablename__ = "pins"
    __table_args__ = (UniqueConstraint("configuration_id", "target"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    configuration_id: Mapped[int] = mapped_column(ForeignKey("billing_configurations.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(12))
    cw_id: Mapped[int] = mapped_column(Integer)
    pinned_by: Mapped[str] = mapped_column(String(100))
    pinned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageSampleRow(Base):
    """A measurement from a source. Its identity is (source, customer, product, measured_at): the
    same sample imported again replaces it; a withdrawn sample is kept but no longer counts."""

    __tablename__ = "usage_samples"
    __table_args__ = (
        Index("ix_usage_samples_lookup", "tenant_id", "customer_id", "product_id", "measured_at"),
        UniqueConstraint(
            "tenant_id", "source", "customer_id", "product_id", "measured_at", name="uq_usage_samples_identity"
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    unit: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when this value reached meterbridge
    source: Mapped[str] = mapped_column(String(200))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Run(Base):
    """One preview or push: who or what started it, the plan, the outcome, the calls it made."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    period: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(10))  # preview | push
    trigger: Mapped[str] = mapped_column(String(10))  # manual | schedule
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    checksum: Mapped[str | None] = mapped_column(String(64))
    verdict: Mapped[str | None] = mapped_column(String(10))
    summary: Mapped[dict[str, Any]] = mapped_column(MessageJSON(), default=dict)
    calls: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PlanItem(Base):
    __tablename__ = "plan_items"
    __table_args__ = (UniqueConstraint("run_id", "position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    line_key: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(10))
    customer: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # fields, values, reason, warnings, explanation
    status: Mapped[str | None] = mapped_column(String(20))  # after a push: done, failed, skipped
    error: Mapped[str | None] = mapped_column(MessageText())


class LineIdentity(Base):
    """A ConnectWise addition meterbridge created or adopted, and the line key it bills (guarantee 2).

    One row per addition; a line has several over time (a running line ended and started again
    later), and the plan decides which one a period's line goes on."""

    __tablename__ = "line_identities"
    __table_args__ = (
        UniqueConstraint("tenant_id", "addition_id"),
        Index("ix_line_identities_tenant_id_line_key", "tenant_id", "line_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    line_key: Mapped[str] = mapped_column(String(400))
    agreement_id: Mapped[int] = mapped_column(Integer)
    addition_id: Mapped[int] = mapped_column(Integer)
    adopted: Mapped[bool] = mapped_column(Boolean, default=False)
    last_written: Mapped[datetime] = mapped_column(UTCDateTime())
    last_period: Mapped[str | None] = mapped_column(String(7))  # the latest period pushed onto the addition


class JournalEntry(Base):
    """Write-ahead journal: the intent is committed before the write, the result after it."""

    __tablename__ = "journal"
    __table_args__ = (UniqueConstraint("run_id", "sequence"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    line_key: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(10))
    intent: Mapped[dict[str, Any]] = mapped_column(JSON)
    fencing_token: Mapped[int] = mapped_column(BigInteger)
    intended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    result: Mapped[dict[str, Any] | None] = mapped_column(MessageJSON())
    addition_id: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Lease(Base):
    """One push per tenant at a time; the token only grows, and every journal write checks it."""

    __tablename__ = "leases"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    token: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(MessageJSON(), default=dict)


class User(Base):
    """A person who signs in to the console (or uses the API with a session): argon2 password hash."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Membership(Base):
    """A user's role in one tenant: admin, billing or viewer."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "tenant_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = _tenant()
    role: Mapped[str] = mapped_column(String(10))


class ApiToken(Base):
    """An API token: scoped to one tenant and role, shown once, stored as the SHA-256 of its secret."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(10))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A signed-in user's session (the console's cookie holds its secret; the CSRF token guards forms)."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SignInAttempt(Base):
    """A sign-in attempt not (yet) known to have worked, kept for the throttling window: every
    server process counts the same rows (services/sign_ins.py). ``account`` is the username as
    typed, case-folded (it need not exist); ``address`` the client's address key."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_account_at", "account", "at"),
        Index("ix_sign_in_attempts_address_at", "address", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class IdempotencyRecord(Base):
    """A POST that writes to ConnectWise, by its Idempotency-Key: a retry gets the first answer."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # method, path and body
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(MessageJSON())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScheduleRow(Base):
    """A tenant's schedule: when it runs (``timing``), for which month (``target``), and its state:
    the occurrence it last settled, the run that settled it, failures while it retries."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # auto_billing | monthly | refresh
    timing: Mapped[dict[str, Any]] = mapped_column(JSON)  # at, days, day, missing_day, minute
    target: Mapped[str] = mapped_column(String(10))  # previous | current
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime())  # occurrences after this count
    last_slot: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the occurrence last settled
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(MessageText())
    failures: Mapped[int] = mapped_column(Integer, default=0)  # of the occurrence due now
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notified_checksum: Mapped[str | None] = mapped_column(String(64))  # refresh: the drift already told
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookRow(Base):
    """Where a tenant's run outcomes are POSTed, signed with the (sealed) secret."""

    __tablename__ = "webhooks"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(500))
    secret_sealed: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationRow(Base):
    """One message about a run (an email to the managers, a webhook delivery): what, to whom,
    and how its delivery went (pending until sent, retried with backoff, failed when given up)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(40))  # push.done, push.held, push.failed, refresh.drift, ...
    channel: Mapped[str] = mapped_column(String(10))  # email | webhook
    target: Mapped[str] = mapped_column(String(1000))  # the addresses, or the webhook's URL
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(MessageText())
    body: Mapped[str] = mapped_column(MessageText())  # the email's text, or the webhook's JSON
    status: Mapped[str] = mapped_column(String(10))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(MessageText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UsageSourceRow(Base):
    """A usage source meterbridge pulls from: an HTTP JSON API, its paging, its field mapping and
    when it is pulled; the samples it brings carry its name as their source."""

    __tablename__ = "usage_sources"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(1000))
    auth_header: Mapped[str | None] = mapped_column(String(100))
    auth_sealed: Mapped[str | None] = mapped_column(Text)  # the header's value, encrypted
    options: Mapped[dict[str, Any]] = mapped_column(JSON)  # paging, items path, mapping, since parameter
    every: Mapped[str] = mapped_column(String(10))  # hourly | daily | manual
    at_minute: Mapped[int] = mapped_column(Integer, default=0)  # past the hour (hourly) or of the day (daily)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_slot: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_import_id: Mapped[int | None] = mapped_column(Integer)
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(MessageText())
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageImportRow(Base):
    """One import of usage (a file, an API batch, a pull): what it read, stored and refused."""

    __tablename__ = "usage_imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    source: Mapped[str] = mapped_column(String(200))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("usage_sources.id", ondelete="SET NULL"), index=True)
    origin: Mapped[str] = mapped_column(String(10))  # file | api | pull
    name: Mapped[str | None] = mapped_column(String(1000))  # the file's name or the URL pulled
    mode: Mapped[str] = mapped_column(String(10))  # all | valid
    status: Mapped[str] = mapped_column(String(10))  # running | done | partial | rejected | failed
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)  # rows, added, replaced, unchanged, rejected, pages, ...
    details: Mapped[dict[str, Any]] = mapped_column(MessageJSON())  # unknown customers, renames, removed, late periods
    message: Mapped[str | None] = mapped_column(MessageText())  # why it failed or was rejected


class UsageImportError(Base):
    """A row an import refused: where (row, column), the value, and what to do."""

    __tablename__ = "usage_import_errors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("usage_imports.id", ondelete="CASCADE"), index=True)
    row: Mapped[int | None] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(100))
    value: Mapped[str | None] = mapped_column(MessageString(200))
    message: Mapped[str] = mapped_column(MessageText())
