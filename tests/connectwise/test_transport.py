"""The client's transport over real loopback sockets: connections are kept and reused while the
server keeps them open, and one the server closed while it was idle is dropped, never written to
(the readability check the pool relies on, answered by meterbridge's network backend)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest

from meterbridge.connectwise.transport import Backend, is_readable, pooled_transport

pytestmark = pytest.mark.anyio
LIMITS = httpx2.Limits(max_connections=4, max_keepalive_connections=4)


@asynccontextmanager
async def server(*, close_after_response: bool) -> AsyncIterator[tuple[str, list[int]]]:
    """An HTTP/1.1 server on 127.0.0.1 answering ``ok`` with keep-alive; it counts the connections
    it accepts and, when told, closes each connection right after its first response."""
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
                await writer.drain()
                if close_after_response:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield f"http://127.0.0.1:{port}/", accepted


async def test_an_idle_connection_the_server_closed_is_dropped_and_a_new_one_made() -> None:
    async with (
        server(close_after_response=True) as (url, accepted),
        httpx2.AsyncClient(transport=pooled_transport(LIMITS, True)) as http,
    ):
        for _ in range(3):
            response = await http.get(url)
            assert response.text == "ok"
            await asyncio.sleep(0.05)  # the server's FIN reaches the idle connection
    assert len(accepted) == 3  # each request on a fresh connection, none on a closed one


async def test_connections_the_server_keeps_open_are_reused() -> None:
    async with server(close_after_response=False) as (url, accepted):
        transport = pooled_transport(LIMITS, True)
        assert isinstance(transport._pool._network_backend, Backend)  # httpx2 kept the pool we gave it
        async with httpx2.AsyncClient(transport=transport) as http:
            for _ in range(5):
                assert (await http.get(url)).text == "ok"
                await asyncio.sleep(0.01)
    assert len(accepted) == 1


def test_a_socket_is_readable_when_data_or_its_peer_s_close_is_waiting() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        assert not is_readable(ours)
        peer.send(b"x")
        assert is_readable(ours)
        ours.recv(1)
        assert not is_readable(ours)
        peer.close()
        assert is_readable(ours)  # the b"" of a closed peer
    assert is_readable(None)
    assert is_readable(ours)  # closed: no file descriptor, counted as readable so it is dropped
