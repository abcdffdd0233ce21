"""The optional capabilities of a POSIX host with GNU coreutils, through :meth:`run`.

Local and SSH transports share them: each is one command (the snippets of
``capacity.tiering.remote``), so it costs one round trip however big the tree.
"""

from __future__ import annotations

from capacity.transports.base import (
    POSIX_CAPABILITIES,
    AlreadyExists,
    Capability,
    CommandFailed,
    NotFound,
    OperationFailed,
    Transport,
    check_path,
    decode_path,
)

_STDERR_IN_DETAIL = 500


def _detail(stderr: bytes) -> str:
    return stderr.decode("utf-8", "replace").strip()[-_STDERR_IN_DETAIL:]


class PosixTransport(Transport):
    """A transport whose host runs POSIX commands with GNU coreutils."""

    capabilities: Capability = POSIX_CAPABILITIES

    def hash_tree(self, path: str) -> dict[str, str]:
        # Imported here: capacity.tiering imports the transports package first.
        from capacity.tiering import remote

        return remote.parse_sums(self.run(remote.hash_tree(check_path(path))).stdout)

    def copy_and_hash(self, source: str, dest: str, *, scratch: str,
                      bandwidth: float | None = None) -> tuple[dict[str, str], dict[str, str]]:
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
        result = self.run(["sync", "-f", "--", check_path(path)], check=False)
        if not result.ok:
            if not self.exists(path):
                raise NotFound(f"{path}: No such file or directory", path=path,
                               host=self.label)
            raise OperationFailed("flush", _detail(result.stderr), host=self.label)

    def symlink(self, target: str, path: str) -> None:
        # -T: never a link inside a directory that sits at ``path``; ln -s never replaces.
        result = self.run(["ln", "-s", "-T", "--", check_path(target), check_path(path)],
                          check=False)
        if not result.ok:
            if self.exists(path):
                raise AlreadyExists(f"{path}: already exists", path=path, host=self.label)
            raise CommandFailed(result, host=self.label)

    def readlink(self, path: str) -> str:
        result = self.run(["readlink", "--", check_path(path)], check=False)
        if not result.ok:
            if not self.exists(path):
                raise NotFound(f"{path}: No such file or directory", path=path,
                               host=self.label)
            raise CommandFailed(result, host=self.label)
        return decode_path(result.stdout[:-1] if result.stdout.endswith(b"\n")
                           else result.stdout)

    def realpath(self, path: str, *, must_exist: bool = True) -> str:
        flag = "-e" if must_exist else "-m"
        result = self.run(["realpath", "-z", flag, "--", check_path(path)], check=False)
        if not result.ok:
            if must_exist and not self.exists(path):
                raise NotFound(f"{path}: No such file or directory", path=path,
                               host=self.label)
            raise CommandFailed(result, host=self.label)
        return decode_path(result.stdout.rstrip(b"\0"))
