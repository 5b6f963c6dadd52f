"""The files meterbridge keeps in its data directory: only their owner reads them (the SQLite
database and its WAL, the key file, the directory itself), and a key file deleted while secrets are
sealed with it is not made anew over them: meterbridge stops and says what to do."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.cli_world import meterbridge_command

from meterbridge.store.database import Database, sqlite_url


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give a user (022): what makes a file 0644 unless it says otherwise."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _mb(home: Path, *args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(meterbridge_command(), list(args), env={"MBRIDGE_HOME": str(home), **(env or {})})
    assert result.exit_code == code, f"{args} exited {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    return result.output


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.usefixtures("usual_umask")
def test_a_fresh_init_makes_the_database_the_key_and_the_directory_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _mb(home, "init")
    assert _mode(home) == 0o700
    assert _mode(home / "meterbridge.db") == 0o600
    assert _mode(home / "secret.key") == 0o600
    db = Database(sqlite_url(home / "meterbridge.db"))
    try:
        with db.engine.connect() as connection:  # open: SQLite keeps its -wal and -shm files beside it
            connection.exec_driver_sql("SELECT count(*) FROM tenants")
            beside = sorted(p.name for p in home.iterdir() if p.name.startswith("meterbridge.db-"))
            assert beside == ["meterbridge.db-shm", "meterbridge.db-wal"]
            assert all(_mode(home / name) == 0o600 for name in beside)
    finally:
        db.dispose()


def test_a_missing_key_file_over_sealed_secrets_stops_with_what_to_do(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key_file = home / "secret.key"
    _mb(home, "init")
    _mb(
        home, "connection", "set", "--site", "https://cw.example.com", "--company-id", "msp", "--public-key", "pub",
        "--private-key", "priv", "--client-id", "tests",
    )  # fmt: skip
    key = key_file.read_text().strip()
    key_file.unlink()

    refused = _mb(home, "companies", "list", code=2)
    [line] = refused.strip().splitlines()
    assert line.startswith(f"error: the key file {key_file} is missing, but the database holds secrets sealed")
    assert "a ConnectWise connection's private key" in line and "no new key was made" in line
    assert f"restore {key_file} from a backup" in line and "MBRIDGE_SECRET_KEY" in line
    assert not key_file.exists(), "the key file is not made anew"
    assert "sealed" in _mb(home, "--json", "connection", "show", code=2)  # every command, --json too
    assert not key_file.exists()

    shown = _mb(home, "--json", "connection", "show", env={"MBRIDGE_SECRET_KEY": key})  # the key given: it works
    assert "msp" in shown and not key_file.exists()
    key_file.write_text(key + "\n")  # restored
    key_file.chmod(0o600)
    assert "msp" in _mb(home, "--json", "connection", "show")


def test_a_webhook_secret_alone_is_enough_to_keep_the_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _mb(home, "init")
    (home / "secret.key").unlink()
    _mb(home, "schedules", "list")  # nothing sealed yet: a new key, as on a fresh install
    assert _mode(home / "secret.key") == 0o600
    _mb(home, "webhooks", "add", "books", "https://hooks.example.com/mb")
    (home / "secret.key").unlink()
    refused = _mb(home, "webhooks", "list", code=2)
    assert "a webhook's signing secret" in refused and not (home / "secret.key").exists()
