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
