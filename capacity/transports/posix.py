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
import posixpath
import re
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
_COPY_FAILURE = re.compile(rb"^capacity: copy (\d+) failed$", re.MULTILINE)

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

        self.run(remote.remove_work([check_path(work)], check_path(work_root)))

    def hash_tree(self, path: str) -> dict[str, str]:
        self.require(Capability.HASH_TREE, "hash files on the host")  # a subclass may drop it
        # Imported here: capacity.tiering imports the transports package first.
        from capacity.tiering import remote

        return remote.parse_sums(self.run(remote.hash_tree(check_path(path))).stdout)

    def copy_and_hash(self, source: str, dest: str, *, scratch: str,
                      bandwidth: float | None = None) -> tuple[dict[str, str], dict[str, str]]:
        # One unit (a large one, as the engine sends alone): cp -a, which copies while
        # another process hashes the source, keeps two cores busy on a single big file.
        (result,) = self._copy_and_hash([(source, dest)], scratch=scratch,
                                        bandwidth=bandwidth, in_interpreter=False)
        if isinstance(result, OperationFailed):
            raise result
        return result

    def copy_and_hash_many(self, pairs: Sequence[tuple[str, str]], *, scratch: str,
                           bandwidth: float | None = None, in_flight: int = 1
                           ) -> list[tuple[dict[str, str], dict[str, str]] | OperationFailed]:
        # A batch (small units): copied inside the hashing interpreter, no process a unit.
        return self._copy_and_hash(pairs, scratch=scratch, bandwidth=bandwidth,
                                   in_flight=in_flight, in_interpreter=True)

    def _copy_and_hash(self, pairs: Sequence[tuple[str, str]], *, scratch: str,
                       bandwidth: float | None, in_interpreter: bool, in_flight: int = 1
                       ) -> list[tuple[dict[str, str], dict[str, str]] | OperationFailed]:
        self.require(Capability.COPY_ON_HOST | Capability.HASH_TREE | Capability.FLUSH,
                     "copy on the host")
        from capacity.tiering import remote

        for source, dest in pairs:
            check_path(source)
            check_path(dest)
        if not pairs:
            return []
        kbps = None if not bandwidth else int(bandwidth / 1024)
        # The scratch file's folder is on the copies' filesystem: the one to flush.
        flush = posixpath.dirname(check_path(scratch)) or "."
        result = self.run(remote.copy_and_hash(pairs, flush, scratch, kbps, in_flight,
                                               in_interpreter=in_interpreter),
                          check=False)
        if result.exit_code == remote.COPY_FAILED:
            raise OperationFailed("flush", _detail(result.stderr), host=self.label)
        if not result.ok:
            raise OperationFailed("copy", _detail(result.stderr), host=self.label)
        groups = remote.parse_groups(result.stdout, 2 * len(pairs))
        failed = {int(k) - 1 for k in _COPY_FAILURE.findall(result.stderr)}
        out: list[tuple[dict[str, str], dict[str, str]] | OperationFailed] = []
        for i, (source_sums, copy_sums) in enumerate(zip(groups[:len(pairs)],
                                                         groups[len(pairs):], strict=True)):
            if i in failed:
                out.append(OperationFailed("copy", _detail(result.stderr), host=self.label))
            elif isinstance(source_sums, str) or isinstance(copy_sums, str):
                why = source_sums if isinstance(source_sums, str) else copy_sums
                out.append(OperationFailed("hashing", str(why), host=self.label))
            else:
                out.append((source_sums, copy_sums))
        return out

    # ---- batches, one command each

    def walk_many(self, paths: Sequence[str], *, top_only: bool = False
                  ) -> dict[str, list[tuple[str, FileStat]]]:
        if not self.has(Capability.RUN) or not paths:
            return super().walk_many(paths, top_only=top_only)
        starts = {_find_start(check_path(p)): p for p in paths}
        depth = ["-maxdepth", "0"] if top_only else []
        result = self.run(["env", "LC_ALL=C", "find", *starts, *depth, "-printf",
                           "%H\\0" + _WALK_PRINTF], check=False)
        if not result.ok and not top_only:
            # Something could not be read (or is missing): which tree is whole, each says.
            return super().walk_many(paths)
        fields = result.stdout.split(b"\0")
        if fields[-1] != b"" or (len(fields) - 1) % (_WALK_FIELDS + 1):
            raise OperationFailed("walk", "find's output ended mid-entry", host=self.label)
        found: dict[str, list[tuple[str, FileStat]]] = {}
        for at in range(0, len(fields) - 1, _WALK_FIELDS + 1):
            start = starts[decode_path(fields[at])]
            found.setdefault(start, []).append(
                _walk_entry(fields[at + 1:at + 1 + _WALK_FIELDS]))
        return found

    def realpath_many(self, paths: Sequence[str]) -> list[str]:
        self.require(Capability.REALPATH, "resolve symbolic links")
        if not paths:
            return []
        out = self.run(["realpath", "-z", "-m", "--", *map(check_path, paths)],
                       check=False).stdout.split(b"\0")
        if len(out) != len(paths) + 1:  # one could not be resolved: say which, alone
            return super().realpath_many(paths)
        return [decode_path(p) for p in out[:-1]]

    def mkdir_many(self, paths: Sequence[str]) -> None:
        if not self.has(Capability.RUN) or not paths:
            super().mkdir_many(paths)
            return
        self.run(["mkdir", "-p", "--", *map(check_path, paths)])

    def rename_many(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        if not self.has(Capability.RUN) or not pairs:
            return super().rename_many(pairs)
        from capacity.tiering import remote

        for src, dst in pairs:
            check_path(src)
            check_path(dst)
        out = self.run(remote.rename_many(pairs)).stdout
        if len(out) != len(pairs):
            raise OperationFailed("rename", "the batch rename ended early", host=self.label)
        return [c == ord("1") for c in out]

    def remove_works(self, works: Sequence[str], work_root: str) -> None:
        if not self.has(Capability.RUN):
            super().remove_works(works, work_root)
            return
        from capacity.tiering import remote

        if works:
            self.run(remote.remove_work([check_path(w) for w in works], check_path(work_root)))

    def remove_empty_dirs_many(self, paths: Sequence[str]) -> None:
        if not self.has(Capability.RUN) or not paths:
            super().remove_empty_dirs_many(paths)
            return
        self.run(["find", *(_find_start(check_path(p)) for p in paths), "-depth", "-type",
                  "d", "-empty", "-delete"], check=False)

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
