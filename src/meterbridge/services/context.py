"""What every use case needs, passed in once: the database, the secret box, a clock and a sleep,
how to reach ConnectWise. Built by ``meterbridge.runtime.build_context`` (or by a test)."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx2

from meterbridge.connectwise.client import ConnectWiseClient
from meterbridge.connectwise.settings import ConnectionSettings
from meterbridge.hooks import HookSender
from meterbridge.mail import Mailer
from meterbridge.outbound import GuardedAsyncTransport, OutboundGuard
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Context:
    db: Database
    box: SecretBox
    clock: Clock
    transport: httpx2.AsyncBaseTransport | None = None  # tests: cwsim through an ASGI transport
    verify: ssl.SSLContext | bool = True
    monotonic: Callable[[], float] = time.monotonic
    sleep: Sleep = asyncio.sleep  # lease waits and renewals: a test's clock can stand in for it
    codebases: dict[tuple[str, str], str] = field(default_factory=dict)
    #: told of every ConnectWise exchange (endpoint, status, seconds): the server's metrics
    observer: Callable[[str, str, float], None] | None = None
    #: what a use case keeps between calls in this process, by its name (e.g. the companies'
    #: suggestion index); always derived from the database, so losing it loses nothing
    memo: dict[str, Any] = field(default_factory=dict)
    memo_lock: threading.Lock = field(default_factory=threading.Lock)
    #: the managers' emails go out through it (None: no mail server set; they are recorded as not sent)
    mailer: Mailer | None = None
    hooks: HookSender = field(default_factory=HookSender)
    public_url: str = "http://127.0.0.1:8080"  # where links in emails and webhooks point
    #: customers a preview or push plans at a time: its memory holds one chunk, not the tenant
    plan_chunk: int = 2000
    #: what every request out (ConnectWise, sources, webhooks) is checked by as it connects
    outbound: OutboundGuard = field(default_factory=OutboundGuard)

    def __post_init__(self) -> None:
        if self.hooks.wrap is None:  # webhooks go through the guard too
            self.hooks.wrap = self.guarded

    def guarded(self, transport: httpx2.AsyncBaseTransport) -> httpx2.AsyncBaseTransport:
        return GuardedAsyncTransport(transport, self.outbound)

    def client(self, settings: ConnectionSettings) -> ConnectWiseClient:
        return ConnectWiseClient(
            settings,
            transport=self.transport,
            wrap=None if self.transport is not None else self.guarded,  # a test's in-process transport connects nowhere
            verify=self.verify,
            clock=self.monotonic,
            sleep=self.sleep,
            codebase_cache=self.codebases,
            observer=self.observer,
        )
