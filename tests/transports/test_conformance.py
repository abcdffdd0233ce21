"""The transport contract, run against every backend (see the ``transport`` fixture).

Everything a test needs is built through the transport under test (write, mkdir, symlink,
run) in ``base``, a directory it made, and every result is read back through it only (read,
stat, walk, listdir, exists): never through the local ``os``, so the same checks hold for a
backend whose files are not on this machine.  ``test_against_os.py`` holds the backends on
this machine to the local kernel's own answers.

Tests of an optional capability first ask whether the transport declares it; one that does
not must refuse (:class:`Unsupported`), and that is what is checked then.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from capacity.transports import (
    POSIX_CAPABILITIES,
    TEMP_PREFIX,
    AlreadyExists,
    Capability,
    CommandFailed,
    CommandTimeout,
    FileStat,
    LocalTransport,
    NotFound,
    SshTarget,
    SshTransport,
    Transport,
    TransportError,
    Unsupported,
)
from capacity.transports.base import join_below

# Every name a PACS export or a careless user could produce, and every shell metacharacter.
HOSTILE_NAMES = [
    "with space.dcm",
    "  leading and trailing  ",
    "new\nline",
    "tab\tand\rcarriage",
    "single'quote",
    'double"quote',
    "both'\"quotes",
    "-leading-dash",
    "--help",
    "-rf",
    "$(touch INJECTED)",
    "`touch INJECTED`",
    "semi;colon; touch INJECTED",
    "amp&&pipe|touch INJECTED",
    "$HOME and ${PATH}",
    "back\\slash\\n",
    "glob*?[a]{b,c}",
    "~tilde",
    "!bang #hash %percent",
    "<redirect>",
    "한글 환자 CT.dcm",
    "emoji 🩻📦.dcm",
    "é combining é",
    os.fsdecode(b"latin1-\xe9-not-utf8.dcm"),  # invalid UTF-8, kept via surrogateescape
]
HOSTILE_IDS = [f"name{i}" for i in range(len(HOSTILE_NAMES))]

MiB = 1024 * 1024
SPACE_TOLERANCE = 256 * MiB  # other xdist workers write while we compare


def _inode(transport: Transport, path: PurePosixPath) -> int:
    st = transport.stat(str(path))
    assert st is not None, path
    return st.inode


def _is_dir(transport: Transport, path: PurePosixPath) -> bool:
    st = transport.stat(str(path))
    return st is not None and st.is_dir and not st.is_symlink


def no_temp_left(transport: Transport, directory: PurePosixPath) -> None:
    assert [n for n in transport.listdir(str(directory)) if n.startswith(TEMP_PREFIX)] == []


def put(transport: Transport, path: PurePosixPath, data: bytes = b"") -> None:
    """A file with ``data``, its folders made first: through the transport."""
    transport.mkdir(str(path.parent))
    transport.write(str(path), data)


def link(transport: Transport, target: str | PurePosixPath, path: PurePosixPath) -> bool:
    """A symbolic link made through the transport; False (and nothing made) on a store
    without links, where the test has no link case."""
    if not transport.has(Capability.SYMLINKS):
        return False
    transport.symlink(str(target), str(path))
    return True


def runs_commands(transport: Transport) -> bool:
    """True if the transport declares :attr:`Capability.RUN`; if it does not, check that
    it refuses commands as the contract says (and the caller's test ends there)."""
    if transport.has(Capability.RUN):
        return True
    refusal = f"the {re.escape(transport.label)} transport does not offer run"
    with pytest.raises(Unsupported, match=refusal):
        transport.run(["true"])
    with pytest.raises(Unsupported, match=refusal):
        transport.stream(["true"])
    return False


def renames(transport: Transport) -> bool:
    """True if the transport declares :attr:`Capability.RENAME`; if it does not, check that
    it refuses renames as the contract says (and the caller's test ends there)."""
    if transport.has(Capability.RENAME):
        return True
    refusal = f"the {re.escape(transport.label)} transport does not offer rename"
    with pytest.raises(Unsupported, match=refusal):
        transport.rename("/a", "/b")
    with pytest.raises(Unsupported, match=refusal):
        transport.rename_many([("/a", "/b")])
    return False


def has_dirs(transport: Transport) -> bool:
    """Directories of their own (POSIX); without, one exists while something is in it."""
    return transport.has(Capability.DIRECTORIES)


def assert_empty(transport: Transport, folder: PurePosixPath) -> None:
    """Nothing in ``folder``: it lists empty, or, where a folder exists only while it holds
    something, it is gone."""
    if has_dirs(transport):
        assert transport.listdir(str(folder)) == []
    else:
        assert not transport.exists(str(folder))


def storable(transport: Transport, names: list[str]) -> list[str]:
    """The names the store can hold: all of them on POSIX; on an object store, those in
    UTF-8 without control characters."""
    if transport.has(Capability.BYTE_NAMES):
        return names
    return [n for n in names if not re.search(r"[\x00-\x1f\x7f\ud800-\udfff]", n)]


def odd_name(transport: Transport) -> str:
    """The oddest name the store can hold: a newline in it, or quotes on an object store."""
    return storable(transport, HOSTILE_NAMES)[2 if transport.has(Capability.BYTE_NAMES) else 4]


def names_in(transport: Transport, path: PurePosixPath) -> set[str]:
    return {rel for rel, _ in transport.walk(str(path))}


# --------------------------------------------------------------------------- read / write


@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)) * 3, os.urandom(3 * MiB + 7)],
                         ids=["empty", "one", "all-bytes", "3MiB"])
