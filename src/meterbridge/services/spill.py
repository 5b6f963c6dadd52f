"""Lists put aside in a private temporary file and read back in order, one list at a time.

A push plans a chunk of customers at a time but may write only once the whole plan is known
(its checksum approved, its verdict given): the writes of the chunks planned so far wait here,
not in memory (a first push of 100,000 customers has 300,000 of them). The file is anonymous
(deleted when closed, or when the process dies), written and read by this process only; its
lists come back exactly as they were put, values and all, so the changes applied are the
changes approved (their digests recompute the same).
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Spill(Generic[T]):
    def __init__(self) -> None:
        self._file: Any = None  # made with the first list put
        self._parts: list[tuple[int, int]] = []  # (offset, size) of each list put
        self.count = 0  # items put, in every list

    def put(self, items: list[T]) -> None:
        if not items:
            return
        data = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="meterbridge-writes-")  # noqa: SIM115 - closed by close()
        self._file.seek(0, 2)
        self._parts.append((self._file.tell(), len(data)))
        self._file.write(data)
        self.count += len(items)

    def __iter__(self) -> Iterator[list[T]]:
        """The lists in the order they were put (each read when it is asked for)."""
        for offset, size in self._parts:
            self._file.seek(offset)
            items: list[T] = pickle.loads(self._file.read(size))  # noqa: S301 - this process's own file
            yield items

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
