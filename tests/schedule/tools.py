"""What the schedule tests share: the system tools they check against (systemd-analyze,
promtool), found or skipped (failing under CI, which installs them: scripts/test-all)."""

from __future__ import annotations

import os
import shutil

import pytest


def need(tool: str, package: str) -> str:
    found = shutil.which(tool) or (f"/usr/bin/{tool}" if os.access(f"/usr/bin/{tool}",
                                                                    os.X_OK) else None)
    if found is None:
        message = f"{tool} not installed (Debian package {package}; scripts/test-all installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found
