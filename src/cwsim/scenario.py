"""Scenarios: cwsim's state as a YAML or JSON document, loaded and snapshotted.

A scenario names records the way ConnectWise bodies do (camelCase fields, references by id,
identifier or name)::

    settings: {invoiced_rule: true, rate_limit_per_minute: 1000}   # optional
    members: [{publicKey: pub, privateKey: priv, identifier: Billing, readOnly: false}]
    companies: [{identifier: Acme, name: Acme Inc}]
    contacts: [{firstName: Ann, lastName: Lee, company: {identifier: Acme}}]
    agreementTypes: [{name: Backup Services}]
    catalog: [{identifier: BACKUP-GB, description: Backup storage, price: 0.12, cost: 0.05}]
    configurationTypes: [{name: Backup Stats}]
    agreements: [{name: Backup, type: {name: Backup Services}, company: {identifier: Acme},
                  billStartDate: 2026-10-01, prorateFlag: true}]
    additions: [{agreement: {name: Backup}, product: {identifier: BACKUP-GB}, quantity: 120,
                 billCustomer: Billable}]
    configurations: [{name: Acme backup, type: {name: Backup Stats}, company: {identifier: Acme}}]
    faults: {seed: 7, rules: [{path: "finance/*", error_ratio: 0.1}]}

Records go through the same validation and business rules as API writes, except the two rules
about history (an agreement already invoiced or cancelled), since a snapshot may hold additions
made before that. An agreement without a contact gets its company's first contact. A snapshot
(``/_sim/snapshot``) is a scenario with every id, ``_info`` and the next ids, and loads back
into the identical state. A load that fails leaves the running state untouched.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from cwsim.errors import SimError, ValidationFailed
from cwsim.faults import FaultRule
from cwsim.fields import format_datetime
from cwsim.records import Records
from cwsim.resources import BY_KEY
from cwsim.rules import find_by_ref
from cwsim.sim import Simulator
from cwsim.state import Member, SimState

#: Load order: what a record references is loaded before it.
LOAD_ORDER = (
    "companies",
    "contacts",
    "agreementTypes",
    "catalog",
    "configurationTypes",
    "agreements",
    "additions",
    "configurations",
)
TOP_LEVEL = {*LOAD_ORDER, "invoices", "settings", "members", "faults", "nextIds"}


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names the collection, item and field."""


def _parsed(text: str, where: str) -> Any:
    """JSON with the JSON parser (hundreds of times faster than YAML's on a large scenario), else YAML."""
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            pass  # YAML's flow style, or a mistake: YAML's parser says where
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{where}not valid YAML or JSON: {_yaml_problem(error)}") from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    """What YAML's parser found and where, without the line it quotes (it may hold a private key)."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"{error.context + ': ' if error.context else ''}{error.problem or 'unreadable'}{where}"
    return type(error).__name__


def read_scenario(path: Path) -> dict[str, Any]:
    data: Any = _parsed(path.read_text(encoding="utf-8"), f"{path}: ")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping of collections, not {type(data).__name__}")
    plain: dict[str, Any] = _plain(data)
    return plain


def parse_scenario(text: str) -> dict[str, Any]:
    data: Any = _parsed(text, "")
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a mapping of collections")
    plain: dict[str, Any] = _plain(data)
    return plain