def test_write_then_read_round_trips_bytes(transport: Transport, base: PurePosixPath,
                                           data: bytes) -> None:
    path = base / "blob.bin"
    transport.write(str(path), data)
    assert transport.read(str(path)) == data
    no_temp_left(transport, base)


def test_write_replaces_content_atomically_and_leaves_no_temp(transport: Transport,
                                                              base: PurePosixPath) -> None:
    path = base / "journal.json"
    put(transport, path, b"old content that is longer than the new one")
    inode_before = _inode(transport, path)
    transport.write(str(path), b"new")
    assert transport.read(str(path)) == b"new"
    # A rename, not an in-place rewrite: readers holding the old file never see a mix.
    assert _inode(transport, path) != inode_before
    assert transport.listdir(str(base)) == ["journal.json"]


def test_write_without_overwrite_refuses_existing(transport: Transport,
                                                  base: PurePosixPath) -> None:
    path = base / "marker"
    put(transport, path, b"first")
    with pytest.raises(AlreadyExists):
        transport.write(str(path), b"second", overwrite=False)
    assert transport.read(str(path)) == b"first"
    no_temp_left(transport, base)
    transport.write(str(base / "fresh"), b"ok", overwrite=False)
    assert transport.read(str(base / "fresh")) == b"ok"


def test_write_into_missing_directory_is_not_found(transport: Transport,
                                                   base: PurePosixPath) -> None:
    if not has_dirs(transport):  # the folder is the name's prefix: nothing to be missing
        transport.write(str(base / "missing" / "f"), b"x")
        assert transport.read(str(base / "missing" / "f")) == b"x"
        assert _is_dir(transport, base / "missing")
        return
    with pytest.raises(NotFound):
        transport.write(str(base / "missing" / "f"), b"x")
    assert transport.listdir(str(base)) == []


def test_read_missing_is_not_found_and_a_file_not_found_error(transport: Transport,
                                                              base: PurePosixPath) -> None:
    with pytest.raises(NotFound) as info:
        transport.read(str(base / "nope"))
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.errno == errno.ENOENT


def test_read_of_directory_fails(transport: Transport, base: PurePosixPath) -> None:
    with pytest.raises(TransportError):
        transport.read(str(base))


# --------------------------------------------------------------------------- stat / exists


def test_stat_reports_what_was_set_up(transport: Transport, base: PurePosixPath) -> None:
    f = base / "study.dcm"
    put(transport, f, b"DICM" * 1000)
    d = base / "series"
    put(transport, d / "IM1.dcm")
    later = base / "later.dcm"
    put(transport, later, b"x")
    got = transport.stat(str(f))
    assert got is not None and got.is_file and not got.is_dir and not got.is_symlink
    assert got.size == 4000 and got.kind == "f"
    assert got.permissions == got.mode & 0o7777
    newer = transport.stat(str(later))
    assert newer is not None and newer.mtime >= got.mtime > 0 and got.atime > 0
    folder = transport.stat(str(d))
    assert folder is not None and folder.is_dir and not folder.is_file and folder.kind == "d"
    made = [f, d, d / "IM1.dcm", later, base]
    if link(transport, "does-not-exist", base / "dangling"):
        link(transport, d, base / "dirlink")
        for path, size in ((base / "dangling", len("does-not-exist")),
                           (base / "dirlink", len(str(d)))):
            st = transport.stat(str(path))
            assert st is not None and st.is_symlink and not st.is_dir and not st.is_file
            assert st.kind == "l"
            assert st.size == size  # lstat: the link itself, not what it points to
            made.append(path)
    assert len({_inode(transport, p) for p in made}) == len(made)
    assert _inode(transport, f) == _inode(transport, f)


def test_stat_of_missing_path_is_none(transport: Transport, base: PurePosixPath) -> None:
    put(transport, base / "file")
    assert transport.stat(str(base / "missing")) is None
    assert transport.stat(str(base / "file" / "below-a-file")) is None


def test_exists_uses_lstat(transport: Transport, base: PurePosixPath) -> None:
    put(transport, base / "file")
    assert transport.exists(str(base / "file"))
    assert transport.exists(str(base))
    assert not transport.exists(str(base / "missing"))
    if link(transport, "nowhere", base / "dangling"):
        assert transport.exists(str(base / "dangling"))


# --------------------------------------------------------------------------- rename


