"""`capacity collect` as an operator runs it (a process), against the real counterparts: the
test sshd, `capacity tier scan`'s catalogue, a real Prometheus scraping a real node_exporter,
and the VSP contract server.  Expected figures come from elsewhere: os.statvfs and `df -P -k`
run here, the sizes of the files written here, the contract server's own pool objects."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from capacity.history.store import History
from tests.prometheus import Daemon, PrometheusServer
from tests.sshd import SshServer
from tests.vsp_contract import PASSWORD, USER, ContractServer, example_objects

ROOT = Path(__file__).resolve().parents[2]
MIB = 2**20
SLACK = 64 * MIB
"""What other processes may write to the test machine's file system between the collector's
reading and the test's own (the machine is shared)."""


def capacity(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CAPACITY_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "capacity", *args], capture_output=True,
                          text=True, check=False, cwd=ROOT, env=environ, timeout=180)


def write_inventory(path: Path, **sections: Any) -> Path:
    data = {"name": "collect test", "as_of": "2026-11-01",
            "sites": {"lab": {"role": "primary", "racks": {"count": 2, "units": 42,
                                                           "power_kw": 20}}}, **sections}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def ssh_host(sshd: SshServer, tiers: dict[str, Path]) -> dict[str, Any]:
    return {"address": sshd.host, "port": sshd.port, "user": sshd.user,
            "key": sshd.client_key, "known_hosts": sshd.known_hosts,
            "tiers": {name: str(root) for name, root in tiers.items()}}


