"""The example inventories (inventories/*.yaml) validate against the model once the built-in
catalogue is merged in, and their figures are plausible by simple arithmetic.

The small merging helper below stands in for the loader: it resolves ``include:`` (paths
relative to the including file, sections merged entry by entry, an entry defined twice is an
error) and merges the built-in catalogue under ``catalog:`` (the inventory's own entries
override field by field)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

import capacity
from capacity.model import Inventory, RaidLayout

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = ROOT / "inventories"
CATALOG_DIR = Path(capacity.__file__).parent / "catalog"
CATALOG_SECTIONS = ("drives", "arrays", "nodes")
EXAMPLES = ["medical-center.yaml", "small-clinic.yaml"]
TB = 10**12
PB = 10**15


# --- merging helper -----------------------------------------------------------------------

class DuplicateEntry(ValueError):
    """An entry defined in two files of one inventory."""


def read_tree(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A file and everything it includes, merged entry by entry."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: expected a mapping of sections"
    for name in data.get("include", []):
        child = (path.parent / name).resolve()
        if child in (*seen, path.resolve()):
            raise ValueError(f"{path}: {name} includes itself")
        for section, value in read_tree(child, (*seen, path.resolve())).items():
            if section != "include":
                _merge(data, section, value, 2 if section == "catalog" else 1, child)
    return data


def _merge(into: dict[str, Any], key: str, value: Any, depth: int, where: Path) -> None:
    if key not in into:
        into[key] = value
    elif depth > 0 and isinstance(value, dict) and isinstance(into[key], dict):
        for k, v in value.items():
            _merge(into[key], k, v, depth - 1, where)
    else:
        raise DuplicateEntry(f"{where}: {key!r} is already defined")


def builtin_catalog() -> dict[str, dict[str, Any]]:
    return {s: yaml.safe_load((CATALOG_DIR / f"{s}.yaml").read_text(encoding="utf-8"))
            for s in CATALOG_SECTIONS}


def with_builtin_catalog(data: dict[str, Any]) -> dict[str, Any]:
    """The inventory with the built-in catalogue under ``catalog``; its own entries override
    the built-in ones field by field, and the changed fields are listed in ``overridden``."""
    own = data.get("catalog") or {}
    merged: dict[str, Any] = {}
    for section, entries in builtin_catalog().items():
        entries = dict(entries)
        for name, fields in (own.get(section) or {}).items():
            base = entries.get(name)
            if base is None:
                entries[name] = fields
            else:
                changed = [f for f in fields if f not in ("source", "assumed", "overridden")]
                entries[name] = {**base, **fields, "overridden": changed}
        merged[section] = entries
    return {**data, "catalog": merged}


def load(name: str) -> Inventory:
    return Inventory.model_validate(with_builtin_catalog(read_tree(INVENTORIES / name)))


# --- simple arithmetic (HDP pool overhead ignored) ----------------------------------------

POLICY_FACTOR = {"mirror-ftt1": Fraction(2), "raid5-ftt1": Fraction(4, 3),
                 "mirror-ftt2": Fraction(3), "raid6-ftt2": Fraction(3, 2),
                 "esa-raid5-2p1": Fraction(3, 2), "esa-raid5-4p1": Fraction(5, 4)}


def effective(inv: Inventory, ref: str) -> float:
    """What a pool, cluster or object store can hold."""
    resource = inv.resource(ref)
    assert resource is not None, ref
    if resource.kind == "pool":
        pool = inv.pool(ref)
        data = sum(g.count * g.layout.data * inv.catalog.drives[g.drive].capacity
                   for tier in pool.tiers for g in tier.parity_groups)
        reduction = pool.data_reduction
        if reduction.ratio > 1:
            return data * reduction.ratio * (1 - reduction.overhead)
        return data
    if resource.kind == "cluster":
        cl = inv.clusters[ref]
        raw = cl.nodes * cl.drives.count * inv.catalog.drives[cl.drives.drive].capacity
        kept = raw * (cl.nodes - cl.failover_reserve) / cl.nodes
        return float(kept / POLICY_FACTOR[cl.storage_policy] * (1 - cl.slack))
    store = inv.object_stores[ref]
    return store.raw * store.protection.efficiency


def used(inv: Inventory) -> dict[str, float]:
    """Workloads' stored data where it lands, plus what replications copy of it."""
    written = dict.fromkeys(inv.resource_names(), 0.0)
    for wl in inv.workloads.values():
        written[wl.lands_on] += wl.stored
    total = dict(written)
    for rep in inv.replications.values():
        copy = written[rep.source]
        if rep.kind == "backup":
            copy *= 1 + rep.change_rate * rep.retention
        total[rep.target] += copy
    return total