def test_rename_moves_file_and_directory(transport: Transport, base: PurePosixPath) -> None:
    if not renames(transport):
        return
    put(transport, base / "a", b"A")
    transport.rename(str(base / "a"), str(base / "b"))
    assert not transport.exists(str(base / "a"))
    assert transport.read(str(base / "b")) == b"A"
    study = base / "study.partial"
    put(transport, study / "series1" / "img1.dcm", b"img")
    inode = _inode(transport, study)
    transport.rename(str(study), str(base / "study"))
    assert _inode(transport, base / "study") == inode
    assert transport.read(str(base / "study" / "series1" / "img1.dcm")) == b"img"


def test_rename_refuses_to_overwrite(transport: Transport, base: PurePosixPath) -> None:
    if not renames(transport):
        return
    put(transport, base / "src", b"new")
    put(transport, base / "dst", b"precious")
    with pytest.raises(AlreadyExists):
        transport.rename(str(base / "src"), str(base / "dst"))
    assert transport.read(str(base / "src")) == b"new"
    assert transport.read(str(base / "dst")) == b"precious"
    assert sorted(transport.listdir(str(base))) == ["dst", "src"]


def test_rename_refuses_to_replace_a_directory(transport: Transport,
                                               base: PurePosixPath) -> None:
    if not renames(transport):
        return
    put(transport, base / "incoming" / "new.dcm", b"n")
    transport.mkdir(str(base / "empty-target"))  # rename(2) would silently replace it
    put(transport, base / "full-target" / "old.dcm", b"o")
    for target in ("empty-target", "full-target"):
        with pytest.raises(AlreadyExists):
            transport.rename(str(base / "incoming"), str(base / target))
    assert transport.listdir(str(base / "incoming")) == ["new.dcm"]
    assert transport.listdir(str(base / "empty-target")) == []
    assert transport.listdir(str(base / "full-target")) == ["old.dcm"]
    put(transport, base / "file", b"f")
    with pytest.raises(AlreadyExists):
        transport.rename(str(base / "file"), str(base / "empty-target"))
    assert transport.read(str(base / "file")) == b"f"


def test_rename_with_overwrite_replaces(transport: Transport, base: PurePosixPath) -> None:
    if not renames(transport):
        return
    put(transport, base / "src", b"new")
    put(transport, base / "dst", b"old")
    transport.rename(str(base / "src"), str(base / "dst"), overwrite=True)
    assert transport.read(str(base / "dst")) == b"new"
    assert not transport.exists(str(base / "src"))


def test_rename_of_missing_source_is_not_found(transport: Transport,
                                               base: PurePosixPath) -> None:
    if not renames(transport):
        return
    for overwrite in (False, True):
        with pytest.raises(NotFound):
            transport.rename(str(base / "nope"), str(base / "x"), overwrite=overwrite)
    assert transport.listdir(str(base)) == []


# --------------------------------------------------------------------------- delete / mkdir


def test_delete_removes_files_and_links_only(transport: Transport, base: PurePosixPath) -> None:
    target = base / "target"
    put(transport, target, b"keep")
    if link(transport, target, base / "link"):
        transport.delete(str(base / "link"))
        assert not transport.exists(str(base / "link"))
        assert transport.read(str(target)) == b"keep"
    transport.delete(str(target))
    assert not transport.exists(str(target))
    put(transport, base / "dir" / "inside")
    with pytest.raises(TransportError):
        transport.delete(str(base / "dir"))
    assert _is_dir(transport, base / "dir")


def test_delete_missing(transport: Transport, base: PurePosixPath) -> None:
    with pytest.raises(NotFound):
        transport.delete(str(base / "missing"))
    transport.delete(str(base / "missing"), missing_ok=True)


def test_delete_tree_removes_everything_but_never_follows_symlinks(
        transport: Transport, base: PurePosixPath) -> None:
    outside = base / "outside"
    put(transport, outside / "keep.dcm", b"keep")
    tree = base / "study"
    put(transport, tree / "a" / "b" / "img.dcm", b"x")
    put(transport, tree / odd_name(transport), b"y")
    link(transport, outside, tree / "a" / "escape")
    transport.delete_tree(str(tree))
    assert not transport.exists(str(tree))
    assert transport.read(str(outside / "keep.dcm")) == b"keep"


def test_delete_tree_refuses_files_symlinks_and_roots(transport: Transport,
                                                      base: PurePosixPath) -> None:
    put(transport, base / "file", b"f")
    put(transport, base / "real" / "keep", b"k")
    refused = ["file", "link"] if link(transport, base / "real", base / "link") else ["file"]
    for path in refused:
        with pytest.raises(TransportError) as info:
            transport.delete_tree(str(base / path))
        assert info.value.errno == errno.ENOTDIR
    assert transport.exists(str(base / "real" / "keep"))
    assert transport.exists(str(base / "file"))
    for root in ("/", "//", ".", "..", str(base / ".."), "/tmp/..", "a/b/."):
        with pytest.raises(ValueError):
            transport.delete_tree(root)
    with pytest.raises(NotFound):
        transport.delete_tree(str(base / "missing"))
    transport.delete_tree(str(base / "missing"), missing_ok=True)


