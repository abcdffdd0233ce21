"""``tier du``: what each host's tiers hold, per unit, from the catalogue (pure, no I/O).

A unit is what a policy moves whole (``Grouping.unit_of``): with PACS studies stored as
ROOT/YYYY/MM/STUDY/, depth 3 makes each study a unit, depth 1 each year.  Directories are
not counted (their own size says nothing of what they hold), symlinks are counted apart
(the stubs a move may leave behind hold no data).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from capacity.model import Inventory
from capacity.model.policy import Grouping
from capacity.tiering.records import FileRecord

#: Unit depth for hosts that no policy names: one unit per top-level directory.
DEFAULT_DEPTH = 1


@dataclass(frozen=True, slots=True)
class Usage:
    """Files (and bytes) of one unit, or of a whole tier when ``unit`` is None.

    ``oldest``/``newest`` are the smallest and largest mtime of its files (POSIX seconds),
    None when it holds no file.
    """

    host: str
    tier: str
    unit: str | None
    files: int = 0
    bytes: int = 0
    links: int = 0
    oldest: float | None = None
    newest: float | None = None

    def plus(self, other: Usage) -> Usage:
        return replace(self, files=self.files + other.files, bytes=self.bytes + other.bytes,
                       links=self.links + other.links, oldest=_min(self.oldest, other.oldest),
                       newest=_max(self.newest, other.newest))


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def unit_depth(inventory: Inventory, host: str) -> int:
    """The depth of the first policy naming ``host`` (the one whose units it moves), else
    :data:`DEFAULT_DEPTH`."""
    for policy in inventory.policies.values():
        if host in policy.hosts:
            return policy.unit.depth
    return DEFAULT_DEPTH


@dataclass(slots=True)
class _Tally:
    files: int = 0
    bytes: int = 0
    links: int = 0
    oldest: float | None = None
    newest: float | None = None

    def add(self, record: FileRecord) -> None:
        if record.kind == "l":
            self.links += 1
            return
        self.files += 1
        self.bytes += record.size
        self.oldest = _min(self.oldest, record.mtime)
        self.newest = _max(self.newest, record.mtime)


def by_unit(records: Iterable[FileRecord], depth: int) -> list[Usage]:
    """Usage per (host, tier, unit), largest first (then by host, tier and unit)."""
    grouping = Grouping(depth=depth)
    found: dict[tuple[str, str, str], _Tally] = {}
    for r in records:
        if r.kind != "d":
            key = (r.host, r.tier, grouping.unit_of(r.path))
            tally = found.get(key)
            if tally is None:
                tally = found[key] = _Tally()
            tally.add(r)
    units = [Usage(host, tier, unit, t.files, t.bytes, t.links, t.oldest, t.newest)
             for (host, tier, unit), t in found.items()]
    units.sort(key=lambda u: (-u.bytes, u.host, u.tier, u.unit))
    return units


def by_tier(units: Iterable[Usage]) -> dict[tuple[str, str], Usage]:
    """Totals per (host, tier) of :func:`by_unit`'s rows, keyed by (host, tier)."""
    totals: dict[tuple[str, str], Usage] = {}
    for u in units:
        key = (u.host, u.tier)
        total = totals.get(key) or Usage(u.host, u.tier, None)
        totals[key] = total.plus(replace(u, unit=None))
    return totals
