"""A site lost in a run: what its workloads ask of the surviving stores and clusters over
the outage, and the switch of their new data and compute there and back.  Which copy
serves what, and whether that is RTO 0, is the model's rule (``capacity.model.failover``).

While the site is down, tiering does not act on its stores and nothing drains the copies
that took over: the survivors must hold the whole outage's new data.  When the site is
back, what its workloads wrote to the copies meanwhile goes back to their own stores (a GAD
or replica resync), so the pairs are as they were.
"""

from __future__ import annotations

from collections.abc import Iterable

from capacity.model.failover import Failover, failover
from capacity.sim.results import Need, Outcome, SiteLoss
from capacity.sim.twin import Store, Twin, WorkloadState
from capacity.sim.workloads import apportion
from capacity.sizing.hci import size_cluster


def plans(twin: Twin, site: str) -> list[Failover]:
    """How each workload with data or compute at ``site`` carries on if it goes today."""
    models = {name: state.model for name, state in twin.workloads.items()}
    waiting = set(twin.inventory.replications) - twin.begun
    found = (failover(twin.inventory, name, site, twin.date(), extra=state.extra_places,
                      workloads=models, waiting=waiting)
             for name, state in twin.workloads.items())
    return [f for f in found if f is not None]


def assess(twin: Twin, site: str, days: int,
           lost: list[Failover] | None = None) -> SiteLoss:
    """The site lost today for ``days``: what each affected workload lacks (``lost``: its
    ``plans``, if already made)."""
    day = twin.day
    lost = plans(twin, site) if lost is None else lost
    stores = _store_needs(twin, site, lost, day, days)
    clusters = _cluster_needs(twin, lost, day)
    short: dict[str, list[int]] = {f.workload: [0, 0, 0, 0] for f in lost}
    for need, taking in (*stores, *clusters):
        at = 0 if len(need.asked) == 1 else 1  # bytes; or vCPU, RAM, GPUs
        for i, missing in enumerate(need.short):
            _share(short, {n: float(asked[i]) for n, asked in taking.items()}, missing, at + i)
    outcomes = tuple(Outcome(f.workload, f.available, f.rto_zero, f.rpo_days, f.why(),
                             f.writes_to, f.compute_to, *short[f.workload]) for f in lost)
    return SiteLoss(site, twin.date(), days, outcomes, tuple(n for n, _ in stores),
                    tuple(n for n, _ in clusters))


Taking = dict[str, tuple[int, ...]]
"""Per workload taken over: what it asks of the resource."""


def _share(short: dict[str, list[int]], weights: dict[str, float], missing: int,
           at: int) -> None:
    """What a resource lacks, shared among the workloads it takes over by what they ask."""
    if missing <= 0 or not sum(weights.values()):
        return
    for name, part in zip(weights, apportion(missing, list(weights.values())), strict=True):
        short[name][at] += part


def _store_needs(twin: Twin, site: str, lost: list[Failover], day: int,
                 days: int) -> list[tuple[Need, Taking]]:
    """Each store that takes over some workload's new data: all the new data written to it
    over the outage (its own workloads' too) against its free room."""
    redirected = {f.workload: f.writes_to for f in lost if f.writes_to is not None}

    def lands(state: WorkloadState) -> str | None:
        if state.name in redirected:
            return redirected[state.name]
        own = state.model.lands_on
        return None if twin.stores[own].site == site else own

    found: list[tuple[Need, Taking]] = []
    for ref in dict.fromkeys(redirected.values()):
        assert ref is not None
        # The site goes after today's ingest: the copies take the next ``days`` days'.
        asked = {s.name: sum(s.bytes_on(d) for d in range(day + 1, day + 1 + days))
                 for s in twin.workloads.values() if lands(s) == ref}
        if not any(asked.values()):
            continue  # nothing new lands there (an archive only tiering fills)
        need = Need(ref, (sum(asked.values()),), (_room_without(twin.stores[ref], site),))
        found.append((need, {n: (b,) for n, b in asked.items() if n in redirected}))
    return found


def _room_without(store: Store, site: str) -> int:
    """What ``store`` can still take with ``site`` down: a mirror there no longer counts."""
    if store.offline or store.site == site:
        return 0
    free = store.capacity - store.used
    for mirror in store.mirrored_by:
        if mirror.site != site and not mirror.offline:
            free = min(free, mirror.capacity - mirror.used)
    return max(0, free)


def _cluster_needs(twin: Twin, lost: list[Failover], day: int) -> list[tuple[Need, Taking]]:
    """Each cluster that takes over some workload's compute: all it then runs against
    what it gives."""
    moved = {f.workload: f.compute_to for f in lost if f.compute_to is not None}
    found = []
    for name in dict.fromkeys(moved.values()):
        asked = [0, 0, 0]
        taking: Taking = {}
        for state in twin.workloads.values():
            wants = state.compute_on(day)
            if wants is None or moved.get(state.name, state.cluster_now()) != name:
                continue
            asked = [a + w for a, w in zip(asked, wants, strict=True)]
            if state.name in moved:
                taking[state.name] = wants
        offered = (0, 0, 0) if twin.stores[name].offline else twin.compute[name]
        need = Need(name, tuple(asked), tuple(offered))
        if any(need.short):
            need = Need(name, need.asked, need.offered, _more_nodes(twin, name, need.asked))
        found.append((need, taking))
    return found


MOST_NODES = 64
"""A cluster is not grown past this many nodes to carry a failover (vSAN and most HCI
clusters stop at 64)."""


def _more_nodes(twin: Twin, name: str, asked: tuple[int, ...]) -> int | None:
    """The fewest nodes added to ``name`` that give all it is asked (None: not within
    ``MOST_NODES``)."""
    cluster = twin.clusters[name]
    for more in range(1, MOST_NODES - cluster.nodes + 1):
        grown = cluster.model_copy(update={"nodes": cluster.nodes + more})
        inv = twin.inventory.model_copy(update={"clusters": {**twin.inventory.clusters,
                                                             name: grown}})
        sized = size_cluster(inv, name)
        if all(a <= o for a, o in zip(asked, (sized.vcpu, sized.ram, sized.gpus),
                                      strict=True)):
            return more
    return None


def fail_over(twin: Twin, lost: Iterable[Failover]) -> list[WorkloadState]:
    """Send each workload's new data and compute to where its failover says; returns the
    workloads switched."""
    switched = []
    for f in lost:
        state = twin.workloads[f.workload]
        if f.writes_to is not None:
            state.writes_to = twin.stores[f.writes_to]
        if f.compute_to is not None:
            state.compute_at = f.compute_to
        if f.writes_to is not None or f.compute_to is not None:
            switched.append(state)
    twin.reconfigured += 1  # compute demand moved
    return switched


def fail_back(twin: Twin, switched: Iterable[WorkloadState], since: int) -> int:
    """The site is back: what each workload wrote to the copy since day ``since`` goes back
    to its own store (as far as it fits: the rest stays on the copy, counted there); its
    compute goes home.  Returns the bytes moved back."""
    back = 0
    for state in switched:
        away, home = state.writes_to, twin.stores[state.model.lands_on]
        if away is not None:
            for birth, part in away.take_since(state.name, since):
                placed = home.add(state.name, birth, part)
                away.add(state.name, birth, part - placed)
                back += placed
            if state.held_away:
                away.own -= state.held_away
                placed = home.hold(state.held_away)
                away.own += state.held_away - placed
                back += placed
        state.writes_to, state.held_away, state.compute_at = None, 0, None
    twin.reconfigured += 1
    return back


__all__ = ["assess", "fail_back", "fail_over", "plans"]
