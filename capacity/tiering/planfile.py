"""The plan file: what ``tier plan`` chose and why, and exactly what ``tier apply`` executes.

A plan is reviewable JSON (like a Terraform plan).  Each unit lists the files it was planned
with (relative path, size, mtime), so apply can re-check the source before it touches
anything and skip a unit that changed since.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from capacity import jsontext
from capacity.tiering.records import TierUsage

FORMAT = "capacity-tier-plan"
VERSION = 1


@dataclass(frozen=True)
class UnitFile:
    path: str
    """Relative to the unit's tier root."""
    size: int
    mtime: float


@dataclass(frozen=True)
class PlannedUnit:
    """A unit (a file, or a PACS study directory that moves whole) and what to do with it."""

    policy: str
    host: str
    rule: str
    action: Literal["move", "copy", "expire", "tiering", "relocate"]
    source: str
    """Source tier name (its root is in ``Plan.roots``)."""
    target: str | None
    unit: str
    """Path of the unit relative to the source root: a study directory or a single file."""
    files: tuple[UnitFile, ...]
    bytes: int
    newest_mtime: float
    age_days: float
    reason: str
    """Why the rule chose it, in words ("older than 180d (412 days), oldest first")."""

    @property
    def id(self) -> str:
        """Stable identity of the unit's job: the same unit, rule and files give the same
        id, so applying a plan twice recognises what is done; the same study with late
        images in it later is a new job."""
        files = "\0".join(f"{f.path}\0{f.size}\0{f.mtime!r}" for f in self.files)
        if self.action == "relocate":  # each run's relocation is a job of its own
            files = repr(self.newest_mtime)
        key = "\0".join((self.host, self.source, self.target or "", self.unit, self.rule,
                         self.action, files))
        return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:20]


@dataclass(frozen=True)
class Skipped:
    """A unit a rule matched but the plan leaves alone, and why (held, under retention,
    watermark reached, cap reached)."""

    policy: str
    host: str
    rule: str
    unit: str
    bytes: int
    reason: str


@dataclass(frozen=True)
class Plan:
    inventory: str
    created: dt.datetime
    now: dt.datetime
    """The moment ages are measured from."""
    roots: dict[str, dict[str, str]]
    """host -> tier -> absolute root path, as in the inventory when planned."""
    units: tuple[PlannedUnit, ...]
    skipped: tuple[Skipped, ...] = ()
    usage: tuple[TierUsage, ...] = ()
    """Tier fill levels the watermarks were judged on."""
    extra: dict[str, Any] = field(default_factory=dict)
    digest: str = ""
    """sha256 of the inventory's hosts and policies it was made from (tiering.binding)."""

    def root(self, host: str, tier: str) -> str:
        return self.roots[host][tier]

    def to_json(self) -> str:
        data = {
            "format": FORMAT, "version": VERSION, "inventory": self.inventory,
            "digest": self.digest,
            "created": self.created.isoformat(), "now": self.now.isoformat(),
            "roots": self.roots,
            "units": [{**_plain(u), "id": u.id} for u in self.units],
            "skipped": [_plain(s) for s in self.skipped],
            "usage": [{**_plain(u), "fill_ratio": round(u.fill, 6)} for u in self.usage],
            **({"extra": self.extra} if self.extra else {}),
        }
        return jsontext.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} version {VERSION} file")
        units = []
        for u in data["units"]:
            files = tuple(UnitFile(f["path"], int(f["size"]), float(f["mtime"]))
                          for f in u["files"])
            unit = PlannedUnit(u["policy"], u["host"], u["rule"], u["action"], u["source"],
                               u["target"], u["unit"], files, int(u["bytes"]),
                               float(u["newest_mtime"]), float(u["age_days"]), u["reason"])
            if u.get("id") not in (None, unit.id):
                raise ValueError(f"unit {u['unit']!r}: its id does not match its content")
            units.append(unit)
        return cls(
            inventory=data["inventory"], created=dt.datetime.fromisoformat(data["created"]),
            now=dt.datetime.fromisoformat(data["now"]), roots=data["roots"],
            units=tuple(units),
            skipped=tuple(Skipped(**s) for s in data.get("skipped", [])),
            usage=tuple(TierUsage(**{k: v for k, v in u.items() if k != "fill_ratio"})
                        for u in data.get("usage", [])),
            extra=data.get("extra", {}), digest=str(data.get("digest", "")))

    @classmethod
    def read(cls, path: Path) -> Plan:
        return cls.from_json(path.read_text(encoding="utf-8", errors="surrogateescape"))


def _plain(obj: Any) -> dict[str, Any]:
    data = asdict(obj)
    if "files" in data:
        data["files"] = [asdict(f) if not isinstance(f, dict) else f for f in obj.files]
    return data
