"""A real Prometheus server for tests (Debian's ``prometheus`` package), and the exporter as
the process an operator runs, each on 127.0.0.1 at a free high port, each stopped by the
fixture that started it (and by the kernel if the test process dies first).

Prometheus runs with its own configuration and storage in a temporary folder; what it
scrapes is given as file-based service discovery (a JSON file per target in its folder),
which it watches, so a test adds a target without restarting it.  Tests read values back
through its HTTP API (``/api/v1/query``), as a dashboard or an alert rule would.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT = 30.0
PROMETHEUS = "prometheus"
PROMTOOL = "promtool"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process goes (prctl
    PR_SET_PDEATHSIG), so nothing outlives a test run even killed with SIGKILL."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def missing_tools() -> list[str]:
    return [t for t in (PROMETHEUS, PROMTOOL) if shutil.which(t) is None]


# -- Prometheus ------------------------------------------------------------------------------

@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    root: Path
    log: Path

    def scrape(self, job: str, target: str) -> None:
        """Scrape ``target`` (HOST:PORT) as job ``job`` from now on (every second)."""
        path = self.root / "targets" / f"{job}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": [target], "labels": {"job": job}}]))
        tmp.rename(path)  # whole or not at all: Prometheus watches the folder

    def api(self, endpoint: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{endpoint}?{query}",
                                    timeout=10) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector: each sample's labels and value (a float)."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return [{"labels": r["metric"], "value": float(r["value"][1])} for r in data["result"]]

    def wait_for(self, expr: str, timeout: float = 30.0,
                 until: Callable[[list[dict[str, Any]]], bool] = bool
                 ) -> list[dict[str, Any]]:
        """Query ``expr`` until ``until`` holds of its result (default: some sample)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if until(result) or time.monotonic() > deadline:
                assert until(result), (expr, result, self.targets())
                return result
            time.sleep(0.25)

    def targets(self) -> Any:
        return self.api("targets")

    def stop(self) -> None:
        _stop(self.process)


def _config(root: Path) -> str:
    return f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: ["{root / 'rules'}/*.yml"]
scrape_configs:
  - job_name: file
    file_sd_configs:
      - files: ["{root / 'targets'}/*.json"]
        refresh_interval: 1s
"""


def start_prometheus(root: Path, rules: dict[str, str] | None = None) -> PrometheusServer:
    """Prometheus on a free loopback port, its configuration and data under ``root``;
    ``rules``: rule files to evaluate (name -> text), every second."""
    (root / "targets").mkdir(parents=True, exist_ok=True)
    (root / "rules").mkdir(exist_ok=True)
    for name, text in (rules or {}).items():
        (root / "rules" / f"{name}.yml").write_text(text, encoding="utf-8")
    config = root / "prometheus.yml"
    config.write_text(_config(root), encoding="utf-8")
    port = _free_port()
    log = root / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d",
             "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root,
            preexec_fn=_die_with_parent)
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, root, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"prometheus was not ready within {START_TIMEOUT} s:\n"
                       f"{log.read_text()}")


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True,
                          check=False, timeout=60)


# -- the exporter ----------------------------------------------------------------------------

SERVING = re.compile(r"capacity exporter: serving (http://\S+)/metrics")


@dataclass
class RunningExporter:
    url: str
    """``http://HOST:PORT``."""
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")

    def scrape(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as answer:
            assert answer.status == 200
            return str(answer.read().decode("utf-8"))

    def stop(self) -> int:
        return _stop(self.process)


@contextmanager
def exporter(args: list[str], workdir: Path, env: dict[str, str] | None = None,
             timeout: float = 60.0) -> Iterator[RunningExporter]:
    """``capacity exporter ARGS --listen 127.0.0.1:0`` as a process; stopped (SIGTERM) on
    leaving, and it must then exit 0."""
    log = workdir / f"exporter-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "capacity", "exporter", *args, "--listen", "127.0.0.1:0"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
            env={**os.environ, **(env or {})}, preexec_fn=_die_with_parent)
    running = None
    try:
        deadline = time.monotonic() + timeout
        while running is None:
            found = SERVING.search(log.read_text(encoding="utf-8"))
            if found:
                running = RunningExporter(found.group(1), process, log)
            elif process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the exporter did not serve (exit {process.poll()}):\n"
                                   f"{log.read_text(encoding='utf-8')}")
            else:
                time.sleep(0.05)
        yield running
        assert running.stop() == 0, log.read_text(encoding="utf-8")
    finally:
        _stop(process)


# -- node_exporter and the Pushgateway -------------------------------------------------------

NODE_EXPORTER = "prometheus-node-exporter"  # Debian's name for node_exporter
PUSHGATEWAY = "prometheus-pushgateway"  # Debian's name for the Pushgateway


@dataclass
class Daemon:
    address: str
    """``127.0.0.1:PORT``: where it serves (for node_exporter, the target to scrape and the
    ``instance`` label it gets)."""
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def stop(self) -> int:
        return _stop(self.process)



@contextmanager
def _daemon(argv: list[str], port: int, workdir: Path) -> Iterator[Daemon]:
    """``argv`` serving /metrics on 127.0.0.1:``port``, once it answers; stopped on leaving
    (and with the test process if that dies first)."""
    log = workdir / f"{Path(argv[0]).name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=workdir,
                                   preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited {process.returncode}:\n"
                                   f"{log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                            timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        yield Daemon(f"127.0.0.1:{port}", process, log)
    finally:
        _stop(process)


@contextmanager
def node_exporter(workdir: Path) -> Iterator[Daemon]:
    """Debian's node_exporter on a free loopback port, only its filesystem collector on
    (light)."""
    port = _free_port()
    with _daemon([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}",
                  "--collector.disable-defaults", "--collector.filesystem"],
                 port, workdir) as running:
        yield running


@contextmanager
def pushgateway(workdir: Path) -> Iterator[Daemon]:
    """Debian's Pushgateway on a free loopback port, keeping what it is pushed in memory
    only (no persistence file)."""
    port = _free_port()
    with _daemon([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}",
                  "--log.level=warn"], port, workdir) as running:
        yield running
