"""Each optional capability: a backend that declares it must do it, one that does not must
raise :class:`Unsupported` naming itself and the capability.  Results are read back through
the transport under test only.

``subject`` is every real backend, plus ``LiteTransport``: local files and commands, but
none of the optional file capabilities, and ``BareTransport``, without commands either, as
an object store would be.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from capacity.transports import (
    FILESYSTEM_CAPABILITIES,
    POSIX_CAPABILITIES,
    AlreadyExists,
    Capability,
    LocalTransport,
    NotFound,
    OperationFailed,
    SshTarget,
    SshTransport,
    Transport,
    Unsupported,
)
from capacity.transports.s3 import S3Target, S3Transport
from tests.s3server import S3Server
from tests.transports.test_conformance import HOSTILE_NAMES


class LiteTransport(LocalTransport):
    """A backend with commands but no hashing, host copy, flush, links or realpath: the
    contract's defaults, which refuse."""

    label = "lite"
    capabilities = Capability.RUN | FILESYSTEM_CAPABILITIES
    hash_tree = Transport.hash_tree
    copy_and_hash = Transport.copy_and_hash
    flush = Transport.flush
    symlink = Transport.symlink
    readlink = Transport.readlink
    realpath = Transport.realpath


class BareTransport(LocalTransport):
    """This machine's files through the file operations alone: no commands, so none of
    what a POSIX host does with them (each such method refuses, as the flags say), and the
    contract's own defaults walk, delete and clean up trees."""

    label = "bare"
    capabilities = FILESYSTEM_CAPABILITIES


ON_THIS_MACHINE = ["local", "ssh", "bare"]
"""The backends whose files are this machine's, so that ``os`` can check what they say."""
EVERY_BACKEND = [*ON_THIS_MACHINE, "s3"]


def opened(request: pytest.FixtureRequest) -> Iterator[Transport]:
    """The transport a fixture's parameter names, open for the test (ssh: to the test
    sshd; s3: a prefix of its own in a bucket of the test S3 server, credentials from the
    environment as an operator's would be)."""
    if request.param == "ssh":
        target: SshTarget = request.getfixturevalue("ssh_target")
        with SshTransport(target) as ssh:
            yield ssh
    elif request.param == "s3":
        server: S3Server = request.getfixturevalue("s3")
        bucket: str = request.getfixturevalue("s3_bucket")
        monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        prefix = f"{request.node.name[:40]}-{secrets.token_hex(4)}/"
        with S3Transport(S3Target(bucket, prefix, endpoint=server.endpoint)) as store:
            yield store
    else:
        kind = {"local": LocalTransport, "lite": LiteTransport, "bare": BareTransport}
        with kind[request.param]() as t:
            yield t


@pytest.fixture(params=["local", "ssh", "lite", "bare"])
def subject(request: pytest.FixtureRequest) -> Iterator[Transport]:
    yield from opened(request)


Refusal = AbstractContextManager[pytest.ExceptionInfo[Unsupported]]


def refused(t: Transport, capability: Capability) -> Refusal:
    """Expect the documented refusal; the message names the transport and capability."""
    assert not t.has(capability)
    name = (capability.name or "").lower()
    return pytest.raises(Unsupported, match=rf"the {re.escape(t.label)} transport does not"
                         rf" offer .*{name}")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    files = {"IM1.dcm": b"one", "series 2/IM2.dcm": b"two" * 1000,
             f"series 2/{HOSTILE_NAMES[2]}": b"newline", HOSTILE_NAMES[-1]: b"latin1"}
    root = tmp_path / "study"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "a link").symlink_to(root / "IM1.dcm")  # never hashed nor followed
    return root, files


def test_posix_backends_declare_every_posix_capability() -> None:
    assert LocalTransport().capabilities == POSIX_CAPABILITIES
    assert SshTransport.capabilities == POSIX_CAPABILITIES
    assert POSIX_CAPABILITIES.names == ["run", "hash_tree", "copy_on_host", "flush",
                                        "symlinks", "realpath", "rename", "directories",
                                        "space", "byte_names"]


