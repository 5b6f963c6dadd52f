"""The composition root: settings in, a Context out; and the one place failures below the
services (the database, the key, ConnectWise) become service errors a front-end can show.

The CLI, ``meterbridge serve`` and the workers all start here::

    ctx = build_context(Settings())

Tests build their own Context (a fake clock, cwsim through an ASGI transport) or pass those
in here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx2
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from meterbridge.connectwise.errors import ConnectWiseError
from meterbridge.mail import Mailer, SmtpMailer, SmtpSettings
from meterbridge.outbound import OutboundGuard
from meterbridge.redaction import KNOWN
from meterbridge.services.context import Clock, Context, Sleep
from meterbridge.services.errors import ConnectWiseFailed, InvalidInput, SecretsFailed, ServiceError, StorageFailed
from meterbridge.settings import Settings
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox, SecretKeyError, sealed_secrets


def system_clock() -> datetime:
    return datetime.now(UTC)


def build_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    sleep: Sleep | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    upgrade: bool = True,
) -> Context:
    """Open the database (migrated to the newest schema unless ``upgrade`` is off) and the key
    that seals ConnectWise private keys, pull sources' auth values and webhook secrets (the key
    file created once, mode 0600, when no key is given and nothing is sealed yet; the data
    directory 0700 and a new SQLite file 0600)."""
    try:
        if settings.database_url is None or settings.key_file is None:
            settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        try:
            if upgrade and db.current_revision() != db.head_revision():
                db.upgrade()
            key = settings.secret_key
            box = (
                SecretBox(key.get_secret_value().encode("ascii"))
                if key is not None
                else SecretBox.from_key_file(_existing_key_file(settings, db))
            )
        except BaseException:
            db.dispose()
            raise
    except ImportError as error:  # a URL for a database whose driver meterbridge does not ship
        raise StorageFailed(
            f"database {database_label(settings)}: {error}",
            hint="meterbridge stores its data in SQLite (sqlite:///PATH) or PostgreSQL (postgresql://USER@HOST/DB)",
            field="MBRIDGE_DATABASE_URL",
        ) from None
    except BaseException as error:
        failure = as_service_error(error, settings)
        if failure is None:
            raise
        raise failure from None
    try:
        outbound = OutboundGuard.parse(settings.outbound_allow)
    except ValueError as error:
        raise InvalidInput(str(error), field="MBRIDGE_OUTBOUND_ALLOW") from None
    context = Context(
        outbound=outbound,
        db=db,
        box=box,
        clock=clock or system_clock,
        transport=transport,
        mailer=mailer_of(settings),
        public_url=(settings.public_url or "http://127.0.0.1:8080").rstrip("/"),
    )
    if sleep is not None:
        context.sleep = sleep
    return context


def _existing_key_file(settings: Settings, db: Database) -> Path:
    """The key file, refused when it is missing but the database holds secrets sealed with it: a
    new key (what a fresh install gets) would leave every one of them unreadable."""
    path = settings.resolved_key_file
    if path.exists():
        return path
    sealed = sealed_secrets(db)
    if sealed:
        raise SecretsFailed(
            f"the key file {path} is missing, but the database holds secrets sealed with its key "
            f"({', '.join(sealed)}); no new key was made",
            hint=f"restore {path} from a backup (mode 0600), or set MBRIDGE_SECRET_KEY to that key",
            field="MBRIDGE_KEY_FILE",
        )
    return path


def mailer_of(settings: Settings) -> Mailer | None:
    """The mail server the settings name (None: none is set)."""
    if not settings.smtp_host:
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    KNOWN.remember(password)  # a mail server's answer that echoes it is scrubbed like any secret
    return SmtpMailer(
        SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            user=settings.smtp_user,
            password=password,
            sender=settings.mail_from,
        )
    )


def database_label(settings: Settings) -> str:
    """The database URL without its password, for messages."""
    try:
        return make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unreadable database URL)"


#: Failures of the layers below the services that ``as_service_error`` turns into service errors
#: (a front-end registers its handler for each, without importing those layers itself).
BELOW_SERVICES: tuple[type[Exception], ...] = (ConnectWiseError, SecretKeyError, SQLAlchemyError, OSError)


def as_service_error(error: BaseException, settings: Settings) -> ServiceError | None:
    """A failure below the services as the error a user can act on; None for anything else."""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, SecretKeyError):
        return SecretsFailed(str(error), field="secret_key")
    if isinstance(error, ConnectWiseError):
        return ConnectWiseFailed(f"ConnectWise: {error}")
    if isinstance(error, OSError):
        return StorageFailed(
            f"{error.filename or 'the data directory'}: {error.strerror or error}",
            hint="check that the data directory (MBRIDGE_HOME) exists and can be written",
        )
    if isinstance(error, SQLAlchemyError):
        first = str(error).splitlines()[0] if str(error) else ""
        return StorageFailed(
            f"database {database_label(settings)}: {type(error).__name__}: {first}",
            hint="check that the database is reachable and the settings name it (MBRIDGE_DATABASE_URL)",
        )
    return None
