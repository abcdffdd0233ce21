#!/usr/bin/env python3
"""Move throughput: `capacity tier apply` against `rsync -a --remove-source-files` on the same
host, for a PACS-like set (studies of 200 files of about 500 KB, plus a few multi-GB files).

Both verify: rsync checks a whole-file checksum of every file it transfers; the engine
hashes source and copy with sha256 on the host before the rename.  The engine runs as in
production, through SSH (a local sshd started here) with the data moving on the host itself.

Run as the user whose sshd keys it makes: python3 benchmarks/move_speed.py [--studies N]
[--big-gb G] [--repeat R] [--dir DIR]; each round times both on fresh data, and the figure
is the median ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capacity.model import Inventory  # noqa: E402
from capacity.tiering.apply import Engine, Options  # noqa: E402
from capacity.tiering.audit import AuditLog  # noqa: E402
from capacity.tiering.hosts import connect  # noqa: E402
from capacity.tiering.journal import Journal  # noqa: E402
from capacity.tiering.planfile import Plan, PlannedUnit, UnitFile  # noqa: E402
from capacity.transports import close_all  # noqa: E402
from tests.sshd import start_sshd  # noqa: E402


def make_set(root: Path, studies: int, big_gb: float) -> int:
    """Studies of 200 x 500 kB, and two big files; returns the bytes written."""
    total = 0
    block = os.urandom(500_000)
    for s in range(studies):
        study = root / "2024" / f"{s % 12 + 1:02d}" / f"STUDY-{s:04d}"
        study.mkdir(parents=True)
        for i in range(200):
            (study / f"IM{i:05d}.dcm").write_bytes(block[i:] + block[:i])
            total += len(block)
    for b in range(2):
        big = root / "2024" / "12" / f"WSI-{b}"
        big.mkdir(parents=True, exist_ok=True)
        with open(big / "slide.svs", "wb") as f:
            chunk = os.urandom(16 << 20)
            for _ in range(int(big_gb * 1024 / 16)):
                f.write(chunk)
                total += len(chunk)
    return total


def units_of(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*/*") if p.is_dir())


def time_rsync(src: Path, dst: Path) -> float:
    start = time.perf_counter()
    for unit in units_of(src):
        target = dst / unit.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["rsync", "-a", "--remove-source-files", f"{unit}/", f"{target}/"],
                       check=True)
    subprocess.run(["sync"], check=True)
    return time.perf_counter() - start


def time_engine(src: Path, dst: Path, state: Path, sshd) -> float:
    inv = Inventory.model_validate({
        "name": "bench", "as_of": "2026-11-01", "sites": {"s": {"role": "primary"}},
        "hosts": {"h": {"address": sshd.host, "port": sshd.port, "user": sshd.user,
                        "key": sshd.client_key, "known_hosts": sshd.known_hosts,
                        "lock": str(state / "lock"),
                        "tiers": {"hot": str(src), "warm": str(dst)}}},
        "policies": {"p": {"hosts": ["h"], "unit": {"depth": 3},
                           "rules": [{"name": "r", "from": "hot", "to": "warm"}]}}})
    units = []
    for unit in units_of(src):
        files = tuple(UnitFile(str(p.relative_to(src)), p.stat().st_size, p.stat().st_mtime)
                      for p in sorted(unit.iterdir()))
        units.append(PlannedUnit("p", "h", "r", "move", "hot", "warm",
                                 str(unit.relative_to(src)), files,
                                 sum(f.size for f in files),
                                 max(f.mtime for f in files), 0, "benchmark"))
    now = dt.datetime.now(dt.UTC)
    plan = Plan("bench", now, now, {"h": {"hot": str(src), "warm": str(dst)}}, tuple(units))
    journal, audit = Journal(state / "journal.sqlite"), AuditLog(state / "audit.jsonl")
    engine = Engine(inv, "h", connect(inv.hosts["h"]), journal, audit, Options())
    start = time.perf_counter()
    report = engine.run_plan(plan, "bench")
    seconds = time.perf_counter() - start
    journal.close()
    audit.close()
    assert report.done == len(units), report
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=20)
    parser.add_argument("--big-gb", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds, each timing rsync then capacity on fresh data")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="capacity-move-", dir=args.dir))
    try:
        sshd = start_sshd(base / "sshd")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; data in {base};"
              f" load average {os.getloadavg()[0]:.1f}")
        rates: dict[str, list[float]] = {"rsync": [], "capacity": []}
        for round_ in range(args.repeat):
            for name in ("rsync", "capacity"):
                src, dst = base / name / "hot", base / name / "warm"
                src.mkdir(parents=True)
                dst.mkdir(parents=True)
                nbytes = make_set(src, args.studies, args.big_gb)
                subprocess.run(["sync"], check=True)
                seconds = (time_rsync(src, dst) if name == "rsync"
                           else time_engine(src, dst, base / f"state{round_}", sshd))
                rates[name].append(nbytes / seconds)
                print(f"round {round_ + 1} {name:>8}: {nbytes / 1e9:.2f} GB in {seconds:.1f} s"
                      f" = {nbytes / seconds / 1e6:.0f} MB/s")
                shutil.rmtree(base / name)
        ratios = [c / r for c, r in zip(rates["capacity"], rates["rsync"], strict=True)]
        print(f"median: rsync {statistics.median(rates['rsync']) / 1e6:.0f} MB/s, capacity"
              f" {statistics.median(rates['capacity']) / 1e6:.0f} MB/s; ratio capacity / rsync"
              f" {statistics.median(ratios):.2f} (rounds: "
              f"{', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.8);"
              f" load average {os.getloadavg()[0]:.1f}")
        close_all()
        sshd.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
