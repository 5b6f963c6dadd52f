"""Field definitions and the conversion of a JSON body into a stored record.

Each resource lists its fields in a small table (see resources.py): name, kind and flags. This
module turns a request body into a clean record the way ConnectWise's JSON binding does:
property names matched case-insensitively, unknown and read-only properties ignored, nulls
dropped (ConnectWise omits null properties in its answers), values type-checked, strings
checked against their maximum length and enums.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cwsim.errors import FieldError

SCALAR_KINDS = frozenset({"string", "integer", "number", "boolean", "datetime", "uuid"})
CONTAINER_KINDS = frozenset({"ref", "refs", "strings", "integers", "objects", "object"})

#: Keys (and kinds) of each ConnectWise reference type; others have ``id`` and ``name``.
REF_KEYS: dict[str, dict[str, str]] = {
    "Company": {"id": "integer", "identifier": "string", "name": "string"},
    "Country": {"id": "integer", "identifier": "string", "name": "string"},
    "CatalogItem": {"id": "integer", "identifier": "string", "name": "string"},
    "Member": {"id": "integer", "identifier": "string", "name": "string"},
    "SystemDepartment": {"id": "integer", "identifier": "string", "name": "string"},
    "IvItem": {"id": "integer", "identifier": "string", "serializedFlag": "boolean"},
    "Agreement": {"id": "integer", "name": "string", "type": "string", "chargeFirmFlag": "boolean"},
    "Configuration": {"id": "integer", "deviceIdentifier": "string"},
}
DEFAULT_REF_KEYS = {"id": "integer", "name": "string"}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def ref_keys(ref_type: str | None) -> dict[str, str]:
    return REF_KEYS.get(ref_type or "", DEFAULT_REF_KEYS)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str
    ref: str | None = None
    required: bool = False
    required_on_update: bool = False
    read_only: bool = False
    max_length: int | None = None
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None


def parse_field_table(table: str) -> dict[str, FieldSpec]:
    """Read lines ``name kind [req] [upd] [ro] [max=N] [enum=A|B] [range=A..B]``."""
    specs: dict[str, FieldSpec] = {}
    for line in table.strip().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        name, kind, flags = words[0], words[1], words[2:]
        ref = None
        if ":" in kind:
            kind, ref = kind.split(":", 1)
        assert kind in SCALAR_KINDS | CONTAINER_KINDS, f"unknown kind {kind} for {name}"
        options: dict[str, Any] = {}
        for flag in flags:
            if flag == "req":
                options["required"] = True
            elif flag == "upd":
                options["required_on_update"] = True
            elif flag == "ro":
                options["read_only"] = True
            elif flag.startswith("max="):
                options["max_length"] = int(flag[4:])
            elif flag.startswith("enum="):
                options["enum"] = tuple(flag[5:].split("|"))
            elif flag.startswith("range="):
                low, high = flag[6:].split("..")
                options["minimum"], options["maximum"] = int(low), int(high)
            else:
                raise AssertionError(f"unknown flag {flag} for {name}")
        specs[name] = FieldSpec(name=name, kind=kind, ref=ref, **options)
    return specs


def format_datetime(moment: datetime) -> str:
    """ConnectWise's wire format: ``yyyy-MM-ddTHH:mm:ssZ`` in UTC."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def parse_datetime(raw: str) -> datetime:
    text = raw.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Converter:
    def __init__(self, resource: str) -> None:
        self.resource = resource
        self.errors: list[FieldError] = []

    def fail(self, field: str, code: str, message: str) -> None:
        self.errors.append(FieldError(code=code, message=message, field=field, resource=self.resource))

    def scalar(self, kind: str, value: Any, field: str) -> Any:
        if kind == "string":
            if isinstance(value, str):
                return value
            return self.wrong_type(field, "a string", value)
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return self.wrong_type(field, "an integer", value)
            if isinstance(value, float) and not value.is_integer():
                return self.wrong_type(field, "an integer", value)
            number = int(value)
            if not INT32_MIN <= number <= INT32_MAX:
                self.fail(field, "OutOfRange", f"The field {field} must be a 32-bit integer.")
                return None
            return number
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return self.wrong_type(field, "a number", value)
            if value != value or value in (float("inf"), float("-inf")):
                return self.wrong_type(field, "a finite number", value)
            return value
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            return self.wrong_type(field, "true or false", value)
        if kind == "datetime":
            if not isinstance(value, str):
                return self.wrong_type(field, "a date-time string (yyyy-MM-ddTHH:mm:ssZ)", value)
            try:
                return format_datetime(parse_datetime(value))
            except (ValueError, OverflowError):
                return self.wrong_type(field, "a date-time string (yyyy-MM-ddTHH:mm:ssZ)", value)
        if kind == "uuid":
            try:
                return str(uuid.UUID(str(value)))
            except ValueError:
                return self.wrong_type(field, "a GUID", value)
        raise AssertionError(kind)

    def wrong_type(self, field: str, expected: str, value: Any) -> None:
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        self.fail(field, "InvalidField", f"The value {shown[:60]} is not valid for {field}: expected {expected}.")
        return None

    def ref(self, ref_type: str | None, value: Any, field: str) -> dict[str, Any] | None:
        if not isinstance(value, Mapping):
            self.wrong_type(field, "an object", value)
            return None
        keys = ref_keys(ref_type)
        lowered = {k.lower(): k for k in keys}
        out: dict[str, Any] = {}
        for raw_key, raw_value in value.items():
            key = lowered.get(str(raw_key).lower())
            if key is None or raw_value is None:
                continue
            converted = self.scalar(keys[key], raw_value, f"{field}/{key}")
            if converted is not None:
                out[key] = converted
        return out

    def custom_field(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """A CustomFieldValue: its known fields typed as the schema says, others left out."""
        out: dict[str, Any] = {}
        for key, raw in item.items():
            name = f"customFields/{key}"
            if raw is None or key not in CUSTOM_FIELD:
                continue
            if key == "value":
                if isinstance(raw, Mapping):
                    out[key] = dict(raw)
                else:
                    self.wrong_type(name, "an object", raw)
                continue
            converted = self.scalar(CUSTOM_FIELD[key], raw, name)
            if converted is None:
                continue
            allowed = CUSTOM_FIELD_ENUMS.get(key)
            if allowed is not None and converted not in allowed:
                self.fail(name, "InvalidField", f"The value '{str(converted)[:60]}' is not valid for {name}.")
                continue
            out[key] = converted
        return out

    def field(self, spec: FieldSpec, value: Any) -> Any:
        if spec.kind in SCALAR_KINDS:
            converted = self.scalar(spec.kind, value, spec.name)
            if isinstance(converted, str):
                if spec.max_length is not None and len(converted) > spec.max_length:
                    self.fail(
                        spec.name,
                        "InvalidField",
                        f"The field {spec.name} must be a string with a maximum length of {spec.max_length}.",
                    )
                if spec.enum is not None and converted not in spec.enum:
                    match = next((e for e in spec.enum if e.lower() == converted.lower()), None)
                    if match is None:
                        self.fail(
                            spec.name,
                            "InvalidField",
                            f"The value '{converted[:60]}' is not valid for {spec.name}. "
                            f"Valid values: {', '.join(spec.enum)}.",
                        )
                    else:
                        converted = match
            out_of_range = (
                isinstance(converted, int)
                and spec.minimum is not None
                and spec.maximum is not None
                and not spec.minimum <= converted <= spec.maximum
            )
            if out_of_range:
                self.fail(
                    spec.name, "OutOfRange", f"The field {spec.name} must be between {spec.minimum} and {spec.maximum}."
                )
            return converted
        if spec.kind == "ref":
            return self.ref(spec.ref, value, spec.name)
        if not isinstance(value, list):
            if spec.kind == "object" and isinstance(value, Mapping):
                return {str(k): v for k, v in value.items() if v is not None}
            self.wrong_type(spec.name, "an array", value)
            return None
        if spec.kind == "refs":
            items = [self.ref(spec.ref, item, spec.name) for item in value]
            return [item for item in items if item is not None]
        if spec.kind in ("strings", "integers"):
            kind = "string" if spec.kind == "strings" else "integer"
            items = [self.scalar(kind, item, spec.name) for item in value if item is not None]
            return [item for item in items if item is not None]
        if spec.kind == "objects":
            out = []
            for item in value:
                if not isinstance(item, Mapping):
                    self.wrong_type(spec.name, "an array of objects", item)
                    continue
                if spec.name == "customFields":
                    out.append(self.custom_field(item))
                else:
                    out.append({str(k): v for k, v in item.items() if v is not None})
            return out
        self.wrong_type(spec.name, "an object", value)
        return None


#: ConnectWise's CustomFieldValue (2026.4): the fields an item of customFields may carry.
CUSTOM_FIELD = {
    "id": "integer",
    "caption": "string",
    "type": "string",
    "entryMethod": "string",
    "numberOfDecimals": "integer",
    "value": "object",
    "connectWiseId": "string",
    "rowNum": "integer",
    "userDefinedFieldRecId": "integer",
    "podId": "string",
}
CUSTOM_FIELD_ENUMS = {
    "type": (
        "TextArea", "Button", "Currency", "Date", "Hyperlink", "IPAddress", "Checkbox", "Number", "Percent",
        "PhoneNumber", "Text", "Password",
    ),
    "entryMethod": ("Date", "EntryField", "List", "Option"),
}  # fmt: skip


def convert_body(
    specs: Mapping[str, FieldSpec], body: Mapping[str, Any], resource: str
) -> tuple[dict[str, Any], list[FieldError]]:
    """The writable fields of ``body`` as a clean record, and the field errors found."""
    converter = _Converter(resource)
    lowered = {name.lower(): spec for name, spec in specs.items()}
    record: dict[str, Any] = {}
    for raw_key, value in body.items():
        spec = lowered.get(str(raw_key).lower())
        if spec is None or spec.read_only or value is None:
            continue
        converted = converter.field(spec, value)
        if converted is not None and converted != [] and converted != {}:
            record[spec.name] = converted
    return record, converter.errors


def missing_required(
    specs: Mapping[str, FieldSpec], record: Mapping[str, Any], resource: str, *, updating: bool
) -> list[FieldError]:
    errors = []
    for spec in specs.values():
        needed = spec.required or (updating and spec.required_on_update)
        value = record.get(spec.name)
        if needed and (value is None or value == "" or value == {}):
            errors.append(
                FieldError(
                    code="NullValue",
                    message=f"The {spec.name} field is required.",
                    field=spec.name,
                    resource=resource,
                )
            )
    return errors
