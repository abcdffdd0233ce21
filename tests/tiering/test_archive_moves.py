"""Moves from a file tier on a host into a bucket tier: real files on a host reached over the
real sshd, a real S3 server on loopback.  What arrives is read back with a plain boto3
client and compared with ``sha256`` of the files as they were; the manifest is the switch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import secrets
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from capacity.load import load_inventory
from capacity.tiering import journal as J
from capacity.tiering.apply import Engine, Options
from capacity.tiering.archive import MANIFEST
from capacity.tiering.audit import AuditLog
from capacity.tiering.journal import Journal
from capacity.transports import (
    CommandResult,
    ConnectionLost,
    LocalTransport,
    SshTarget,
    SshTransport,
    Transport,
)
from capacity.units import Years, ends_on
from tests.s3server import S3Server
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_study, plan_from_disk, snapshot

STUDY = "2025/01/STUDY"


class NoCurl(LocalTransport):
    """A host without curl: the controller streams its files to the store."""

    label = "no-curl"

    def run(self, argv: Any, **kw: Any) -> CommandResult:
        if list(argv)[:1] == ["curl"]:
            return CommandResult(tuple(argv), 127, b"", b"sh: curl: not found")
        return super().run(argv, **kw)


@pytest.fixture
def archive(s3: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return {"bucket": s3_bucket, "root": f"/move-{secrets.token_hex(4)}", "client": s3.client()}


def setup(tmp: Path, sshd: SshServer, s3: S3Server, archive: dict[str, Any],
          policy: dict[str, Any] | None = None, ca_bundle: Path | None = None
          ) -> tuple[Path, dict[str, Path | PurePosixPath]]:
    hot = tmp / "hot"
    hot.mkdir()
    make_study(hot, STUDY, 3, 20_000, random.Random(7))
    (hot / STUDY / "series 2").mkdir()
    odd = hot / STUDY / "series 2" / "IM 'odd' $name.dcm"
    odd.write_bytes(b"DICM odd")
    when = (hot / STUDY / "IM00000.dcm").stat().st_mtime
    os.utime(odd, (when, when))
    path = inventory_file(tmp, sshd, {"hot": hot})
    data = yaml.safe_load(path.read_text())
    api = {"endpoint": s3.endpoint, "region": s3.region,
           **({"ca_bundle": str(ca_bundle)} if ca_bundle else {})}
    data["object_stores"] = {"hcp1": {"site": "s", "raw": "1PB", "object_lock": True,
                                      "s3": api}}
    data["hosts"]["pacs1"]["tiers"]["archive"] = {"storage": "hcp1", "bucket": archive["bucket"],
                                                  "path": archive["root"]}
    data["policies"]["life"]["rules"] = [{"name": "to-warm", "from": "hot", "to": "archive",
                                          "select": {"older_than": "180d"}}]
    data["policies"]["life"].update(policy or {})
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path, {"hot": hot, "archive": PurePosixPath(archive["root"])}


def apply(tmp: Path, inventory: Path, roots: dict[str, Any], transport: Transport
          ) -> tuple[Any, list[dict[str, Any]]]:
    plan = plan_from_disk(inventory, roots, [("hot", "archive", STUDY)])
    journal, audit = Journal(tmp / "journal.sqlite"), AuditLog(tmp / "audit.jsonl")
    try:
        engine = Engine(load_inventory(inventory), "pacs1", transport, journal, audit,
                        Options(respect_windows=False))
        report = engine.run_plan(plan, "plan.json")
    finally:
        journal.close()
        audit.close()
    records = [json.loads(line) for line in (tmp / "audit.jsonl").read_text().splitlines()]
    return report, records


def objects(archive: dict[str, Any]) -> dict[str, bytes]:
    """Every object under the tier, by its key below the tier root, read back."""
    client, prefix = archive["client"], archive["root"].strip("/") + "/"
    listed = client.list_objects_v2(Bucket=archive["bucket"], Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: client.get_object(Bucket=archive["bucket"], Key=o["Key"])[
        "Body"].read() for o in listed}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("host", ["ssh", "no-curl"])
def test_a_study_moves_into_the_archive_verified_and_the_manifest_comes_last(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any], host: str) -> None:
    inventory, roots = setup(tmp_path, sshd, s3, archive)
    before = snapshot(tmp_path / "hot")
    transport: Transport = SshTransport(ssh_target) if host == "ssh" else NoCurl()
    with transport:
        report, audit = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1, report
    stored = objects(archive)
    manifest = json.loads(stored.pop(f"{STUDY}/{MANIFEST}"))
    assert {k: sha(v) for k, v in stored.items()} == before  # every byte, as it was
    assert {f["path"]: (f["size"], f["sha256"]) for f in manifest["files"]} == {
        k[len(STUDY) + 1:]: (len(v), sha(v)) for k, v in stored.items()}
    assert not (tmp_path / "hot" / STUDY).exists()
    steps = [r["step"] for r in audit]
    assert steps.index("uploaded") < steps.index("verified") < steps.index("renamed") < (
        steps.index("source-deleted"))
    uploaded = next(r for r in audit if r["step"] == "uploaded")
    assert uploaded["by"] == ("host" if host == "ssh" else "controller")


def test_a_locked_policy_locks_every_object_until_its_retention_ends(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any]) -> None:
    inventory, roots = setup(tmp_path, sshd, s3, archive, {
        "retention": "10y", "lock": {"mode": "compliance"},
        "holds": [{"paths": ["2025/01/*"], "reason": "case 2026-17"}]})
    newest = max(p.stat().st_mtime for p in (tmp_path / "hot").rglob("*") if p.is_file())
    until = ends_on(Years(10), dt.datetime.fromtimestamp(newest, dt.UTC).date())
    with SshTransport(ssh_target) as transport:
        report, _ = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1, report
    client, prefix = archive["client"], archive["root"].strip("/") + "/"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=archive["bucket"],
                                                    Prefix=prefix)["Contents"]]
    assert len(keys) == 5  # four files and the manifest
    for key in keys:
        head = client.head_object(Bucket=archive["bucket"], Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE", key
        assert head["ObjectLockRetainUntilDate"].date() == until
        assert head["ObjectLockLegalHoldStatus"] == "ON"


def test_what_a_cut_off_try_left_is_cleared_and_a_unit_in_the_archive_is_never_overwritten(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any]) -> None:
    inventory, roots = setup(tmp_path, sshd, s3, archive)
    client, bucket = archive["client"], archive["bucket"]
    prefix = f"{archive['root'].strip('/')}/{STUDY}/"
    client.put_object(Bucket=bucket, Key=f"{prefix}IM99999.dcm", Body=b"half a try")
    upload = client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}big.dcm")
    before = snapshot(tmp_path / "hot")
    with SshTransport(ssh_target) as transport:
        report, _ = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1, report
    stored = objects(archive)
    stored.pop(f"{STUDY}/{MANIFEST}")
    assert {k: sha(v) for k, v in stored.items()} == before  # the stray is gone
    assert client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []) == []
    assert upload["UploadId"]
    # The same study again (a copy on the hot tier): the archive's is never written over.
    make_study(tmp_path / "hot", STUDY, 1, 10, random.Random(1))
    (tmp_path / "journal.sqlite").unlink()
    with SshTransport(ssh_target) as transport:
        report, _ = apply(tmp_path, inventory, roots, transport)
    assert report.failed == 1
    assert (tmp_path / "hot" / STUDY / "IM00000.dcm").exists()
    again = objects(archive)
    again.pop(f"{STUDY}/{MANIFEST}")
    assert {k: sha(v) for k, v in again.items()} == before


def test_a_unit_cut_off_before_its_manifest_resumes_to_the_end(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection drops as the manifest is to be written: the study is whole on the
    host, not yet in the archive; resume writes the manifest and only then deletes."""
    from capacity.tiering.archive import ArchiveMove

    inventory, roots = setup(tmp_path, sshd, s3, archive)
    before = snapshot(tmp_path / "hot")
    real = ArchiveMove._switch

    def cut(self: ArchiveMove, row: Any) -> None:
        raise ConnectionLost("the link dropped before the manifest")

    monkeypatch.setattr(ArchiveMove, "_switch", cut)
    with SshTransport(ssh_target) as transport, pytest.raises(ConnectionLost):
        apply(tmp_path, inventory, roots, transport)
    assert snapshot(tmp_path / "hot") == before  # nothing deleted before the switch
    assert f"{STUDY}/{MANIFEST}" not in objects(archive)
    monkeypatch.setattr(ArchiveMove, "_switch", real)
    journal, audit = Journal(tmp_path / "journal.sqlite"), AuditLog(tmp_path / "audit.jsonl")
    try:
        (row,) = journal.units(unfinished=True)
        assert row.state == J.RENAMING
        with SshTransport(ssh_target) as transport:
            report = Engine(load_inventory(inventory), "pacs1", transport, journal, audit,
                            Options(respect_windows=False)).recover()
    finally:
        journal.close()
        audit.close()
    assert report.done == 1, report
    stored = objects(archive)
    assert json.loads(stored.pop(f"{STUDY}/{MANIFEST}"))["files"]
    assert {k: sha(v) for k, v in stored.items()} == before
    assert not (tmp_path / "hot" / STUDY).exists()


