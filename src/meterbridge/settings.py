"""Start-up settings for the CLI (and later the web app): built once from the environment and passed in.

``MBRIDGE_HOME`` (default ``./.meterbridge``) holds the SQLite database and the key file unless
``MBRIDGE_DATABASE_URL`` (e.g. ``postgresql://user@host/db``) and ``MBRIDGE_SECRET_KEY`` /
``MBRIDGE_KEY_FILE`` say otherwise; ``MBRIDGE_ACTOR`` names who the command line acts as (by
default the login name). ``MBRIDGE_SMTP_*`` name the mail server the managers' emails go
through, ``MBRIDGE_PUBLIC_URL`` the address links in them point to; ``MBRIDGE_SCHEDULER`` says
whether ``meterbridge serve`` runs the schedules itself (the embedded default) or leaves them to
``meterbridge worker`` processes. ``MBRIDGE_TRUSTED_PROXIES`` lists the reverse proxies (addresses
or networks, comma separated; none by default) whose ``X-Forwarded-For`` / ``Forwarded`` headers
name the client a sign-in is counted against. Nothing here is read at import time.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import SecretStr, model_validator
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
    smtp_host: str | None = None  # no host: emails are recorded as not sent, with why
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "meterbridge@localhost"
    public_url: str | None = None  # where the console is reached, for links in emails (serve: its own address)
    scheduler: bool = True  # `meterbridge serve` runs due schedules and deliveries in its own process
    tick_seconds: float = 30.0  # how often due schedules and deliveries are looked for
    #: networks meterbridge may call although they are not public (loopback, private), for
    #: development: e.g. ``127.0.0.0/8,::1`` for cwsim and vendorsim; none by default
    outbound_allow: str | None = None
    #: reverse proxies (addresses or networks, comma separated) whose forwarded headers are read
    #: for the client's address (sign-in limits); none by default: the peer's own address counts
    trusted_proxies: str | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.smtp_password is not None and not self.smtp_user:
            raise ValueError("MBRIDGE_SMTP_PASSWORD is set without MBRIDGE_SMTP_USER: set the user it logs in as")
        if not 1 <= self.smtp_port <= 65535:
            raise ValueError(f"MBRIDGE_SMTP_PORT: {self.smtp_port} is not a port (1-65535)")
        if not 1 <= self.tick_seconds <= 3600:
            raise ValueError(f"MBRIDGE_TICK_SECONDS: {self.tick_seconds} is not 1 to 3600 seconds")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ValueError(f"MBRIDGE_PUBLIC_URL: {self.public_url!r} is not an http:// or https:// address")
        _ = self.trusted_proxy_networks  # refused now, at start-up, not at the first sign-in
        return self

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``MBRIDGE_TRUSTED_PROXIES`` as networks (an address is a network of one)."""
        networks = []
        for item in (self.trusted_proxies or "").split(","):
            if not item.strip():
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"MBRIDGE_TRUSTED_PROXIES: {item.strip()!r} is not an address or network"
                    " (e.g. 10.0.0.5 or 10.0.0.0/8)"
                ) from None
        return tuple(networks)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'meterbridge.db'}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.home / "secret.key"
