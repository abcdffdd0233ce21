"""A long-lived POSIX shell on a host that runs our commands one after another.

Why: for every exec request sshd starts the user's login shell, and that shell reads its rc
files first.  Where ``~/.bashrc`` does real work (pyenv, conda, environment modules) that is
100-250 ms per command, against about a millisecond for a command handed to a shell that is
already running.  The tier engine runs a dozen short commands per unit, so this is most of
a move's cost.

The protocol, over one session channel running ``/bin/sh``:

* At start the shell gets :data:`DRIVER`, a function that runs its arguments as a command
  (in a subshell, stdin from /dev/null, so nothing it does reaches the shell's own state or
  input), then prints an end marker with the exit code on stdout and another on stderr.
* Before each command, a ping (:func:`ping_line`) proves the shell alive: a drop noticed
  then means the command was never sent, so it is safe to start a fresh shell and go on.
  Any stray output from an earlier command's background children is discarded there too.
* Each command is one line, ``TOKEN=...; run 'arg' 'arg' ...``, every argument quoted by
  :func:`shlex.quote`, so no name can inject shell syntax.  The token is 128 random bits,
  fresh per command: output cannot forge it, and a marker cannot be taken for another
  command's.

:class:`Framer` splits what comes back into the command's own bytes and its exit code; it
is pure, so its chunk-boundary cases are tested without a host.  An exit code above 128
is the shell's report of a signal (128 + its number).
"""

from __future__ import annotations

import contextlib
import secrets
import select
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import paramiko

from capacity.transports.base import encode_path

_CHUNK = 256 * 1024

_RUN = "__capacity_run"
_TOKEN = "__capacity_token"

DRIVER = (
    f"{_RUN}() {{ ( exec \"$@\" ) </dev/null; __capacity_rc=$?; "
    f"printf '\\000%s %d\\n' \"${_TOKEN}\" \"$__capacity_rc\"; "
    f"printf '\\000%s\\n' \"${_TOKEN}\" >&2; }}\n"
).encode()
"""Defines the function that runs one command and marks its end on both streams."""


def new_token() -> bytes:
    return secrets.token_hex(16).encode()


def command_line(token: bytes, args: Sequence[str]) -> bytes:
    """The line that makes the shell run ``args`` (an argv, never a shell string)."""
    quoted = " ".join(shlex.quote(a) for a in args)
    return f"{_TOKEN}={token.decode()}; {_RUN} ".encode() + encode_path(quoted) + b"\n"


def ping_line(token: bytes) -> bytes:
    return b"printf '\\000%s\\n' " + token + b"\n"


def ping_marker(token: bytes) -> bytes:
    return b"\0" + token + b"\n"


class Framer:
    """Separates one command's output from its end markers, chunk by chunk.

    Feed it what arrives on each stream; it returns the bytes that belong to the command
    (holding back a tail that could be the start of a marker) and records the exit code
    when the stdout marker is complete.  ``done`` once both markers have been seen.
    """

    def __init__(self, token: bytes) -> None:
        self._out_marker = b"\0" + token + b" "
        self._err_marker = b"\0" + token + b"\n"
        self._out = bytearray()
        self._err = bytearray()
        self.exit_code: int | None = None
        self.err_done = False

    @property
    def done(self) -> bool:
        return self.exit_code is not None and self.err_done

    def feed_out(self, data: bytes) -> bytes:
        if self.exit_code is not None:
            return b""  # after the marker: a background child's late output, not ours
        buf = self._out
        buf += data
        at = buf.find(self._out_marker)
        if at < 0:
            return _release(buf, len(self._out_marker))
        end = buf.find(b"\n", at + len(self._out_marker))
        if end < 0:
            payload = bytes(buf[:at])
            del buf[:at]  # keep the partial marker until its line ends
            return payload
        payload = bytes(buf[:at])
        self.exit_code = int(buf[at + len(self._out_marker):end])
        buf.clear()
        return payload

    def feed_err(self, data: bytes) -> bytes:
        if self.err_done:
            return b""
        buf = self._err
        buf += data
        at = buf.find(self._err_marker)
        if at < 0:
            return _release(buf, len(self._err_marker))
        self.err_done = True
        payload = bytes(buf[:at])
        buf.clear()
        return payload


