#!/usr/bin/env python3
"""Scan speed: ``capacity tier scan`` against the bare ``find`` it runs on the host.

Builds (once, then reuses) a PACS-like tree of small files, ROOT/YYYY/MM/STUDY/ with about
200 files a study, and times, each on a warm cache:

* ``find`` with our exact arguments, output to /dev/null: the floor, no parsing, no database;
* ``scan_tier`` with the local transport into a fresh catalogue (first scan: all inserts);
* ``scan_tier`` again into the same catalogue (a full rescan: a new generation, the old
  dropped), and an incremental rescan after a late image lands in 1% of the studies;
* ``scan_tier`` over SSH to a throwaway local sshd (skipped if OpenSSH is not installed),
  fresh and incremental after 1% changed.

Targets: ours/find >= 0.5 (the scan should cost at most twice the walk itself), and a
rescan with 1% changed at most a third of a fresh scan ("of fresh", each against the fresh
scan over the same transport, in the same run).

Run: python3 benchmarks/scan_speed.py [--dir DIR] [--files N] [--repeat N]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.sshd, and capacity when not installed

from capacity.tiering.catalog import Catalogue  # noqa: E402
from capacity.tiering.scan import ScanResult, find_argv, scan_tier  # noqa: E402
from capacity.transports import LocalTransport, SshTransport, Transport  # noqa: E402

PER_STUDY = 200
STUDIES_PER_MONTH = 40


def build_tree(root: Path, files: int) -> None:
    """ROOT/YYYY/MM/STUDY/IMGnnnn.dcm, tiny contents; reused when already complete."""
    marker = root / f".built-{files}"
    if marker.exists():
        return
    if root.exists():
        shutil.rmtree(root)
    made = 0
    study = 0
    payload = b"DICM"
    while made < files:
        year, month = 2015 + study // (12 * STUDIES_PER_MONTH), 1 + study // STUDIES_PER_MONTH % 12
        folder = root / f"{year:04d}" / f"{month:02d}" / f"1.2.410.200001.{study:07d}"
        folder.mkdir(parents=True)
        for i in range(min(PER_STUDY, files - made)):
            fd = os.open(folder / f"IM{i:05d}.dcm", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, payload)
            os.close(fd)
        made += min(PER_STUDY, files - made)
        study += 1
    marker.touch()


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (find), user + system."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time of ``repeat`` calls, in seconds.  CPU time
    barely moves when other work shares the machine; wall time does."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, start = cpu_seconds(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def bare_find(root: Path) -> None:
    subprocess.run(find_argv(str(root)), stdout=subprocess.DEVNULL, check=True)


def scan_fresh(transport: Transport, root: Path, work: Path) -> ScanResult:
    db = work / f"fresh-{time.monotonic_ns()}.sqlite"
    with Catalogue(db) as catalogue:
        result = scan_tier(transport, catalogue, "bench", "hot", str(root))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return result


def scan_again(transport: Transport, root: Path, db: Path, full: bool = True) -> ScanResult:
    with Catalogue(db) as catalogue:
        return scan_tier(transport, catalogue, "bench", "hot", str(root), full=full)


_ROUNDS = itertools.count()


def change_one_percent(root: Path) -> None:
    """A late image into 1% of the studies (a different 1% each round), as a PACS does.
    Named for this process and round: an image written again under a name the tree (kept
    between runs) already holds would change no folder, and so nothing to rescan."""
    round_ = next(_ROUNDS)
    studies = sorted(root.glob("*/*/*"))
    for study in studies[round_ % 100::100]:
        (study / f"LATE{os.getpid()}-{round_:04d}.dcm").write_bytes(b"DICM")


def timed_after_change(fn: Callable[[], ScanResult], root: Path, repeat: int
                       ) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        change_one_percent(root)
        cpu, start = cpu_seconds(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


CHILD = """
import resource, sys
sys.path.insert(0, sys.argv[3])
from capacity.tiering.catalog import Catalogue
from capacity.tiering.scan import scan_tier
from capacity.transports import LocalTransport
with Catalogue(__import__("pathlib").Path(sys.argv[2])) as catalogue:
    scan_tier(LocalTransport(), catalogue, "bench", "hot", sys.argv[1],
              full=sys.argv[4] == "True")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_memory(root: Path, db: Path, full: str = "True") -> int:
    """Peak resident memory (bytes) of a process that scans ``root`` into ``db``."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), str(db), str(ROOT), full],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1]) * 1024


def on_disk(db: Path) -> int:
    return sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal")
               if Path(f"{db}{s}").exists())


def ssh_transport(work: Path) -> tuple[Transport, Callable[[], None]] | None:
    try:
        from tests.sshd import SSHD, start_sshd
    except ImportError:
        return None
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None:
        return None
    home = Path(tempfile.mkdtemp(prefix="sshd-", dir=work))  # fresh keys every run
    server = start_sshd(home)
    transport = SshTransport(server.target())

    def stop() -> None:
        transport.close()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)

    return transport, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) /
                        "capacity-scan-bench", help="where the tree is built (and kept)")
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-ssh", action="store_true", help="skip the SSH measurement")
    args = parser.parse_args()

    tree = args.dir / "tree"
    start = time.perf_counter()
    build_tree(tree, args.files)
    print(f"tree: {tree} ({args.files:,} files, {PER_STUDY} a study), ready in"
          f" {time.perf_counter() - start:.1f} s")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")

    local = LocalTransport()
    bare_find(tree)  # warm the inode cache so every run below walks the same way
    entries = scan_fresh(local, tree, args.dir).entries
    # (name, (wall, CPU), the row of the fresh scan over the same transport)
    rows: list[tuple[str, tuple[float, float], int | None]] = [
        ("find -printf > /dev/null", timed(lambda: bare_find(tree), args.repeat), None)]
    rows.append(("scan_tier, local, fresh catalogue",
                 timed(lambda: scan_fresh(local, tree, args.dir), args.repeat), 1))
    db = args.dir / "rescan.sqlite"
    scan_again(local, tree, db)
    rows.append(("scan_tier, local, full rescan", timed(lambda: scan_again(local, tree, db),
                                                        args.repeat), 1))
    rows.append(("scan_tier, local, rescan, 1% changed", timed_after_change(
        lambda: scan_again(local, tree, db, full=False), tree, args.repeat), 1))
    ssh = None if args.no_ssh else ssh_transport(args.dir)
    if ssh is not None:
        transport, stop = ssh
        try:
            fresh = len(rows)
            rows.append(("scan_tier, ssh to localhost, fresh catalogue",
                         timed(lambda: scan_fresh(transport, tree, args.dir), args.repeat),
                         fresh))
            rows.append(("scan_tier, ssh, rescan, 1% changed", timed_after_change(
                lambda: scan_again(transport, tree, db, full=False), tree, args.repeat),
                fresh))
        finally:
            stop()

    fresh_db = args.dir / "memory.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{fresh_db}{suffix}").unlink(missing_ok=True)
    fresh_peak = peak_memory(tree, fresh_db)
    fresh_size = on_disk(fresh_db)
    rescan_peak = peak_memory(tree, fresh_db, "True")
    rescan_size = on_disk(fresh_db)
    change_one_percent(tree)
    changed_peak = peak_memory(tree, fresh_db, "False")
    print(f"peak memory: fresh scan {fresh_peak / 2**20:.0f} MiB, full rescan"
          f" {rescan_peak / 2**20:.0f} MiB, rescan with 1% changed"
          f" {changed_peak / 2**20:.0f} MiB; catalogue on disk: after the first scan"
          f" {fresh_size / 1e6:.1f} MB, after a full rescan {rescan_size / 1e6:.1f} MB, after"
          f" a rescan with 1% changed {on_disk(fresh_db) / 1e6:.1f} MB, the rescanned one"
          f" above (after {3 * args.repeat + 1} scans) {on_disk(db) / 1e6:.1f} MB")

    floor, floor_cpu = rows[0][1]
    print(f"\n{entries:,} entries (files and directories), median of {args.repeat};"
          f" load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("CPU = this process and find; over SSH the server's sshd and find are not counted\n")
    print(f"{'':45} {'wall s':>7} {'entries/s':>10} {'vs find':>8} {'of fresh':>8}"
          f" {'CPU s':>7} {'vs find':>8}")
    for name, (wall, cpu), base in rows:
        share = "" if base is None else f"{wall / rows[base][1][0]:.2f}"
        print(f"{name:45} {wall:7.2f} {entries / wall:10,.0f} {floor / wall:7.2f}x"
              f" {share:>8} {cpu:7.2f} {floor_cpu / cpu:7.2f}x")


if __name__ == "__main__":
    main()
