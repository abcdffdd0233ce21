"""The batch operations of the transport contract, on every backend (local, ssh, bare: the
contract's defaults), against what the os module says of the same files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from capacity.transports import Capability, OperationFailed, Transport
from tests.tiering.pacs_tree import HOSTILE
from tests.transports.test_capabilities import ON_THIS_MACHINE, opened


@pytest.fixture(params=ON_THIS_MACHINE)
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    """Only the backends whose files ``os`` can see."""
    yield from opened(request)


def study(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True)
    for i, name in enumerate(names):
        (root / name).write_bytes(bytes([i]) * (100 + i))
    (root / "series" / "deeper").mkdir(parents=True)
    (root / "series" / "deeper" / "IM1.dcm").write_bytes(b"deep")
    (root / "a link").symlink_to("/etc/passwd")
    return root


def os_walk(top: Path) -> dict[str, tuple[str, int, float]]:
    """Every entry under ``top``: relative path -> (kind, size, mtime), by lstat."""
    found = {}
    for path in [top, *top.rglob("*")]:
        st = path.lstat()
        kind = "l" if path.is_symlink() else "d" if path.is_dir() else "f"
        rel = "" if path == top else str(path.relative_to(top))
        found[rel] = (kind, st.st_size, st.st_mtime)
    return found


def as_seen(entries: list) -> dict[str, tuple[str, int, float]]:
    return {rel: (st.kind, st.size, st.mtime) for rel, st in entries}


def test_walk_many_walks_each_and_leaves_out_what_is_missing(transport: Transport,
                                                             tmp_path: Path) -> None:
    a = study(tmp_path / "a", HOSTILE)
    b = study(tmp_path / "b b", ["IM0.dcm"])
    one = a / HOSTILE[1]
    missing = tmp_path / "gone"
    found = transport.walk_many([str(a), str(missing), str(b), str(one)])
    assert set(found) == {str(a), str(b), str(one)}
    for path in (a, b, one):
        seen = as_seen(found[str(path)])
        truth = os_walk(path)
        assert seen.keys() == truth.keys()
        for rel, (kind, size, mtime) in truth.items():
            assert seen[rel][0] == kind and abs(seen[rel][2] - mtime) < 1e-6
            if kind == "f":
                assert seen[rel][1] == size
    tops = transport.walk_many([str(a), str(missing), str(one)], top_only=True)
    assert set(tops) == {str(a), str(one)}
    assert [rel for rel, _ in tops[str(a)]] == [""] and tops[str(a)][0][1].is_dir


def test_realpath_many_resolves_in_order(transport: Transport, tmp_path: Path) -> None:
    if not transport.has(Capability.REALPATH):
        return  # bare: refused like realpath itself (test_capabilities)
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real)
    paths = [str(tmp_path / "via" / "x" / "y"), str(real), str(tmp_path / "via")]
    assert transport.realpath_many(paths) == [
        os.path.realpath(p) for p in paths]


def test_mkdir_and_rename_many_never_replace(transport: Transport, tmp_path: Path) -> None:
    transport.mkdir_many([str(tmp_path / "a" / "b"), str(tmp_path / "c"),
                          str(tmp_path / "c")])
    assert (tmp_path / "a" / "b").is_dir() and (tmp_path / "c").is_dir()
    (tmp_path / "src1").write_bytes(b"one")
    (tmp_path / "src2").mkdir()
    (tmp_path / "src3").write_bytes(b"three")
    (tmp_path / "taken").write_bytes(b"was here")
    (tmp_path / "empty").mkdir()  # rename(2) would replace an empty folder: never here
    pairs = [(str(tmp_path / "src1"), str(tmp_path / "c" / "one")),
             (str(tmp_path / "src2"), str(tmp_path / "empty")),
             (str(tmp_path / "src3"), str(tmp_path / "taken")),
             (str(tmp_path / "nothing"), str(tmp_path / "c" / "nothing"))]
    assert transport.rename_many(pairs) == [True, False, False, False]
    assert (tmp_path / "c" / "one").read_bytes() == b"one"
    assert (tmp_path / "src2").is_dir() and not any((tmp_path / "empty").iterdir())
    assert (tmp_path / "taken").read_bytes() == b"was here"
    assert (tmp_path / "src3").read_bytes() == b"three"
    assert not (tmp_path / "c" / "nothing").exists()


def test_remove_works_and_empty_dirs_many(transport: Transport, tmp_path: Path) -> None:
    root = tmp_path / ".capacity-work"
    for unit in ("u1", "u2"):
        (root / unit / "payload" / "x").mkdir(parents=True)
        (root / unit / "payload" / "x" / "f").write_bytes(b"partial")
    transport.remove_works([str(root / "u1"), str(root / "u2")], str(root))
    assert not root.exists()
    (tmp_path / "a" / "e1" / "e2").mkdir(parents=True)
    (tmp_path / "b" / "kept").mkdir(parents=True)
    (tmp_path / "b" / "kept" / "late.dcm").write_bytes(b"late")
    transport.remove_empty_dirs_many([str(tmp_path / "a"), str(tmp_path / "b")])
    assert not (tmp_path / "a").exists()
    assert (tmp_path / "b" / "kept" / "late.dcm").read_bytes() == b"late"


def test_copy_and_hash_many(transport: Transport, tmp_path: Path) -> None:
    if not transport.has(Capability.COPY_ON_HOST):
        return  # bare: refused (test_capabilities)
    a = study(tmp_path / "a", HOSTILE)
    b = study(tmp_path / "b", ["IM0.dcm", "IM1.dcm"])
    work = tmp_path / "work"
    work.mkdir()
    pairs = [(str(a), str(work / "a")), (str(tmp_path / "gone"), str(work / "gone")),
             (str(b / "IM1.dcm"), str(work / "one")), (str(b), str(work / "b"))]
    results = transport.copy_and_hash_many(pairs, scratch=str(work / "sums"))
    assert isinstance(results[1], OperationFailed)
    for (source, copy), result in zip(pairs, results, strict=True):
        if isinstance(result, OperationFailed):
            continue
        src = Path(source)
        truth = ({"": hashlib.sha256(src.read_bytes()).hexdigest()} if src.is_file() else
                 {str(p.relative_to(src)): hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in src.rglob("*") if p.is_file() and not p.is_symlink()})
        assert result == (truth, truth)
        assert os_walk(Path(copy)).keys() == os_walk(src).keys()
    assert (work / "a" / "a link").is_symlink()
    with pytest.raises(OperationFailed, match="flush"):
        transport.copy_and_hash_many([(str(b), str(tmp_path / "c"))],
                                     scratch=str(tmp_path / "no-such" / "sums"))
