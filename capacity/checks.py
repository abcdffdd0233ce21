"""Checks that need the whole inventory: references between parts, and physical limits
(drives against slots, rack units and power against a site's budget).

Each finding is a path into the inventory and a message; the loader turns the path into
FILE:LINE:COL.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from capacity.model import Inventory, Policy, Rule, Workload
from capacity.model.hardware import RaidLayout
from capacity.model.scenario import (
    AddNodes,
    AddWorkload,
    FailNode,
    FailSite,
    Migrate,
    ScaleDemand,
    Scenario,
    SetCompression,
    SetGrowth,
)
from capacity.problems import PathKey

Finding = tuple[PathKey, str]


def check_inventory(inv: Inventory) -> list[Finding]:
    """Every problem found; physical limits are checked only once references resolve."""
    findings = list(_references(inv))
    if not findings:
        findings += list(_limits(inv))
    return findings


def _missing(what: str, name: str, known: Iterable[str]) -> str:
    known = list(known)
    guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {guess[0]!r}?" if guess else (
        f" (known: {', '.join(known)})" if known and len(known) <= 8 else "")
    return f"no {what} named {name!r}{hint}"


def _ref(inv: Inventory, path: PathKey, ref: str, kinds: tuple[str, ...] = (
        "pool", "cluster", "object_store")) -> Iterator[Finding]:
    resource = inv.resource(ref)
    if resource is None:
        yield path, _missing("storage resource", ref, inv.resource_names())
    elif resource.kind not in kinds:
        yield path, f"{ref!r} is a {resource.kind.replace('_', ' ')}; expected a" \
                    f" {' or '.join(k.replace('_', ' ') for k in kinds)}"


def _references(inv: Inventory) -> Iterator[Finding]:
    cat = inv.catalog
    sites = inv.sites
    for name, cl in inv.clusters.items():
        at = ("clusters", name)
        if cl.site not in sites:
            yield (*at, "site"), _missing("site", cl.site, sites)
        if cl.node_model not in cat.nodes:
            yield (*at, "node_model"), _missing("node model", cl.node_model, cat.nodes)
        if cl.drives.drive not in cat.drives:
            yield (*at, "drives", "drive"), _missing("drive type", cl.drives.drive, cat.drives)
    for name, arr in inv.arrays.items():
        at = ("arrays", name)
        if arr.site not in sites:
            yield (*at, "site"), _missing("site", arr.site, sites)
        model = cat.arrays.get(arr.model)
        if model is None:
            yield (*at, "model"), _missing("array model", arr.model, cat.arrays)
        for pool_name, pool in arr.pools.items():
            for t, tier in enumerate(pool.tiers):
                for g, group in enumerate(tier.parity_groups):
                    gpath = (*at, "pools", pool_name, "tiers", t, "parity_groups", g)
                    if group.drive not in cat.drives:
                        yield (*gpath, "drive"), _missing("drive type", group.drive, cat.drives)
                    if model and group.raid not in {str(RaidLayout.parse(x))
                                                    for x in model.raid_layouts}:
                        yield (*gpath, "raid"), (f"{arr.model} does not build {group.raid}"
                                                 f" parity groups (it builds:"
                                                 f" {', '.join(model.raid_layouts)})")
    for name, store in inv.object_stores.items():
        if store.site not in sites:
            yield ("object_stores", name, "site"), _missing("site", store.site, sites)
    for name, rep in inv.replications.items():
        at = ("replications", name)
        kinds = ("pool",) if rep.kind in ("gad", "sync") else ("pool", "cluster",
                                                              "object_store")
        dangling = [*_ref(inv, (*at, "source"), rep.source),
                    *_ref(inv, (*at, "target"), rep.target, kinds)]
        yield from dangling
        if rep.source == rep.target:
            yield (*at, "target"), "a replication cannot copy a resource to itself"
        elif (not dangling and rep.kind == "gad"
              and rep.source.partition("/")[0] == rep.target.partition("/")[0]):
            yield (*at, "target"), "GAD pairs volumes on two different arrays"
        if rep.quorum is not None and rep.quorum not in sites:
            yield (*at, "quorum"), _missing("site", rep.quorum, sites)
    for name, wl in inv.workloads.items():
        yield from _workload_references(inv, ("workloads", name), wl)
    for name, host in inv.hosts.items():
        if host.site is not None and host.site not in sites:
            yield ("hosts", name, "site"), _missing("site", host.site, sites)
        for tier_name, host_tier in host.tiers.items():
            where: PathKey = ("hosts", name, "tiers", tier_name)
            if host_tier.bucket is not None and host_tier.storage is not None:
                yield from _bucket_store(inv, (*where, "storage"), host_tier.storage)
            elif host_tier.storage is not None:
                yield from _ref(inv, (*where, "storage"), host_tier.storage)
    yield from _policy_references(inv)
    yield from _procurement_references(inv)
    yield from _licence_references(inv)
    yield from _collect_references(inv)


def _collect_references(inv: Inventory) -> Iterator[Finding]:
    """Each file system Prometheus is read for is a file tier of one of the hosts."""
    source = inv.collect.prometheus
    for i, fs in enumerate(source.filesystems if source is not None else ()):
        at: PathKey = ("collect", "prometheus", "filesystems", i, "resource")
        host_name, _, tier_name = fs.resource.partition(":")
        host = inv.hosts.get(host_name)
        if host is None:
            yield at, _missing("host", host_name, inv.hosts)
        elif tier_name not in host.tiers:
            yield at, _missing(f"tier of host {host_name!r}", tier_name, host.tiers)
        elif host.tiers[tier_name].bucket is not None:
            yield at, f"{fs.resource!r} is a bucket tier: it has no file system"
    seen: set[str] = set()
    for i, fs in enumerate(source.filesystems if source is not None else ()):
        if fs.resource in seen:
            yield (("collect", "prometheus", "filesystems", i, "resource"),
                   f"{fs.resource!r} is read twice: one row per resource per day")
        seen.add(fs.resource)


def _bucket_store(inv: Inventory, at: PathKey, ref: str) -> Iterator[Finding]:
    """A bucket tier's storage: an object store that says where its S3 API answers."""
    dangling = list(_ref(inv, at, ref, ("object_store",)))
    yield from dangling
    if not dangling and inv.object_stores[ref].s3 is None:
        yield at, (f"object store {ref!r} has no s3 endpoint; a bucket tier on it needs"
                   f" object_stores.{ref}.s3.endpoint")


