#!/usr/bin/env python3
"""Regenerate tests/data/bad/*.yaml (the generated ones) from tests/data/good/minimal.yaml.

Run from the repository root.  The other bad files there are written by hand."""
# One-off generator of tests/data/bad/*.yaml from the minimal inventory.  The expected
# position is where the defect's marker text stands in the new file, found by string search.
import pathlib
base = pathlib.Path("tests/data/good/minimal.yaml").read_text()
cases = [
 # name, old, new, marker (text at expected position; "^" before a char marks the column), field, message part
 ("wrong-type", "    nodes: 4\n", "    nodes: four\n", "four", "clusters.hci.nodes", "valid integer"),
 ("negative-size", "    stored: 50TB\n", "    stored: -50TB\n", "-50TB", "workloads.pacs.stored", "cannot be negative"),
 ("unknown-key", "    storage_policy: raid5-ftt1\n", "    storage_polcy: raid5-ftt1\n", "storage_polcy", "clusters.hci.storage_polcy", "did you mean 'storage_policy'"),
 ("unknown-key-in-list", "{name: to-archive, from: hot, to: archive, select: {older_than: 180d}}", "{name: to-archive, from: hot, to: archive, selct: {older_than: 180d}}", "selct", "policies.lifecycle.rules[0].selct", "did you mean 'select'"),
 ("unknown-top-level", "workloads:\n", "workload:\n", "workload:", "workload", "did you mean 'workloads'"),
 ("bad-choice", "    role: primary\n", "    role: primery\n", "primery", "sites.main.role", "did you mean 'primary'"),
 ("dangling-pool", "    lands_on: arr1/pacs\n", "    lands_on: arr1/pacz\n", "arr1/pacz", "workloads.pacs.lands_on", "did you mean 'arr1/pacs'"),
 ("replication-to-itself", "target: arr2/pacs}", "target: arr1/pacs}", "target: ^arr1/pacs}", "replications.pacs-gad.target", "to itself"),
 ("impossible-raid", "raid: 14D+2P, count: 1}]\n  arr2", "raid: 14D+3P, count: 1}]\n  arr2", "14D+3P", "arrays.arr1.pools.pacs.tiers[0].parity_groups[0].raid", "1P (RAID5) or 2P (RAID6)"),
 ("unsupported-raid", "raid: 14D+2P, count: 1}]\n  arr2", "raid: 12D+2P, count: 1}]\n  arr2", "12D+2P", "arrays.arr1.pools.pacs.tiers[0].parity_groups[0].raid", "does not build 12D+2P"),
 ("more-drives-than-slots", "raid: 14D+2P, count: 1}]\n  arr2", "raid: 14D+2P, count: 2}]\n  arr2", "^pools:\n      pacs:\n        tiers:\n          - name: nlsas\n            parity_groups: [{drive: test-nlsas, raid: 14D+2P, count: 2}]", "arrays.arr1.pools", "32 drives do not fit in 24 slots"),
 ("too-many-drive-boxes", "    model: test-array\n    pools:\n      pacs:\n        tiers:\n          - name: nlsas\n            parity_groups: [{drive: test-nlsas, raid: 14D+2P, count: 1}]\n  arr2", "    model: test-array\n    drive_boxes: 3\n    pools:\n      pacs:\n        tiers:\n          - name: nlsas\n            parity_groups: [{drive: test-nlsas, raid: 14D+2P, count: 1}]\n  arr2", "3\n", "arrays.arr1.drive_boxes", "at most 2 drive boxes"),
 ("more-rack-units-than-site", "    racks: {count: 1, units: 42, power_kw: 10}\n  dr", "    racks: {count: 1, units: 10, power_kw: 10}\n  dr", "^racks: {count: 1, units: 10", "sites.main.racks", "takes 12 rack units"),
 ("over-power-budget", "    racks: {count: 1, units: 42, power_kw: 10}\n  dr", "    racks: {count: 1, units: 42, power_kw: 1}\n  dr", "1}\n  dr", "sites.main.racks.power_kw", "the racks give 1.0 kW"),
 ("missing-field", "    node_model: test-node\n", "", "site: main\n    nodes: 4", "clusters.hci.node_model", "missing required field 'node_model'"),
 ("bad-duration", "select: {older_than: 180d}", "select: {older_than: 6 fortnights}", "6 fortnights", "policies.lifecycle.rules[0].select.older_than", "not a duration"),
 ("bad-ratio", "      afr: 1.5%\n", "      afr: 150\n", "150", "catalog.drives.test-nlsas.afr", "between 0 and 1"),
 ("bad-window", 'windows: ["22:00-06:00"]', 'windows: ["22:00-6pm"]', '"22:00-6pm"', "policies.lifecycle.pacing.windows[0]", "time of day"),
 ("secret-in-yaml", "    address: 127.0.0.1\n", "    address: 127.0.0.1\n    key: \"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\"\n", '"-----BEGIN', "hosts.store1.key", "secrets never live in the inventory"),
 ("more-drives-than-bays", "    drives: {drive: test-nlsas, count: 4}\n", "    drives: {drive: test-nlsas, count: 20}\n", "20}", "clusters.hci.drives.count", "has 12 bays"),
 ("too-few-nodes", "    nodes: 4\n", "    nodes: 3\n", "3\n", "clusters.hci.nodes", "needs at least 4 nodes"),
 ("move-without-target", "{name: to-archive, from: hot, to: archive, select", "{name: to-archive, from: hot, select", "{name: to-archive", "policies.lifecycle.rules[0]", "needs 'to'"),
 ("tier-not-on-host", "{name: to-archive, from: hot, to: archive,", "{name: to-archive, from: warm, to: archive,", "warm", "policies.lifecycle.rules[0].from", "no tier named 'warm'"),
 ("unknown-drive", "    drives: {drive: test-nlsas, count: 4}\n", "    drives: {drive: test-nlsass, count: 4}\n", "test-nlsass", "clusters.hci.drives.drive", "did you mean 'test-nlsas'"),
 ("catalog-without-source", "      power_w: 800\n      assumed: true\n", "      power_w: 800\n", "test-node:\n      family", "catalog.nodes.test-node", "needs a 'source' or 'assumed: true'"),
 ("procurement-unit-mismatch", "    unit: parity-group\n", "    unit: node\n", "node\n    lead_time", "procurement.nlsas-groups.unit", "a node expands a cluster"),
 ("dangling-site", "  arr2:\n    site: dr\n", "  arr2:\n    site: dr-dc\n", "dr-dc", "arrays.arr2.site", "no site named 'dr-dc'"),
 ("dangling-replication-target", "  pacs-gad: {kind: gad, source: arr1/pacs, target: arr2/pacs}\n", "  pacs-gad: {kind: gad, source: arr1/pacs, target: arr1/other}\n", "arr1/other}", "replications.pacs-gad.target", "no storage resource named 'arr1/other'"),
 ("absurd-node-count", "    nodes: 4\n", "    nodes: 1000000000\n", "1000000000", "clusters.hci.nodes", "less than or equal to 1000000"),
 ("absurd-rack-count", "    racks: {count: 1, units: 42, power_kw: 10}\n  dr", "    racks: {count: 1000000000000, units: 42, power_kw: 10}\n  dr", "1000000000000", "sites.main.racks.count", "less than or equal to 1000000"),
 ("absurd-size", "    stored: 50TB\n", "    stored: 1e400TB\n", "1e400TB", "workloads.pacs.stored", "not a size"),
 ("absurd-size-digits", "    stored: 50TB\n", "    stored: 1000000000000000000000000000000000000000000000000000TB\n", "10000000", "workloads.pacs.stored", "too large"),
 ("absurd-bandwidth", "bandwidth: 500MB/s}", "bandwidth: 100000000000000000000000000MB/s}", "100000000000000000000000000MB/s", "policies.lifecycle.pacing.bandwidth", "too large"),
 ("empty-lock", "    address: 127.0.0.1\n", "    address: 127.0.0.1\n    lock: \"\"\n", '""', "hosts.store1.lock", "must name a file"),
]
out = pathlib.Path("tests/data/bad")
for name, old, new, marker, field, msg in cases:
    assert base.count(old) == 1, (name, old)
    text = base.replace(old, new)
    offset = max(marker.find("^"), 0)  # "target: ^arr1/pacs" points at the caret
    marker = marker.replace("^", "")
    assert text.count(marker) == 1, (name, marker, text.count(marker))
    at = text.index(marker) + offset
    line = text[:at].count("\n") + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    header = f"# expect: {line + 1}:{col} {field} :: {msg}\n"
    (out / f"{name}.yaml").write_text(header + text)
print(len(cases))