def _release(buf: bytearray, marker_length: int) -> bytes:
    """Take from ``buf`` all but the tail that could begin a marker."""
    keep = marker_length - 1
    start = buf.rfind(b"\0", max(0, len(buf) - keep))
    cut = start if start >= 0 else len(buf)
    payload = bytes(buf[:cut])
    del buf[:cut]
    return payload


# --------------------------------------------------------------------------- channels


def read_channel(chan: paramiko.Channel, deadline: float | None,
                 done: Callable[[], bool] = lambda: False) -> Iterator[tuple[bool, bytes]]:
    """Yield (is_stderr, data) as either stream delivers, until both reach EOF or ``done()``.

    Both streams are drained as they come: a stderr left unread would eventually close the
    channel window and stall stdout too.  Raises :class:`TimeoutError` at ``deadline``.
    """
    # A pipe paramiko marks readable on data for either stream.  poll, not select: select()
    # fails on descriptors above 1024, common in busy processes.
    poller = select.poll()
    poller.register(chan.fileno(), select.POLLIN)
    out_open = err_open = True
    while (out_open or err_open) and not done():
        progressed = False
        if out_open and (chan.recv_ready() or chan.eof_received or chan.closed):
            data = chan.recv(_CHUNK)
            progressed = True
            if data:
                yield False, data
            else:
                out_open = False
        if err_open and (chan.recv_stderr_ready() or chan.eof_received or chan.closed):
            data = chan.recv_stderr(_CHUNK)
            progressed = True
            if data:
                yield True, data
            else:
                err_open = False
        if not progressed:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError("timed out")
            poller.poll(None if left is None else max(left * 1000, 1))


def close_quietly(chan: paramiko.Channel) -> None:
    """Close a channel whose work is over: on a connection that has just broken, sending the
    close fails, and that must not hide the command's own result or error."""
    with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
        chan.close()


class ShellSession:
    """One running shell on one connection.  ``lock`` is held by whoever runs a command."""

    def __init__(self, chan: paramiko.Channel) -> None:
        self.chan = chan
        self.lock = threading.Lock()

    @classmethod
    def start(cls, transport: paramiko.Transport, timeout: float) -> ShellSession:
        """Open the channel and start the shell; raises what paramiko raises."""
        chan = transport.open_session(timeout=timeout)
        try:
            chan.exec_command("exec /bin/sh")
            chan.sendall(DRIVER)
        except BaseException:
            close_quietly(chan)
            raise
        return cls(chan)

    def usable_on(self, transport: paramiko.Transport) -> bool:
        chan = self.chan
        return (not chan.closed and not chan.eof_received and not chan.exit_status_ready()
                and chan.get_transport() is transport)

    def ping(self, timeout: float) -> bool:
        """True if the shell answers now; stray output waiting before the answer is dropped."""
        token = new_token()
        marker = ping_marker(token)
        seen = bytearray()
        try:
            self.chan.sendall(ping_line(token))
            for is_err, data in read_channel(self.chan, time.monotonic() + timeout,
                                             lambda: marker in seen):
                if not is_err:
                    seen.extend(data)
                    del seen[:-len(marker) - _CHUNK]
        except (EOFError, OSError, paramiko.SSHException):  # TimeoutError is an OSError
            return False
        return marker in seen

    def send(self, line: bytes) -> None:
        self.chan.sendall(line)

    def kill(self) -> None:
        """Abandon the shell (its command, if one runs, dies when it next writes)."""
        close_quietly(self.chan)
