"""The transport contract: the small set of operations the rest of capacity may do on a host.

Every backend (local, ssh, ...) implements :class:`Transport` and passes the one shared
conformance suite in ``tests/transports``.  Callers never build shell strings: commands are
argv lists, and each backend is responsible for passing every argument through unchanged.

Paths are POSIX ``str``.  Names that are not valid UTF-8 travel as ``os.fsdecode`` does it
(surrogateescape), so any byte string a filesystem holds can be named.

Errors are :class:`TransportError` subclasses.  They are also ``OSError`` subclasses (and
:class:`NotFound` is a ``FileNotFoundError``, etc.) so code written against ``os`` semantics
keeps working with ``except FileNotFoundError``.

Beyond the core file operations, a transport declares its optional :class:`Capability`
flags (as rclone's backends declare optional features): running commands, hashing a tree,
copying on the host, flushing, symbolic links, resolving paths.  The typed method of a
capability a transport lacks raises :class:`Unsupported`, which names the transport and
the capability; callers check :attr:`Transport.capabilities` first to fall back or refuse.
The tree operations (walk, delete_files, remove_empty_dirs, remove_work) need none: their
defaults here use the core operations only, and a backend may do each in one request.
"""

from __future__ import annotations

import enum
import errno as _errno
import os
import posixpath
import secrets
import shlex
import stat as _stat
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from capacity.errors import HostTrouble

#: Prefix of the temporary names that :meth:`Transport.write` creates next to its target.
#: A crash can leave one behind; scanners should skip such names and cleanup may delete them.
TEMP_PREFIX = ".capacity-tmp."

#: Bytes of stderr quoted in an error message (the whole stderr stays on the result).
_STDERR_IN_MESSAGE = 2000


def encode_path(path: str) -> bytes:
    """The bytes a path names on the host; independent of the local locale."""
    return path.encode("utf-8", "surrogateescape")


def decode_path(raw: bytes) -> str:
    """Inverse of :func:`encode_path`: undecodable bytes survive as surrogates."""
    return raw.decode("utf-8", "surrogateescape")


