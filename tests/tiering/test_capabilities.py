"""The engine on transports with fewer capabilities: it refuses a host clearly, before it
touches anything, or falls back where that is safe."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from capacity.load import load_inventory
from capacity.tiering.apply import Engine, Options
from capacity.tiering.audit import AuditLog
from capacity.tiering.journal import Journal
from capacity.transports import POSIX_CAPABILITIES, Capability, LocalTransport, Unsupported
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_roots, make_study, plan_from_disk, snapshot
from tests.transports.test_capabilities import LiteTransport


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
