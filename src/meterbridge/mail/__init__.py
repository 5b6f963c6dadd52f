"""The mail port: a message, a ``Mailer`` that sends it (``SmtpMailer`` over real SMTP, with
STARTTLS and a login when set), and ``Outbox``, a behavioural fake that keeps what it was given
(and can be told to fail). Imports nothing else of meterbridge."""

from meterbridge.mail.message import Mailer, MailError, Message
from meterbridge.mail.outbox import Outbox
from meterbridge.mail.smtp import SmtpMailer, SmtpSettings

__all__ = ["MailError", "Mailer", "Message", "Outbox", "SmtpMailer", "SmtpSettings"]