def test_mkdir(transport: Transport, base: PurePosixPath) -> None:
    deep = base / "tier" / "2024" / "01"
    if not has_dirs(transport):
        _mkdir_without_directories(transport, base, deep)
        return
    transport.mkdir(str(deep))
    assert _is_dir(transport, deep)
    transport.mkdir(str(deep))  # exist_ok by default, like mkdir -p
    with pytest.raises(AlreadyExists):
        transport.mkdir(str(deep), exist_ok=False)
    with pytest.raises(NotFound):
        transport.mkdir(str(base / "x" / "y"), parents=False)
    transport.mkdir(str(base / "single"), parents=False)
    assert _is_dir(transport, base / "single")
    put(transport, base / "file")
    with pytest.raises(AlreadyExists):
        transport.mkdir(str(base / "file"))
    with pytest.raises(TransportError):
        transport.mkdir(str(base / "file" / "below"))


def _mkdir_without_directories(transport: Transport, base: PurePosixPath,
                               deep: PurePosixPath) -> None:
    """A directory is the prefix of what is below it: mkdir makes nothing, and what is
    written below exists at once; an object in the way is refused as a file would be."""
    transport.mkdir(str(deep))
    transport.mkdir(str(deep), parents=False, exist_ok=False)  # nothing there yet
    assert transport.stat(str(deep)) is None
    put(transport, deep / "IM1.dcm", b"x")
    assert _is_dir(transport, deep) and _is_dir(transport, base / "tier")
    with pytest.raises(AlreadyExists):
        transport.mkdir(str(deep), exist_ok=False)
    put(transport, base / "file")
    with pytest.raises(AlreadyExists):
        transport.mkdir(str(base / "file"))
    with pytest.raises(TransportError) as info:
        transport.mkdir(str(base / "file" / "below"))
    assert info.value.errno == errno.ENOTDIR
    with pytest.raises(TransportError) as info:
        transport.write(str(base / "tier"), b"over a folder")
    assert info.value.errno == errno.EISDIR
    assert transport.read(str(deep / "IM1.dcm")) == b"x"


def test_rmdir_removes_only_an_empty_directory(transport: Transport,
                                               base: PurePosixPath) -> None:
    transport.mkdir(str(base / "empty"))
    if has_dirs(transport):
        transport.rmdir(str(base / "empty"))
    else:
        with pytest.raises(NotFound):  # no directory is ever empty there
            transport.rmdir(str(base / "empty"))
    assert not transport.exists(str(base / "empty"))
    put(transport, base / "full" / "IM1.dcm", b"late image")
    with pytest.raises(AlreadyExists) as info:
        transport.rmdir(str(base / "full"))
    assert info.value.errno in (errno.ENOTEMPTY, errno.EEXIST)  # POSIX allows either
    assert transport.read(str(base / "full" / "IM1.dcm")) == b"late image"
    put(transport, base / "file")
    with pytest.raises(TransportError) as info:
        transport.rmdir(str(base / "file"))
    assert info.value.errno == errno.ENOTDIR
    if link(transport, base / "full", base / "link"):
        with pytest.raises(TransportError):
            transport.rmdir(str(base / "link"))
        assert transport.exists(str(base / "link"))
    with pytest.raises(NotFound):
        transport.rmdir(str(base / "missing"))
    assert transport.listdir(str(base)) == sorted(
        ["file", "full", *(["link"] if transport.has(Capability.SYMLINKS) else [])])


def test_listdir_is_sorted_and_exact(transport: Transport, base: PurePosixPath) -> None:
    names = ["b", "a", "C", ".hidden", "한글", "-dash"]
    for n in names:
        put(transport, base / n)
    put(transport, base / "sub" / "nested")
    expected = sorted([*names, "sub"], key=os.fsencode)
    assert transport.listdir(str(base)) == expected
    assert transport.listdir(str(base / "sub")) == ["nested"]
    with pytest.raises(NotFound):
        transport.listdir(str(base / "missing"))
    with pytest.raises(TransportError) as info:
        transport.listdir(str(base / "a"))
    assert info.value.errno == errno.ENOTDIR


def test_free_space_is_consistent(transport: Transport, base: PurePosixPath) -> None:
    if not transport.has(Capability.SPACE):
        with pytest.raises(Unsupported, match=f"the {re.escape(transport.label)} transport"
                           " does not offer space"):
            transport.free_space(str(base))
        return
    space = transport.free_space(str(base))
    assert all(isinstance(v, int) for v in (space.total, space.free, space.available))
    assert 0 <= space.available <= space.free <= space.total and space.total > 0
    transport.mkdir(str(base / "sub"))
    assert transport.free_space(str(base / "sub")).total == space.total  # same fs
    with pytest.raises(NotFound):
        transport.free_space(str(base / "missing"))


# --------------------------------------------------------------------------- trees


