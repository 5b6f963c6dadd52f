"""POST a signed body to a webhook; anything but a 2xx answer is a failure to retry."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import httpx2


class HookError(Exception):
    """The webhook did not take the delivery (the reason says why); retry later."""


class HookSender:
    def __init__(
        self,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._transport = transport
        self._timeout = timeout
        self._verify = verify
        #: what the network transport is wrapped in (the outbound guard); not a given transport
        self.wrap: Callable[[httpx2.AsyncBaseTransport], httpx2.AsyncBaseTransport] | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """Deliver ``body``; the status it was answered with (2xx), or HookError."""
        try:
            transport = self._transport
            if transport is None and self.wrap is not None:
                transport = self.wrap(httpx2.AsyncHTTPTransport(verify=self._verify))
            async with httpx2.AsyncClient(
                transport=transport, timeout=self._timeout, verify=self._verify, follow_redirects=False
            ) as client:
                answer = await client.post(url, content=body, headers={"Content-Type": "application/json", **headers})
        except (httpx2.HTTPError, httpx2.InvalidURL) as error:  # InvalidURL: nothing sent (an address refused)
            raise HookError(f"{url}: {type(error).__name__}: {error}") from None
        if not 200 <= answer.status_code < 300:
            raise HookError(f"{url} answered {answer.status_code} {answer.reason_phrase}".rstrip())
        return answer.status_code
