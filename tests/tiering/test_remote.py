"""The commands the engine runs on a host, through both transports: their hashes against
coreutils' sha256sum run file by file, with Python on the host and without it."""

from __future__ import annotations

import contextlib
import os
import random
import stat
import subprocess
from collections.abc import Iterator
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


TOOLS = {"python3": [], "sha256sum": ["env", "CAPACITY_SHA256SUM=1"]}


@pytest.mark.parametrize("tool", TOOLS)
def test_hash_tree_matches_sha256sum(transport: Transport, tree: Path, tool: str) -> None:
    out = transport.run([*TOOLS[tool], *remote.hash_tree(str(tree), workers=2)]).stdout
    assert remote.parse_sums(out) == truth(tree)
    one = tree / HOSTILE[1]
    single = transport.run([*TOOLS[tool], *remote.hash_tree(str(one))]).stdout
    assert remote.parse_sums(single) == {"": truth(tree)[HOSTILE[1]]}


@pytest.mark.parametrize("tool", TOOLS)
def test_hash_trees_one_group_each_and_says_which_failed(transport: Transport, tree: Path,
                                                         tmp_path: Path, tool: str) -> None:
    (tmp_path / "empty").mkdir()
    trees = [str(tree / "series 2"), str(tmp_path / "gone"), str(tmp_path / "empty"),
             str(tree / HOSTILE[1]), str(tree)]
    result = transport.run([*TOOLS[tool], *remote.hash_trees(trees)], check=False)
    assert result.exit_code == 1  # one could not be hashed
    groups = remote.parse_groups(result.stdout, len(trees))
    assert groups[0] == truth(tree / "series 2")
    assert isinstance(groups[1], str)
    assert groups[2] == {}
    assert groups[3] == {"": truth(tree)[HOSTILE[1]]}
    assert groups[4] == truth(tree)


def test_copy_and_hash_copies_then_hashes_both(transport: Transport, tree: Path,
                                               tmp_path: Path) -> None:
    copy = tmp_path / "work" / "payload"
    one = tmp_path / "work" / "single"
    copy.parent.mkdir()
    pairs = [(str(tree), str(copy)), (str(tree / HOSTILE[1]), str(one))]
    result = transport.run(remote.copy_and_hash(pairs, str(copy.parent),
                                                str(copy.parent / "sums")))
    groups = remote.parse_groups(result.stdout, 4)
    assert groups[0] == groups[2] == truth(tree) == truth(copy)
    assert groups[1] == groups[3] == {"": truth(tree)[HOSTILE[1]]}
    assert (copy / "link-out").is_symlink()
    # Each copy's work directory names the process group that copied into it.
    assert (copy.parent / remote.GROUP_FILE).read_text().split()[0].isdigit()


