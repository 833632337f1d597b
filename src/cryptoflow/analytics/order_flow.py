"""Order flow: who is aggressive, where volume traded, and what the resting book says.

Pure functions over numpy arrays (``analytics.data`` loads them). Trades: ``ts_ns`` (int ns),
``price``, ``qty`` (base units), ``sign`` (+1 aggressive buy, -1 aggressive sell). Books:
(n, depth) matrices, best level first, NaN-padded. Every function returns an explained ``Result``.
"""

from __future__ import annotations

import numpy as np

from cryptoflow.analytics.explain import Result, Window, num, tail, window_of

# ---- named constants (every threshold a result depends on) --------------------------------------
#: Share of the traded volume the value area covers (the market-profile convention).
VALUE_AREA_SHARE = 0.70
#: Default number of price bins of a volume profile when no bin size is given.
PROFILE_BINS = 50
#: A resting level is a wall when its size is at least this multiple of the snapshot's median level size.
WALL_MULTIPLE = 5.0
#: A wall "held" when it was present in at least this share of the snapshots since it first appeared.
WALL_HOLD_SHARE = 0.8
#: Outsized levels seen in fewer snapshots than this are noise, not walls.
WALL_MIN_SNAPSHOTS = 3
#: Absorption: a bucket's |delta| must be at least this many robust z-scores above normal ...
ABSORPTION_FLOW_Z = 2.0
#: ... while its |return| stays at or below this quantile of all buckets' |returns|.
ABSORPTION_MOVE_QUANTILE = 0.5
#: |imbalance| at which the reading says "lead" / "dominate" (readings only; values are unchanged).
IMBALANCE_LEAD = 0.05
IMBALANCE_DOMINATE = 0.2
#: |CVD| / volume from which a CVD against the price move is called a divergence.
CVD_DIVERGENCE_MIN = 0.02
#: Largest whale trades listed in a result.
WHALES_LISTED = 20


def _empty(name: str, formula: str, reason: str) -> Result:
    return Result(name=name, value=None, formula=formula, reading=reason, window=Window(observations=0))


def trade_imbalance(ts_ns: np.ndarray, qty: np.ndarray, sign: np.ndarray,
                    windows_s: tuple[float, ...] = (60, 300, 900, 3600), end_ns: int | None = None) -> Result:
    """Aggressor imbalance over trailing windows ending at ``end_ns`` (default: the last trade)."""
    formula = "imbalance_w = (buy_qty - sell_qty) / (buy_qty + sell_qty) over trades with ts in (end - w, end]"
    if len(ts_ns) == 0:
        return _empty("trade_imbalance", formula, "no trades in the window")
    end = int(ts_ns[-1]) if end_ns is None else end_ns
    buy_cum = np.concatenate([[0.0], np.cumsum(np.where(sign > 0, qty, 0.0))])
    sell_cum = np.concatenate([[0.0], np.cumsum(np.where(sign < 0, qty, 0.0))])
    hi = int(np.searchsorted(ts_ns, end, side="right"))
    values, details = {}, {}
    for w in windows_s:
        lo = int(np.searchsorted(ts_ns, end - int(w * 1e9), side="right"))
        b, s = buy_cum[hi] - buy_cum[lo], sell_cum[hi] - sell_cum[lo]
        key = f"{int(w)}s"
        values[key] = num((b - s) / (b + s), 4) if b + s > 0 else None
        details[key] = {"buy_qty": num(b), "sell_qty": num(s), "trades": hi - lo}
    head = values[f"{int(windows_s[0])}s"]
    reading = None if head is None else (
        f"buyers {'dominate' if head > IMBALANCE_DOMINATE else 'lead'}" if head > IMBALANCE_LEAD else
        f"sellers {'dominate' if head < -IMBALANCE_DOMINATE else 'lead'}" if head < -IMBALANCE_LEAD else "balanced")
    return Result(name="trade_imbalance", value=values, formula=formula, unit="fraction in [-1, 1]",
                  window=window_of(ts_ns, "trades", end_ns=end + 1), inputs={"windows_s": list(windows_s)},
                  reading=f"shortest window: {reading}" if reading else None, details=details)