def _licence_references(inv: Inventory) -> Iterator[Finding]:
    """A licence per core covers clusters; per TB, any storage resource."""
    for name, licence in inv.licences.items():
        for i, ref in enumerate(licence.applies_to):
            at = ("licences", name, "applies_to", i)
            if licence.per == "core" and ref not in inv.clusters:
                yield at, _missing("cluster", ref, inv.clusters)
            elif licence.per == "tb":
                yield from _ref(inv, at, ref)


def _workload_references(inv: Inventory, at: PathKey, wl: Workload) -> Iterator[Finding]:
    yield from _ref(inv, (*at, "lands_on"), wl.lands_on)
    if wl.compute is not None and wl.compute.cluster not in inv.clusters:
        yield (*at, "compute", "cluster"), _missing("cluster", wl.compute.cluster, inv.clusters)
    if wl.policy is not None and wl.policy not in inv.policies:
        yield (*at, "policy"), _missing("policy", wl.policy, inv.policies)
    elif wl.policy is not None and inv.policies[wl.policy].on_arrays:
        yield (*at, "policy"), (f"policy {wl.policy!r} runs on arrays: a workload's policy"
                                " is one that moves its files on hosts")
    yield from _failover_references(inv, at, wl)


def _failover_references(inv: Inventory, at: PathKey, wl: Workload) -> Iterator[Finding]:
    """A partner and a failover cluster are at another site than the workload: they carry
    it when its site is lost."""
    home = inv.resource(wl.lands_on)
    if wl.partner is not None:
        partner = inv.workloads.get(wl.partner)
        there = inv.resource(partner.lands_on) if partner is not None else None
        if partner is None:
            yield (*at, "partner"), _missing("workload", wl.partner, inv.workloads)
        elif home is not None and there is not None and there.site == home.site:
            yield (*at, "partner"), (f"{wl.partner!r} lands at {there.site}, the same site:"
                                     " a partner carries the load when the site is lost")
    if wl.compute is not None and wl.compute.failover is not None:
        name = wl.compute.failover
        if name not in inv.clusters:
            yield (*at, "compute", "failover"), _missing("cluster", name, inv.clusters)
        elif (wl.compute.cluster in inv.clusters
              and inv.clusters[name].site == inv.clusters[wl.compute.cluster].site):
            yield (*at, "compute", "failover"), (
                f"cluster {name!r} is at {inv.clusters[name].site}, the site of"
                f" {wl.compute.cluster!r}: a failover cluster is at another site")


