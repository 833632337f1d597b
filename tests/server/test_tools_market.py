"""Market tools over the simulator-filled store: values equal what the simulator sent and what was stored."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime

import pytest
from mcp import Client

from .conftest import DISLOCATED, call

PERP_VENUES = ["binance_usdm", "bybit", "hyperliquid", "okx"]
BIG_AGE = 3600.0  # the store was filled before the tests ran: look back far enough


async def test_get_prices_equal_the_last_quotes_the_simulator_sent(server, market_store):
    async with Client(server) as client:
        out = await call(client, "get_prices", symbols=["btc", "ETH-USDT"], max_age_s=BIG_AGE)
        assert out["source"] == "store"
        got = {(q["venue"], q["symbol"]): q for q in out["quotes"]}
        assert {v for v, _ in got} == set(PERP_VENUES)
        for (venue, symbol), q in got.items():
            sent = market_store.last_sent[("BBO", venue, "perp", symbol)]
            assert (q["bid"], q["ask"]) == (sent.bid_price, sent.ask_price), (venue, symbol)
            assert q["mid"] == pytest.approx((sent.bid_price + sent.ask_price) / 2)
            assert q["spread_bps"] == pytest.approx((sent.ask_price - sent.bid_price) / q["mid"] * 1e4)
        for s in out["summaries"]:
            qs = [q for q in out["quotes"] if q["symbol"] == s["symbol"]]
            assert s["best_bid"] == max(q["bid"] for q in qs) and s["best_ask"] == min(q["ask"] for q in qs)
            assert s["median_mid"] == pytest.approx(statistics.median(q["mid"] for q in qs))
        eth = next(s for s in out["summaries"] if s["symbol"] == "ETHUSDT")
        assert eth["best_bid_venue"] == "okx" and eth["mid_range_bps"] > 40  # the planted dislocation


async def test_get_prices_spot_and_missing_venue(server, market_store):
    async with Client(server) as client:
        out = await call(client, "get_prices", symbols=["BTCUSDT", "ETHUSDT"], market="spot",
                         venues=["binance_spot", "okx"], max_age_s=BIG_AGE)
        assert {(q["venue"], q["market"]) for q in out["quotes"]} == {("binance_spot", "spot"), ("okx", "spot")}
        out = await call(client, "get_prices", symbols=["BTCUSDT"], venues=["okx", "gateio"], max_age_s=BIG_AGE)
        assert out["missing"] == [{"symbol": "BTCUSDT", "venue": "gateio", "reason": "no recent quote"}]


async def test_get_orderbook_at_a_past_instant_is_the_book_the_collector_sampled_then(server, market_store):
    """`at` replays the stored book deltas: at a sampling instant it equals that sampled snapshot."""
    rows = market_store.sql(
        "SELECT epoch_us(ts_recv), bid_prices, bid_qtys, ask_prices, ask_qtys FROM lake.book_snapshots "
        "WHERE venue = 'binance_usdm' AND symbol = 'ETHUSDT' AND market = 'perp' ORDER BY ts_recv")
    at_us, bp, bq, ap, aq = rows[len(rows) // 2]
    at = datetime.fromtimestamp(at_us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    async with Client(server) as client:
        out = await call(client, "get_orderbook", symbol="ETHUSDT", venue="binance_usdm", depth=20, at=at)
        assert out["source"] == "store"
        assert [(lv["price"], lv["qty"]) for lv in out["bids"]] == list(zip(bp, bq, strict=True))
        assert [(lv["price"], lv["qty"]) for lv in out["asks"]] == list(zip(ap, aq, strict=True))
        assert out["levels_available"] >= len(bp)  # the full replayed book, not the sampled top 20
        r = await client.call_tool("get_orderbook", {"symbol": "ETHUSDT", "venue": "binance_usdm",
                                                     "at": "2020-01-01T00:00:00Z"})
        assert r.is_error and "store_book_deltas" in r.content[0].text


async def test_get_orderbook_levels_bands_and_imbalance_match_the_stored_book(server, market_store):
    async with Client(server) as client:
        out = await call(client, "get_orderbook", symbol="BTCUSDT", venue="okx", depth=5, bands_bps=[1, 5],
                         max_age_s=BIG_AGE)
        (bp, bq, ap, aq, n), = market_store.sql(
            "SELECT bid_prices, bid_qtys, ask_prices, ask_qtys, len(bid_prices) FROM lake.book_snapshots "
            "WHERE venue = 'okx' AND symbol = 'BTCUSDT' AND market = 'perp' ORDER BY ts_ns DESC LIMIT 1")
        assert [(lv["price"], lv["qty"]) for lv in out["bids"]] == list(zip(bp[:5], bq[:5], strict=True))
        assert [(lv["price"], lv["qty"]) for lv in out["asks"]] == list(zip(ap[:5], aq[:5], strict=True))
        assert out["levels_available"] == n and out["truncated"] is True
        assert out["imbalance"] == pytest.approx((sum(bq[:5]) - sum(aq[:5])) / (sum(bq[:5]) + sum(aq[:5])))
        mid = (bp[0] + ap[0]) / 2
        for band in out["depth"]:
            lo, hi = mid * (1 - band["within_bps"] / 1e4), mid * (1 + band["within_bps"] / 1e4)
            assert band["bid_qty"] == pytest.approx(sum(q for p, q in zip(bp, bq, strict=True) if p >= lo))
            assert band["ask_qty"] == pytest.approx(sum(q for p, q in zip(ap, aq, strict=True) if p <= hi))


async def test_get_trades_flow_matches_sql(server, market_store):
    async with Client(server) as client:
        out = await call(client, "get_trades", symbol="BTCUSDT", since="1h", limit=5, response_format="detailed")
        assert out["truncated"] is True and len(out["trades"]) == 5
        assert [t["ts"] for t in out["trades"]] == sorted((t["ts"] for t in out["trades"]), reverse=True)
        assert all(t["trade_id"] for t in out["trades"])
        rows = market_store.sql(
            "SELECT venue, count(*), sum(qty) FILTER (WHERE side='buy'), sum(qty) FILTER (WHERE side='sell') "
            "FROM lake.trades WHERE symbol = 'BTCUSDT' AND market = 'perp' GROUP BY 1")
        flow = {f["venue"]: f for f in out["flow"]}
        for venue, n, buy, sell in rows:
            assert flow[venue]["trades"] == n
            assert flow[venue]["buy_volume"] == pytest.approx(buy or 0) and flow[venue]["sell_volume"] == pytest.approx(
                sell or 0)
        assert flow["all"]["trades"] == sum(r[1] for r in rows)
        assert flow["all"]["delta"] == pytest.approx(flow["all"]["buy_volume"] - flow["all"]["sell_volume"])


async def test_get_funding_equals_the_last_rates_sent(server, market_store):
    async with Client(server) as client:
        out = await call(client, "get_funding", symbols=["BTCUSDT", "ETHUSDT"], max_age_s=BIG_AGE)
        assert {r["venue"] for r in out["rates"]} == set(PERP_VENUES)
        stored = {(v, s): rate for v, s, rate in market_store.sql(
            "SELECT venue, symbol, arg_max(rate, (ts_ns, ts_recv)) FROM lake.funding_rates GROUP BY ALL")}
        for r in out["rates"]:
            assert r["rate"] == stored[(r["venue"], r["symbol"])]
            if r["venue"] != "binance_usdm":  # the simulated markPrice frame carries the previous tick's rate
                assert r["rate"] == market_store.last_sent[("Funding", r["venue"], "perp", r["symbol"])].rate
            assert r["annualized_pct"] == pytest.approx(r["rate"] * 24 / r["interval_hours"] * 365 * 100)
            assert r["rate_8h"] == pytest.approx(r["rate"] * 8 / r["interval_hours"])
        hl = next(r for r in out["rates"] if r["venue"] == "hyperliquid")
        assert hl["interval_hours"] == 1.0 and hl["interval_assumed"] is False
        bn = next(r for r in out["rates"] if r["venue"] == "binance_usdm")
        assert bn["interval_assumed"] is True  # Binance's stream does not say; 8 h assumed and flagged
        for s in out["summaries"]:
            rs = [r for r in out["rates"] if r["symbol"] == s["symbol"]]
            assert s["highest_annualized_pct"] == max(r["annualized_pct"] for r in rs)


async def test_get_open_interest_now_and_change(server, market_store):
    async with Client(server) as client:
        out = await call(client, "get_open_interest", symbol="ETHUSDT", windows=["1h"], max_age_s=BIG_AGE)
        by_venue = {v["venue"]: v for v in out["venues"]}
        assert {"bybit", "okx", "hyperliquid"} <= set(by_venue)
        for venue, v in by_venue.items():
            sent = market_store.last_sent[("OpenInterest", venue, "perp", "ETHUSDT")]
            assert v["oi_base"] == pytest.approx(sent.oi_base)
            (first,), = market_store.sql("SELECT arg_min(oi_base, ts_ns) FROM lake.open_interest "
                                         "WHERE venue = ? AND symbol = 'ETHUSDT'", [venue])
            ch = v["changes"][0]
            assert ch["oi_base_then"] == pytest.approx(first)
            assert ch["change_base"] == pytest.approx(v["oi_base"] - first)
            assert ch["partial"] is True  # ~10 s of data for a 1 h window
        assert out["total_notional"] == pytest.approx(sum(v["oi_notional"] for v in out["venues"] if v["oi_notional"]))


async def test_get_liquidations_totals_equal_what_was_sent(server, market_store):
    async with Client(server) as client:
        since = datetime.fromtimestamp(market_store.ready_ns / 1e9, tz=UTC).isoformat()
        out = await call(client, "get_liquidations", since=since, limit=500)
        sent = market_store.liquidations_sent
        assert sent, "the planted 300 bps drop should have liquidated longs"
        alls = {t["side"]: t for t in out["totals"] if t["venue"] == "all"}
        for side in ("long", "short"):
            ss = [liq for liq in sent if liq.side == side]
            if not ss:
                continue
            assert alls[side]["events"] == len(ss)
            assert alls[side]["notional"] == pytest.approx(sum(liq.notional for liq in ss), rel=1e-5)  # wire rounding
        assert len(out["events"]) == len(sent) and out["truncated"] is False
        assert out["venues_without_stream"] == ["hyperliquid"]
        few = await call(client, "get_liquidations", symbol="BTCUSDT", venues=["okx"], limit=2,
                         min_notional=0)
        assert len(few["events"]) == 2 and few["truncated"] is True and {e["venue"] for e in few["events"]} == {"okx"}


async def test_get_market_snapshot_collects_everything(server, market_store):
    async with Client(server) as client:
        out = await call(client, "get_market_snapshot", symbol="ETHUSDT", max_age_s=BIG_AGE,
                         response_format="detailed")
        venue, _market, _sym = DISLOCATED
        quotes = {q["venue"]: q for q in out["prices"]["quotes"]}
        assert set(quotes) == set(PERP_VENUES)
        assert {f["venue"] for f in out["funding"]} == set(PERP_VENUES)
        okx_mark = next(m for m in out["marks"] if m["venue"] == venue)
        assert okx_mark["premium_bps"] > 30  # okx trades 60 bps over the others' (lagged) fair price
        assert out["context_24h"]["bars"] >= 1 and 0 <= out["context_24h"]["percentile"] <= 100
        assert {f["venue"] for f in out["trades_24h"]} >= {"all", *PERP_VENUES}
        concise = await call(client, "get_market_snapshot", symbol="ETHUSDT", max_age_s=BIG_AGE)
        assert [f["venue"] for f in concise["trades_24h"]] == ["all"] and concise["marks"] == []


async def test_list_markets_pages_cover_every_market_once(server, market_store):
    async with Client(server) as client:
        stored = {tuple(r) for r in market_store.sql("SELECT DISTINCT venue, market, symbol FROM lake.trades")}
        seen, cursor = [], None
        for _ in range(10):
            args = {"limit": 4, **({"cursor": cursor} if cursor else {})}
            out = await call(client, "list_markets", **args)
            seen += [(m["venue"], m["market"], m["symbol"]) for m in out["markets"]]
            cursor = out["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(set(seen)) and set(seen) == stored and out["total"] == len(stored)
        okx = await call(client, "list_markets", venue="okx", symbol="ETHUSDT", response_format="detailed")
        perp = next(m for m in okx["markets"] if m["market"] == "perp")
        streams = {s["stream"]: s for s in perp["streams"]}
        (n,), = market_store.sql("SELECT count(*) FROM lake.trades WHERE venue='okx' AND symbol='ETHUSDT' "
                                 "AND market='perp'")
        assert streams["trades"]["rows"] == n and "funding" in streams and "book_snapshots" in streams
        assert okx["venues"][0]["taker_fee_bps"] == {"perp": 5.0, "spot": 10.0}
        # the collector that filled the store ran in this test process and stopped seconds ago: seen
        # through its health.json, never as one this server controls
        assert okx["collector"]["state"] != "running_in_process" and okx["collector"]["pid"] is not None


async def test_resources_schema_and_venues(server, market_store):
    async with Client(server) as client:
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert uris == {"cryptoflow://schema", "cryptoflow://venues"}
        schema = (await client.read_resource("cryptoflow://schema")).contents[0].text
        venues = json.loads((await client.read_resource("cryptoflow://venues")).contents[0].text)
    assert "**trades**" in schema and "ts_ns BIGINT" in schema and "funding_rates" in schema
    assert venues["hyperliquid"]["taker_fee_bps"] == {"perp": 4.5} and "liquidation" not in venues["hyperliquid"][
        "markets"]["perp"]