def used_and_size(path: Path) -> tuple[int, int]:
    """What the file system holding ``path`` uses and holds, by statvfs here."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_blocks * st.f_frsize


def df_used(path: Path) -> int:
    """`df -P -k`'s Used column for ``path``, in bytes (KiB granularity)."""
    out = subprocess.run(["df", "-P", "-k", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return int(out.splitlines()[-1].split()[2]) * 1024


def mountpoint(path: Path) -> str:
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return str(path)


def recorded(run: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {r["resource"]: r for r in json.loads(run.stdout)["recorded"]}


def rows(state: Path) -> list[tuple[Any, ...]]:
    with History(state / "history.sqlite") as history:
        return list(history.db.execute("SELECT * FROM usage ORDER BY resource, day"))


def tier_roots(tmp_path: Path) -> dict[str, Path]:
    """Two tier roots with files of known sizes: 3 MiB + 5,000 bytes in hot, 1 MiB in cold."""
    hot, cold = tmp_path / "tiers" / "hot", tmp_path / "tiers" / "cold"
    (hot / "2026" / "01" / "study-1").mkdir(parents=True)
    (cold / "2019" / "03" / "study-0").mkdir(parents=True)
    (hot / "2026" / "01" / "study-1" / "a.dcm").write_bytes(os.urandom(3 * MIB))
    (hot / "2026" / "01" / "study-1" / "b.dcm").write_bytes(b"x" * 5000)
    (cold / "2019" / "03" / "study-0" / "c.dcm").write_bytes(os.urandom(MIB))
    return {"hot": hot, "cold": cold}


# --------------------------------------------------------------------------- ssh


def test_ssh_reads_each_tier_roots_file_system_and_collecting_again_replaces_the_day(
        tmp_path: Path, sshd: SshServer) -> None:
    roots = tier_roots(tmp_path)
    inv = write_inventory(tmp_path / "inv.yaml", hosts={"store": ssh_host(sshd, roots)})
    state = tmp_path / "state"
    before, size = used_and_size(roots["hot"])
    df_before = df_used(roots["hot"])
    run = capacity("collect", str(inv), "--source", "ssh", "--state", str(state),
                   "--day", "2026-11-02", "--format", "json")
    after, _ = used_and_size(roots["hot"])
    df_after = df_used(roots["hot"])
    assert run.returncode == 0, run.stderr
    got = recorded(run)
    assert set(got) == {"store:hot", "store:cold"}
    for resource in got.values():
        assert resource["source"] == "ssh" and resource["day"] == "2026-11-02"
        assert resource["capacity_bytes"] == size  # the file system's size: fixed
        used = resource["used_bytes"]
        assert isinstance(used, int)
        assert min(before, after) - SLACK <= used <= max(before, after) + SLACK
        assert min(df_before, df_after) - SLACK <= used <= max(df_before, df_after) + SLACK
    first = rows(state)
    assert len(first) == 2

    (roots["hot"] / "late.dcm").write_bytes(os.urandom(2 * MIB))
    again = capacity("collect", str(inv), "--source", "ssh", "--state", str(state),
                     "--day", "2026-11-02", "--format", "json")
    assert again.returncode == 0, again.stderr
    second = rows(state)
    assert len(second) == 2, "one row per resource per day"
    by_resource = {row[0]: row for row in second}
    for resource, reading in recorded(again).items():
        assert by_resource[resource][2] == reading["used_bytes"]  # the later reading kept
        assert by_resource[resource][5] == reading["collected_at"]


def test_a_missing_tier_root_fails_that_tier_only(tmp_path: Path, sshd: SshServer) -> None:
    roots = tier_roots(tmp_path)
    roots["gone"] = tmp_path / "tiers" / "not here"
    inv = write_inventory(tmp_path / "inv.yaml", hosts={"store": ssh_host(sshd, roots)})
    state = tmp_path / "state"
    run = capacity("collect", str(inv), "--source", "ssh", "--state", str(state),
                   "--format", "json")
    assert run.returncode == 1, run.stderr
    assert set(recorded(run)) == {"store:hot", "store:cold"}
    assert [f["resources"] for f in json.loads(run.stdout)["failed"]] == ["store:gone"]
    assert "store:gone" in run.stderr and "Traceback" not in run.stderr
    assert {row[0] for row in rows(state)} == {"store:hot", "store:cold"}


def test_an_unreachable_host_fails_its_tiers_and_the_other_host_is_recorded(
        tmp_path: Path, sshd: SshServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    roots = tier_roots(tmp_path)
    down = {**ssh_host(sshd, roots), "port": closed}
    inv = write_inventory(tmp_path / "inv.yaml",
                          hosts={"down": down, "store": ssh_host(sshd, roots)})
    state = tmp_path / "state"
    run = capacity("collect", str(inv), "--state", str(state), "--format", "json")
    assert run.returncode == 1, run.stderr
    assert [f["resources"] for f in json.loads(run.stdout)["failed"]] == ["down:hot, down:cold"]
    assert f"127.0.0.1:{closed}" in run.stderr
    assert {row[0] for row in rows(state)} == {"store:hot", "store:cold"}


# --------------------------------------------------------------------------- catalogue


def test_the_catalogue_gives_the_bytes_of_the_files_its_scan_found(
        tmp_path: Path, sshd: SshServer) -> None:
    roots = tier_roots(tmp_path)
    inv = write_inventory(tmp_path / "inv.yaml", hosts={"store": ssh_host(sshd, roots)})
    state = tmp_path / "state"
    scan = capacity("tier", "scan", str(inv), "--state", str(state))
    assert scan.returncode == 0, scan.stdout + scan.stderr
    run = capacity("collect", str(inv), "--source", "catalogue", "--state", str(state),
                   "--format", "json")
    assert run.returncode == 0, run.stderr
    got = recorded(run)
    files = {tier: sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
             for tier, root in roots.items()}
    assert files == {"hot": 3 * MIB + 5000, "cold": MIB}
    assert {r: (g["used_bytes"], g["capacity_bytes"], g["source"]) for r, g in got.items()} == {
        "store:hot:catalogue": (files["hot"], None, "catalogue"),
        "store:cold:catalogue": (files["cold"], None, "catalogue")}
    assert got["store:hot:catalogue"]["day"] == date.today().isoformat()  # the scan's day


def test_every_possible_source_by_default_and_the_catalogue_only_once_it_exists(
        tmp_path: Path, sshd: SshServer) -> None:
    roots = tier_roots(tmp_path)
    inv = write_inventory(tmp_path / "inv.yaml", hosts={"store": ssh_host(sshd, roots)})
    state = tmp_path / "state"
    run = capacity("collect", str(inv), "--state", str(state), "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["sources"] == ["ssh"]
    asked = capacity("collect", str(inv), "--source", "catalogue", "--state", str(state))
    assert asked.returncode == 2 and "tier scan" in asked.stderr
    assert capacity("tier", "scan", str(inv), "--state", str(state)).returncode == 0
    run = capacity("collect", str(inv), "--state", str(state), "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["sources"] == ["ssh", "catalogue"]
    assert set(recorded(run)) == {"store:hot", "store:cold", "store:hot:catalogue",
                                  "store:cold:catalogue"}


# --------------------------------------------------------------------------- prometheus


def test_prometheus_gives_node_exporters_file_system_as_statvfs_sees_it(
        tmp_path: Path, prometheus: PrometheusServer,
        exporter_of_filesystems: Daemon) -> None:
    target = exporter_of_filesystems.address
    job = f"node-{target.rsplit(':', 1)[1]}"
    prometheus.scrape(job, target)
    mount = mountpoint(tmp_path)
    prometheus.wait_for(f'node_filesystem_free_bytes{{instance="{target}",'
                        f'mountpoint="{mount}"}}')
    inv = write_inventory(
        tmp_path / "inv.yaml",
        hosts={"store": {"address": "store.example", "tiers": {"hot": str(tmp_path)}}},
        collect={"prometheus": {"url": prometheus.url, "filesystems": [
            {"resource": "store:hot", "instance": target, "mountpoint": mount}]}})
    state = tmp_path / "state"
    before, size = used_and_size(tmp_path)
    run = capacity("collect", str(inv), "--state", str(state), "--format", "json")
    after, _ = used_and_size(tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["sources"] == ["prometheus"]  # the mapped tier: not ssh
    got = recorded(run)["store:hot"]
    assert got["source"] == "prometheus" and got["capacity_bytes"] == size
    # scraped every second: within what changed on the machine since the last scrape
    assert min(before, after) - SLACK <= got["used_bytes"] <= max(before, after) + SLACK
    assert rows(state)[0][:4] == ("store:hot", date.today().isoformat(), got["used_bytes"],
                                  size)


def test_prometheus_without_the_series_or_unreachable_fails_its_resources(
        tmp_path: Path, prometheus: PrometheusServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket is closed
    hosts = {"store": {"address": "store.example", "tiers": {"hot": "/srv/hot",
                                                             "cold": "/srv/cold"}}}
    fs = [{"resource": "store:hot", "instance": "nowhere:9100", "mountpoint": "/srv"},
          {"resource": "store:cold", "instance": "nowhere:9100", "mountpoint": "/srv"}]
    inv = write_inventory(tmp_path / "a.yaml", hosts=hosts, collect={
        "prometheus": {"url": prometheus.url, "filesystems": fs}})
    run = capacity("collect", str(inv), "--state", str(tmp_path / "s"), "--format", "json")
    assert run.returncode == 1
    failed = json.loads(run.stdout)["failed"]
    assert [f["resources"] for f in failed] == ["store:hot", "store:cold"]
    assert "no node_filesystem_size_bytes or node_filesystem_free_bytes" in failed[0]["message"]
    inv = write_inventory(tmp_path / "b.yaml", hosts=hosts, collect={
        "prometheus": {"url": f"http://127.0.0.1:{closed}", "filesystems": fs}})
    run = capacity("collect", str(inv), "--state", str(tmp_path / "s"))
    assert run.returncode == 1
    assert "store:hot, store:cold" in run.stderr and "cannot be reached" in run.stderr


# --------------------------------------------------------------------------- arrays

ARRAY = {"site": "lab", "model": "vsp-g900", "drive_boxes": 10, "pools": {
    "pacs-hdt": {"type": "HDT", "tiers": [
        {"name": "ssd", "parity_groups": [{"drive": "sas-ssd-3.84tb", "raid": "7D+1P",
                                           "count": 1}]},
        {"name": "nlsas", "parity_groups": [{"drive": "nl-sas-18tb", "raid": "14D+2P",
                                             "count": 5}], "spares": 2}]},
    "vm": {"pool_id": 1, "tiers": [
        {"name": "sas", "parity_groups": [{"drive": "sas-10k-2.4tb", "raid": "6D+2P",
                                           "count": 1}]}]}}}
VSP_ENV = {"CAPACITY_VSP_USER": USER, "CAPACITY_VSP_PASSWORD": PASSWORD}


def test_arrays_give_each_declared_pool_as_the_array_reports_it(
        tmp_path: Path, vsp: ContractServer) -> None:
    inv = write_inventory(tmp_path / "inv.yaml", arrays={"g900-lab": {
        **ARRAY, "rest": {"endpoint": vsp.endpoint, "ca_bundle": str(vsp.pki.ca)}}})
    state = tmp_path / "state"
    run = capacity("collect", str(inv), "--state", str(state), "--format", "json",
                   env=VSP_ENV)
    assert run.returncode == 0, run.stderr
    live = {p["poolName"]: p for p in example_objects()["pools"]}
    expected = {  # by name (pacs-hdt) and by pool_id (vm is the array's vm-hdp)
        "g900-lab/pacs-hdt": live["pacs-hdt"], "g900-lab/vm": live["vm-hdp"]}
    got = recorded(run)
    assert set(got) == set(expected)
    for resource, pool in expected.items():
        assert got[resource]["used_bytes"] == (pool["totalPoolCapacity"]
                                               - pool["availableVolumeCapacity"]) * MIB
        assert got[resource]["capacity_bytes"] == pool["totalPoolCapacity"] * MIB
    assert got["g900-lab/pacs-hdt"]["used_bytes"] == 851_968_000 * MIB
    assert vsp.state.open_sessions == 0 and vsp.state.counts.sessions_created == 1
    assert len(rows(state)) == 2


def test_a_pool_the_array_lacks_fails_while_the_rest_is_still_recorded(
        tmp_path: Path, sshd: SshServer, vsp: ContractServer) -> None:
    roots = tier_roots(tmp_path)
    missing_pool = {**ARRAY, "pools": {**ARRAY["pools"], "archive": ARRAY["pools"]["vm"]
                                       | {"pool_id": 9}}}
    inv = write_inventory(tmp_path / "inv.yaml", hosts={"store": ssh_host(sshd, roots)},
                          arrays={"g900-lab": {**missing_pool, "rest": {
                              "endpoint": vsp.endpoint, "ca_bundle": str(vsp.pki.ca)}}})
    state = tmp_path / "state"
    run = capacity("collect", str(inv), "--state", str(state), "--format", "json",
                   env=VSP_ENV)
    assert run.returncode == 1, run.stderr
    assert set(recorded(run)) == {"store:hot", "store:cold", "g900-lab/pacs-hdt",
                                  "g900-lab/vm"}
    assert "g900-lab/archive" in run.stderr and "poolId 9" in run.stderr
    assert len(rows(state)) == 4


def test_refused_credentials_exit_2_while_ssh_is_still_recorded(
        tmp_path: Path, sshd: SshServer, vsp: ContractServer) -> None:
    inv = write_inventory(tmp_path / "inv.yaml",
                          hosts={"store": ssh_host(sshd, tier_roots(tmp_path))},
                          arrays={"g900-lab": {**ARRAY, "rest": {
                              "endpoint": vsp.endpoint, "ca_bundle": str(vsp.pki.ca)}}})
    state = tmp_path / "state"
    run = capacity("collect", str(inv), "--state", str(state), "--format", "json",
                   env={"CAPACITY_VSP_USER": USER, "CAPACITY_VSP_PASSWORD": "wrong"})
    assert run.returncode == 2, run.stderr
    assert "g900-lab/pacs-hdt, g900-lab/vm" in run.stderr and "wrong" not in run.stderr
    assert {row[0] for row in rows(state)} == {"store:hot", "store:cold"}


def test_bad_input_exits_2_and_records_nothing(tmp_path: Path, vsp: ContractServer) -> None:
    inv = write_inventory(tmp_path / "inv.yaml", arrays={"g900-lab": {
        **ARRAY, "rest": {"endpoint": vsp.endpoint, "ca_bundle": str(vsp.pki.ca)}}})
    state = tmp_path / "state"
    for args, env, says in (
            (["--day", "2026-13-01"], VSP_ENV, "--day"),
            (["--source", "ssh"], VSP_ENV, "no host"),
            ([], {}, "no credentials"),
            (["--source", "bogus"], VSP_ENV, "bogus")):
        run = capacity("collect", str(inv), "--state", str(state), *args, env=env)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert says in run.stderr and "Traceback" not in run.stderr
    assert not (state / "history.sqlite").exists() or rows(state) == []
