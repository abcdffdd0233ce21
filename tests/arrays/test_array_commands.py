"""`capacity array show` and `capacity array import` as a user runs them (a real process),
against the contract server of the documented API over HTTPS; credentials from the
environment, as an operator's would be.  The drift expected is worked out here from the
server's own objects and the inventory written here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from capacity.load import load_inventory
from capacity.sizing import size_estate
from tests.vsp_contract import PASSWORD, STORAGE_DEVICE_ID, USER, ContractServer

ROOT = Path(__file__).resolve().parents[2]
TIB = 2**40

HEAD = """\
name: Lab
as_of: 2026-11-01
sites:
  lab: {role: primary, racks: {count: 2, units: 42, power_kw: 20}}
workloads:
  pacs:
    lands_on: g900-lab/pacs-hdt
    stored: 500TB
    stored_ages: {youngest: 0d, oldest: 1y}
    retention: 10y
"""

ARRAY = """\
arrays:
  g900-lab:
    site: lab
    model: vsp-g900
    drive_boxes: 8
    rest: {{endpoint: "{endpoint}", ca_bundle: "{ca}"}}
    pools:
      pacs-hdt:
        type: HDT
        tiers:
          - name: ssd
            parity_groups: [{{drive: sas-ssd-3.84tb, raid: 7D+1P, count: 1}}]
          - name: nlsas
            parity_groups: [{{drive: nl-sas-18tb, raid: 14D+2P, count: 4}}]
            spares: 2
      vm:
        pool_id: 1
        tiers:
          - name: sas
            parity_groups: [{{drive: sas-10k-2.4tb, raid: 6D+2P, count: 1}}]
