"""A remote host over SSH (paramiko): commands in a long-lived shell, files by SFTP.

Commands run one after another in one ``/bin/sh`` per connection (see ssh_shell), not in a
login shell of their own; a command issued while that shell is busy in another thread gets
an exec channel of its own.

Security rules, in order of importance:

* Host keys are always verified against known_hosts.  An unknown key is refused unless the
  target says ``trust_on_first_use``, which records it; a changed key is refused always.
  ``StrictHostKeyChecking`` in ssh_config cannot weaken this.
* Authentication is by ssh-agent or key files only; no password is ever sent.
* Commands are argv lists quoted with ``shlex.join``: every argument reaches the program
  unchanged, so file names cannot inject shell syntax.  The remote login shell must be
  POSIX (sh, bash, dash, zsh, ksh), as for ``ssh host cmd``.

One connection per :class:`SshTarget` is shared by every :class:`SshTransport` open on it
and closed with the last of them.  A connection found dead before an operation starts is
reopened once; an operation interrupted half way raises :class:`ConnectionLost` (unless it
is a read, which is simply retried), because we cannot know whether the host did it.

The remote userland is assumed to be GNU (Linux): ``stat --printf``, ``find -printf``,
``df --output``, ``rm``.  SFTP v3 cannot report inodes or sub-second times, so ``stat``
runs GNU ``stat`` rather than SFTP lstat.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import getpass
import os
import posixpath
import re
import shlex
import stat as _stat
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NoReturn, Protocol, TypeVar, cast
from urllib.parse import unquote, urlsplit

import paramiko
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY

from capacity.transports.base import (
    AlreadyExists,
    Capability,
    CommandFailed,
    CommandResult,
    CommandTimeout,
    ConnectionLost,
    DiskSpace,
    FileStat,
    HostKeyError,
    HostKeyTrusted,
    NotFound,
    TransportError,
    check_argv,
    check_path,
    check_tree_root,
    decode_path,
    encode_path,
    error_for_errno,
    error_from_oserror,
    sort_names,
    temp_sibling,
)
from capacity.transports.posix import PosixTransport
from capacity.transports.ssh_shell import (
    Framer,
    ShellSession,
    close_quietly,
    command_line,
    new_token,
    read_channel,
)

T = TypeVar("T")

_MAX_STREAM_STDERR = 1 << 20  # stream() keeps the last MiB of stderr for its error
_PREFETCH_FROM = 256 * 1024  # below this a plain sequential read is cheaper than a thread
_GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
# errno values whose C-locale message we recognise in a command's stderr.
_STDERR_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EEXIST,
                  errno.ENOTEMPTY, errno.EISDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.EXDEV)
_STAT_FORMAT = "%s %.9Y %.9X %f %i"


@dataclass(frozen=True, slots=True)
class SshTarget:
    """Where and how to connect; hashable, so it keys the connection pool.

    ``port`` and ``user`` left as None come from ssh_config, then 22 and the local user.
    ``key_filename`` None means ssh_config ``IdentityFile``, the agent and ``~/.ssh/id_*``.
    ``known_hosts`` None means ssh_config ``UserKnownHostsFile`` (else ``~/.ssh/known_hosts``)
    plus ``/etc/ssh/ssh_known_hosts``; a given file is the only one consulted.
    ``ssh_config`` None means ``~/.ssh/config``; pass ``os.devnull`` to ignore it.
    ``command_timeout`` bounds ``run`` and each file operation, not ``stream``.
    ``keepalive`` is seconds between keepalive packets (0 disables them).
    ``unknown_key_advice`` ends the refusal of an unknown host key: how the caller of this
    API, or of a tool built on it, says to trust it.
    """

    host: str
    port: int | None = None
    user: str | None = None
    key_filename: str | None = None
    known_hosts: str | None = None
    trust_on_first_use: bool = False
    connect_timeout: float = 10.0
    command_timeout: float | None = None
    keepalive: int = 30
    ssh_config: str | None = None
    unknown_key_advice: str = "connect with trust_on_first_use=True"

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise ValueError(f"invalid SSH host {self.host!r}")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"invalid SSH port {self.port!r}")


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """A target after ssh_config: what is actually dialled and checked."""

    hostname: str
    port: int
    user: str
    key_filenames: tuple[str, ...]
    known_hosts_files: tuple[str, ...]
    record_known_hosts: str  # where trust-on-first-use appends a new key

    @property
    def host_key_name(self) -> str:
        """The name known_hosts files use for this host (OpenSSH's convention)."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def resolve(target: SshTarget) -> ResolvedTarget:
    """Apply ssh_config (HostName, Port, User, IdentityFile, UserKnownHostsFile)."""
    config_path = os.path.expanduser(target.ssh_config or "~/.ssh/config")
    options: dict[str, object] = {}
    if os.path.isfile(config_path):
        _refuse_match_exec(config_path)
        options = dict(paramiko.SSHConfig.from_path(config_path).lookup(target.host))
    hostname = str(options.get("hostname") or target.host)
    port = target.port or int(str(options.get("port") or 22))
    user = target.user or str(options.get("user") or getpass.getuser())
    if target.key_filename:
        keys: tuple[str, ...] = (os.path.expanduser(target.key_filename),)
    else:
        listed = options.get("identityfile")
        candidates = listed if isinstance(listed, list) else []
        keys = tuple(p for p in (os.path.expanduser(str(k)) for k in candidates)
                     if os.path.isfile(p))
    if target.known_hosts:
        files: tuple[str, ...] = (os.path.expanduser(target.known_hosts),)
    else:
        user_files = str(options.get("userknownhostsfile") or "~/.ssh/known_hosts").split()
        files = (*(os.path.expanduser(f) for f in user_files), _GLOBAL_KNOWN_HOSTS)
    return ResolvedTarget(hostname=hostname, port=port, user=user, key_filenames=keys,
                          known_hosts_files=files, record_known_hosts=files[0])


_MATCH_EXEC = re.compile(r"^\s*match\b.*\bexec\b", re.IGNORECASE | re.MULTILINE)


def _refuse_match_exec(config_path: str) -> None:
    """``Match exec`` runs a command on the controller for each lookup, with the host name
    substituted: capacity never evaluates it."""
    with open(config_path, encoding="utf-8", errors="replace") as f:
        if _MATCH_EXEC.search(f.read()):
            raise TransportError(f"{config_path} has a 'Match exec' line: capacity does not"
                                 " run commands from ssh_config; remove it, or give the"
                                 " hosts their own config (ssh_config)")


def parse_target(where: str, **fields: Any) -> SshTarget:
    """``ssh://[user@]host[:port]`` or ``[user@]host`` to an :class:`SshTarget`.

    ``fields`` are the other SshTarget fields (known_hosts, key_filename, ...).
    """
    url = urlsplit(where if "://" in where else f"ssh://{where}")
    if url.scheme != "ssh" or not url.hostname or url.path not in ("", "/"):
        raise ValueError(f"not an SSH target: {where!r} (expected ssh://[user@]host[:port])")
    found: dict[str, Any] = {"host": url.hostname}
    if url.username:
        found["user"] = unquote(url.username)
    if url.port is not None:
        found["port"] = url.port
    return SshTarget(**{**found, **fields})


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint, as ``ssh-keygen -l`` prints it."""
    return str(key.fingerprint)


# --------------------------------------------------------------------------- host keys


class _RefuseUnknownHostKey(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, raising our error with what the operator needs to decide."""

    def __init__(self, resolved: ResolvedTarget, advice: str) -> None:
        self.resolved = resolved
        self.advice = advice

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> NoReturn:
        files = ", ".join(self.resolved.known_hosts_files)
        raise HostKeyError(
            f"unknown host key for {hostname}: {key.get_name()} {fingerprint(key)} is in none "
            f"of {files}; verify it and add it, or {self.advice}", host=hostname)


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Accept a host that has no known key at all, and append its key to known_hosts.

    paramiko only consults the policy when known_hosts holds no key for the host; any
    mismatch with a recorded key raises BadHostKeyException before we are asked.
    """

    def __init__(self, resolved: ResolvedTarget) -> None:
        self.resolved = resolved

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        path = self.resolved.record_known_hosts
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        try:
            os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size and not _ends_with_newline(path):
                    line = "\n" + line
                os.write(fd, line.encode())  # one O_APPEND write keeps concurrent lines whole
            finally:
                os.close(fd)
        except OSError as exc:
            raise HostKeyError(f"cannot record the host key of {hostname} in {path}: {exc}",
                               host=hostname) from exc
        client.get_host_keys().add(hostname, key.get_name(), key)
        warnings.warn(HostKeyTrusted(hostname, key.get_name(), fingerprint(key), path),
                      stacklevel=2)


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


# --------------------------------------------------------------------------- connections


@dataclass(eq=False)
class _Connection:
    """One SSH connection (and its lazily opened SFTP session) shared per target."""

    target: SshTarget
    resolved: ResolvedTarget
    label: str
    users: int = 0
    fsync_supported: bool = True
    statvfs_supported: bool = True
    _client: paramiko.SSHClient | None = None
    _sftp: paramiko.SFTPClient | None = None
    _shell: ShellSession | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)
    # SFTP replies are matched to requests by paramiko, but a timed-out request leaves a
    # late reply behind; serialising requests keeps that recoverable (we drop the session).
    sftp_lock: threading.RLock = field(default_factory=threading.RLock)

    def transport(self) -> paramiko.Transport:
        """The live paramiko transport, connecting (or reconnecting) if needed."""
        with self._lock:
            if self._client is not None:
                current = self._client.get_transport()
                if current is not None and current.is_active():
                    return current
                self._drop()
            client = self._connect()
            self._client = client
            current = client.get_transport()
            assert current is not None
            return current

    def alive(self) -> bool:
        with self._lock:
            current = self._client.get_transport() if self._client else None
            return current is not None and current.is_active()

    def sftp(self) -> paramiko.SFTPClient:
        with self._lock:
            current = self.transport()
            if (self._sftp is None or self._sftp.sock.closed
                    or self._sftp.sock.get_transport() is not current):
                self._close_sftp()
                self._sftp = paramiko.SFTPClient.from_transport(current)
                assert self._sftp is not None
                if self.target.command_timeout is not None:
                    self._sftp.sock.settimeout(self.target.command_timeout)
            return self._sftp

    def claim_shell(self) -> ShellSession | None:
        """The connection's shell, locked for one command and just seen alive; None if it is
        busy (another thread's command) or cannot be started: then use an exec channel."""
        with self._lock:
            for _ in (1, 2):
                try:
                    current = self.transport()
                except TransportError:
                    return None
                shell = self._shell
                if shell is None or not shell.usable_on(current):
                    if shell is not None:
                        shell.kill()
                    try:
                        shell = self._shell = ShellSession.start(
                            current, self.target.connect_timeout)
                    except (paramiko.SSHException, EOFError, OSError):
                        self._shell = None
                        continue
                if not shell.lock.acquire(blocking=False):
                    return None
                if shell.ping(self.target.connect_timeout):
                    return shell
                # Dead before our command was sent: safe to start another.
                shell.kill()
                shell.lock.release()
                self._shell = None
            return None

    def release_shell(self, shell: ShellSession, *, finished: bool) -> None:
        """Hand the shell back; one whose command did not finish (a timeout, an abandoned
        stream, an error) is killed, never reused mid-command."""
        if not finished:
            shell.kill()
            with self._lock:
                if self._shell is shell:
                    self._shell = None
        shell.lock.release()

    def reset_sftp(self) -> None:
        with self._lock:
            self._close_sftp()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _close_sftp(self) -> None:
        if self._sftp is not None:
            with contextlib.suppress(Exception):  # a broken session may fail to close
                self._sftp.close()
            self._sftp = None

    def _drop(self) -> None:
        self._close_sftp()
        if self._shell is not None:
            self._shell.kill()
            self._shell = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connect(self) -> paramiko.SSHClient:
        r, t = self.resolved, self.target
        if t.key_filename and not os.path.isfile(r.key_filenames[0]):
            raise TransportError(f"{self.label}: key file {r.key_filenames[0]} not found",
                                 path=r.key_filenames[0], code=errno.ENOENT, host=self.label)
        if t.trust_on_first_use and os.path.realpath(r.record_known_hosts) == os.devnull:
            raise HostKeyError(f"{self.label}: trust on first use needs a known_hosts file"
                               f" to remember the key, and {r.record_known_hosts} remembers"
                               " nothing: every run would accept any key", host=self.label)
        client = paramiko.SSHClient()
        revoked: set[tuple[str, str]] = set()
        for path in r.known_hosts_files:
            if os.path.isfile(path):
                revoked |= _load_known_hosts(client.get_host_keys(), path, self.label)
        policy: paramiko.MissingHostKeyPolicy = (
            _TrustOnFirstUse(r) if t.trust_on_first_use
            else _RefuseUnknownHostKey(r, t.unknown_key_advice))
        client.set_missing_host_key_policy(policy)
        try:
            client.connect(
                r.hostname, port=r.port, username=r.user,
                # paramiko takes a list of key files too; types-paramiko says str only.
                key_filename=list(r.key_filenames) or None,  # type: ignore[arg-type]
                password=None, allow_agent=True, look_for_keys=True,
                timeout=t.connect_timeout, banner_timeout=t.connect_timeout,
                auth_timeout=t.connect_timeout, channel_timeout=t.connect_timeout)
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"HOST KEY CHANGED for {r.host_key_name}: it presented {exc.key.get_name()} "
                f"{fingerprint(exc.key)} but known_hosts has {exc.expected_key.get_name()} "
                f"{fingerprint(exc.expected_key)}; refusing to connect (a reinstalled host, "
                f"or someone in the middle). Fix known_hosts after checking.",
                host=self.label) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise TransportError(f"{self.label}: authentication failed: {exc}",
                                 host=self.label, code=errno.EACCES) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            raise ConnectionLost(f"{self.label}: cannot connect: {exc}",
                                 host=self.label) from exc
        current = client.get_transport()
        presented = current.get_remote_server_key() if current is not None else None
        if presented is not None and (presented.get_name(), presented.get_base64()) in revoked:
            client.close()
            raise HostKeyError(f"{self.label}: the host presented {presented.get_name()}"
                               f" {fingerprint(presented)}, which known_hosts marks"
                               " @revoked; refusing it", host=self.label)
        if current is not None and t.keepalive > 0:
            current.set_keepalive(t.keepalive)
        return client


def _load_known_hosts(keys: paramiko.HostKeys, path: str, label: str
                      ) -> set[tuple[str, str]]:
    """Load a known_hosts file as OpenSSH reads it; returns its @revoked keys (type,
    base64).  @cert-authority lines are not supported: skipped, and a host whose key only a
    CA vouches for is then unknown, as the refusal says."""
    revoked: set[tuple[str, str]] = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                marker, _, rest = line.partition(" ")
                fields = rest.split()
                if marker == "@revoked" and len(fields) >= 3:
                    revoked.add((fields[1], fields[2]))
                continue  # @cert-authority: not supported
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
            except (paramiko.SSHException, ValueError, TypeError) as exc:
                raise HostKeyError(f"{label}: {path}:{number}: not a known_hosts line: {exc}",
                                   host=label) from exc
            if entry is not None:
                for name in entry.hostnames:
                    keys.add(name, entry.key.get_name(), entry.key)
    return revoked


_POOL: dict[SshTarget, _Connection] = {}
_POOL_LOCK = threading.Lock()


def _acquire(target: SshTarget) -> _Connection:
    with _POOL_LOCK:
        conn = _POOL.get(target)
        if conn is None:
            resolved = resolve(target)
            label = f"ssh://{resolved.user}@{resolved.hostname}:{resolved.port}"
            conn = _POOL[target] = _Connection(target, resolved, label)
        conn.users += 1
        return conn


def _release(conn: _Connection) -> None:
    with _POOL_LOCK:
        conn.users -= 1
        if conn.users > 0:
            return
        if _POOL.get(conn.target) is conn:
            del _POOL[conn.target]
    conn.close()


def close_all() -> None:
    """Close every pooled connection (transports still open will reconnect on next use)."""
    with _POOL_LOCK:
        conns = list(_POOL.values())
    for conn in conns:
        conn.close()


atexit.register(close_all)  # paramiko's threads otherwise die noisily at interpreter exit


# --------------------------------------------------------------------------- helpers


def _timestamp(text: bytes) -> float:
    """GNU stat's ``%.9Y`` to the float ``os.stat`` would give (sec + nsec * 1e-9)."""
    ns = int(Decimal(text.decode()) * 1_000_000_000)
    sec, nsec = divmod(ns, 1_000_000_000)
    return sec + nsec * 1e-9


def _errno_in(stderr: bytes) -> int | None:
    """The errno a (C-locale) GNU tool reported, from its message."""
    for code in _STDERR_ERRNOS:
        if os.strerror(code).encode() in stderr:
            return code
    return None


def _parent(raw: bytes) -> bytes:
    """The directory holding a raw path ("." for a bare name, "/" for a top-level one)."""
    head, sep, _ = raw.rpartition(b"/")
    return head or (b"/" if sep else b".")


def _dash_safe(path: str) -> str:
    """For tools such as find that take no ``--``: a relative ``-x`` becomes ``./-x``."""
    return "./" + path if path.startswith("-") else path


class _SftpRequests(Protocol):
    """The request call every paramiko SFTPClient has, private (so types-paramiko leaves it
    out); it waits for the reply and returns its type and message."""

    def _request(self, t: int, *args: object) -> tuple[int, paramiko.Message]: ...


def _extended_request(sftp: paramiko.SFTPClient, name: str,
                      *args: object) -> tuple[int, paramiko.Message]:
    """An OpenSSH extension request (fsync@, statvfs@): paramiko has no public call for one.
    An error status raises OSError ("unsupported" for an extension the server lacks)."""
    return cast(_SftpRequests, sftp)._request(CMD_EXTENDED, name, *args)


# --------------------------------------------------------------------------- transport


class SshTransport(PosixTransport):
    """Operations on one remote host.  Connects at construction (surfacing key errors)."""

    def __init__(self, target: SshTarget | str) -> None:
        self.target = parse_target(target) if isinstance(target, str) else target
        self._conn = _acquire(self.target)
        self._closed = False
        self.label = self._conn.label
        try:
            self._conn.transport()
        except BaseException:
            self.close()
            raise

    @property
    def paramiko_transport(self) -> paramiko.Transport:
        """The shared live paramiko Transport (for diagnostics and tests)."""
        self._check_open()
        return self._conn.transport()

    @property
    def resolved(self) -> ResolvedTarget:
        return self._conn.resolved

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _release(self._conn)

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"{self.label}: transport is closed", host=self.label)

    def _lost(self, exc: BaseException, doing: str) -> TransportError:
        if self._conn.alive():
            return TransportError(f"{self.label}: {doing}: {exc}", host=self.label)
        return ConnectionLost(f"{self.label}: connection lost while {doing}: {exc}",
                              host=self.label)

    # ---- commands

    def _start(self, args: tuple[str, ...]) -> paramiko.Channel:
        """Open a session channel and exec the quoted command line, stdin closed."""
        self._check_open()
        line = encode_path(shlex.join(args))
        for attempt in (1, 2):
            current = self._conn.transport()  # reconnects if known to be dead
            try:
                chan = current.open_session(timeout=self.target.connect_timeout)
                break
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if attempt == 1 and not self._conn.alive():
                    continue  # it dropped before the command started: safe to redo
                raise self._lost(exc, "opening a channel") from exc
        try:
            chan.exec_command(line)
            chan.shutdown_write()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            chan.close()
            raise self._lost(exc, f"starting {args[0]!r}") from exc
        return chan

    def _pump(self, chan: paramiko.Channel, args: tuple[str, ...],
              deadline: float | None) -> Iterator[tuple[bool, bytes]]:
        """Yield (is_stderr, data) as either stream delivers, until both are closed."""
        try:
            yield from read_channel(chan, deadline)
        except TimeoutError:
            raise CommandTimeout(f"{self.label}: command {args[0]!r} timed out",
                                 host=self.label) from None

    def _exit_code(self, chan: paramiko.Channel, args: tuple[str, ...],
                   deadline: float | None) -> int:
        left = None if deadline is None else max(deadline - time.monotonic(), 0)
        if not chan.status_event.wait(left):
            raise CommandTimeout(f"{self.label}: command {args[0]!r} timed out",
                                 host=self.label)
        code = chan.exit_status
        if code == -1 and not self._conn.alive():
            raise ConnectionLost(f"{self.label}: connection lost while {args[0]!r} ran; "
                                 f"it may or may not have completed", host=self.label)
        return code  # -1 with a live connection: killed by a signal

    def _execute(self, args: tuple[str, ...], deadline: float | None,
                 status: list[int]) -> Generator[tuple[bool, bytes], None, None]:
        """Run a command, yielding (is_stderr, data); its exit code is appended to ``status``.

        In the connection's shell when it is free (no login shell per command), else on an
        exec channel of its own."""
        self._check_open()
        shell = self._conn.claim_shell()
        if shell is None:
            chan = self._start(args)
            try:
                yield from self._pump(chan, args, deadline)
                status.append(self._exit_code(chan, args, deadline))
            finally:
                # On timeout this only abandons the remote process: without a tty, sshd has
                # no way to signal it, it dies when it next writes to the closed channel.
                close_quietly(chan)
            return
        try:
            yield from self._in_shell(shell, args, deadline, status)
        finally:
            self._conn.release_shell(shell, finished=bool(status))

    def _in_shell(self, shell: ShellSession, args: tuple[str, ...], deadline: float | None,
                  status: list[int]) -> Iterator[tuple[bool, bytes]]:
        token = new_token()
        framer = Framer(token)
        try:
            shell.send(command_line(token, args))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self._lost(exc, f"starting {args[0]!r}") from exc
        try:
            for is_err, data in read_channel(shell.chan, deadline, lambda: framer.done):
                piece = framer.feed_err(data) if is_err else framer.feed_out(data)
                if piece:
                    yield is_err, piece
        except TimeoutError:
            raise CommandTimeout(f"{self.label}: command {args[0]!r} timed out",
                                 host=self.label) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self._lost(exc, f"running {args[0]!r}") from exc
        if not framer.done:
            raise ConnectionLost(f"{self.label}: connection lost while {args[0]!r} ran; "
                                 f"it may or may not have completed", host=self.label)
        assert framer.exit_code is not None
        status.append(framer.exit_code)

    def run(self, argv: Sequence[str], *, check: bool = True,
            timeout: float | None = None) -> CommandResult:
        self.require(Capability.RUN, "run commands on the host")  # a subclass may drop it
        return self._run(argv, check=check, timeout=timeout)

    def _run(self, argv: Sequence[str], *, check: bool = True,
             timeout: float | None = None) -> CommandResult:
        """:meth:`run` whatever the capabilities say: the file operations use it too."""
        args = check_argv(argv)
        timeout = self.target.command_timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        out: list[bytes] = []
        err: list[bytes] = []
        status: list[int] = []
        for is_err, data in self._execute(args, deadline, status):
            (err if is_err else out).append(data)
        result = CommandResult(args, status[0], b"".join(out), b"".join(err))
        if check and result.exit_code != 0:
            raise CommandFailed(result, host=self.label)
        return result

    def stream(self, argv: Sequence[str], *,
               timeout: float | None = None) -> Generator[bytes, None, None]:
        self.require(Capability.RUN, "run commands on the host")
        return self._stream(check_argv(argv), timeout)

    def _stream(self, args: tuple[str, ...],
                timeout: float | None) -> Generator[bytes, None, None]:
        deadline = None if timeout is None else time.monotonic() + timeout
        err = bytearray()
        status: list[int] = []
        # closing(): an abandoned stream releases (and kills) the shell at once.
        with contextlib.closing(self._execute(args, deadline, status)) as pieces:
            for is_err, data in pieces:
                if not is_err:
                    yield data
                    continue
                err += data
                if len(err) > _MAX_STREAM_STDERR:
                    del err[:-_MAX_STREAM_STDERR]
        if status[0] != 0:
            raise CommandFailed(CommandResult(args, status[0], b"", bytes(err)),
                                host=self.label)

    def _tool(self, argv: list[str], path: str) -> CommandResult:
        """Run a GNU tool in the C locale, turning its failure into a typed error."""
        result = self._run(["env", "LC_ALL=C", *argv], check=False)
        if result.exit_code != 0:
            code = _errno_in(result.stderr)
            message = result.stderr.decode("utf-8", "replace").strip() or (
                f"{argv[0]} exited {result.exit_code}")
            raise error_for_errno(code, message, path=path, host=self.label)
        return result

    # ---- SFTP plumbing

    def _sftp(self, fn: Callable[[paramiko.SFTPClient], T], path: str, *,
              idempotent: bool) -> T:
        """Run ``fn`` on the shared SFTP session, mapping errors.

        A dead connection is replaced before we start.  One that dies during ``fn`` is
        replaced and ``fn`` retried only if it is idempotent: otherwise the host may or may
        not have done it, and the caller must look before retrying.
        """
        self._check_open()
        for attempt in (1, 2):
            sftp: paramiko.SFTPClient | None = None
            try:
                sftp = self._conn.sftp()
                with self._conn.sftp_lock:
                    return fn(sftp)
            except TransportError:
                raise
            except TimeoutError as exc:
                # A late reply would be taken for the answer to the next request.
                self._conn.reset_sftp()
                raise CommandTimeout(f"{self.label}: SFTP operation on {path} timed out",
                                     path=path, host=self.label) from exc
            except (OSError, EOFError, paramiko.SSHException) as exc:
                if self._conn.alive() and sftp is not None and not sftp.sock.closed:
                    if isinstance(exc, OSError):
                        raise error_from_oserror(exc, path, self.label) from exc
                    raise TransportError(f"{path}: {exc}", path=path, host=self.label) from exc
                self._conn.reset_sftp()
                if attempt == 2 or not idempotent:
                    raise ConnectionLost(f"{self.label}: connection lost during an operation "
                                         f"on {path}: {exc}", path=path,
                                         host=self.label) from exc
        raise AssertionError("unreachable")

    def _lexists(self, sftp: paramiko.SFTPClient, raw: bytes) -> bool:
        try:
            sftp.lstat(raw)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return False
            raise
        return True

    def _sftp_fsync(self, sftp: paramiko.SFTPClient, f: paramiko.SFTPFile) -> None:
        """fsync@openssh.com of an open file."""
        if not self._conn.fsync_supported:
            return
        try:
            _extended_request(sftp, "fsync@openssh.com", f.handle)
        except OSError as exc:
            if exc.errno is None and "unsupported" in str(exc).lower():
                self._conn.fsync_supported = False  # an old server: data is written, not synced
                return
            raise

    def _sftp_fsync_dir(self, sftp: paramiko.SFTPClient, raw_dir: bytes) -> None:
        """Sync a directory after a rename in it; OpenSSH lets us open it like a file."""
        try:
            with sftp.open(raw_dir, "r") as d:
                self._sftp_fsync(sftp, d)
        except OSError:
            pass  # durability of the name is best effort, as for local directories

    # ---- files

    def stat(self, path: str) -> FileStat | None:
        # GNU stat, not SFTP lstat: SFTP v3 has no inode and only whole-second times.
        try:
            out = self._tool(["stat", f"--printf={_STAT_FORMAT}", "--", check_path(path)],
                             path).stdout
        except TransportError as exc:
            if isinstance(exc, NotFound) or exc.errno == errno.ENOTDIR:
                return None
            raise
        size, mtime, atime, mode, inode = out.split(b" ")
        st_mode = int(mode, 16)
        return FileStat(size=int(size), mtime=_timestamp(mtime), atime=_timestamp(atime),
                        mode=st_mode, inode=int(inode), is_dir=_stat.S_ISDIR(st_mode),
                        is_symlink=_stat.S_ISLNK(st_mode))

    def exists(self, path: str) -> bool:
        raw = encode_path(check_path(path))
        return self._sftp(lambda sftp: self._lexists(sftp, raw), path, idempotent=True)

    def read(self, path: str) -> bytes:
        raw = encode_path(check_path(path))

        def op(sftp: paramiko.SFTPClient) -> bytes:
            with sftp.open(raw, "rb") as f:
                size = f.stat().st_size or 0
                if size >= _PREFETCH_FROM:
                    f.prefetch(size)  # pipelined requests instead of one round trip each
                return f.read()

        return self._sftp(op, path, idempotent=True)

    def write(self, path: str, data: bytes, *, overwrite: bool = True) -> None:
        raw = encode_path(check_path(path))

        def op(sftp: paramiko.SFTPClient) -> None:
            # A fresh name each attempt: one cut off by a dropped connection may have left
            # its temporary file behind, and an exclusive create of that name would fail.
            raw_tmp = encode_path(temp_sibling(path))
            renaming = False
            try:
                with sftp.open(raw_tmp, "wbx") as f:
                    f.set_pipelined(True)
                    f.write(data)
                    f.flush()
                    self._sftp_fsync(sftp, f)
                # close() above waited for every write to be acknowledged
                renaming = True
                if overwrite:
                    sftp.posix_rename(raw_tmp, raw)
                else:
                    sftp.rename(raw_tmp, raw)  # OpenSSH: link()+unlink(), never replaces
            except BaseException as exc:
                with contextlib.suppress(Exception):  # already failing; a left temp is harmless
                    sftp.remove(raw_tmp)
                if (renaming and not overwrite and isinstance(exc, OSError)
                        and exc.errno is None and self._lexists(sftp, raw)):
                    raise AlreadyExists(f"{path}: already exists", path=path,
                                        code=errno.EEXIST, host=self.label) from exc
                raise
            self._sftp_fsync_dir(sftp, _parent(raw))

        # With overwrite a retry converges to the same state, so it is safe to redo.
        self._sftp(op, path, idempotent=overwrite)

    def rename(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        raw_src, raw_dst = encode_path(check_path(src)), encode_path(check_path(dst))

        def op(sftp: paramiko.SFTPClient) -> None:
            try:
                if overwrite:
                    sftp.posix_rename(raw_src, raw_dst)
                else:
                    # SFTP rename refuses an existing target: link()+unlink() for files,
                    # check-then-rename for directories in OpenSSH's server.
                    sftp.rename(raw_src, raw_dst)
            except OSError as exc:
                if exc.errno is None and not overwrite and self._lexists(sftp, raw_dst):
                    raise AlreadyExists(f"{dst}: already exists", path=dst,
                                        code=errno.EEXIST, host=self.label) from exc
                if exc.errno is None and not self._lexists(sftp, raw_src):
                    raise NotFound(f"{src}: No such file or directory", path=src,
                                   code=errno.ENOENT, host=self.label) from exc
                raise
            self._sftp_fsync_dir(sftp, _parent(raw_dst))

        self._sftp(op, src, idempotent=False)

    def delete(self, path: str, *, missing_ok: bool = False) -> None:
        raw = encode_path(check_path(path))

        def op(sftp: paramiko.SFTPClient) -> None:
            try:
                sftp.remove(raw)
            except OSError as exc:
                if exc.errno == errno.ENOENT and missing_ok:
                    return
                if exc.errno is None and _stat.S_ISDIR(sftp.lstat(raw).st_mode or 0):
                    raise TransportError(f"{path}: Is a directory", path=path,
                                         code=errno.EISDIR, host=self.label) from exc
                raise

        self._sftp(op, path, idempotent=missing_ok)

    def delete_tree(self, path: str, *, missing_ok: bool = False) -> None:
        st = self.stat(check_tree_root(path))
        if st is None:
            if missing_ok:
                return
            raise NotFound(f"{path}: No such file or directory", path=path,
                           code=errno.ENOENT, host=self.label)
        if not st.is_dir:  # symlinks included: we never delete through one
            raise TransportError(f"{path}: Not a directory", path=path, code=errno.ENOTDIR,
                                 host=self.label)
        # One rm instead of an SFTP round trip per entry; rm -r never follows symlinks.
        self._tool(["rm", "-rf", "--", path], path)

    def rmdir(self, path: str) -> None:
        # GNU rmdir, not SFTP: OpenSSH's server reports a folder that is not empty only as
        # a generic failure, rmdir's message names it (ENOTEMPTY).
        self._tool(["rmdir", "--", check_path(path)], path)

    def mkdir(self, path: str, *, parents: bool = True, exist_ok: bool = True) -> None:
        check_path(path)

        def make(sftp: paramiko.SFTPClient, p: str, exist_ok: bool) -> None:
            raw = encode_path(p)
            try:
                sftp.mkdir(raw)
                return
            except OSError as exc:
                failure = exc
            try:
                is_dir = _stat.S_ISDIR(sftp.stat(raw).st_mode or 0)  # mkdir -p: follows
            except OSError:
                is_dir = None  # missing
            if is_dir is None:
                parent = posixpath.dirname(p.rstrip("/"))
                if parents and parent and parent != p and failure.errno == errno.ENOENT:
                    make(sftp, parent, True)
                    make(sftp, p, exist_ok)
                    return
                raise failure
            if not (exist_ok and is_dir):
                raise AlreadyExists(f"{p}: already exists", path=p, code=errno.EEXIST,
                                    host=self.label)

        self._sftp(lambda sftp: make(sftp, path, exist_ok), path, idempotent=exist_ok)

    def listdir(self, path: str) -> list[str]:
        # find, not SFTP readdir: paramiko decodes names as strict UTF-8 and would fail
        # on a name that is not.  The trailing slash makes a non-directory an error.
        target = _dash_safe(check_path(path))
        target = target if target.endswith("/") else target + "/"
        out = self._tool(["find", target, "-mindepth", "1", "-maxdepth", "1",
                          "-printf", "%f\\0"], path).stdout
        return sort_names([decode_path(n) for n in out.split(b"\0") if n])

    def free_space(self, path: str) -> DiskSpace:
        raw = encode_path(check_path(path))
        if self._conn.statvfs_supported:

            def op(sftp: paramiko.SFTPClient) -> DiskSpace | None:
                try:
                    kind, msg = _extended_request(sftp, "statvfs@openssh.com", raw)
                except OSError as exc:
                    if exc.errno is None and "unsupported" in str(exc).lower():
                        return None
                    raise
                if kind != CMD_EXTENDED_REPLY:
                    return None
                _bsize, frsize, blocks, bfree, bavail = (msg.get_int64() for _ in range(5))
                return DiskSpace(total=blocks * frsize, free=bfree * frsize,
                                 available=bavail * frsize)

            space = self._sftp(op, path, idempotent=True)
            if space is not None:
                return space
            self._conn.statvfs_supported = False
        return self.free_space_df(path)

    def free_space_df(self, path: str) -> DiskSpace:
        """``df`` fallback for servers without statvfs@openssh.com (public for tests)."""
        out = self._tool(["df", "-B1", "--output=size,used,avail", "--", check_path(path)],
                         path).stdout
        size, used, avail = (int(v) for v in out.splitlines()[-1].split())
        # df's "used" is blocks - bfree, so this recovers statvfs' f_bfree.
        return DiskSpace(total=size, free=size - used, available=avail)
