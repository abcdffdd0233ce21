"""The transport contract, run against every backend (see the ``transport`` fixture).

Both backends act on this machine's filesystem (the SSH server is on 127.0.0.1), so the
tests set files up with ``pathlib``; every result is read back through the transport under
test only (read, stat, listdir, exists), never through the local ``os``, so that the same
checks hold for a backend whose files are not on this machine.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import uuid
from pathlib import Path

import pytest

from capacity.transports import (
    TEMP_PREFIX,
    AlreadyExists,
    CommandFailed,
    CommandTimeout,
    NotFound,
    Transport,
    TransportError,
)

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


def _inode(transport: Transport, path: Path) -> int:
    st = transport.stat(str(path))
    assert st is not None, path
    return st.inode


def _is_dir(transport: Transport, path: Path) -> bool:
    st = transport.stat(str(path))
    return st is not None and st.is_dir and not st.is_symlink


def no_temp_left(transport: Transport, directory: Path) -> None:
    assert [n for n in transport.listdir(str(directory)) if n.startswith(TEMP_PREFIX)] == []


# --------------------------------------------------------------------------- read / write


@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)) * 3, os.urandom(3 * MiB + 7)],
                         ids=["empty", "one", "all-bytes", "3MiB"])
def test_write_then_read_round_trips_bytes(transport: Transport, tmp_path: Path,
                                           data: bytes) -> None:
    path = tmp_path / "blob.bin"
    transport.write(str(path), data)
    assert transport.read(str(path)) == data
    no_temp_left(transport, tmp_path)


def test_write_replaces_content_atomically_and_leaves_no_temp(transport: Transport,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    path.write_bytes(b"old content that is longer than the new one")
    inode_before = _inode(transport, path)
    transport.write(str(path), b"new")
    assert transport.read(str(path)) == b"new"
    # A rename, not an in-place rewrite: readers holding the old file never see a mix.
    assert _inode(transport, path) != inode_before
    assert transport.listdir(str(tmp_path)) == ["journal.json"]


def test_write_without_overwrite_refuses_existing(transport: Transport, tmp_path: Path) -> None:
    path = tmp_path / "marker"
    path.write_bytes(b"first")
    with pytest.raises(AlreadyExists):
        transport.write(str(path), b"second", overwrite=False)
    assert transport.read(str(path)) == b"first"
    no_temp_left(transport, tmp_path)
    transport.write(str(tmp_path / "fresh"), b"ok", overwrite=False)
    assert transport.read(str(tmp_path / "fresh")) == b"ok"


def test_write_into_missing_directory_is_not_found(transport: Transport, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        transport.write(str(tmp_path / "missing" / "f"), b"x")
    assert transport.listdir(str(tmp_path)) == []


def test_read_missing_is_not_found_and_a_file_not_found_error(transport: Transport,
                                                              tmp_path: Path) -> None:
    with pytest.raises(NotFound) as info:
        transport.read(str(tmp_path / "nope"))
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.errno == errno.ENOENT


def test_read_of_directory_fails(transport: Transport, tmp_path: Path) -> None:
    with pytest.raises(TransportError):
        transport.read(str(tmp_path))


# --------------------------------------------------------------------------- stat / exists


def test_stat_reports_what_was_set_up(transport: Transport, tmp_path: Path) -> None:
    f = tmp_path / "study.dcm"
    f.write_bytes(b"DICM" * 1000)
    os.chmod(f, 0o640)
    os.utime(f, ns=(1_600_000_000_123_456_789, 1_650_000_000_987_654_321))
    d = tmp_path / "series"
    d.mkdir()
    link = tmp_path / "dangling"
    link.symlink_to("does-not-exist")
    dirlink = tmp_path / "dirlink"
    dirlink.symlink_to(d)
    got = transport.stat(str(f))
    assert got is not None and got.is_file and not got.is_dir and not got.is_symlink
    assert got.size == 4000 and got.permissions == 0o640
    assert stat.S_ISREG(got.mode)
    assert got.mtime == pytest.approx(1_650_000_000.987654321, abs=1e-6)
    assert got.atime == pytest.approx(1_600_000_000.123456789, abs=1e-6)
    folder = transport.stat(str(d))
    assert folder is not None and folder.is_dir and not folder.is_file
    for path, size in ((link, len("does-not-exist")), (dirlink, len(str(d)))):
        st = transport.stat(str(path))
        assert st is not None and st.is_symlink and not st.is_dir and not st.is_file
        assert st.size == size  # lstat: the link itself, not what it points to
    inodes = {_inode(transport, p) for p in (f, d, link, dirlink, tmp_path)}
    assert len(inodes) == 5
    assert _inode(transport, f) == _inode(transport, f)


def test_stat_of_missing_path_is_none(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    assert transport.stat(str(tmp_path / "missing")) is None
    assert transport.stat(str(tmp_path / "file" / "below-a-file")) is None


def test_exists_uses_lstat(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    (tmp_path / "dangling").symlink_to("nowhere")
    assert transport.exists(str(tmp_path / "file"))
    assert transport.exists(str(tmp_path))
    assert transport.exists(str(tmp_path / "dangling"))
    assert not transport.exists(str(tmp_path / "missing"))


# --------------------------------------------------------------------------- rename


def test_rename_moves_file_and_directory(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"A")
    transport.rename(str(tmp_path / "a"), str(tmp_path / "b"))
    assert not transport.exists(str(tmp_path / "a"))
    assert transport.read(str(tmp_path / "b")) == b"A"
    study = tmp_path / "study.partial"
    (study / "series1").mkdir(parents=True)
    (study / "series1" / "img1.dcm").write_bytes(b"img")
    inode = _inode(transport, study)
    transport.rename(str(study), str(tmp_path / "study"))
    assert _inode(transport, tmp_path / "study") == inode
    assert transport.read(str(tmp_path / "study" / "series1" / "img1.dcm")) == b"img"


def test_rename_refuses_to_overwrite(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"new")
    (tmp_path / "dst").write_bytes(b"precious")
    with pytest.raises(AlreadyExists):
        transport.rename(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert transport.read(str(tmp_path / "src")) == b"new"
    assert transport.read(str(tmp_path / "dst")) == b"precious"
    assert sorted(transport.listdir(str(tmp_path))) == ["dst", "src"]


def test_rename_refuses_to_replace_a_directory(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "incoming").mkdir()
    (tmp_path / "incoming" / "new.dcm").write_bytes(b"n")
    (tmp_path / "empty-target").mkdir()  # rename(2) would silently replace an empty dir
    (tmp_path / "full-target").mkdir()
    (tmp_path / "full-target" / "old.dcm").write_bytes(b"o")
    for target in ("empty-target", "full-target"):
        with pytest.raises(AlreadyExists):
            transport.rename(str(tmp_path / "incoming"), str(tmp_path / target))
    assert transport.listdir(str(tmp_path / "incoming")) == ["new.dcm"]
    assert transport.listdir(str(tmp_path / "empty-target")) == []
    assert transport.listdir(str(tmp_path / "full-target")) == ["old.dcm"]
    (tmp_path / "file").write_bytes(b"f")
    with pytest.raises(AlreadyExists):
        transport.rename(str(tmp_path / "file"), str(tmp_path / "empty-target"))
    assert transport.read(str(tmp_path / "file")) == b"f"


def test_rename_with_overwrite_replaces(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"new")
    (tmp_path / "dst").write_bytes(b"old")
    transport.rename(str(tmp_path / "src"), str(tmp_path / "dst"), overwrite=True)
    assert transport.read(str(tmp_path / "dst")) == b"new"
    assert not transport.exists(str(tmp_path / "src"))


def test_rename_of_missing_source_is_not_found(transport: Transport, tmp_path: Path) -> None:
    for overwrite in (False, True):
        with pytest.raises(NotFound):
            transport.rename(str(tmp_path / "nope"), str(tmp_path / "x"), overwrite=overwrite)
    assert transport.listdir(str(tmp_path)) == []


# --------------------------------------------------------------------------- delete / mkdir


def test_delete_removes_files_and_links_only(transport: Transport, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (tmp_path / "link").symlink_to(target)
    transport.delete(str(tmp_path / "link"))
    assert not transport.exists(str(tmp_path / "link"))
    assert transport.read(str(target)) == b"keep"
    transport.delete(str(target))
    assert not transport.exists(str(target))
    (tmp_path / "dir").mkdir()
    with pytest.raises(TransportError):
        transport.delete(str(tmp_path / "dir"))
    assert _is_dir(transport, tmp_path / "dir")


def test_delete_missing(transport: Transport, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        transport.delete(str(tmp_path / "missing"))
    transport.delete(str(tmp_path / "missing"), missing_ok=True)


def test_delete_tree_removes_everything_but_never_follows_symlinks(transport: Transport,
                                                                   tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.dcm").write_bytes(b"keep")
    tree = tmp_path / "study"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "img.dcm").write_bytes(b"x")
    (tree / HOSTILE_NAMES[2]).write_bytes(b"y")
    (tree / "a" / "escape").symlink_to(outside)
    transport.delete_tree(str(tree))
    assert not transport.exists(str(tree))
    assert transport.read(str(outside / "keep.dcm")) == b"keep"


def test_delete_tree_refuses_files_symlinks_and_roots(transport: Transport,
                                                      tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"f")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "keep").write_bytes(b"k")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for path in ("file", "link"):
        with pytest.raises(TransportError) as info:
            transport.delete_tree(str(tmp_path / path))
        assert info.value.errno == errno.ENOTDIR
    assert transport.exists(str(tmp_path / "real" / "keep"))
    assert transport.exists(str(tmp_path / "file"))
    for root in ("/", "//", ".", "..", str(tmp_path / ".."), "/tmp/..", "a/b/."):
        with pytest.raises(ValueError):
            transport.delete_tree(root)
    with pytest.raises(NotFound):
        transport.delete_tree(str(tmp_path / "missing"))
    transport.delete_tree(str(tmp_path / "missing"), missing_ok=True)


def test_mkdir(transport: Transport, tmp_path: Path) -> None:
    deep = tmp_path / "tier" / "2024" / "01"
    transport.mkdir(str(deep))
    assert _is_dir(transport, deep)
    transport.mkdir(str(deep))  # exist_ok by default, like mkdir -p
    with pytest.raises(AlreadyExists):
        transport.mkdir(str(deep), exist_ok=False)
    with pytest.raises(NotFound):
        transport.mkdir(str(tmp_path / "x" / "y"), parents=False)
    transport.mkdir(str(tmp_path / "single"), parents=False)
    assert _is_dir(transport, tmp_path / "single")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(AlreadyExists):
        transport.mkdir(str(tmp_path / "file"))
    with pytest.raises(TransportError):
        transport.mkdir(str(tmp_path / "file" / "below"))


def test_listdir_is_sorted_and_exact(transport: Transport, tmp_path: Path) -> None:
    names = ["b", "a", "C", ".hidden", "한글", "-dash"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nested").write_bytes(b"")
    expected = sorted([*names, "sub"], key=os.fsencode)
    assert transport.listdir(str(tmp_path)) == expected
    assert transport.listdir(str(tmp_path / "sub")) == ["nested"]
    with pytest.raises(NotFound):
        transport.listdir(str(tmp_path / "missing"))
    with pytest.raises(TransportError) as info:
        transport.listdir(str(tmp_path / "a"))
    assert info.value.errno == errno.ENOTDIR


def test_free_space_is_consistent(transport: Transport, tmp_path: Path) -> None:
    space = transport.free_space(str(tmp_path))
    assert all(isinstance(v, int) for v in (space.total, space.free, space.available))
    assert 0 <= space.available <= space.free <= space.total and space.total > 0
    (tmp_path / "sub").mkdir()
    assert transport.free_space(str(tmp_path / "sub")).total == space.total  # same fs
    with pytest.raises(NotFound):
        transport.free_space(str(tmp_path / "missing"))


# --------------------------------------------------------------------------- commands


def test_run_returns_exit_code_stdout_and_stderr_bytes(transport: Transport) -> None:
    result = transport.run(["sh", "-c", r"printf 'out\000\377'; printf 'err' >&2; exit 3"],
                           check=False)
    assert result.exit_code == 3
    assert not result.ok
    assert result.stdout == b"out\x00\xff"
    assert result.stderr == b"err"
    ok = transport.run(["true"])
    assert ok.exit_code == 0 and ok.ok and ok.stdout == b""


def test_run_check_raises_command_failed_with_stderr(transport: Transport) -> None:
    with pytest.raises(CommandFailed) as info:
        transport.run(["sh", "-c", "echo 'disk on fire' >&2; exit 7"])
    assert info.value.exit_code == 7
    assert info.value.stderr == b"disk on fire\n"
    assert "disk on fire" in str(info.value)
    assert isinstance(info.value, TransportError)


def test_run_missing_program_exits_127(transport: Transport) -> None:
    result = transport.run([f"no-such-program-{uuid.uuid4().hex}"], check=False)
    assert result.exit_code == 127
    with pytest.raises(CommandFailed):
        transport.run([f"no-such-program-{uuid.uuid4().hex}"])


def test_run_gives_commands_empty_stdin(transport: Transport) -> None:
    # `cat` with no argument would hang forever on an open stdin.
    assert transport.run(["cat"], timeout=20).stdout == b""


def test_run_timeout(transport: Transport) -> None:
    with pytest.raises(CommandTimeout) as info:
        transport.run(["sleep", "10"], timeout=0.5)
    assert isinstance(info.value, TimeoutError)


def test_run_passes_every_argument_unchanged(transport: Transport) -> None:
    args = [*HOSTILE_NAMES, "", " ", "*", "'", '"', "\\", "$", "a'b\"c$d`e\\f"]
    result = transport.run(["printf", "%s\\0", *args])
    assert result.stdout == b"".join(os.fsencode(a) + b"\0" for a in args)


def test_run_rejects_strings_and_empty_argv(transport: Transport) -> None:
    with pytest.raises(TypeError):
        transport.run("echo hi")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        transport.run([])
    with pytest.raises(ValueError):
        transport.run(["echo", "nul\0byte"])


@pytest.fixture
def big_tree(tmp_path: Path) -> Path:
    """A study archive of a few thousand files, some with hostile names."""
    root = tmp_path / "archive"
    for s in range(30):
        series = root / f"study {s:03d}" / f"séries-{s % 7}"
        series.mkdir(parents=True)
        for i in range(100):
            (series / f"IM{i:05d}.dcm").write_bytes(b"")
    hostile = root / "hostile"
    hostile.mkdir()
    for name in HOSTILE_NAMES:
        (hostile / name).write_bytes(b"")
    return root


def test_stream_of_a_large_find_lists_the_whole_tree(transport: Transport, big_tree: Path) -> None:
    chunks = list(transport.stream(["find", str(big_tree), "-mindepth", "1",
                                    "-printf", "%P\\0"]))
    listed = b"".join(chunks).split(b"\0")
    assert listed[-1] == b""
    got = sorted(listed[:-1])
    expected = [b"hostile", *(os.fsencode(f"hostile/{n}") for n in HOSTILE_NAMES)]
    for k in range(30):  # what big_tree made
        study = f"study {k:03d}"
        series = f"{study}/séries-{k % 7}"
        expected += [study.encode(), series.encode()]
        expected += [f"{series}/IM{i:05d}.dcm".encode() for i in range(100)]
    assert len(expected) > 3000
    assert got == sorted(expected)
    assert all(chunks)


def test_stream_yields_in_chunks_without_buffering_everything(transport: Transport) -> None:
    size = 32 * MiB
    it = transport.stream(["head", "-c", str(size), "/dev/zero"])
    first = next(it)
    assert 0 < len(first) < size  # we got data before the command finished writing
    total = len(first) + sum(len(c) for c in it)
    assert total == size


def test_stream_failure_raises_after_output_with_stderr(transport: Transport) -> None:
    it = transport.stream(["sh", "-c", "printf partial; echo 'find: broken' >&2; exit 4"])
    received = b""
    with pytest.raises(CommandFailed) as info:
        for chunk in it:
            received += chunk
    assert received == b"partial"
    assert info.value.exit_code == 4
    assert b"find: broken" in info.value.stderr


def test_stream_survives_a_flood_of_stderr(transport: Transport) -> None:
    # 8 MiB of stderr is more than the SSH window: unread, it would stall stdout forever.
    script = "head -c 8388608 /dev/zero >&2; printf done"
    assert b"".join(transport.stream(["sh", "-c", script], timeout=60)) == b"done"


def test_stream_closed_early_stops_the_command(transport: Transport) -> None:
    it = transport.stream(["yes"])
    assert next(it).startswith(b"y\n")
    it.close()  # must return promptly and not leave `yes` running forever
    assert b"".join(transport.stream(["echo", "still usable"])) == b"still usable\n"


def test_stream_timeout(transport: Transport) -> None:
    with pytest.raises(CommandTimeout):
        list(transport.stream(["sh", "-c", "printf a; sleep 10"], timeout=0.5))


# --------------------------------------------------------------------------- hostile names


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=HOSTILE_IDS)
def test_hostile_names_work_everywhere(transport: Transport, tmp_path: Path,
                                       name: str) -> None:
    data = b"DICM" + name.encode("utf-8", "surrogateescape")
    path = tmp_path / name
    transport.write(str(path), data)
    assert transport.listdir(str(tmp_path)) == [name]
    assert transport.read(str(path)) == data
    st = transport.stat(str(path))
    assert st is not None and st.is_file and st.size == len(data)
    assert transport.exists(str(path))
    assert transport.listdir(str(tmp_path)) == [name]

    out = transport.run(["sha256sum", "--", str(path)]).stdout
    # GNU sha256sum prefixes the line with "\" when it had to escape the name.
    assert out.lstrip(b"\\")[:64].decode() == hashlib.sha256(data).hexdigest()
    # The name as a relative argument, leading dash included.
    rel = transport.run(["sh", "-c", 'cd "$1" && cat -- "$2"', "sh", str(tmp_path), name])
    assert rel.stdout == data

    renamed = tmp_path / f"{name} (moved ✓)"
    transport.rename(str(path), str(renamed))
    assert transport.listdir(str(tmp_path)) == [renamed.name]
    sub = tmp_path / f"dir {name}"
    transport.mkdir(str(sub / name))
    assert _is_dir(transport, sub / name)
    transport.rename(str(renamed), str(sub / name / name))
    assert transport.read(str(sub / name / name)) == data
    transport.delete(str(sub / name / name))
    transport.delete_tree(str(sub))
    assert transport.listdir(str(tmp_path)) == []
    assert not transport.exists(str(tmp_path / "INJECTED"))


def test_no_descriptor_leaks(transport: Transport, tmp_path: Path) -> None:
    path = str(tmp_path / "f")

    def work() -> None:
        transport.run(["true"])
        transport.run(["false"], check=False)
        assert b"".join(transport.stream(["echo", "x"])) == b"x\n"
        it = transport.stream(["yes"])
        next(it)
        it.close()
        transport.write(path, b"x")
        transport.read(path)
        transport.stat(path)

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
