"""The optional capabilities of a POSIX host with GNU coreutils, through :meth:`run`.

Local and SSH transports share them: each is one command (the snippets of
``capacity.tiering.remote``), so it costs one round trip however big the tree.  The tree
operations every transport has (walk, delete_files, remove_empty_dirs, remove_work) are
one command here too; without :attr:`Capability.RUN` they are the contract's defaults.
Each method follows the flags a (sub)class declares: a dropped capability is refused.  The
optional capabilities have no default to fall back on: a subclass that drops RUN must drop
them too, or do them another way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from capacity.transports.base import (
    KIND_BITS,
    POSIX_CAPABILITIES,
    AlreadyExists,
    Capability,
    CommandFailed,
    FileStat,
    NotFound,
    OperationFailed,
    Transport,
    check_path,
    decode_path,
)

_STDERR_IN_DETAIL = 500

#: Paths per ``rm`` command: well inside any host's argument limit.
UNLINK_BATCH = 512

#: find -printf for :meth:`PosixTransport.walk`: type, size, mtime, atime, inode,
#: permission bits, path relative to the start; each field ends with NUL.
_WALK_PRINTF = "%y\\0%s\\0%T@\\0%A@\\0%i\\0%m\\0%P\\0"
_WALK_FIELDS = 7


def _find_start(path: str) -> str:
    """find takes no ``--``: a relative path that looks like an option gets ``./``."""
    return path if path.startswith("/") else "./" + path


def _walk_entry(fields: list[bytes]) -> tuple[str, FileStat]:
    kind, size, mtime, atime, inode, perms, rel = fields
    mode = KIND_BITS.get(kind.decode(), 0) | int(perms, 8)
    return decode_path(rel), FileStat(
        size=int(size), mtime=float(mtime), atime=float(atime), mode=mode, inode=int(inode),
        is_dir=kind == b"d", is_symlink=kind == b"l")


def _detail(stderr: bytes) -> str:
    return stderr.decode("utf-8", "replace").strip()[-_STDERR_IN_DETAIL:]


class PosixTransport(Transport):
    """A transport whose host runs POSIX commands with GNU coreutils."""

    capabilities: Capability = POSIX_CAPABILITIES

    # ---- trees, one command each

    def walk(self, path: str) -> Iterator[tuple[str, FileStat]]:
        if not self.has(Capability.RUN):
            yield from super().walk(path)
            return
        # LC_ALL=C: %T@ with a decimal point.  Without -H: a link at ``path`` is not followed.
        argv = ["env", "LC_ALL=C", "find", _find_start(check_path(path)),
                "-printf", _WALK_PRINTF]
        tail, fields = b"", []
        try:
            with contextlib.closing(self.stream(argv)) as chunks:
                for chunk in chunks:
                    parts = (tail + chunk).split(b"\0")
                    tail = parts.pop()
                    fields += parts
                    whole = len(fields) - len(fields) % _WALK_FIELDS
                    for at in range(0, whole, _WALK_FIELDS):
                        yield _walk_entry(fields[at:at + _WALK_FIELDS])
                    del fields[:whole]
        except CommandFailed:
            if not self.exists(path):
                raise NotFound(f"{path}: No such file or directory", path=path,
                               host=self.label) from None
            raise
        if tail or fields:
            raise OperationFailed("walk", f"find's output for {path} ended mid-entry",
                                  host=self.label)

    def delete_files(self, paths: Sequence[str]) -> None:
        if not self.has(Capability.RUN):
            super().delete_files(paths)
            return
        names = [check_path(p) for p in paths]
        for at in range(0, len(names), UNLINK_BATCH):
            self.run(["rm", "-f", "--", *names[at:at + UNLINK_BATCH]])

    def remove_empty_dirs(self, path: str) -> None:
        if not self.has(Capability.RUN):
            super().remove_empty_dirs(path)
            return
        # -empty and the rmdir that -delete does are one test: a folder that is not empty
        # stays, and find's complaint about it is no error.
        self.run(["find", _find_start(check_path(path)), "-depth", "-type", "d", "-empty",
                  "-delete"], check=False)

    def remove_work(self, work: str, work_root: str) -> None:
        if not self.has(Capability.RUN):
            super().remove_work(work, work_root)
            return
        from capacity.tiering import remote

        self.run(remote.remove_work(check_path(work), check_path(work_root)))

    def hash_tree(self, path: str) -> dict[str, str]:
        self.require(Capability.HASH_TREE, "hash files on the host")  # a subclass may drop it
        # Imported here: capacity.tiering imports the transports package first.
        from capacity.tiering import remote

        return remote.parse_sums(self.run(remote.hash_tree(check_path(path))).stdout)

    def copy_and_hash(self, source: str, dest: str, *, scratch: str,
                      bandwidth: float | None = None) -> tuple[dict[str, str], dict[str, str]]:
        self.require(Capability.COPY_ON_HOST | Capability.HASH_TREE | Capability.FLUSH,
                     "copy on the host")
        from capacity.tiering import remote

        check_path(source)
        check_path(dest)
        if bandwidth:
            # rsync copies a directory's content only when both ends end in a slash.
            st = self.stat(source)
            slash = "/" if st is not None and st.is_dir else ""
            kbps = max(1, int(bandwidth / 1024))
            copy = ["rsync", "-a", f"--bwlimit={kbps}", "--", source + slash, dest + slash]
        else:
            copy = ["cp", "-a", "--no-dereference", "--", source, dest]
        result = self.run(remote.copy_and_hash(source, dest, check_path(scratch), copy),
                          check=False)
        if result.exit_code == remote.HASH_FAILED:
            raise OperationFailed("hashing", _detail(result.stderr), host=self.label)
        if not result.ok:
            raise OperationFailed("copy", _detail(result.stderr), host=self.label)
        return remote.parse_pair(result.stdout)

    def flush(self, path: str) -> None:
        self.require(Capability.FLUSH, "flush written data")
        result = self.run(["sync", "-f", "--", check_path(path)], check=False)
        if not result.ok:
            if not self.exists(path):
                raise NotFound(f"{path}: No such file or directory", path=path,
                               host=self.label)
            raise OperationFailed("flush", _detail(result.stderr), host=self.label)

    def symlink(self, target: str, path: str) -> None:
        self.require(Capability.SYMLINKS, "make symbolic links")
        # -T: never a link inside a directory that sits at ``path``; ln -s never replaces.
        result = self.run(["ln", "-s", "-T", "--", check_path(target), check_path(path)],
                          check=False)
        if not result.ok:
            if self.exists(path):
                raise AlreadyExists(f"{path}: already exists", path=path, host=self.label)
            raise CommandFailed(result, host=self.label)

    def readlink(self, path: str) -> str:
        self.require(Capability.SYMLINKS, "read symbolic links")
        result = self.run(["readlink", "--", check_path(path)], check=False)
        if not result.ok:
            if not self.exists(path):
                raise NotFound(f"{path}: No such file or directory", path=path,
                               host=self.label)
            raise CommandFailed(result, host=self.label)
        return decode_path(result.stdout[:-1] if result.stdout.endswith(b"\n")
                           else result.stdout)

    def realpath(self, path: str, *, must_exist: bool = True) -> str:
        self.require(Capability.REALPATH, "resolve symbolic links")
        flag = "-e" if must_exist else "-m"
        result = self.run(["realpath", "-z", flag, "--", check_path(path)], check=False)
        if not result.ok:
            if must_exist and not self.exists(path):
                raise NotFound(f"{path}: No such file or directory", path=path,
                               host=self.label)
            raise CommandFailed(result, host=self.label)
        return decode_path(result.stdout.rstrip(b"\0"))
