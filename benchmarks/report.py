"""Benchmark of the report pipeline: a report from a cold cache against its rerun on a warm cache.

Runs ``samwidgets report NAME`` twice as subprocesses with the same parameters and one fresh cache root:
the first run sweeps (every slice encoded), the second reuses the results table and hits the embedding
cache for the gallery. Prints, per run, the wall time and the CPU time of the command and its children
(the Jupyter kernel included), which is the fair figure on a machine shared with other work.

Targets (reports issue): the cold demo under 10 minutes on a 2-core machine; the warm rerun at least
10x faster than the cold run.

Run:  .venv/bin/python benchmarks/report.py [--name demo] [-p KEY VALUE ...] [--keep]
Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the children, stdout) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"report failed with exit code {proc.returncode}")
    return wall, cpu, proc.stdout.strip().splitlines()[-1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", default="demo")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"))
    ap.add_argument("--keep", action="store_true", help="keep the cache and report folders")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="samwidgets-report-bench-"))
    cmd = [sys.executable, "-m", "samwidgets", "report", args.name, "--out", str(work / "reports"),
           "-p", "cache_dir", str(work / "cache")]
    for key, value in args.p:
        cmd += ["-p", key, value]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    try:
        cold = timed(cmd)
        print(f"cold cache: wall {cold[0]:7.1f} s  cpu {cold[1]:7.1f} s  -> {cold[2]}")
        warm = timed(cmd)
        print(f"warm cache: wall {warm[0]:7.1f} s  cpu {warm[1]:7.1f} s  -> {warm[2]}")
        print(f"speed-up:   wall {cold[0] / warm[0]:.1f}x  cpu {cold[1] / warm[1]:.1f}x  "
              f"(load average {os.getloadavg()[0]:.1f} at end)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    ok = cold[0] < 600 and cold[0] / warm[0] >= 10
    print("targets met" if ok else "target missed (cold < 600 s, speed-up >= 10x)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
