"""Secrets out of every text meterbridge stores or shows that someone else wrote.

A vendor's error body, a webhook receiver's answer, an exception from a library: any of them may
echo what meterbridge sent (an auth header's value, a key). ``redact(text, secrets)`` replaces
each secret, each long word of it (``Bearer abc...``: the token alone) and their base64 forms
with ``[redacted]`` before the text is kept or shown.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

MASK = "[redacted]"
SHORTEST = 6  # a shorter piece is too likely an ordinary word to be a secret on its own


def _forms(secret: str) -> set[str]:
    pieces = {secret, *(word for word in secret.split() if len(word) >= SHORTEST)}
    forms = set(pieces)
    for piece in pieces:
        forms.add(base64.b64encode(piece.encode("utf-8")).decode("ascii").rstrip("="))
    return {form for form in forms if len(form) >= SHORTEST}


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every form of every secret masked (the longest first)."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= _forms(secret)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


class KnownSecrets:
    """Every secret this process has sealed or opened (``SecretBox`` tells it), so that any text
    stored or shown is scrubbed against all of them at one boundary (the store's error columns,
    the API's and the CLI's error messages), whoever wrote the text. Bounded: the newest
    ``limit`` secrets are kept (a worker serving thousands of tenants)."""

    def __init__(self, limit: int = 5_000) -> None:
        self.limit = limit
        self._secrets: dict[str, None] = {}
        self._forms: list[str] | None = []

    def remember(self, secret: str | None) -> None:
        if not secret or len(secret) < SHORTEST:
            return
        self._secrets.pop(secret, None)
        self._secrets[secret] = None
        while len(self._secrets) > self.limit:
            del self._secrets[next(iter(self._secrets))]
        self._forms = None

    def forms(self) -> list[str]:
        if self._forms is None:
            forms: set[str] = set()
            for secret in list(self._secrets):
                forms |= _forms(secret)
            self._forms = sorted(forms, key=len, reverse=True)
        return self._forms

    def scrub(self, text: str) -> str:
        for form in self.forms():
            if form in text:
                text = text.replace(form, MASK)
        return text


#: the process' one registry (state, not a setting: what this process has sealed or opened)
KNOWN = KnownSecrets()

#: keys of stored data whose values are messages someone else may have written
MESSAGE_KEYS = frozenset({"error", "errors", "message", "hint", "detail", "last_error", "reason"})


def scrub(text: str) -> str:
    """``text`` with every secret this process knows masked."""
    return KNOWN.scrub(text)


def scrub_messages(value: object, *, inside: bool = False) -> object:
    """Data with every string under a message key (``error``, ``message``, ``hint``, ...) scrubbed,
    at any depth; other values (ids, amounts, outcomes) are left as they are."""
    if isinstance(value, str):
        return scrub(value) if inside else value
    if isinstance(value, dict):
        return {key: scrub_messages(item, inside=inside or key in MESSAGE_KEYS) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_messages(item, inside=inside) for item in value]
    return value
