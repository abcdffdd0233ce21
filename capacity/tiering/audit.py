"""The append-only audit log: one JSON line per action the engine takes on a host, with the
checksums it verified.  Each line is flushed and fsynced before the action is reported."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from capacity import jsontext

REFUSALS = ("hold", "retention", "object-lock")
"""Why the engine refused to delete a unit it was asked to expire (an audit line's
``refused``): a legal or clinical hold of the policy reaches it, it is within the policy's
retention (both judged again at apply time), or the archive's server keeps one of its
objects (an Object Lock retention or legal hold).  The reasons of the exporter's
``capacity_tier_refused_total``."""


class AuditLog:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: every write lands at the end, even with several writers.
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def write(self, **record: Any) -> None:
        self.write_many([record])

    def write_many(self, records: list[dict[str, Any]]) -> None:
        """Append the records, flushed to disk once for all of them."""
        ts = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        lines = "".join(jsontext.dumps({"ts": ts, **r}, default=str) + "\n" for r in records)
        data = lines.encode("utf-8")
        while data:  # a write to a regular file is whole unless the disk is full
            data = data[os.write(self.fd, data):]
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)
