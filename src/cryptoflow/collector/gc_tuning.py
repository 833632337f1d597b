"""Garbage-collector setting for the collector process: start-up objects out of every later scan.

Why: the collector keeps hundreds of thousands of young container objects alive at any moment
(book level lists of buffered updates, events waiting for the next seal), so CPython keeps
starting full (generation 2) collections, and each one walked every object the process ever
kept: imported libraries (DuckDB, pyarrow, pandas ...), the instrument tables, the sessions.
With book deltas on, 60 full collections in 40 s took 3.9 s of the event loop's core (~10%),
measured with ``gc.callbacks`` under ``bench ingest --rate 12``.

``gc.freeze()`` after start-up moves those long-lived objects to a permanent generation that
collections skip: in the same benchmark full collections fell to ~5 ms each (79 took 0.42 s) and
items handled per collector CPU-second rose 46.8k -> 51.0k. Raising the thresholds instead
(fewer, larger young collections; full ones only on demand) measured no better and left RSS
higher, so the thresholds stay Python's. ``restore()`` unfreezes when the collector stops (it
may run inside the MCP server's process).
"""

from __future__ import annotations

import gc


class GcTuning:
    """``apply()`` once the collector has started; ``restore()`` when it stops."""

    def __init__(self) -> None:
        self.applied = False

    def apply(self) -> None:
        if self.applied:
            return
        gc.collect()  # what start-up left as garbage goes now, not into the permanent generation
        gc.freeze()
        self.applied = True

    def restore(self) -> None:
        if self.applied:
            gc.unfreeze()
            self.applied = False
