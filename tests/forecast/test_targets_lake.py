"""Targets loaded from a real DuckLake: trades -> price and volatility bars, funding, OI; then a forecast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cryptoflow.events import Funding, OpenInterest, Trade
from cryptoflow.forecast.service import forecast
from cryptoflow.forecast.targets import load_target
from cryptoflow.store import BatchWriter, Lake

T0 = 1_704_067_200_000_000_000  # 2024-01-01 UTC
SEC = 1_000_000_000
B = ("binance_usdm", "perp", "BTCUSDT")


@pytest.fixture
def lake(tmp_path: Path):
    lk = Lake.open(tmp_path / "data")
    rng = np.random.default_rng(0)
    w = BatchWriter(lk)
    price = 40_000.0
    events = []
    for i in range(300 * 6):  # 300 minutes, a trade every 10 s; minute 7 has no trades
        t = T0 + i * 10 * SEC
        if 7 * 60 <= i * 10 < 8 * 60:
            continue
        price *= float(np.exp(rng.normal(0, 2e-4)))
        events.append(Trade(*B, t, t, price, 0.1, "buy" if i % 2 else "sell", str(i)))
    for m in range(300):
        t = T0 + m * 60 * SEC
        events.append(Funding(*B, t, t, 1e-4 + 1e-5 * np.sin(m / 10)))
        events.append(OpenInterest(*B, t, t, oi_base=1000.0 + m))
    w.add_many(events)
    w.flush()
    yield lk
    lk.close()


def test_load_targets_from_lake(lake: Lake) -> None:
    px = load_target(lake, "price", "binance_usdm", "BTCUSDT", interval="1m")
    assert len(px) == 300 and px.key == "binance_usdm:BTCUSDT:perp:price:1m"
    assert px.filled is not None and px.filled[7] and px.filled.sum() == 1  # the empty minute is flagged
    assert px.values[7] == px.values[6]  # and carries the last close
    assert np.all(np.diff(px.ts_ns) == 60 * SEC)
    vol = load_target(lake, "volatility", "binance_usdm", "BTCUSDT", interval="5m")
    assert len(vol) == 60 and np.all(vol.values > 0)
    assert 1e-4 < float(np.median(vol.values)) < 5e-3  # per-5m range volatility of 2e-4 per 10 s steps
    fund = load_target(lake, "funding", "binance_usdm", "BTCUSDT", interval="5m")
    assert fund.values[0] == pytest.approx(1e-4 + 1e-5 * np.sin(0.4), rel=1e-6)  # latest rate in the bucket
    oi = load_target(lake, "oi", "binance_usdm", "BTCUSDT", interval="1h")
    assert list(oi.values) == [1059.0, 1119.0, 1179.0, 1239.0, 1299.0]
    res = forecast(px, 5, priority="fast")
    assert res.model == "Naive" and res.backtest["origins"] >= 20
    assert res.ts_ns is not None and res.ts_ns[0] == int(px.ts_ns[-1]) + 60 * SEC
