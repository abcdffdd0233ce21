"""The state folder's JSON-lines logs, read as they grow: the audit log (``audit.jsonl``:
the refusals the engine wrote there) and the runs ledger (``runs.jsonl``,
:mod:`capacity.schedule.ledger`).

Each is folded line by line, and a refresh reads only the lines appended since the last
(complete lines: one being written waits for the next refresh), so a year of audit lines
costs one read.  A log that shrank or was replaced (rotated) is read again from its start,
its counters starting over, which Prometheus takes as a counter reset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from capacity.schedule.ledger import Ledger


class Fold(Protocol):
    def add(self, line: dict[str, Any]) -> None: ...


F = TypeVar("F", bound=Fold)


class Tail(Generic[F]):
    """A log at ``path`` folded into ``make()``'s state, line by line, as it grows."""

    def __init__(self, path: Path, make: Callable[[], F]):
        self.path = path
        self.make = make
        self.state = make()
        self._offset = 0
        self._inode: int | None = None

    def read(self) -> F:
        """The state after every complete line the log holds now (a log not there: none)."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_ino != self._inode or st.st_size < self._offset:
                    self.state, self._offset, self._inode = self.make(), 0, st.st_ino
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            self.state, self._offset, self._inode = self.make(), 0, None
            return self.state
        complete = data[:data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for raw in complete.splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # a damaged line says nothing; the others still count
            if isinstance(line, dict):
                self.state.add(line)
        return self.state


@dataclass
class Refusals:
    """Units the engine refused to delete, from the audit log: (policy, host, reason) ->
    count.  Only lines with ``refused`` (written since the engine names the reason)."""

    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def add(self, line: dict[str, Any]) -> None:
        reason = line.get("refused")
        if reason:
            key = (str(line.get("policy", "")), str(line.get("host", "")), str(reason))
            self.counts[key] = self.counts.get(key, 0) + 1


@dataclass
class StateLogs:
    """The audit log and the runs ledger of one state folder, tailed."""

    audit: Tail[Refusals]
    runs: Tail[Ledger]

    @classmethod
    def of(cls, audit: Path, runs: Path) -> StateLogs:
        return cls(Tail(audit, Refusals), Tail(runs, Ledger))
