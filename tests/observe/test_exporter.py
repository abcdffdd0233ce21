"""``capacity exporter`` as a process, scraped over HTTP: the estate's bytes equal the
figures worked out by hand (tests/observe/estate.py), the runways and orders equal what
``capacity simulate --format json`` says, a scrape does no work, a refresh picks up an
edited inventory (and keeps the last good figures past a broken one), and bad input exits
2 at FILE:LINE:COL."""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.observe.estate import CAPACITY, INVENTORY, USED, write_inventory
from tests.observe.scrape import midnight_utc, named, samples, value
from tests.prometheus import exporter, promtool
from tests.volumes.lab import write_lab

DAY = 86400


def simulate_json(inventory: Path, *args: str) -> dict:  # type: ignore[type-arg]
    run = subprocess.run([sys.executable, "-m", "capacity", "simulate", str(inventory),
                          "--format", "json", *args], capture_output=True, text=True,
                         check=True, timeout=300)
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def test_the_scrape_says_what_the_inventory_and_simulate_say(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path)
    expected = simulate_json(inventory)
    with exporter([str(inventory), "--state", str(tmp_path / "state")], tmp_path) as running:
        found = samples(running.scrape())

    for resource, kind in (("hci", "cluster"), ("archive", "object_store")):
        labels = {"resource": resource, "kind": kind, "site": "main"}
        assert value(found, "capacity_resource_capacity_bytes", **labels) == CAPACITY[resource]
        assert value(found, "capacity_resource_used_bytes", **labels) == USED[resource]
        assert value(found, "capacity_resource_free_bytes", **labels) == (
            CAPACITY[resource] - USED[resource])
    assert value(found, "capacity_resource_raw_bytes", resource="archive",
                 kind="object_store", site="main") == 140 * 10**12
    assert value(found, "capacity_resource_threshold_ratio", resource="archive",
                 level="warning") == 0.8

    for purchases, key in (("planned", "runways"), ("none", "runways_unbought")):
        # two resources, three levels each; the cluster's compute (vCPU, RAM) full
        assert {(r["resource"], r["level"]) for r in expected[key]} == {
            *((ref, level) for ref in ("hci", "archive")
              for level in ("warning", "critical", "full")),
            ("hci:vcpu", "full"), ("hci:ram", "full")}
        for r in expected[key]:
            labels = {"resource": r["resource"], "level": r["level"], "purchases": purchases}
            seconds = value(found, "capacity_runway_seconds", **labels)
            when = value(found, "capacity_runway_timestamp_seconds", **labels)
            if r["beyond_horizon"]:
                assert seconds == when == math.inf
            else:
                assert seconds == r["days_from_start"] * DAY
                assert when == midnight_utc(r["date"])
        assert len([k for k in named(found, "capacity_runway_seconds")
                    if ("purchases", purchases) in k]) == len(expected[key])
    # The example's own story: bought as planned the archive never fills; unbought it does.
    assert value(found, "capacity_runway_seconds", resource="archive", level="full",
                 purchases="planned") == math.inf
    assert value(found, "capacity_runway_seconds", resource="archive", level="full",
                 purchases="none") < math.inf

    first = min(expected["orders"], key=lambda o: o["ordered"])
    assert first["resource"] == "archive"
    labels = {"resource": "archive", "rule": first["rule"], "unit": first["unit"]}
    assert value(found, "capacity_next_order_timestamp_seconds", **labels) == midnight_utc(
        first["ordered"])
    assert value(found, "capacity_next_order_units", **labels) == first["units"]
    assert value(found, "capacity_next_order_capacity_bytes", **labels) == first[
        "capacity_bytes"]
    assert len(named(found, "capacity_next_order_timestamp_seconds")) == 1  # hci buys nothing
    assert value(found, "capacity_simulation_plan_holds") == (
        1 if expected["verdict"]["holds"] else 0) == 0
    assert value(found, "capacity_simulation_start_timestamp_seconds") == midnight_utc(
        expected["start"])
    assert value(found, "capacity_simulation_horizon_seconds") == expected["days"] * DAY
    # No journal yet: no tier metrics, and none was made by looking for one.
    assert not named(found, "capacity_tier_units")
    assert not (tmp_path / "state").exists()


