"""Plain records shared by scan, catalogue, plan and apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
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


@dataclass(slots=True)
class Entries:
    """Entries of one tier column by column, as the scanner parses them and the catalogue
    stores them: no object per entry on the hot path of a scan.  ``paths`` are the host's
    raw bytes (relative to the root)."""

    kinds: list[FileKind] = field(default_factory=list)
    paths: list[bytes] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes: list[float] = field(default_factory=list)
    atimes: list[float] = field(default_factory=list)
    inodes: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def extend(self, other: Entries) -> None:
        self.kinds += other.kinds
        self.paths += other.paths
        self.sizes += other.sizes
        self.mtimes += other.mtimes
        self.atimes += other.atimes
        self.inodes += other.inodes

    def records(self, host: str, tier: str) -> list[FileRecord]:
        paths = map(bytes.decode, self.paths, repeat("utf-8"), repeat("surrogateescape"))
        return list(map(FileRecord, repeat(host), repeat(tier), paths, self.sizes,
                        self.mtimes, self.atimes, self.inodes, self.kinds))


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
