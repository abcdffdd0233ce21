"""A bucket tier as its manifests say it is: the scan's view of the archive.

A unit is in the archive exactly when its manifest is, so the scan catalogues a bucket tier
from its manifests, not from its listing: each archived unit's files with the sizes and
mtimes they had on the file tier (so a study's age, and its expiry, count from its images'
dates, not from the day it was uploaded), and nothing a manifest does not list (a cut-off
upload's objects are not the archive's).  One listing of the tier, and one read per unit
whose manifest is new or changed since the last scan (a cache in the state folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from capacity.tiering.archive import MANIFEST
from capacity.transports import FileStat, TransportError
from capacity.transports.s3 import S3Target, S3Transport

_FILE = stat.S_IFREG | 0o644
_DIR = stat.S_IFDIR | 0o755


def unit_of_manifest(rel: str) -> tuple[str, bool] | None:
    """(the unit, whether it is a directory) a manifest at ``rel`` describes; None when
    ``rel`` is not a manifest."""
    if rel == MANIFEST:
        return None  # the tier root is never a unit
    if rel.endswith("/" + MANIFEST):
        return rel[: -len(MANIFEST) - 1], True
    if rel.endswith(MANIFEST) and rel.rpartition("/")[2] != MANIFEST:
        return rel[: -len(MANIFEST)], False  # beside a single-file unit's object
    return None


class ArchiveView(S3Transport):
    """An S3 transport whose ``walk`` lists the archived units' files from their
    manifests.

    With a ``cache`` file, a rescan is incremental: the listing gives each manifest's
    ETag, size and time (one token, :attr:`FileStat.inode` and size: a new version of a
    manifest has another), and only a manifest whose token differs from the one the cache
    recorded, or that it does not know, is read; the others' files come from the cache.
    ``reread`` (a full scan) reads every one.  The cache is rewritten after each walk that
    ends, with the manifests it saw; one that cannot be read is as none."""

    def __init__(self, target: S3Target, *, client: Any = None, cache: Path | None = None,
                 reread: bool = False) -> None:
        super().__init__(target, client=client)
        self.cache = cache
        self.reread = reread
        self.read_manifests = 0
        """How many manifests the last walk read from the store."""

    def walk(self, path: str) -> Iterator[tuple[str, FileStat]]:
        tokens = {rel: f"{st.inode}:{st.size}" for rel, st in super().walk(path)
                  if not st.is_dir and unit_of_manifest(rel) is not None}
        known = {} if self.reread else self._cached(path)
        fresh: dict[str, Any] = {}
        self.read_manifests = 0
        yield "", FileStat(0, 0.0, 0.0, _DIR, _inode(path), True, False)
        seen: set[str] = set()
        for rel in sorted(tokens):
            found = unit_of_manifest(rel)
            assert found is not None
            unit, is_dir = found
            entry, files = known.get(rel), None
            if isinstance(entry, dict) and entry.get("token") == tokens[rel]:
                try:
                    files = list(_files(entry["manifest"], unit, is_dir))
                except (KeyError, TypeError, ValueError, AttributeError):
                    files = None  # not what a scan wrote: read the manifest again
            if files is None:
                entry = {"token": tokens[rel], "manifest": self._manifest(path, rel)}
                files = list(_files(entry["manifest"], unit, is_dir))
                self.read_manifests += 1
            fresh[rel] = entry
            for name, st in files:
                parts = name.split("/")
                for depth in range(1, len(parts)):
                    folder = "/".join(parts[:depth])
                    if folder not in seen:
                        seen.add(folder)
                        yield folder, FileStat(0, 0.0, 0.0, _DIR, _inode(folder), True, False)
                yield name, st
        self._remember(path, fresh)

    def _cached(self, root: str) -> dict[str, Any]:
        if self.cache is None:
            return {}
        try:
            data = json.loads(self.cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("tier") != self._where(root):
            return {}
        manifests = data.get("manifests")
        return manifests if isinstance(manifests, dict) else {}

    def _remember(self, root: str, manifests: dict[str, Any]) -> None:
        if self.cache is None:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        partial = self.cache.with_name(self.cache.name + ".partial")
        partial.write_text(json.dumps({"tier": self._where(root), "manifests": manifests},
                                      ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.cache)

    def _where(self, root: str) -> str:
        """What the cache was made of: the store, bucket and prefix (another is not it)."""
        return f"{self.target.endpoint}|{self.target.bucket}|{self.key(root)}"

    def _manifest(self, root: str, rel: str) -> dict[str, Any]:
        where = f"{root.rstrip('/')}/{rel}"
        try:
            data = json.loads(self.read(where))
        except ValueError as exc:
            raise TransportError(f"{where}: not a manifest ({exc})", path=where,
                                 host=self.label) from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), list):
            raise TransportError(f"{where}: not a manifest (no files)", path=where,
                                 host=self.label)
        return data


def _files(manifest: dict[str, Any], unit: str, is_dir: bool
           ) -> Iterator[tuple[str, FileStat]]:
    for f in sorted(manifest["files"], key=lambda f: str(f.get("path", ""))):
        name = f"{unit}/{f['path']}" if is_dir else unit
        mtime = float(f["mtime"])
        yield name, FileStat(int(f["size"]), mtime, mtime, _FILE,
                             _inode(f"{name}\0{f.get('sha256', '')}"), False, False)


def _inode(key: str) -> int:
    """A stable number for an entry (S3 has no inodes): from its name and content's sum."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8],
                          "big") >> 1
