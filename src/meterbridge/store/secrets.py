"""ConnectWise private keys encrypted at rest (Fernet), with the key from settings or a key file.

The key file is created once with mode 0600 next to the database (or where settings say); a key
file anyone else can read is refused, since it unlocks every stored private key. A key file that
is missing while the database holds secrets sealed with it is not made anew (``sealed_secrets``
says what they are; the composition root refuses to start): a new key would leave each of them
unreadable without a word.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import inspect, select

from meterbridge.redaction import KNOWN
from meterbridge.store.database import Database
from meterbridge.store.models import Connection, UsageSourceRow, WebhookRow

#: Every column holding a secret sealed with the key, and what it is (for a message).
SEALED = (
    (Connection.__tablename__, Connection.private_key_sealed, "a ConnectWise connection's private key"),
    (UsageSourceRow.__tablename__, UsageSourceRow.auth_sealed, "a pull source's auth value"),
    (WebhookRow.__tablename__, WebhookRow.secret_sealed, "a webhook's signing secret"),
)


class SecretKeyError(RuntimeError):
    """The encryption key is missing, unreadable, too exposed, or not the one the data was sealed with."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise SecretKeyError("the encryption key is not a Fernet key (32 url-safe base64 bytes)") from None

    @classmethod
    def from_key_file(cls, path: Path, *, create: bool = True) -> SecretBox:
        if not path.exists():
            if not create:
                raise SecretKeyError(f"no encryption key file at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(Fernet.generate_key())
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SecretKeyError(f"the key file {path} can be read by others (mode {mode:o}); run: chmod 600 {path}")
        return cls(path.read_bytes().strip())

    def seal(self, secret: str) -> str:
        KNOWN.remember(secret)  # from now on scrubbed out of every error stored or shown
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            secret = self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretKeyError(
                "a stored private key cannot be decrypted with this encryption key: it was sealed with another "
                "one; restore the original key (settings or key file) or set the connection's keys again"
            ) from None
        KNOWN.remember(secret)
        return secret

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"


def sealed_secrets(db: Database) -> list[str]:
    """What the database holds sealed with the key, one of each kind (empty: nothing, or no
    schema yet)."""
    with db.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        return [
            label
            for table, column, label in SEALED
            if table in tables
            and connection.execute(select(column).where(column.is_not(None)).limit(1)).first() is not None
        ]
