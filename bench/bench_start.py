"""The service's start: from exec to its first 200 on `/healthz` (listening) and on `/readyz` (the start over: events
are logged and answered, suggestions served).

    python -m bench bench_start                                   (BENCH_ROUNDS=3 of each store)
    BENCH_BASELINE=/path/to/other/checkout python -m bench bench_start   (that code's rows too, alternating)
    BENCH_STORES=fresh,restart,postgresql …                        (which starts; postgresql needs the Debian server)

Each row runs `python -m assistant serve` (this interpreter, the row's checkout first on the path, as bench_webhook
runs a baseline) on the shipped phrase library with one matching worker: `fresh` on a new SQLite file, `restart` on
the file the row's code left at its last clean stop (a restarted instance), `postgresql` on a fresh database of a
throwaway cluster (tests/pgcluster.py). It reports the wall time to each answer, the service process's own CPU by
then (its threads, from /proc) and its matching workers' CPU by then. The codes alternate row by row, so a load that
changes during the run weighs on both; the summary gives the medians and their ratio. The load average is printed
before and after: the times are the machine's as much as the code's on a busy one, the CPU less so.

Whether the interpreter writes bytecode (`PYTHONDONTWRITEBYTECODE`, `PYTHONPYCACHEPREFIX`) is printed: without
bytecode at hand every start compiles the project's modules again. A checkout the tests ran in has its modules'
bytecode beside them (tests/service.py, `compile_project`), one they never ran in has none: compare checkouts alike
(the same code's service took 1.82-1.89 s of CPU to ready with its bytecode, against 2.21-2.28 s without; two rounds,
load average 6-7).
"""

from __future__ import annotations

import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.service import ROOT, free_port

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BASELINE = os.environ.get("BENCH_BASELINE", "")
STORES = [s for s in os.environ.get("BENCH_STORES", "fresh,restart").split(",") if s]
START_TIMEOUT_S = 300.0  # a start on a machine at a load average of 20 may take a minute
POLL_S = 0.01
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Start:
    """One start: seconds from exec to each first 200, and the CPU seconds spent by then."""

    healthz_s: float
    readyz_s: float
    cpu_s: float  # the service process's own
    workers_cpu_s: float  # its matching workers'


def _status(port: int, path: str) -> int | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()
    except OSError:
        return None


def _cpu_s(pid: int) -> float:
    """A process's user + system CPU so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat(5))


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _config(folder: Path) -> Path:
    path = folder / "config.toml"
    path.write_text(f'[phrases]\npath = "{ROOT / "phrases"}"\nworkers = 1\n', encoding="utf-8")
    return path


def start_once(root: Path, folder: Path, db: str, env: dict[str, str]) -> Start:
    """Start the service of the checkout `root` on `db`, time it to ready, and stop it cleanly."""
    port = free_port()
    command = [sys.executable, "-m", "assistant", "serve", "--config", str(_config(folder)), "--db", db]
    with (folder / "service.log").open("ab") as log:
        began = time.monotonic()
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=root,
            env={**env, "PYTHONPATH": str(root)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    healthz: float | None = None
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the service exited {proc.returncode}: see {folder / 'service.log'}")
            if time.monotonic() - began > START_TIMEOUT_S:
                raise RuntimeError(f"not ready after {START_TIMEOUT_S:.0f} s: see {folder / 'service.log'}")
            if healthz is None and _status(port, "/healthz") == 200:
                healthz = time.monotonic() - began
            if healthz is not None and _status(port, "/readyz") == 200:
                ready = time.monotonic() - began
                workers = sum(_cpu_s(child) for child in _children(proc.pid))
                start = Start(healthz, ready, _cpu_s(proc.pid), workers)
                break
            time.sleep(POLL_S)
        proc.terminate()
        if proc.wait(60) != 0:
            raise RuntimeError(f"the service's stop exited {proc.returncode}: see {folder / 'service.log'}")
        return start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    codes = [("this", ROOT)] + ([("baseline", Path(BASELINE).resolve())] if BASELINE else [])
    print("start to ready: exec → first 200 on /healthz and on /readyz (one matching worker, the shipped library)")
    print(
        f"bytecode: {'not written' if os.environ.get('PYTHONDONTWRITEBYTECODE') else 'written'}"
        f"{', cache ' + os.environ['PYTHONPYCACHEPREFIX'] if os.environ.get('PYTHONPYCACHEPREFIX') else ''}"
    )
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    cluster = None
    if "postgresql" in STORES:
        from tests.pgcluster import Cluster

        cluster = Cluster()
        cluster.start()
    top = Path(tempfile.mkdtemp(prefix="bench_start-"))
    env = dict(os.environ)
    if cluster is not None:
        from assistant.config import StoreConfig

        env[StoreConfig().password_env] = cluster.password
    results: dict[tuple[str, str], list[Start]] = {}
    try:
        for round_number in range(ROUNDS):
            for store in STORES:
                for name, root in codes:
                    folder = top / f"{name}-{store}-{round_number}"
                    folder.mkdir()
                    if store == "postgresql":
                        assert cluster is not None
                        db = cluster.database(prefix=f"start_{name}").url
                    else:
                        db = str(top / f"{name}.db")
                        if store == "fresh":
                            for stale in top.glob(f"{name}.db*"):
                                stale.unlink()
                        elif not Path(db).exists():  # a restart needs a log its code left: a first start makes it
                            start_once(root, folder, db, env)
                    start = start_once(root, folder, db, env)
                    results.setdefault((name, store), []).append(start)
                    print(
                        f"{store:10} {name:8} /healthz {start.healthz_s:6.2f} s  /readyz {start.readyz_s:6.2f} s"
                        f"  CPU: service {start.cpu_s:5.2f} s, workers {start.workers_cpu_s:5.2f} s"
                        f"  (load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
    finally:
        if cluster is not None:
            cluster.stop()
    shutil.rmtree(top, ignore_errors=True)
    print("medians:")
    for store in STORES:
        for name, _root in codes:
            runs = results.get((name, store), [])
            print(
                f"{store:10} {name:8} /healthz {_median([r.healthz_s for r in runs]):6.2f} s"
                f"  /readyz {_median([r.readyz_s for r in runs]):6.2f} s"
                f"  CPU: service {_median([r.cpu_s for r in runs]):5.2f} s,"
                f" workers {_median([r.workers_cpu_s for r in runs]):5.2f} s"
            )
        if BASELINE:
            this, base = results.get(("this", store), []), results.get(("baseline", store), [])
            ready = _median([r.readyz_s for r in this]) / _median([r.readyz_s for r in base])
            cpu = _median([r.cpu_s for r in this]) / _median([r.cpu_s for r in base])
            print(f"{store:10} this/baseline: /readyz × {ready:.2f}, the service's CPU × {cpu:.2f}")
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
