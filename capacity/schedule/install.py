"""Writing and removing the scheduled runs' files: only ever files this tool wrote.

A file is this tool's when its first line is :data:`~capacity.schedule.units.MARK`; the
second names the inventory it was written for.  ``install`` refuses to replace a file that
is not its own, or that another inventory's install wrote, and removes its own files of
that inventory that the new set no longer has (a policy removed or renamed).  Each file is
written whole (a temporary file renamed into place), so systemd or cron never read half
of one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from capacity.errors import BadInput
from capacity.schedule.units import CRON_FILE, INVENTORY_LINE, MARK, PREFIX


@dataclass
class Changes:
    """What an install or remove did, by file name."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def owner(path: Path) -> str | None:
    """The inventory a file of ours was written for; None when it is not ours (or gone)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            first, second = f.readline().rstrip("\n"), f.readline().rstrip("\n")
    except (FileNotFoundError, IsADirectoryError):
        return None
    if first != MARK:
        return None
    return second[len(INVENTORY_LINE):] if second.startswith(INVENTORY_LINE) else ""


def _ours(name: str) -> bool:
    return name == CRON_FILE or (name.startswith(PREFIX)
                                 and name.endswith((".service", ".timer")))


def _write(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def install(folder: Path, files: Mapping[str, str], inventory: str,
            kinds: Iterable[str] = (".service", ".timer")) -> Changes:
    """Write ``files`` (name -> content) into ``folder``, and remove the files of ours for
    the same inventory of these kinds (suffixes) that ``files`` no longer has.  Nothing is
    written when any file is in the way: not ours, or another inventory's."""
    if not folder.is_dir():
        raise BadInput(f"no such folder: {folder}", field="--dir")
    for name in files:
        path = folder / name
        if path.exists() or path.is_symlink():
            found = owner(path) if path.is_file() and not path.is_symlink() else None
            if found is None:
                raise BadInput(f"{path} exists and was not written by `capacity schedule"
                               " install`: left alone; move it aside to install")
            if found != inventory:
                raise BadInput(f"{path} was written for another inventory ({found}):"
                               " remove that schedule first (`capacity schedule remove"
                               f" {found}`)")
    changes = Changes()
    for name, text in files.items():
        path = folder / name
        if path.is_file() and path.read_text(encoding="utf-8", errors="replace") == text:
            changes.unchanged.append(name)
            continue
        _write(path, text)
        changes.written.append(name)
    kinds = tuple(kinds)
    for stale in sorted(p for p in folder.iterdir() if p.name not in files
                        and p.name.endswith(kinds) and _ours(p.name)):
        if stale.is_file() and not stale.is_symlink() and owner(stale) == inventory:
            stale.unlink()
            changes.removed.append(stale.name)
    return changes


def remove(folder: Path, inventory: str | None, kinds: Iterable[str]) -> Changes:
    """Remove the files of ours of these kinds (suffixes, or the cron file's name) in
    ``folder``: those written for ``inventory``, or all of ours when None."""
    changes = Changes()
    if not folder.is_dir():
        return changes
    kinds = tuple(kinds)
    for path in sorted(folder.iterdir()):
        if not (_ours(path.name) and path.name.endswith(kinds)) or path.is_symlink():
            continue
        found = owner(path)
        if found is not None and (inventory is None or found == inventory):
            path.unlink()
            changes.removed.append(path.name)
    return changes
