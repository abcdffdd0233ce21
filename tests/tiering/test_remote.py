"""The commands the engine runs on a host, through both transports: their hashes against
coreutils' sha256sum run file by file, with Python on the host and without it."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from capacity.tiering import remote
from capacity.transports import Transport
from tests.tiering.pacs_tree import HOSTILE, make_study


def truth(root: Path) -> dict[str, str]:
    """sha256sum, one process per regular file: independent of the code under test."""
    sums = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            out = subprocess.run(["sha256sum", "-z", "--", str(path)], capture_output=True,
                                 check=True).stdout
            sums[path.relative_to(root).as_posix()] = out.split()[0].decode()
    return sums


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "study"
    rng = random.Random(5)
    make_study(root, "", len(HOSTILE), 3000, rng, names=HOSTILE)
    make_study(root, "series 2/deeper", 5, 70_000, rng)
    (root / "empty.dcm").write_bytes(b"")
    (root / "large.svs").write_bytes(rng.randbytes(3 << 20))  # hashed through mmap
    (root / "link-out").symlink_to("/etc/passwd")  # a link is not hashed, nor followed
    (root / "dir-link").symlink_to(root / "series 2")
    return root


@pytest.mark.parametrize("tool", ["python3", "sha256sum"])
def test_hash_tree_matches_sha256sum(transport: Transport, tree: Path, tool: str) -> None:
    env = ["env", "CAPACITY_SHA256SUM=1"] if tool == "sha256sum" else []
    out = transport.run([*env, *remote.hash_tree(str(tree), workers=2)]).stdout
    assert remote.parse_sums(out) == truth(tree)
    one = tree / HOSTILE[1]
    single = transport.run([*env, *remote.hash_tree(str(one))]).stdout
    assert remote.parse_sums(single) == {"": truth(tree)[HOSTILE[1]]}


def test_copy_and_hash_copies_then_hashes_both(transport: Transport, tree: Path,
                                               tmp_path: Path) -> None:
    copy = tmp_path / "work" / "payload"
    copy.parent.mkdir()
    argv = ["cp", "-a", "--no-dereference", "--", str(tree), str(copy)]
    result = transport.run(remote.copy_and_hash(str(tree), str(copy), str(copy.parent / "sums"),
                                           argv))
    source, copied = remote.parse_pair(result.stdout)
    assert source == copied == truth(tree) == truth(copy)
    assert (copy / "link-out").is_symlink()
    one = tmp_path / "work" / "single"
    argv = ["cp", "-a", "--", str(tree / HOSTILE[1]), str(one)]
    result = transport.run(remote.copy_and_hash(str(tree / HOSTILE[1]), str(one),
                                           str(copy.parent / "sums"), argv))
    assert remote.parse_pair(result.stdout) == ({"": truth(tree)[HOSTILE[1]]},) * 2


def test_a_copy_that_differs_is_seen(transport: Transport, tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "payload"
    victim = tree / "series 2" / "deeper" / "IM00002.dcm"
    # A copy that flips a byte of one file: what a bad disk or a bug would do.
    argv = ["sh", "-c", 'cp -a -- "$1" "$2" && printf X | dd of="$2/$3" bs=1 seek=100'
            ' conv=notrunc status=none', "sh", str(tree), str(copy),
            str(victim.relative_to(tree))]
    result = transport.run(remote.copy_and_hash(str(tree), str(copy), str(tmp_path / "s"), argv))
    source, copied = remote.parse_pair(result.stdout)
    rel = str(victim.relative_to(tree))
    assert source == truth(tree) and copied == truth(copy)
    assert {p for p in source if source[p] != copied[p]} == {rel}


def test_copy_and_hash_says_which_half_failed(transport: Transport, tree: Path,
                                              tmp_path: Path) -> None:
    nowhere = tmp_path / "missing" / "payload"
    argv = ["cp", "-a", "--", str(tree), str(nowhere)]
    failed = transport.run(remote.copy_and_hash(str(tree), str(nowhere), str(tmp_path / "s"), argv),
                      check=False)
    assert failed.exit_code == remote.COPY_FAILED and b"missing" in failed.stderr
    gone = tmp_path / "no-such-study"
    failed = transport.run(remote.copy_and_hash(str(gone), str(tmp_path), str(tmp_path / "s"),
                                           ["true"]), check=False)
    assert failed.exit_code == remote.HASH_FAILED