def cvd(ts_ns: np.ndarray, price: np.ndarray, qty: np.ndarray, sign: np.ndarray, bucket_s: float = 60) -> Result:
    """Cumulative volume delta per bucket, and whether it diverges from price."""
    formula = "delta_b = sum(sign * qty) per bucket; cvd_t = sum of delta_b up to t (from the window start)"
    if len(ts_ns) == 0:
        return _empty("cvd", formula, "no trades in the window")
    step = int(bucket_s * 1e9)
    b = (ts_ns - ts_ns[0] // step * step) // step
    delta = np.bincount(b, weights=sign * qty)
    series = np.cumsum(delta)
    t0 = ts_ns[0] // step * step
    last_idx = np.concatenate([np.flatnonzero(np.diff(b)), [len(b) - 1]])
    close = np.full(len(series), np.nan)
    close[b[last_idx]] = price[last_idx]
    close = close[np.maximum.accumulate(np.where(np.isfinite(close), np.arange(len(close)), 0))]
    price_change = float(price[-1] / price[0] - 1.0) * 1e4
    total = float(qty.sum())
    cvd_norm = float(series[-1] / total) if total > 0 else 0.0
    divergence = None
    if abs(price_change) > 0 and abs(cvd_norm) > CVD_DIVERGENCE_MIN and np.sign(price_change) != np.sign(cvd_norm):
        divergence = "bearish (price up, net selling)" if price_change > 0 else "bullish (price down, net buying)"
    return Result(
        name="cvd", value=num(series[-1]), formula=formula, unit="base qty",
        window=window_of(ts_ns, f"{bucket_s:g}s buckets"),
        inputs={"bucket_s": bucket_s, "trades": len(ts_ns)},
        reading=f"divergence: {divergence}" if divergence else ("net buying" if series[-1] > 0 else "net selling"),
        details={"cvd_over_volume": num(cvd_norm, 4), "price_change_bps": num(price_change, 2),
                 "bucket_start_ns": tail(t0 + np.arange(len(series), dtype=np.int64) * step),
                 "cvd": tail(series), "delta": tail(delta), "close": tail(close)})


def volume_profile(price: np.ndarray, qty: np.ndarray, bin_size: float | None = None, bins: int = PROFILE_BINS,
                   value_area: float = VALUE_AREA_SHARE) -> Result:
    """Volume by price bin; point of control (POC) and the value area around it.

    Bins: ``[k * bin_size, (k + 1) * bin_size)`` when ``bin_size`` is given, else ``bins`` equal bins
    from min to max price. Value area: start at the POC bin, repeatedly add the neighbouring bin
    (above or below) with more volume (above on ties) until ``value_area`` of the volume is inside.
    """
    formula = (f"POC = centre of the bin with most volume; value area = bins grown from POC toward the larger "
               f"neighbour until >= {value_area:.0%} of volume")
    if len(price) == 0 or float(qty.sum()) <= 0:
        return _empty("volume_profile", formula, "no volume in the window")
    if bin_size is not None and bin_size > 0:
        lo_k = np.floor(price.min() / bin_size)
        k = (np.floor(price / bin_size) - lo_k).astype(np.int64)
        edges = (lo_k + np.arange(int(k.max()) + 2)) * bin_size
    else:
        lo, hi = float(price.min()), float(price.max())
        hi = hi if hi > lo else lo + 1e-9 * max(abs(lo), 1.0)
        edges = np.linspace(lo, hi, bins + 1)
        k = np.clip(np.searchsorted(edges, price, side="right") - 1, 0, bins - 1)
    vol = np.bincount(k, weights=qty, minlength=len(edges) - 1)
    poc = int(np.argmax(vol))
    lo_i = hi_i = poc
    inside, total = vol[poc], vol.sum()
    while inside < value_area * total - 1e-12 and (lo_i > 0 or hi_i < len(vol) - 1):
        up = vol[hi_i + 1] if hi_i < len(vol) - 1 else -1.0
        down = vol[lo_i - 1] if lo_i > 0 else -1.0
        if up >= down:
            hi_i += 1
            inside += up
        else:
            lo_i -= 1
            inside += down
    centres = (edges[:-1] + edges[1:]) / 2
    top = np.argsort(vol)[::-1][:10]
    return Result(
        name="volume_profile", value=num(centres[poc]), formula=formula, unit="price",
        window=Window(observations=len(price), resolution=f"{len(vol)} price bins"),
        inputs={"bin_size": bin_size, "bins": len(vol), "value_area_share": value_area},
        reading=f"most volume traded near {centres[poc]:.6g}; {value_area:.0%} between "
                f"{edges[lo_i]:.6g} and {edges[hi_i + 1]:.6g}",
        details={"poc": num(centres[poc]), "value_area_low": num(edges[lo_i]), "value_area_high": num(edges[hi_i + 1]),
                 "value_area_volume_share": num(inside / total, 4), "total_volume": num(total),
                 "top_bins": [{"price": num(centres[i]), "volume": num(vol[i])} for i in top if vol[i] > 0]})


def vwap_deviation(price: np.ndarray, qty: np.ndarray) -> Result:
    """VWAP of the window and how far the last price is from it (bps and volume-weighted sigmas)."""
    formula = "vwap = sum(p*q)/sum(q); deviation_bps = (last/vwap - 1)*1e4; sigma = sqrt(sum(q*(p-vwap)^2)/sum(q))"
    total = float(qty.sum()) if len(qty) else 0.0
    if total <= 0:
        return _empty("vwap", formula, "no volume in the window")
    vwap = float(np.dot(price, qty) / total)
    sigma = float(np.sqrt(np.dot(qty, (price - vwap) ** 2) / total))
    last = float(price[-1])
    dev_bps = (last / vwap - 1.0) * 1e4
    dev_sigma = (last - vwap) / sigma if sigma > 0 else 0.0
    return Result(
        name="vwap", value=num(vwap), formula=formula, unit="price", window=Window(observations=len(price),
                                                                                  resolution="trades"),
        inputs={"trades": len(price), "volume": total},
        reading=f"last price {dev_bps:+.1f} bps ({dev_sigma:+.2f} sigma) from VWAP",
        details={"last_price": last, "deviation_bps": num(dev_bps, 3), "deviation_sigma": num(dev_sigma, 3),
                 "sigma": num(sigma), "upper_band_2sigma": num(vwap + 2 * sigma),
                 "lower_band_2sigma": num(vwap - 2 * sigma)})


def whales(ts_ns: np.ndarray, price: np.ndarray, qty: np.ndarray, sign: np.ndarray, percentile: float = 99.0) -> Result:
    """Large trades: notional at or above the window's ``percentile`` of trade notionals."""
    formula = (f"whale = trade with price*qty >= P{percentile:g}(price*qty of the window's trades); "
               "net = (whale buy notional - whale sell notional) / whale notional")
    if len(price) == 0:
        return _empty("whales", formula, "no trades in the window")
    notional = price * qty
    thr = float(np.percentile(notional, percentile))
    m = notional >= thr
    wb, ws = float(notional[m & (sign > 0)].sum()), float(notional[m & (sign < 0)].sum())
    tot = float(notional.sum())
    net = (wb - ws) / (wb + ws) if wb + ws > 0 else 0.0
    idx = np.flatnonzero(m)
    largest = idx[np.argsort(notional[idx])[::-1][:WHALES_LISTED]]
    return Result(
        name="whales", value=num(net, 4), formula=formula, unit="fraction in [-1, 1]",
        window=window_of(ts_ns, "trades"), inputs={"percentile": percentile, "trades": len(price)},
        reading=f"{int(m.sum())} whale trades (>= {thr:,.0f} notional), "
                f"{'buying' if net > 0.1 else 'selling' if net < -0.1 else 'two-sided'}",
        details={"threshold_notional": num(thr), "count": int(m.sum()), "buy_notional": wb, "sell_notional": ws,
                 "share_of_notional": num((wb + ws) / tot if tot > 0 else 0.0, 4),
                 "largest": [{"ts_ns": int(ts_ns[i]), "price": num(price[i]), "qty": num(qty[i]),
                              "notional": num(notional[i]), "side": "buy" if sign[i] > 0 else "sell"}
                             for i in largest]})


def book_imbalance(bid_qty: np.ndarray, ask_qty: np.ndarray, depths: tuple[int, ...] = (1, 5, 10, 20),
                   ts_ns: np.ndarray | None = None) -> Result:
    """Resting-size imbalance at several depths: latest snapshot, and the mean over the window."""
    formula = "imbalance_d = (sum bid qty of top d levels - sum ask qty) / (sum of both)"
    if bid_qty.size == 0:
        return _empty("book_imbalance", formula, "no book snapshots in the window")
    latest, mean = {}, {}
    for d in depths:
        if d > bid_qty.shape[1]:
            continue
        b, a = np.nansum(bid_qty[:, :d], axis=1), np.nansum(ask_qty[:, :d], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            imb = np.where(b + a > 0, (b - a) / (b + a), np.nan)
        latest[str(d)], mean[str(d)] = num(imb[-1], 4), num(np.nanmean(imb), 4) if np.isfinite(imb).any() else None
    first = next(iter(latest.values()), None)
    return Result(name="book_imbalance", value=latest, formula=formula, unit="fraction in [-1, 1] per depth",
                  window=window_of(ts_ns, "snapshots") if ts_ns is not None else Window(observations=len(bid_qty)),
                  inputs={"depths": list(depths)}, details={"mean_over_window": mean},
                  reading=None if first is None else ("bids heavier" if first > 0.1 else
                                                      "asks heavier" if first < -0.1 else "balanced top of book"))


def walls(ts_ns: np.ndarray, bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray, ask_qty: np.ndarray,
          multiple: float = WALL_MULTIPLE, hold_share: float = WALL_HOLD_SHARE) -> Result:
    """Outsized resting levels and whether they held across snapshots.

    Status of each wall (side, price): ``holding`` if in the latest snapshot and present in at
    least ``hold_share`` of snapshots since first seen; ``flickering`` if in the latest snapshot
    but less often; ``consumed`` if gone and the best price traded through it; ``pulled`` if gone
    while the price never reached it (spoof-like).
    """
    formula = (f"wall = level with qty >= {multiple:g} x median level qty of its snapshot; "
               f"held = present in >= {hold_share:.0%} of snapshots since first seen "
               f"(seen >= {WALL_MIN_SNAPSHOTS} times)")
    n = len(ts_ns)
    if n == 0:
        return _empty("walls", formula, "no book snapshots in the window")
    med = np.nanmedian(np.concatenate([bid_qty, ask_qty], axis=1), axis=1)[:, None]
    # Best prices from each snapshot on: did the market trade through a level after it vanished?
    low_bid_after = np.minimum.accumulate(np.nan_to_num(bid_px[::-1, 0], nan=np.inf))[::-1]
    high_ask_after = np.maximum.accumulate(np.nan_to_num(ask_px[::-1, 0], nan=-np.inf))[::-1]
    out = []
    counts = {"holding": 0, "flickering": 0, "consumed": 0, "pulled": 0}
    for side, px, qty in (("bid", bid_px, bid_qty), ("ask", ask_px, ask_qty)):
        mask = np.nan_to_num(qty) >= multiple * np.nan_to_num(med, nan=np.inf)
        rows, cols = np.nonzero(mask)
        if not len(rows):
            continue
        keys, inv = np.unique(px[rows, cols], return_inverse=True)
        # per wall price: first/last snapshot, snapshots seen (a price appears once per side per snapshot)
        first = np.full(len(keys), n, dtype=np.int64)
        np.minimum.at(first, inv, rows)
        last = np.zeros(len(keys), dtype=np.int64)
        np.maximum.at(last, inv, rows)
        seen = np.bincount(inv, minlength=len(keys))
        max_qty = np.zeros(len(keys))
        np.maximum.at(max_qty, inv, qty[rows, cols])
        keep = seen >= min(WALL_MIN_SNAPSHOTS, n)
        share = seen / (n - first)
        after = np.minimum(last + 1, n - 1)
        through = low_bid_after[after] < keys if side == "bid" else high_ask_after[after] > keys
        status = np.where(last == n - 1, np.where(share >= hold_share, "holding", "flickering"),
                          np.where(through, "consumed", "pulled"))
        for k in counts:
            counts[k] += int(np.sum(keep & (status == k)))
        for j in np.flatnonzero(keep)[np.argsort(-max_qty[keep])][:50]:
            out.append({"side": side, "price": num(keys[j]), "max_qty": num(max_qty[j]),
                        "first_seen_ns": int(ts_ns[first[j]]), "last_seen_ns": int(ts_ns[last[j]]),
                        "presence_share": num(share[j], 3), "status": str(status[j])})
    out.sort(key=lambda w: -(w["max_qty"] or 0))
    return Result(name="walls", value=counts["holding"], formula=formula, unit="walls holding now",
                  window=window_of(ts_ns, "snapshots"), inputs={"multiple": multiple, "hold_share": hold_share},
                  reading=f"{counts['holding']} holding, {counts['pulled']} pulled, {counts['consumed']} consumed",
                  details={"walls": out[:50], "counts": counts})


def absorption(ts_ns: np.ndarray, price: np.ndarray, qty: np.ndarray, sign: np.ndarray, bucket_s: float = 60,
               flow_z: float = ABSORPTION_FLOW_Z, move_quantile: float = ABSORPTION_MOVE_QUANTILE) -> Result:
    """Heavy aggressive flow that hardly moved the price: passive liquidity absorbed it.

    Absorbed buying (delta > 0, flat price) means hidden sellers: bearish; absorbed selling: bullish.
    ``value`` is the net direction in [-1, 1]: -sum(delta of absorption buckets) / sum(|delta|).
    """
    formula = (f"absorption bucket: robust z(|delta|) >= {flow_z:g} and |return| <= "
               f"q{move_quantile:g}(|returns|); net = -sum(delta_abs) / sum(|delta_abs|)")
    if len(ts_ns) < 2:
        return _empty("absorption", formula, "too few trades")
    step = int(bucket_s * 1e9)
    b = (ts_ns - ts_ns[0] // step * step) // step
    delta = np.bincount(b, weights=sign * qty)
    last = np.concatenate([np.flatnonzero(np.diff(b)), [len(b) - 1]])
    first = np.concatenate([[0], last[:-1] + 1])
    present = np.bincount(b) > 0
    delta = delta[present]
    ret_bps = (price[last] / price[first] - 1.0) * 1e4
    if len(delta) < 5:
        return _empty("absorption", formula, "fewer than 5 buckets with trades")
    absd = np.abs(delta)
    med = np.median(absd)
    mad = np.median(np.abs(absd - med)) * 1.4826 or (absd.std() or 1.0)
    z = (absd - med) / mad
    move_cap = np.quantile(np.abs(ret_bps), move_quantile)
    hit = (z >= flow_z) & (np.abs(ret_bps) <= move_cap)
    net = -float(delta[hit].sum() / absd[hit].sum()) if hit.any() else 0.0
    bucket_t = (ts_ns[0] // step * step + np.flatnonzero(present) * step)
    events = [{"bucket_start_ns": int(bucket_t[i]), "delta": num(delta[i]), "return_bps": num(ret_bps[i], 2),
               "flow_z": num(z[i], 2), "absorbed": "buying" if delta[i] > 0 else "selling"}
              for i in np.flatnonzero(hit)[-30:]]
    return Result(name="absorption", value=num(net, 4), formula=formula, unit="fraction in [-1, 1]",
                  window=window_of(ts_ns, f"{bucket_s:g}s buckets"),
                  inputs={"bucket_s": bucket_s, "flow_z": flow_z, "move_quantile": move_quantile},
                  reading=f"{int(hit.sum())} absorption buckets; "
                          + ("passive buyers absorbing sells (bullish)" if net > 0.2 else
                             "passive sellers absorbing buys (bearish)" if net < -0.2 else "no clear side"),
                  details={"events": events, "buckets": len(delta), "move_cap_bps": num(move_cap, 3)})


__all__ = ["absorption", "book_imbalance", "cvd", "trade_imbalance", "volume_profile", "vwap_deviation", "walls",
           "whales"]
