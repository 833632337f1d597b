"""Pure cross-venue and market-context functions on hand-computed numbers."""

from __future__ import annotations

import math

import pytest

from cryptoflow.analytics import cross_venue as cv
from cryptoflow.analytics.market_context import depth_bands, imbalance, price_context


def q(venue: str, bid: float, ask: float, bq: float = 1.0, aq: float = 2.0, symbol: str = "BTCUSDT") -> cv.Quote:
    return cv.Quote(venue, "perp", symbol, bid, bq, ask, aq, 0)


def test_find_arbitrage_gross_net_and_size():
    quotes = [q("okx", 100.5, 100.6, bq=3.0), q("bybit", 99.9, 100.0, aq=0.7), q("deribit", 100.0, 100.1)]
    best = cv.find_arbitrage(quotes)[0]
    assert (best.buy_venue, best.sell_venue) == ("bybit", "okx")
    assert best.gross_bps == pytest.approx((100.5 - 100.0) / 100.0 * 1e4)  # 50 bps
    assert best.net_bps == pytest.approx(50.0 - 5.5 - 5.0)
    assert best.size_base == 0.7 and best.notional_quote == pytest.approx(70.0)
    assert best.net_profit_quote == pytest.approx(70.0 * 39.5 / 1e4)
    assert all(o.net_bps >= 0 for o in cv.find_arbitrage(quotes))
    assert len(cv.find_arbitrage(quotes, min_net_bps=-1e9)) == 6  # every ordered pair
    assert cv.find_arbitrage(quotes, fees={"bybit": 0.0, "okx": 0.0})[0].net_bps == pytest.approx(50.0)


def test_crossed_or_empty_quotes_and_other_symbols_never_pair():
    quotes = [q("okx", 101.0, 100.0), q("bybit", 0.0, 100.0), q("deribit", 99.0, 99.1, symbol="ETHUSDT"),
              q("gateio", 100.0, 100.1)]
    assert cv.find_arbitrage(quotes, min_net_bps=-1e9) == []


def test_spread_matrix_and_compare():
    quotes = [q("okx", 100.5, 100.6), q("bybit", 99.9, 100.0), q("deribit", 100.0, 100.1)]
    m = cv.spread_matrix(quotes)[0]
    assert m.venues == ["bybit", "deribit", "okx"]
    assert m.gross_bps[0][2] == pytest.approx(50.0) and m.gross_bps[2][0] == pytest.approx(-70.0 / 100.6 * 1e4 / 100)
    assert m.gross_bps[1][1] is None
    rows = cv.compare_venues(quotes, {"okx": (3.0, 10), "bybit": (1.0, 5)})
    by = {r.venue: r for r in rows}
    assert by["okx"].volume_share == pytest.approx(0.75) and by["deribit"].volume_base is None
    assert by["bybit"].taker_cost_bps == pytest.approx(by["bybit"].spread_bps / 2 + 5.5)
    assert by["deribit"].mid_dev_bps == pytest.approx(0.0)  # deribit holds the median mid


def test_funding_carry_compares_per_hour_and_charges_fees():
    rates = [cv.FundingRate("okx", "BTCUSDT", 0.0008, 8.0, 0),
             cv.FundingRate("hyperliquid", "BTCUSDT", 0.00001, 1.0, 0),
             cv.FundingRate("binance_usdm", "BTCUSDT", 0.0001, None, 0)]
    pairs = cv.funding_carry(rates, holding_days=10)
    best = pairs[0]
    assert (best.long_venue, best.short_venue) == ("hyperliquid", "okx")
    assert best.gross_annualized == pytest.approx((0.0001 - 0.00001) * 8760)
    assert best.fees_round_trip_bps == pytest.approx(2 * (4.5 + 5.0))
    assert best.net_annualized == pytest.approx(best.gross_annualized - 19e-4 * 36.5)
    bn = next(p for p in pairs if "binance_usdm" in (p.long_venue, p.short_venue))
    assert bn.interval_assumed is True
    assert cv.annualize(0.0001, 8.0) == pytest.approx(0.1095)
    with pytest.raises(ValueError):
        cv.funding_carry(rates, holding_days=0)


def test_fee_table_covers_every_venue_market():
    from cryptoflow.venues import VENUE_IDS, venue_class

    for v in VENUE_IDS:
        for m in venue_class(v).markets:
            assert 0 < cv.taker_fee_bps(v, m) <= 10.0
        assert cv.FEE_SOURCES[v].startswith("https://")


def test_depth_bands_imbalance_and_price_context():
    bids, bq = [99.99, 99.95, 99.0], [1.0, 2.0, 5.0]
    asks, aq = [100.01, 100.02, 100.5], [1.0, 1.0, 1.0]
    b = depth_bands(bids, bq, asks, aq, [10])[0]  # +-0.1 around 100
    assert (b.bid_qty, b.ask_qty, b.bid_levels, b.ask_levels, b.complete) == (3.0, 2.0, 2, 2, True)
    assert b.imbalance == pytest.approx(0.2)
    assert depth_bands(bids, bq, asks, aq, [200])[0].complete is False  # the levels end inside 2 %
    assert imbalance(bq, aq, 1) == 0.0 and imbalance([], [], None) is None
    c = price_context(110.0, [100.0, 105.0, 120.0], [99.0, 104.0, 100.0], [101.0, 106.0, 121.0], 60)
    assert c.percentile == pytest.approx(200 / 3) and c.low == 99.0 and c.high == 121.0
    assert c.zscore == pytest.approx((110 - 325 / 3) / math.sqrt(sum((x - 325 / 3) ** 2 for x in (100, 105, 120)) / 2))
    assert c.change_pct == pytest.approx(10.0) and c.range_position == pytest.approx(11 / 22)
