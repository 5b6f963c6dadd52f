"""The outbound guard as the tests run it: cwsim, vendorsim, the webhook and SMTP receivers all
listen on loopback, which an operator allow-lists for development (meterbridge/outbound.py)."""

from __future__ import annotations

from meterbridge.outbound import OutboundGuard

ALLOWED = "127.0.0.0/8,::1"
LOOPBACK = OutboundGuard.parse(ALLOWED)
