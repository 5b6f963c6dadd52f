"""The HTTP transport the client makes its calls over: httpx2's own, on a network backend that
asks an idle connection's socket whether the server closed it without building anyio's whole
attribute table each time.

Before it sends a request, the connection pool asks every idle connection whether the server
has closed it (a readable idle socket means it did). httpcore2 answers through anyio's typed
attributes, which build a table of every attribute of the socket (its peer address among them,
a system call) on each question: 16 connections asked about 15 times a request came to 12% of a
push's CPU (bench/scale_bench.py, profiled). This backend keeps each connection's socket from
the moment it connects and asks the operating system directly (a zero-timeout poll, as
httpcore2 does); everything else is anyio's backend, unchanged.
"""

from __future__ import annotations

import functools
import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2


def is_readable(sock: socket.socket | None) -> bool:
    """Whether reading the socket would return at once (data, or the b"" of a closed peer); a
    socket that is gone counts as readable, so that its connection is dropped."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # Windows: select, as httpcore2 does there
        readable, _, _ = select.select([fd], [], [], 0)
        return bool(readable)
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class _Stream(httpcore2.AsyncNetworkStream):
    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return is_readable(self._socket)
        return self._inner.get_extra_info(info)


class Backend(httpcore2.AsyncNetworkBackend):
    """anyio's network backend, its streams answering ``is_readable`` from the socket they keep."""

    def __init__(self) -> None:
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _system_trust() -> ssl.SSLContext:
    """The default context (verify against the CA bundle), made once a process: loading the
    bundle costs about 25 ms, and every preview and push makes a client. A context is safe to
    share between connections and threads."""
    return httpx2.create_ssl_context(verify=True)


def pooled_transport(limits: httpx2.Limits, verify: ssl.SSLContext | bool) -> httpx2.AsyncHTTPTransport:
    """httpx2's transport with ``limits`` and ``verify``, its pool on ``Backend``.

    httpx2 builds its pool itself and takes no network backend, so the transport's pool is
    replaced by one made with the same settings and this backend (a test checks it is in use).
    An argument given to ``AsyncHTTPTransport`` here must be given to the pool below too."""
    # made once: a context given is used as it is
    context = _system_trust() if verify is True else httpx2.create_ssl_context(verify=verify)
    transport = httpx2.AsyncHTTPTransport(limits=limits, verify=context)
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=Backend(),
    )
    return transport
