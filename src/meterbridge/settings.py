"""Start-up settings for the CLI (and later the web app): built once from the environment and passed in.

``MBRIDGE_HOME`` (default ``./.meterbridge``) holds the SQLite database and the key file unless
``MBRIDGE_DATABASE_URL`` (e.g. ``postgresql://user@host/db``) and ``MBRIDGE_SECRET_KEY`` /
``MBRIDGE_KEY_FILE`` say otherwise; ``MBRIDGE_ACTOR`` names who the command line acts as (by
default the login name). Nothing here is read at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MBRIDGE_", extra="ignore")

    home: Path = Path(".meterbridge")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    key_file: Path | None = None
    tenant: str = "default"
    actor: str | None = None  # who the CLI acts as in the audit log and run history (default: the login name)
    secure_cookies: bool = True  # the console's session cookie is Secure (browsers accept it on http://localhost)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'meterbridge.db'}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.home / "secret.key"