def test_scenarios_years_and_seed_are_simulate_s(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path)
    args = ["--years", "2", "--seed", "3", "--start", "2027-01-01"]
    expected = simulate_json(inventory, *args)
    with exporter([str(inventory), *args], tmp_path) as running:
        found = samples(running.scrape())
    for r in expected["runways_unbought"]:
        labels = {"resource": r["resource"], "level": r["level"], "purchases": "none"}
        assert value(found, "capacity_runway_seconds", **labels) == (
            math.inf if r["beyond_horizon"] else r["days_from_start"] * DAY)
    assert value(found, "capacity_simulation_horizon_seconds") == expected["days"] * DAY



@pytest.mark.parametrize("factor", [None, 1.5])
def test_the_lead_time_is_what_simulate_waits_for_an_order(factor: float | None,
                                                          tmp_path: Path) -> None:
    """The archive's rule takes 4 weeks; a scenario's factor lengthens it, for the exporter
    as for the simulation: each order is installed that long after it is placed."""
    inventory = write_inventory(tmp_path)
    args: list[str] = []
    if factor is not None:
        scenario = tmp_path / "slower.yaml"
        scenario.write_text(f"name: slower\nadjust:\n  lead_time_factor: {factor}\n",
                            encoding="utf-8")
        args = ["-s", str(scenario)]
    expected = simulate_json(inventory, *args)
    with exporter([str(inventory), *args], tmp_path) as running:
        found = samples(running.scrape())
    lead = named(found, "capacity_procurement_lead_time_seconds")
    assert lead == {frozenset({"resource": "archive", "rule": "archive-raw",
                               "unit": "raw"}.items()): round(28 * (factor or 1)) * DAY}
    waits = {(dt.date.fromisoformat(o["installed"]) - dt.date.fromisoformat(o["ordered"])).days
             for o in expected["orders"]}
    assert waits == {round(28 * (factor or 1))}


def test_an_hdt_pool_s_tiers_as_simulate_places_them(tmp_path: Path) -> None:
    inventory = write_lab(tmp_path)  # an HDT pool of an SSD and an NL-SAS tier, two volumes
    expected = simulate_json(inventory)
    with exporter([str(inventory)], tmp_path) as running:
        found = samples(running.scrape())
    tiers = [t for t in expected["pool_tiers"] if t["pool"] == "g900-lab/pacs-hdt"]
    assert {t["tier"] for t in tiers} == {"ssd", "nlsas"}
    for t in tiers:
        labels = {"resource": t["pool"], "tier": t["tier"]}
        assert value(found, "capacity_pool_tier_capacity_bytes", **labels) == t[
            "capacity_bytes_start"]
        assert value(found, "capacity_pool_tier_used_bytes", **labels) == t["used_bytes_start"]
        assert value(found, "capacity_pool_tier_free_bytes", **labels) == (
            t["capacity_bytes_start"] - t["used_bytes_start"])
    # The tiers hold the pool: what show says it holds and offers, to the byte or two.
    pool = {"resource": "g900-lab/pacs-hdt", "kind": "pool", "site": "lab"}
    for metric in ("used", "capacity"):
        whole = value(found, f"capacity_resource_{metric}_bytes", **pool)
        parts = sum(value(found, f"capacity_pool_tier_{metric}_bytes",
                          resource="g900-lab/pacs-hdt", tier=t) for t in ("ssd", "nlsas"))
        assert abs(parts - whole) <= 2, metric
    assert not named(found, "capacity_pool_tier_used_bytes").keys() - {
        frozenset({"resource": "g900-lab/pacs-hdt", "tier": t}.items())
        for t in ("ssd", "nlsas")}  # the HDP pool has no tiers of its own to place


def test_the_names_pass_promtool(tmp_path: Path, promtool_installed: None) -> None:
    inventory = write_inventory(tmp_path)
    with exporter([str(inventory)], tmp_path) as running:
        text = running.scrape()
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0 and not checked.stdout + checked.stderr, (
        checked.stdout + checked.stderr)


