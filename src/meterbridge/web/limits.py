"""Limits that keep one caller from wearing the server down.

Sign-in: attempts are counted in the database, per account and client address, before the
password is checked (services/sign_ins.py has the rules, docs/security.md "Sign-in" too); the
client's address is the peer's unless the peer is a trusted proxy (web/forwarded.py). At most 4
passwords are checked at once in a process (each argon2 check costs memory and CPU).

Bodies: a request body over its route's limit is refused (413) before it is read whole (a
chunked body is read up to the limit, then refused): ``UPLOAD`` (256 MiB) for a usage file
(``POST /usage/csv``, the console's upload form, spooled to a temporary file), ``BATCH`` (32 MiB)
for a batch of at most ``BATCH_SAMPLES`` (100,000) samples (``POST /usage``: 100,000 realistic
samples are 12 to 23 MB of JSON), ``BODY`` (1 MiB) for anything else. docs/api.md and
docs/usage.md give these numbers.
Paths and queries that are not UTF-8, or hold a NUL, are refused (422).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request

from meterbridge.services import accounts, sign_ins
from meterbridge.services.context import Context
from meterbridge.services.errors import RateLimited
from meterbridge.services.views import SessionView
from meterbridge.web.forwarded import Network, client_address

MIB = 1024 * 1024
BODY = 1 * MIB  # a request body, unless its route takes more
BATCH = 32 * MIB  # POST /usage: a JSON batch of up to BATCH_SAMPLES samples
BATCH_SAMPLES = 100_000
UPLOAD = 256 * MIB  # a usage file: POST /usage/csv, and the console's upload form (plus its other fields)
FORM = 64 * 1024  # room for a form's other fields around an uploaded file

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SignInLimiter:
    """Sign-ins through the limits: attempts counted in the database by services/sign_ins.py
    (shared by every server process), the client's address from web/forwarded.py, and at most
    ``concurrent`` password checks at once in this process."""

    def __init__(
        self,
        ctx: Context,
        *,
        proxies: Sequence[Network] = (),
        limits: sign_ins.Limits | None = None,
        concurrent: int = 4,
    ) -> None:
        self._ctx = ctx
        self.proxies = tuple(proxies)
        self.limits = limits or sign_ins.Limits()
        self._checking = threading.BoundedSemaphore(concurrent)

    def address(self, request: Request) -> str:
        return client_address(request, self.proxies)

    def sign_in(self, request: Request, username: str, password: str) -> tuple[str, SessionView]:
        """Count the attempt (or refuse it, 429), check the password (401), take the attempt back if it worked."""
        attempt = sign_ins.reserve(self._ctx, username, self.address(request), self.limits)
        if not self._checking.acquire(timeout=5):
            sign_ins.withdraw(self._ctx, attempt)  # never checked: it does not count
            raise RateLimited("the server is busy checking other sign-ins", hint="try again", retry_after=1.0)
        try:
            secret, view = accounts.sign_in(self._ctx, username, password)
        finally:
            self._checking.release()
        sign_ins.succeeded(self._ctx, attempt)
        return secret, view

    @property
    def keys(self) -> int:
        """How many accounts and addresses have attempts kept (in the database, for every process)."""
        return sign_ins.tracked(self._ctx)


class BodyLimit:
    """ASGI middleware: a body over its route's limit answers 413 before it is read whole."""

    def __init__(self, app: ASGIApp, *, default: int = BODY, large: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.large = large or {}

    def _limit(self, path: str) -> int:
        return next((size for suffix, size in self.large.items() if path.endswith(suffix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, 413, f"the request body is over {_size(limit)}, this route's limit",
                          "body", "send it in smaller parts")  # fmt: skip
            return
        if declared is None:
            # a chunked body: read up to the limit first, then hand it on as it came
            messages: list[Message] = []
            seen = 0
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    break
                seen += len(message.get("body", b""))
                if seen > limit:
                    await _refuse(send, 413, f"the request body is over {_size(limit)}, this route's limit",
                                  "body", "send it in smaller parts")  # fmt: skip
                    return
                if not message.get("more_body", False):
                    break
            replay = iter(messages)

            async def replayed() -> Message:
                return next(replay, None) or await receive()

            await self.app(scope, replayed, send)
            return
        seen = 0
        answered = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal answered
            answered = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except _TooLarge:
            if not answered:
                await _refuse(send, 413, f"the request body is over {_size(limit)}, this route's limit",
                              "body", "send it in smaller parts")  # fmt: skip


class TextGuard:
    """ASGI middleware: a path or query that is not UTF-8, or holds a NUL, answers 422 before any
    route sees it (it could only be stored as U+FFFD, or not at all)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for field, raw in (("path", scope.get("raw_path") or b""), ("query", scope.get("query_string") or b"")):
                try:
                    text = unquote_to_bytes(raw).decode("utf-8")
                except UnicodeDecodeError:
                    await _refuse(send, 422, f"{field}: not UTF-8 once its %-escapes are read", field,
                                  "escape each character as its UTF-8 bytes")  # fmt: skip
                    return
                if "\x00" in text:
                    await _refuse(send, 422, f"{field}: holds a NUL character (%00)", field, "leave it out")
                    return
        await self.app(scope, receive, send)


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB ({limit:,} bytes)" if limit % MIB == 0 else f"{limit:,} bytes"


class _TooLarge(Exception):
    pass


async def _refuse(send: Send, status: int, message: str, field: str, hint: str) -> None:
    body = json.dumps(
        {
            "kind": "invalid_input",
            "message": message,
            "field": field,
            "row": None,
            "position": None,
            "hint": hint,
            "action": None,
            "params": {},
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