def test_scan_plan_and_apply_into_the_archive_from_the_command_line(
        tmp_path: Path, sshd: SshServer, s3: S3Server, archive: dict[str, Any]) -> None:
    """The operator's commands, as processes: the scan catalogues the hot tier over SSH and
    the (empty) archive tier from the store, the plan chooses the study, apply moves it,
    and the next scan finds it in the archive and gone from the hot tier."""
    import subprocess
    import sys

    inventory, _roots = setup(tmp_path, sshd, s3, archive)
    before = snapshot(tmp_path / "hot")
    env = {**os.environ, **s3.env(), "HOME": str(tmp_path)}
    env.pop("CAPACITY_STATE", None)
    state = tmp_path / "state"

    def capacity(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "capacity", *args, "--state", str(state)],
                              capture_output=True, text=True, check=False, env=env, timeout=300)

    scan = capacity("tier", "scan", str(inventory), "--format", "json")
    assert scan.returncode == 0, scan.stdout + scan.stderr
    tiers = {t["tier"]: t for h in json.loads(scan.stdout)["hosts"] for t in h["tiers"]}
    assert tiers["hot"]["files"] == 4 and tiers["archive"]["files"] == 0
    plan = capacity("tier", "plan", str(inventory), "--out", str(tmp_path / "plan.json"),
                    "--format", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert [u["unit"] for u in json.loads(plan.stdout)["units"]] == [STUDY]
    run = capacity("tier", "apply", str(tmp_path / "plan.json"), "--format", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    stored = objects(archive)
    assert json.loads(stored.pop(f"{STUDY}/{MANIFEST}"))["unit"] == STUDY
    assert {k: sha(v) for k, v in stored.items()} == before
    again = capacity("tier", "scan", str(inventory), "--format", "json")
    assert again.returncode == 0, again.stdout + again.stderr
    tiers = {t["tier"]: t for h in json.loads(again.stdout)["hosts"] for t in h["tiers"]}
    assert tiers["hot"]["files"] == 0
    # The four files; the manifest is the engine's (.capacity-*), which no scan counts.
    assert tiers["archive"]["files"] == 4
    assert tiers["archive"]["bytes"] == sum(len(v) for v in stored.values())


def test_streaming_through_the_controller_keeps_to_the_bandwidth(
        tmp_path: Path, sshd: SshServer, s3: S3Server, archive: dict[str, Any]) -> None:
    """60 kB at 40 kB/s take no less than 1.5 s, through the controller as by the host."""
    import time

    inventory, roots = setup(tmp_path, sshd, s3, archive,
                             {"pacing": {"bandwidth": "40kB/s"}})
    total = sum(p.stat().st_size for p in (tmp_path / "hot").rglob("*") if p.is_file())
    assert 60_000 <= total <= 61_000
    started = time.monotonic()
    with NoCurl() as transport:
        report, _ = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1, report
    assert time.monotonic() - started >= total / 40_000 * 0.95


@pytest.mark.parametrize("host", ["ssh", "no-curl"])
def test_a_study_is_recalled_verified_with_its_times_and_the_archive_keeps_it(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any], host: str) -> None:
    inventory, roots = setup(tmp_path, sshd, s3, archive)
    hot = tmp_path / "hot"
    before = snapshot(hot)
    times = {str(p.relative_to(hot)): p.stat().st_mtime for p in hot.rglob("*") if p.is_file()}
    transport: Transport = SshTransport(ssh_target) if host == "ssh" else NoCurl()
    with transport:
        report, _ = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1 and not (hot / STUDY).exists()
    archived = objects(archive)
    journal, audit = Journal(tmp_path / "journal.sqlite"), AuditLog(tmp_path / "audit.jsonl")
    transport = SshTransport(ssh_target) if host == "ssh" else NoCurl()
    try:
        with transport:
            engine = Engine(load_inventory(inventory), "pacs1", transport, journal, audit,
                            Options(respect_windows=False))
            back = engine.recall([("archive", "hot", STUDY)])
            assert back.done == 1, back
            again = Engine(load_inventory(inventory), "pacs1", transport, journal, audit,
                           Options(respect_windows=False)).recall([("archive", "hot", STUDY)])
            assert again.done == 0 and again.failed == 0  # recalled before: nothing to do
    finally:
        journal.close()
        audit.close()
    assert snapshot(hot) == before
    for rel, mtime in times.items():
        assert (hot / rel).stat().st_mtime == pytest.approx(mtime, abs=1.0), rel
    assert objects(archive) == archived  # the archive keeps its copy
    assert not [p for p in hot.rglob("*") if ".capacity" in p.name]
    # Chosen again (here by another state folder's journal): the archive holds these very
    # files, so nothing goes up again, and the study leaves the hot tier once more.
    (tmp_path / "journal.sqlite").unlink()
    transport = SshTransport(ssh_target) if host == "ssh" else NoCurl()
    with transport:
        report, audit_records = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1, report
    assert not (hot / STUDY).exists()
    assert objects(archive) == archived
    last = [r["step"] for r in audit_records][-6:]
    assert "source-deleted" in last


def test_recall_from_the_command_line_never_writes_over_and_names_what_is_not_archived(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any]) -> None:
    import subprocess
    import sys

    inventory, roots = setup(tmp_path, sshd, s3, archive)
    hot = tmp_path / "hot"
    before = snapshot(hot)
    with SshTransport(ssh_target) as transport:
        report, _ = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1
    env = {**os.environ, **s3.env(), "HOME": str(tmp_path)}

    def recall(*units: str, to: str = "hot") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "capacity", "tier", "recall", *units,
                               "--inventory", str(inventory), "--host", "pacs1", "--from",
                               "archive", "--to", to, "--state", str(tmp_path / "state"),
                               "--format", "json"], capture_output=True, text=True,
                              check=False, env=env, timeout=300)

    missing = recall("2025/02/NOT-ARCHIVED")
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert "2025/02/NOT-ARCHIVED is not in the archive 'archive'" in missing.stderr
    (hot / STUDY).mkdir(parents=True)
    (hot / STUDY / "new.dcm").write_bytes(b"written since")
    blocked = recall(STUDY)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert json.loads(blocked.stdout)["hosts"][0]["failed"] == 1
    assert [p.name for p in (hot / STUDY).iterdir()] == ["new.dcm"]
    (hot / STUDY / "new.dcm").unlink()
    (hot / STUDY).rmdir()
    ok = recall(STUDY)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert snapshot(hot) == before
    bad = recall(STUDY, to="archive")
    assert bad.returncode == 2 and "not a file tier" in bad.stderr