def _policy_references(inv: Inventory) -> Iterator[Finding]:
    for name, policy in inv.policies.items():
        at = ("policies", name)
        for i, host in enumerate(policy.hosts):
            if host not in inv.hosts:
                yield (*at, "hosts", i), _missing("host", host, inv.hosts)
        if policy.on_arrays:
            yield from _array_policy_references(inv, at, policy)
            continue
        for i, rule in enumerate(policy.rules):
            for field, tier in (("from", rule.source), ("to", rule.target)):
                if tier is None:
                    continue
                lacking = [h for h in policy.hosts if h in inv.hosts
                           and tier not in inv.hosts[h].tiers]
                if lacking:
                    yield (*at, "rules", i, field), (f"host {lacking[0]!r} has no tier named"
                                                     f" {tier!r}")
            yield from _bucket_sources(inv, (*at, "rules", i, "from"), rule, policy.hosts)
        if policy.lock is not None:
            yield from _lock_targets(inv, at, policy.rules, policy.hosts)
        yield from _copy_targets(inv, at, policy)


def _array_policy_references(inv: Inventory, at: PathKey, policy: Policy
                             ) -> Iterator[Finding]:
    """A policy on arrays reaches each through its REST API, and each rule's pool is an HDT
    pool on every one of them."""
    for i, name in enumerate(policy.arrays):
        array = inv.arrays.get(name)
        if array is None:
            yield (*at, "arrays", i), _missing("array", name, inv.arrays)
        elif array.rest is None:
            yield (*at, "arrays", i), (f"array {name!r} has no rest: a policy reaches an"
                                       " array through its REST API")
    for i, rule in enumerate(policy.rules):
        for name in policy.arrays:
            array = inv.arrays.get(name)
            pool = array.pools.get(rule.source) if array is not None else None
            if array is not None and pool is None:
                yield (*at, "rules", i, "from"), (f"array {name!r} has no pool named"
                                                  f" {rule.source!r}")
                break
            if pool is not None and pool.type != "HDT":
                yield (*at, "rules", i, "from"), (f"pool {rule.source!r} of array {name!r}"
                                                  " is HDP: tiering policies and relocation"
                                                  " are Dynamic Tiering's (type: HDT)")
                break


def _bucket_sources(inv: Inventory, at: PathKey, rule: Rule, hosts: list[str]
                    ) -> Iterator[Finding]:
    """Rules act on file tiers and move or copy into file or bucket tiers; in a bucket tier
    they only expire (what its locks and holds allow); out of a bucket, units come back by
    ``capacity tier recall``."""
    if rule.action in ("expire", "copy"):  # a copy's target is checked on its own
        return
    for host in hosts:
        tier = inv.hosts[host].tiers.get(rule.source) if host in inv.hosts else None
        if tier is not None and tier.bucket is not None:
            what = "copies out of it" if rule.action == "copy" else "moves out of it"
            yield at, (f"tier {rule.source!r} of host {host!r} is a bucket tier: {what} are"
                       " not built yet (archived units come back with capacity tier recall)")
            return


