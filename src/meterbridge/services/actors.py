"""Who did it: every change and every run records its actor (a user, an API token, a schedule)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ActorKind(StrEnum):
    USER = "user"  # a person: at the command line (their login name) or signed in to the console
    TOKEN = "token"  # noqa: S105 - a kind of actor, not a secret; an API token, by its name
    SCHEDULE = "schedule"  # a tenant's schedule, by its name
    SYSTEM = "system"  # meterbridge itself (migrations, the demo)


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"

    @property
    def trigger(self) -> str:
        """How a run it starts is recorded: manual, or automatic for a schedule."""
        return "automatic" if self.kind is ActorKind.SCHEDULE else "manual"

    @classmethod
    def user(cls, name: str) -> Actor:
        return cls(ActorKind.USER, name)

    @classmethod
    def schedule(cls, name: str) -> Actor:
        return cls(ActorKind.SCHEDULE, name)

    @classmethod
    def token(cls, name: str) -> Actor:
        return cls(ActorKind.TOKEN, name)

    @classmethod
    def system(cls, name: str = "meterbridge") -> Actor:
        return cls(ActorKind.SYSTEM, name)
