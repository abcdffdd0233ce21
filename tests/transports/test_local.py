"""What only the local transport promises beyond the shared contract."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from capacity.transports import CommandTimeout, LocalTransport


def _running_with_arg(arg: str) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if arg.encode() in f.read().split(b"\0"):
                        pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.mark.parametrize("how", ["run", "stream", "stream-closed"])
def test_timeouts_and_abandoned_streams_stop_child_processes(how: str) -> None:
    marker = f"{30 + uuid.uuid4().int % 1000 / 1000:.3f}"  # a unique `sleep` argument
    argv = ["sh", "-c", f"printf x; sleep {marker}; :"]  # sh forks sleep, does not exec it
    local = LocalTransport()
    start = time.monotonic()
    if how == "run":
        with pytest.raises(CommandTimeout):
            local.run(argv, timeout=0.5)
    elif how == "stream":
        with pytest.raises(CommandTimeout):
            list(local.stream(argv, timeout=0.5))
    else:
        it = local.stream(argv)
        assert next(it) == b"x"
        it.close()
    assert time.monotonic() - start < 5  # nothing waited for the orphaned sleep
    end = time.monotonic() + 5
    while _running_with_arg(marker) and time.monotonic() < end:
        time.sleep(0.02)
    assert _running_with_arg(marker) == []