def _copy_targets(inv: Inventory, at: PathKey, policy: Policy) -> Iterator[Finding]:
    """A copy rule writes the backup into a bucket tier of its own: a bucket that a move of
    the policy archives into, or that the copy reads from, is not separate (one lifecycle
    rule, one compromised bucket policy would take both)."""
    for i, rule in enumerate(policy.rules):
        if rule.action != "copy":
            continue
        for host in policy.hosts:
            tiers = inv.hosts[host].tiers if host in inv.hosts else {}
            tier = tiers.get(rule.target or "")
            if tier is None:
                continue
            if tier.bucket is None:
                yield (*at, "rules", i, "to"), (f"tier {rule.target!r} of host {host!r} is a"
                                                " file tier: a copy goes into a bucket tier,"
                                                " as an immutable object")
                return
            archives = {(tiers[r.target].storage, tiers[r.target].bucket)
                        for r in policy.rules if r.action == "move" and r.target in tiers}
            source = tiers.get(rule.source)
            if source is not None and source.bucket is not None:
                archives.add((source.storage, source.bucket))
            if (tier.storage, tier.bucket) in archives:
                yield (*at, "rules", i, "to"), (f"bucket {tier.bucket!r} is where the policy"
                                                " archives too: the backup goes into a"
                                                " separate bucket")
                return


def _lock_targets(inv: Inventory, at: PathKey, rules: list[Rule], hosts: list[str]
                  ) -> Iterator[Finding]:
    """A locked policy writes its objects immutable: every bucket it moves into must be on
    a store with Object Lock (S3 turns it on only when the bucket is made)."""
    for rule in rules:
        for host in hosts:
            tier = inv.hosts[host].tiers.get(rule.target or "") if host in inv.hosts else None
            if tier is None or tier.bucket is None:
                continue
            store = inv.object_stores.get(tier.storage or "")
            if store is not None and not store.object_lock:
                yield (*at, "lock"), (f"rule {rule.name!r} moves into bucket {tier.bucket!r}"
                                      f" on object store {tier.storage!r}, which has no"
                                      " object_lock: the objects could not be locked")
                return


def _procurement_references(inv: Inventory) -> Iterator[Finding]:
    fits = {"node": "cluster", "drive": "cluster", "parity-group": "pool tier",
            "drive-box": "array", "array": "array", "raw": "object store"}
    for name, rule in inv.procurement.items():
        at = ("procurement", name, "resource")
        ref = rule.resource
        parts = ref.split("/")
        if len(parts) == 3:
            arr = inv.arrays.get(parts[0])
            pool = arr.pools.get(parts[1]) if arr else None
            kind = "pool tier" if pool and parts[2] in {t.name for t in pool.tiers} else None
        elif len(parts) == 1:
            kind = ("cluster" if ref in inv.clusters else "array" if ref in inv.arrays
                    else "object store" if ref in inv.object_stores else None)
        else:
            kind = None
        if kind is None:
            tiers = [f"{a}/{p}/{t.name}" for a, arr in inv.arrays.items()
                     for p, pool in arr.pools.items() for t in pool.tiers]
            yield at, _missing("expandable resource (cluster, ARRAY, ARRAY/POOL/TIER or"
                               " object store)", ref,
                               [*inv.clusters, *inv.arrays, *inv.object_stores, *tiers])
        elif kind != fits[rule.unit]:
            yield ("procurement", name, "unit"), (f"a {rule.unit} expands a {fits[rule.unit]};"
                                                  f" {ref!r} is a {kind}")
        elif rule.drive is not None and rule.drive not in inv.catalog.drives:
            yield ("procurement", name, "drive"), _missing("drive", rule.drive,
                                                           inv.catalog.drives)
        elif rule.unit == "drive" and (node := inv.catalog.nodes.get(
                inv.clusters[ref].node_model)) is not None:
            cluster, bays = inv.clusters[ref], node.drive_bays
            if cluster.drives.count >= bays:
                yield ("procurement", name, "unit"), (
                    f"{ref}'s nodes have all {bays} bays filled: no drive can go in")