def test_a_hook_runs_once_the_unit_is_archived_and_a_stub_is_refused(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any]) -> None:
    """The PACS learns the study's new place before its source goes; a link cannot lead into
    an object store, so a stub policy is refused before anything is touched."""
    from capacity.transports import Unsupported

    log = tmp_path / "hook.log"
    inventory, roots = setup(tmp_path, sshd, s3, archive, {
        "hook": ["sh", "-c", f'test -d "$1" && echo "$2" >> {log}', "sh", "{source}",
                 "{target}"]})
    with SshTransport(ssh_target) as transport:
        report, _ = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1, report
    assert log.read_text() == f"{archive['root']}/{STUDY}\n"  # while the source was there
    (tmp_path / "stub").mkdir()
    stubbed, stub_roots = setup(tmp_path / "stub", sshd, s3, archive, {"stub": True})
    with SshTransport(ssh_target) as transport, pytest.raises(
            Unsupported, match="stub link to an object"):
        apply(tmp_path / "stub", stubbed, stub_roots, transport)
    assert (tmp_path / "stub" / "hot" / STUDY).is_dir()


def test_over_tls_the_host_verifies_the_store_with_its_ca(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget,
        s3_tls: tuple[S3Server, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A private archive's CA, named in the inventory, is what the controller and the
    host's curl both verify the store against; the upload is the host's."""
    server, pki = s3_tls
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    client = server.client(verify=str(pki.ca))
    bucket = f"tls-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True,
                         CreateBucketConfiguration={"LocationConstraint": server.region})
    archive = {"bucket": bucket, "root": "/pacs", "client": client}
    inventory, roots = setup(tmp_path, sshd, server, archive, ca_bundle=pki.ca)
    before = snapshot(tmp_path / "hot")
    with SshTransport(ssh_target) as transport:
        report, audit = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1, report
    assert next(r for r in audit if r["step"] == "uploaded")["by"] == "host"
    stored = objects(archive)
    stored.pop(f"{STUDY}/{MANIFEST}")
    assert {k: sha(v) for k, v in stored.items()} == before
    assert (tmp_path / "host.lock.ca.pem").read_bytes() == pki.ca.read_bytes()


def test_a_file_changed_after_it_was_hashed_is_refused_by_the_store_and_nothing_is_left(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The PACS rewrites an image between the host's hash and its upload: the store refuses
    the bytes (they differ from the signed sum), the study is skipped whole, kept on the
    host as it now is, and none of its objects stays in the archive."""
    from capacity.transports.s3 import S3Transport

    inventory, roots = setup(tmp_path, sshd, s3, archive)
    victim = tmp_path / "hot" / STUDY / "IM00002.dcm"
    real = S3Transport.presigned_put

    def rewrite_then_sign(self: S3Transport, path: str, b64: str, seconds: int) -> str:
        if path.endswith("IM00002.dcm"):
            victim.write_bytes(b"rewritten by the PACS")
        return real(self, path, b64, seconds)

    monkeypatch.setattr(S3Transport, "presigned_put", rewrite_then_sign)
    with SshTransport(ssh_target) as transport:
        report, audit = apply(tmp_path, inventory, roots, transport)
    assert report.skipped == 1, report
    assert victim.read_bytes() == b"rewritten by the PACS"
    assert len(list((tmp_path / "hot" / STUDY).rglob("*.dcm"))) == 4
    assert objects(archive) == {}  # the objects uploaded before it were purged
    assert "changed while it was uploaded" in next(
        r for r in audit if r["step"] == "skipped")["error"]


def test_a_recall_cut_short_is_finished_by_resume(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The link drops once the recalled files are fetched and verified, before they are put
    in place: nothing is there yet; resume renames them in, and leaves no work behind."""
    inventory, roots = setup(tmp_path, sshd, s3, archive)
    hot = tmp_path / "hot"
    before = snapshot(hot)
    with SshTransport(ssh_target) as transport:
        report, _ = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1
    journal, audit = Journal(tmp_path / "journal.sqlite"), AuditLog(tmp_path / "audit.jsonl")
    real = Journal.set

    def drop_before_the_rename(self: Journal, unit_id: str, state: str, **kw: Any) -> None:
        real(self, unit_id, state, **kw)
        if state == J.RENAMING and (row := self.get(unit_id)) and row.action == "recall":
            raise ConnectionLost("the link dropped after the verification")

    try:
        with SshTransport(ssh_target) as transport:
            engine = Engine(load_inventory(inventory), "pacs1", transport, journal, audit,
                            Options(respect_windows=False))
            monkeypatch.setattr(Journal, "set", drop_before_the_rename)
            with pytest.raises(ConnectionLost):
                engine.recall([("archive", "hot", STUDY)])
            monkeypatch.setattr(Journal, "set", real)
            assert not (hot / STUDY).exists()
            (row,) = journal.units(unfinished=True)
            assert (row.action, row.state) == ("recall", J.RENAMING)
            done = Engine(load_inventory(inventory), "pacs1", transport, journal, audit,
                          Options(respect_windows=False)).recover()
    finally:
        journal.close()
        audit.close()
    assert done.done == 1, done
    assert snapshot(hot) == before
    assert not [p for p in hot.rglob("*") if ".capacity" in p.name]


BIG = "big 'scan' $x.dcm"
"""A file of the study over the (lowered) single-PUT limit, named to need quoting."""


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bucket tier's store with S3's smallest parts, and one PUT allowed no more than
    that: a file of a few MB then goes up in parts, as one over 5 GiB does."""
    import dataclasses

    from capacity.tiering import hosts
    from capacity.transports.s3 import MIN_PART

    real = hosts.s3_target

    def lowered(inventory: Any, tier: Any) -> Any:
        return dataclasses.replace(real(inventory, tier), part_size=MIN_PART,
                                   single_put_limit=MIN_PART)

    monkeypatch.setattr(hosts, "s3_target", lowered)


def add_big_file(tmp: Path, size: int = 12_000_000) -> Path:
    """A file of three parts (5 MiB, 5 MiB and the rest) into the study, of its age."""
    hot = tmp / "hot"
    big = hot / STUDY / BIG
    big.write_bytes(random.Random(3).randbytes(size))
    when = (hot / STUDY / "IM00000.dcm").stat().st_mtime
    os.utime(big, (when, when))
    return big


class ControllerBytes:
    """Counts the object bytes that pass through the controller: what it reads from the host
    (every command's output and stream), what it sends to the store (every request's body)
    and what it reads back from the store (objects read or hashed here)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from capacity.tiering.archive import ArchiveMove
        from capacity.transports.s3 import S3Transport

        self.from_host = self.to_store = self.from_store = 0
        self.streamed: list[str] = []
        run, stream = SshTransport.run, SshTransport.stream
        connect, read_sha256 = S3Transport._connect, S3Transport.read_sha256

        def counted_run(t: SshTransport, argv: Any, **kw: Any) -> CommandResult:
            result = run(t, argv, **kw)
            self.from_host += len(result.stdout) + len(result.stderr)
            return result

        def counted_stream(t: SshTransport, argv: Any, **kw: Any) -> Any:
            for chunk in stream(t, argv, **kw):
                self.from_host += len(chunk)
                yield chunk

        def counted_client(t: S3Transport) -> Any:
            client = connect(t)

            def body(request: Any, **_kw: Any) -> None:
                data = request.body
                self.to_store += len(data) if isinstance(data, bytes | str) else 0

            client.meta.events.register("before-send.s3", body)
            return client

        def counted_read(t: S3Transport, path: str) -> str:
            st = t.stat(path)
            self.from_store += st.size if st else 0
            return read_sha256(t, path)

        def no_stream(move: Any, path: str, *args: Any) -> None:
            self.streamed.append(path)
            raise AssertionError(f"{path} streamed through the controller")

        monkeypatch.setattr(SshTransport, "run", counted_run)
        monkeypatch.setattr(SshTransport, "stream", counted_stream)
        monkeypatch.setattr(S3Transport, "_connect", counted_client)
        monkeypatch.setattr(S3Transport, "read_sha256", counted_read)
        monkeypatch.setattr(ArchiveMove, "_stream", no_stream)


def test_a_file_too_large_for_one_put_goes_up_in_parts_by_the_host_at_its_bandwidth(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any], small_parts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller starts the upload and signs a URL per part; the host hashes and sends
    each part's bytes itself (at the policy's bandwidth), and the controller completes the
    upload: the object is the file, byte for byte, no upload is left open, and none of its
    bytes passed through the controller (counted there, in both directions)."""
    import time

    inventory, roots = setup(tmp_path, sshd, s3, archive,
                             {"pacing": {"bandwidth": "8MB/s"}})
    big = add_big_file(tmp_path)
    source = hashlib.sha256(big.read_bytes()).hexdigest()
    before = snapshot(tmp_path / "hot")
    counted = ControllerBytes(monkeypatch)
    started = time.monotonic()
    with SshTransport(ssh_target) as transport:
        report, audit = apply(tmp_path, inventory, roots, transport)
    took = time.monotonic() - started
    assert report.done == 1, report
    client, bucket = archive["client"], archive["bucket"]
    key = f"{archive['root'].strip('/')}/{STUDY}/{BIG}"
    assert hashlib.sha256(client.get_object(Bucket=bucket, Key=key)["Body"].read()
                          ).hexdigest() == source
    assert "-3" in client.head_object(Bucket=bucket, Key=key)["ETag"]  # three parts
    assert client.list_multipart_uploads(Bucket=bucket, Prefix=archive["root"].strip("/")
                                         ).get("Uploads", []) == []
    stored = objects(archive)
    manifest = json.loads(stored.pop(f"{STUDY}/{MANIFEST}"))
    assert {k: sha(v) for k, v in stored.items()} == before
    assert {f["path"]: f["sha256"] for f in manifest["files"]}[BIG] == source
    assert not (tmp_path / "hot" / STUDY).exists()
    assert next(r for r in audit if r["step"] == "uploaded")["by"] == "host"
    size = big.stat().st_size if big.exists() else 12_000_000
    assert counted.streamed == []
    assert counted.from_store == 0  # nothing read back: the server's sums were checked
    assert counted.from_host + counted.to_store < size / 20, vars(counted)
    assert took >= size / 8_000_000 * 0.8  # curl's --limit-rate, part after part


def test_a_part_rewritten_between_its_hash_and_its_upload_is_refused_and_nothing_is_left(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any], small_parts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The PACS rewrites the middle of the large file after the host hashed its parts: the
    store refuses that part (its bytes differ from the signed sum), the upload is aborted
    at once, the study is skipped whole and kept on the host as it now is, and nothing of
    it stays in the archive."""
    from capacity.transports.s3 import MIN_PART, S3Transport

    inventory, roots = setup(tmp_path, sshd, s3, archive)
    big = add_big_file(tmp_path)
    sign, abort = S3Transport.presigned_part, S3Transport.abort_upload
    aborted: list[str] = []

    def rewrite_then_sign(t: S3Transport, path: str, upload_id: str, number: int,
                          b64: str, seconds: int) -> str:
        if number == 2:
            with big.open("r+b") as f:  # same size, other bytes, in the second part
                f.seek(MIN_PART + 1000)
                f.write(b"rewritten by the PACS")
        return sign(t, path, upload_id, number, b64, seconds)

    def count_abort(t: S3Transport, path: str, upload_id: str) -> None:
        aborted.append(upload_id)
        abort(t, path, upload_id)

    monkeypatch.setattr(S3Transport, "presigned_part", rewrite_then_sign)
    monkeypatch.setattr(S3Transport, "abort_upload", count_abort)
    rewritten = None
    with SshTransport(ssh_target) as transport:
        report, audit = apply(tmp_path, inventory, roots, transport)
        rewritten = hashlib.sha256(big.read_bytes()).hexdigest()
    assert report.skipped == 1, report
    assert len(aborted) == 1  # by the upload that failed, not left to the next sweep
    assert big.exists() and hashlib.sha256(big.read_bytes()).hexdigest() == rewritten
    assert len(list((tmp_path / "hot" / STUDY).rglob("*.dcm"))) == 5
    assert objects(archive) == {}
    client = archive["client"]
    assert client.list_multipart_uploads(Bucket=archive["bucket"], Prefix=archive[
        "root"].strip("/")).get("Uploads", []) == []
    skipped = next(r for r in audit if r["step"] == "skipped")["error"]
    assert "changed while it was uploaded" in skipped and BIG in skipped


def test_streamed_in_parts_through_the_controller_the_server_sum_of_the_parts_verifies_it(
        tmp_path: Path, sshd: SshServer, s3: S3Server, archive: dict[str, Any],
        small_parts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host without curl: the controller streams the large file in parts and hashes what
    it sends; the server's sum of the parts then verifies it, with no second read."""
    from capacity.transports.s3 import S3Transport

    inventory, roots = setup(tmp_path, sshd, s3, archive)
    source = hashlib.sha256(add_big_file(tmp_path).read_bytes()).hexdigest()
    before = snapshot(tmp_path / "hot")
    read_back: list[str] = []
    monkeypatch.setattr(S3Transport, "read_sha256", lambda t, path: read_back.append(path))
    with NoCurl() as transport:
        report, audit = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1, report
    assert next(r for r in audit if r["step"] == "uploaded")["by"] == "controller"
    assert read_back == []
    stored = objects(archive)
    stored.pop(f"{STUDY}/{MANIFEST}")
    assert {k: sha(v) for k, v in stored.items()} == before
    assert sha(stored[f"{STUDY}/{BIG}"]) == source
    client, bucket = archive["client"], archive["bucket"]
    key = f"{archive['root'].strip('/')}/{STUDY}/{BIG}"
    assert "-3" in client.head_object(Bucket=bucket, Key=key)["ETag"]


def test_a_recalled_study_chosen_again_is_verified_in_parts_on_the_host_not_read_back(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        archive: dict[str, Any], small_parts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The archive holds the study (its large file in parts) and the study is on the hot
    tier again, recalled: chosen again, nothing goes up, and the large object is verified
    by the server's sum of its parts against the host's sums of the file's parts, so none
    of its bytes come back through the controller; then the source goes."""
    inventory, roots = setup(tmp_path, sshd, s3, archive)
    add_big_file(tmp_path)
    hot = tmp_path / "hot"
    before = snapshot(hot)
    with SshTransport(ssh_target) as transport:
        report, _ = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1, report
    archived = objects(archive)
    journal, audit = Journal(tmp_path / "journal.sqlite"), AuditLog(tmp_path / "audit.jsonl")
    try:
        with SshTransport(ssh_target) as transport:
            back = Engine(load_inventory(inventory), "pacs1", transport, journal, audit,
                          Options(respect_windows=False)).recall([("archive", "hot", STUDY)])
    finally:
        journal.close()
        audit.close()
    assert back.done == 1, back
    assert snapshot(hot) == before
    (tmp_path / "journal.sqlite").unlink()
    counted = ControllerBytes(monkeypatch)
    with SshTransport(ssh_target) as transport:
        report, records = apply(tmp_path, inventory, roots, transport)
    assert report.done == 1, report
    assert not (hot / STUDY).exists()
    assert objects(archive) == archived
    assert counted.streamed == [] and counted.from_store == 0
    assert counted.from_host + counted.to_store < 12_000_000 / 20, vars(counted)
    assert "uploaded" not in [r["step"] for r in records][-8:]


def test_completing_an_upload_checks_every_part_the_server_holds(
        s3: S3Server, archive: dict[str, Any]) -> None:
    """The controller completes a host's upload only from parts the server holds as they
    were hashed (each one's length; its sum where the server lists sums): a part missing or
    of another length completes nothing, and the upload is then aborted."""
    import base64

    from capacity.transports import OperationFailed
    from capacity.transports.s3 import MIN_PART, S3Target, S3Transport

    data = random.Random(5).randbytes(MIN_PART + 1000)
    parts = [data[:MIN_PART], data[MIN_PART:]]
    digests = [hashlib.sha256(p).digest() for p in parts]
    client, bucket = archive["client"], archive["bucket"]
    prefix = archive["root"].strip("/") + "/"
    target = S3Target(bucket=bucket, prefix=prefix, endpoint=s3.endpoint, region=s3.region,
                      part_size=MIN_PART, single_put_limit=MIN_PART)
    with S3Transport(target) as store:
        assert store.part_ranges(len(data)) == [(0, MIN_PART), (MIN_PART, 1000)]
        upload_id = store.begin_upload("/big.dcm")
        client.upload_part(Bucket=bucket, Key=f"{prefix}big.dcm", UploadId=upload_id,
                           PartNumber=1, Body=parts[0], ChecksumAlgorithm="SHA256",
                           ChecksumSHA256=base64.b64encode(digests[0]).decode())
        with pytest.raises(OperationFailed, match="part 2 is not on the server"):
            store.complete_upload("/big.dcm", upload_id, [(MIN_PART, digests[0]),
                                                          (1000, digests[1])])
        with pytest.raises(OperationFailed, match="part 1 is not on the server"):
            store.complete_upload("/big.dcm", upload_id, [(MIN_PART - 1, digests[0])])
        assert not store.exists("/big.dcm")
        store.abort_upload("/big.dcm", upload_id)
        assert store.unfinished_uploads("/") == []
        # Both parts there: it completes, and the server's sum of the parts is theirs.
        upload_id = store.begin_upload("/big.dcm")
        url = store.presigned_part("/big.dcm", upload_id, 2, base64.b64encode(
            digests[1]).decode(), 60)
        assert "x-amz-checksum-sha256" in url.lower()  # the part's sum is signed
        for number, (part, digest) in enumerate(zip(parts, digests, strict=True), start=1):
            client.upload_part(Bucket=bucket, Key=f"{prefix}big.dcm", UploadId=upload_id,
                               PartNumber=number, Body=part, ChecksumAlgorithm="SHA256",
                               ChecksumSHA256=base64.b64encode(digest).decode())
        composite = store.complete_upload("/big.dcm", upload_id, [
            (len(p), d) for p, d in zip(parts, digests, strict=True)])
        assert store.checksum("/big.dcm") == (composite.split("-")[0], True)
        assert store.read("/big.dcm") == data
