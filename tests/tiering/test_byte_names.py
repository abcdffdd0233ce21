"""Any byte string can be a file name: scan, plan, apply, the journal, the audit log and
every JSON output carry such names whole, as valid UTF-8 JSON."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_roots

ROOT = Path(__file__).resolve().parents[2]
# latin-1 (as an old Windows PACS export writes it), a lone continuation byte, 0xff
NAMES = [b"caf\xe9.dcm", b"\x80lone.dcm", b"\xff\xfe.dcm", "한글.dcm".encode()]


def capacity(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "capacity", *map(str, args)],
                          capture_output=True, check=False, cwd=ROOT)


def test_latin1_names_move_and_every_json_stays_valid(tmp_path: Path, sshd: SshServer) -> None:
    roots = make_roots(tmp_path)
    study = os.fsencode(roots["hot"]) + b"/2014/01/STUDY-\xe9"
    os.makedirs(study)
    old = time.time() - 400 * 86400
    want = {}
    for i, name in enumerate(NAMES):
        path = study + b"/" + name
        with open(path, "wb") as f:
            f.write(bytes([i]) * 1000)
        os.utime(path, (old, old))
        want[b"2014/01/STUDY-\xe9/" + name] = hashlib.sha256(bytes([i]) * 1000).hexdigest()
    inventory = inventory_file(tmp_path, sshd, roots)
    state = tmp_path / "state"

    assert capacity("tier", "scan", inventory, "--state", state).returncode == 0
    plan = tmp_path / "plan.json"
    run = capacity("tier", "plan", inventory, "--state", state, "--out", plan, "--format",
                   "json")
    assert run.returncode == 0, run.stderr
    json.loads(run.stdout.decode("utf-8"))  # strict UTF-8: raises on raw bytes
    planned = json.loads(plan.read_bytes().decode("utf-8"))
    assert [os.fsencode(u["unit"]) for u in planned["units"]] == [b"2014/01/STUDY-\xe9"]

    run = capacity("tier", "apply", plan, "--state", state, "--format", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout.decode("utf-8"))["hosts"][0]["done"] == 1
    moved = {}
    for folder, _dirs, files in os.walk(os.fsencode(roots["warm"])):
        for name in files:
            path = folder + b"/" + name
            with open(path, "rb") as f:
                moved[os.path.relpath(path, os.fsencode(roots["warm"]))] = (
                    hashlib.sha256(f.read()).hexdigest())
    assert moved == want
    assert not os.path.exists(study)

    audit = [json.loads(line) for line in
             (state / "audit.jsonl").read_bytes().decode("utf-8").splitlines()]
    verified = next(r for r in audit if r["step"] == "verified")
    assert {os.fsencode(f"{verified['unit']}/{p}"): h for p, h in verified["sha256"].items()
            } == want
    status = capacity("tier", "status", "--state", state, "--format", "json")
    assert status.returncode == 0
    json.loads(status.stdout.decode("utf-8"))


def test_tables_show_such_names_escaped(tmp_path: Path, sshd: SshServer) -> None:
    roots = make_roots(tmp_path)
    study = os.fsencode(roots["hot"]) + b"/2014/01/STUDY-\xe9\x1b]0;pwned\x07[bold]B"
    os.makedirs(study)
    old = time.time() - 400 * 86400
    with open(study + b"/a.dcm", "wb") as f:
        f.write(b"x" * 100)
    os.utime(study + b"/a.dcm", (old, old))
    inventory = inventory_file(tmp_path, sshd, roots)
    state = tmp_path / "state"
    assert capacity("tier", "scan", inventory, "--state", state).returncode == 0
    for args in (("tier", "plan", inventory, "--state", state, "--out", tmp_path / "p.json"),
                 ("tier", "du", inventory, "--state", state, "--depth", "3")):
        run = capacity(*args)
        assert run.returncode == 0, run.stderr
        out = run.stdout.decode("utf-8")  # valid UTF-8
        assert "\x1b" not in out and "\x07" not in out  # no terminal control reaches it
        assert "STUDY-\\xe9\\x1b]0;pwned\\x07[" in out, out  # escaped, and the markup
        assert "bold]B" in out  # shown as written (a table may wrap it), not applied
    # In JSON the name's bytes survive a round trip (os.fsencode of what json.loads gives).
    du = capacity("tier", "du", inventory, "--state", state, "--depth", "3", "--format", "json")
    units = [u["unit"] for t in json.loads(du.stdout.decode("utf-8"))["tiers"] for u in t["units"]]
    assert os.fsencode("2014/01/STUDY-\udce9\x1b]0;pwned\x07[bold]B") in map(os.fsencode, units)


def test_damaged_state_files_are_bad_input(tmp_path: Path) -> None:
    """A journal or catalogue that is not one (garbage, truncated, damaged inside): exit 2
    naming it, no traceback, and the file left as it was."""
    state = tmp_path / "state"
    state.mkdir()
    import random as _random

    garbage = _random.Random(3).randbytes(5000)
    for name, commands in (("journal.sqlite", [["tier", "status"], ["tier", "resume"]]),
                           ("catalogue.sqlite", [["tier", "du"]])):
        (state / name).write_bytes(garbage)
        for args in commands:
            run = capacity(*args, "--state", state)
            assert run.returncode == 2, run.stderr
            err = run.stderr.decode()
            assert "Traceback" not in err and f"{state / name}:1:1: not a capacity" in err
        assert (state / name).read_bytes() == garbage
        (state / name).unlink()
    # A real journal with its pages damaged past the header.
    subprocess.run([sys.executable, "-c", "from pathlib import Path;"
                    "from capacity.tiering.journal import Journal;"
                    f"j = Journal(Path({str(state / 'journal.sqlite')!r}));"
                    "[j.add(str(i), 'p', 'h', 'pol', 'r', 'move', '/a/' + str(i), '/b/',"
                    " str(i) * 200, 1, {'files': ['x' * 500] * 20}) for i in range(300)];"
                    "j.close()"], check=True, cwd=ROOT)
    path = state / "journal.sqlite"
    for leftover in state.glob("journal.sqlite-*"):
        leftover.unlink()
    data = bytearray(path.read_bytes())
    for at in range(4096, len(data) - 4096, 8192):  # every other page past the first
        data[at:at + 4096] = garbage[:4096]
    path.write_bytes(bytes(data))
    run = capacity("tier", "status", "--state", state)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr.decode()
