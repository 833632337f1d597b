"""Decode throughput on real captured frames (Binance USD-M, from the shared samples or the
bundled test fixture): trade and BBO frames decoded to events, depth frames decoded *and*
applied to the book engine; plain orjson parsing of the same trade frames as the reference.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from cryptoflow.feed.book import BookEngine
from cryptoflow.feed.capture import CaptureRecord, read_capture
from cryptoflow.symbols import InstrumentRegistry
from cryptoflow.venues import get_venue
from cryptoflow.venues.base import BookUpdate

BUNDLED = Path(__file__).with_name("binance_usdm_sample.jsonl.gz")


def _rate(fn: Callable[[], int], repeats: int) -> float:
    """Median frames/s over ``repeats`` runs of ``fn`` (which returns frames processed)."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def run(records: list[CaptureRecord] | None = None, min_frames: int = 200_000, repeats: int = 5) -> dict[str, float]:
    recs = records if records is not None else list(read_capture(BUNDLED))
    venue = get_venue("binance_usdm", registry=InstrumentRegistry.bundled())
    ws = [r.data.encode() for r in recs if r.kind == "ws"]
    trades = [f for f in ws if b"@aggTrade" in f]
    bbos = [f for f in ws if b"@bookTicker" in f]
    rest = [r for r in recs if r.kind == "rest" and "/depth" in r.url]
    depth = [f for f in ws if b"@depth" in f]

    def scale(frames: list[bytes]) -> list[bytes]:
        return frames * max(1, min_frames // max(1, len(frames)))

    trade_frames, bbo_frames = scale(trades), scale(bbos)

    def decode_all(frames: list[bytes]) -> Callable[[], int]:
        def go() -> int:
            dec = venue.new_decoder()
            d = dec.decode
            for f in frames:
                d(f, 0)
            return len(frames)

        return go

    def orjson_all() -> int:
        loads = orjson.loads
        for f in trade_frames:
            loads(f)
        return len(trade_frames)

    snapshots = [venue.parse_rest(r.url, r.data.encode(), r.t)[0] for r in rest]
    rounds = max(1, (min_frames // 4) // max(1, len(depth)))

    def depth_all() -> int:
        n = 0
        for _ in range(rounds):
            engine = BookEngine()
            for s in snapshots:
                assert isinstance(s, BookUpdate)
                engine.apply(s)
            dec = venue.new_decoder()
            d, apply = dec.decode, engine.apply
            for f in depth:
                for item in d(f, 0):
                    apply(item)  # type: ignore[arg-type]
                n += 1
        return n

    return {
        "trade_fps": round(_rate(decode_all(trade_frames), repeats)),
        "bbo_fps": round(_rate(decode_all(bbo_frames), repeats)),
        "depth_fps": round(_rate(depth_all, repeats)),
        "orjson_parse_fps": round(_rate(orjson_all, repeats)),
        "frames": {"trade": len(trades), "bbo": len(bbos), "depth": len(depth), "snapshots": len(snapshots)},
    }  # type: ignore[dict-item]
