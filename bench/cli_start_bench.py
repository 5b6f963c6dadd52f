"""CLI start-up: seconds for ``meterbridge --help`` and every command's ``--help``, each in a fresh process.

Baseline: a Python that imports Typer and what it needs to print a command's help (its Rich
help formatter and its parameter adapters, which bring pydantic): the least any Typer command
line pays. The ratio says how many times that a command's help costs. A command's help imports
its module, not the services behind it (``cli/lazy.py``); nothing touches a database.
Run: ``.venv/bin/python bench/cli_start_bench.py [--repeat 3]`` (the best of the repeats is kept).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from meterbridge.cli.commands import COMMANDS

FLOOR = "import typer, typer.main, typer.rich_utils, typer._adapters"


def best_of(repeat: int, *args: str) -> float:
    """The fastest of ``repeat`` runs of ``python args`` (the others paid for a busy machine)."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, *args], capture_output=True, check=True)
        seconds.append(time.perf_counter() - started)
    return min(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--commands", type=int, default=len(COMMANDS), help="how many commands' help to time")
    args = parser.parse_args()
    floor = best_of(args.repeat, "-c", FLOOR)
    root = best_of(args.repeat, "-m", "meterbridge", "--help")
    print(f"baseline (import Typer's help machinery)   {floor:6.2f} s")
    print(f"meterbridge --help                         {root:6.2f} s   ratio to baseline {root / floor:5.2f}")
    times = {}
    for name in list(COMMANDS)[: args.commands]:
        times[name] = best_of(args.repeat, "-m", "meterbridge", name, "--help")
        print(f"meterbridge {name + ' --help':<31}{times[name]:6.2f} s   ratio to baseline {times[name] / floor:5.2f}")
    slowest = max(times, key=lambda name: times[name])
    print()
    print(
        f"commands' --help: median {statistics.median(times.values()):.2f} s, slowest {slowest} "
        f"{times[slowest]:.2f} s; ratio median to baseline {statistics.median(times.values()) / floor:.2f}"
    )


if __name__ == "__main__":
    main()
