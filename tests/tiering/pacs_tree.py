"""Real files for the engine's tests: PACS-like study trees, inventories whose host is the
test sshd, plans made straight from os.lstat (independently of the planner), and sha256
snapshots to prove nothing was lost."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
from pathlib import Path
from typing import Any

import yaml

from capacity.load import load_inventory
from capacity.tiering.binding import config_digest, plan_key, write_plan
from capacity.tiering.planfile import Plan, PlannedUnit, UnitFile
from capacity.tiering.state import StateDir
from tests.sshd import SshServer

HOSTILE = ["with space.dcm", "new\nline.dcm", "quote'single.dcm", 'quote"double.dcm',
           "-leading-dash.dcm", "$(touch PWNED).dcm", "semi;colon.dcm", "한글 영상.dcm",
           "emoji 🩻.dcm", "back\\slash.dcm"]


def make_roots(tmp: Path) -> dict[str, Path]:
    """Empty hot and warm tier roots under ``tmp``."""
    roots = {"hot": tmp / "hot", "warm": tmp / "warm"}
    for root in roots.values():
        root.mkdir()
    return roots


def make_study(root: Path, rel: str, files: int, size: int, rng: random.Random,
               names: list[str] | None = None, age_days: float = 400) -> None:
    study = root / rel
    study.mkdir(parents=True, exist_ok=True)
    when = dt.datetime.now().timestamp() - age_days * 86400
    for i in range(files):
        name = names[i] if names and i < len(names) else f"IM{i:05d}.dcm"
        path = study / name
        path.write_bytes(rng.randbytes(size))
        os.utime(path, (when, when))


def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every regular file under the roots, keyed by its name below its tier root
    (so a file is found wherever it moved)."""
    found: dict[str, str] = {}
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                if path.is_symlink():
                    continue
                rel = str(path.relative_to(root))
                found.setdefault(rel, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def inventory_file(tmp: Path, sshd: SshServer, roots: dict[str, Path],
                   policy: dict[str, Any] | None = None, host: dict[str, Any] | None = None
                   ) -> Path:
    data = {
        "name": "tier test", "as_of": "2026-11-01",
        "sites": {"s": {"role": "primary"}},
        "hosts": {"pacs1": {"address": sshd.host, "port": sshd.port, "user": sshd.user,
                            "key": sshd.client_key, "known_hosts": sshd.known_hosts,
                            "tiers": {name: str(path) for name, path in roots.items()},
                            "lock": str(tmp / "host.lock"),
                            **(host or {})}},
        "policies": {"life": {"hosts": ["pacs1"], "unit": {"depth": 3}, "rules": [
            {"name": "to-warm", "from": "hot", "to": "warm",
             "select": {"older_than": "180d"}},
            {"name": "expire", "action": "expire", "from": "warm",
             "select": {"older_than": "1y"}}], **(policy or {})}},
    }
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def plan_from_disk(inventory: Path, roots: dict[str, Path], units: list[tuple[str, str, str]],
                   action: str = "move", rule: str = "to-warm") -> Plan:
    """A plan for the given (source tier, target tier, unit path) triples, files listed from
    the disk as they are now."""
    planned = []
    for source, target, unit in units:
        base = roots[source] / unit
        paths = [base] if base.is_file() else sorted(
            p for p in base.rglob("*") if p.is_file() and not p.is_symlink())
        files = tuple(UnitFile(str(p.relative_to(roots[source])), p.lstat().st_size,
                               p.lstat().st_mtime) for p in paths)
        planned.append(PlannedUnit(
            policy="life", host="pacs1", rule=rule, action=action,  # type: ignore[arg-type]
            source=source, target=target if action == "move" else None, unit=unit,
            files=files, bytes=sum(f.size for f in files),
            newest_mtime=max((f.mtime for f in files), default=0.0), age_days=400,
            reason="test"))
    now = dt.datetime.now(dt.UTC)
    return Plan(inventory=str(inventory), created=now, now=now,
                roots={"pacs1": {name: str(path) for name, path in roots.items()}},
                units=tuple(planned), digest=config_digest(load_inventory(inventory)))


def write_sealed(plan: Plan, path: Path, *states: Path) -> Path:
    """Write the plan sealed with the key of the (first) state folder apply will use; the
    other state folders get the same key, as if they were one controller's."""
    key = plan_key(StateDir(states[0]))
    for state in states[1:]:
        state.mkdir(parents=True, exist_ok=True)
        StateDir(state).plan_key.write_bytes(key)
    write_plan(plan, path, key)
    return path
