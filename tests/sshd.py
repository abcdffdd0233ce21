"""A real OpenSSH server for tests: its own host key, client key, authorized_keys and
known_hosts in a temp dir, on 127.0.0.1 at a free high port, as the current user."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capacity.transports import SshTarget

# --------------------------------------------------------------------------- OpenSSH server

SSHD = "/usr/sbin/sshd"  # sshd must be exec'd by absolute path (it re-execs itself)
START_TIMEOUT = 15.0


def _run_keygen(path: Path, comment: str) -> str:
    """Make an ed25519 key pair; return the public line ``ssh-ed25519 AAAA... comment``."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True, stdin=subprocess.DEVNULL)
    return path.with_suffix(".pub").read_text().strip()


def make_key(path: Path, comment: str = "capacity-test") -> str:
    """A fresh ed25519 key pair at ``path``; returns its public line (for tests too)."""
    return _run_keygen(path, comment)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` from /proc (Linux), to stop what sshd forked."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        # The command name is in parentheses and may hold spaces; ppid follows it.
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"  # zombies are gone
    except OSError:
        return False


def _kill_and_wait(pids: list[int], timeout: float = 5.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.02)


@dataclass
class SshServer:
    """A running sshd that accepts ``user`` with ``client_key`` on ``host``:``port``."""

    host: str
    port: int
    user: str
    client_key: str
    host_key_line: str  # "ssh-ed25519 AAAA... comment", the server's public key
    known_hosts: str  # a known_hosts file that trusts exactly this server
    root: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def host_key_name(self) -> str:
        return f"[{self.host}]:{self.port}"

    def known_hosts_line(self) -> str:
        key_type, key_b64 = self.host_key_line.split()[:2]
        return f"{self.host_key_name} {key_type} {key_b64}\n"

    def target(self, **overrides: Any) -> SshTarget:
        """An SshTarget for this server; ssh_config and ~/.ssh are ignored by default."""
        fields: dict[str, Any] = {
            "host": self.host, "port": self.port, "user": self.user,
            "key_filename": self.client_key, "known_hosts": self.known_hosts,
            "ssh_config": os.devnull, "connect_timeout": 10.0,
        }
        fields.update(overrides)
        return SshTarget(**fields)

    def session_pids(self) -> list[int]:
        """Processes serving connections (per-connection sshd and the commands they run)."""
        return _descendants(self.process.pid)

    def drop_connections(self) -> None:
        """Cut every client connection from the server side, as a crash or reboot would."""
        _kill_and_wait(self.session_pids())

    def stop(self) -> None:
        # sshd's per-connection children call setsid(), so they are not in our process
        # group: stop them by pid, then the listener.
        self.drop_connections()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _sshd_config(root: Path, port: int, user: str, host_key: Path, authorized: Path) -> str:
    return f"""\
Port {port}
ListenAddress 127.0.0.1
AddressFamily inet
HostKey "{host_key}"
PidFile "{root / 'sshd.pid'}"
AuthorizedKeysFile "{authorized}"
AllowUsers {user}
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
MaxSessions 64
MaxStartups 64:30:128
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
LogLevel INFO
# bash sources ~/.bashrc for sshd sessions only at SHLVL 1: this keeps the controller's own
# login files (a pyenv rehash, with its lock file) out of the test host's sessions, so a
# killed session cannot leave them half done.
SetEnv SHLVL=1
"""


def start_sshd(root: Path) -> SshServer:
    """Start sshd for the current user under ``root`` and wait until it listens."""
    root.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwuid(os.geteuid()).pw_name
    host_key = root / "host_ed25519"
    host_key_line = _run_keygen(host_key, "capacity-test-host")
    client_key = root / "client_ed25519"
    authorized = root / "authorized_keys"
    authorized.write_text(_run_keygen(client_key, "capacity-test-client") + "\n")
    if os.geteuid() == 0:
        # sshd as root chroots its pre-auth child into this directory; it must exist.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log = root / "sshd.log"
    last_error = ""
    for _attempt in range(5):  # a port picked as free can be taken before sshd binds it
        port = _free_port()
        config = root / "sshd_config"
        config.write_text(_sshd_config(root, port, user, host_key, authorized))
        with open(log, "wb") as log_file:
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                    stdin=subprocess.DEVNULL, stdout=log_file,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        listening = f"Server listening on 127.0.0.1 port {port}".encode()
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end and proc.poll() is None:
            if listening in log.read_bytes():
                known_hosts = root / "known_hosts"
                server = SshServer(host="127.0.0.1", port=port, user=user,
                                   client_key=str(client_key), host_key_line=host_key_line,
                                   known_hosts=str(known_hosts), root=root, log=log,
                                   process=proc)
                known_hosts.write_text(server.known_hosts_line())
                return server
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        last_error = log.read_text(errors="replace")
        if "Address already in use" not in last_error:
            break
    raise RuntimeError(f"sshd did not start:\n{last_error}")