def _plain(value: Any) -> Any:
    """YAML turns 2026-10-01 into a date; ConnectWise fields want ISO strings."""
    if isinstance(value, datetime):
        return format_datetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def build_state(scenario: Mapping[str, Any], template: SimState) -> tuple[SimState, list[FaultRule] | None, int | None]:
    """A new state holding ``scenario`` (settings start from the template's)."""
    unknown = set(scenario) - TOP_LEVEL
    if unknown:
        raise ScenarioError(
            f"unknown scenario section(s): {', '.join(sorted(unknown))}; "
            f"expected some of {', '.join(sorted(TOP_LEVEL))}"
        )
    settings = dataclasses.replace(template.settings)
    try:
        settings.update(dict(scenario.get("settings") or {}))
    except (KeyError, TypeError) as error:
        raise ScenarioError(f"settings: unknown or invalid setting {error}") from None
    state = SimState(settings, template.clock)
    if scenario.get("members"):
        state.members = [_member(i, m) for i, m in enumerate(scenario["members"])]
    records = Records(state)
    for key in LOAD_ORDER:
        items = scenario.get(key) or []
        if not isinstance(items, list):
            raise ScenarioError(f"{key}: expected a list of records")
        for index, item in enumerate(items):
            _load_record(records, state, key, index, item)
    for index, invoice in enumerate(scenario.get("invoices") or []):
        # made by cwsim, not written through the API: a snapshot's invoices come back as they were
        if not isinstance(invoice, dict) or not isinstance(invoice.get("id"), int):
            raise ScenarioError(f"invoices[{index}]: an invoice of a snapshot, with its id")
        try:
            state.collection("invoices").allocate_id(invoice["id"])
        except ValueError as error:
            raise ScenarioError(f"invoices[{index}]: {error}") from None
        state.collection("invoices").put(dict(invoice))
    next_ids = scenario.get("nextIds") or {}
    for key, value in next_ids.items():
        if key in state.collections:
            collection = state.collection(key)
            collection.next_id = max(collection.next_id, int(value))
    faults = scenario.get("faults")
    rules = seed = None
    if faults:
        try:
            rules = [FaultRule.from_json(rule) for rule in faults.get("rules", [])]
        except (TypeError, ValueError) as error:
            raise ScenarioError(f"faults: {error}") from None
        seed = int(faults.get("seed", 0))
    return state, rules, seed


def _member(index: int, data: Any) -> Member:
    if not isinstance(data, dict) or not data.get("publicKey") or not data.get("privateKey"):
        raise ScenarioError(f"members[{index}]: needs publicKey and privateKey")
    return Member(
        public_key=str(data["publicKey"]),
        private_key=str(data["privateKey"]),
        identifier=str(data.get("identifier", f"Member{index + 1}")),
        read_only=bool(data.get("readOnly", False)),
    )


def _load_record(records: Records, state: SimState, key: str, index: int, item: Any) -> None:
    where = f"{key}[{index}]"
    if not isinstance(item, dict):
        raise ScenarioError(f"{where}: expected a mapping of fields")
    body = dict(item)
    resource = BY_KEY[key]
    parent_id = None
    if key == "additions":
        parent_id = body.pop("agreementId", None)
        agreement_ref = body.pop("agreement", None)
        if parent_id is None and isinstance(agreement_ref, dict):
            agreement = find_by_ref(state, "agreements", agreement_ref)
            parent_id = agreement["id"] if agreement else None
        if parent_id is None:
            raise ScenarioError(f"{where}: names no existing agreement (agreementId or agreement: {{id|name}})")
    if key == "agreements" and "contact" not in body and isinstance(body.get("company"), dict):
        company = find_by_ref(state, "companies", body["company"])
        if company is not None:
            contact = next(
                (
                    c
                    for c in state.collection("contacts").scope(None)
                    if c.get("company", {}).get("id") == company["id"]
                ),
                None,
            )
            if contact is not None:
                body["contact"] = {"id": contact["id"]}
    info = body.get("_info") if isinstance(body.get("_info"), dict) else None
    try:
        records.create(
            resource,
            body,
            parent_id,
            actor="scenario",
            record_id=body.get("id") if isinstance(body.get("id"), int) else None,
            info=info,
            loading=True,
        )
    except ValidationFailed as error:
        raise ScenarioError(f"{where}: {error}") from None
    except SimError as error:
        raise ScenarioError(f"{where}: {error.message}") from None


def load_scenario(sim: Simulator, scenario: Mapping[str, Any]) -> None:
    """Replace the simulator's state with ``scenario``; on error nothing changes."""
    state, rules, seed = build_state(scenario, sim.state)
    sim.state.settings = state.settings
    sim.state.members = state.members
    sim.state.collections = state.collections
    if rules is not None:
        sim.faults.configure(seed or 0, rules)
    sim.limiter.configure(state.settings.rate_limit_per_minute)


def snapshot(sim: Simulator) -> dict[str, Any]:
    state = sim.state
    out: dict[str, Any] = {
        "settings": state.settings.as_json(),
        "members": [member.as_json() for member in state.members],
    }
    for key in (*LOAD_ORDER, "invoices"):
        out[key] = [dict(record) for record in state.collection(key).scope(None)]
    out["nextIds"] = {key: collection.next_id for key, collection in state.collections.items()}
    out["faults"] = sim.faults.as_json()
    return out


def dump_scenario(scenario: Mapping[str, Any], path: Path) -> None:
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(scenario, indent=1) + "\n", encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(dict(scenario), sort_keys=False, allow_unicode=True), encoding="utf-8")