def _limits(inv: Inventory) -> Iterator[Finding]:
    # Imported here: sizing needs valid references, which the checks above establish.
    from capacity.sizing.array import size_array
    from capacity.sizing.footprint import site_footprints
    from capacity.sizing.hci import storage_policy_spec

    for name, cl in inv.clusters.items():
        at = ("clusters", name)
        node = inv.catalog.nodes[cl.node_model]
        if cl.drives.count > node.drive_bays:
            yield (*at, "drives", "count"), (f"{cl.drives.count} drives per node, but a"
                                             f" {cl.node_model} has {node.drive_bays} bays")
        spec = storage_policy_spec(cl.storage_policy)
        if cl.nodes < spec.min_hosts:
            yield (*at, "nodes"), (f"{cl.storage_policy} needs at least {spec.min_hosts}"
                                   f" nodes, the cluster has {cl.nodes}")
        if cl.failover_reserve >= cl.nodes:
            yield (*at, "failover_reserve"), "the failover reserve must leave nodes that run"
        if cl.gpus is not None and cl.gpus > node.gpus:
            yield (*at, "gpus"), f"a {cl.node_model} takes at most {node.gpus} GPUs"
    for name, arr in inv.arrays.items():
        at = ("arrays", name)
        model = inv.catalog.arrays[arr.model]
        if arr.drive_boxes > model.max_drive_boxes:
            yield (*at, "drive_boxes"), (f"a {arr.model} takes at most {model.max_drive_boxes}"
                                         f" drive boxes")
        sized = size_array(inv, name)
        if sized.drives > sized.slots:
            yield (*at, "pools"), (f"{sized.drives} drives do not fit in {sized.slots} slots"
                                   f" ({model.controller_slots} in the controller chassis +"
                                   f" {arr.drive_boxes} drive boxes of"
                                   f" {model.drive_box.slots}, at most {model.max_drives})")
    for site, fp in site_footprints(inv).items():
        racks = inv.sites[site].racks
        if fp.rack_units > fp.rack_units_budget:
            yield ("sites", site, "racks"), (f"the equipment takes {fp.rack_units} rack units;"
                                             f" {racks.count} racks of {racks.units}U give"
                                             f" {fp.rack_units_budget}")
        if racks.power_kw and fp.power_w > fp.power_budget_w:
            yield ("sites", site, "racks", "power_kw"), (
                f"the equipment draws {fp.power_w / 1000:.1f} kW; the racks give"
                f" {fp.power_budget_w / 1000:.1f} kW")


def check_scenario(inv: Inventory, scenario: Scenario) -> list[Finding]:
    """References from a scenario's events into the inventory (after its changes)."""
    findings: list[Finding] = []
    workloads = set(inv.workloads)
    for i, event in enumerate(scenario.events):
        at: PathKey = ("events", i)
        match event:
            case AddWorkload(name=name, workload=wl):
                if name in workloads:
                    findings.append(((*at, "name"), f"a workload named {name!r} exists"
                                     " already"))
                findings += [((*at, "workload", *p[2:]), m) for p, m in
                             _workload_references(inv, ("workloads", name), wl)]
                workloads.add(name)
            case SetGrowth(workload=name) | SetCompression(workload=name) | ScaleDemand(
                    workload=name):
                if name not in workloads:
                    findings.append(((*at, "workload"), _missing("workload", name, workloads)))
            case AddNodes(cluster=name) | FailNode(cluster=name):
                if name not in inv.clusters:
                    findings.append(((*at, "cluster"), _missing("cluster", name, inv.clusters)))
            case FailSite(site=name):
                if name not in inv.sites:
                    findings.append(((*at, "site"), _missing("site", name, inv.sites)))
            case Migrate():
                findings += list(_ref(inv, (*at, "to"), event.to))
                if event.staging_on is not None:
                    findings += list(_ref(inv, (*at, "staging_on"), event.staging_on))
                if event.workload is not None and event.workload not in workloads:
                    findings.append(((*at, "workload"), _missing("workload", event.workload,
                                                                 workloads)))
    return findings
