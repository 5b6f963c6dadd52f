"""A mailer that keeps what it is given: for pure tests and the demo (nothing leaves the process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from meterbridge.mail.message import MailError, Message


@dataclass
class Outbox:
    sender: str = "meterbridge@localhost"
    sent: list[Message] = field(default_factory=list)
    #: the next this many sends fail, as an unreachable server would
    failing: int = 0

    async def send(self, message: Message) -> None:
        if self.failing > 0:
            self.failing -= 1
            raise MailError("the mail server did not answer (the outbox was told to fail)")
        self.sent.append(message)
