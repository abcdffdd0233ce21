"""Bad input never gets a traceback: a seeded mutation fuzzer over the bundled inventories
and scenarios.  Each mutant is validated, and simulated for a year when valid; every run
must end in exit 0 or 2 with no exception escaping, within a time bound.  The case count is
CI-sized; FUZZ_CASES=2000 runs more."""

from __future__ import annotations

import contextlib
import io
import os
import random
import resource
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capacity.cli.app import app, main

ROOT = Path(__file__).resolve().parents[1]
CASES = int(os.environ.get("FUZZ_CASES", "120"))
SECONDS_PER_CASE = 20.0
MEMORY_BYTES = 3 * 2**30

HOSTILE = [".inf", "-.inf", ".nan", "1e400", "-1", "9" * 5000, "9999-12-31", "0001-01-01",
           '""', "1e9", "1000000000000", "[]", "{}", "null", "~", "true", "0", "-0.0",
           "2026-13-45", "'$(touch${IFS}X)'", "10%", "1000%/y", "0d", "99999y", "0B",
           "1e20TB", "-5TB", "1.5", "'\\x00'", "*nope", "&a [*a]", "'%'", "abc"]


def mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        kind = rng.random()
        line = lines[i]
        if kind < 0.55 and ":" in line and not line.lstrip().startswith("#"):
            key, _, _ = line.partition(":")
            lines[i] = f"{key}: {rng.choice(HOSTILE)}"
        elif kind < 0.7:
            del lines[i]
        elif kind < 0.8:
            lines.insert(i, line)
        elif kind < 0.9:
            lines[i] = line[: rng.randrange(len(line) + 1)]
        else:
            lines.insert(i, " " * rng.randrange(8) + rng.choice(HOSTILE) + ":")
        if not lines:
            lines = ["{}"]
    return "\n".join(lines) + "\n"


def seeds() -> list[tuple[str, Path]]:
    found = [("inventory", p) for p in sorted((ROOT / "inventories").glob("*.yaml"))]
    found += [("scenario", p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    return found


def run(args: list[str]) -> tuple[int, BaseException | None, float]:
    """The console entry point in this process (a subprocess a case would cost a second):
    its exit code, any exception that escaped it (a traceback for a user), and the CPU
    seconds it took (the bound is on work done, which other jobs on the machine do not
    stretch as they stretch the wall clock)."""
    started = time.process_time()
    code, exc = 0, None
    argv = sys.argv
    sys.argv = ["capacity", *args]
    global last_stderr
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except Exception as escaped:  # what a user would see as a traceback
        exc = escaped
    finally:
        sys.argv = argv
        last_stderr = err.getvalue()
    return code, exc, time.process_time() - started


last_stderr = ""
"""What the last :func:`run` printed on stderr."""


@pytest.mark.parametrize("chunk", range(4))
def test_mutated_inputs_exit_0_or_2_without_a_traceback(chunk: int, tmp_path: Path) -> None:
    rng = random.Random(2026_12_01 + chunk)
    sources = seeds()
    for case in range(CASES // 4):
        kind, source = sources[rng.randrange(len(sources))]
        text = mutate(source.read_text(), rng)
        if kind == "inventory":
            # Includes resolve next to the file: the mutant stands beside its original.
            path = source.parent / f".fuzz-{os.getpid()}-{chunk}-{case}.yaml"
            args_validate = ["validate", str(path)]
            args_sim = ["simulate", str(path), "--years", "1", "--format", "json"]
        else:
            path = tmp_path / f"scenario-{case}.yaml"
            args_validate = ["simulate", "--years", "1", "--format", "json", "-s", str(path)]
            args_sim = []
        path.write_text(text)
        try:
            for args in filter(None, (args_validate, args_sim)):
                code, exc, seconds = run(args)
                where = f"{source.name} case {case}: {args[0]}\n{text}"
                assert exc is None, f"{type(exc).__name__}: {exc} -- {where}"
                assert code in (0, 2), f"exit {code} -- {where}"
                assert seconds < SECONDS_PER_CASE, f"{seconds:.1f} s -- {where}"
                if code != 0:
                    break
        finally:
            if kind == "inventory":
                path.unlink()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert peak < MEMORY_BYTES, f"peak memory {peak / 2**30:.1f} GiB"


@pytest.mark.parametrize("text", [
    "a: &a [*a]\n",
    "x: " + "[" * 1000 + "]" * 1000 + "\n",
    "name: x\n\x00\n",
    "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n",
    "as_of: 2026-13-45\n",
    "n: " + "9" * 5000 + "\n",
], ids=["recursive alias", "nested 1000 deep", "NUL", "billion laughs", "bad date",
        "5000 digits"])
def test_hostile_yaml_is_bad_input_quickly(text: str, tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    code, exc, seconds = run(["validate", str(path)])
    assert exc is None and code == 2
    assert seconds < 10


def test_an_input_too_large_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("name: x\n" + "# padding\n" * 2_000_000)  # 20 MB
    started = time.monotonic()
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "more than the" in result.output
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(("old", "new", "words"), [
    ("growth: 5%/y", "growth: .inf", "not a finite number"),
    ("growth: 5%/y", "growth: 1e400%/y", "not a finite number"),
    ("growth: 5%/y", "growth: 5000%/y", "growth above 1000%/y is not a plan"),
    ("stored: 7.5TB", "stored: 1e400", "not a size"),
    ("as_of: 2026-11-01", "as_of: 9999-12-31", "outside the years a plan can cover"),
], ids=["growth inf", "growth 1e400", "growth 5000%", "stored 1e400", "as_of 9999"])
def test_values_out_of_bounds_are_bad_input(tmp_path: Path, old: str, new: str,
                                            words: str) -> None:
    text = (ROOT / "inventories" / "small-clinic.yaml").read_text()
    assert old in text
    path = tmp_path / "inv.yaml"
    path.write_text(text.replace(old, new))
    for args in (["validate", str(path)], ["simulate", str(path), "--years", "1"]):
        code, exc, _ = run(args)
        assert code == 2 and exc is None
        assert f"{path}:" in last_stderr and words in last_stderr, last_stderr


def test_a_start_date_past_the_calendar_is_bad_input() -> None:
    code, exc, _ = run(["simulate", "--start", "9999-01-01", "--years", "5"])
    assert code == 2 and exc is None