def footprint(inv: Inventory, site: str) -> tuple[int, float]:
    """Rack units and watts of everything at a site."""
    units, watts = 0, 0.0
    for arr in inv.arrays.values():
        if arr.site == site:
            model = inv.catalog.arrays[arr.model]
            units += model.rack_units + arr.drive_boxes * model.drive_box.rack_units
            watts += model.power_w + arr.drive_boxes * model.drive_box.power_w
            for pool in arr.pools.values():
                for tier in pool.tiers:
                    spare = inv.catalog.drives[tier.parity_groups[0].drive]
                    watts += tier.spares * spare.power_w + sum(
                        g.count * g.layout.width * inv.catalog.drives[g.drive].power_w
                        for g in tier.parity_groups)
    for cl in inv.clusters.values():
        if cl.site == site:
            node = inv.catalog.nodes[cl.node_model]
            units += cl.nodes * node.rack_units
            watts += cl.nodes * (node.power_w
                                 + cl.drives.count * inv.catalog.drives[cl.drives.drive].power_w)
    for store in inv.object_stores.values():
        if store.site == site:
            units += store.rack_units
            watts += store.power_w
    return units, watts


# --- both examples ------------------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES)
def test_example_validates(name: str) -> None:
    inv = load(name)
    assert inv.sites
    assert inv.catalog.drives and inv.catalog.arrays and inv.catalog.nodes


@pytest.mark.parametrize("name", EXAMPLES)
def test_references_resolve(name: str) -> None:
    inv = load(name)
    cat = inv.catalog
    for cl in inv.clusters.values():
        assert cl.site in inv.sites and cl.node_model in cat.nodes and cl.drives.drive in cat.drives
        assert cl.drives.count <= cat.nodes[cl.node_model].drive_bays
        assert cl.gpus is None or cl.gpus <= cat.nodes[cl.node_model].gpus
    for arr in inv.arrays.values():
        model = cat.arrays[arr.model]
        assert arr.site in inv.sites and arr.drive_boxes <= model.max_drive_boxes
        layouts = {str(RaidLayout.parse(t)) for t in model.raid_layouts}
        drives = 0
        for pool in arr.pools.values():
            for tier in pool.tiers:
                drives += tier.spares
                for group in tier.parity_groups:
                    assert group.drive in cat.drives and group.raid in layouts
                    drives += group.count * group.layout.width
        assert drives <= model.controller_slots + arr.drive_boxes * model.drive_box.slots
    for store in inv.object_stores.values():
        assert store.site in inv.sites
    for wl in inv.workloads.values():
        assert inv.resource(wl.lands_on) is not None, wl.lands_on
        assert wl.compute is None or wl.compute.cluster in inv.clusters
        assert wl.policy is None or wl.policy in inv.policies
    for rep in inv.replications.values():
        assert inv.resource(rep.source) is not None and inv.resource(rep.target) is not None
        assert rep.quorum is None or rep.quorum in inv.sites
    for host in inv.hosts.values():
        assert host.site is None or host.site in inv.sites
        for tier in host.tiers.values():
            assert tier.storage is None or inv.resource(tier.storage) is not None
    for policy in inv.policies.values():
        for host in policy.hosts:
            tiers = inv.hosts[host].tiers
            assert all(r.source in tiers and (r.target is None or r.target in tiers)
                       for r in policy.rules)
    tiers = {f"{a}/{p}/{t.name}" for a, arr in inv.arrays.items()
             for p, pool in arr.pools.items() for t in pool.tiers}
    expands = {"node": set(inv.clusters), "drive": set(inv.clusters), "parity-group": tiers,
               "drive-box": set(inv.arrays), "array": set(inv.arrays),
               "raw": set(inv.object_stores)}
    for rule in inv.procurement.values():
        assert rule.resource in expands[rule.unit], rule.resource


