"""vendorsim's command line: the options build the simulator; ``python -m vendorsim serve`` serves it."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx2
import pytest
from tests.support.server import free_port

from vendorsim.cli import build, main, parser


def test_serve_options_build_the_simulator() -> None:
    args = parser().parse_args(["serve", "--token", "T", "--accounts", "3", "--month", "2026-09", "--days", "2"])
    sim = build(args)
    assert sim.token == "T" and len(sim.accounts) == 3 and len(sim.samples) == 3 * 2 * 2
    assert {s.measured_at.day for s in sim.samples} == {29, 30}
    assert (args.host, args.port) == ("127.0.0.1", 8090)
    devices = build(parser().parse_args(["serve", "--accounts", "1", "--metrics", "devices, storage"]))
    assert {s.metric for s in devices.samples} == {"devices", "storage"}
    assert build(parser().parse_args(["serve"])).samples == []


def test_a_bad_dataset_option_exits_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--month", "2026-13"]) == 2
    assert "month" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--port", "many"])


def test_python_m_vendorsim_serve_answers_over_http() -> None:
    port = free_port()
    command = [sys.executable, "-m", "vendorsim", "serve", "--port", str(port), "--token", "T", "--accounts", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx2.get(f"{base}/_sim/health", timeout=1).json() == {"ok": True}:
                    break
            except httpx2.TransportError:
                pass
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "vendorsim did not start"
            time.sleep(0.1)
        assert httpx2.get(f"{base}/v1/usage", headers={"Authorization": "Bearer T"}).json()["total"] == 4
        assert httpx2.get(f"{base}/v1/usage", headers={"Authorization": "Bearer vendor-token"}).status_code == 401
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert f"4 samples at {base}/v1/usage" in output
