"""Mail over SMTP (the standard library's client, in a thread so the event loop keeps going)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from meterbridge.mail.message import MailError, Message


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True  # upgrade the connection with STARTTLS before anything is sent
    user: str | None = None
    password: str | None = None
    sender: str = "meterbridge@localhost"
    timeout: float = 30.0
    verify: ssl.SSLContext | None = None  # the TLS context STARTTLS uses (default: the system's trust)


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.sender = settings.sender

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: Message) -> None:
        s = self.settings
        email = EmailMessage()
        email["From"] = s.sender
        email["To"] = ", ".join(message.to)
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(domain=s.sender.rpartition("@")[2] or "meterbridge")
        email.set_content(message.text)
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                smtp.ehlo()
                if s.starttls:
                    smtp.starttls(context=s.verify or ssl.create_default_context())
                    smtp.ehlo()
                if s.user:
                    smtp.login(s.user, s.password or "")
                smtp.send_message(email)
        except smtplib.SMTPNotSupportedError:
            raise MailError(
                f"the mail server {s.host}:{s.port} does not offer STARTTLS (set MBRIDGE_SMTP_STARTTLS=false for "
                "a server that takes plain SMTP)"
            ) from None
        except smtplib.SMTPAuthenticationError as error:
            raise MailError(
                f"the mail server {s.host}:{s.port} refused the login {s.user!r}: {error.smtp_code}"
            ) from None
        except smtplib.SMTPRecipientsRefused as error:
            raise MailError(f"the mail server refused the recipients {', '.join(sorted(error.recipients))}") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as error:
            raise MailError(f"the mail server {s.host}:{s.port}: {type(error).__name__}: {error}") from None
