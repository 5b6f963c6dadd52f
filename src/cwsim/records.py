"""Create, read, replace, patch and delete records with ConnectWise's semantics.

* POST: the body's writable fields, server defaults, derived values; 201 with the stored record.
* PUT: replaces the whole record; what the body leaves out is reset, and the fields marked
  "Required On Updates" in ConnectWise's schema must be present.
* PATCH: ``[{op, path, value}]`` with add / replace / remove on top-level fields only; the
  result is validated as a whole, like ConnectWise does (API-NOTES.md section 5).
* DELETE: refused with 409 while other records use the record.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from cwsim.errors import BadRequest, FieldError, NotFound, SimError, ValidationFailed
from cwsim.fields import convert_body, format_datetime, missing_required
from cwsim.invoicing import invoiced_additions
from cwsim.resources import BY_KEY, Resource
from cwsim.rules import IN_USE_BY, PREPARE, WriteContext, agreement_status
from cwsim.state import SimState

PATCH_OPS = ("add", "replace", "remove")


class Conflict(SimError):
    status = 409
    code = "Conflict"


class Records:
    """The record operations behind every collection route and scenario load."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    # -- reads -----------------------------------------------------------------------------
    def parent_of(self, resource: Resource, parent_id: int | None) -> dict[str, Any] | None:
        if resource.parent is None:
            return None
        assert parent_id is not None
        parent = self.state.collection(resource.parent).by_id.get(parent_id)
        if parent is None:
            parent_name = BY_KEY[resource.parent].object_name
            raise NotFound(f"{parent_name[0].upper()}{parent_name[1:]} with id {parent_id} was not found.")
        return parent

    def scope(self, resource: Resource, parent_id: int | None) -> Iterable[dict[str, Any]]:
        self.parent_of(resource, parent_id)
        return self.state.collection(resource.key).scope(parent_id)

    def get(self, resource: Resource, record_id: int, parent_id: int | None = None) -> dict[str, Any]:
        self.parent_of(resource, parent_id)
        record = self.state.collection(resource.key).by_id.get(record_id)
        if record is None or (resource.parent_field and record.get(resource.parent_field) != parent_id):
            name = resource.object_name
            raise NotFound(f"{name[0].upper()}{name[1:]} with id {record_id} was not found.")
        return record

    # -- writes ----------------------------------------------------------------------------
    def create(
        self,
        resource: Resource,
        body: Any,
        parent_id: int | None = None,
        *,
        actor: str,
        record_id: int | None = None,
        info: dict[str, Any] | None = None,
        loading: bool = False,
    ) -> dict[str, Any]:
        """Store a new record. ``loading`` (scenarios) skips the rules about billing history."""
        parent = self.parent_of(resource, parent_id)
        record = self._validated(resource, body, previous=None, parent=parent, loading=loading)
        collection = self.state.collection(resource.key)
        try:
            record["id"] = collection.allocate_id(record_id)
        except ValueError as error:
            raise Conflict(str(error)) from None
        now = format_datetime(self.state.clock())
        record["_info"] = info or {
            "lastUpdated": now,
            "updatedBy": actor,
            "dateEntered": now,
            "enteredBy": actor,
        }
        collection.put(record, parent_id)
        return record

    def replace(
        self, resource: Resource, record_id: int, body: Any, parent_id: int | None = None, *, actor: str
    ) -> dict[str, Any]:
        previous = self.get(resource, record_id, parent_id)
        parent = self.parent_of(resource, parent_id)
        record = self._validated(resource, body, previous=previous, parent=parent)
        return self._store_update(resource, previous, record, parent_id, actor)

    def patch(
        self, resource: Resource, record_id: int, operations: Any, parent_id: int | None = None, *, actor: str
    ) -> dict[str, Any]:
        previous = self.get(resource, record_id, parent_id)
        body = apply_patch(resource, copy.deepcopy(previous), operations)
        parent = self.parent_of(resource, parent_id)
        record = self._validated(resource, body, previous=previous, parent=parent)
        return self._store_update(resource, previous, record, parent_id, actor)

    def delete(self, resource: Resource, record_id: int, parent_id: int | None = None) -> None:
        record = self.get(resource, record_id, parent_id)
        if resource.key == "additions" and record_id in invoiced_additions(self.state):
            raise Conflict(
                f"Addition {record_id} has been invoiced and cannot be deleted; end it with a cancelledDate instead."
            )
        for collection_key, field in IN_USE_BY.get(resource.key, ()):
            for other in self.state.collection(collection_key).by_id.values():
                target = other.get(field)
                target_id = target.get("id") if isinstance(target, dict) else target
                if target_id == record_id:
                    other_name = BY_KEY[collection_key].object_name
                    raise Conflict(
                        f"The {resource.object_name} is in use by {other_name} {other['id']} and cannot be deleted."
                    )
        self.state.collection(resource.key).remove(record["id"], parent_id)

    # -- internals -------------------------------------------------------------------------
    def _validated(
        self,
        resource: Resource,
        body: Any,
        *,
        previous: dict[str, Any] | None,
        parent: dict[str, Any] | None,
        loading: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ValidationFailed(
                resource.object_name,
                [
                    FieldError(
                        "InvalidObject",
                        f"The request body must be a JSON {resource.object_name} object.",
                        field="body",
                        resource=resource.object_name,
                    )
                ],
            )
        record, errors = convert_body(resource.fields, body, resource.object_name)
        context = WriteContext(
            state=self.state,
            object_name=resource.object_name,
            record=record,
            previous=previous,
            parent=parent,
            creating=previous is None,
            errors=errors,
            loading=loading,
        )
        if not errors:
            PREPARE[resource.key](context)
        errors.extend(missing_required(resource.fields, record, resource.object_name, updating=previous is not None))
        if errors:
            raise ValidationFailed(resource.object_name, _unique_errors(errors))
        return record

    def _store_update(
        self,
        resource: Resource,
        previous: dict[str, Any],
        record: dict[str, Any],
        parent_id: int | None,
        actor: str,
    ) -> dict[str, Any]:
        record["id"] = previous["id"]
        info = dict(previous.get("_info", {}))
        info.update(lastUpdated=format_datetime(self.state.clock()), updatedBy=actor)
        record["_info"] = info
        self.state.collection(resource.key).put(record, parent_id)
        if resource.key == "agreements":
            self._sync_additions(record)
        return record

    def _sync_additions(self, agreement: dict[str, Any]) -> None:
        """Additions show their agreement's status."""
        additions = self.state.collection("additions")
        status = agreement_status(agreement, self.state.clock())
        for addition in list(additions.scope(agreement["id"])):
            if addition.get("agreementStatus") != status:
                additions.put({**addition, "agreementStatus": status}, agreement["id"])


def _unique_errors(errors: list[FieldError]) -> list[FieldError]:
    seen: set[tuple[str, str]] = set()
    out = []
    for error in errors:
        if (error.field, error.message) not in seen:
            seen.add((error.field, error.message))
            out.append(error)
    return out


def apply_patch(resource: Resource, record: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply ConnectWise PATCH operations to a copy of a stored record; returns the new body."""
    if not isinstance(operations, list) or not operations:
        raise BadRequest("The PATCH body must be a non-empty array of {op, path, value} operations.")
    errors: list[FieldError] = []
    for position, operation in enumerate(operations):
        if not isinstance(operation, dict):
            raise BadRequest(f"PATCH operation {position} must be an object with op, path and value.")
        op = str(operation.get("op", "")).lower()
        raw_path = operation.get("path")
        if op not in PATCH_OPS:
            raise BadRequest(f"PATCH operation {position}: op must be one of add, replace, remove.")
        if not isinstance(raw_path, str) or not raw_path.strip("/"):
            raise BadRequest(f"PATCH operation {position}: path must name a field.")
        path = raw_path[1:] if raw_path.startswith("/") else raw_path
        if "/" in path:
            top = path.split("/", 1)[0]
            raise BadRequest(
                f"PATCH operation {position}: the path '{raw_path}' points inside an object; "
                f"replace the whole object with path '{top}'."
            )
        spec = resource.fields.get(path)
        if spec is None:
            errors.append(
                FieldError(
                    "InvalidField",
                    f"Cannot find the field '{path}' to {op}.",
                    field=path,
                    resource=resource.object_name,
                )
            )
            continue
        if op == "remove":
            record.pop(path, None)
        elif "value" not in operation:
            raise BadRequest(f"PATCH operation {position}: {op} needs a value.")
        else:
            record[path] = operation["value"]
    if errors:
        raise ValidationFailed(resource.object_name, errors)
    return record
