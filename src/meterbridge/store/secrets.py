"""ConnectWise private keys encrypted at rest (Fernet), with the key from settings or a key file.

The key file is created once with mode 0600 next to the database (or where settings say); a key
file anyone else can read is refused, since it unlocks every stored private key.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


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
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretKeyError(
                "a stored private key cannot be decrypted with this encryption key: it was sealed with another "
                "one; restore the original key (settings or key file) or set the connection's keys again"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"
