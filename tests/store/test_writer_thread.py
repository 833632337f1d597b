"""The writer's flush thread and the writer lake's resource limits (collector RSS, 2 cores)."""

from __future__ import annotations

import asyncio
import sys
import threading
import weakref

import pytest

from cryptoflow.events import Trade
from cryptoflow.store import BatchWriter, Lake
from cryptoflow.store import writer as writer_mod

from .conftest import at


def _trades(n: int, start: int = 0) -> list[Trade]:
    return [Trade("okx", "perp", "BTCUSDT", at(i), at(i), 100.0 + i, 1.0, "buy", f"t{i}")
            for i in range(start, start + n)]


def test_async_flushes_run_in_one_dedicated_thread(lake: Lake, writer: BatchWriter, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    real = writer._write

    def spy(batch):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return real(batch)

    monkeypatch.setattr(writer, "_write", spy)

    async def go() -> list[int]:
        rows = []
        for k in range(3):
            writer.add_many(_trades(50, k * 50))
            rows.append((await writer.flush_async()).rows)
        return rows

    assert asyncio.run(go()) == [50, 50, 50]
    assert len(seen) == 3 and len(set(seen)) == 1 and seen[0].startswith("cryptoflow-flush")
    assert seen[0] != threading.current_thread().name
    n, hi = lake.con.execute("SELECT count(*), max(price) FROM lake.trades").fetchone()
    assert (n, hi) == (150, 249.0)
    writer.close()
    assert writer._executor is None


def test_the_flush_thread_frees_the_batch_before_trimming(writer: BatchWriter, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    alive: list[int] = []

    class Probe(list):  # type: ignore[type-arg]
        pass

    monkeypatch.setattr(writer_mod, "trim_heap", lambda: alive.append(sum(1 for r in refs if r() is not None)))
    batch = {(Trade, "ws"): Probe(_trades(3))}
    refs = [weakref.ref(v) for v in batch.values()]
    holder = [writer_mod._Taken(batch, None, 0, {}, 0)]
    del batch
    assert writer._write_and_trim(holder).rows == 3
    assert holder == [] and alive == [0]  # nothing kept the rows alive when the heap was trimmed


def test_limit_resources_caps_threads_and_memory(lake: Lake) -> None:
    lake.limit_resources(threads=1, memory_limit="300MB")
    threads, mem = lake.con.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchone()
    assert threads == 1
    assert mem.endswith("MiB") and 280 <= float(mem.split()[0]) <= 300


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_heap_helpers_find_glibc() -> None:
    assert writer_mod._malloc_trim is not None and writer_mod._mallopt is not None
    writer_mod.limit_heap_arenas(2)
    writer_mod.trim_heap()
