"""No secret in anything the command line prints: with a ConnectWise private key, a pull source
whose vendor echoes its auth value (in its error answer and inside the rows it sends) and a
webhook's signing secret set, every command that lists, shows or tests something, plain and
``--json``, and the commands of a month (preview, push, doctor, leaks, pull, errors report, sending
the notifications), print none of them, whole, as a token or in base64."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from tests.support.cli_world import Cli, company_scenario, make_cli, meterbridge_command
from tests.support.contract import ContractLog
from tests.support.server import serve

from meterbridge.cli import Injected

CW_KEY = "simpriv"  # what cwsim accepts as the private key (set_up sets it)
SOURCE_TOKEN = "vendor-token-cli-never-shown-77d1"
HOOK_SECRET = "hook-secret-cli-never-shown-3e9a"
READ_VERBS = {"list", "show", "test", "imports"}


@pytest.fixture
def cli(database_url: str, contract_log: ContractLog, tmp_path: Path) -> Iterator[Cli]:
    yield from make_cli(database_url, contract_log, tmp_path, company_scenario(3))


def _read_commands() -> list[list[str]]:
    """Every command of the tree whose verb lists, shows or tests, as the user types it."""
    root = meterbridge_command()
    ctx = click.Context(root)
    found: list[list[str]] = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group) or hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):  # type: ignore[attr-defined]
                walk(command.get_command(ctx, name), [*path, name])  # type: ignore[attr-defined]
        elif path and path[-1] in READ_VERBS:
            found.append(path)

    walk(root, [])
    return found


def _forms(secret: str) -> tuple[str, str]:
    return secret, base64.b64encode(secret.encode()).decode().rstrip("=")


def test_no_secret_in_any_output_of_the_command_line(cli: Cli) -> None:
    cli.set_up("C1", "C2", "C3")

    async def vendor(request: Request) -> PlainTextResponse | JSONResponse:
        sent = request.headers.get("authorization", "")
        if request.query_params.get("fail"):
            return PlainTextResponse(f"denied: you sent {sent} ({base64.b64encode(sent.encode()).decode()})", 401)
        if request.query_params.get("page", "1") != "1":
            return JSONResponse({"data": []})
        row = {"account": "C1", "metric": "storage", "unit": "GB", "measured_at": "2026-10-05T00:00:00Z"}
        return JSONResponse({"data": [{**row, "value": sent}, {**row, "value": "12"}]})

    async def hook(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"refused {request.headers.get('authorization')}", 500)

    mapping = ["customer=account", "product=metric", "measured_at=measured_at", "quantity=value", "unit=unit"]
    outputs: dict[str, str] = {}

    def run(*args: str, code: int | None = None) -> None:
        for json_flag in ((), ("--json",)):
            result = cli.runner.invoke(
                meterbridge_command(), [*json_flag, *args], env=cli.env, obj=cli_obj(cli)
            )  # any exit: a refusal prints too
            assert "Traceback" not in result.output, result.output
            if code is not None:
                assert result.exit_code == code, f"{args}: {result.exit_code}\n{result.output}"
            outputs[" ".join((*json_flag, *args))] = result.output

    with serve(Starlette(routes=[Route("/v1/usage", vendor), Route("/hook", hook, methods=["POST"])])) as url:
        for name, query in (("vendor", ""), ("failing", "?fail=1")):
            cli(
                "sources", "set", name, "--url", f"{url}/v1/usage{query}", *(a for m in mapping for a in ("--map", m)),
                "--auth-header", "Authorization", "--auth-value", f"Bearer {SOURCE_TOKEN}",
                "--translate", "product:storage=storage",
            )  # fmt: skip
        cli("webhooks", "add", "books", f"{url}/hook", "--secret", HOOK_SECRET)
        run("sources", "pull", "vendor")
        run("sources", "pull", "failing")
        imported = json.loads(cli("--json", "usage", "imports"))
        assert any(i["rejected"] for i in imported), imported  # the row that carried the token was refused
        for found in imported:
            run("usage", "errors", str(found["id"]))
            report = cli.tmp / f"errors-{found['id']}.csv"
            cli("usage", "errors", str(found["id"]), "--output", str(report))
            outputs[f"report {found['id']}"] = report.read_text()
        run("preview", "--period", "2026-10")
        run("push", "--period", "2026-10", "--force")
        run("notifications", "send")
        run("doctor")
        run("leaks", "--period", "2026-10")
        runs = json.loads(cli("--json", "runs", "list"))
        run("runs", "show", str(runs[0]["id"]))
        run("sources", "show", "vendor")
        run("sources", "show", "failing")
        commands = _read_commands()
        assert len(commands) >= 15, commands
        for command in commands:
            run(*command)

    for secret in (CW_KEY, SOURCE_TOKEN, f"Bearer {SOURCE_TOKEN}", HOOK_SECRET):
        for form in _forms(secret):
            leaked = [command for command, text in outputs.items() if form in text]
            assert not leaked, f"{secret!r} printed by: {leaked}"
    assert any("[redacted]" in text for text in outputs.values()), "the echoes reached the outputs, masked"


def cli_obj(cli: Cli) -> Injected:
    return Injected(cli.clock)