"""


def inventory(tmp_path: Path, vsp: ContractServer, *, ca: Path | None = None) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(HEAD + ARRAY.format(endpoint=vsp.endpoint, ca=ca or vsp.pki.ca),
                    encoding="utf-8")
    return path


def capacity(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CAPACITY_VSP")}
    environ.update({"CAPACITY_VSP_USER": USER, "CAPACITY_VSP_PASSWORD": PASSWORD}
                   if env is None else env)
    return subprocess.run([sys.executable, "-m", "capacity", *args], capture_output=True,
                          text=True, check=False, cwd=ROOT, env=environ, timeout=120)


def inventory_fill(path: Path, ref: str) -> int:
    sized = {r.ref: r for r in size_estate(load_inventory(path)).resources}
    return round(sized[ref].fill * 100)


def test_show_names_the_drift(tmp_path: Path, vsp: ContractServer) -> None:
    path = inventory(tmp_path, vsp)
    run = capacity("array", "show", "g900-lab", "-i", str(path))
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert ("pool pacs-hdt: the inventory has 4 parity groups in tier 2 (nlsas), the array 5"
            in text)
    said = inventory_fill(path, "g900-lab/pacs-hdt")
    assert said != 71
    assert f"pool pacs-hdt: used 71%, the inventory says {said}%" in text
    # vm is the array's vm-hdp, matched by its pool_id; thresholds left at the defaults
    assert "pool vm (poolId 1): warning threshold 75%, the inventory says 70%" in text
    assert "pool vm (poolId 1): depletion threshold 85%, the inventory says 80%" in text
    assert "tier 1 (ssd)" not in text  # one SSD group on both sides
    assert vsp.state.open_sessions == 0 and vsp.state.counts.sessions_created == 1


def test_show_json_in_integer_bytes(tmp_path: Path, vsp: ContractServer) -> None:
    run = capacity("array", "show", "g900-lab", "-i", str(inventory(tmp_path, vsp)),
                   "--format", "json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    pools = {p["name"]: p for p in data["pools"]}
    hdt = pools["pacs-hdt"]
    assert (hdt["total_bytes"], hdt["used_bytes"], hdt["available_bytes"]) == (
        2289 * TIB // 2, 1625 * TIB // 2, 332 * TIB)
    assert (hdt["used_ratio"], hdt["warning_ratio"], hdt["depletion_ratio"]) == (0.71, 0.7,
                                                                                  0.8)
    assert [(t["number"], t["inventory_parity_groups"], t["parity_groups"])
            for t in hdt["tiers"]] == [(1, 1, ["1-1"]),
                                       (2, 4, ["2-1", "2-2", "2-3", "2-4", "2-5"])]
    assert pools["vm"]["pool_id"] == 1 and pools["vm"]["total_bytes"] == 13 * TIB
    assert data["drift"] == [line for p in data["pools"] for line in p["drift"]]


def test_import_writes_a_fragment_that_validate_accepts(tmp_path: Path,
                                                        vsp: ContractServer) -> None:
    path = inventory(tmp_path, vsp)
    fragment = tmp_path / "g900-lab.yaml"
    run = capacity("array", "import", "g900-lab", "-i", str(path), "-o", str(fragment))
    assert run.returncode == 0, run.stderr
    text = fragment.read_text(encoding="utf-8")
    assert "2-5 (NLSAS DKS5K-J18TSS, 14D+2P" in text and "-> nl-sas-18tb" in text
    # 8 + 5 x 16 + 8 drives in groups and 2 spares: 98, more than 8 boxes of 12 hold
    assert "drive_boxes 8 -> 9" in text
    main = tmp_path / "main.yaml"
    main.write_text(HEAD + "include: [g900-lab.yaml]\n", encoding="utf-8")
    check = capacity("validate", str(main))
    assert check.returncode == 0, check.stdout + check.stderr
    imported = load_inventory(main).arrays["g900-lab"]
    hdt = imported.pools["pacs-hdt"]
    assert [(t.name, [(g.drive, g.raid, g.count) for g in t.parity_groups]) for t in
            hdt.tiers] == [("ssd", [("sas-ssd-3.84tb", "7D+1P", 1)]),
                           ("nlsas", [("nl-sas-18tb", "14D+2P", 5)])]
    assert (hdt.pool_id, hdt.thresholds.warning, hdt.thresholds.critical) == (0, 0.7, 0.8)
    vm = imported.pools["vm"]
    assert [(g.drive, g.raid) for g in vm.tiers[0].parity_groups] == [("sas-10k-2.4tb",
                                                                        "6D+2P")]
    assert (vm.thresholds.warning, vm.thresholds.critical) == (0.75, 0.85)
    assert imported.rest is not None and imported.rest.endpoint == vsp.endpoint
    assert imported.drive_boxes == 9
    again = capacity("array", "show", "g900-lab", "-i", str(main))
    assert again.returncode == 0, again.stderr
    assert "parity groups in" not in again.stdout and "threshold" not in again.stdout


def test_wrong_credentials_exit_2(tmp_path: Path, vsp: ContractServer) -> None:
    run = capacity("array", "show", "g900-lab", "-i", str(inventory(tmp_path, vsp)),
                   env={"CAPACITY_VSP_USER": USER, "CAPACITY_VSP_PASSWORD": "nope"})
    assert run.returncode == 2
    assert f"the array refused the user {USER!r}" in run.stderr and "nope" not in run.stderr
    assert "Traceback" not in run.stderr


def test_a_credentials_file_readable_by_others_exits_2(tmp_path: Path, vsp: ContractServer,
                                                       credentials_file: Path) -> None:
    credentials_file.chmod(0o644)
    run = capacity("array", "show", "g900-lab", "-i", str(inventory(tmp_path, vsp)),
                   "--credentials", str(credentials_file), env={})
    assert run.returncode == 2
    assert run.stderr.startswith(f"{credentials_file}: ") and "0644" in run.stderr
    assert vsp.state.counts.requests == []
    credentials_file.chmod(0o600)
    ok = capacity("array", "show", "g900-lab", "-i", str(inventory(tmp_path, vsp)),
                  "--credentials", str(credentials_file), env={})
    assert ok.returncode == 0, ok.stderr


def test_no_credentials_exit_2(tmp_path: Path, vsp: ContractServer) -> None:
    run = capacity("array", "show", "g900-lab", "-i", str(inventory(tmp_path, vsp)), env={})
    assert run.returncode == 2 and "CAPACITY_VSP_USER" in run.stderr


def test_an_untrusted_certificate_exits_1(tmp_path: Path, vsp: ContractServer) -> None:
    run = capacity("array", "show", "g900-lab", "-i",
                   str(inventory(tmp_path, vsp, ca=vsp.pki.other_ca)))
    assert run.returncode == 1 and "TLS certificate not trusted" in run.stderr
    assert "Traceback" not in run.stderr
    trusted = capacity("array", "show", "g900-lab", "-i",
                       str(inventory(tmp_path, vsp, ca=vsp.pki.other_ca)),
                       "--ca-bundle", str(vsp.pki.ca))
    assert trusted.returncode == 0, trusted.stderr


@pytest.mark.parametrize(("name", "expected"), [
    ("g900-lob", "no array named 'g900-lob'; did you mean 'g900-lab'?"),
])
def test_an_unknown_array_exits_2(tmp_path: Path, vsp: ContractServer, name: str,
                                  expected: str) -> None:
    run = capacity("array", "show", name, "-i", str(inventory(tmp_path, vsp)))
    assert run.returncode == 2 and expected in run.stderr


def test_an_array_without_an_endpoint_exits_2_at_its_place() -> None:
    run = capacity("array", "import", "g900-main", "-i", "inventories/medical-center.yaml")
    assert run.returncode == 2
    assert run.stderr.startswith("inventories/medical-center.yaml:147:5: arrays.g900-main:"
                                 " no REST endpoint")


# --------------------------------------------------------------------------- a new array


def test_import_of_an_array_not_in_the_inventory_yet(tmp_path: Path,
                                                     vsp: ContractServer) -> None:
    """The contract server plays a second G900, behind a Configuration Manager server: the
    fragment import writes from the options is included, validated, and shown."""
    path = inventory(tmp_path, vsp)
    fragment = tmp_path / "g900-new.yaml"
    run = capacity("array", "import", "g900-new", "-i", str(path), "-o", str(fragment),
                   "--endpoint", vsp.endpoint, "--storage-device-id", STORAGE_DEVICE_ID,
                   "--ca-bundle", str(vsp.pki.ca), "--site", "lab", "--model", "vsp-g900")
    assert run.returncode == 0, run.stderr
    assert all(f"/objects/storages/{STORAGE_DEVICE_ID}/" in r
               for r in vsp.state.counts.requests)
    text = fragment.read_text(encoding="utf-8")
    # 8 + 5 x 16 + 8 drives in parity groups, 96: 8 boxes of 12; no spares
    assert "site, model and REST endpoint as given" in text and "drive_boxes 0 -> 8" in text
    assert "pool pacs-hdt tier 2: no spares written" in text
    main = tmp_path / "main.yaml"
    main.write_text(path.read_text(encoding="utf-8") + "include: [g900-new.yaml]\n",
                    encoding="utf-8")
    check = capacity("validate", str(main))
    assert check.returncode == 0, check.stdout + check.stderr
    new = load_inventory(main).arrays["g900-new"]
    assert (new.site, new.model, new.drive_boxes) == ("lab", "vsp-g900", 8)
    assert new.rest is not None and (new.rest.endpoint, new.rest.storage_device_id,
                                     new.rest.ca_bundle) == (vsp.endpoint, STORAGE_DEVICE_ID,
                                                             str(vsp.pki.ca.resolve()))
    assert {name: [(g.drive, g.raid, g.count) for t in pool.tiers for g in t.parity_groups]
            for name, pool in new.pools.items()} == {
        "pacs-hdt": [("sas-ssd-3.84tb", "7D+1P", 1), ("nl-sas-18tb", "14D+2P", 5)],
        "vm-hdp": [("sas-10k-2.4tb", "6D+2P", 1)]}
    shown = capacity("array", "show", "g900-new", "-i", str(main))  # its own REST entry
    assert shown.returncode == 0, shown.stderr
    assert "parity groups in" not in shown.stdout and "threshold" not in shown.stdout
    assert vsp.state.open_sessions == 0


@pytest.mark.parametrize(("options", "expected"), [
    ([], "no array named 'g900-new'; did you mean 'g900-lab'?; to import an array not yet in"
         " the inventory, give --endpoint, --site and --model"),
    (["--endpoint", "https://127.0.0.1:1", "--model", "vsp-g900"],
     "--site: array 'g900-new' is not in the inventory: give --site too"),
    (["--endpoint", "https://127.0.0.1:1", "--site", "lob", "--model", "vsp-g900"],
     "--site: no site named 'lob'; did you mean 'lab'?"),
    (["--endpoint", "https://127.0.0.1:1", "--site", "lab", "--model", "vsp-g90"],
     "--model: no array model named 'vsp-g90'; did you mean 'vsp-g900'?"),
    (["--endpoint", "http://127.0.0.1:1", "--site", "lab", "--model", "vsp-g900"],
     "--endpoint: the REST endpoint is https://HOST[:PORT], not 'http://127.0.0.1:1'"),
    (["g900 new", "--endpoint", "https://127.0.0.1:1", "--site", "lab", "--model", "vsp-g900"],
     "NAME: 'g900 new' cannot name an array"),
])
def test_import_of_a_new_array_refuses_missing_or_wrong_options(
        tmp_path: Path, vsp: ContractServer, options: list[str], expected: str) -> None:
    named = bool(options) and not options[0].startswith("-")  # a NAME first: that one
    name, options = (options[0], options[1:]) if named else ("g900-new", options)
    run = capacity("array", "import", name, "-i", str(inventory(tmp_path, vsp)), *options)
    assert run.returncode == 2 and expected in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and vsp.state.counts.requests == []


def test_show_keeps_to_arrays_in_the_inventory(tmp_path: Path, vsp: ContractServer) -> None:
    run = capacity("array", "show", "g900-new", "-i", str(inventory(tmp_path, vsp)))
    assert run.returncode == 2 and "no array named 'g900-new'" in run.stderr


# --------------------------------------------------------------------------- a failing network


def test_show_rides_out_a_reset_connection_and_an_expired_session(
        tmp_path: Path, vsp: ContractServer) -> None:
    vsp.state.reset_connections = 1  # the first try waits 1 s, the default backoff
    vsp.state.expire_after = 2
    run = capacity("array", "show", "g900-lab", "-i", str(inventory(tmp_path, vsp)))
    assert run.returncode == 0, run.stderr
    assert "pool pacs-hdt: the inventory has 4 parity groups" in " ".join(run.stdout.split())
    counts = vsp.state.counts
    assert counts.connections_reset == 1 and counts.sessions_expired == 1
    assert counts.sessions_created == 2 and vsp.state.open_sessions == 0



def test_import_with_endpoint_moves_an_inventoried_array(tmp_path: Path,
                                                         vsp: ContractServer) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(HEAD + ARRAY.format(endpoint="https://127.0.0.1:1", ca=vsp.pki.ca),
                    encoding="utf-8")
    fragment = tmp_path / "g900-lab.yaml"
    run = capacity("array", "import", "g900-lab", "-i", str(path), "-o", str(fragment),
                   "--endpoint", vsp.endpoint)
    assert run.returncode == 0, run.stderr
    main = tmp_path / "main.yaml"
    main.write_text(HEAD + "include: [g900-lab.yaml]\n", encoding="utf-8")
    moved = load_inventory(main).arrays["g900-lab"]
    assert moved.rest is not None and (moved.rest.endpoint, moved.rest.ca_bundle) == (
        vsp.endpoint, str(vsp.pki.ca))  # the endpoint given, the CA bundle kept
    assert moved.drive_boxes == 9 and moved.pools["pacs-hdt"].tiers[1].spares == 2


def test_import_keeps_the_volumes_the_inventory_lists(tmp_path: Path,
                                                     vsp: ContractServer) -> None:
    """A pool's volumes say when each was last written, which no array knows: a fragment
    written afresh keeps them as they were."""
    path = inventory(tmp_path, vsp)
    volumes = ("        volumes:\n"
               "          pacs-archive-2019: {ldev: 0x200, used: 31TiB, last_write: 2019-12-31,"
               " tier_level: 5}\n"
               "          pacs-current: {ldev: 0x203, used: 1.5TiB}\n")
    text = path.read_text(encoding="utf-8").replace(
        "            spares: 2\n", "            spares: 2\n" + volumes)
    path.write_text(text, encoding="utf-8")
    before = load_inventory(path).arrays["g900-lab"].pools["pacs-hdt"].volumes
    assert len(before) == 2
    fragment = tmp_path / "g900-lab.yaml"
    run = capacity("array", "import", "g900-lab", "-i", str(path), "-o", str(fragment))
    assert run.returncode == 0, run.stderr
    assert "pool pacs-hdt: its 2 volume(s) kept from the inventory" in fragment.read_text(
        encoding="utf-8")
    main = tmp_path / "main.yaml"
    main.write_text(HEAD + "include: [g900-lab.yaml]\n", encoding="utf-8")
    check = capacity("validate", str(main))
    assert check.returncode == 0, check.stdout + check.stderr
    assert load_inventory(main).arrays["g900-lab"].pools["pacs-hdt"].volumes == before
