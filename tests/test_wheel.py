"""A non-editable install works from any folder: the wheel carries the bundled example
inventories and scenarios, and the installed `capacity` finds them there, not in this checkout.

Builds the wheel with pip (its build requirements pinned by constraints.txt), installs it into
a fresh virtual environment and runs the commands from an empty folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PIP_CONSTRAINT": str(ROOT / "constraints.txt")}
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "wheel",
                    "--no-deps", "-w", str(where), str(ROOT)], check=True, env=env,
                   capture_output=True)
    (built,) = where.glob("capacity-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh venv with only the wheel (and its dependencies) installed."""
    where = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "PIP_CONSTRAINT": str(ROOT / "constraints.txt")}
    env.pop("PYTHONPATH", None)
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True)
    bin_dir = where / "venv" / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "--disable-pip-version-check", "-q",
                    "install", str(wheel)], check=True, env=env, capture_output=True)
    return bin_dir


def run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(bin_dir / "capacity"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False, timeout=300)


def test_the_wheel_holds_every_example_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        packed = {name: hashlib.sha256(archive.read(name)).hexdigest()
                  for name in archive.namelist() if name.startswith("capacity/examples/")}
    want = {f"capacity/examples/{path.relative_to(ROOT)}": sha256(path)
            for folder in ("inventories", "scenarios") for path in (ROOT / folder).rglob("*.yaml")}
    assert packed == want


def test_installed_commands_run_from_another_folder(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    site = installed.parent / "lib"

    simulate = run(installed, elsewhere, "simulate", "--years", "1", "--format", "json")
    assert simulate.returncode == 0, simulate.stderr
    # The example it used is the installed copy, byte for byte the checkout's.
    used = Path(simulate.stderr.split("bundled example", 1)[1].split()[0])
    assert used.is_relative_to(site)
    assert sha256(used) == sha256(ROOT / "inventories" / "medical-center.yaml")
    summary = json.loads(simulate.stdout)
    assert summary["days"] == 365

    show = run(installed, elsewhere, "show", "--format", "json")
    assert show.returncode == 0, show.stderr
    assert json.loads(show.stdout)["inventory"] == "Medical centre group PACS (example)"

    by_name = run(installed, elsewhere, "simulate", "--years", "1", "-s", "genomics",
                  "--format", "json")
    assert by_name.returncode == 0, by_name.stderr
    assert json.loads(by_name.stdout)["scenarios"] == ["genomics"]

    local = elsewhere / "mine.yaml"
    local.write_text((ROOT / "scenarios" / "lead-time-doubles.yaml").read_text())
    by_path = run(installed, elsewhere, "simulate", "--years", "1", "-s", "mine.yaml",
                  "--format", "json")
    assert by_path.returncode == 0, by_path.stderr

    unknown = run(installed, elsewhere, "simulate", "-s", "no-such-scenario")
    assert unknown.returncode == 2
    assert "bundled: compression-drops" in unknown.stderr
