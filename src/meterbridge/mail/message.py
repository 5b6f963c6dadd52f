"""What the mail port sends, and how it fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class MailError(Exception):
    """The message could not be handed to the mail server (the reason says why); retry later."""


@dataclass(frozen=True)
class Message:
    to: tuple[str, ...]
    subject: str
    text: str


class Mailer(Protocol):
    #: who the messages come from, as their From header says
    sender: str

    async def send(self, message: Message) -> None:
        """Hand ``message`` to the mail server, or raise MailError."""
