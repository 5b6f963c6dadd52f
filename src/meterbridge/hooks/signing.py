"""Webhook signatures: ``sha256=HEX`` of HMAC-SHA256(secret, "TIMESTAMP." + body)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Meterbridge-Signature"
TIMESTAMP_HEADER = "X-Meterbridge-Timestamp"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: int, body: bytes, signature: str, *, now: float, tolerance: float = 300) -> bool:
    """Whether ``signature`` is the body's, made within ``tolerance`` seconds of ``now``."""
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
