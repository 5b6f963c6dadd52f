"""Run ``cwsim serve`` in a subprocess on a free loopback port, for the benchmarks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

from meterbridge.outbound import OutboundGuard

#: cwsim runs on loopback, which meterbridge calls only when the operator allows it (docs/security.md):
#: the benches are that development set-up, in process (LOOPBACK) and in the processes they start (ALLOW)
ALLOW = "127.0.0.0/8,::1"
LOOPBACK = OutboundGuard.parse(ALLOW)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def cwsim_server(scenario: Path, *extra: str, timeout: float = 60) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (``http://127.0.0.1:PORT``, the health answer) while cwsim serves ``scenario``."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cwsim", "serve", "--port", str(port), "--scenario", str(scenario), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                health: dict[str, Any] = httpx2.get(f"{base}/_sim/health", timeout=1).json()
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("cwsim did not start") from None
                time.sleep(0.1)  # polling for the server to answer, bounded by the deadline
        yield base, health
    finally:
        server.terminate()
        server.wait(timeout=10)
