"""`cryptoflow simulate --replay`: a real capture served through the venue's protocol server
and collected into the store as if live."""

from __future__ import annotations

import asyncio

from cryptoflow.collector.config import load_config
from cryptoflow.collector.run import CollectorRuntime
from cryptoflow.feed.capture import write_capture
from cryptoflow.feed.capture_convert import convert_files, sample_groups
from cryptoflow.sim.replay_server import ReplaySimulator
from cryptoflow.store import Lake
from cryptoflow.venues.base import Endpoints

from ..simrun import wait_for


async def test_binance_capture_replays_into_the_store(tmp_path, samples):
    group = sample_groups(samples / "binance_usdm")["cryptofeed__BINANCE_FUTURES"]
    cap = tmp_path / "cap.jsonl.gz"
    write_capture(cap, convert_files(group, "binance_usdm"))
    sim = ReplaySimulator(cap, speed=20.0)
    await sim.start()
    eps = {v: Endpoints(ws=e["ws"], rest=e["rest"]) for v, e in sim.endpoints().items()}
    cfg = load_config(
        None,
        data_dir=str(tmp_path / "data"),
        venues=["binance_usdm"],
        endpoints=eps,
        symbols=["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"],
        streams=["trade", "bbo", "book", "candle"],
    )
    rt = await CollectorRuntime.start(cfg)  # learns SUSHIUSDT & co. from the recorded exchangeInfo
    try:
        await asyncio.wait_for(sim.finished.wait(), 60)
        await wait_for(lambda: rt.collector.health_report()["venues"]["binance_usdm"]["frames"] >= 1540 - 4, timeout=10)
        await asyncio.sleep(1.2)
        rep = rt.collector.health_report()["venues"]["binance_usdm"]
    finally:
        await rt.stop()
        await sim.stop()
    assert rep["decode_errors"] == {} and rep["gaps"] == 0
    assert rep["books_valid"] == 4
    lake = Lake.open(tmp_path / "data", read_only=True)
    try:
        (n_trades,) = lake.cursor().execute("SELECT count(*) FROM lake.trades").fetchone()
        (n_bbo,) = lake.cursor().execute("SELECT count(*) FROM lake.bbo").fetchone()
    finally:
        lake.close()
    assert n_trades == 91 and n_bbo == 613  # every recorded trade and quote, once
