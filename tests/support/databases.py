"""Databases for tests: empty ones, and copies of templates made once per test run.

A test that needs meterbridge's schema gets a copy of a database migrated to the head revision
once per worker (PostgreSQL ``CREATE DATABASE ... TEMPLATE``, SQLite a file copy), not a
migration of its own; a world built once (``tests/support/worlds.py``) is kept the same way,
as a template database copied per test. Names carry the pytest-xdist worker, so two workers
never share a template (PostgreSQL refuses to copy a template another session is connected to)
and never collide on a name.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from meterbridge.store.database import Database

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def worker() -> str:
    """The pytest-xdist worker this process is ("gw0", ...), or "main" without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _admin(statement: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(statement)


def _new_name(prefix: str) -> str:
    return f"{prefix}_{worker()}_{uuid.uuid4().hex[:10]}"


def sqlite_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


@contextmanager
def fresh_database(kind: str, tmp_path: Path, *, template: str | None = None) -> Iterator[str]:
    """A new database: empty, or a copy of ``template`` (a URL :class:`Templates` made)."""
    if kind == "sqlite":
        path = tmp_path / "meterbridge.db"
        if template is not None:
            shutil.copyfile(sqlite_file(template), path)
        yield f"sqlite:///{path}"
        return
    name = _new_name("mb_test")
    copy_of = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template is not None else ""
    _admin(f'CREATE DATABASE "{name}"{copy_of}')
    _admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Template:
    url: str
    data: Any  # what its build returned (tokens made, keys used): what a copy's test needs to know


class Templates:
    """Template databases for one test session (one worker): each made once, on first use, by a
    function given a fresh empty database's URL, and dropped when the session ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._made: dict[tuple[str, str], Template] = {}

    def get(self, kind: str, name: str, build: Callable[[str], Any]) -> Template:
        """Template ``name`` on ``kind`` (sqlite or postgresql), ``build`` run on it the first time."""
        key = (kind, name)
        if key not in self._made:
            if kind == "sqlite":
                url = f"sqlite:///{self.folder / f'{name}.db'}"
            else:
                url = f"{PG_SERVER}/{_new_name('mb_tmpl')}"
                _admin(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
            try:
                data = build(url)
                if kind == "sqlite":  # everything in the file a copy takes, nothing left in its WAL
                    with closing(sqlite3.connect(sqlite_file(url))) as checkpoint:
                        checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except BaseException:
                self._drop(kind, url)
                raise
            self._made[key] = Template(url, data)
        return self._made[key]

    def head(self, kind: str) -> str:
        """A database with meterbridge's schema at the head revision and nothing in it."""
        return self.get(kind, "head", migrate).url

    def close(self) -> None:
        for (kind, _name), template in self._made.items():
            self._drop(kind, template.url)
        self._made.clear()

    @staticmethod
    def _drop(kind: str, url: str) -> None:
        if kind == "postgresql":
            _admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def migrate(url: str) -> None:
    db = Database(url)
    try:
        db.upgrade()
    finally:
        db.dispose()  # a PostgreSQL template must have no session left on it


def point_connections_at(db: Database, site: str) -> None:
    """Every tenant's ConnectWise connection to ``site``: a world copied from a template talks
    to this test's cwsim, not to the one its template was built against."""
    with db.session() as session:
        session.execute(text("UPDATE connections SET site = :site"), {"site": site})
