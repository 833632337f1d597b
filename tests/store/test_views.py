"""Compatibility views: names, columns and values (orderbook wide columns and imbalance by hand)."""

from __future__ import annotations

import pytest

from cryptoflow.errors import QueryError
from cryptoflow.events import BBO, BookSnapshot, Funding, Liquidation, Trade
from cryptoflow.store import BatchWriter, Lake, create_compat_views, view_name
from cryptoflow.store.views import EXCHANGES, SPOT_STREAMS, STREAM_TABLES, view_sql
from cryptoflow.venues import VENUE_IDS

from .conftest import at, dt_at


def test_view_names_follow_the_original_design() -> None:
    assert view_name("BTCUSDT", "binance_usdm", "perp", "prices") == "btcusdt_binance_futures_prices"
    assert view_name("solusdt", "okx", "perp", "liquidations") == "solusdt_okx_futures_liquidations"
    assert view_name("BTCUSDT", "binance_spot", "spot", "trades") == "btcusdt_binance_spot_trades"
    assert view_name("ETHUSDT", "gateio", "perp", "orderbooks") == "ethusdt_gate_futures_orderbooks"
    assert view_name("ETHUSDT", "kraken_futures", "perp", "funding_rates") == "ethusdt_kraken_futures_funding_rates"


def test_every_venue_has_an_exchange_name() -> None:
    assert set(EXCHANGES) == set(VENUE_IDS)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("BTC-USDT", "okx", "perp", "prices"), "not canonical"),
        (("BTCUSDT'; DROP TABLE trades; --", "okx", "perp", "prices"), "not canonical"),
        (("BTCUSDT", "ftx", "perp", "prices"), "unknown venue"),
        (("BTCUSDT", "okx", "margin", "prices"), "unknown market"),
        (("BTCUSDT", "okx", "perp", "quotes"), "unknown view stream"),
    ],
)
def test_view_inputs_are_validated(args: tuple[str, str, str, str], match: str) -> None:
    with pytest.raises(QueryError, match=match):
        view_sql(*args)


def test_views_exist_with_columns_and_values(lake: Lake, writer: BatchWriter) -> None:
    names = create_compat_views(lake, [("BTCUSDT", "binance_usdm", "perp"), ("BTCUSDT", "binance_spot", "spot")])
    assert len(names) == len(STREAM_TABLES) + len(SPOT_STREAMS)
    listed = {r[0] for r in lake.cursor().execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = 'lake'").fetchall()}
    assert set(names) <= listed
    assert "btcusdt_binance_spot_funding_rates" not in listed  # spot has no funding

    writer.add_many([
        BBO("binance_usdm", "perp", "BTCUSDT", at(1), at(1), 100.0, 2.0, 100.5, 3.0),
        BBO("binance_spot", "spot", "BTCUSDT", at(1), at(1), 99.0, 1.0, 99.2, 1.0),  # other market
        BBO("okx", "perp", "BTCUSDT", at(1), at(1), 1.0, 1.0, 2.0, 1.0),  # other venue
        Trade("binance_usdm", "perp", "BTCUSDT", at(2), at(2), 100.2, 0.5, "sell", "9"),
        Funding("binance_usdm", "perp", "BTCUSDT", at(3), at(3), 0.0001, next_funding_time=at(3600)),
        Liquidation("binance_usdm", "perp", "BTCUSDT", at(4), at(4), "long", 99.0, 2.0, 198.0),
    ])
    writer.flush()
    cur = lake.cursor()

    rows = cur.execute("SELECT * FROM lake.btcusdt_binance_futures_prices").fetchall()
    cols = [d[0] for d in cur.description]
    assert cols == ["ts", "ts_ns", "ts_recv", "symbol", "bid", "bid_qty", "ask", "ask_qty", "mid", "spread",
                    "spread_bps", "source"]
    (r,) = rows
    rec = dict(zip(cols, r, strict=True))
    assert rec["ts"] == dt_at(1) and rec["bid"] == 100.0 and rec["ask"] == 100.5
    assert rec["mid"] == pytest.approx(100.25)
    assert rec["spread"] == pytest.approx(0.5)
    assert rec["spread_bps"] == pytest.approx(0.5 / 100.25 * 1e4)

    spot = cur.execute("SELECT bid, ask FROM lake.btcusdt_binance_spot_prices").fetchall()
    assert spot == [(99.0, 99.2)]
    trades = cur.execute("SELECT price, qty, side, trade_id FROM lake.btcusdt_binance_futures_trades").fetchall()
    assert trades == [(100.2, 0.5, "sell", "9")]
    funding = cur.execute("SELECT rate, next_funding_time FROM lake.btcusdt_binance_futures_funding_rates").fetchall()
    assert funding == [(0.0001, dt_at(3600))]
    liq = cur.execute("SELECT side, price, qty, notional FROM lake.btcusdt_binance_futures_liquidations").fetchall()
    assert liq == [("long", 99.0, 2.0, 198.0)]


def test_orderbook_view_wide_columns_and_imbalance(lake: Lake, writer: BatchWriter) -> None:
    create_compat_views(lake, [("ETHUSDT", "okx", "perp")])
    bids_p = [100.0 - i for i in range(12)]  # 12 levels stored: the view shows the top 10
    bids_q = [1.0] * 12
    asks_p = [101.0, 102.0, 103.0]
    asks_q = [2.0, 4.0, 1.0]
    writer.add(BookSnapshot("okx", "perp", "ETHUSDT", at(1), at(1), bids_p, bids_q, asks_p, asks_q, seq=7))
    writer.flush()
    cur = lake.cursor()
    row = cur.execute("SELECT * FROM lake.ethusdt_okx_futures_orderbooks").fetchone()
    rec = dict(zip([d[0] for d in cur.description], row, strict=True))
    expected_cols = [f"{s}_{i}_{k}" for s in ("bid", "ask") for i in range(1, 11) for k in ("price", "qty")]
    assert [c for c in rec if c.startswith(("bid_", "ask_"))] == expected_cols
    assert rec["bid_1_price"] == 100.0 and rec["bid_1_qty"] == 1.0
    assert rec["bid_10_price"] == 91.0
    assert rec["ask_1_price"] == 101.0 and rec["ask_3_qty"] == 1.0
    assert rec["ask_4_price"] is None and rec["ask_10_qty"] is None  # fewer levels -> NULL, not 0
    # by hand: top-10 bid qty = 10 (levels 11-12 excluded), ask qty = 2 + 4 + 1 = 7
    assert rec["total_bid_qty"] == 10.0
    assert rec["total_ask_qty"] == 7.0
    assert rec["imbalance"] == pytest.approx((10.0 - 7.0) / (10.0 + 7.0))
    assert rec["seq"] == 7 and rec["source"] == "ws"


def test_views_resolve_under_another_attach_name(lake: Lake, writer: BatchWriter) -> None:
    """Views reference tables unqualified, so a reader attaching the lake as `cf` can use them."""
    import duckdb

    from cryptoflow.store.lake import load_extension

    create_compat_views(lake, [("BTCUSDT", "bybit", "perp")])
    writer.add(Trade("bybit", "perp", "BTCUSDT", at(1), at(1), 5.0, 1.0, "buy", "1"))
    writer.flush()
    con = duckdb.connect()
    load_extension(con, "ducklake")
    load_extension(con, "sqlite_scanner")
    con.execute(f"ATTACH 'ducklake:sqlite:{lake.catalog.target}' AS cf (READ_ONLY)")
    assert con.execute("SELECT price FROM cf.btcusdt_bybit_futures_trades").fetchall() == [(5.0,)]
    con.close()
