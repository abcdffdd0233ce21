"""What only the SSH transport must get right: host keys, connection reuse and recovery,
ssh_config, and that no file name reaches a shell unquoted."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import paramiko
import pytest

from capacity.transports import (
    CommandTimeout,
    ConnectionLost,
    HostKeyError,
    HostKeyTrusted,
    SshTarget,
    SshTransport,
    TransportError,
    open_transport,
    parse_target,
)
from tests.sshd import SshServer, make_key


def wait_until(condition: object, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


# --------------------------------------------------------------------------- host keys


def test_unknown_host_key_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError) as info:
        SshTransport(sshd.target(known_hosts=str(empty)))
    assert sshd.host_key_name in str(info.value)
    assert "SHA256:" in str(info.value)
    assert empty.read_text() == ""  # nothing was recorded


def test_missing_known_hosts_file_refuses_too(sshd: SshServer, tmp_path: Path) -> None:
    with pytest.raises(HostKeyError):
        SshTransport(sshd.target(known_hosts=str(tmp_path / "absent")))
    assert not (tmp_path / "absent").exists()


def test_key_for_another_host_does_not_count(sshd: SshServer, tmp_path: Path) -> None:
    key_type, key_b64 = sshd.host_key_line.split()[:2]
    other = tmp_path / "known_hosts"
    # Same key, but recorded for the default port: a different host:port for SSH.
    other.write_text(f"{sshd.host} {key_type} {key_b64}\n")
    with pytest.raises(HostKeyError):
        SshTransport(sshd.target(known_hosts=str(other)))


@pytest.mark.parametrize("trust_on_first_use", [False, True])
@pytest.mark.parametrize("key_kind", ["ed25519", "ecdsa"])
def test_changed_host_key_is_refused_even_with_tofu(sshd: SshServer, tmp_path: Path,
                                                    trust_on_first_use: bool,
                                                    key_kind: str) -> None:
    if key_kind == "ed25519":
        impostor = make_key(tmp_path / "impostor", "impostor")
    else:  # a recorded key of another type is a change too, not an "unknown" host
        impostor = paramiko.ECDSAKey.generate()
        impostor = f"{impostor.get_name()} {impostor.get_base64()}"
    known = tmp_path / "known_hosts"
    known.write_text(f"{sshd.host_key_name} {impostor}\n")
    before = known.read_text()
    with pytest.raises(HostKeyError) as info:
        SshTransport(sshd.target(known_hosts=str(known),
                                 trust_on_first_use=trust_on_first_use))
    assert "CHANGED" in str(info.value)
    assert known.read_text() == before  # the impostor entry was not replaced


def test_trust_on_first_use_records_the_key_then_verifies_it(sshd: SshServer,
                                                             tmp_path: Path) -> None:
    known = tmp_path / "new-dir" / "known_hosts"  # neither the file nor its dir exist
    with SshTransport(sshd.target(known_hosts=str(known), trust_on_first_use=True)) as ssh:
        assert ssh.run(["echo", "first"]).stdout == b"first\n"
    key_type, key_b64 = sshd.host_key_line.split()[:2]
    assert known.read_text() == f"{sshd.host_key_name} {key_type} {key_b64}\n"
    assert known.stat().st_mode & 0o077 == 0
    # A new connection without TOFU now trusts the recorded key.
    with SshTransport(sshd.target(known_hosts=str(known))) as ssh:
        assert ssh.run(["echo", "second"]).stdout == b"second\n"
    # And TOFU does not append it twice.
    with SshTransport(sshd.target(known_hosts=str(known), trust_on_first_use=True)) as ssh:
        ssh.run(["true"])
    assert len(known.read_text().splitlines()) == 1


def test_tofu_appends_to_an_existing_file_without_newline(sshd: SshServer,
                                                          tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    other = make_key(tmp_path / "other", "other").split()
    known.write_text(f"elsewhere.example {other[0]} {other[1]}")  # no final newline
    with SshTransport(sshd.target(known_hosts=str(known), trust_on_first_use=True)):
        pass
    lines = known.read_text().splitlines()
    assert lines[0].startswith("elsewhere.example ")
    assert lines[1].startswith(sshd.host_key_name + " ssh-ed25519 ")


def test_wrong_client_key_fails_without_password_prompt(sshd: SshServer,
                                                        tmp_path: Path) -> None:
    make_key(tmp_path / "stranger", "stranger")
    target = sshd.target(key_filename=str(tmp_path / "stranger"))
    env_sock = os.environ.pop("SSH_AUTH_SOCK", None)  # no agent key may help
    try:
        with pytest.raises(TransportError, match="authentication failed"):
            SshTransport(target)
    finally:
        if env_sock is not None:
            os.environ["SSH_AUTH_SOCK"] = env_sock


def test_missing_key_file_is_named(sshd: SshServer, tmp_path: Path) -> None:
    with pytest.raises(TransportError, match=r"key file .* not found"):
        SshTransport(sshd.target(key_filename=str(tmp_path / "no-such-key")))


def test_tofu_that_cannot_record_refuses(sshd: SshServer, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(HostKeyError, match="cannot record"):
        SshTransport(sshd.target(known_hosts=str(blocker / "known_hosts"),
                                 trust_on_first_use=True))


# --------------------------------------------------------------------------- connections


def test_one_connection_is_reused(sshd: SshServer, tmp_path: Path) -> None:
    target = sshd.target(known_hosts=sshd.known_hosts, keepalive=7)
    with SshTransport(target) as ssh:
        pt = ssh.paramiko_transport
        logins_before = sshd.log.read_bytes().count(b"Accepted publickey")
        (tmp_path / "f").write_bytes(b"x")
        for i in range(5):
            ssh.run(["true"])
            ssh.write(str(tmp_path / f"w{i}"), b"data")
            assert ssh.read(str(tmp_path / f"w{i}")) == b"data"
            assert ssh.stat(str(tmp_path / "f")) is not None
            ssh.listdir(str(tmp_path))
            ssh.free_space(str(tmp_path))
            list(ssh.stream(["echo", "x"]))
            assert ssh.paramiko_transport is pt
        with SshTransport(target) as second:  # another user of the same target shares it
            assert second.paramiko_transport is pt
            second.run(["true"])
        assert ssh.paramiko_transport is pt and pt.is_active()
        # The server saw no new login for all that work.
        assert sshd.log.read_bytes().count(b"Accepted publickey") == logins_before
    # The last user closed it.
    assert not pt.is_active()


def test_reconnects_after_the_client_side_drops(sshd: SshServer, tmp_path: Path) -> None:
    with SshTransport(sshd.target(keepalive=5)) as ssh:
        old = ssh.paramiko_transport
        old.close()
        assert ssh.run(["echo", "back"]).stdout == b"back\n"
        new = ssh.paramiko_transport
        assert new is not old and new.is_active()
        ssh.write(str(tmp_path / "after"), b"ok")
        assert ssh.read(str(tmp_path / "after")) == b"ok"


@pytest.mark.parametrize("first_op", ["run", "exists", "stat", "read", "write", "stream"])
def test_reconnects_after_the_server_drops_the_connection(sshd: SshServer, tmp_path: Path,
                                                          first_op: str) -> None:
    (tmp_path / "f").write_bytes(b"content")
    f = str(tmp_path / "f")
    with SshTransport(sshd.target(keepalive=9)) as ssh:
        old = ssh.paramiko_transport
        ssh.exists(f)  # the SFTP session is open too
        sshd.drop_connections()
        wait_until(lambda: not old.is_active())
        ops = {
            "run": lambda: ssh.run(["cat", "--", f]).stdout,
            "exists": lambda: ssh.exists(f),
            "stat": lambda: ssh.stat(f).size,  # type: ignore[union-attr]
            "read": lambda: ssh.read(f),
            "write": lambda: ssh.write(f, b"content"),
            "stream": lambda: b"".join(ssh.stream(["cat", "--", f])),
        }
        assert ops[first_op]() in (b"content", True, 7, None)
        assert ssh.paramiko_transport is not old
        assert ssh.read(f) == b"content"


def test_a_write_cut_off_by_a_drop_is_redone_under_a_fresh_temporary_name(
        sshd: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The link drops after the temporary file is written, before its rename: the first
    attempt cannot even remove it, and the retry must not trip over it (an exclusive create
    of the same name fails with a bare SFTP 'Failure')."""
    target = tmp_path / "f"
    rename = paramiko.SFTPClient.posix_rename
    dropped: list[bytes] = []

    def drop_first(sftp: paramiko.SFTPClient, old: bytes, new: bytes) -> None:
        if not dropped:
            dropped.append(old)
            sshd.drop_connections()
            wait_until(lambda: not link.is_active())
            raise EOFError("the server went away")
        rename(sftp, old, new)

    monkeypatch.setattr(paramiko.SFTPClient, "posix_rename", drop_first)
    with SshTransport(sshd.target(keepalive=7)) as ssh:
        ssh.exists(str(tmp_path))  # the SFTP session is open
        link = ssh.paramiko_transport
        ssh.write(str(target), b"content")
    assert target.read_bytes() == b"content" and dropped
    # What the cut-off attempt left is its own temporary file, whole, not the target.
    (left,) = [p for p in tmp_path.iterdir() if p != target]
    assert left.name.encode() == os.path.basename(dropped[0]) and left.read_bytes() == b"content"


