"""What every command shares: the state of one invocation, the renderer (tables or ``--json``
of the service views), money as money, printed next steps that work as printed, and service
errors as a message and an exit code (never a traceback).

Exit codes, by the error's kind:

* 0 done; 1 ConnectWise could not be reached, or the database failed;
* 2 invalid input, something not found, a conflict, set-up missing (the message says which);
* 3 a push held for approval (safety thresholds): review it and push with --checksum;
* 4 a push finished, but some companies failed or are blocked (their reasons are listed);
* 5 another push of the tenant holds the lease (nothing was written twice);
* 6 the plan changed since the checksum was reviewed (nothing was written).
"""

from __future__ import annotations

import functools
import getpass
import json
import operator
import shlex
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from meterbridge.cli.lazy import lazy
from meterbridge.domain.money import format_money, format_unit_price
from meterbridge.services.actors import Actor
from meterbridge.services.errors import ErrorKind, ServiceError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from meterbridge import runtime
    from meterbridge import settings as settings_module
    from meterbridge.services import tenants
    from meterbridge.services.context import Clock, Context
    from meterbridge.settings import Settings
else:  # loaded when a command runs, not for its --help
    runtime = lazy("meterbridge.runtime")
    settings_module = lazy("meterbridge.settings")
    tenants = lazy("meterbridge.services.tenants")

T = TypeVar("T")

EXIT_HELD = 3
EXIT_PARTIAL = 4
EXIT_CODES = {
    ErrorKind.INVALID_INPUT: 2,
    ErrorKind.NOT_FOUND: 2,
    ErrorKind.UNAUTHORIZED: 2,
    ErrorKind.FORBIDDEN: 2,
    ErrorKind.RATE_LIMITED: 2,
    ErrorKind.CONFLICT: 2,
    ErrorKind.NOT_CONFIGURED: 2,
    ErrorKind.APPROVAL_NEEDED: 2,
    ErrorKind.SECRETS: 2,
    ErrorKind.HELD: EXIT_HELD,
    ErrorKind.LEASE_HELD: 5,
    ErrorKind.LEASE_LOST: 5,
    ErrorKind.CHECKSUM_MISMATCH: 6,
    ErrorKind.CONNECTWISE: 1,
    ErrorKind.STORAGE: 1,
}

#: How the command line gets to the use case an error names (``ServiceError.action``).
CLI_HINTS = {
    "init": "run `{meterbridge} init` first",
    "connection.set": "run `{meterbridge} connection set` first",
    "companies.import": "run `{meterbridge} companies import`, or check the identifier",
    "companies.link": "see the companies it may be, each with the command that links it: "
    "`{meterbridge} companies suggest {customer}`",
    "rules.set": "add it with `{meterbridge} rules set {name} 'CONDITIONS'`",
    "doctor.create": "run `{meterbridge} doctor --period {period} --create`",
    "prices.places": "set --places {places} (up to 8), or round it yourself",
    "push.wait": "wait for it (--wait SECONDS) or try again later",
    "preview": "review it first with `{meterbridge} preview --period {period}{scope}` and push its checksum with "
    "--checksum, or push what is planned now with --force",
    "preview.again": "preview again with `{meterbridge} preview --period {period}{scope}` (run {run} holds the new "
    "plan) and push the new checksum",
    "demo.overwrite": "seed again with --overwrite to do so on purpose",
    "usage.import_errors": "every refused row: `{meterbridge} usage errors {import}`",
}


@dataclass(frozen=True)
class Injected:
    """What a program embedding the CLI passes in (``app(obj=Injected(...))``) instead of the
    system's own: the clock (the tests run months and periods on a clock they control)."""

    clock: Clock


