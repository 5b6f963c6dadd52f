"""Limits that keep one caller from wearing the server down.

Sign-in: an attempt is counted before its password is checked (so a burst of parallel attempts
is counted whole), per username (5 in 15 minutes) and per address (20); a sign-in that works
takes its own attempt back and clears its username's failures, never the address's. At most 4
passwords are checked at once (each argon2 check costs memory and CPU); the table of counts
keeps at most 10,000 keys, the oldest dropped first.

Bodies: a request body over its route's limit is refused (413) before it is read whole: 50 MB
for a CSV upload, 1 MB for anything else (a chunked body is read up to the limit, then refused).
Paths and queries that are not UTF-8, or hold a NUL, are refused (422).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote_to_bytes

from meterbridge.services.context import Clock
from meterbridge.services.errors import RateLimited

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SignInLimiter:
    def __init__(
        self,
        clock: Clock,
        *,
        per_user: int = 5,
        per_address: int = 20,
        window: timedelta = timedelta(minutes=15),
        concurrent: int = 4,
        max_keys: int = 10_000,
    ) -> None:
        self._clock = clock
        self._limits = {"user": per_user, "address": per_address}
        self._window = window
        self._max_keys = max_keys
        self._attempts: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()
        self._checking = threading.BoundedSemaphore(concurrent)

    def _recent(self, key: str) -> deque[datetime]:
        attempts = self._attempts.get(key, deque())
        horizon = self._clock() - self._window
        while attempts and attempts[0] <= horizon:
            attempts.popleft()
        if not attempts:
            self._attempts.pop(key, None)
        return attempts

    def reserve(self, user: str, address: str) -> tuple[str, str, datetime]:
        """Count an attempt for both keys, or refuse it (429) when either is over its limit."""
        keys = (f"user:{user.casefold()}", f"address:{address}")
        with self._lock:
            for key in keys:
                attempts = self._recent(key)
                if len(attempts) >= self._limits[key.partition(":")[0]]:
                    wait = (attempts[0] + self._window - self._clock()).total_seconds()
                    raise RateLimited(
                        "too many sign-in attempts", hint="wait, then try again", retry_after=max(1.0, wait)
                    )
            now = self._clock()
            for key in keys:
                attempts = self._recent(key)
                attempts.append(now)
                self._attempts[key] = attempts
                self._attempts.move_to_end(key)
            while len(self._attempts) > self._max_keys:
                self._attempts.popitem(last=False)
        return keys[0], keys[1], now

    def succeeded(self, reservation: tuple[str, str, datetime]) -> None:
        """A sign-in that worked: its attempt taken back, its username's failures forgotten."""
        user, address, at = reservation
        with self._lock:
            self._attempts.pop(user, None)
            attempts = self._attempts.get(address)
            if attempts and at in attempts:
                attempts.remove(at)

    @contextmanager
    def checking(self) -> Iterator[None]:
        """One of the few password checks allowed at once; the others are asked to come back."""
        if not self._checking.acquire(timeout=5):
            raise RateLimited("the server is busy checking other sign-ins", hint="try again", retry_after=1.0)
        try:
            yield
        finally:
            self._checking.release()

    @property
    def keys(self) -> int:
        return len(self._attempts)


class BodyLimit:
    """ASGI middleware: a body over its route's limit answers 413 before it is read whole."""

    def __init__(self, app: ASGIApp, *, default: int = 1024 * 1024, large: dict[str, int] | None = None) -> None:
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
            await _refuse(send, 413, f"the request body is over {limit // 1024} KiB, this route's limit",
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
                    await _refuse(send, 413, f"the request body is over {limit // 1024} KiB, this route's limit",
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
                await _refuse(send, 413, f"the request body is over {limit // 1024} KiB, this route's limit",
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
