"""The request log and per-endpoint counters behind ``/_sim/requests`` and ``/_sim/counters``."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

_NUMBER_SEGMENT = re.compile(r"(?<=/)\d+(?=/|$)")


def path_template(api_path: str) -> str:
    """``finance/agreements/12/additions/7`` -> ``finance/agreements/{id}/additions/{id}``."""
    return _NUMBER_SEGMENT.sub("{id}", "/" + api_path)[1:]


@dataclass(frozen=True)
class LoggedRequest:
    seq: int
    at: str
    method: str
    path: str
    query: str
    status: int
    member: str | None
    duration_ms: float
    fault: str | None


class Traffic:
    def __init__(self, keep: int = 10_000) -> None:
        self._log: deque[LoggedRequest] = deque(maxlen=keep)
        self._counters: dict[tuple[str, str], dict[str, Any]] = {}
        self._seq = 0

    def record(
        self,
        *,
        at: str,
        method: str,
        path: str,
        query: str,
        status: int,
        member: str | None,
        duration_ms: float,
        fault: str | None,
    ) -> None:
        self._seq += 1
        self._log.append(LoggedRequest(self._seq, at, method, path, query, status, member, duration_ms, fault))
        counter = self._counters.setdefault((method, path_template(path)), {"count": 0, "statuses": {}})
        counter["count"] += 1
        statuses: dict[str, int] = counter["statuses"]
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        rows = list(self._log)
        if limit is not None:
            rows = rows[-limit:] if limit > 0 else []
        return [asdict(row) for row in rows]

    def counters(self) -> dict[str, Any]:
        endpoints = [
            {"method": method, "path": template, **value}
            for (method, template), value in sorted(self._counters.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ]
        return {"total": sum(e["count"] for e in endpoints), "endpoints": endpoints}

    def clear(self) -> None:
        self._log.clear()
        self._counters.clear()
