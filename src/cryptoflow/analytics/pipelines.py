"""One function per analytics question (one MCP tool): load from the lake, compute, return a Report.

Why this module: MCP tools stay thin (validate, call one of these, shape the result), and the
feature calculators and the benchmark call exactly the same code as the tools.

Windows: give ``start``/``end`` (datetime or int ns), or only ``lookback_s``: then the window ends
just after the newest stored row for that book, so a store filled earlier still answers.
"""

from __future__ import annotations

import numpy as np

from cryptoflow.analytics import alpha, data, lead_lag, leverage, order_flow, regime, spreads
from cryptoflow.analytics.explain import Report, Window
from cryptoflow.errors import QueryError
from cryptoflow.store.lake import Lake
from cryptoflow.store.queries import TimeLike

NS = 1_000_000_000
IMBALANCE_WINDOWS_S = (60, 300, 900, 3600, 14_400, 86_400)


def _window(s: int, e: int, n: int, res: str) -> Window:
    return Window(start_ns=s, end_ns=e, observations=n, resolution=res)


def analyze_order_flow(lake: Lake, venue: str, symbol: str, market: str = "perp", start: TimeLike = None,
                       end: TimeLike = None, lookback_s: float = 3600, bucket_s: float = 60,
                       whale_percentile: float = 99.0, profile_bins: int = 50, book_depth: int = 20) -> Report:
    """Trade imbalance, CVD, volume profile, VWAP, whales, absorption; book imbalance and walls."""
    s, e = data.resolve_window(lake, "trades", symbol, venue, market, start, end, lookback_s)
    tr = data.load_trades(lake, venue, symbol, market, s, e)
    if not len(tr):
        raise QueryError(f"no trades for {venue} {market} {symbol} in the window")
    span = (e - s) / NS
    wins = (*tuple(w for w in IMBALANCE_WINDOWS_S if w < span), span)
    m = {
        "trade_imbalance": order_flow.trade_imbalance(tr.ts_ns, tr.qty, tr.sign, wins, end_ns=e - 1),
        "cvd": order_flow.cvd(tr.ts_ns, tr.price, tr.qty, tr.sign, bucket_s),
        "volume_profile": order_flow.volume_profile(tr.price, tr.qty, bins=profile_bins),
        "vwap": order_flow.vwap_deviation(tr.price, tr.qty),
        "whales": order_flow.whales(tr.ts_ns, tr.price, tr.qty, tr.sign, whale_percentile),
        "absorption": order_flow.absorption(tr.ts_ns, tr.price, tr.qty, tr.sign, bucket_s),
    }
    notes = ["trades truncated to the most recent rows"] if tr.truncated else []
    bk = data.load_books(lake, venue, symbol, market, s, e, depth=book_depth)
    if len(bk):
        m["book_imbalance"] = order_flow.book_imbalance(bk.bid_qty, bk.ask_qty, ts_ns=bk.ts_ns)
        m["walls"] = order_flow.walls(bk.ts_ns, bk.bid_px, bk.bid_qty, bk.ask_px, bk.ask_qty)
    else:
        notes.append("no book snapshots stored in the window: book imbalance and walls skipped")
    return Report(name="order_flow", metrics=m, window=_window(s, e, len(tr), "trades"), notes=notes,
                  inputs={"venue": venue, "symbol": symbol, "market": market, "bucket_s": bucket_s,
                          "whale_percentile": whale_percentile})


def analyze_leverage(lake: Lake, symbol: str, venues: list[str] | None = None, start: TimeLike = None,
                     end: TimeLike = None, lookback_s: float = 4 * 3600, step_s: float = 60,
                     cascade_gap_s: float = leverage.CASCADE_GAP_S,
                     cascade_min_events: int = leverage.CASCADE_MIN_EVENTS) -> Report:
    """OI flow per venue, funding stress across venues, liquidation cascades and long/short skew."""
    table = "open_interest" if data.latest_ts(lake, "open_interest", symbol) else "funding_rates"
    s, e = data.resolve_window(lake, table, symbol, None, "perp", start, end, lookback_s)
    step = int(step_s * NS)
    m, notes = {}, []
    fund = data.load_funding(lake, symbol, venues, s, e, step)
    m["funding_stress"] = leverage.funding_stress(fund.by_venue)
    oi = data.load_open_interest(lake, symbol, venues, s, e, step)
    flows = {}
    for v, (t, x) in oi.by_venue.items():
        pt, px = data.load_series(lake, "price", v, symbol, "perp", s, e, step)
        flows[v] = leverage.oi_flow(t, x, pt, px)
    usable = [v for v, r in flows.items() if r.value is not None]
    if usable:
        # the venue with the largest open interest (notional) speaks for the market
        main = max(usable, key=lambda v: float(np.nan_to_num(oi.extra[v]["notional"][-1])))
        m["oi_flow"] = flows[main]
        m["oi_flow"].inputs["venue"] = main
        m["oi_flow"].details["by_venue"] = {v: r.value for v, r in flows.items()}
    else:
        notes.append("no open interest with trades to compare stored in the window")
    liq = data.load_liquidations(lake, symbol, venues, s, e)
    ref = next(iter(flows), None) or (venues[0] if venues else None)
    tt = tp = None
    if ref is not None and len(liq):
        tt, tp = data.load_series(lake, "price", ref, symbol, "perp", s, e, NS)
    m["liquidation_cascades"] = leverage.liquidation_cascades(liq.ts_ns, liq.notional, liq.long, liq.price, tt, tp,
                                                              cascade_gap_s, cascade_min_events)
    m["long_short_skew"] = leverage.long_short_skew(liq.notional, liq.long, liq.ts_ns)
    return Report(name="leverage", metrics=m, window=_window(s, e, len(fund) + len(oi) + len(liq), "mixed"),
                  notes=notes, inputs={"symbol": symbol, "venues": venues or "all", "step_s": step_s})