def temp_sibling(path: str) -> str:
    """A fresh temporary name in the directory of ``path`` (same filesystem, so rename is
    atomic).  It does not embed the base name, which could push it past NAME_MAX."""
    head, _, _ = path.rpartition("/")
    name = f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    return f"{head}/{name}" if head or path.startswith("/") else name


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, slots=True)
class CommandResult:
    """Outcome of :meth:`Transport.run`; stdout and stderr are raw bytes."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> Self:
        """Return self, or raise :class:`CommandFailed` if the command exited non-zero."""
        if self.exit_code != 0:
            raise CommandFailed(self)
        return self


#: ``S_IFMT`` bits -> find's ``%y`` letter, and back (:attr:`FileStat.kind`).
_KIND_LETTERS = {_stat.S_IFREG: "f", _stat.S_IFDIR: "d", _stat.S_IFLNK: "l",
                 _stat.S_IFIFO: "p", _stat.S_IFSOCK: "s", _stat.S_IFCHR: "c",
                 _stat.S_IFBLK: "b"}
KIND_BITS = {letter: bits for bits, letter in _KIND_LETTERS.items()}


@dataclass(frozen=True, slots=True)
class FileStat:
    """What ``lstat`` says about a path (symlinks are not followed)."""

    size: int
    mtime: float
    atime: float
    mode: int  # st_mode: file type and permission bits
    inode: int
    is_dir: bool
    is_symlink: bool

    @property
    def is_file(self) -> bool:
        return _stat.S_ISREG(self.mode)

    @property
    def permissions(self) -> int:
        return _stat.S_IMODE(self.mode)

    @property
    def kind(self) -> str:
        """The file type as ``find -printf %y`` names it: f, d, l, p, s, c, b, or ``?``."""
        return _KIND_LETTERS.get(_stat.S_IFMT(self.mode), "?")

    @classmethod
    def from_os(cls, st: os.stat_result) -> FileStat:
        return cls(size=st.st_size, mtime=st.st_mtime, atime=st.st_atime, mode=st.st_mode,
                   inode=st.st_ino, is_dir=_stat.S_ISDIR(st.st_mode),
                   is_symlink=_stat.S_ISLNK(st.st_mode))


@dataclass(frozen=True, slots=True)
class DiskSpace:
    """Capacity of the filesystem holding a path, in bytes.

    ``free`` counts blocks reserved for root; ``available`` is what an unprivileged user
    can still write (``df``'s "Avail").
    """

    total: int
    free: int
    available: int

    @property
    def used(self) -> int:
        return self.total - self.free


class Capability(enum.Flag):
    """Optional features of a transport, beyond stat/read/write/rename/delete/mkdir/list."""

    NONE = 0
    RUN = enum.auto()
    """:meth:`Transport.run` and :meth:`Transport.stream`: argv commands on the host.  The
    engine needs it only for a policy's ``hook``; a POSIX host uses it to walk, scan and
    delete in one command, where the contract's defaults take a request per entry."""
    HASH_TREE = enum.auto()
    """:meth:`Transport.hash_tree`: sha256 of every regular file, computed on the host."""
    COPY_ON_HOST = enum.auto()
    """:meth:`Transport.copy_and_hash`: copy a tree on the host, no data via the caller."""
    FLUSH = enum.auto()
    """:meth:`Transport.flush`: make written data durable (``sync -f``)."""
    SYMLINKS = enum.auto()
    """:meth:`Transport.symlink` and :meth:`Transport.readlink`; without it the store has
    no links, so no path can lead out of its tree through one."""
    REALPATH = enum.auto()
    """:meth:`Transport.realpath`: a path with every symbolic link resolved."""
    RENAME = enum.auto()
    """:meth:`Transport.rename` and :meth:`Transport.rename_many`: atomic renames within one
    filesystem, what a move's switch is on a file tier.  An object store has none (a copy
    and a delete are two steps): a move into it switches by writing a manifest last."""
    DIRECTORIES = enum.auto()
    """Directories of their own: :meth:`Transport.mkdir` makes one that stays while empty,
    :meth:`Transport.write` needs its folder to exist.  Without it (an object store) a
    directory is the common prefix of the names below it: it exists while something is in
    it, ``mkdir`` has nothing to make, and :meth:`Transport.rmdir` finds none empty."""
    SPACE = enum.auto()
    """:meth:`Transport.free_space`: size and free bytes of the filesystem.  An object store
    reports none; its room is what the inventory says."""
    BYTE_NAMES = enum.auto()
    """Names are any bytes but ``/`` and NUL, as on POSIX.  Without it (an object store's
    keys) a name must be valid UTF-8 without control characters, and one that is not raises
    :class:`TransportError` (errno EILSEQ) before anything is sent."""

    @property
    def names(self) -> list[str]:
        return [c.name.lower() for c in Capability if c and c in self and c.name]


#: What a POSIX filesystem offers through its file operations alone.
FILESYSTEM_CAPABILITIES = (Capability.RENAME | Capability.DIRECTORIES | Capability.SPACE
                           | Capability.BYTE_NAMES)

#: What a POSIX host with GNU coreutils (local, ssh) offers.
POSIX_CAPABILITIES = (Capability.RUN | Capability.HASH_TREE | Capability.COPY_ON_HOST
                      | Capability.FLUSH | Capability.SYMLINKS | Capability.REALPATH
                      | FILESYSTEM_CAPABILITIES)


# --------------------------------------------------------------------------- errors


class TransportError(OSError, HostTrouble):
    """Any failure of a transport operation.  ``errno`` is set when the host told us one.
    Host trouble to the CLI (exit 1) when nothing on the way caught it."""

    def __init__(self, message: str, *, path: str | None = None, code: int | None = None,
                 host: str | None = None) -> None:
        super().__init__(message)
        # OSError's own attributes, so generic handlers can read them.
        self.errno = code
        self.strerror = message
        self.filename = path
        self.host = host

    def __str__(self) -> str:
        return str(self.args[0])


class NotFound(TransportError, FileNotFoundError):
    """The path (or a directory on the way to it) does not exist."""


class AlreadyExists(TransportError, FileExistsError):
    """The target exists and the operation must not replace it."""


class PermissionDenied(TransportError, PermissionError):
    """The host refused the operation for lack of permission."""


class HostKeyError(TransportError):
    """The host presented a key that is unknown (and may not be trusted) or changed."""


class HostKeyTrusted(UserWarning):
    """A host key was trusted on first use and recorded: said aloud, never silently."""

    def __init__(self, host: str, key_type: str, fingerprint: str, known_hosts: str):
        super().__init__(f"trusted the new host key of {host}: {key_type} {fingerprint},"
                         f" recorded in {known_hosts}; check it against the host's own"
                         " (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub there)")
        self.host, self.key_type, self.fingerprint = host, key_type, fingerprint
        self.known_hosts = known_hosts


class ConnectionLost(TransportError, ConnectionError):
    """The host could not be reached, or the connection dropped during the operation."""


class CommandTimeout(TransportError, TimeoutError):
    """A command or file operation did not finish within its timeout."""


class CommandFailed(TransportError):
    """A command exited non-zero; the full result (stderr included) is on ``result``."""

    def __init__(self, result: CommandResult, *, host: str | None = None) -> None:
        stderr = result.stderr[-_STDERR_IN_MESSAGE:].decode("utf-8", "replace").strip()
        where = f" on {host}" if host else ""
        message = f"command {shlex.join(result.argv)!r}{where} exited {result.exit_code}"
        super().__init__(f"{message}: {stderr}" if stderr else message, host=host)
        self.result = result

    @property
    def exit_code(self) -> int:
        return self.result.exit_code

    @property
    def stderr(self) -> bytes:
        return self.result.stderr


class Unsupported(TransportError):
    """The transport lacks a capability the operation needs (see :class:`Capability`)."""

    def __init__(self, transport: str, capability: Capability, needed_for: str = "") -> None:
        names = ", ".join(capability.names)
        why = f" needed to {needed_for}" if needed_for else ""
        super().__init__(f"the {transport} transport does not offer {names}{why}",
                         code=_errno.ENOTSUP, host=transport)
        self.capability = capability


class OperationFailed(TransportError):
    """A host-side operation (copy, hash, flush) ran and failed; ``step`` says which."""

    def __init__(self, step: str, detail: str, *, host: str | None = None) -> None:
        super().__init__(f"{step} failed: {detail}", host=host)
        self.step = step
        self.detail = detail


_BY_ERRNO: dict[int, type[TransportError]] = {
    _errno.ENOENT: NotFound,
    _errno.EEXIST: AlreadyExists,
    _errno.ENOTEMPTY: AlreadyExists,
    _errno.EACCES: PermissionDenied,
    _errno.EPERM: PermissionDenied,
}


def error_for_errno(code: int | None, message: str, *, path: str | None = None,
                    host: str | None = None) -> TransportError:
    """The :class:`TransportError` subclass that matches an errno."""
    cls = _BY_ERRNO.get(code, TransportError) if code is not None else TransportError
    return cls(message, path=path, code=code, host=host)


def error_from_oserror(exc: OSError, path: str | None = None,
                       host: str | None = None) -> TransportError:
    """Translate an ``OSError`` raised by the os module (or SFTP) into our hierarchy."""
    if isinstance(exc, TransportError):
        return exc
    where = path if path is not None else exc.filename
    reason = exc.strerror or str(exc) or type(exc).__name__
    message = f"{where}: {reason}" if where is not None else reason
    return error_for_errno(exc.errno, message, path=where, host=host)


# --------------------------------------------------------------------------- the contract


class Transport(ABC):
    """Operations on one host.  Use as a context manager, or call :meth:`close`."""

    #: Short human label for logs and errors, e.g. ``local`` or ``ssh://root@db1:22``.
    label: str = "transport"

    #: The optional features this backend offers; each one's methods raise
    #: :class:`Unsupported` where it is missing.
    capabilities: Capability = Capability.NONE

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def require(self, capability: Capability, needed_for: str = "") -> None:
        """Raise :class:`Unsupported` naming what of ``capability`` this transport lacks."""
        missing = capability & ~self.capabilities
        if missing:
            raise Unsupported(self.label, missing, needed_for)

    # ---- commands (Capability.RUN; the defaults refuse)

    def run(self, argv: Sequence[str], *, check: bool = True,
            timeout: float | None = None) -> CommandResult:
        """Run ``argv`` (no shell), with empty stdin, and collect its output.

        Raises :class:`CommandFailed` on a non-zero exit when ``check`` is true, and
        :class:`CommandTimeout` when ``timeout`` seconds pass.  A missing program gives exit
        code 127, as a shell would.  Needs :attr:`Capability.RUN`.
        """
        raise Unsupported(self.label, Capability.RUN, "run commands on the host")

    def stream(self, argv: Sequence[str], *,
               timeout: float | None = None) -> Generator[bytes, None, None]:
        """Yield the stdout of ``argv`` in chunks as it arrives (for scans too big to buffer).

        Chunks do not respect record boundaries.  After the last chunk, a non-zero exit raises
        :class:`CommandFailed` carrying stderr.  Closing the iterator early stops the command.
        Needs :attr:`Capability.RUN`.
        """
        raise Unsupported(self.label, Capability.RUN, "run commands on the host")

    # ---- files

    @abstractmethod
    def stat(self, path: str) -> FileStat | None:
        """``lstat`` the path; None if it does not exist."""

    @abstractmethod
    def read(self, path: str) -> bytes:
        """The whole content of a file."""

    @abstractmethod
    def write(self, path: str, data: bytes, *, overwrite: bool = True) -> None:
        """Atomically give ``path`` the content ``data``.

        Writes a temporary sibling, fsyncs it, renames it over ``path`` and syncs the
        directory, so readers see the old content or the new, never a mix.  With
        ``overwrite=False`` an existing ``path`` raises :class:`AlreadyExists`.
        """

    def rename(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        """Atomically rename within one filesystem.

        An existing ``dst`` raises :class:`AlreadyExists` unless ``overwrite`` is true.
        Needs :attr:`Capability.RENAME`.
        """
        raise Unsupported(self.label, Capability.RENAME, "rename in one step")

    @abstractmethod
    def delete(self, path: str, *, missing_ok: bool = False) -> None:
        """Remove a file or symlink (never a directory; see :meth:`delete_tree`)."""

    @abstractmethod
    def delete_tree(self, path: str, *, missing_ok: bool = False) -> None:
        """Remove a directory and everything below it, without following symlinks."""

    @abstractmethod
    def rmdir(self, path: str) -> None:
        """Remove the empty directory ``path``; never a file or a link, never recursively.
        One that is not empty raises :class:`AlreadyExists` (errno ENOTEMPTY): the test and
        the removal are one step, so a file written meanwhile is never lost."""

    @abstractmethod
    def mkdir(self, path: str, *, parents: bool = True, exist_ok: bool = True) -> None:
        """Create a directory; with ``parents`` the missing ancestors too."""

    @abstractmethod
    def listdir(self, path: str) -> list[str]:
        """Names in a directory (no ``.``/``..``), sorted by their bytes."""

    def free_space(self, path: str) -> DiskSpace:
        """Size and free space of the filesystem holding ``path``.  Needs
        :attr:`Capability.SPACE`."""
        raise Unsupported(self.label, Capability.SPACE, "report free space")

    def exists(self, path: str) -> bool:
        """True if the path exists (a dangling symlink exists)."""
        return self.stat(path) is not None

    # ---- trees: built on the operations above, so every backend has them; a backend
    # overrides them where it can do one in fewer requests (POSIX: one command, with RUN).

    def walk(self, path: str) -> Iterator[tuple[str, FileStat]]:
        """Everything under ``path``, never following links: (path relative to ``path``,
        its lstat), ``path`` itself first, as ``''``.  A directory comes before what is in
        it; no other order is promised.  A missing ``path`` raises :class:`NotFound` (on the
        first ``next``); an entry that vanishes during the walk is left out."""
        top = check_path(path)
        st = self.stat(top)
        if st is None:
            raise NotFound(f"{path}: No such file or directory", path=path, host=self.label)
        yield "", st
        pending = [""] if st.is_dir else []
        while pending:  # depth first, without recursion: trees may be deep
            folder = pending.pop()
            try:
                names = self.listdir(join_below(top, folder))
            except NotFound:
                continue
            below = []
            for name in names:
                rel = f"{folder}/{name}" if folder else name
                child = self.stat(join_below(top, rel))
                if child is None:
                    continue
                yield rel, child
                if child.is_dir:
                    below.append(rel)
            pending.extend(reversed(below))

    def delete_files(self, paths: Sequence[str]) -> None:
        """Unlink each of ``paths`` (files or links); one that is missing already is fine.
        A directory among them raises :class:`TransportError`, and the others may or may not
        be gone."""
        for path in paths:
            self.delete(path, missing_ok=True)

    def remove_empty_dirs(self, path: str) -> None:
        """Remove every empty directory under ``path``, and ``path`` itself if that leaves
        it empty, bottom up, never following links.  Each goes by :meth:`rmdir`, so one
        that a writer fills meanwhile stays; so does one that cannot be removed.  A missing
        ``path``, or one that is not a directory, is left as it is."""
        try:
            entries = list(self.walk(path))
        except NotFound:
            return
        # A directory holding anything but directories cannot end empty: skip the request.
        held = {posixpath.dirname(rel) for rel, st in entries if not st.is_dir}
        for rel, st in reversed(entries):  # what is in a directory comes before it
            if not st.is_dir or rel in held:
                continue
            try:
                self.rmdir(join_below(path, rel))
            except (ConnectionLost, CommandTimeout):
                raise
            except TransportError:  # not empty (a late writer), or not ours: it stays
                held.add(posixpath.dirname(rel))

    def remove_work(self, work: str, work_root: str) -> None:
        """Remove a unit's work directory ``work`` (whatever its copy left there) and then
        ``work_root``, the directory holding it, if that leaves it empty.  A transport with
        :attr:`Capability.RUN` first ends a copy still running into ``work`` (a controller
        killed mid-copy leaves it behind); one without runs no process on the host, so
        there is none to end."""
        self.delete_tree(work, missing_ok=True)
        try:
            self.rmdir(work_root)
        except (ConnectionLost, CommandTimeout):
            raise
        except TransportError:  # another unit's work is there, or it is gone already
            pass

    # ---- batches: what the engine does to many small units at once.  The defaults loop
    # over the operations above; a backend does each in one request where it can.

    def walk_many(self, paths: Sequence[str], *, top_only: bool = False
                  ) -> dict[str, list[tuple[str, FileStat]]]:
        """:meth:`walk` of each of ``paths`` (with ``top_only``, its own lstat alone): path
        -> its entries.  A path that is missing, or could not be walked whole, is left
        out: the caller looks at it alone."""
        found: dict[str, list[tuple[str, FileStat]]] = {}
        for path in paths:
            if top_only:
                st = self.stat(path)
                if st is not None:
                    found[path] = [("", st)]
                continue
            try:
                found[path] = list(self.walk(path))
            except (ConnectionLost, CommandTimeout):
                raise
            except TransportError:
                continue
        return found

    def realpath_many(self, paths: Sequence[str]) -> list[str]:
        """:meth:`realpath` of each of ``paths``, missing parts allowed (``must_exist`` false),
        in order.  Needs :attr:`Capability.REALPATH`."""
        return [self.realpath(p, must_exist=False) for p in paths]

    def mkdir_many(self, paths: Sequence[str]) -> None:
        """:meth:`mkdir` of each of ``paths``, with its parents, none an error if it exists."""
        for path in paths:
            self.mkdir(path)

    def rename_many(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """:meth:`rename` of each (src, dst), never over an existing dst: True where it was
        renamed, False where it was not (dst exists, src is missing, another error: the
        caller looks).  The renames made are durable when this returns.  Needs
        :attr:`Capability.RENAME`."""
        self.require(Capability.RENAME, "rename in one step")
        done = []
        for src, dst in pairs:
            try:
                self.rename(src, dst)
                done.append(True)
            except (ConnectionLost, CommandTimeout):
                raise
            except TransportError:
                done.append(False)
        return done

    def remove_works(self, works: Sequence[str], work_root: str) -> None:
        """:meth:`remove_work` of each of ``works``, all below ``work_root``."""
        for work in works:
            self.remove_work(work, work_root)

    def remove_empty_dirs_many(self, paths: Sequence[str]) -> None:
        """:meth:`remove_empty_dirs` of each of ``paths``."""
        for path in paths:
            self.remove_empty_dirs(path)

    def copy_and_hash_many(self, pairs: Sequence[tuple[str, str]], *, scratch: str,
                           bandwidth: float | None = None, in_flight: int = 1
                           ) -> list[tuple[dict[str, str], dict[str, str]] | OperationFailed]:
        """:meth:`copy_and_hash` of each (source, dest), ``in_flight`` at a time where the
        backend can, all dests on one filesystem: the
        two sets of sums of each pair, or the :class:`OperationFailed` of its copy or its
        hashing (that dest may be left, partly made).  A flush that fails fails them all
        (raised).  Needs COPY_ON_HOST, HASH_TREE and FLUSH."""
        out: list[tuple[dict[str, str], dict[str, str]] | OperationFailed] = []
        for source, dest in pairs:
            try:
                out.append(self.copy_and_hash(source, dest, scratch=scratch,
                                              bandwidth=bandwidth))
            except OperationFailed as exc:
                out.append(exc)
        return out

    # ---- optional capabilities (defaults refuse; backends that have them override)

    def hash_tree(self, path: str) -> dict[str, str]:
        """sha256 hex of every regular file under the directory ``path``, keyed by its path
        relative to it; of ``path`` itself, keyed ``''``, if it is a file.  Links are not
        followed.  Needs :attr:`Capability.HASH_TREE`."""
        raise Unsupported(self.label, Capability.HASH_TREE, "hash files on the host")

    def copy_and_hash(self, source: str, dest: str, *, scratch: str,
                      bandwidth: float | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """Copy ``source`` (a file or a tree, links as links) to the new ``dest`` on the host,
        flush the copy to stable storage and hash both; returns (source's sums, copy's) as
        :meth:`hash_tree` does.  ``bandwidth`` bytes/s caps the copy; ``scratch`` is a file
        name the transport may use (the caller removes it).  A failed step raises
        :class:`OperationFailed`.  Needs COPY_ON_HOST, HASH_TREE and FLUSH."""
        self.require(Capability.COPY_ON_HOST | Capability.HASH_TREE | Capability.FLUSH,
                     "copy on the host")
        raise AssertionError("a transport that declares COPY_ON_HOST implements it")

    def flush(self, path: str) -> None:
        """Make everything written to the filesystem holding ``path`` durable.  Needs
        :attr:`Capability.FLUSH`."""
        raise Unsupported(self.label, Capability.FLUSH, "flush written data")

    def symlink(self, target: str, path: str) -> None:
        """Make ``path`` a symbolic link to ``target``; never replaces, never inside a
        directory at ``path`` (:class:`AlreadyExists`).  Needs :attr:`Capability.SYMLINKS`."""
        raise Unsupported(self.label, Capability.SYMLINKS, "make symbolic links")

    def readlink(self, path: str) -> str:
        """What the symbolic link ``path`` points to.  Needs :attr:`Capability.SYMLINKS`."""
        raise Unsupported(self.label, Capability.SYMLINKS, "read symbolic links")

    def realpath(self, path: str, *, must_exist: bool = True) -> str:
        """``path`` absolute, with every symbolic link resolved; a missing path raises
        :class:`NotFound` unless ``must_exist`` is false (then only its existing part is
        resolved).  Needs :attr:`Capability.REALPATH`."""
        raise Unsupported(self.label, Capability.REALPATH, "resolve symbolic links")

    # ---- lifetime

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release connections held for this transport; safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


def check_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """Validate an argv once for every backend: a non-empty sequence of str."""
    if isinstance(argv, str | bytes):
        raise TypeError("argv must be a list of arguments, not a string")
    args = tuple(argv)
    if not args:
        raise ValueError("argv must not be empty")
    for arg in args:
        if not isinstance(arg, str):
            raise TypeError(f"argv items must be str, got {type(arg).__name__}: {arg!r}")
        if "\0" in arg:
            raise ValueError(f"argv items cannot contain NUL: {arg!r}")
    return args


def check_path(path: str) -> str:
    """Reject values that cannot name a file (empty, NUL) before they reach a host."""
    if not isinstance(path, str):
        raise TypeError(f"path must be str, got {type(path).__name__}")
    if not path or "\0" in path:
        raise ValueError(f"invalid path {path!r}")
    return path


def check_tree_root(path: str) -> str:
    """Refuse to delete a whole tree at ``/``, ``.`` or ``..``: never what a caller meant."""
    if posixpath.normpath(check_path(path)) in ("/", "//", ".", "..") or path.endswith(
            ("/.", "/..")) or posixpath.basename(posixpath.normpath(path)) == "..":
        raise ValueError(f"refusing to delete the tree at {path!r}")
    return path


def join_below(top: str, rel: str) -> str:
    """The path of ``rel`` (relative, as :meth:`Transport.walk` names it) under ``top``;
    ``top`` itself for ``''``."""
    if not rel:
        return top
    return f"{top.rstrip('/')}/{rel}" if top.strip("/") else f"{top}{rel}"


def sort_names(names: Sequence[str]) -> list[str]:
    """Sort names by their bytes, the same on every host and locale."""
    return sorted(names, key=encode_path)