def test_a_drop_during_a_command_is_connection_lost_not_a_hang(sshd: SshServer) -> None:
    with SshTransport(sshd.target(keepalive=13)) as ssh:
        it = ssh.stream(["sh", "-c", "printf started; exec sleep 60"], timeout=30)
        assert next(it) == b"started"
        start = time.monotonic()
        sshd.drop_connections()
        with pytest.raises(ConnectionLost, match="may or may not"):
            next(it)
        assert time.monotonic() - start < 10
        # The command may have had effects, so it is not re-run; the next one reconnects.
        assert ssh.run(["echo", "again"]).stdout == b"again\n"


def test_idempotent_ops_survive_a_drop_not_yet_noticed(sshd: SshServer, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with SshTransport(sshd.target(keepalive=11)) as ssh:
        ssh.exists(str(tmp_path / "f"))
        for _ in range(5):
            sshd.drop_connections()  # do not wait for the client to notice
            assert ssh.exists(str(tmp_path / "f"))
            assert ssh.run(["echo", "ok"]).stdout == b"ok\n"


def test_target_command_timeout_is_the_default_for_run(sshd: SshServer) -> None:
    with SshTransport(sshd.target(command_timeout=0.5)) as ssh:
        start = time.monotonic()
        with pytest.raises(CommandTimeout):
            ssh.run(["sleep", "10"])
        assert time.monotonic() - start < 5
        assert ssh.run(["sleep", "0"]).ok  # the connection is still usable
        assert ssh.run(["sleep", "1"], timeout=8).ok  # an explicit timeout wins


def test_closed_transport_refuses_work(sshd: SshServer) -> None:
    ssh = SshTransport(sshd.target())
    ssh.close()
    with pytest.raises(TransportError, match="closed"):
        ssh.run(["true"])


def test_unreachable_host_is_connection_lost(sshd: SshServer) -> None:
    import socket

    with socket.socket() as s:  # a port that is bound but not listening refuses at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(ConnectionLost):
            SshTransport(sshd.target(port=port, connect_timeout=3))


# --------------------------------------------------------------------------- config


def test_ssh_config_supplies_hostname_port_user_and_identity(sshd: SshServer,
                                                             tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host pacs-archive\n"
        f"    HostName {sshd.host}\n"
        f"    Port {sshd.port}\n"
        f"    User {sshd.user}\n"
        f"    IdentityFile {sshd.client_key}\n"
        f"Host *\n"
        f"    User nobody-else\n")
    target = SshTarget("pacs-archive", ssh_config=str(config), known_hosts=sshd.known_hosts)
    with SshTransport(target) as ssh:
        assert ssh.resolved.hostname == sshd.host
        assert ssh.resolved.port == sshd.port
        assert ssh.resolved.user == sshd.user
        assert ssh.resolved.key_filenames == (sshd.client_key,)
        assert ssh.run(["id", "-un"]).stdout.decode().strip() == sshd.user
    # Explicit fields beat the config, as on the ssh command line.
    explicit = SshTarget("pacs-archive", port=1, ssh_config=str(config))
    with pytest.raises(ConnectionLost):
        SshTransport(explicit)


def test_open_transport_and_parse_target(sshd: SshServer) -> None:
    target = parse_target(f"ssh://{sshd.user}@{sshd.host}:{sshd.port}",
                          key_filename=sshd.client_key, known_hosts=sshd.known_hosts,
                          ssh_config=os.devnull)
    assert target == sshd.target()
    assert parse_target("archive1") == SshTarget("archive1")
    assert parse_target("pacs@archive1") == SshTarget("archive1", user="pacs")
    assert parse_target("ssh://[::1]:2222") == SshTarget("::1", port=2222)
    with pytest.raises(ValueError):
        parse_target("http://archive1")
    with open_transport(target) as t:
        assert isinstance(t, SshTransport)
        assert t.run(["echo", "ok"]).stdout == b"ok\n"
    with open_transport("local") as t:
        assert t.run(["echo", "ok"]).stdout == b"ok\n"


# --------------------------------------------------------------------------- injection


def test_file_names_cannot_inject_commands(sshd: SshServer, tmp_path: Path) -> None:
    marker = f"INJECTED-{uuid.uuid4().hex}"
    payloads = [
        f"$(touch {marker})", f"`touch {marker}`", f"; touch {marker}", f"' ; touch {marker} #",
        f'" ; touch {marker} #', f"\ntouch {marker}\n", f"&& touch {marker}", f"| touch {marker}",
        f"$(touch${{IFS}}{marker})", f"'$(touch {marker})'",
    ]
    with SshTransport(sshd.target()) as ssh:
        home = ssh.run(["pwd"]).stdout.decode().strip()  # where an injected touch would land
        for p in payloads:
            path = str(tmp_path / p)
            ssh.write(path, b"x")
            assert ssh.stat(path) is not None
            assert ssh.read(path) == b"x"
            ssh.run(["ls", "-l", "--", path])
            assert list(ssh.stream(["cat", "--", path])) == [b"x"]
            ssh.rename(path, path + ".moved")
            ssh.mkdir(path + ".dir")
            ssh.delete_tree(path + ".dir")
            ssh.delete(path + ".moved")
        assert ssh.listdir(str(tmp_path)) == []
        for where in (home, os.getcwd(), str(tmp_path)):
            assert not os.path.exists(os.path.join(where, marker)), where
        # The check above can see an injection: the same touch, run on purpose, does land.
        ssh.run(["sh", "-c", f"cd -- \"$1\" && touch {marker}", "sh", str(tmp_path)])
        assert (tmp_path / marker).exists()


def test_free_space_df_fallback_matches_statvfs(sshd: SshServer, tmp_path: Path) -> None:
    with SshTransport(sshd.target()) as ssh:
        via_sftp = ssh.free_space(str(tmp_path))
        via_df = ssh.free_space_df(str(tmp_path))
    vfs = os.statvfs(tmp_path)
    assert via_df.total == via_sftp.total == vfs.f_blocks * vfs.f_frsize
    tolerance = 256 * 1024 * 1024
    assert abs(via_df.free - vfs.f_bfree * vfs.f_frsize) <= tolerance
    assert abs(via_df.available - vfs.f_bavail * vfs.f_frsize) <= tolerance


# --------------------------------------------------------------------------- hardening


def _keygen_fingerprint(public_line: str, tmp_path: Path) -> str:
    """The fingerprint as OpenSSH's own ssh-keygen prints it."""
    import subprocess

    pub = tmp_path / "host.pub"
    pub.write_text(public_line + "\n")
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True,
                         check=True).stdout
    return out.split()[1]


