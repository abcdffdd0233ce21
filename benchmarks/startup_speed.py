#!/usr/bin/env python3
"""Whole-command speed: what a person or a script waits for, interpreter start, imports,
loading, simulating and printing included.

Baseline, measured in the same run and in turns with each command: ``python -c pass`` on
the same interpreter (what any Python command costs before it does anything).  The figure
is each command's median wall time; the ratio is against the baseline.  Also says which
heavy libraries each command imported (none of matplotlib, numpy and paramiko should load
for a command that draws no chart and reaches no host).

Run: python3 benchmarks/startup_speed.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cli.test_imports import PROBE  # noqa: E402  (the probe the test guards with)

EXAMPLE = str(ROOT / "inventories" / "medical-center.yaml")
COMMANDS = {
    "capacity --help": ["--help"],
    "capacity validate EXAMPLE": ["validate", EXAMPLE],
    "capacity show EXAMPLE --format json": ["show", EXAMPLE, "--format", "json"],
    "capacity simulate EXAMPLE --format json": ["simulate", EXAMPLE, "--format", "json"],
    "capacity simulate EXAMPLE --years 10 --format json": ["simulate", EXAMPLE, "--years", "10",
                                                           "--format", "json"],
}
def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   cwd=ROOT)
    return time.perf_counter() - start


def loading(repeat: int) -> None:
    """Loading cost by estate size: the synthetic estate of ``sim_speed.py`` at 1x, 10x and
    50x written as YAML, loaded in process (median, after a load that imports the model) and
    validated as a whole command."""
    import yaml

    from benchmarks.sim_speed import estate_data, timed
    from capacity.load import load

    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for scale in (1, 10, 50):
            files[scale] = Path(tmp) / f"x{scale}.yaml"
            files[scale].write_text(yaml.safe_dump(estate_data(2 * scale), sort_keys=False))
        load(files[1])
        base = None
        for scale, path in files.items():
            seconds = timed(lambda path=path: load(path), repeat)
            base = base or seconds
            lines = path.read_text().count("\n")
            print(f"load {scale:>2}x ({lines:>5} lines): {seconds * 1000:6.0f} ms in process,"
                  f" {seconds / base:5.1f}x the 1x time")
        big = [sys.executable, "-m", "capacity", "validate", str(files[50])]
        walls = [wall(big) for _ in range(repeat)]
        print(f"capacity validate of the 50x estate: {statistics.median(walls):.2f} s whole"
              " command")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    env_note = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {env_note}")
    print(f"{'command':<52} {'median':>8} {'baseline':>9} {'ratio':>7}  heavy imports")
    for label, cli in COMMANDS.items():
        ours: list[float] = []
        base: list[float] = []
        for _ in range(args.repeat):  # in turns: both see the same load
            ours.append(wall([python, "-m", "capacity", *cli]))
            base.append(wall([python, "-c", "pass"]))
        probe = subprocess.run([python, "-c", PROBE, *cli], capture_output=True, text=True,
                               check=False, cwd=ROOT)
        said = [x for x in probe.stderr.splitlines() if x.startswith("loaded:")]
        heavy = " ".join(said[-1].split()[1:]) if said else "?"
        mine, theirs = statistics.median(ours), statistics.median(base)
        print(f"{label:<52} {mine:>7.2f}s {theirs:>8.3f}s {mine / theirs:>6.1f}x  "
              f"{heavy or '-'}")
    loading(args.repeat)


if __name__ == "__main__":
    main()
