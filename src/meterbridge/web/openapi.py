"""The API's OpenAPI document without a running server (docs/openapi.json, and its test)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meterbridge import runtime
from meterbridge.settings import Settings
from meterbridge.web.app import create_app


def document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        ctx = runtime.build_context(settings, clock=lambda: datetime.now(UTC))
        try:
            spec: dict[str, Any] = create_app(ctx, settings).openapi()
        finally:
            ctx.db.dispose()
    return spec