@pytest.mark.parametrize("name", EXAMPLES)
def test_estate_is_60_to_75_percent_full(name: str) -> None:
    inv = load(name)
    now = used(inv)
    for ref in inv.resource_names():
        fill = now[ref] / effective(inv, ref)
        assert 0.6 <= fill <= 0.75, f"{ref} is {fill:.0%} full"


@pytest.mark.parametrize("name", EXAMPLES)
def test_compute_demand_fits(name: str) -> None:
    inv = load(name)
    for cluster_name, cl in inv.clusters.items():
        node = inv.catalog.nodes[cl.node_model]
        running = cl.nodes - cl.failover_reserve
        vcpu = running * ((cl.cores or node.cores) - cl.controller_vm.cores) * cl.overcommit.cpu
        ram = running * ((cl.ram or node.ram) - cl.controller_vm.ram) * cl.overcommit.ram
        gpus = running * (node.gpus if cl.gpus is None else cl.gpus)
        demand = [w.compute for w in inv.workloads.values()
                  if w.compute and w.compute.cluster == cluster_name]
        assert sum(d.vcpu for d in demand) <= 0.75 * vcpu, cluster_name
        assert sum(d.ram for d in demand) <= 0.75 * ram, cluster_name
        assert sum(d.gpus for d in demand) <= 0.75 * gpus, cluster_name


@pytest.mark.parametrize("name", EXAMPLES)
def test_sites_have_room(name: str) -> None:
    inv = load(name)
    for site_name, site in inv.sites.items():
        units, watts = footprint(inv, site_name)
        assert units <= site.racks.count * site.racks.units, site_name
        assert watts <= site.racks.count * site.racks.power_kw * 1000, site_name


# --- the medical centre -------------------------------------------------------------------

@pytest.fixture(scope="module")
def medical() -> Inventory:
    return load("medical-center.yaml")


def test_medical_center_is_split_over_files() -> None:
    top = yaml.safe_load((INVENTORIES / "medical-center.yaml").read_text(encoding="utf-8"))
    assert "medical-center/dr.yaml" in top["include"]
    assert "dr-dc" not in top["sites"]  # the DR site comes from the included file
    for name in top["include"]:
        assert (INVENTORIES / name).is_file()


def test_medical_center_shape(medical: Inventory) -> None:
    assert str(medical.as_of) == "2026-11-01" and medical.currency == "USD"
    roles = {name: site.role for name, site in medical.sites.items()}
    assert roles["main-dc"] == "primary" and roles["dr-dc"] == "dr"
    assert list(roles.values()).count("branch") == 3
    assert medical.sites["main-dc"].racks.count == 4
    assert medical.sites["main-dc"].racks.units == 42
    assert {medical.arrays[a].model for a in medical.arrays} == {"vsp-e1090", "vsp-g900"}
    assert any(s.object_lock for s in medical.object_stores.values())


def test_e1090_holds_only_nvme(medical: Inventory) -> None:
    for arr in medical.arrays.values():
        if arr.model == "vsp-e1090":
            kinds = {medical.catalog.drives[g.drive].kind for pool in arr.pools.values()
                     for tier in pool.tiers for g in tier.parity_groups}
            assert kinds == {"nvme-ssd"}


def test_catalogue_override_applies(medical: Inventory) -> None:
    drive = medical.catalog.drives["nl-sas-20tb"]
    assert drive.afr == pytest.approx(0.012)
    assert drive.overridden == ["afr"]
    assert drive.capacity == 20 * TB  # the rest comes from the built-in entry
    assert not medical.catalog.drives["nl-sas-18tb"].overridden


def test_pacs_stored_about_two_petabytes(medical: Inventory) -> None:
    pacs = [w for w in medical.workloads.values() if w.policy == "pacs-lifecycle"]
    assert len(pacs) >= 3
    assert 1.5 * PB <= sum(w.stored for w in pacs) <= 2.5 * PB


