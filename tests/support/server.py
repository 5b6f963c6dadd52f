"""Run an ASGI app on a real loopback socket with uvicorn in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Server(uvicorn.Server):
    """uvicorn's server, told it is up and told to stop by events instead of noticing on its
    0.1-second tick, and saying when it no longer listens (the rest of its shutdown, a fixed
    0.1-second grace for open connections, goes on in its thread): a test's server starts and
    stops in milliseconds, not a fifth of a second."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.closed = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await super().startup(sockets)
        self.ready.set()

    async def main_loop(self) -> None:
        assert self._stop is not None
        counter = 0
        while not await self.on_tick(counter):  # on_tick renews the Date header every 10th count
            counter += 10
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.servers:
            listener.close()
        self.closed.set()
        await super().shutdown(sockets)

    def stop(self) -> None:
        self.should_exit = True
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


@contextmanager
def serve(
    app: Any, *, ssl_certfile: str | None = None, ssl_keyfile: str | None = None, lifespan: bool = False
) -> Iterator[str]:
    """Yield ``scheme://127.0.0.1:port`` while uvicorn serves ``app`` there (``lifespan``: run
    the app's start-up and shutdown, as ``meterbridge serve`` does)."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="critical",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        timeout_graceful_shutdown=1,
        lifespan="on" if lifespan else "off",
        proxy_headers=False,  # as meterbridge serve: forwarded headers are the app's to judge
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.ready.wait(timeout=0.05):
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
    scheme = "https" if ssl_certfile else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.stop()
        if lifespan:  # the app's shutdown has run when this returns
            thread.join(timeout=10)
        else:  # nothing listens on the port when this returns
            while not server.closed.wait(timeout=0.05) and thread.is_alive():
                pass