def test_trust_on_first_use_says_which_key_it_trusted(sshd: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    with pytest.warns(HostKeyTrusted) as caught:
        SshTransport(sshd.target(known_hosts=str(known), trust_on_first_use=True)).close()
    (trusted,) = [w.message for w in caught if isinstance(w.message, HostKeyTrusted)]
    assert trusted.fingerprint == _keygen_fingerprint(sshd.host_key_line, tmp_path)
    assert trusted.known_hosts == str(known)
    assert trusted.fingerprint in str(trusted)


def test_trust_on_first_use_into_dev_null_is_refused(sshd: SshServer) -> None:
    with pytest.raises(HostKeyError, match="remembers nothing"):
        SshTransport(sshd.target(known_hosts=os.devnull, trust_on_first_use=True))


def test_a_revoked_key_is_refused_even_when_also_listed(sshd: SshServer,
                                                        tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    key_type, key_b64 = sshd.host_key_line.split()[:2]
    known.write_text(sshd.known_hosts_line() + f"@revoked * {key_type} {key_b64}\n")
    with pytest.raises(HostKeyError, match="@revoked"):
        SshTransport(sshd.target(known_hosts=str(known)))


def test_a_cert_authority_line_is_no_crash(sshd: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    key_type, key_b64 = sshd.host_key_line.split()[:2]
    known.write_text(f"@cert-authority *.hospital.example {key_type} {key_b64}\n")
    with pytest.raises(HostKeyError, match="unknown host key"):  # not InvalidHostKey
        SshTransport(sshd.target(known_hosts=str(known)))
    known.write_text(f"@cert-authority * {key_type} {key_b64}\n" + sshd.known_hosts_line())
    with SshTransport(sshd.target(known_hosts=str(known))) as ssh:  # the plain line counts
        assert ssh.run(["true"]).ok


def test_match_exec_in_ssh_config_is_never_run(sshd: SshServer, tmp_path: Path) -> None:
    marker = tmp_path / "RAN"
    config = tmp_path / "ssh_config"
    config.write_text(f'Match exec "touch {marker} %h"\n    User nobody\n')
    with pytest.raises(TransportError, match="Match exec"):
        SshTransport(SshTarget(sshd.host, port=sshd.port, ssh_config=str(config),
                               known_hosts=sshd.known_hosts))
    assert not marker.exists()


def test_an_inventory_host_without_a_port_takes_ssh_configs() -> None:
    from capacity.model import Host
    from capacity.tiering.hosts import ssh_target

    assert ssh_target(Host(address="pacs1", tiers={"hot": "/srv/hot"})).port is None
    assert ssh_target(Host(address="pacs1", port=2222, tiers={"hot": "/srv/hot"})).port == 2222
