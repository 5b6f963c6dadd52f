"""cwsim's in-memory state: settings, API members and the records of each collection.

State lives in memory only; ``/_sim/snapshot`` and ``/_sim/scenario`` (or ``--scenario``) make it
durable. All mutation happens on the server's event loop, one request at a time between awaits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cwsim.resources import RESOURCES, Resource

Clock = Callable[[], datetime]
INDEXED_FIELDS = ("identifier", "name")


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Member:
    """An API member: ``companyId+publicKey:privateKey`` authenticates as it."""

    public_key: str
    private_key: str
    identifier: str = "APIMember"
    read_only: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "publicKey": self.public_key,
            "privateKey": self.private_key,
            "identifier": self.identifier,
            "readOnly": self.read_only,
        }


DEFAULT_MEMBER = Member(public_key="simpub", private_key="simpriv", identifier="SimAPI")


@dataclass
class SimSettings:
    """Behaviour switches, set at start (CLI, scenario) and changed at run time (/_sim/settings)."""

    company_id: str = "sim"
    company_name: str = "cwsim"
    api_version: str = "2026.4"
    codebases: tuple[str, ...] = ("v4_6_release/", "v2026_4/")
    is_cloud: bool = True
    server_time_zone: str = "Eastern Standard Time"
    require_client_id: bool = True
    #: Status for a request without a clientId header: the real answer is undocumented.
    missing_client_id_status: int = 401
    #: ConnectWise's "already been invoiced" rule for additions on non-prorated agreements.
    invoiced_rule: bool = True
    #: Token bucket per member; 0 turns rate limiting off.
    rate_limit_per_minute: int = 1000
    #: Collection paths (e.g. ``finance/agreements/{parentId}/additions``) that ignore
    #: forward-only paging, as some real endpoints do.
    forward_only_disabled: tuple[str, ...] = ()
    #: Seconds a new record stays invisible to list queries with ``conditions`` (GET by id sees it
    #: at once), as one developer observed on a real instance (API-NOTES.md section 4); 0: none.
    search_visibility_lag_seconds: int = 0

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key not in self.__dataclass_fields__:
                raise KeyError(key)
            current = getattr(self, key)
            if isinstance(current, tuple):
                if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                    raise TypeError(f"{key} must be a list of strings")
                value = tuple(value)
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise TypeError(f"{key} must be true or false")
            elif isinstance(current, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"{key} must be a whole number")
            elif not isinstance(value, str):
                raise TypeError(f"{key} must be a string")
            setattr(self, key, value)

    def as_json(self) -> dict[str, Any]:
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in ((k, getattr(self, k)) for k in self.__dataclass_fields__)
        }


@dataclass
class Collection:
    """The records of one resource, indexed by id and, for child resources, by parent id."""

    resource: Resource
    by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    by_parent: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 1
    #: Case-folded identifier / name -> ids, so references and uniqueness checks do not scan.
    _by_text: dict[str, dict[str, set[int]]] = field(default_factory=lambda: {k: {} for k in INDEXED_FIELDS})
    #: Record path -> (the version it was built at, whole-number value -> ids, ids holding anything else).
    _by_number: dict[tuple[str, ...], tuple[int, dict[int, set[int]], set[int]]] = field(default_factory=dict)
    version: int = 0  # changes with every put and remove: indexes built before are stale

    def allocate_id(self, wanted: int | None = None) -> int:
        if wanted is not None:
            if wanted in self.by_id:
                raise ValueError(f"{self.resource.key} id {wanted} is already in use")
            self.next_id = max(self.next_id, wanted + 1)
            return wanted
        new_id = self.next_id
        self.next_id += 1
        return new_id

    def put(self, record: dict[str, Any], parent_id: int | None = None) -> None:
        self.version += 1
        self._unindex(record["id"])
        self.by_id[record["id"]] = record
        for name, index in self._by_text.items():
            if name in record:
                index.setdefault(str(record[name]).casefold(), set()).add(record["id"])
        if parent_id is not None:
            self.by_parent.setdefault(parent_id, {})[record["id"]] = record

    def remove(self, record_id: int, parent_id: int | None = None) -> None:
        self.version += 1
        self._unindex(record_id)
        self.by_id.pop(record_id, None)
        if parent_id is not None:
            self.by_parent.get(parent_id, {}).pop(record_id, None)

    def _unindex(self, record_id: int) -> None:
        old = self.by_id.get(record_id)
        if old is None:
            return
        for name, index in self._by_text.items():
            if name in old:
                ids = index.get(str(old[name]).casefold())
                if ids is not None:
                    ids.discard(record_id)

    def ids_with(self, name: str, value: Any) -> list[int]:
        """Ids of the records whose ``name`` (identifier or name) equals ``value`` without case, in order."""
        return sorted(self._by_text[name].get(str(value).casefold(), ()))

    def holding(self, path: tuple[str, ...], values: frozenset[int], parent_id: int | None) -> list[dict[str, Any]]:
        """Records in id order (of one parent for a child resource) whose ``path`` holds one of
        ``values``, and any whose ``path`` holds something that is not a whole number (a caller
        still applies its full condition): a ``company/id in (...)`` list without a scan."""
        records = self.by_id if parent_id is None else self.by_parent.get(parent_id, {})
        if path == ("id",):
            return [records[i] for i in sorted(values) if i in records]
        built = self._by_number.get(path)
        if built is None or built[0] != self.version:
            built = (self.version, *_number_index(self.by_id.values(), path))
            self._by_number[path] = built
        _, index, others = built
        ids = set(others)
        for value in values:
            ids.update(index.get(value, ()))
        return [records[i] for i in sorted(ids) if i in records]

    def scope(self, parent_id: int | None) -> Iterator[dict[str, Any]]:
        """Records in id order, of one parent for a child resource."""
        records = self.by_id if parent_id is None else self.by_parent.get(parent_id, {})
        for record_id in sorted(records):
            yield records[record_id]

    def __len__(self) -> int:
        return len(self.by_id)


def _number_index(records: Iterable[dict[str, Any]], path: tuple[str, ...]) -> tuple[dict[int, set[int]], set[int]]:
    index: dict[int, set[int]] = {}
    others: set[int] = set()
    for record in records:
        value: Any = record
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue  # matches no number
        if isinstance(value, int) and not isinstance(value, bool):
            index.setdefault(value, set()).add(record["id"])
        else:
            others.add(record["id"])
    return index, others


class SimState:
    def __init__(self, settings: SimSettings | None = None, clock: Clock = system_clock) -> None:
        self.settings = settings or SimSettings()
        self.clock = clock
        self.members: list[Member] = [DEFAULT_MEMBER]
        self.collections: dict[str, Collection] = {}
        self.clear()

    def clear(self) -> None:
        """Remove every record; members and settings stay."""
        self.collections = {resource.key: Collection(resource) for resource in RESOURCES}

    def reset(self) -> None:
        """Back to a fresh start: default settings, the default member, no records."""
        self.settings = SimSettings()
        self.members = [DEFAULT_MEMBER]
        self.clear()

    def collection(self, key: str) -> Collection:
        return self.collections[key]

    def member(self, public_key: str, private_key: str) -> Member | None:
        for member in self.members:
            if member.public_key == public_key and member.private_key == private_key:
                return member
        return None

    def counts(self) -> dict[str, int]:
        return {key: len(collection) for key, collection in self.collections.items()}
