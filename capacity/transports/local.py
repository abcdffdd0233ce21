"""The local host, through the os module and subprocess (never a shell)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

from capacity.transports.base import (
    AlreadyExists,
    Capability,
    CommandFailed,
    CommandResult,
    CommandTimeout,
    DiskSpace,
    FileStat,
    NotFound,
    TransportError,
    check_argv,
    check_path,
    check_tree_root,
    error_from_oserror,
    sort_names,
    temp_sibling,
)
from capacity.transports.posix import PosixTransport

_CHUNK = 256 * 1024
_PIPE_SIZE = 1 << 20  # the most an unprivileged process may ask for, by default

# renameat2(RENAME_NOREPLACE) is the only race-free "rename unless the target exists" for
# directories on Linux; elsewhere we fall back to link+unlink (files) or check-then-rename.
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _load_renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not glibc >= 2.28 / not Linux
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_renameat2 = _load_renameat2()


def rename_noreplace(src: str, dst: str) -> None:
    """``os.rename`` that raises ``FileExistsError`` instead of replacing ``dst``."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst),
                      _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        # EINVAL/ENOSYS/ENOTSUP: this filesystem or kernel lacks the flag; fall back below.
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), src, None, dst)
    if not os.path.isdir(src) or os.path.islink(src):
        try:
            # link() refuses an existing target atomically; what OpenSSH's sftp-server does.
            os.link(src, dst, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
        else:
            os.unlink(src)
            return
    if os.path.lexists(dst):  # racy, the best left for directories without renameat2
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst)


