"""cwsim's command line: ``cwsim serve`` and ``cwsim generate`` (also ``python -m cwsim``)."""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from cwsim.app import create_app
from cwsim.faults import FaultRule
from cwsim.generate import generate as generate_scenario
from cwsim.scenario import ScenarioError, dump_scenario, load_scenario, read_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from cwsim.tls import write_self_signed

cli = typer.Typer(
    name="cwsim",
    help="cwsim: a local ConnectWise Manage simulator (REST API 3.0 at /{codebase}/apis/3.0/...).",
    no_args_is_help=True,
    add_completion=False,
)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (keep it on loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8090,
    scenario: Annotated[Path | None, typer.Option(help="A YAML or JSON scenario to load at start.")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Serve HTTPS with a generated self-signed certificate.")] = False,
    cert_file: Annotated[Path, typer.Option(help="Where --tls writes the certificate (PEM).")] = Path("cwsim-cert.pem"),
    seed: Annotated[int, typer.Option(help="Seed for latency and fault draws.")] = 0,
    rate_limit: Annotated[int, typer.Option(help="Requests a minute per API member (0: no limit).")] = 1000,
    latency_ms: Annotated[float, typer.Option(help="Latency added to every ConnectWise request.")] = 0.0,
    error_ratio: Annotated[float, typer.Option(help="Share of ConnectWise requests answered with a 500.")] = 0.0,
    no_client_id: Annotated[
        bool, typer.Option("--no-client-id-required", help="Accept requests without a clientId header.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve the ConnectWise Manage REST API (company id ``sim``, keys simpub / simpriv by default).
    The start-up lines name the members by public key; private keys are never printed."""
    settings = SimSettings(rate_limit_per_minute=rate_limit, require_client_id=not no_client_id)
    sim = Simulator.create(settings, seed=seed)
    if scenario is not None:
        try:
            load_scenario(sim, read_scenario(scenario))
        except (ScenarioError, OSError) as error:
            typer.echo(f"cwsim: cannot load scenario {scenario}: {error}", err=True)
            raise typer.Exit(2) from None
    if latency_ms or error_ratio:
        sim.faults.rules.append(FaultRule(latency_ms=latency_ms, error_ratio=error_ratio))
    scheme = "https" if tls else "http"
    ssl: dict[str, str] = {}
    if tls:
        key_dir = Path(tempfile.mkdtemp(prefix="cwsim-tls-"))
        pair = write_self_signed(cert_file.resolve(), key_dir / "key.pem", datetime.now(UTC))
        ssl = {"ssl_certfile": str(pair.cert_file), "ssl_keyfile": str(pair.key_file)}
        typer.echo(f"cwsim: certificate written to {pair.cert_file} (point your CA bundle at it)")
    settings_now = sim.state.settings
    base = f"{scheme}://{host}:{port}/{settings_now.codebases[0]}apis/3.0"
    members = ", ".join(member.public_key for member in sim.state.members)
    typer.echo(  # public keys only: a private key is never logged (the default member's is in docs/cwsim.md)
        f"cwsim: serving ConnectWise Manage at {base}\n"
        f"cwsim: company id {settings_now.company_id}, members (public keys) {members}, private keys not shown; "
        f"admin API at {scheme}://{host}:{port}/_sim/"
    )
    uvicorn.run(create_app(sim), host=host, port=port, log_level=log_level, **ssl)  # type: ignore[arg-type]


@cli.command()
def generate(
    companies: Annotated[int, typer.Option(help="How many client companies.")] = 50,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same scenario.")] = 1,
    as_of: Annotated[str | None, typer.Option(help="The day the data describes (YYYY-MM-DD); default today.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here (.yaml or .json) instead of stdout.")] = None,
) -> None:
    """Generate a reproducible scenario of an MSP's ConnectWise (agreements, catalog, additions)."""
    try:
        day = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    except ValueError:
        typer.echo(f"cwsim: --as-of must be YYYY-MM-DD, not {as_of!r}", err=True)
        raise typer.Exit(2) from None
    if companies < 0:
        typer.echo("cwsim: --companies must be zero or more", err=True)
        raise typer.Exit(2)
    document = generate_scenario(companies, seed, day)
    if out is None:
        json.dump(document, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        dump_scenario(document, out)
        typer.echo(f"cwsim: wrote {companies} companies to {out}", err=True)


def main() -> None:
    cli()
