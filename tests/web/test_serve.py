"""``meterbridge serve`` as a user starts it: a process on loopback with the REST API, its
OpenAPI document, health, and a token made with ``meterbridge tokens create``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from tests.support.server import free_port

pytestmark = pytest.mark.slow


def meterbridge(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "meterbridge", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_serve_answers_over_http_with_a_token_from_the_cli(tmp_path: Path, database_url: str) -> None:
    env = {**os.environ, "MBRIDGE_HOME": str(tmp_path / "home"), "MBRIDGE_DATABASE_URL": database_url}
    meterbridge(env, "init")
    token = json.loads(meterbridge(env, "--json", "tokens", "create", "probe", "--role", "viewer"))["token"]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "meterbridge", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "meterbridge serve did not start"
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx2.get(f"{base}/api/v1/tenants/default/customers", headers=headers).json() == []
        assert httpx2.get(f"{base}/api/v1/tenants/default/customers").status_code == 401
        spec = httpx2.get(f"{base}/openapi.json").json()
        assert spec["info"]["title"] == "meterbridge" and "/api/v1/tenants/{tenant}/pushes" in spec["paths"]
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=15)
    assert f"meterbridge on http://127.0.0.1:{port}: the console at /console" in " ".join(output.split())
    # mb_ID_RANDOM: the random part may hold "_" itself (its last piece alone could be one letter)
    assert token.split("_", 2)[2] not in output, "the token is never logged"