STUDY = {"IM1.dcm": b"one", "series 2/IM2.dcm": b"two" * 1000,
         f"series 2/deeper/{HOSTILE_NAMES[2]}": b"newline", HOSTILE_NAMES[-1]: b"latin1",
         "empty.dcm": b""}
STUDY_DIRS = {"", "series 2", "series 2/deeper", "empty folder"}


def study_files(transport: Transport) -> dict[str, bytes]:
    """STUDY, less any name the store cannot hold."""
    return {rel: STUDY[rel] for rel in storable(transport, list(STUDY))}


def study_dirs(transport: Transport) -> set[str]:
    """STUDY_DIRS, less the folders left empty where a folder exists only while it holds
    something."""
    if has_dirs(transport):
        return STUDY_DIRS
    held = {posixpath.dirname(rel) for rel in study_files(transport)}
    return {d for d in STUDY_DIRS if any(h == d or h.startswith(f"{d}/") or not d
                                         for h in held)}


def make_study(transport: Transport, root: PurePosixPath) -> set[str]:
    """STUDY under ``root``, with an empty folder and (where the store has links) a link
    out of it and a dangling one; returns the names of the links it made."""
    for rel, data in study_files(transport).items():
        put(transport, root / rel, data)
    transport.mkdir(str(root / "empty folder"))
    outside = root.parent / "outside"
    put(transport, outside / "secret.dcm", b"not part of the study")
    links = set()
    if link(transport, outside, root / "escape"):
        link(transport, "nowhere", root / "series 2" / "dangling")
        links = {"escape", "series 2/dangling"}
    return links


def same_entry(got: FileStat, want: FileStat | None) -> None:
    assert want is not None
    assert (got.size, got.mode, got.inode, got.is_dir, got.is_symlink) == (
        want.size, want.mode, want.inode, want.is_dir, want.is_symlink)
    assert got.mtime == pytest.approx(want.mtime, abs=1e-6)
    if not got.is_dir:  # listing a folder may touch its atime
        assert got.atime == pytest.approx(want.atime, abs=1e-6)


def test_walk_lists_everything_once_and_never_follows_links(transport: Transport,
                                                            base: PurePosixPath) -> None:
    root = base / "study"
    links = make_study(transport, root)
    got = list(transport.walk(str(root)))
    names = [rel for rel, _ in got]
    assert len(names) == len(set(names))
    assert set(names) == set(study_files(transport)) | study_dirs(transport) | links
    assert names[0] == ""
    for rel, st in got:
        if rel:  # a directory comes before what is in it
            assert names.index(posixpath.dirname(rel)) < names.index(rel)
        same_entry(st, transport.stat(join_below(str(root), rel)))
        if rel in STUDY:
            assert st.is_file and st.size == len(STUDY[rel])
        elif rel in STUDY_DIRS:
            assert st.is_dir and not st.is_symlink
        else:
            assert st.is_symlink and not st.is_dir
    # A file, or a link, is its own walk; a link is never followed.
    one = list(transport.walk(str(root / "IM1.dcm")))
    assert [rel for rel, _ in one] == [""] and one[0][1].size == 3
    if links:
        itself = list(transport.walk(str(root / "escape")))
        assert len(itself) == 1 and itself[0][0] == "" and itself[0][1].is_symlink
    with pytest.raises(NotFound):
        list(transport.walk(str(base / "missing")))


def test_walk_can_be_left_early(transport: Transport, base: PurePosixPath) -> None:
    make_study(transport, base / "study")
    it = transport.walk(str(base / "study"))
    assert next(it)[0] == ""
    it.close()  # stops whatever lists the tree; the transport goes on working
    assert names_in(transport, base / "study") >= set(study_files(transport))


def many_files(transport: Transport, folder: PurePosixPath, names: list[str]) -> None:
    """Empty files in ``folder``: in one command where the transport runs them."""
    transport.mkdir(str(folder))
    if transport.has(Capability.RUN):
        transport.run(["sh", "-c", 'cd -- "$1" && shift && touch -- "$@"', "sh", str(folder),
                       *names])
    else:
        for name in names:
            transport.write(str(folder / name), b"")


def test_delete_files_unlinks_files_and_links_only(transport: Transport,
                                                   base: PurePosixPath) -> None:
    # more than a batch
    names = [f"IM{i:04d}.dcm" for i in range(520)] + storable(transport, HOSTILE_NAMES)
    many_files(transport, base / "study", names)
    put(transport, base / "keep.dcm", b"keep")
    doomed = [str(base / "study" / n) for n in names] + [str(base / "study" / "missing")]
    if link(transport, base / "keep.dcm", base / "study" / "link"):
        doomed.append(str(base / "study" / "link"))
    transport.delete_files(doomed)
    assert_empty(transport, base / "study")
    assert transport.read(str(base / "keep.dcm")) == b"keep"  # a link's target stays
    transport.delete_files(doomed)  # all missing now: fine
    transport.delete_files([])
    put(transport, base / "study" / "late.dcm", b"late")
    with pytest.raises(TransportError):
        transport.delete_files([str(base / "study")])
    assert _is_dir(transport, base / "study")
    assert transport.read(str(base / "study" / "late.dcm")) == b"late"


