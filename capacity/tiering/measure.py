"""What a plan reads before it chooses: the last finished scan of each tier its rules take
units from, and the fill of each tier a watermark triggers on (``statvfs`` over the host's
transport: read-only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import groupby
from pathlib import Path
from typing import Any

from capacity.errors import HostTrouble, JobFailed
from capacity.model import Inventory
from capacity.tiering.catalog import Catalogue
from capacity.tiering.hosts import connect
from capacity.tiering.records import TierUsage

SCAN_FIRST = "scan first: capacity tier scan"


class NotScanned(JobFailed):
    """A tier a plan reads has no scan to read, or one of another root."""


def last_scans(catalogue_path: Path, inv: Inventory,
               pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The last finished scan of each (host, tier): root, when (UTC ISO 8601), files and
    bytes.  NotScanned names every tier never scanned or scanned at another root (its paths
    would point elsewhere).  Never creates the catalogue."""
    if not pairs:
        return []
    if not catalogue_path.exists():  # opening it would create it: planning writes nothing
        raise NotScanned(f"no catalogue at {catalogue_path}: {SCAN_FIRST}")
    found, problems = [], []
    with Catalogue(catalogue_path) as catalogue:
        for host, tier in pairs:
            scan = catalogue.last_scan(host, tier)
            root = inv.hosts[host].tiers[tier].path
            if scan is None:
                problems.append(f"{host}/{tier} was never scanned")
            elif scan.root != root:
                problems.append(f"{host}/{tier} was scanned at {scan.root}, but its root is now"
                                f" {root}")
            else:
                finished = dt.datetime.fromtimestamp(scan.finished or 0, dt.UTC)
                found.append({"host": host, "tier": tier, "root": root,
                              "finished": finished.isoformat(), "files": scan.files,
                              "bytes": scan.bytes})
    if problems:
        raise NotScanned("; ".join(problems) + f": {SCAN_FIRST}")
    return found


def measure_tiers(inv: Inventory, pairs: Iterable[tuple[str, str]],
                  trust: bool) -> dict[tuple[str, str], TierUsage]:
    """Fill of each (host, tier), one connection per host; HostTrouble names the first host
    or tier that cannot be measured."""
    usage: dict[tuple[str, str], TierUsage] = {}
    for host_name, group in groupby(sorted(pairs), key=lambda p: p[0]):
        host = inv.hosts[host_name]
        tier = root = ""
        try:
            with connect(host, trust_on_first_use=trust) as transport:
                for _, tier in group:
                    root = host.tiers[tier].path
                    space = transport.free_space(root)
                    usage[(host_name, tier)] = TierUsage(host_name, tier, root, space.total,
                                                         space.used)
        except (OSError, ValueError) as exc:
            where = f"{host_name}/{tier} ({root})" if tier else host_name
            raise HostTrouble(f"cannot measure {where}: {exc}; --offline plans without"
                              " measuring (triggered move rules then plan nothing)") from None
    return usage
