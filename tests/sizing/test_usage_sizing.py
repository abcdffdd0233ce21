"""What each resource holds on the as_of date: workloads, copies and backups."""

from __future__ import annotations

import pytest

from capacity.sizing import used_by_resource

TB = 10**12


@pytest.fixture(scope="module")
def estate(make_inventory):
    """Two arrays with one pool each (A1 on site A, B1 on site B) and a store 'S' on B."""
    def build(workloads, replications=None):
        group = [{"drive": "nl18", "raid": "14D+2P"}]
        return make_inventory(
            arrays={"A1": make_inventory.pool_array(group, site="A"),
                    "B1": make_inventory.pool_array(group, site="B")},
            object_stores={"S": make_inventory.store("1PB", site="B")},
            workloads=workloads, replications=replications or {})
    return build


def test_workloads_add_up_on_their_resource(estate):
    inv = estate({"pacs": {"lands_on": "A1/P", "stored": "100TB"},
                  "ris": {"lands_on": "A1/P", "stored": "20TB"}})
    # 100 + 20 = 120 TB on A1/P; nothing elsewhere; every resource is listed
    assert used_by_resource(inv) == {"A1/P": 120 * TB, "B1/P": 0, "S": 0}


@pytest.mark.parametrize("kind", ["gad", "sync", "async"])
def test_a_replica_holds_a_full_copy_at_the_target(estate, kind):
    inv = estate({"pacs": {"lands_on": "A1/P", "stored": "100TB"}},
                 {"dr": {"kind": kind, "source": "A1/P", "target": "B1/P"}})
    # GAD (and any full copy): 100 TB at the source site and 100 TB at the target site
    assert used_by_resource(inv) == {"A1/P": 100 * TB, "B1/P": 100 * TB, "S": 0}


def test_gad_written_at_both_ends_needs_both_directions(estate):
    inv = estate({"a": {"lands_on": "A1/P", "stored": "100TB"},
                  "b": {"lands_on": "B1/P", "stored": "30TB"}},
                 {"ab": {"kind": "gad", "source": "A1/P", "target": "B1/P"},
                  "ba": {"kind": "gad", "source": "B1/P", "target": "A1/P"}})
    # each side: its own workload plus the other's: 100 + 30 = 130 TB at both
    assert used_by_resource(inv) == {"A1/P": 130 * TB, "B1/P": 130 * TB, "S": 0}


@pytest.mark.parametrize(("change_rate", "retention", "backup"), [
    # one full + 30 daily changes of 2%: 100 TB x (1 + 0.02 x 30) = 100 x 1.6 = 160 TB
    ("2%", "30d", 160 * TB),
    # 5 weeks = 35 days of 1%: 100 x (1 + 0.35) = 135 TB
    ("1%", "5w", 135 * TB),
    # nothing changes: a single full copy, 100 TB
    ("0%", "90d", 100 * TB),
    # a write-once source changes only by what it is written, which the full copy holds
    ("new-data", "90d", 100 * TB),
])
def test_backup_keeps_a_full_copy_and_the_daily_changes(estate, change_rate, retention,
                                                        backup):
    inv = estate({"pacs": {"lands_on": "A1/P", "stored": "100TB"}},
                 {"bk": {"kind": "backup", "source": "A1/P", "target": "S",
                         "change_rate": change_rate, "retention": retention}})
    assert used_by_resource(inv)["S"] == backup


def test_a_copy_that_starts_after_as_of_is_not_there_yet(estate):
    inv = estate({"pacs": {"lands_on": "A1/P", "stored": "100TB"}},
                 {"dr": {"kind": "gad", "source": "A1/P", "target": "B1/P",
                         "start": "2030-01-01"}})
    assert used_by_resource(inv) == {"A1/P": 100 * TB, "B1/P": 0, "S": 0}


def test_copies_are_not_copied_again(estate):
    inv = estate({"a": {"lands_on": "A1/P", "stored": "100TB"},
                  "b": {"lands_on": "B1/P", "stored": "10TB"}},
                 {"dr": {"kind": "async", "source": "A1/P", "target": "B1/P", "lag": "1d"},
                  "bk": {"kind": "backup", "source": "B1/P", "target": "S",
                         "retention": "1d"}})
    used = used_by_resource(inv)
    # B1/P holds its own 10 TB plus the 100 TB replica = 110 TB
    assert used["B1/P"] == 110 * TB
    # the backup of B1/P copies only what workloads wrote there (10 TB), not the replica
    assert used["S"] == 10 * TB


def test_unknown_resource_is_a_value_error(estate):
    with pytest.raises(ValueError, match="workload 'pacs': no storage resource named 'X/P'"):
        used_by_resource(estate({"pacs": {"lands_on": "X/P", "stored": "1TB"}}))
    inv = estate({"pacs": {"lands_on": "A1/P", "stored": "1TB"}},
                 {"dr": {"kind": "sync", "source": "A1/P", "target": "B1/Q"}})
    with pytest.raises(ValueError, match="replication 'dr' target: no storage resource"):
        used_by_resource(inv)