def test_pacs_drivers_follow_domain_figures(medical: Inventory) -> None:
    drivers = {d.modality: d for w in medical.workloads.values() for d in w.drivers}
    assert {"CT", "MR", "CR", "MG", "US"} <= set(drivers)
    sizes = {"CT": 300e6, "MR": 400e6, "CR": 35e6, "MG": 450e6}
    assert {m: drivers[m].study_size for m in sizes} == sizes
    # Lossless JPEG 2000 at 2.5:1, but ultrasound comes lossy-compressed by the scanner.
    assert {m: d.compression for m, d in drivers.items()} == {
        "CT": 2.5, "MR": 2.5, "CR": 2.5, "MG": 2.5, "US": 1.0}
    yearly = sum(d.bytes_per_day for d in drivers.values()) * 365
    assert 100 * TB <= yearly <= 300 * TB


def test_gad_pairs_and_quorum(medical: Inventory) -> None:
    gads = [r for r in medical.replications.values() if r.kind == "gad"]
    assert gads
    for rep in gads:
        source, target = medical.resource(rep.source), medical.resource(rep.target)
        assert source and target and source.site == "main-dc" and target.site == "dr-dc"
        assert rep.quorum not in (source.site, target.site, None)
        assert effective(medical, rep.target) >= effective(medical, rep.source)


def test_backup_is_immutable_to_object_store(medical: Inventory) -> None:
    backups = [r for r in medical.replications.values() if r.kind == "backup"]
    assert backups
    for rep in backups:
        assert rep.target in medical.object_stores and medical.object_stores[rep.target].object_lock
        assert (rep.retention, rep.change_rate, rep.immutable) == (30, 0.01, True)


def test_pacs_lifecycle_policy(medical: Inventory) -> None:
    policy = medical.policies["pacs-lifecycle"]
    assert policy.hosts == ["pacs-store-01"] and policy.unit.depth == 3
    ages = {r.name: (r.action, r.source, r.target, r.select.older_than) for r in policy.rules}
    assert ages == {"hot-to-warm": ("move", "hot", "warm", 180),
                    "warm-to-archive": ("move", "warm", "archive", 1095),
                    "expire-archive": ("expire", "archive", None, 3650)}
    assert policy.trigger is not None
    assert (policy.trigger.high, policy.trigger.low) == (0.85, 0.75)
    assert policy.pacing.bandwidth == 500e6
    assert [w.hours for w in policy.pacing.windows] == [8]  # 22:00-06:00
    assert (policy.caps.bytes, policy.caps.count) == (20 * TB, 50000)
    assert policy.retention == 3650 and policy.holds
    host = medical.hosts["pacs-store-01"]
    assert host.key == "~/.ssh/capacity_ed25519" and set(host.tiers) == {"hot", "warm", "archive"}
    resources = [medical.resource(t.storage or "") for t in host.tiers.values()]
    assert [r.kind if r else None for r in resources] == ["pool", "pool", "object_store"]


def test_every_expandable_resource_has_a_procurement_rule(medical: Inventory) -> None:
    covered = {rule.resource for rule in medical.procurement.values()}
    tiers = {f"{a}/{p}/{t.name}" for a, arr in medical.arrays.items()
             for p, pool in arr.pools.items() for t in pool.tiers}
    assert {*medical.clusters, *medical.object_stores, *tiers} <= covered
    for rule in medical.procurement.values():
        # 6 weeks for drives into empty bays, 8 to 12 for hardware
        assert rule.lead_time in (42, 56, 70, 84) and rule.unit_cost > 0


# --- the small clinic ---------------------------------------------------------------------

def test_small_clinic_is_tiny() -> None:
    inv = load("small-clinic.yaml")
    assert len(inv.sites) == 1 and not inv.arrays and len(inv.workloads) == 1
    (cluster,) = inv.clusters.values()
    assert (cluster.nodes, cluster.storage_policy) == (3, "mirror-ftt1")


# --- the helper itself --------------------------------------------------------------------

def test_an_entry_defined_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "part.yaml").write_text("sites:\n  a: {role: dr}\n", encoding="utf-8")
    (tmp_path / "top.yaml").write_text(
        "name: x\nas_of: 2026-11-01\ninclude: [part.yaml]\nsites:\n  a: {role: primary}\n",
        encoding="utf-8")
    with pytest.raises(DuplicateEntry, match="'a'"):
        read_tree(tmp_path / "top.yaml")


def test_include_cycle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("include: [b.yaml]\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("include: [a.yaml]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="includes itself"):
        read_tree(tmp_path / "a.yaml")