def test_remove_empty_dirs_leaves_every_folder_that_holds_something(
        transport: Transport, base: PurePosixPath) -> None:
    aside = base / "aside"
    transport.mkdir(str(aside / "a" / "b" / "c"))
    put(transport, aside / "keep" / "IM1.dcm", b"late image")
    transport.mkdir(str(aside / "keep" / "empty"))
    put(transport, aside / "deep" / "x" / "y" / odd_name(transport), b"deep")
    transport.mkdir(str(base / "outside" / "empty"))
    linked = link(transport, base / "outside" / "empty", aside / "link")
    transport.remove_empty_dirs(str(aside))
    kept = {"", "keep", "keep/IM1.dcm", "deep", "deep/x", "deep/x/y",
            f"deep/x/y/{odd_name(transport)}"}
    assert names_in(transport, aside) == kept | ({"link"} if linked else set())
    assert transport.read(str(aside / "keep" / "IM1.dcm")) == b"late image"
    if has_dirs(transport):
        assert _is_dir(transport, base / "outside" / "empty")  # never followed via a link
    # Once only folders are left, every one goes, the top one too.
    files = [join_below(str(aside), rel) for rel, st in transport.walk(str(aside))
             if not st.is_dir]
    transport.delete_files(files)
    transport.remove_empty_dirs(str(aside))
    assert not transport.exists(str(aside))
    transport.remove_empty_dirs(str(aside))  # missing: nothing to do
    put(transport, base / "file", b"f")
    transport.remove_empty_dirs(str(base / "file"))
    assert transport.read(str(base / "file")) == b"f"


def test_remove_work_removes_the_work_and_then_its_empty_root(transport: Transport,
                                                              base: PurePosixPath) -> None:
    work_root = base / ".capacity-work"
    work, other = work_root / "unit-1", work_root / "unit-2"
    for rel, data in study_files(transport).items():
        put(transport, work / "payload" / rel, data)
    put(transport, work / "copy.sha256", b"sums")
    put(transport, base / "outside.dcm", b"keep")
    link(transport, base / "outside.dcm", work / "payload" / "link")
    put(transport, other / "payload", b"another unit's copy")
    transport.remove_work(str(work), str(work_root))
    assert transport.listdir(str(work_root)) == ["unit-2"]
    assert transport.read(str(other / "payload")) == b"another unit's copy"
    assert transport.read(str(base / "outside.dcm")) == b"keep"
    transport.remove_work(str(other), str(work_root))
    assert not transport.exists(str(work_root))
    transport.remove_work(str(other), str(work_root))  # gone already: fine
    assert transport.listdir(str(base)) == ["outside.dcm"]


