"""`usage import --encoding` at the command line: a codec that is not a text encoding (rot13, hex,
base64, zlib_codec) or a name Python does not know is a one-line error and a non-zero exit (2,
invalid input), never a traceback; with --json the error names the field; and `usage errors
--output` writes the error report formula-safe."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.support.cli_world import meterbridge_command

HEADER = "customer,product,measured_at,quantity,unit,customer_name\n"
REFUSED = ["rot13", "hex", "base64", "zlib_codec", "nope", "punycode", "utf-8\x00"]


@pytest.fixture
def mb(database_url: str, tmp_path: Path) -> Callable[..., Result]:
    runner = CliRunner()
    env = {"MBRIDGE_HOME": str(tmp_path / "home"), "MBRIDGE_DATABASE_URL": database_url, "COLUMNS": "250"}

    def run(*args: str) -> Result:
        return runner.invoke(meterbridge_command(), list(args), env=env)

    assert run("init", "--time-zone", "UTC").exit_code == 0
    assert run("products", "set", "storage", "--kind", "storage", "--unit", "GB", "--basis", "max").exit_code == 0
    return run


def test_an_encoding_that_is_not_a_text_encoding_is_a_one_line_error(mb: Callable[..., Result], tmp_path: Path) -> None:
    run = mb
    usage = tmp_path / "usage.csv"
    usage.write_text(HEADER + "C1,storage,2026-10-20T00:00:00Z,5,GB,One\n")
    for name in REFUSED:
        result = run("usage", "import", str(usage), "--encoding", name)
        assert result.exit_code == 2, f"{name!r}: {result.exit_code} {result.output}"
        assert "Traceback" not in result.output and not isinstance(result.exception, LookupError | ValueError)
        [line] = result.output.strip().splitlines()
        assert line.startswith(f"error: encoding: {name!r} is not") and "utf-8, utf-16, latin-1 or cp1252" in line
        as_json = run("--json", "usage", "import", str(usage), "--encoding", name)
        assert as_json.exit_code == 2 and "Traceback" not in as_json.output
        error = json.loads(as_json.stdout)["error"]
        assert (error["kind"], error["field"]) == ("invalid_input", "encoding")
    assert json.loads(run("--json", "usage", "imports").stdout) == [], "nothing recorded"
    done = run("usage", "import", str(usage), "--encoding", "cp1252")
    assert done.exit_code == 0 and "1 samples read" in done.output, done.output


def test_usage_errors_output_writes_a_formula_safe_report(mb: Callable[..., Result], tmp_path: Path) -> None:
    run = mb
    usage = tmp_path / "usage.csv"
    usage.write_text(
        HEADER + "C1,storage,2026-10-20T00:00:00Z,5,GB,One\n"
        "C1,storage,2026-10-20T00:00:00Z,-2+3,GB,One\n"
        "C1,=1+1,2026-10-20T00:00:00Z,1,GB,One\n"
    )
    imported = run("--json", "usage", "import", str(usage), "--mode", "valid")
    assert imported.exit_code == 0, imported.output
    report = tmp_path / "errors.csv"
    written = run("usage", "errors", str(json.loads(imported.stdout)["id"]), "--output", str(report))
    assert written.exit_code == 0, written.output
    with report.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert [row[2] for row in rows[1:]] == ["'-2+3", "'=1+1"]
