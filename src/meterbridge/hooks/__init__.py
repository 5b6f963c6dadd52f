"""The webhook port: sign a body (HMAC-SHA256 over the timestamp and the body), POST it, and
say how it failed. Imports nothing else of meterbridge.

A receiver checks ``X-Meterbridge-Signature`` against ``sign(secret, timestamp, body)`` with the
``X-Meterbridge-Timestamp`` it got, and refuses a timestamp too far from its own clock (a replay).
"""

from meterbridge.hooks.sender import HookError, HookSender
from meterbridge.hooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "HookError", "HookSender", "sign", "verify"]