def fake_cp(tmp_path: Path, then: str) -> list[str]:
    """``env PATH=...``: a ``cp`` that runs the real one, then does ``then`` to the copy."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "cp").write_text('#!/bin/sh\nfor last; do :; done\n/bin/cp "$@" || exit\n'
                                + then + "\n")
    (bin_dir / "cp").chmod(0o755)
    return ["env", f"PATH={bin_dir}:/usr/bin:/bin"]


def test_a_copy_that_differs_is_seen(transport: Transport, tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "payload"
    victim = tree / "series 2" / "deeper" / "IM00002.dcm"
    rel = str(victim.relative_to(tree))
    # A copy that flips a byte of one file: what a bad disk or a bug would do.
    env = fake_cp(tmp_path, f'printf X | dd of="$last/{rel}" bs=1 seek=100 conv=notrunc'
                  ' status=none')
    result = transport.run([*env, *remote.copy_and_hash([(str(tree), str(copy))],
                                                        str(tmp_path), str(tmp_path / "s"))])
    source, copied = remote.parse_groups(result.stdout, 2)
    assert source == truth(tree) and copied == truth(copy)
    assert isinstance(source, dict) and isinstance(copied, dict)
    assert {p for p in source if source[p] != copied[p]} == {rel}


@pytest.mark.parametrize("in_flight", [1, 2, 3])
def test_copy_and_hash_says_which_copy_failed(transport: Transport, tree: Path,
                                              tmp_path: Path, in_flight: int) -> None:
    (tmp_path / "work").mkdir()
    good, nowhere = tmp_path / "work" / "good", tmp_path / "missing" / "payload"
    gone = tmp_path / "no-such-study"
    pairs = [(str(tree), str(nowhere)), (str(tree), str(good)),
             (str(gone), str(tmp_path / "work" / "never"))]
    result = transport.run(remote.copy_and_hash(pairs, str(tmp_path / "work"),
                                                str(tmp_path / "work" / "s"),
                                                in_flight=in_flight))
    assert b"capacity: copy 1 failed" in result.stderr and b"missing" in result.stderr
    assert b"capacity: copy 3 failed" in result.stderr
    assert b"capacity: copy 2 failed" not in result.stderr
    groups = remote.parse_groups(result.stdout, 6)
    assert groups[1] == groups[4] == truth(tree) == truth(good)
    assert isinstance(groups[2], str) and isinstance(groups[3], str)
    assert not nowhere.exists() and not (tmp_path / "work" / "never").exists()


def test_a_flush_that_fails_fails_the_batch(transport: Transport, tree: Path,
                                            tmp_path: Path) -> None:
    result = transport.run(remote.copy_and_hash([(str(tree), str(tmp_path / "copy"))],
                                                str(tmp_path / "no-such-folder"),
                                                str(tmp_path / "s")), check=False)
    assert result.exit_code == remote.COPY_FAILED


@pytest.mark.parametrize("tool", TOOLS)
def test_rename_many_never_replaces_with_python_or_mv(transport: Transport, tmp_path: Path,
                                                      tool: str) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").mkdir()
    (tmp_path / "taken").write_bytes(b"kept")
    (tmp_path / "empty").mkdir()
    (tmp_path / "out").mkdir()
    pairs = [(str(tmp_path / "a"), str(tmp_path / "out" / HOSTILE[1])),
             (str(tmp_path / "b"), str(tmp_path / "empty")),
             (str(tmp_path / "b"), str(tmp_path / "taken")),
             (str(tmp_path / "gone"), str(tmp_path / "out" / "gone"))]
    out = transport.run([*TOOLS[tool], *remote.rename_many(pairs)]).stdout
    assert out == b"1000"
    assert (tmp_path / "out" / HOSTILE[1]).read_bytes() == b"a"
    assert (tmp_path / "b").is_dir() and (tmp_path / "taken").read_bytes() == b"kept"
    assert not any((tmp_path / "empty").iterdir())


# --- the batch's copier: inside the hashing interpreter, held to cp -a ----------------


def entries(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root`` as lstat sees it (kind, mode, owner, size, mtime), the
    link targets, the bytes, and which names share an inode."""
    found: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        rel = "" if path == root else path.relative_to(root).as_posix()
        body: object = (os.readlink(path) if path.is_symlink() else
                        path.read_bytes() if stat.S_ISREG(st.st_mode) else None)
        first = inodes.setdefault(st.st_ino, rel)
        found[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                      st.st_gid, st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                      st.st_mtime_ns, body, first)
    return found


