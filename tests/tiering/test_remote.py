"""The commands the engine runs on a host, through both transports: their hashes against
coreutils' sha256sum run file by file, with Python on the host and without it."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from capacity.tiering import remote
from capacity.transports import LocalTransport, SshTarget, SshTransport, Transport
from tests.tiering.pacs_tree import HOSTILE, make_study


@pytest.fixture(params=["local", "ssh"])
def host(request: pytest.FixtureRequest) -> Iterator[Transport]:
    if request.param == "local":
        with LocalTransport() as local:
            yield local
    else:
        target: SshTarget = request.getfixturevalue("ssh_target")
        with SshTransport(target) as ssh:
            yield ssh


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
    (root / "link-out").symlink_to("/etc/passwd")  # a link is not hashed, nor followed
    (root / "dir-link").symlink_to(root / "series 2")
    return root


@pytest.mark.parametrize("tool", ["python3", "sha256sum"])
def test_hash_tree_matches_sha256sum(host: Transport, tree: Path, tool: str) -> None:
    env = ["env", "CAPACITY_SHA256SUM=1"] if tool == "sha256sum" else []
    out = host.run([*env, *remote.hash_tree(str(tree), workers=2)]).stdout
    assert remote.parse_sums(out) == truth(tree)
    one = tree / HOSTILE[1]
    single = host.run([*env, *remote.hash_tree(str(one))]).stdout
    assert remote.parse_sums(single) == {"": truth(tree)[HOSTILE[1]]}


def test_copy_and_hash_copies_and_hashes_the_source(host: Transport, tree: Path,
                                                    tmp_path: Path) -> None:
    copy = tmp_path / "work" / "payload"
    copy.parent.mkdir()
    argv = ["cp", "-a", "--no-dereference", "--", str(tree), str(copy)]
    result = host.run(remote.copy_and_hash(str(tree), str(copy), argv))
    assert remote.parse_sums(result.stdout) == truth(tree)
    assert truth(copy) == truth(tree)
    assert (copy / "link-out").is_symlink()


def test_copy_and_hash_says_which_half_failed(host: Transport, tree: Path,
                                              tmp_path: Path) -> None:
    nowhere = tmp_path / "missing" / "payload"
    argv = ["cp", "-a", "--", str(tree), str(nowhere)]
    failed = host.run(remote.copy_and_hash(str(tree), str(tmp_path), argv), check=False)
    assert failed.exit_code == remote.COPY_FAILED and b"missing" in failed.stderr
    gone = tmp_path / "no-such-study"
    argv = ["true"]
    failed = host.run(remote.copy_and_hash(str(gone), str(tmp_path), argv), check=False)
    assert failed.exit_code == remote.HASH_FAILED
