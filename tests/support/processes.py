"""meterbridge's CLI in processes of its own, forked from a warm server instead of started cold.

A kill test starts ``meterbridge push`` dozens of times and SIGKILLs each one at a point of its
journal. Started as ``python -m meterbridge``, every process pays for an interpreter and
meterbridge's imports (one to three seconds on a loaded 2-core machine) before it does anything
the test is about. Here a multiprocessing fork server imports meterbridge once (per test worker),
and each command is a child forked from it: a process of its own with its own pid, environment,
database connections and event loop, running ``meterbridge.cli.entry()`` as ``python -m
meterbridge`` does, killed by a real SIGKILL. Nothing is imported into the fork server but
modules: no thread, connection or event loop is ever forked.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

PRELOAD = ["meterbridge.cli", "meterbridge.cli.commands", "meterbridge.runtime", "meterbridge.services.push"]
_context: ForkServerContext | None = None


def _forkserver() -> ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _run(args: list[str], env: dict[str, str], stdout: str, stderr: str) -> None:
    """The child: meterbridge's CLI with this command line and environment, its output in files."""
    os.environ.clear()
    os.environ.update(env)
    for path, fd in ((stdout, 1), (stderr, 2)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 (the process's own stream)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.argv = ["meterbridge", *args]
    from meterbridge.cli import entry

    try:
        entry()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


class Command:
    """``meterbridge ARGS`` running in a forked process (``Popen``'s few methods the tests use)."""

    def __init__(self, args: list[str], env: dict[str, str], folder: Path, name: str | None = None) -> None:
        """Its stdout and stderr go to ``folder/NAME.out`` and ``.err`` (``command-N`` by default)."""
        folder.mkdir(parents=True, exist_ok=True)
        Command._count = getattr(Command, "_count", 0) + 1
        name = name or f"command-{Command._count}"
        self._out = folder / f"{name}.out"
        self._err = folder / f"{name}.err"
        self._process: Any = _forkserver().Process(
            target=_run, args=(args, dict(env), str(self._out), str(self._err)), daemon=False
        )
        self._process.start()
        self.pid: int = self._process.pid

    @property
    def returncode(self) -> int | None:
        code: int | None = self._process.exitcode
        return code

    def poll(self) -> int | None:
        return self.returncode

    def kill(self) -> None:
        """SIGKILL, and wait until it is gone."""
        os.kill(self.pid, signal.SIGKILL)
        self._process.join()

    def terminate(self) -> None:
        """SIGTERM: ask it to stop (``wait`` for it)."""
        if self._process.exitcode is None:
            os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise TimeoutError(f"meterbridge (pid {self.pid}) still running after {timeout} s")
        code: int = self._process.exitcode
        return code

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end; its stdout and stderr."""
        self.wait(timeout)
        return self._out.read_text(), self._err.read_text()
