"""Arbitrage tools find the dislocation planted in the simulator, with the right venues and net edge."""

from __future__ import annotations

import pytest
from mcp import Client

from cryptoflow.analytics.cross_venue import TAKER_FEES_BPS

from .conftest import DISLOCATION_BPS, call

AGE = 3600.0


def _stored_quotes(store, symbol: str) -> dict[str, tuple[float, float, float, float]]:
    # the newest quote per venue, whole: by venue time, then update id, then arrival (several quotes share a
    # venue's ms timestamp; taking each column's arg_max separately could mix two of them)
    rows = store.sql("SELECT venue, bid_price, bid_qty, ask_price, ask_qty FROM lake.bbo WHERE symbol = ? AND "
                     "market = 'perp' QUALIFY row_number() OVER (PARTITION BY venue ORDER BY ts_ns DESC, "
                     "coalesce(update_id, -1) DESC, ts_recv DESC) = 1", [symbol])
    return {r[0]: r[1:] for r in rows}


async def test_find_arbitrage_finds_the_planted_dislocation(server, market_store):
    async with Client(server) as client:
        out = await call(client, "find_arbitrage", max_age_s=AGE, limit=50)
    d = market_store.dislocation
    eth = [o for o in out["opportunities"] if o["symbol"] == "ETHUSDT"]
    assert eth, out
    best = eth[0]
    # okx quotes 60 bps above the others: buy elsewhere, sell on okx
    assert best["sell_venue"] == d.venue == "okx"
    assert best["buy_venue"] in d.reference_venues
    assert DISLOCATION_BPS - 10 < best["gross_bps"] < DISLOCATION_BPS + 10
    fees = TAKER_FEES_BPS[(best["buy_venue"], "perp")] + TAKER_FEES_BPS[("okx", "perp")]
    assert best["net_bps"] == pytest.approx(best["gross_bps"] - fees)
    # prices and size are the stored top of book of the two venues
    q = _stored_quotes(market_store, "ETHUSDT")
    buy, sell = q[best["buy_venue"]], q["okx"]
    assert best["buy_price"] == buy[2] and best["sell_price"] == sell[0]
    assert best["gross_bps"] == pytest.approx((sell[0] - buy[2]) / buy[2] * 1e4)
    assert best["size_base"] == min(buy[3], sell[1])
    assert best["net_profit_quote"] == pytest.approx(best["size_base"] * buy[2] * best["net_bps"] / 1e4)
    # every other ETH pair that clears fees also sells on okx
    assert all(o["sell_venue"] == "okx" for o in eth)


async def test_find_arbitrage_threshold_fee_override_and_limit(server, market_store):
    async with Client(server) as client:
        none = await call(client, "find_arbitrage", symbols=["ETHUSDT"], min_profit_bps=500, max_age_s=AGE)
        assert none["opportunities"] == [] and none["best_gross"]["sell_venue"] == "okx"
        base = await call(client, "find_arbitrage", symbols=["ETHUSDT"], max_age_s=AGE, limit=1)
        cheap = await call(client, "find_arbitrage", symbols=["ETHUSDT"], max_age_s=AGE, limit=1,
                           taker_fees_bps={"okx": 0.0})
    assert len(base["opportunities"]) == 1 and base["truncated"] is True
    assert cheap["opportunities"][0]["net_bps"] == pytest.approx(base["opportunities"][0]["net_bps"] + 5.0)


async def test_spread_matrix_cells_are_bid_over_ask(server, market_store):
    async with Client(server) as client:
        out = await call(client, "get_spread_matrix", symbol="ETHUSDT", max_age_s=AGE)
    q = _stored_quotes(market_store, "ETHUSDT")
    v = out["venues"]
    assert v == sorted(q)
    for i, b in enumerate(v):
        for j, s in enumerate(v):
            if i == j:
                assert out["gross_bps"][i][j] is None
                continue
            assert out["gross_bps"][i][j] == pytest.approx((q[s][0] - q[b][2]) / q[b][2] * 1e4)
            fees = TAKER_FEES_BPS[(b, "perp")] + TAKER_FEES_BPS[(s, "perp")]
            assert out["net_bps"][i][j] == pytest.approx(out["gross_bps"][i][j] - fees)
    okx = v.index("okx")
    assert out["mid_dev_bps"][okx] > 40 and all(out["gross_bps"][okx][j] < -40 for j in range(len(v)) if j != okx)


async def test_compare_venues_ranks_and_volumes(server, market_store):
    async with Client(server) as client:
        out = await call(client, "compare_venues", symbol="ETHUSDT", window="2h", max_age_s=AGE)
    rows = {r["venue"]: r for r in out["venues"]}
    assert out["best_bid_venue"] == "okx" and rows["okx"]["mid_dev_bps"] > 40
    vols = dict(market_store.sql("SELECT venue, sum(qty) FROM lake.trades WHERE symbol='ETHUSDT' AND market='perp' "
                                 "GROUP BY 1"))
    for venue, r in rows.items():
        assert r["volume_base"] == pytest.approx(vols[venue])
        assert r["taker_cost_bps"] == pytest.approx(r["spread_bps"] / 2 + TAKER_FEES_BPS[(venue, "perp")])
    assert sum(r["volume_share"] for r in rows.values()) == pytest.approx(1.0)
    assert out["most_volume_venue"] == max(vols, key=vols.get)
    costs = [r["taker_cost_bps"] for r in out["venues"]]
    assert costs == sorted(costs) and out["cheapest_taker_venue"] == out["venues"][0]["venue"]


async def test_funding_arbitrage_carry_from_the_rates(server, market_store):
    async with Client(server) as client:
        rates = await call(client, "get_funding", symbols=["BTCUSDT", "ETHUSDT"], max_age_s=AGE)
        out = await call(client, "funding_arbitrage", min_net_annualized_pct=-1000, limit=100, holding_days=10,
                         max_age_s=AGE)
    per_hour = {(r["symbol"], r["venue"]): r["rate"] / r["interval_hours"] for r in rates["rates"]}
    assert len(out["pairs"]) == 2 * 6  # every pair of 4 venues, for 2 symbols
    for p in out["pairs"]:
        lo, hi = per_hour[(p["symbol"], p["long_venue"])], per_hour[(p["symbol"], p["short_venue"])]
        assert hi >= lo
        assert p["gross_annualized_pct"] == pytest.approx((hi - lo) * 24 * 365 * 100)
        fees = 2 * (TAKER_FEES_BPS[(p["long_venue"], "perp")] + TAKER_FEES_BPS[(p["short_venue"], "perp")])
        assert p["fees_round_trip_bps"] == pytest.approx(fees)
        assert p["net_annualized_pct"] == pytest.approx(p["gross_annualized_pct"] - fees / 100 * 365 / 10)
    nets = [p["net_annualized_pct"] for p in out["pairs"]]
    assert nets == sorted(nets, reverse=True)
    eth_okx = [p for p in out["pairs"] if p["symbol"] == "ETHUSDT" and "okx" in (p["long_venue"], p["short_venue"])]
    assert all(abs(p["basis_bps"]) > 40 for p in eth_okx)  # the dislocation is the pair's price risk
