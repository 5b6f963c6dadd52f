"""vendorsim's command line: ``python -m vendorsim serve [options]`` runs the API with uvicorn."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from vendorsim.app import create_app
from vendorsim.sim import VendorSim, generate


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="vendorsim", description="A simulated backup vendor usage API.")
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve GET /v1/usage and the admin API under /_sim/")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8090, help="TCP port (default 8090)")
    serve.add_argument("--token", default="vendor-token", help="the API's bearer token (default vendor-token)")
    serve.add_argument("--accounts", type=int, default=0, help="generated accounts (default 0: empty)")
    serve.add_argument("--month", default="2026-10", help="the month the samples fall in, YYYY-MM")
    serve.add_argument("--days", type=int, default=1, help="samples a day for the month's last N days")
    serve.add_argument("--metrics", default="storage,licenses", help="comma-separated: storage,licenses,devices")
    serve.add_argument("--seed", type=int, default=1, help="the generator's seed")
    serve.add_argument("--log-level", default="warning", help="uvicorn's log level")
    return top


def build(args: argparse.Namespace) -> VendorSim:
    """The simulator that ``serve`` would run; raises ValueError for a bad dataset option."""
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    return VendorSim(args.token, generate(args.accounts, args.month, args.days, metrics, args.seed))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        sim = build(args)
    except ValueError as problem:
        print(f"vendorsim: {problem}", file=sys.stderr)
        return 2
    base = f"http://{args.host}:{args.port}"
    print(
        f"vendorsim: {len(sim.accounts)} accounts, {len(sim.samples)} samples at {base}/v1/usage "
        f"(Authorization: Bearer {sim.token}); admin API at {base}/_sim/",
        flush=True,
    )
    uvicorn.run(create_app(sim), host=args.host, port=args.port, log_level=args.log_level)
    return 0
