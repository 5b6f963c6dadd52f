"""The command line's table of contents: it says what the modules define, and ``--help`` lists it
without importing the services (SQLAlchemy, Alembic) behind the commands."""

from __future__ import annotations

import json
import subprocess
import sys

import typer.main
from typer.testing import CliRunner

from meterbridge.cli import app
from meterbridge.cli.commands import COMMANDS, Entry, load_all
from meterbridge.cli.render import EXIT_HELD


def test_the_table_names_every_command_its_module_and_its_help() -> None:
    load_all()
    assert len(app.registered_commands) + len(app.registered_groups) == len(COMMANDS)
    root = typer.main.get_command(app)
    defined: dict[str, Entry] = {}
    for info in app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.replace("_", "-")
        defined[name] = Entry(info.callback.__module__, root.commands[name].help or "")  # type: ignore[attr-defined]
    for group in app.registered_groups:
        assert group.name is not None
        module = group.typer_instance.registered_commands[0].callback.__module__  # type: ignore[union-attr]
        defined[group.name] = Entry(module, root.commands[group.name].help or "")  # type: ignore[attr-defined]
    assert defined == COMMANDS
    assert list(COMMANDS)[:2] == ["preview", "push"]


def test_help_lists_every_command_without_loading_the_services() -> None:
    probe = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from meterbridge.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'], terminal_width=200)\n"
        "heavy = ('sqlalchemy', 'alembic', 'meterbridge.services', 'meterbridge.store')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "print(json.dumps({'code': result.exit_code, 'out': result.output, 'loaded': loaded}))\n"
    )
    answer = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )
    assert answer["code"] == 0
    assert answer["loaded"] == []
    for name, entry in COMMANDS.items():
        assert name in answer["out"]
        assert entry.help[:40] in answer["out"], name


def test_a_command_is_loaded_when_it_runs() -> None:
    result = CliRunner().invoke(app, ["push", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "--force" in result.output
    unknown = CliRunner().invoke(app, ["bogus"])
    assert unknown.exit_code == 2
    assert "No such command" in unknown.output
    assert EXIT_HELD != 0
