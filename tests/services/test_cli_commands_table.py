"""The command line's table of contents: it says what the modules define, and ``--help`` lists it
without importing the services (SQLAlchemy, Alembic) behind the commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer.main
from typer.testing import CliRunner

from meterbridge.cli import app
from meterbridge.cli.commands import COMMANDS, Entry, load_all
from meterbridge.cli.render import EXIT_HELD


def in_a_fresh_process(probe: str, *args: str) -> Any:
    """What ``probe`` prints as JSON, run by a Python that imported nothing before."""
    return json.loads(
        subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True).stdout
    )


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
    answer = in_a_fresh_process(probe)
    assert answer["code"] == 0
    assert answer["loaded"] == []
    for name, entry in COMMANDS.items():
        assert name in answer["out"]
        assert entry.help[:40] in answer["out"], name


def test_every_commands_help_loads_no_service() -> None:
    """A command's ``--help`` imports its module, not the services, SQLAlchemy or Alembic behind it
    (they load when the command runs: ``cli.lazy``)."""
    probe = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from meterbridge.cli import app\n"
        "from meterbridge.cli.commands import COMMANDS\n"
        "heavy = ('sqlalchemy', 'alembic', 'pydantic_settings', 'meterbridge.store', 'httpx2')\n"
        "answers = {}\n"
        "for name in COMMANDS:\n"
        "    result = CliRunner().invoke(app, [name, '--help'], terminal_width=200)\n"
        "    answers[name] = [result.exit_code, [m for m in heavy if m in sys.modules], result.output]\n"
        "print(json.dumps(answers))\n"
    )
    answers = in_a_fresh_process(probe)
    assert set(answers) == set(COMMANDS)
    for name, (code, loaded, output) in answers.items():
        assert code == 0, (name, output)
        assert loaded == [], name
        assert "Usage:" in output and name in output


def test_a_lazily_named_service_runs_when_the_command_does(tmp_path: Path) -> None:
    """In a process of its own (nothing imported before): ``init`` creates the database
    through the services it names lazily, which load then."""
    probe = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from meterbridge.cli import app\n"
        "result = CliRunner().invoke(app, ['--home', sys.argv[1], 'init'], terminal_width=200)\n"
        "print(json.dumps([result.exit_code, result.output, 'sqlalchemy' in sys.modules]))\n"
    )
    code, output, loaded = in_a_fresh_process(probe, str(tmp_path / "home"))
    assert code == 0, output
    assert loaded
    assert (tmp_path / "home").is_dir()


def test_a_command_is_loaded_when_it_runs() -> None:
    result = CliRunner().invoke(app, ["push", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "--force" in result.output
    unknown = CliRunner().invoke(app, ["bogus"])
    assert unknown.exit_code == 2
    assert "No such command" in unknown.output
    assert EXIT_HELD != 0


def test_bad_settings_stop_a_command_with_their_field_but_not_its_help(tmp_path: Path) -> None:
    env = {"MBRIDGE_HOME": str(tmp_path), "MBRIDGE_SMTP_PORT": "twenty-five"}
    refused = CliRunner().invoke(app, ["runs", "list"], env=env)
    assert refused.exit_code == 2
    assert "error: settings:" in refused.output and "smtp_port" in refused.output
    assert "Traceback" not in refused.output
    assert not (tmp_path / "meterbridge.db").exists()  # nothing opened, nothing created
    helped = CliRunner().invoke(app, ["runs", "--help"], env=env)
    assert helped.exit_code == 0 and "list" in helped.output