@pytest.fixture
def rich_tree(tree: Path) -> Iterator[Path]:
    """The hostile tree with modes, a read-only folder, hard links and an xattr."""
    (tree / "series 2").chmod(0o750)
    (tree / "large.svs").chmod(0o640)
    os.link(tree / "series 2" / "deeper" / "IM00002.dcm", tree / "hard link.dcm")
    if os.geteuid() == 0:
        os.chown(tree / "large.svs", 1234, 4321)  # someone else's, kept
    (tree / "locked").mkdir()
    (tree / "locked" / "IM.dcm").write_bytes(b"locked")
    with contextlib.suppress(OSError):  # a file system without user xattrs
        os.setxattr(tree / "empty.dcm", "user.capacity", b"kept")
    os.utime(tree / "locked", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    (tree / "locked").chmod(0o555)
    os.utime(tree, ns=(1_500_000_000_000_000_001, 1_500_000_000_000_000_001))
    yield tree
    (tree / "locked").chmod(0o755)


def test_the_interpreter_copies_as_cp_a_does(transport: Transport, rich_tree: Path,
                                            tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    pairs = [(str(rich_tree), str(work / "py")), (str(rich_tree / HOSTILE[1]),
                                                  str(work / "one"))]
    before = entries(rich_tree)
    no_cp = fake_cp(tmp_path, "exit 1")  # the interpreter copies: no cp runs
    result = transport.run([*no_cp, *remote.copy_and_hash(pairs, str(work), str(work / "s"),
                                                          in_interpreter=True, workers=3)])
    assert b"failed" not in result.stderr
    groups = remote.parse_groups(result.stdout, 4)
    assert groups[0] == groups[2] == truth(rich_tree) == truth(work / "py")
    assert groups[1] == groups[3] == {"": truth(rich_tree)[HOSTILE[1]]}
    subprocess.run(["cp", "-a", "--no-dereference", "--", str(rich_tree), str(work / "cp")],
                   check=True)
    assert entries(work / "py") == entries(work / "cp") == before == entries(rich_tree)
    assert entries(work / "one") == {"": (*before[HOSTILE[1]][:-1], "")}
    if "user.capacity" in os.listxattr(rich_tree / "empty.dcm"):
        assert os.getxattr(work / "py" / "empty.dcm", "user.capacity") == b"kept"
    (work / "py" / "locked").chmod(0o755)
    (work / "cp" / "locked").chmod(0o755)


def test_the_interpreter_says_which_copy_failed(transport: Transport, tree: Path,
                                                tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    good, nowhere = tmp_path / "work" / "good", tmp_path / "missing" / "payload"
    gone = tmp_path / "no-such-study"
    taken = tmp_path / "work" / "taken"
    taken.mkdir()
    pairs = [(str(tree), str(nowhere)), (str(tree), str(good)),
             (str(gone), str(tmp_path / "work" / "never")), (str(tree), str(taken))]
    result = transport.run(remote.copy_and_hash(pairs, str(tmp_path / "work"),
                                                str(tmp_path / "work" / "s"),
                                                in_interpreter=True))
    assert b"capacity: copy 1 failed" in result.stderr and b"missing" in result.stderr
    assert b"capacity: copy 3 failed" in result.stderr
    assert b"capacity: copy 4 failed" in result.stderr
    assert b"capacity: copy 2 failed" not in result.stderr
    groups = remote.parse_groups(result.stdout, 8)
    assert groups[1] == groups[5] == truth(tree) == truth(good)
    assert all(isinstance(groups[i], str) for i in (0, 2, 3, 4, 6, 7))
    assert not nowhere.exists() and not (tmp_path / "work" / "never").exists()


def test_the_interpreter_fails_the_batch_when_the_flush_fails(
        transport: Transport, tree: Path, tmp_path: Path) -> None:
    result = transport.run(remote.copy_and_hash([(str(tree), str(tmp_path / "copy"))],
                                                str(tmp_path / "no-such-folder"),
                                                str(tmp_path / "s"), in_interpreter=True),
                           check=False)
    assert result.exit_code == remote.COPY_FAILED


def test_without_python_a_batch_copies_with_cp_and_a_difference_is_seen(
        transport: Transport, tree: Path, tmp_path: Path) -> None:
    """A host without python3 (CAPACITY_SHA256SUM) copies with cp -a and hashes with
    sha256sum: the fake cp's flipped byte shows it ran, and the copy's sums catch it."""
    copy = tmp_path / "payload"
    victim = tree / "series 2" / "deeper" / "IM00002.dcm"
    rel = str(victim.relative_to(tree))
    env = fake_cp(tmp_path, f'printf X | dd of="$last/{rel}" bs=1 seek=100 conv=notrunc'
                  ' status=none')
    result = transport.run([*env, "CAPACITY_SHA256SUM=1",
                            *remote.copy_and_hash([(str(tree), str(copy))], str(tmp_path),
                                                  str(tmp_path / "s"), in_interpreter=True)])
    source, copied = remote.parse_groups(result.stdout, 2)
    assert source == truth(tree) and copied == truth(copy)
    assert isinstance(source, dict) and isinstance(copied, dict)
    assert {p for p in source if source[p] != copied[p]} == {rel}
    assert (copy / "link-out").is_symlink()
