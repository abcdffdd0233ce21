"""The engine on transports with fewer capabilities: it refuses a host clearly, before it
touches anything, or falls back where that is safe."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capacity.load import load_inventory
from capacity.tiering import journal as J
from capacity.tiering.apply import Engine, Options
from capacity.tiering.audit import AuditLog
from capacity.tiering.journal import Journal
from capacity.transports import (
    FILESYSTEM_CAPABILITIES,
    POSIX_CAPABILITIES,
    Capability,
    CommandResult,
    LocalTransport,
    Unsupported,
)
from capacity.transports.base import join_below
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_roots, make_study, plan_from_disk, snapshot
from tests.transports.test_capabilities import BareTransport, LiteTransport


class NoLinks(LocalTransport):
    """A store without symbolic links (so nothing to resolve either), as an object store."""

    label = "no-links"
    capabilities = POSIX_CAPABILITIES & ~(Capability.SYMLINKS | Capability.REALPATH)


def _apply(tmp: Path, sshd: SshServer, transport: LocalTransport,
           policy: dict[str, object] | None = None) -> tuple[dict[str, Path], dict[str, str]]:
    roots = make_roots(tmp)
    make_study(roots["hot"], "2025/01/STUDY", 3, 2000, random.Random(3))
    before = snapshot(roots["hot"])
    inventory = inventory_file(tmp, sshd, roots, policy=policy)
    plan = plan_from_disk(inventory, roots, [("hot", "warm", "2025/01/STUDY")])
    journal, audit = Journal(tmp / "journal.sqlite"), AuditLog(tmp / "audit.jsonl")
    try:
        engine = Engine(load_inventory(inventory), "pacs1", transport, journal, audit,
                        Options(respect_windows=False))
        report = engine.run_plan(plan, "plan.json")
        assert report.done == 1, report
    finally:
        journal.close()
        audit.close()
    return roots, before


def test_a_transport_without_host_copy_is_refused_before_anything(tmp_path: Path,
                                                                  sshd: SshServer) -> None:
    with pytest.raises(Unsupported, match="the lite transport does not offer hash_tree,"
                       " copy_on_host, flush needed to apply a plan on host pacs1"):
        _apply(tmp_path, sshd, LiteTransport())
    assert list((tmp_path / "warm").iterdir()) == []
    assert len(snapshot(tmp_path / "hot")) == 3


def test_a_stub_policy_without_symlinks_is_refused(tmp_path: Path, sshd: SshServer) -> None:
    with pytest.raises(Unsupported, match=r"no-links transport does not offer symlinks needed"
                       r" to leave a stub link .*stub: true"):
        _apply(tmp_path, sshd, NoLinks(), policy={"stub": True})
    assert list((tmp_path / "warm").iterdir()) == []


def test_without_symlinks_a_move_needs_no_realpath(tmp_path: Path, sshd: SshServer) -> None:
    roots, before = _apply(tmp_path, sshd, NoLinks())
    assert snapshot(roots["warm"]) == before
    assert not (roots["hot"] / "2025/01/STUDY").exists()


def test_links_without_realpath_are_refused(tmp_path: Path, sshd: SshServer) -> None:
    class Unresolving(LocalTransport):
        label = "unresolving"
        capabilities = POSIX_CAPABILITIES & ~Capability.REALPATH

    with pytest.raises(Unsupported, match="unresolving transport does not offer realpath"):
        _apply(tmp_path, sshd, Unresolving())
    assert list((tmp_path / "warm").iterdir()) == []


class NoCommands(BareTransport):
    """A store that runs no commands and has no links, but copies, hashes and flushes by
    its own means, as an object store's server-side copy and checksums would.  Any command
    the engine tried would fail its unit or host."""

    label = "no-commands"
    capabilities = (FILESYSTEM_CAPABILITIES | Capability.HASH_TREE | Capability.COPY_ON_HOST
                    | Capability.FLUSH)

    def run(self, argv: Any, **kw: Any) -> CommandResult:
        raise AssertionError(f"the engine ran {argv!r} on a transport without commands")

    def stream(self, argv: Any, **kw: Any) -> Iterator[bytes]:
        raise AssertionError(f"the engine streamed {argv!r} on a transport without commands")

    def hash_tree(self, path: str) -> dict[str, str]:
        return {rel: hashlib.sha256(self.read(join_below(path, rel))).hexdigest()
                for rel, st in self.walk(path) if st.is_file}

    def copy_and_hash(self, source: str, dest: str, *, scratch: str,
                      bandwidth: float | None = None) -> tuple[dict[str, str], dict[str, str]]:
        if os.path.isdir(source):
            shutil.copytree(source, dest, symlinks=True)
        else:
            shutil.copy2(source, dest, follow_symlinks=False)
        return self.hash_tree(source), self.hash_tree(dest)

    def flush(self, path: str) -> None:
        os.sync()


class LateImageOnDeleting(Journal):
    """The PACS writes a late image into one study the instant it is marked deleting."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.unit: str | None = None

    def set_many(self, unit_ids: list[str], state: str, **kw: Any) -> None:
        super().set_many(unit_ids, state, **kw)
        for unit_id in unit_ids:
            row = self.get(unit_id)
            if state == J.DELETING and row is not None and row.unit == self.unit:
                Path(row.source, "late.dcm").write_bytes(b"a key image, written late")