def test_remove_work_ends_a_copy_still_running(transport: Transport,
                                               base: PurePosixPath) -> None:
    """A controller killed mid-copy leaves the host's copy running into the work directory;
    removing the work first ends it, or it would write on into a folder that is gone."""
    if not transport.has(Capability.COPY_ON_HOST):
        return  # nothing runs on the host for such a transport: nothing to end
    put(transport, base / "study" / "big.dcm", os.urandom(4 * MiB))
    work_root = base / ".capacity-work"
    work = work_root / "unit"
    transport.mkdir(str(work))
    failed: list[BaseException] = []

    def copy() -> None:
        try:  # 4 MiB at 256 KiB/s: a copy of 16 s, ended long before
            transport.copy_and_hash(str(base / "study"), str(work / "payload"),
                                    scratch=str(work / "copy.sha256"), bandwidth=256 * 1024)
        except TransportError as exc:
            failed.append(exc)

    copying = threading.Thread(target=copy, daemon=True)
    started = time.monotonic()
    copying.start()
    deadline = started + 30
    while not transport.exists(str(work / "payload")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert transport.exists(str(work / "payload")), "the copy never started"
    transport.remove_work(str(work), str(work_root))
    copying.join(30)
    assert not copying.is_alive() and failed, "the copy ran on"
    assert time.monotonic() - started < 15
    time.sleep(0.5)
    assert not transport.exists(str(work_root))  # and nothing wrote into it again
    assert transport.listdir(str(base)) == ["study"]


def test_the_default_remove_empty_dirs_keeps_a_folder_filled_meanwhile(
        tmp_path: Path) -> None:
    """The contract's own remove_empty_dirs lists, then removes each folder by rmdir: a
    file written in between (a late image) keeps its folder, and the folders above it."""
    from tests.transports.test_capabilities import BareTransport

    aside = PurePosixPath(tmp_path, "aside")
    late = aside / "series" / "late.dcm"

    class LateWriter(BareTransport):
        def walk(self, path: str) -> Iterator[tuple[str, FileStat]]:
            entries = list(super().walk(path))
            self.write(str(late), b"late image")  # after the listing, before any rmdir
            yield from entries

    with LateWriter() as t:
        t.mkdir(str(aside / "series"))
        t.mkdir(str(aside / "other"))
        t.remove_empty_dirs(str(aside))
        assert names_in(t, aside) == {"", "series", "series/late.dcm"}
        assert t.read(str(late)) == b"late image"


# --------------------------------------------------------------------------- commands


class LocalWithoutRun(LocalTransport):
    label = "local-without-run"
    capabilities = POSIX_CAPABILITIES & ~Capability.RUN


class SshWithoutRun(SshTransport):
    capabilities = POSIX_CAPABILITIES & ~Capability.RUN


@pytest.mark.parametrize("kind", ["local", "ssh"])
def test_a_transport_without_run_refuses_commands(request: pytest.FixtureRequest,
                                                  tmp_path: Path, kind: str) -> None:
    if kind == "ssh":
        target: SshTarget = request.getfixturevalue("ssh_target")
        t: Transport = SshWithoutRun(target)
    else:
        t = LocalWithoutRun()
    with t:
        for call in (lambda: t.run(["true"]), lambda: t.stream(["true"])):
            with pytest.raises(Unsupported, match=f"the {t.label} transport does not offer"
                               " run needed to run commands on the host") as info:
                call()  # stream too refuses when called, not on its first chunk
            assert info.value.capability == Capability.RUN
        # The tree operations take the contract's defaults instead of one command each.
        root = PurePosixPath(tmp_path, "study")
        put(t, root / "series" / "IM1.dcm", b"one")
        assert names_in(t, root) == {"", "series", "series/IM1.dcm"}
        t.delete_files([str(root / "series" / "IM1.dcm")])
        t.remove_empty_dirs(str(root))
        assert not t.exists(str(root))


def test_run_returns_exit_code_stdout_and_stderr_bytes(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    result = transport.run(["sh", "-c", r"printf 'out\000\377'; printf 'err' >&2; exit 3"],
                           check=False)
    assert result.exit_code == 3
    assert not result.ok
    assert result.stdout == b"out\x00\xff"
    assert result.stderr == b"err"
    ok = transport.run(["true"])
    assert ok.exit_code == 0 and ok.ok and ok.stdout == b""


def test_run_check_raises_command_failed_with_stderr(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    with pytest.raises(CommandFailed) as info:
        transport.run(["sh", "-c", "echo 'disk on fire' >&2; exit 7"])
    assert info.value.exit_code == 7
    assert info.value.stderr == b"disk on fire\n"
    assert "disk on fire" in str(info.value)
    assert isinstance(info.value, TransportError)


def test_run_missing_program_exits_127(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    result = transport.run([f"no-such-program-{uuid.uuid4().hex}"], check=False)
    assert result.exit_code == 127
    with pytest.raises(CommandFailed):
        transport.run([f"no-such-program-{uuid.uuid4().hex}"])


def test_run_gives_commands_empty_stdin(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    # `cat` with no argument would hang forever on an open stdin.
    assert transport.run(["cat"], timeout=20).stdout == b""


def test_run_timeout(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    with pytest.raises(CommandTimeout) as info:
        transport.run(["sleep", "10"], timeout=0.5)
    assert isinstance(info.value, TimeoutError)


def test_run_passes_every_argument_unchanged(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    args = [*HOSTILE_NAMES, "", " ", "*", "'", '"', "\\", "$", "a'b\"c$d`e\\f"]
    result = transport.run(["printf", "%s\\0", *args])
    assert result.stdout == b"".join(os.fsencode(a) + b"\0" for a in args)


def test_run_rejects_strings_and_empty_argv(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    with pytest.raises(TypeError):
        transport.run("echo hi")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        transport.run([])
    with pytest.raises(ValueError):
        transport.run(["echo", "nul\0byte"])


def big_tree(transport: Transport, base: PurePosixPath) -> tuple[PurePosixPath, list[bytes]]:
    """A study archive of a few thousand files, some with hostile names, made by one
    command; returns its root and the names below it, as find prints them."""
    root = base / "archive"
    script = ('cd -- "$1" && for s in $(seq 0 29); do'
              ' d=$(printf "study %03d/séries-%d" "$s" $((s % 7))); mkdir -p -- "$d";'
              ' for i in $(seq 0 99); do : > "$d/$(printf IM%05d.dcm "$i")"; done; done')
    transport.mkdir(str(root))
    transport.run(["sh", "-c", script, "sh", str(root)])
    for name in HOSTILE_NAMES:
        put(transport, root / "hostile" / name)
    expected = [b"hostile", *(os.fsencode(f"hostile/{n}") for n in HOSTILE_NAMES)]
    for k in range(30):
        study = f"study {k:03d}"
        series = f"{study}/séries-{k % 7}"
        expected += [study.encode(), series.encode()]
        expected += [f"{series}/IM{i:05d}.dcm".encode() for i in range(100)]
    return root, expected


def test_stream_of_a_large_find_lists_the_whole_tree(transport: Transport,
                                                     base: PurePosixPath) -> None:
    if not runs_commands(transport):
        return
    root, expected = big_tree(transport, base)
    chunks = list(transport.stream(["find", str(root), "-mindepth", "1",
                                    "-printf", "%P\\0"]))
    listed = b"".join(chunks).split(b"\0")
    assert listed[-1] == b""
    assert len(expected) > 3000
    assert sorted(listed[:-1]) == sorted(expected)
    assert all(chunks)


def test_stream_yields_in_chunks_without_buffering_everything(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    size = 32 * MiB
    it = transport.stream(["head", "-c", str(size), "/dev/zero"])
    first = next(it)
    assert 0 < len(first) < size  # we got data before the command finished writing
    total = len(first) + sum(len(c) for c in it)
    assert total == size


def test_stream_failure_raises_after_output_with_stderr(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    it = transport.stream(["sh", "-c", "printf partial; echo 'find: broken' >&2; exit 4"])
    received = b""
    with pytest.raises(CommandFailed) as info:
        for chunk in it:
            received += chunk
    assert received == b"partial"
    assert info.value.exit_code == 4
    assert b"find: broken" in info.value.stderr


def test_stream_survives_a_flood_of_stderr(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    # 8 MiB of stderr is more than the SSH window: unread, it would stall stdout forever.
    script = "head -c 8388608 /dev/zero >&2; printf done"
    assert b"".join(transport.stream(["sh", "-c", script], timeout=60)) == b"done"


def test_stream_closed_early_stops_the_command(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    it = transport.stream(["yes"])
    assert next(it).startswith(b"y\n")
    it.close()  # must return promptly and not leave `yes` running forever
    assert b"".join(transport.stream(["echo", "still usable"])) == b"still usable\n"


def test_stream_timeout(transport: Transport) -> None:
    if not runs_commands(transport):
        return
    with pytest.raises(CommandTimeout):
        list(transport.stream(["sh", "-c", "printf a; sleep 10"], timeout=0.5))


# --------------------------------------------------------------------------- hostile names


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=HOSTILE_IDS)
def test_hostile_names_work_everywhere(transport: Transport, base: PurePosixPath,
                                       name: str) -> None:
    data = b"DICM" + name.encode("utf-8", "surrogateescape")
    path = base / name
    if not storable(transport, [name]):  # not UTF-8: refused before anything is sent
        with pytest.raises(TransportError) as info:
            transport.write(str(path), data)
        assert info.value.errno == errno.EILSEQ
        assert transport.stat(str(base)) is None  # nothing was written
        return
    transport.write(str(path), data)
    assert transport.listdir(str(base)) == [name]
    assert transport.read(str(path)) == data
    st = transport.stat(str(path))
    assert st is not None and st.is_file and st.size == len(data)
    assert transport.exists(str(path))
    assert names_in(transport, base) == {"", name}

    if transport.has(Capability.RUN):
        out = transport.run(["sha256sum", "--", str(path)]).stdout
        # GNU sha256sum prefixes the line with "\" when it had to escape the name.
        assert out.lstrip(b"\\")[:64].decode() == hashlib.sha256(data).hexdigest()
        # The name as a relative argument, leading dash included.
        rel = transport.run(["sh", "-c", 'cd "$1" && cat -- "$2"', "sh", str(base), name])
        assert rel.stdout == data

    sub = base / f"dir {name}"
    if renames(transport):
        renamed = base / f"{name} (moved ✓)"
        transport.rename(str(path), str(renamed))
        assert transport.listdir(str(base)) == [renamed.name]
        transport.mkdir(str(sub / name))
        assert _is_dir(transport, sub / name)
        transport.rename(str(renamed), str(sub / name / name))
    else:
        transport.mkdir(str(sub / name))
        transport.write(str(sub / name / name), data)
        transport.delete(str(path))
    assert transport.read(str(sub / name / name)) == data
    transport.delete_files([str(sub / name / name)])
    transport.remove_empty_dirs(str(sub))
    assert_empty(transport, base)
    assert not transport.exists(str(base / "INJECTED"))


def test_no_descriptor_leaks(transport: Transport, base: PurePosixPath) -> None:
    path = str(base / "f")
    commands = transport.has(Capability.RUN)

    def work() -> None:
        if commands:
            transport.run(["true"])
            transport.run(["false"], check=False)
            assert b"".join(transport.stream(["echo", "x"])) == b"x\n"
            it = transport.stream(["yes"])
            next(it)
            it.close()
        transport.write(path, b"x")
        transport.read(path)
        transport.stat(path)
        walk = transport.walk(str(base))
        next(walk)
        walk.close()

    work()  # warm up: the SSH session and SFTP channel open on first use
    # The controller's own descriptors: what a leaking backend would exhaust.
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        work()
    assert len(os.listdir("/proc/self/fd")) <= before + 2


def test_context_manager_closes(transport: Transport) -> None:
    with transport as t:
        assert t is transport
    transport.close()  # twice is fine