def test_hash_tree(subject: Transport, study: tuple[Path, dict[str, bytes]]) -> None:
    root, files = study
    if not subject.has(Capability.HASH_TREE):
        with refused(subject, Capability.HASH_TREE):
            subject.hash_tree(str(root))
        return
    assert subject.hash_tree(str(root)) == {rel: _sha(d) for rel, d in files.items()}
    assert subject.hash_tree(str(root / "IM1.dcm")) == {"": _sha(b"one")}


def test_copy_and_hash(subject: Transport, study: tuple[Path, dict[str, bytes]],
                       tmp_path: Path) -> None:
    root, files = study
    dest = tmp_path / "copy"
    if not subject.has(Capability.COPY_ON_HOST):
        with refused(subject, Capability.COPY_ON_HOST):
            subject.copy_and_hash(str(root), str(dest), scratch=str(tmp_path / "sums"))
        assert not subject.exists(str(dest))
        return
    expected = {rel: _sha(d) for rel, d in files.items()}
    for bandwidth, name in ((None, "copy"), (50e6, "limited")):
        dest = tmp_path / name
        sums = subject.copy_and_hash(str(root), str(dest), scratch=str(tmp_path / "sums"),
                                     bandwidth=bandwidth)
        assert sums == (expected, expected)
        for rel, data in files.items():
            assert subject.read(str(dest / rel)) == data
        link = subject.stat(str(dest / "a link"))
        assert link is not None and link.is_symlink  # copied as a link, not followed
    one = subject.copy_and_hash(str(root / "IM1.dcm"), str(tmp_path / "one.dcm"),
                                scratch=str(tmp_path / "sums"))
    assert one == ({"": _sha(b"one")}, {"": _sha(b"one")})
    with pytest.raises(OperationFailed, match="copy failed"):
        subject.copy_and_hash(str(root), str(tmp_path / "missing" / "copy"),
                              scratch=str(tmp_path / "sums"))


def test_flush(subject: Transport, tmp_path: Path) -> None:
    subject.write(str(tmp_path / "f"), b"durable")
    if not subject.has(Capability.FLUSH):
        with refused(subject, Capability.FLUSH):
            subject.flush(str(tmp_path / "f"))
        return
    subject.flush(str(tmp_path / "f"))
    subject.flush(str(tmp_path))
    with pytest.raises(NotFound):
        subject.flush(str(tmp_path / "missing"))


def test_symlinks(subject: Transport, tmp_path: Path) -> None:
    target = f"{tmp_path}/elsewhere/{HOSTILE_NAMES[3]}"
    link = str(tmp_path / "stub")
    if not subject.has(Capability.SYMLINKS):
        with refused(subject, Capability.SYMLINKS):
            subject.symlink(target, link)
        with refused(subject, Capability.SYMLINKS):
            subject.readlink(link)
        assert not subject.exists(link)
        return
    subject.symlink(target, link)
    st = subject.stat(link)
    assert st is not None and st.is_symlink
    assert subject.readlink(link) == target
    subject.mkdir(str(tmp_path / "folder"))
    for existing in (link, str(tmp_path / "folder")):  # never replaced, never put inside
        with pytest.raises(AlreadyExists):
            subject.symlink("other", existing)
    assert subject.readlink(link) == target
    assert subject.listdir(str(tmp_path / "folder")) == []
    with pytest.raises(NotFound):
        subject.readlink(str(tmp_path / "missing"))


def test_realpath(subject: Transport, tmp_path: Path) -> None:
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "via").symlink_to(tmp_path / "real")
    if not subject.has(Capability.REALPATH):
        with refused(subject, Capability.REALPATH):
            subject.realpath(str(tmp_path / "via"))
        return
    real = subject.realpath(str(tmp_path))
    assert subject.realpath(str(tmp_path / "via" / "sub")) == f"{real}/real/sub"
    assert subject.realpath(str(tmp_path / "via" / "new"), must_exist=False) == \
        f"{real}/real/new"
    with pytest.raises(NotFound):
        subject.realpath(str(tmp_path / "via" / "new"))


def test_require_names_what_is_missing() -> None:
    lite = LiteTransport()
    lite.require(Capability.RUN)
    with pytest.raises(Unsupported, match="lite transport does not offer hash_tree, flush"
                       " needed to do it") as info:
        lite.require(Capability.RUN | Capability.HASH_TREE | Capability.FLUSH, "do it")
    assert info.value.capability == Capability.HASH_TREE | Capability.FLUSH
