#!/usr/bin/env python3
"""Move throughput: `capacity tier apply` against what an operator would run instead, on the
same host through the same SSH server, for small studies and for a mixed PACS set.

Sets (``--set``):
  small  300 studies of 10 files of 100 kB (a PACS holds millions of small studies)
  pacs   CT studies of 600 x 0.5 MB, CR studies of 3 x 10 MB, and two multi-GB files

Tools, each moving a fresh copy of the set from one tier folder to another on the host:
  rsync      ``ssh HOST 'rsync -a --remove-source-files SRC/ DST/ && sync'``: one command
             for the whole set (rsync checks a whole-file checksum of what it transfers;
             it does not fsync, so the sync is counted)
  verified   ``ssh HOST`` a script: ``cp -a``, ``sync``, ``sha256sum`` of every file on both
             sides, compare, ``rm``: what an operator would script for a verified move
  capacity   the whole command, ``python3 -m capacity tier apply PLAN``: startup, reading
             the plan, the SSH connection and every journaled step included
  engine     the same moves in this process (Engine.run_plan), without startup

Every round times each tool once on fresh data, in an order that rotates from round to
round; the figure is the median of the per-round ratios against rsync.

Run as the user whose sshd keys it makes: python3 benchmarks/move_speed.py [--set small]
[--repeat R] [--dir DIR] [--big-gb G] [--in-flight N] [--tools rsync,engine].
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capacity.tiering.apply import Engine, Options  # noqa: E402
from capacity.tiering.audit import AuditLog  # noqa: E402
from capacity.tiering.hosts import connect  # noqa: E402
from capacity.tiering.journal import Journal  # noqa: E402
from capacity.transports import close_all  # noqa: E402
from tests.sshd import SshServer, start_sshd  # noqa: E402
from tests.tiering.pacs_tree import inventory_file, plan_from_disk, write_sealed  # noqa: E402

TOOLS = ("rsync", "verified", "capacity", "engine")


def write_study(study: Path, files: int, size: int, seed: bytes) -> int:
    study.mkdir(parents=True)
    block = (seed * (size // len(seed) + 1))[:size]
    old = time.time() - 400 * 86400  # past the policy's 180 days
    for i in range(files):
        (study / f"IM{i:05d}.dcm").write_bytes(block[i:] + block[:i])
        os.utime(study / f"IM{i:05d}.dcm", (old, old))
    return files * size


def make_set(root: Path, name: str, big_gb: float) -> int:
    """The set under root/YYYY/MM/STUDY; returns the bytes written."""
    seed = os.urandom(1 << 20)
    total = 0
    if name == "small":
        for s in range(300):
            total += write_study(root / "2024" / f"{s % 12 + 1:02d}" / f"CR-{s:04d}", 10,
                                 100_000, seed)
        return total
    for s in range(4):
        total += write_study(root / "2023" / f"{s + 1:02d}" / f"CT-{s:04d}", 600, 500_000, seed)
    for s in range(40):
        total += write_study(root / "2023" / f"{s % 12 + 1:02d}" / f"CR-{s:04d}", 3,
                             10_000_000, seed)
    for b in range(2):
        big = root / "2023" / "12" / f"WSI-{b}"
        big.mkdir(parents=True, exist_ok=True)
        with open(big / "slide.svs", "wb") as f:
            chunk = os.urandom(16 << 20)
            for _ in range(int(big_gb * 1024 / 16)):
                f.write(chunk)
                total += len(chunk)
        old = time.time() - 400 * 86400
        os.utime(big / "slide.svs", (old, old))
    return total


def units_of(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*/*") if p.is_dir())


def ssh(sshd: SshServer, script: str, *args: str) -> None:
    subprocess.run(["ssh", "-i", sshd.client_key, "-p", str(sshd.port), "-o",
                    f"UserKnownHostsFile={sshd.known_hosts}", "-o", "BatchMode=yes",
                    f"{sshd.user}@{sshd.host}", shlex.join(["sh", "-c", script, "sh", *args])],
                   check=True)


RSYNC = 'rsync -a --remove-source-files "$1/" "$2/" && sync'
VERIFIED = ('cp -a "$1/." "$2/" && sync && '
            '(cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$3.a" && '
            '(cd "$2" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$3.b" && '
            'cmp -s "$3.a" "$3.b" && find "$1" -mindepth 1 -delete')


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def move(tool: str, src: Path, dst: Path, work: Path, sshd: SshServer, in_flight: int
         ) -> float:
    roots = {"hot": src, "warm": dst}
    if tool == "rsync":
        return timed(lambda: ssh(sshd, RSYNC, str(src), str(dst)))
    if tool == "verified":
        return timed(lambda: ssh(sshd, VERIFIED, str(src), str(dst), str(work / "sums")))
    inventory = inventory_file(work, sshd, roots, host={"copies_in_flight": in_flight})
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units_of(src)])
    state = work / "state"
    if tool == "capacity":
        path = write_sealed(plan, work / "plan.json", state)
        return timed(lambda: subprocess.run(
            [sys.executable, "-m", "capacity", "tier", "apply", str(path), "--state",
             str(state)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL))
    from capacity.load import load_inventory

    inv = load_inventory(inventory)
    journal, audit = Journal(state / "journal.sqlite"), AuditLog(state / "audit.jsonl")
    engine = Engine(inv, "pacs1", connect(inv.hosts["pacs1"]), journal, audit, Options())
    seconds = timed(lambda: engine.run_plan(plan, "bench"))
    journal.close()
    audit.close()
    close_all()
    return seconds


def check_moved(src: Path, dst: Path, nbytes: int) -> None:
    left = [p for p in src.rglob("*") if p.is_file()]
    moved = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
    assert not left and moved == nbytes, (len(left), moved, nbytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("small", "pacs"), default="small")
    parser.add_argument("--big-gb", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--in-flight", type=int, default=1,
                        help="the host's copies_in_flight for capacity")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    tools = args.tools.split(",")
    base = Path(tempfile.mkdtemp(prefix="capacity-move-", dir=args.dir))
    try:
        sshd = start_sshd(base / "sshd")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; set {args.set};"
              f" data in {base}; load average {os.getloadavg()[0]:.1f}")
        rates: dict[str, list[float]] = {t: [] for t in tools}
        for round_ in range(args.repeat):
            order = tools[round_ % len(tools):] + tools[:round_ % len(tools)]
            for tool in order:
                work = base / tool
                src, dst = work / "hot", work / "warm"
                dst.mkdir(parents=True)
                nbytes = make_set(src, args.set, args.big_gb)
                subprocess.run(["sync"], check=True)
                seconds = move(tool, src, dst, work, sshd, args.in_flight)
                check_moved(src, dst, nbytes)
                rates[tool].append(nbytes / seconds)
                print(f"round {round_ + 1} {tool:>9}: {nbytes / 1e9:.2f} GB in {seconds:.2f} s"
                      f" = {nbytes / seconds / 1e6:.0f} MB/s", flush=True)
                shutil.rmtree(work)
        print(f"set {args.set}, {args.repeat} rounds, load average"
              f" {os.getloadavg()[0]:.1f} at the end; median MB/s and ratio to rsync:")
        for tool in tools:
            line = f"  {tool:>9}: {statistics.median(rates[tool]) / 1e6:5.0f} MB/s"
            if "rsync" in rates and tool != "rsync":
                ratios = [t / r for t, r in zip(rates[tool], rates["rsync"], strict=True)]
                line += (f"  ratio {statistics.median(ratios):.2f}"
                         f" (rounds {', '.join(f'{r:.2f}' for r in ratios)})")
            print(line)
        print(f"  (date {dt.date.today().isoformat()}; target: capacity >= 0.8 x rsync)")
        sshd.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
