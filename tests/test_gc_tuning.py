"""The collector freezes start-up objects out of the collector's GC scans and undoes it on stop."""

from __future__ import annotations

import gc

from cryptoflow.collector.gc_tuning import GcTuning


def test_apply_freezes_once_and_restore_unfreezes() -> None:
    assert gc.get_freeze_count() == 0
    t = GcTuning()
    t.apply()
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # the imported modules and everything else alive at start-up
    t.apply()  # idempotent: a second start does not freeze twice
    assert gc.get_freeze_count() == frozen
    t.restore()
    assert gc.get_freeze_count() == 0 and not t.applied
    t.restore()  # harmless when not applied