def test_a_transport_without_commands_moves_and_expires(tmp_path: Path,
                                                        sshd: SshServer) -> None:
    """Move two studies (folders in folders), then expire them, through typed transport
    methods only: the contract's defaults walk, unlink and clean up; a late image that
    arrives while a study is being expired stays."""
    roots = make_roots(tmp_path)
    rng = random.Random(11)
    for study in ("2014/01/A", "2014/01/B"):
        make_study(roots["hot"], study, 3, 2000, rng, age_days=4000)
        make_study(roots["hot"], f"{study}/series 2/deeper", 2, 500, rng, age_days=4000)
    before = snapshot(roots["hot"])
    inventory = inventory_file(tmp_path, sshd, roots, policy={"retention": "10y"})
    units = ["2014/01/A", "2014/01/B"]
    journal = LateImageOnDeleting(tmp_path / "journal.sqlite")
    audit = AuditLog(tmp_path / "audit.jsonl")
    try:
        engine = Engine(load_inventory(inventory), "pacs1", NoCommands(), journal, audit,
                        Options(allow_delete=True, respect_windows=False))
        moved = engine.run_plan(plan_from_disk(inventory, roots,
                                               [("hot", "warm", u) for u in units]), "move")
        assert (moved.done, moved.failed, moved.kept_both) == (2, 0, 0), moved
        assert snapshot(roots["warm"]) == before  # every file, by its sha256
        assert snapshot(roots["hot"]) == {}
        assert not (roots["hot"] / "2014/01/A").exists()
        assert not (roots["warm"] / ".capacity-work").exists()
        assert [p.name for p in (roots["hot"] / "2014/01").iterdir()] == []

        journal.unit = "2014/01/A"  # its late image comes during the expiry
        plan = plan_from_disk(inventory, roots, [("warm", "", u) for u in units],
                              action="expire", rule="expire")
        expired = engine.run_plan(plan, "expire")
    finally:
        journal.close()
        audit.close()
    assert (expired.done, expired.kept_both, expired.failed) == (1, 1, 0), expired
    assert not (roots["warm"] / "2014/01/B").exists()
    study = roots["warm"] / "2014/01/A"  # only the late image is left of it, whole
    assert sorted(str(p.relative_to(study)) for p in study.rglob("*")) == ["late.dcm"]
    assert (study / "late.dcm").read_bytes() == b"a key image, written late"


def test_a_hook_without_commands_is_refused_before_anything(tmp_path: Path,
                                                            sshd: SshServer) -> None:
    with pytest.raises(Unsupported, match="the no-commands transport does not offer run"
                       " needed to run the hook of policy 'life' after each move"):
        _apply(tmp_path, sshd, NoCommands(), policy={"hook": ["touch", "{target}.updated"]})
    assert list((tmp_path / "warm").iterdir()) == []
    assert len(snapshot(tmp_path / "hot")) == 3


def test_an_expiry_needs_no_optional_capability(tmp_path: Path, sshd: SshServer) -> None:
    roots = make_roots(tmp_path)
    make_study(roots["warm"], "2014/01/OLD", 2, 100, random.Random(7), age_days=4000)
    make_study(roots["warm"], "2014/01/OLD/series", 2, 100, random.Random(8), age_days=4000)
    inventory = inventory_file(tmp_path, sshd, roots, policy={"retention": "10y"})
    plan = plan_from_disk(inventory, roots, [("warm", "", "2014/01/OLD")], action="expire",
                          rule="expire")
    journal, audit = Journal(tmp_path / "journal.sqlite"), AuditLog(tmp_path / "audit.jsonl")
    try:
        engine = Engine(load_inventory(inventory), "pacs1", BareTransport(), journal, audit,
                        Options(allow_delete=True, respect_windows=False))
        assert engine.run_plan(plan, "plan.json").done == 1
    finally:
        journal.close()
        audit.close()
    assert list((roots["warm"] / "2014/01").iterdir()) == []
