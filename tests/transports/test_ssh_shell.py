"""The SSH transport's long-lived shell: the framing of each command's output (pure, with
every chunk split), and its behaviour against a real sshd."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from capacity.transports import CommandTimeout, SshTransport
from capacity.transports.ssh_shell import Framer, new_token
from tests.sshd import SshServer

# --------------------------------------------------------------------------- framing

TOKEN = new_token()
NEAR_MISSES = [b"\0", b"\0" + TOKEN[:5], b"\0" + TOKEN, b"\0" + TOKEN + b"x", TOKEN]


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


payloads = st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(NEAR_MISSES)),
                    max_size=8).map(b"".join)


@given(out=payloads, err=payloads, code=st.integers(0, 255),
       out_cuts=st.lists(st.integers(0, 400), max_size=12),
       err_cuts=st.lists(st.integers(0, 400), max_size=12), err_first=st.booleans())
@settings(max_examples=400, deadline=None)
def test_framer_returns_exactly_the_output_and_exit_code(
        out: bytes, err: bytes, code: int, out_cuts: list[int], err_cuts: list[int],
        err_first: bool) -> None:
    # The token is fresh random bits per command: its output cannot hold a marker.
    assume(b"\0" + TOKEN + b" " not in out and b"\0" + TOKEN + b"\n" not in err)
    # What the driver prints: the command's bytes, then each stream's end marker.
    stdout = out + b"\0" + TOKEN + b" " + str(code).encode() + b"\n"
    stderr = err + b"\0" + TOKEN + b"\n"
    framer = Framer(TOKEN)
    got_out = bytearray()
    got_err = bytearray()
    outs, errs = _split(stdout, out_cuts), _split(stderr, err_cuts)
    order = [(True, c) for c in errs] + [(False, c) for c in outs] if err_first else \
        [(False, c) for c in outs] + [(True, c) for c in errs]
    for is_err, chunk in order:
        assert not framer.done
        if is_err:
            got_err += framer.feed_err(chunk)
        else:
            got_out += framer.feed_out(chunk)
    assert framer.done and framer.exit_code == code
    assert bytes(got_out) == out and bytes(got_err) == err


def test_framer_ignores_output_after_its_marker() -> None:
    framer = Framer(TOKEN)
    assert framer.feed_out(b"mine\0" + TOKEN + b" 0\nlate") == b"mine"
    assert framer.feed_out(b"later still") == b""
    assert framer.feed_err(b"\0" + TOKEN + b"\nlate") == b""
    assert framer.done


def test_another_commands_marker_is_just_output() -> None:
    framer = Framer(TOKEN)
    other = new_token()
    data = b"\0" + other + b" 3\n"
    assert framer.feed_out(data) + framer.feed_out(b"\0" + TOKEN + b" 1\n") == data
    assert framer.exit_code == 1


# --------------------------------------------------------------------------- a real sshd


def _parent_pid(ssh: SshTransport) -> bytes:
    return ssh.run(["sh", "-c", "echo $PPID"]).stdout


def test_commands_share_one_shell(sshd: SshServer) -> None:
    """No login shell (and its rc files) per command: every command's parent is the same
    long-lived shell."""
    with SshTransport(sshd.target()) as ssh:
        parents = {_parent_pid(ssh) for _ in range(5)}
        assert len(parents) == 1
        # Its state does not leak from one command to the next.
        assert ssh.run(["sh", "-c", "cd /; export X=1; pwd"]).stdout == b"/\n"
        assert ssh.run(["sh", "-c", 'echo "${X:-unset}"']).stdout == b"unset\n"


def test_a_timed_out_command_costs_its_shell_not_the_next_command(sshd: SshServer) -> None:
    with SshTransport(sshd.target()) as ssh:
        before = _parent_pid(ssh)
        try:
            ssh.run(["sleep", "10"], timeout=0.3)
        except CommandTimeout:
            pass
        else:
            raise AssertionError("no timeout")
        assert ssh.run(["echo", "next"]).stdout == b"next\n"
        assert _parent_pid(ssh) != before  # a fresh shell: the old one was mid-command


def test_an_abandoned_stream_is_not_read_by_the_next_command(sshd: SshServer) -> None:
    with SshTransport(sshd.target()) as ssh:
        it = ssh.stream(["sh", "-c", "echo first; sleep 0.2; yes stale | head -c 1000000"])
        assert next(it).startswith(b"first")
        it.close()
        assert ssh.run(["echo", "clean"]).stdout == b"clean\n"


def test_late_output_of_a_background_child_is_dropped(sshd: SshServer, tmp_path: Path) -> None:
    with SshTransport(sshd.target()) as ssh:
        ssh.run(["sh", "-c", "(sleep 0.3; echo stray; echo stray >&2) &"])
        time.sleep(0.6)
        result = ssh.run(["echo", "mine"])
        assert (result.stdout, result.stderr) == (b"mine\n", b"")


def test_concurrent_commands_on_one_connection(sshd: SshServer) -> None:
    """The shell runs one command at a time; others meanwhile get channels of their own."""
    with SshTransport(sshd.target()) as ssh:
        results: list[bytes] = []
        lock = threading.Lock()

        def work(i: int) -> None:
            for j in range(5):
                out = ssh.run(["sh", "-c", f"sleep 0.0{j}; echo {i}-{j}"]).stdout
                with lock:
                    results.append(out)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == sorted(f"{i}-{j}\n".encode() for i in range(4)
                                         for j in range(5))


def test_a_killed_shell_is_replaced_before_the_command_is_sent(sshd: SshServer) -> None:
    with SshTransport(sshd.target()) as ssh:
        shell_pid = _parent_pid(ssh).strip()
        # Kill the shell from outside (sshd is local): the ping finds it gone, and the
        # command goes to a fresh shell.
        os.kill(int(shell_pid), signal.SIGKILL)
        assert ssh.run(["echo", "fine"]).stdout == b"fine\n"
        assert _parent_pid(ssh).strip() != shell_pid
