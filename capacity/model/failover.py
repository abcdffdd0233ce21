"""How a workload carries on when its site is lost: which copy serves each store of its
data, where its new data lands, which cluster runs its compute, and whether that is RTO 0.

One rule for the simulator's ``fail_site`` and for ``capacity dr-check``:

- A GAD pair is active-active: the surviving volume serves at once (RTO 0, RPO 0), unless
  its quorum disk was at the lost site (the pair suspends; it is brought up by hand).
- An application that runs at both sites (a workload's ``partner``) carries on there: the
  partner holds the data and takes the lost half's load on its own cluster (RTO 0).
- An object store's replica is read at the other end at once (HCP and S3 replication
  serve both ends): RTO 0, but what the lag had not yet copied waits for the site (RPO).
- A sync or async copy of a pool or cluster is promoted and the VMs restart on the
  cluster that holds it: RPO 0 (sync) or the lag, RTO of a restart (minutes), not 0.
- A backup is restored: RTO hours to days.  No copy at all: the data waits for the site.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from capacity.model.demand import Replication, Workload
from capacity.model.inventory import Inventory

Mode = Literal["active-active", "promote", "restore", "none"]

_RANK = {"gad": 0, "sync": 1, "async": 2, "backup": 3}


@dataclass(frozen=True)
class Path:
    """How one store of a workload's data at the lost site is served meanwhile."""

    store: str
    """The store at the lost site."""
    to: str | None
    """The store that serves its data instead (None: none does)."""
    via: str
    """The replication, or 'partner NAME'; '' when there is no copy."""
    mode: Mode
    rpo_days: int | None
    """Days of data the copy may lack (0: none); None for a restore or no copy."""
    note: str = ""


@dataclass(frozen=True)
class Failover:
    """A workload when one site is lost."""

    workload: str
    site: str
    paths: tuple[Path, ...]
    """One per store of its data at the lost site."""
    writes_to: str | None
    """Where its new data lands meanwhile: where the copy of its landing store is, or None
    (it does not land at the lost site, or nothing can take it)."""
    compute_from: str | None
    """Its cluster at the lost site (None: its compute is elsewhere, or it has none)."""
    compute_to: str | None
    """The cluster that runs its compute meanwhile (None: none at another site)."""
    partner: str | None = None
    """The other half of its application, already running at another site."""

    @property
    def available(self) -> bool:
        """Its data is served and its compute has somewhere to run."""
        return (all(p.mode in ("active-active", "promote") for p in self.paths)
                and (self.compute_from is None or self.compute_to is not None))

    @property
    def restart(self) -> bool:
        """Its VMs start again elsewhere (its partner is not already running them)."""
        return self.compute_from is not None and self.partner is None

    @property
    def rto_zero(self) -> bool:
        """Service carries on without a restart or a restore."""
        return (self.available and all(p.mode == "active-active" for p in self.paths)
                and not self.restart)

    @property
    def rpo_days(self) -> int | None:
        days = [p.rpo_days for p in self.paths]
        return None if None in days else max((d for d in days if d is not None), default=0)

    def why(self) -> str:
        """The reason for its RTO, in a few words."""
        lost = [p for p in self.paths if p.mode in ("restore", "none")]
        if lost:
            p = lost[0]
            return (f"{p.store} has only a backup ({p.via}): a restore, not RTO 0"
                    if p.mode == "restore" else f"{p.store} has no copy at another site")
        if self.compute_from is not None and self.compute_to is None:
            return f"no cluster at another site takes its compute from {self.compute_from}"
        promoted = [p for p in self.paths if p.mode == "promote"]
        if promoted or self.restart:
            said = [f"{p.via} ({p.store}) is promoted{p.note}" for p in promoted]
            if self.restart:
                said.append(f"its VMs restart on {self.compute_to}")
            return "; ".join(said)
        kinds = sorted({p.via for p in self.paths})
        return "active-active: " + ", ".join(kinds) if kinds else "active-active"


def partner_of(workloads: Mapping[str, Workload], name: str) -> str | None:
    """The other half of an active-active application (``partner``, said on either side)."""
    own = workloads[name].partner
    if own is not None:
        return own
    return next((other for other, wl in workloads.items() if wl.partner == name), None)


def data_stores(inv: Inventory, wl: Workload) -> list[str]:
    """Where a workload's data sits: where it lands and where its policy moves it."""
    found = [wl.lands_on]
    if wl.policy is not None and wl.policy in inv.policies:
        found += [r.target for r in inv.routes(inv.policies[wl.policy]) if r.target]
    return list(dict.fromkeys(found))


