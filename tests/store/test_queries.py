"""Named queries on small hand-computed data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cryptoflow.errors import QueryError
from cryptoflow.events import BBO, BookSnapshot, Funding, Liquidation, OpenInterest, Trade
from cryptoflow.store import BatchWriter, Lake, queries

from .conftest import T0_NS, at, dt_at

B = ("binance_usdm", "perp", "BTCUSDT")


@pytest.fixture
def filled(lake: Lake, writer: BatchWriter) -> Lake:
    writer.add_many([
        # binance perp BTC: minute 0 has three trades, minute 1 one, minute 2 none, minute 3 one
        Trade(*B, at(5), at(5), 100.0, 1.0, "buy", "1"),
        Trade(*B, at(20), at(20), 102.0, 2.0, "sell", "2"),
        Trade(*B, at(50), at(50), 99.0, 1.0, "buy", "3"),
        Trade(*B, at(65), at(65), 101.0, 3.0, "buy", "4"),
        Trade(*B, at(190), at(190), 105.0, 1.0, "sell", "5"),
        # other venue / other market: excluded unless asked for
        Trade("okx", "perp", "BTCUSDT", at(30), at(30), 200.0, 10.0, "buy", "o1"),
        Trade("binance_spot", "spot", "BTCUSDT", at(30), at(30), 1.0, 1000.0, "buy", "s1"),
        Funding(*B, at(10), at(10), 0.0001),
        Funding(*B, at(3000), at(3000), 0.0002, predicted_rate=0.00025),
        Funding(*B, at(4000), at(4000), 0.0003),
        Funding("okx", "perp", "BTCUSDT", at(100), at(100), -0.0001),
        OpenInterest(*B, at(10), at(10), oi_base=1000.0),
        OpenInterest(*B, at(200), at(200), oi_base=1100.0, oi_notional=1.1e5),
        OpenInterest(*B, at(400), at(400), oi_base=1200.0),
        Liquidation(*B, at(1), at(1), "long", 100.0, 1.0, 100.0),
        Liquidation("okx", "perp", "BTCUSDT", at(2), at(2), "short", 100.0, 50.0, 5000.0),
        Liquidation("binance_usdm", "perp", "ETHUSDT", at(3), at(3), "short", 3.0, 100.0, 300.0),
        BBO(*B, at(1), at(1), 100.0, 1.0, 101.0, 2.0),
        BBO(*B, at(5), at(5), 102.0, 1.5, 103.0, 2.5),
        BBO("okx", "perp", "BTCUSDT", at(3), at(3), 99.0, 4.0, 101.0, 5.0),
        *(BookSnapshot(*B, at(i), at(i), [100.0 - i, 99.0 - i, 98.0 - i], [1.0, 2.0, 3.0],
                       [101.0 + i, 102.0 + i, 103.0 + i], [4.0, 5.0, 6.0], seq=i) for i in (1, 2, 3)),
    ])
    writer.flush()
    return lake


def test_ohlcv_1m_by_hand(filled: Lake) -> None:
    bars = queries.ohlcv(filled, "binance_usdm", "BTCUSDT", "perp", "1m")
    assert [b["ts"] for b in bars] == [dt_at(0), dt_at(60), dt_at(180)]  # no invented empty bar
    assert bars[0]["ts_ns"] == T0_NS
    b0 = bars[0]
    assert (b0["open"], b0["high"], b0["low"], b0["close"]) == (100.0, 102.0, 99.0, 99.0)
    assert b0["volume"] == 4.0 and b0["trades"] == 3 and b0["buy_volume"] == 2.0
    assert b0["quote_volume"] == pytest.approx(100 + 204 + 99)
    assert b0["vwap"] == pytest.approx(403 / 4)
    assert (bars[1]["open"], bars[1]["close"], bars[1]["volume"]) == (101.0, 101.0, 3.0)
    assert (bars[2]["open"], bars[2]["buy_volume"]) == (105.0, 0.0)


def test_ohlcv_5m_limit_and_range(filled: Lake) -> None:
    (bar,) = queries.ohlcv(filled, "binance_usdm", "BTCUSDT", "perp", "5m")
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (100.0, 105.0, 99.0, 105.0)
    assert bar["volume"] == 8.0 and bar["trades"] == 5
    latest_two = queries.ohlcv(filled, "binance_usdm", "BTCUSDT", "perp", "1m", limit=2)
    assert [b["ts"] for b in latest_two] == [dt_at(60), dt_at(180)]
    # start as int ns, end as an aware datetime
    ranged = queries.ohlcv(filled, "binance_usdm", "BTCUSDT", "perp", "1m", start=at(60),
                           end=datetime(2024, 1, 1, 0, 3, tzinfo=UTC))
    assert [b["ts"] for b in ranged] == [dt_at(60)]


def test_vwap_by_hand(filled: Lake) -> None:
    one = queries.vwap(filled, "BTCUSDT", venue="binance_usdm")
    assert one["vwap"] == pytest.approx(811 / 8)
    assert (one["volume"], one["trades"], one["venues"]) == (8.0, 5, 1)
    assert (one["first_ts"], one["last_ts"]) == (dt_at(5), dt_at(190))
    every = queries.vwap(filled, "BTCUSDT")
    assert every["vwap"] == pytest.approx((811 + 2000) / 18)
    assert every["venues"] == 2
    empty = queries.vwap(filled, "BTCUSDT", start=at(1000), end=at(2000))
    assert (empty["vwap"], empty["volume"], empty["trades"]) == (None, 0.0, 0)


def test_trade_flow_and_cvd_by_hand(filled: Lake) -> None:
    flow = queries.trade_flow(filled, "BTCUSDT", "1m", venue="binance_usdm")
    got = [(f["buy_volume"], f["sell_volume"], f["delta"], f["cvd"]) for f in flow]
    assert got == [(2.0, 2.0, 0.0, 0.0), (3.0, 0.0, 3.0, 3.0), (0.0, 1.0, -1.0, 2.0)]
    assert (flow[0]["buy_trades"], flow[0]["sell_trades"]) == (2, 1)
    assert flow[0]["buy_notional"] == pytest.approx(199.0)
    assert flow[0]["sell_notional"] == pytest.approx(204.0)
    every = queries.trade_flow(filled, "BTCUSDT", "1m")
    assert [f["cvd"] for f in every] == [10.0, 13.0, 12.0]


def test_funding_and_oi_history(filled: Lake) -> None:
    rows = queries.funding_history(filled, "BTCUSDT", interval="1h")
    got = [(r["ts"], r["venue"], r["rate"], r["samples"]) for r in rows]
    assert got == [(dt_at(0), "binance_usdm", 0.0002, 2), (dt_at(0), "okx", -0.0001, 1),
                   (dt_at(3600), "binance_usdm", 0.0003, 1)]
    assert rows[0]["predicted_rate"] == 0.00025
    assert [r["venue"] for r in queries.funding_history(filled, "BTCUSDT", venue="okx")] == ["okx"]
    oi = queries.oi_history(filled, "BTCUSDT", interval="5m")
    assert [(r["ts"], r["oi_base"], r["oi_notional"]) for r in oi] == [
        (dt_at(0), 1100.0, 1.1e5), (dt_at(300), 1200.0, None)]


def test_liquidations(filled: Lake) -> None:
    btc = queries.liquidations(filled, "BTCUSDT")
    assert [(r["venue"], r["side"], r["notional"]) for r in btc] == [
        ("binance_usdm", "long", 100.0), ("okx", "short", 5000.0)]
    assert [r["venue"] for r in queries.liquidations(filled, min_notional=1000)] == ["okx"]
    assert [r["symbol"] for r in queries.liquidations(filled, limit=1)] == ["ETHUSDT"]  # newest


def test_book_snapshots_depth_and_limit(filled: Lake) -> None:
    snaps = queries.book_snapshots(filled, "binance_usdm", "BTCUSDT", depth=2, limit=2)
    assert [s["seq"] for s in snaps] == [2, 3]
    assert snaps[1]["bid_prices"] == [97.0, 96.0] and snaps[1]["ask_qtys"] == [4.0, 5.0]


def test_latest_bbo_per_venue(filled: Lake) -> None:
    rows = queries.latest_bbo(filled, "BTCUSDT")
    assert [(r["venue"], r["bid_price"], r["ask_price"], r["ts"]) for r in rows] == [
        ("binance_usdm", 102.0, 103.0, dt_at(5)), ("okx", 99.0, 101.0, dt_at(3))]
    assert rows[1]["mid"] == 100.0 and rows[1]["spread_bps"] == pytest.approx(200.0)
    assert [r["venue"] for r in queries.latest_bbo(filled, "BTCUSDT", since=at(4))] == ["binance_usdm"]


def test_db_stats(filled: Lake) -> None:
    stats = queries.db_stats(filled)
    by_name = {t["table_name"]: t for t in stats["tables"]}
    assert by_name["trades"]["rows"] == 7
    assert (by_name["trades"]["first_ts"], by_name["trades"]["last_ts"]) == (dt_at(5), dt_at(190))
    assert by_name["health"]["rows"] == 0
    assert stats["total_rows"] == sum(t["rows"] for t in stats["tables"])
    assert stats["snapshots"] >= 2 and stats["catalog_bytes"] > 0
    assert stats["data_bytes_on_disk"] >= stats["total_parquet_bytes"] >= 0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda lk: queries.ohlcv(lk, "binance_usdm", "BTCUSDT", "perp", "2m"), "unknown interval"),
        (lambda lk: queries.ohlcv(lk, "binance_usdm", "BTCUSDT", limit=0), "limit"),
        (lambda lk: queries.ohlcv(lk, "binance", "BTCUSDT"), "unknown venue"),
        (lambda lk: queries.ohlcv(lk, "okx", "BTC/USDT"), "not canonical"),
        (lambda lk: queries.vwap(lk, "BTCUSDT", start=at(10), end=at(5)), "empty time range"),
        (lambda lk: queries.vwap(lk, "BTCUSDT", start="yesterday"), "not understood"),
        (lambda lk: queries.book_snapshots(lk, "okx", "BTCUSDT", depth=0), "depth"),
    ],
)
def test_inputs_are_validated(lake: Lake, call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QueryError, match=match):
        call(lake)


def test_queries_work_on_a_read_only_lake(filled: Lake) -> None:
    ro = Lake.open(filled.data_dir, read_only=True)
    try:
        assert queries.vwap(ro, "BTCUSDT", venue="binance_usdm")["trades"] == 5
    finally:
        ro.close()