def test_a_scrape_does_no_work_and_a_refresh_reads_the_inventory_again(tmp_path: Path
                                                                         ) -> None:
    inventory = write_inventory(tmp_path)
    refreshed = ("capacity_exporter_refresh_timestamp_seconds", {"source": "inventory"})
    with exporter([str(inventory), "--refresh", "3600", "--journal-refresh", "3600"],
                  tmp_path) as running:
        first = samples(running.scrape())
        started = time.monotonic()
        for _ in range(20):
            again = samples(running.scrape())
        assert time.monotonic() - started < 5
        assert value(again, refreshed[0], **refreshed[1]) == value(first, refreshed[0],
                                                                    **refreshed[1])
        assert again == first

    with exporter([str(inventory), "--refresh", "1"], tmp_path) as running:
        inventory.write_text(INVENTORY.replace("raw: 140TB", "raw: 210TB"), encoding="utf-8")
        labels = {"resource": "archive", "kind": "object_store", "site": "main"}
        deadline = time.monotonic() + 30
        while value(samples(running.scrape()), "capacity_resource_capacity_bytes",
                    **labels) != 150 * 10**12:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # An inventory edited into a mistake: the last good figures stay, and it says so.
        inventory.write_text(INVENTORY.replace("raw: 140TB", "raw: lots"), encoding="utf-8")
        while value(samples(running.scrape()), "capacity_exporter_refresh_failing",
                    source="inventory") != 1:
            assert time.monotonic() < deadline + 30
            time.sleep(0.2)
        found = samples(running.scrape())
        assert value(found, "capacity_resource_capacity_bytes", **labels) == 150 * 10**12
        assert value(found, "capacity_exporter_refresh_errors_total", source="inventory") >= 1
    assert f"{inventory}:" in running.log.read_text(encoding="utf-8")  # FILE:LINE:COL


def run_exporter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", "exporter", *args],
                          capture_output=True, text=True, check=False, timeout=120, cwd=cwd)


def test_bad_input_exits_2_at_its_place(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path, INVENTORY.replace("raw: 140TB", "raw: lots"))
    line = next(i for i, text in enumerate(INVENTORY.splitlines(), 1) if "raw: 140TB" in text)
    run = run_exporter(str(inventory), "--listen", "127.0.0.1:0", cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert f"{inventory}:{line}:10: object_stores.archive.raw" in run.stderr
    assert "Traceback" not in run.stderr

    for listen in ("9464", "127.0.0.1:http", "127.0.0.1:70000", "::1:9464"):
        run = run_exporter(str(write_inventory(tmp_path)), "--listen", listen, cwd=tmp_path)
        assert run.returncode == 2, (listen, run.stderr)
        assert "--listen" in run.stderr and "Traceback" not in run.stderr

    journal = tmp_path / "state" / "journal.sqlite"
    journal.parent.mkdir()
    journal.write_bytes(b"not a database" * 100)
    run = run_exporter(str(inventory.parent / "estate.yaml"), "--state",
                       str(journal.parent), "--listen", "127.0.0.1:0", cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert f"{journal}:1:1" in run.stderr and "Traceback" not in run.stderr


def test_a_port_in_use_exits_1(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = run_exporter(str(write_inventory(tmp_path)), "--listen", f"127.0.0.1:{port}",
                           cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
    assert "Traceback" not in run.stderr


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "[::1]:0"])
def test_it_listens_where_told_and_on_loopback_by_default(listen: str, tmp_path: Path) -> None:
    from capacity.cli.observe_commands import exporter_command
    from capacity.observe.exporter import parse_listen

    default = exporter_command.__defaults__[1]  # type: ignore[index]
    assert default == "127.0.0.1:9464"
    host, port = parse_listen(listen)
    assert port == 0 and host in ("127.0.0.1", "::1")
    if host == "::1" and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    inventory = write_inventory(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "capacity", "exporter", str(inventory),
                             "--listen", listen], stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("capacity exporter: serving http://"), line
        url = line.split()[-1]
        import urllib.request

        with urllib.request.urlopen(url, timeout=10) as answer:
            assert b"capacity_resource_capacity_bytes" in answer.read()
        assert ("[::1]" if host == "::1" else "127.0.0.1") in url
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
