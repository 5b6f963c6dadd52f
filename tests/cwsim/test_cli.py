"""cwsim's command line, run as a user would: in a subprocess, over real sockets."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from tests.conftest import CW_HEADERS
from tests.support.server import free_port

CWSIM = [sys.executable, "-m", "cwsim"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CWSIM, *args], capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def cwsim_serve(*args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = subprocess.Popen(
        [*CWSIM, "serve", "--port", str(port), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_until_up(url: str, verify: ssl.SSLContext | bool = True) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx2.get(url, verify=verify, timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"cwsim did not answer at {url}")


def test_help_lists_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "serve" in result.stdout
    assert "generate" in result.stdout


def test_generate_to_stdout_and_file_is_reproducible(tmp_path: Path) -> None:
    first = run("generate", "--companies", "7", "--seed", "3", "--as-of", "2026-11-02")
    second = run("generate", "--companies", "7", "--seed", "3", "--as-of", "2026-11-02")
    assert first.returncode == 0
    assert first.stdout == second.stdout
    document = json.loads(first.stdout)
    assert len(document["companies"]) == 7
    out = tmp_path / "demo.yaml"
    assert (
        run("generate", "--companies", "7", "--seed", "3", "--as-of", "2026-11-02", "--out", str(out)).returncode == 0
    )
    assert "companies:" in out.read_text()


def test_generate_refuses_bad_input() -> None:
    bad_date = run("generate", "--as-of", "November")
    assert bad_date.returncode == 2
    assert "--as-of must be YYYY-MM-DD" in bad_date.stderr
    negative = run("generate", "--companies", "-1")
    assert negative.returncode == 2


def test_serve_refuses_a_bad_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("companies:\n  - {name: no identifier}\n")
    result = run("serve", "--port", str(free_port()), "--scenario", str(scenario))
    assert result.returncode == 2
    assert "companies[0]" in result.stderr
    assert "identifier" in result.stderr


def _start_up_output(*args: str) -> str:
    """Everything cwsim prints from its start until it answers, and a request later."""
    with cwsim_serve("--log-level", "info", *args) as (process, port):
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/_sim/health")
        httpx2.get(f"{base}/v4_6_release/apis/3.0/system/info", headers=CW_HEADERS)  # an authenticated request
        process.terminate()
        output, _ = process.communicate(timeout=10)
    return output


def test_serve_logs_no_private_key(tmp_path: Path) -> None:
    default = _start_up_output()
    assert "members (public keys) simpub, private keys not shown" in default, default
    assert "simpriv" not in default
    scenario = tmp_path / "members.yaml"
    scenario.write_text(
        "members:\n  - {publicKey: billing, privateKey: Pr1vate-K3y-0f-billing, identifier: Billing}\n"
        "  - {publicKey: reports, privateKey: Pr1vate-K3y-0f-reports, readOnly: true}\n"
    )
    served = _start_up_output("--scenario", str(scenario))
    assert "members (public keys) billing, reports" in served, served
    assert "Pr1vate-K3y" not in served
    broken = tmp_path / "broken.yaml"
    broken.write_text("members:\n  - {publicKey: billing, privateKey: Pr1vate-K3y-0f-billing\n")
    refused = run("serve", "--port", str(free_port()), "--scenario", str(broken))
    assert refused.returncode == 2 and "not valid YAML or JSON" in refused.stderr and "line 3" in refused.stderr
    assert "Pr1vate-K3y" not in refused.stderr + refused.stdout


def test_serve_with_scenario_over_plain_http(tmp_path: Path) -> None:
    scenario = tmp_path / "s.json"
    assert run("generate", "--companies", "12", "--out", str(scenario), "--as-of", "2026-11-02").returncode == 0
    with cwsim_serve("--scenario", str(scenario)) as (_, port):
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/_sim/health")
        response = httpx2.get(f"{base}/v4_6_release/apis/3.0/company/companies/count", headers=CW_HEADERS)
        assert response.json() == {"count": 12}


def test_serve_tls_writes_a_certificate_clients_can_trust(tmp_path: Path) -> None:
    cert = tmp_path / "cwsim-cert.pem"
    with cwsim_serve("--tls", "--cert-file", str(cert)) as (_, port):
        base = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while not cert.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        trusting = ssl.create_default_context(cafile=str(cert))
        wait_until_up(f"{base}/_sim/health", verify=trusting)
        for host in ("127.0.0.1", "localhost"):
            response = httpx2.get(f"https://{host}:{port}/login/companyinfo/sim", verify=trusting)
            assert response.json()["CompanyID"] == "sim", host
        with pytest.raises(httpx2.ConnectError):  # an untrusting client refuses it
            httpx2.get(f"{base}/_sim/health", verify=True)
        with pytest.raises(httpx2.RemoteProtocolError):  # and plain HTTP is not served
            httpx2.get(f"http://127.0.0.1:{port}/_sim/health")


@pytest.mark.slow
def test_readme_demo_command_runs_a_real_push(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    port = free_port()
    process = subprocess.Popen(
        [str(root / "scripts" / "demo")],
        cwd=root,
        env={**os.environ, "CWSIM_PORT": str(port), "DEMO_DIR": str(tmp_path / "demo"), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 240
        for line in process.stdout:
            lines.append(line)
            if "keeps serving on" in line or time.monotonic() > deadline:
                break
        output = "".join(lines)
        assert "keeps serving on" in output, output
        assert "exit code 4" in output, output
        additions = httpx2.get(
            f"http://127.0.0.1:{port}/v4_6_release/apis/3.0/finance/agreements/1/additions",
            auth=("sim+simpub", "simpriv"),
            headers={"clientId": "demo"},
        )
        assert additions.status_code == 200
        assert {a["product"]["identifier"] for a in additions.json()} >= {"BACKUP-STORAGE-GB", "BACKUP-SERVER"}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=20)
    assert "push partial" in output and "sim+simpub:simpriv" in output
