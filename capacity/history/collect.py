"""``capacity collect``: what the estate really holds, read from where it is, as readings for
the usage history (:mod:`capacity.history.store`).

One small function per source, each returning the readings it could make and the failures
it met (a host, server or array that could not be read fails its own resources only):

* ``ssh``: the file system of each host tier's root, over SSH (the transport's
  ``free_space``: statvfs, else ``df``): resource ``HOST:TIER``.  What fills the disk.
* ``catalogue``: the bytes of the files the last scan of each tier found (what ``tier du``
  reports): resource ``HOST:TIER:catalogue``, on the day of that scan.  What the policies
  move; a file system may hold more (other folders, the OS, snapshots).
* ``prometheus``: node_exporter's file system series, for the host tiers the inventory's
  ``collect.prometheus`` maps: resource ``HOST:TIER`` (those tiers are not read over SSH).
* ``array``: each declared pool of each array with a ``rest:`` entry: resource
  ``ARRAY/POOL``.

Used bytes are the same quantity from every file system source: size less free blocks
(``df``'s "Used", root's reserve counted as room), capacity the file system's size.  This
module reads; the transports touch the hosts; nothing is written here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from capacity.errors import BadInput, CapacityError
from capacity.history.store import Reading

if TYPE_CHECKING:
    from capacity.model import Inventory
    from capacity.transports import Transport
    from capacity.transports.vsp import Credentials

SOURCES = ("ssh", "catalogue", "prometheus", "array")
"""Every source, in the order a run reads them."""


@dataclass(frozen=True, slots=True)
class Failure:
    """What a source could not read, and why; ``exit_status`` as the error's (1 host
    trouble, 2 bad input such as refused credentials)."""

    source: str
    what: str
    """The resources it leaves out (a host's tiers, an array, one resource)."""
    message: str
    exit_status: int = 1


@dataclass
class Collected:
    readings: list[Reading] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def add(self, other: Collected) -> None:
        self.readings += other.readings
        self.failures += other.failures


def now() -> str:
    """The ISO 8601 instant of a reading, UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _failure(source: str, what: str, exc: CapacityError) -> Failure:
    return Failure(source, what, str(exc) or type(exc).__name__, exc.exit_status)


# --------------------------------------------------------------------------- which sources


def possible(inv: Inventory, catalogue: Path) -> dict[str, str | None]:
    """Each source -> None when this inventory (and state folder) makes it possible, else
    why not."""
    return {
        "ssh": None if _ssh_tiers(inv) else "no host of the inventory has a file tier"
                                            " that collect.prometheus does not map",
        "catalogue": None if catalogue.exists() else f"no catalogue at {catalogue} (`capacity"
                                                     " tier scan` makes it)",
        "prometheus": None if inv.collect.prometheus else "the inventory has no"
                                                          " collect.prometheus",
        "array": None if any(a.rest for a in inv.arrays.values()) else "no array of the"
                                                                       " inventory has rest:",
    }


def choose(inv: Inventory, catalogue: Path, asked: Iterable[str] | None) -> list[str]:
    """The sources to read: those asked for (each must be possible: else bad input), or
    every possible one."""
    why_not = possible(inv, catalogue)
    if not asked:
        return [s for s in SOURCES if why_not[s] is None]
    asked = list(dict.fromkeys(asked))
    for source in asked:
        if source not in why_not:
            raise BadInput(f"no source {source!r} (sources: {', '.join(SOURCES)})",
                           field="--source")
        if why_not[source] is not None:
            raise BadInput(f"cannot collect from {source}: {why_not[source]}",
                           field="--source")
    return [s for s in SOURCES if s in asked]


# --------------------------------------------------------------------------- ssh


def _mapped(inv: Inventory) -> set[str]:
    """Host tiers collect.prometheus reads (so SSH does not)."""
    source = inv.collect.prometheus
    return {fs.resource for fs in source.filesystems} if source is not None else set()


def _ssh_tiers(inv: Inventory) -> dict[str, dict[str, str]]:
    """Host -> its file tiers (name -> root) to read over SSH, in inventory order."""
    mapped = _mapped(inv)
    found: dict[str, dict[str, str]] = {}
    for name, host in inv.hosts.items():
        tiers = {t: spec.path for t, spec in host.tiers.items()
                 if spec.bucket is None and f"{name}:{t}" not in mapped}
        if tiers:
            found[name] = tiers
    return found


def from_ssh(inv: Inventory, day: date, *, trust_new_host_keys: bool = False) -> Collected:
    """The file system of each host tier's root, one connection per host."""
    from capacity.tiering.hosts import connect
    from capacity.transports import TransportError

    out = Collected()
    for name, tiers in _ssh_tiers(inv).items():
        host = Collected()
        try:
            with connect(inv.hosts[name], trust_on_first_use=trust_new_host_keys) as transport:
                _host_tiers(transport, name, tiers, day, host)
        except TransportError as exc:  # the host: unreachable, key refused, connection lost
            done = {r.resource for r in host.readings} | {f.what for f in host.failures}
            host.failures.append(_failure("ssh", ", ".join(
                f"{name}:{t}" for t in tiers if f"{name}:{t}" not in done), exc))
        out.add(host)
    return out


def _host_tiers(transport: Transport, host: str, tiers: dict[str, str], day: date,
                out: Collected) -> None:
    from capacity.transports import CommandFailed, NotFound, PermissionDenied

    for tier, root in tiers.items():
        resource = f"{host}:{tier}"
        try:
            space = transport.free_space(root)
        except (NotFound, PermissionDenied, CommandFailed) as exc:  # this root: not the others
            out.failures.append(_failure("ssh", resource, exc))
            continue
        out.readings.append(Reading(resource, day, space.used, space.total, "ssh", now()))


# --------------------------------------------------------------------------- catalogue


def from_catalogue(inv: Inventory, path: Path) -> Collected:
    """What the last scan of each host tier found (the bytes of its files, as ``tier du``
    adds them up), on the day that scan finished; tiers never scanned give nothing."""
    from capacity.tiering.catalog import Catalogue
    from capacity.tiering.usage import Usage, by_tier, by_unit, unit_depth

    out = Collected()
    with Catalogue(path) as catalogue:
        for name, host in inv.hosts.items():
            for tier in host.tiers:
                scan = catalogue.last_scan(name, tier)
                if scan is None or scan.finished is None:
                    continue
                units = by_unit(catalogue.files(name, tier), unit_depth(inv, name))
                total = by_tier(units).get((name, tier), Usage(name, tier, None))
                finished = datetime.fromtimestamp(scan.finished, UTC)
                out.readings.append(Reading(
                    f"{name}:{tier}:catalogue", finished.astimezone().date(), total.bytes,
                    None, "catalogue", finished.isoformat(timespec="seconds")))
    return out


# --------------------------------------------------------------------------- prometheus

FILESYSTEM_METRICS = ("node_filesystem_size_bytes", "node_filesystem_free_bytes")


def from_prometheus(inv: Inventory, day: date, *, timeout: float = 30.0) -> Collected:
    """Each file system of collect.prometheus, from node_exporter's latest samples: used
    is size less free (as over SSH), capacity the size."""
    from capacity.transports import ConnectionLost, TransportError
    from capacity.transports.prometheus import PrometheusClient, label_matcher

    source = inv.collect.prometheus
    assert source is not None, "choose() only picks a possible source"
    out = Collected()
    try:
        client = PrometheusClient(source.url, ca_bundle=source.ca_bundle, timeout=timeout)
    except TransportError as exc:
        out.failures.append(_failure("prometheus", source.url, exc))
        return out
    for i, fs in enumerate(source.filesystems):
        expr = (f'{{__name__=~"{"|".join(FILESYSTEM_METRICS)}",'
                f'instance={label_matcher(fs.instance)},'
                f'mountpoint={label_matcher(fs.mountpoint)}}}')
        try:
            samples = client.query(expr)
        except ConnectionLost as exc:  # the server: none of the rest can be read either
            out.failures.append(_failure("prometheus", ", ".join(
                f.resource for f in source.filesystems[i:]), exc))
            break
        except TransportError as exc:
            out.failures.append(_failure("prometheus", fs.resource, exc))
            continue
        values: dict[str, set[int]] = {m: set() for m in FILESYSTEM_METRICS}
        taken = 0.0
        for sample in samples:
            values[sample.labels.get("__name__", "")].add(int(sample.value))
            taken = max(taken, sample.timestamp)
        missing = [m for m, v in values.items() if not v]
        if missing:
            out.failures.append(Failure(
                "prometheus", fs.resource,
                f"{client.host}: no {' or '.join(missing)} for instance={fs.instance!r}"
                f" mountpoint={fs.mountpoint!r} (is node_exporter scraped there, with its"
                " filesystem collector, and is this the instance label?)"))
            continue
        ambiguous = [m for m, v in values.items() if len(v) > 1]
        if ambiguous:
            out.failures.append(Failure(
                "prometheus", fs.resource,
                f"{client.host}: several file systems differ at instance={fs.instance!r}"
                f" mountpoint={fs.mountpoint!r} ({', '.join(ambiguous)})"))
            continue
        (size,), (free,) = (values[m] for m in FILESYSTEM_METRICS)
        at = datetime.fromtimestamp(taken, UTC).isoformat(timespec="seconds")
        out.readings.append(Reading(fs.resource, day, size - free, size, "prometheus", at))
    return out


# --------------------------------------------------------------------------- arrays


def from_arrays(inv: Inventory, day: date, creds: Credentials, *,
                timeout: float = 30.0) -> Collected:
    """Each declared pool of each array with a ``rest:`` entry, as the array reports it
    (matched as ``capacity array show`` matches: by pool_id, else by name)."""
    from capacity.arrays import find_pool
    from capacity.transports.vsp import VspClient

    out = Collected()
    for name, array in inv.arrays.items():
        if array.rest is None:
            continue
        rest = array.rest
        try:
            with VspClient(rest.endpoint, creds, storage_device_id=rest.storage_device_id,
                           ca_bundle=Path(rest.ca_bundle) if rest.ca_bundle else None,
                           timeout=timeout) as client:
                live = tuple(client.pools())
        except CapacityError as exc:
            out.failures.append(_failure("array", ", ".join(
                f"{name}/{p}" for p in array.pools), exc))
            continue
        at = now()
        for pool_name, pool in array.pools.items():
            found = find_pool(live, pool_name, pool)
            resource = f"{name}/{pool_name}"
            if found is None:
                how = (f"poolId {pool.pool_id}" if pool.pool_id is not None
                       else f"poolName {pool_name}")
                out.failures.append(Failure("array", resource,
                                            f"{rest.endpoint}: the array has no pool with"
                                            f" {how}"))
                continue
            out.readings.append(Reading(resource, day, found.used_bytes, found.total_bytes,
                                        "array", at))
    return out


# --------------------------------------------------------------------------- a run


def collect(inv: Inventory, sources: Iterable[str], day: date, *, catalogue: Path,
            credentials: Credentials | None = None, timeout: float = 30.0,
            trust_new_host_keys: bool = False) -> Collected:
    """Every reading the chosen sources give, and every failure, in :data:`SOURCES`
    order (``credentials``: for the arrays, needed when ``array`` is among them)."""
    out = Collected()
    for source in sources:
        if source == "ssh":
            out.add(from_ssh(inv, day, trust_new_host_keys=trust_new_host_keys))
        elif source == "catalogue":
            out.add(from_catalogue(inv, catalogue))
        elif source == "prometheus":
            out.add(from_prometheus(inv, day, timeout=timeout))
        elif source == "array":
            assert credentials is not None, "the arrays' credentials"
            out.add(from_arrays(inv, day, credentials, timeout=timeout))
    return out