def _fsync_dir(path: str) -> None:
    """Make a rename in ``path`` durable; best effort (some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _spawn_failure(args: tuple[str, ...], exc: OSError) -> CommandResult:
    """What a shell reports when it cannot start a program: 127 missing, 126 not runnable."""
    # execvp reports EACCES if any PATH entry was unreadable; a shell says "not found".
    missing = isinstance(exc, FileNotFoundError) or (
        "/" not in args[0] and shutil.which(args[0]) is None)
    code = 127 if missing else 126
    return CommandResult(args, code, b"", f"{args[0]}: {exc.strerror}\n".encode())


def _spawn(args: tuple[str, ...], **streams: Any) -> subprocess.Popen[bytes]:
    # Its own process group, so that a timeout or an abandoned stream stops the command's
    # children too (`sh -c "a; b"` does not exec b), not just the process we started.
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True, **streams)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class LocalTransport(PosixTransport):
    """Operations on the machine this process runs on."""

    label = "local"

    # ---- commands

    def run(self, argv: Sequence[str], *, check: bool = True,
            timeout: float | None = None) -> CommandResult:
        self.require(Capability.RUN, "run commands on the host")  # a subclass may drop it
        args = check_argv(argv)
        try:
            proc = _spawn(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            result = _spawn_failure(args, exc)
        else:
            with proc:
                try:
                    out, err = proc.communicate(timeout=timeout)
                except BaseException as exc:  # timeout or Ctrl-C: stop the whole command
                    _kill_group(proc)
                    proc.communicate()
                    if isinstance(exc, subprocess.TimeoutExpired):
                        raise CommandTimeout(
                            f"command {args[0]!r} timed out after {timeout}s") from exc
                    raise
            result = CommandResult(args, proc.returncode, out, err)
        return result.check() if check else result

    def stream(self, argv: Sequence[str], *,
               timeout: float | None = None) -> Generator[bytes, None, None]:
        # Validate now; the process starts on the first next() so an unused iterator
        # leaves nothing running.
        self.require(Capability.RUN, "run commands on the host")
        return self._stream(check_argv(argv), timeout)

    def _stream(self, args: tuple[str, ...],
                timeout: float | None) -> Generator[bytes, None, None]:
        deadline = None if timeout is None else time.monotonic() + timeout
        # stderr goes to a file: a pipe nobody drains would block the child once it fills.
        with tempfile.TemporaryFile() as errfile:
            try:
                proc = _spawn(args, stdout=subprocess.PIPE, stderr=errfile)
            except OSError as exc:
                raise CommandFailed(_spawn_failure(args, exc)) from exc
            assert proc.stdout is not None
            try:
                fd = proc.stdout.fileno()
                # A bigger pipe lets the command run ahead while we process a chunk.
                with contextlib.suppress(OSError, AttributeError):
                    fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
                poller = select.poll()  # not select(): it fails on descriptors above 1024
                poller.register(fd, select.POLLIN)
                while True:
                    if deadline is not None:
                        left = deadline - time.monotonic()
                        if left <= 0 or not poller.poll(max(left * 1000, 1)):
                            raise CommandTimeout(
                                f"command {args[0]!r} timed out after {timeout}s")
                    chunk = os.read(fd, _CHUNK)
                    if not chunk:
                        break
                    yield chunk
                wait_for = None if deadline is None else max(deadline - time.monotonic(), 0)
                try:
                    code = proc.wait(wait_for)
                except subprocess.TimeoutExpired as exc:
                    raise CommandTimeout(
                        f"command {args[0]!r} timed out after {timeout}s") from exc
            finally:
                # Reached early when the consumer stops iterating or on timeout.
                if proc.poll() is None:
                    _kill_group(proc)
                proc.wait()
                proc.stdout.close()
            if code != 0:
                errfile.seek(0)
                raise CommandFailed(CommandResult(args, code, b"", errfile.read()))

    # ---- files

    def stat(self, path: str) -> FileStat | None:
        try:
            return FileStat.from_os(os.lstat(check_path(path)))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise error_from_oserror(exc, path) from exc

    def read(self, path: str) -> bytes:
        try:
            with open(check_path(path), "rb") as f:
                return f.read()
        except OSError as exc:
            raise error_from_oserror(exc, path) from exc

    def write(self, path: str, data: bytes, *, overwrite: bool = True) -> None:
        tmp = temp_sibling(check_path(path))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise error_from_oserror(exc, path) from exc
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if overwrite:
                os.replace(tmp, path)
            else:
                rename_noreplace(tmp, path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise error_from_oserror(exc, path) from exc
            raise
        _fsync_dir(os.path.dirname(path))

    def rename(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        check_path(src)
        check_path(dst)
        try:
            if overwrite:
                os.replace(src, dst)
            else:
                rename_noreplace(src, dst)
        except FileExistsError as exc:
            raise AlreadyExists(f"{dst}: already exists", path=dst, code=errno.EEXIST) from exc
        except OSError as exc:
            raise error_from_oserror(exc, src) from exc
        _fsync_dir(os.path.dirname(dst))

    def delete(self, path: str, *, missing_ok: bool = False) -> None:
        try:
            os.unlink(check_path(path))
        except FileNotFoundError as exc:
            if not missing_ok:
                raise error_from_oserror(exc, path) from exc
        except OSError as exc:
            raise error_from_oserror(exc, path) from exc

    def delete_tree(self, path: str, *, missing_ok: bool = False) -> None:
        st = self.stat(check_tree_root(path))
        if st is None:
            if missing_ok:
                return
            raise NotFound(f"{path}: No such file or directory", path=path, code=errno.ENOENT)
        if not st.is_dir:  # symlinks included: we never delete through one
            raise TransportError(f"{path}: Not a directory", path=path, code=errno.ENOTDIR)
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise error_from_oserror(exc) from exc

    def rmdir(self, path: str) -> None:
        try:
            os.rmdir(check_path(path))
        except OSError as exc:
            raise error_from_oserror(exc, path) from exc

    def mkdir(self, path: str, *, parents: bool = True, exist_ok: bool = True) -> None:
        try:
            if parents:
                os.makedirs(check_path(path), exist_ok=exist_ok)
            else:
                os.mkdir(check_path(path))
        except FileExistsError as exc:
            if not (exist_ok and os.path.isdir(path)):  # as mkdir -p: a symlinked dir is ok
                raise AlreadyExists(f"{path}: already exists", path=path,
                                    code=errno.EEXIST) from exc
        except OSError as exc:
            raise error_from_oserror(exc, path) from exc

    def listdir(self, path: str) -> list[str]:
        try:
            return sort_names(os.listdir(check_path(path)))
        except OSError as exc:
            raise error_from_oserror(exc, path) from exc

    def exists(self, path: str) -> bool:
        return os.path.lexists(check_path(path))

    def free_space(self, path: str) -> DiskSpace:
        try:
            vfs = os.statvfs(check_path(path))
        except OSError as exc:
            raise error_from_oserror(exc, path) from exc
        return DiskSpace(total=vfs.f_blocks * vfs.f_frsize, free=vfs.f_bfree * vfs.f_frsize,
                         available=vfs.f_bavail * vfs.f_frsize)