@dataclass
class State:
    load_settings: Callable[[], Settings]  # read when a command first needs them (a --help needs none)
    json: bool
    console: Console
    clock: Clock | None = None
    global_args: tuple[str, ...] = ()  # --tenant/--home as given: a printed next step repeats them
    _context: Context | None = None
    _currency: str | None = field(default=None, repr=False)

    @functools.cached_property
    def settings(self) -> Settings:
        return self.load_settings()

    def context(self, *, upgrade: bool = True) -> Context:
        if self._context is None:
            self._context = runtime.build_context(self.settings, clock=self.clock, upgrade=upgrade)
        return self._context

    @property
    def tenant(self) -> str:
        return self.settings.tenant

    @property
    def actor(self) -> Actor:
        """Who this command acts as: MBRIDGE_ACTOR, else the login name."""
        return Actor.user(self.settings.actor or _login())

    @property
    def currency(self) -> str:
        if self._currency is None:
            self._currency = tenants.show_settings(self.context(), self.tenant).currency
        return self._currency

    def money(self, amount: Any) -> str:
        """An amount (cents) as money: $1,234.50."""
        return format_money(Decimal(str(amount)), self.currency)

    def unit(self, price: Any) -> str:
        """A unit price as money, every decimal it carries and at least cents: $45.00, $0.093333."""
        return format_unit_price(Decimal(str(price)), self.currency)

    def command(self, *words: str) -> str:
        """A meterbridge command line that works as printed (global options included, values quoted)."""
        return " ".join(shlex.quote(word) for word in ("meterbridge", *self.global_args, *words))

    def out(self, data: BaseModel | list[Any], human: Callable[[], None]) -> None:
        """``--json``: the view as JSON; otherwise the human rendering."""
        if self.json:  # a view straight to JSON text (pydantic-core's encoder: a plan of 300,000 lines in seconds)
            typer.echo(_json(_dump_list(data)) if isinstance(data, list) else data.model_dump_json(indent=2))
        else:
            human()


def _dump_list(items: list[Any]) -> Any:
    from pydantic import BaseModel

    return [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in items]


def _json(payload: Any) -> str:
    return json.dumps(payload, indent=2)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def make_table(*headers: str, **options: Any) -> Table:
    """A table whose cells wrap instead of being cut: on a narrow terminal two customers never
    look the same (``NorthwindArc…``)."""
    grid = Table(**options)
    for header in headers:
        grid.add_column(header, overflow="fold")
    return grid


def state(ctx: typer.Context) -> State:
    value = ctx.obj
    assert isinstance(value, State)
    return value


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    import asyncio

    return asyncio.run(coroutine)


def fail(message: str, code: int, error: ServiceError | None = None, *, as_json: bool = False) -> NoReturn:
    """The message on stderr; with ``--json`` the error as data on stdout too (kind, field, row, hint)."""
    typer.echo(f"error: {message}", err=True)
    if as_json:
        body: dict[str, Any] = {"kind": error.kind.value if error else "invalid_input", "message": message}
        if error is not None:
            body.update(field=error.field, row=error.row, position=error.position, action=error.action)
            body.update(params=error.params, hint=error.hint)
        typer.echo(_json({"error": body}))
    raise typer.Exit(code)


def cli_hint(st: State | None, action: str | None, params: dict[str, str]) -> str | None:
    """The command line's way to the use case an error, a blocked line or a finding names."""
    template = CLI_HINTS.get(action or "")
    if template is None:
        return None
    words = st.command() if st is not None else "meterbridge"
    scope = "".join(f" --customer {shlex.quote(c)}" for c in params.get("customers", "").split(",") if c)
    try:
        return template.format(**{"meterbridge": words, "scope": scope, **params})
    except KeyError:
        return None


def error_text(st: State | None, error: ServiceError) -> str:
    """The message, and what to do: the command line's own way when the error names a use case."""
    hint = cli_hint(st, error.action, error.params)
    return str(error) if hint is None else f"{error.message}: {hint}"


def guarded(emits: str | None) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A command that prints ``emits`` with ``--json`` (a view's name, ``list[View]`` or ``A | B``;
    named, not imported, so that the views load when the command runs); service errors (and
    failures below them) become a message and their exit code, never a traceback."""

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            context = kwargs.get("ctx", args[0] if args else None)
            st = getattr(context, "obj", None)
            st = st if isinstance(st, State) else None
            try:
                function(*args, **kwargs)
            except typer.Exit:
                raise
            except Exception as error:
                failure = runtime.as_service_error(error, st.settings if st else settings_module.Settings())
                if failure is None:
                    raise
                code = EXIT_CODES.get(failure.kind, 1)
                fail(error_text(st, failure), code, failure, as_json=bool(st and st.json))

        wrapper.emits = emits  # type: ignore[attr-defined]
        return wrapper

    return decorate


def emitted(command: Callable[..., None]) -> Any:
    """The type a command prints with ``--json`` (what ``@guarded`` names), None for a command
    that prints no JSON (a server)."""
    from meterbridge.services import views
    from meterbridge.services.tenant_settings import TenantSettings

    named: dict[str, Any] = {**vars(views), "TenantSettings": TenantSettings}
    text: str | None = getattr(command, "emits")  # noqa: B009 (set by guarded, not a declared attribute)
    if text is None:
        return None

    def one(part: str) -> Any:
        part = part.strip()
        return list[named[part[5:-1]]] if part.startswith("list[") else named[part]  # type: ignore[misc]

    return functools.reduce(operator.or_, (one(part) for part in text.split("|")))