def running(name: str, rep: Replication, on: dt.date,
            waiting: Collection[str] | None = None) -> bool:
    """Whether a copy is there on ``on``: its start has come; one that starts after a
    migration wave only if a run says so (``waiting``: the copies a run has not started)."""
    if rep.start is not None and rep.start > on:
        return False
    return rep.start_after is None if waiting is None else name not in waiting


def copy_of(inv: Inventory, store: str, lost: str, on: dt.date,
            waiting: Collection[str] | None = None) -> tuple[str, Replication] | None:
    """The best copy of ``store`` outside the lost site running on ``on`` (see
    ``running``): GAD (either end), then sync, async (shortest lag), backup."""
    found = []
    for name, rep in inv.replications.items():
        if not running(name, rep, on, waiting):
            continue
        other = rep.target if rep.source == store else (
            rep.source if rep.target == store and rep.kind == "gad" else None)
        resource = inv.resource(other) if other is not None else None
        if resource is not None and resource.site != lost:
            found.append(((_RANK[rep.kind], rep.lag, name), name, rep))
    if not found:
        return None
    _, name, rep = min(found, key=lambda f: f[0])
    return name, rep


def _path(inv: Inventory, workloads: Mapping[str, Workload], store: str, lost: str,
          on: dt.date, partner: str | None, waiting: Collection[str] | None) -> Path:
    if partner is not None:
        return Path(store, workloads[partner].lands_on, f"partner {partner}",
                    "active-active", 0)
    found = copy_of(inv, store, lost, on, waiting)
    if found is None:
        return Path(store, None, "", "none", None)
    name, rep = found
    there = rep.target if rep.source == store else rep.source
    if rep.kind == "backup":
        return Path(store, there, name, "restore", None)
    if rep.kind == "gad" and rep.quorum == lost:
        # The quorum disk went down with the site: the surviving array cannot tell a lost
        # site from a broken link, so it suspends the pair until it is brought up by hand.
        return Path(store, there, name, "promote", 0,
                    " by hand (its quorum disk was at the lost site)")
    resource = inv.resource(there)
    readable = rep.kind == "gad" or (resource is not None and resource.kind == "object_store")
    return Path(store, there, name, "active-active" if readable else "promote",
                rep.lag if rep.kind == "async" else 0)


def failover(inv: Inventory, name: str, lost: str, on: dt.date, *,
             extra: Sequence[str] = (), workloads: Mapping[str, Workload] | None = None,
             waiting: Collection[str] | None = None) -> Failover | None:
    """How workload ``name`` carries on when site ``lost`` is down on ``on`` (None: nothing
    of it is there).  ``extra``: further stores its data sits on (a migration's target);
    ``workloads``: the estate's workloads, if more than the inventory's (a scenario's);
    ``waiting``: copies a run has not started (see ``running``)."""
    workloads = inv.workloads if workloads is None else workloads
    wl = workloads[name]
    site = {ref: r.site for ref in (*data_stores(inv, wl), *extra)
            if (r := inv.resource(ref)) is not None}
    partner = partner_of(workloads, name)
    if partner is not None:
        there = inv.resource(workloads[partner].lands_on)
        if there is None or there.site == lost:
            partner = None  # both halves are lost
    paths = tuple(_path(inv, workloads, ref, lost, on, partner, waiting)
                  for ref, where in site.items() if where == lost)
    compute_from = None
    if wl.compute is not None and inv.clusters[wl.compute.cluster].site == lost:
        compute_from = wl.compute.cluster
    if not paths and compute_from is None:
        return None
    landing = next((p for p in paths if p.store == wl.lands_on), None)
    writes_to = landing.to if landing is not None and landing.mode in (
        "active-active", "promote") else None
    compute_to = None
    if compute_from is not None:
        compute_to = _compute_to(inv, workloads, name, lost, partner, landing)
    return Failover(name, lost, paths, writes_to, compute_from, compute_to, partner)


def _compute_to(inv: Inventory, workloads: Mapping[str, Workload], name: str, lost: str,
                partner: str | None, landing: Path | None) -> str | None:
    compute = workloads[name].compute
    assert compute is not None
    candidates = [compute.failover]
    if partner is not None:
        other = workloads[partner].compute
        candidates.append(other.cluster if other is not None else None)
    if landing is not None and landing.to in inv.clusters:
        candidates.append(landing.to)
    return next((c for c in candidates if c is not None and c in inv.clusters
                 and inv.clusters[c].site != lost), None)


def failovers(inv: Inventory, lost: str, on: dt.date) -> list[Failover]:
    """Every workload with data or compute at the lost site, in inventory order."""
    found = (failover(inv, name, lost, on) for name in inv.workloads)
    return [f for f in found if f is not None]


__all__ = ["Failover", "Mode", "Path", "copy_of", "data_stores", "failover", "failovers",
           "partner_of", "running"]
