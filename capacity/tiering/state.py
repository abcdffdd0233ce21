"""Where the engine keeps its state on the controller: the catalogue, the apply journal, the
audit log and the local locks.  One folder, by default ``$CAPACITY_STATE`` or
``~/.local/state/capacity``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_state_dir() -> Path:
    env = os.environ.get("CAPACITY_STATE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "capacity"


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def catalogue(self) -> Path:
        return self.root / "catalogue.sqlite"

    @property
    def journal(self) -> Path:
        return self.root / "journal.sqlite"

    @property
    def audit(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def plan_key(self) -> Path:
        """The key that seals plans made here (see tiering.binding)."""
        return self.root / "plan.key"

    @property
    def locks(self) -> Path:
        return self.root / "locks"
