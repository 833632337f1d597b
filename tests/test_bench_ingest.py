"""The ingest benchmark's accounting: CPU per process tree, and waiting for queued frames."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from types import SimpleNamespace

from cryptoflow.benchmarks import ingest

# a parent that starts a busy child (like a simulator with worker processes); both end by themselves
_CHILD = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\ntime.sleep(1.5)\n"
_TREE = (
    "import subprocess, sys, time\n"
    f"c = subprocess.Popen([sys.executable, '-c', {_CHILD!r}])\n"
    "sys.stdout.write('go\\n'); sys.stdout.flush(); c.wait()\n"
)


def test_tree_cpu_counts_the_children_of_the_simulator() -> None:
    p = subprocess.Popen([sys.executable, "-c", _TREE], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline() == "go\n"
        t0 = time.monotonic()
        while ingest._tree_cpu_s(p.pid) < 0.5 and time.monotonic() - t0 < 20:
            time.sleep(0.1)
        total = ingest._tree_cpu_s(p.pid)
        own = ingest._tree_cpu_s(-1)  # no such process: nothing
        assert total >= 0.5  # the child's busy loop (0.6 s of CPU) is counted under the parent
        assert own == 0.0
    finally:
        p.wait(timeout=30)


def test_self_and_machine_cpu_advance_with_work() -> None:
    c0, m0 = ingest._self_cpu_s(), ingest._machine_busy_s()
    t = time.process_time()
    while time.process_time() - t < 0.2:
        pass
    assert ingest._self_cpu_s() - c0 >= 0.15
    assert ingest._machine_busy_s() - m0 >= 0.15


def test_drained_waits_until_no_more_frames_arrive() -> None:
    session = SimpleNamespace(stats=SimpleNamespace(frames=0))
    rt = SimpleNamespace(collector=SimpleNamespace(sessions=[session]))

    async def go() -> tuple[int, float]:
        async def trickle() -> None:  # the collector still reading what the simulator left queued
            for _ in range(6):
                await asyncio.sleep(0.2)
                session.stats.frames += 100

        task = asyncio.create_task(trickle())
        t0 = time.monotonic()
        n = await ingest._drained(rt, quiet_s=0.5)  # type: ignore[arg-type]
        await task
        return n, time.monotonic() - t0

    n, took = asyncio.run(go())
    assert n == 600  # a fixed short wait would have stopped counting part-way
    assert took >= 1.2


def test_bench_ingest_command_end_to_end_at_a_rate_it_sustains() -> None:
    """The benchmark through its real command: a short low-rate run keeps up, stores book deltas and
    reports every key the issue asks for."""
    import json

    r = subprocess.run([sys.executable, "-m", "cryptoflow.cli", "bench", "ingest", "--seconds", "3", "--rate", "1",
                        "--json"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("events_per_s", "decode_only_events_per_s", "ratio_to_decode", "rss_mb", "lost_events"):
        assert key in out
    assert out["sustained"] is True and out["not_sustained_because"] == [], out
    assert out["lost_events"] == 0 and out["events_per_s"] > 100 and out["book_delta_rows_per_s"] > 0
    assert out["events_per_s"] > out["book_delta_rows_per_s"]  # trades, quotes, snapshots ... as well
    assert 0 < out["ratio_to_decode"] < 1 and out["rss_mb"] < 500