def analyze_cross_exchange(lake: Lake, symbol: str, venues: list[str] | None = None, market: str = "perp",
                           start: TimeLike = None, end: TimeLike = None, lookback_s: float = 900,
                           step_ms: float = lead_lag.GRID_MS, max_lag_ms: float = lead_lag.MAX_LAG_MS,
                           dislocation_bps: float = spreads.DISLOCATION_BPS,
                           dislocation_min_s: float = spreads.DISLOCATION_MIN_S) -> Report:
    """Lead-lag, price-discovery share, venue spreads, perp-vs-spot basis, persistent dislocations."""
    s, e = data.resolve_window(lake, "bbo", symbol, None, market, start, end, lookback_s)
    vs = venues or data.venues_with(lake, "bbo", symbol, market, s, e)
    if len(vs) < 2:
        raise QueryError(f"cross-exchange analysis needs quotes from two venues; found {vs or 'none'} for "
                         f"{market} {symbol} in the window")
    step = int(step_ms * 1e6)
    notes = []
    cap = lead_lag.MAX_GRID_POINTS * step
    if e - s > cap:
        s = e - cap
        notes.append(f"statistics use the most recent {cap / NS / 3600:.2f} h of the window "
                     f"({lead_lag.MAX_GRID_POINTS} points of {step_ms:g} ms)")
    raw = data.load_mids(lake, vs, symbol, market, s, e, step)
    grid, mids = lead_lag.on_grid(raw, step)
    if len(grid) < 20:
        raise QueryError("the venues' quotes overlap for too short a time in the window")
    m = {"lead_lag": lead_lag.lead_lag(grid, mids, step_ms, max_lag_ms)}
    leader = m["lead_lag"].value
    order = sorted(mids, key=lambda v: v != leader)
    m["price_discovery"] = lead_lag.price_discovery(grid, {v: mids[v] for v in order}, step_ms)
    m["venue_spreads"] = spreads.venue_spreads(grid, mids, step_ms)
    m["dislocations"] = spreads.dislocations(grid, mids, step_ms, dislocation_bps, dislocation_min_s)
    if market == "perp":
        spot = data.venues_with(lake, "bbo", symbol, "spot", s, e)
        if spot:
            sraw = data.load_mids(lake, spot[:1], symbol, "spot", s, e, step)
            ref = leader or order[0]
            g2, both = lead_lag.on_grid({"perp": raw[ref], "spot": sraw[spot[0]]}, step)
            if len(g2):
                m["basis"] = spreads.basis(g2, both["perp"], both["spot"], step_ms)
                m["basis"].inputs.update({"perp_venue": ref, "spot_venue": spot[0]})
        else:
            notes.append("no spot quotes stored for this symbol: basis skipped")
    return Report(name="cross_exchange", metrics=m, window=_window(int(grid[0]), int(grid[-1]) + 1, len(grid),
                                                                      f"{step_ms:g} ms grid"),
                  notes=notes, inputs={"symbol": symbol, "venues": list(mids), "market": market, "step_ms": step_ms})


