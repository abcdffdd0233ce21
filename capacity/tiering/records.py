"""Plain records shared by scan, catalogue, plan and apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

FileKind = Literal["f", "l", "d", "o"]
"""Regular file, symlink, directory, other (as find's %y says)."""


class FileRecord(NamedTuple):
    """One entry found under a tier root.  ``path`` is relative to the root, POSIX, and may
    hold any byte (undecodable bytes as surrogates, see transports.base.decode_path).
    A named tuple, not a dataclass: a scan builds hundreds of thousands of them."""

    host: str
    tier: str
    path: str
    size: int
    mtime: float
    atime: float
    inode: int
    kind: FileKind


@dataclass(frozen=True, slots=True)
class TierUsage:
    """A tier's filesystem as measured when planning: watermarks act on it."""

    host: str
    tier: str
    root: str
    total: int
    used: int

    @property
    def fill(self) -> float:
        return self.used / self.total if self.total else 0.0