def detect_market_regime(lake: Lake, venue: str, symbol: str, market: str = "perp", start: TimeLike = None,
                         end: TimeLike = None, lookback_s: float = 86_400, bar_s: float = 60,
                         window: int = 20) -> Report:
    """Regime per bar with confidence and transition matrix; volatility regime."""
    s, e = data.resolve_window(lake, "trades", symbol, venue, market, start, end, lookback_s)
    b = data.load_bars(lake, venue, symbol, market, s, e, int(bar_s * NS))
    if len(b) < window + 3:
        raise QueryError(f"only {len(b)} bars of {bar_s:g}s in the window; need {window + 3}: widen the lookback "
                         "or shorten the bars")
    m = {"market_regime": regime.market_regime(b.ts_ns, b.close, b.high, b.low, window, bar_s),
         "volatility_regime": regime.volatility_regime(b.ts_ns, b.close, bar_s, max(window, 10))}
    return Report(name="market_regime", metrics=m, window=_window(s, e, len(b), f"{bar_s:g}s bars"),
                  inputs={"venue": venue, "symbol": symbol, "market": market, "bar_s": bar_s, "window": window})


def compute_alpha_signals(lake: Lake, venue: str, symbol: str, market: str = "perp", start: TimeLike = None,
                          end: TimeLike = None, lookback_s: float = 3600, bucket_s: float = 60) -> Report:
    """Institutional pressure, squeeze scores, smart-money absorption and the composite in [-1, 1]."""
    s, e = data.resolve_window(lake, "trades", symbol, venue, market, start, end, lookback_s)
    tr = data.load_trades(lake, venue, symbol, market, s, e)
    if not len(tr):
        raise QueryError(f"no trades for {venue} {market} {symbol} in the window")
    notes = []
    wh = order_flow.whales(tr.ts_ns, tr.price, tr.qty, tr.sign)
    flow = order_flow.trade_imbalance(tr.ts_ns, tr.qty, tr.sign, (min(300, (e - s) / NS),), end_ns=e - 1)
    cv = order_flow.cvd(tr.ts_ns, tr.price, tr.qty, tr.sign, bucket_s)
    ab = order_flow.absorption(tr.ts_ns, tr.price, tr.qty, tr.sign, bucket_s)
    inst = alpha.institutional_pressure(wh.details["buy_notional"], wh.details["sell_notional"],
                                        float(np.dot(tr.price, tr.qty)))
    absn = alpha.smart_money_absorption(ab.value, len(ab.details.get("events", [])), ab.details.get("buckets", 0))
    fz = oi_pct = skew = None
    move_bps = float(tr.price[-1] / tr.price[0] - 1) * 1e4
    if market == "perp":
        fund = data.load_funding(lake, symbol, [venue], s, e)
        fz = leverage.funding_stress(fund.by_venue).value
        oi = data.load_open_interest(lake, symbol, [venue], s, e)
        if venue in oi.by_venue and len(oi.by_venue[venue][1]) > 1 and oi.by_venue[venue][1][0]:
            x = oi.by_venue[venue][1]
            oi_pct = float(x[-1] / x[0] - 1) * 100
        liq = data.load_liquidations(lake, symbol, None, s, e)
        skew = leverage.long_short_skew(liq.notional, liq.long).value
    else:
        notes.append("spot market: funding, open interest and liquidations do not apply")
    sq = alpha.squeeze_probability(fz or 0.0, oi_pct or 0.0, move_bps, skew or 0.0)
    if fz is None or oi_pct is None:
        notes.append("squeeze scores used 0 for missing funding z / OI change")
    first = next(iter(flow.value.values()))
    parts = alpha.components(first, cv.details["cvd_over_volume"], inst.value, absn.value,
                             sq.value["short_squeeze"], sq.value["long_squeeze"], fz)
    m = {"composite": alpha.composite(parts), "institutional_pressure": inst, "squeeze_probability": sq,
         "smart_money_absorption": absn}
    return Report(name="alpha_signals", metrics=m, window=_window(s, e, len(tr), "trades"), notes=notes,
                  inputs={"venue": venue, "symbol": symbol, "market": market, "bucket_s": bucket_s})


def liquidation_heatmap(lake: Lake, symbol: str, venues: list[str] | None = None, start: TimeLike = None,
                        end: TimeLike = None, lookback_s: float = 86_400, bucket_size: float | None = None,
                        buckets: int = leverage.HEATMAP_BUCKETS) -> Report:
    """Liquidated notional by price bucket and side."""
    s, e = data.resolve_window(lake, "liquidations", symbol, None, None, start, end, lookback_s)
    liq = data.load_liquidations(lake, symbol, venues, s, e)
    m = {"liquidation_heatmap": leverage.liquidation_heatmap(liq.price, liq.notional, liq.long, bucket_size, buckets,
                                                             liq.ts_ns),
         "long_short_skew": leverage.long_short_skew(liq.notional, liq.long, liq.ts_ns)}
    return Report(name="liquidation_heatmap", metrics=m, window=_window(s, e, len(liq), "liquidations"),
                  inputs={"symbol": symbol, "venues": venues or "all"})


__all__ = ["analyze_cross_exchange", "analyze_leverage", "analyze_order_flow", "compute_alpha_signals",
           "detect_market_regime", "liquidation_heatmap"]
