"""Toolset ``analytics``: explained analytics over stored data, and the plugin feature calculators.

Each analysis tool validates its arguments, runs one function of ``analytics.pipelines`` or
``analytics.ts.pipelines`` in a worker thread, and returns its report (every metric with value,
formula, inputs and window). Windows end at the newest stored row unless ``end`` is given, so a
store filled earlier still answers.

Calculators (``features``): ``list_feature_calculators`` lists them (and plugins that failed to
load) and ``run_feature_calculator`` runs any of them. One ``calculate_<name>`` tool per calculator
is registered by ``register_calculators``, a toolset of its own that is off by default: eleven
built-ins plus plugins would push a full server far past the ~40 tools clients handle well.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from cryptoflow.analytics import pipelines
from cryptoflow.analytics.ts import pipelines as ts_pipelines
from cryptoflow.errors import CryptoflowError, QueryError
from cryptoflow.server import sources
from cryptoflow.server.context import ServerContext
from cryptoflow.server.models_analytics import (
    AnalyticsResult,
    CalculatorOut,
    CalculatorsResult,
    analytics_result,
    calculator_result,
    calculators_result,
)
from cryptoflow.server.params import (
    READ_ONLY,
    FormatArg,
    MarketArg,
    SymbolArg,
    VenueId,
    duration_s,
    iso,
    parse_time,
    respond,
    symbol_arg,
    tool,
)

if TYPE_CHECKING:
    from cryptoflow.features import CalculatorRegistry, FeatureCalculator

log = logging.getLogger(__name__)

SeriesKind = Literal["price", "volume", "trade_count", "delta", "spread_bps", "funding", "open_interest",
                     "liquidations"]
#: series -> the venue stream it is computed from (for argument checks and "no data" messages)
SERIES_STREAM = {"price": "trade", "volume": "trade", "trade_count": "trade", "delta": "trade", "spread_bps": "bbo",
                 "funding": "funding", "open_interest": "open_interest", "liquidations": "liquidation"}
AnomalyMethod = Literal["zscore", "iqr", "isolation_forest", "cusum"]
ChangeMethod = Literal["pelt", "binseg", "cusum", "all"]
FeatureGroup = Literal["statistical", "distribution", "trend", "volatility", "autocorrelation", "complexity"]
MAX_LOOKBACK_S = 30 * 86_400
MAX_POINTS = 200_000  # buckets one series may have (the loader keeps the most recent this many)

LookbackArg = Annotated[str, Field(max_length=20, description=(
    "window length ending at `end` (default: the newest stored row), e.g. 15m, 4h, 1d; at most 30d"))]
StartArg = Annotated[str | None, Field(max_length=40, description=(
    "window start, ISO 8601 UTC or an age like 4h (overrides lookback)"))]
EndArg = Annotated[str | None, Field(max_length=40, description=(
    "window end, ISO 8601 UTC or an age (default: just after the newest stored row)"))]
SeriesArg = Annotated[SeriesKind, Field(description=(
    "stored series: price (last trade), volume, trade_count, delta (buy - sell qty), spread_bps (quoted), "
    "funding, open_interest, liquidations (notional); perps only for the last three"))]
IntervalArg = Annotated[float, Field(ge=0.01, le=86_400, description="bucket width of the series in seconds")]
BucketArg = Annotated[float, Field(ge=1, le=86_400, description="flow bucket (CVD, absorption), seconds")]
PerpVenuesArg = Annotated[list[VenueId] | None, Field(max_length=8, description="perp venues (default: all)")]
CalcParamsArg = Annotated[dict[str, Any] | None, Field(description=(
    "the calculator's parameters by name (defaults fill the rest); list_feature_calculators shows them"))]


# ---- argument handling ------------------------------------------------------------------------------
def _window(lookback: str, start: str | None, end: str | None) -> dict[str, Any]:
    """Pipeline window arguments: ``start``/``end`` (naive UTC) when given, else ``lookback_s``."""
    lb = duration_s(lookback, "lookback")
    if not 0 < lb <= MAX_LOOKBACK_S:
        raise ToolError(f"lookback={lookback!r}: must be more than 0 and at most 30d; for longer spans give start/end")
    s = parse_time(start, "start") if start else None
    e = parse_time(end, "end") if end else None
    if s is not None and e is not None and s >= e:
        raise ToolError(f"start ({iso(s)}) must be before end ({iso(e)})")
    return {"start": s, "end": e, "lookback_s": lb}


def _check_points(win: dict[str, Any], step_s: float, arg: str) -> None:
    span = (win["end"] - win["start"]).total_seconds() if win["start"] and win["end"] else win["lookback_s"]
    if span / step_s > MAX_POINTS:
        raise ToolError(f"{arg}={step_s:g} over {span:g}s gives {span / step_s:,.0f} points; at most {MAX_POINTS:,}: "
                        f"raise {arg} to >= {span / MAX_POINTS:.3g} or shorten the window")


def _venue(venue: str, market: str, stream: str) -> list[str]:
    sources.check_venues([venue], market, stream, arg="venue")
    return [venue]


async def _stored(ctx: ServerContext, kind: str, symbol: str, venues: list[str] | None,
                  market: str | None) -> list[dict[str, Any]]:
    """Coverage rows (table, venue, market, symbol: rows, first, last) of the book(s) asked about."""
    table = sources.KIND_TABLE[kind]
    return [r for r in await ctx.coverage() if r["table_name"] == table and r["symbol"] == symbol
            and (not venues or r["venue"] in venues) and (market is None or r["market"] == market)]


def _report(lake: Any, fn: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    return fn(lake, **kwargs).to_dict()


async def _analyze(ctx: ServerContext, fn: Any, args: dict[str, Any], *, kind: str, symbol: str,
                   venues: list[str] | None, market: str | None, response_format: str) -> AnalyticsResult:
    """Run one pipeline (``fn(lake, symbol=symbol, **args)``) in a worker thread and shape its report.
    Nothing stored: the error names what exists; too little in the window: it adds the stored span."""
    if not await _stored(ctx, kind, symbol, venues, market):
        raise ToolError(await sources.explain_missing(ctx, kind, symbol, venues, market))
    try:
        rep = await ctx.query(_report, fn, {"symbol": symbol, **args})
    except QueryError as e:
        rows = await _stored(ctx, kind, symbol, venues, market)
        span = (f" Stored {kind} data for {symbol} spans {iso(min(r['first_ts'] for r in rows))} .. "
                f"{iso(max(r['last_ts'] for r in rows))}." if rows else "")
        raise ToolError(f"{e}.{span}") from None
    used = rep["inputs"].get("venues")
    names = used if isinstance(used, list) else venues or ["all"]
    return analytics_result(rep, symbol=symbol, venues=names, market=market, detailed=response_format == "detailed")


def _series_args(series: str, venue: str, market: str) -> str:
    if market == "spot" and series in ("funding", "open_interest", "liquidations"):
        raise ToolError(f"series={series!r} exists for perps only: use market='perp', or a spot series (price, "
                        "volume, trade_count, delta, spread_bps)")
    kind = SERIES_STREAM[series]
    _venue(venue, market, kind)
    return kind


# ---- tools -----------------------------------------------------------------------------------------
def register(server: MCPServer, ctx: ServerContext) -> None:
    @tool(server)
    async def analyze_order_flow(
        symbol: SymbolArg, venue: VenueId, market: MarketArg = "perp", lookback: LookbackArg = "1h",
        start: StartArg = None, end: EndArg = None,
        bucket_s: BucketArg = 60,
        whale_percentile: Annotated[float, Field(ge=50, le=99.99, description="trade notional percentile that "
                                                                               "counts as a whale")] = 99.0,
        profile_bins: Annotated[int, Field(ge=5, le=500, description="volume profile price bins")] = 50,
        response_format: FormatArg = "concise",
    ) -> AnalyticsResult:
        """Order flow of one book: trade imbalance over several windows, cumulative volume delta (CVD,
        buy minus sell base qty), volume profile (point of control, value area), VWAP and deviation, whale
        trades, absorption; from stored book snapshots also book imbalance by depth and walls. Sign: + =
        aggressive buying. Raw trades: get_trades; signals combining these: compute_alpha_signals."""
        sym = symbol_arg(symbol)
        _check_points(win := _window(lookback, start, end), bucket_s, "bucket_s")
        args = {"venue": venue, "market": market, "bucket_s": bucket_s, "whale_percentile": whale_percentile,
                "profile_bins": profile_bins, **win}
        return await _analyze(ctx, pipelines.analyze_order_flow, args, kind="trade", symbol=sym,
                              venues=_venue(venue, market, "trade"), market=market, response_format=response_format)

    @tool(server)
    async def analyze_leverage(
        symbol: SymbolArg, venues: PerpVenuesArg = None, lookback: LookbackArg = "4h", start: StartArg = None,
        end: EndArg = None,
        step_s: Annotated[float, Field(ge=1, le=86_400, description="sampling step of OI, price and funding, "
                                                                     "seconds")] = 60,
        cascade_gap_s: Annotated[float, Field(gt=0, le=3600, description="liquidations closer than this form one "
                                                                          "cluster, seconds")] = 5.0,
        cascade_min_events: Annotated[int, Field(ge=2, le=10_000, description="liquidations a cluster needs to "
                                                                               "count as a cascade")] = 5,
        response_format: FormatArg = "concise",
    ) -> AnalyticsResult:
        """Leverage in perps across venues: open-interest flow (price x OI: long/short build-up, short
        covering, long liquidation), funding stress (level, z-score, cross-venue dispersion), liquidation
        cascades (start, size, side, price move) and the long/short skew of liquidations. Current funding:
        get_funding; liquidations by price level: liquidation_heatmap."""
        sym = symbol_arg(symbol)
        vs = sources.check_venues(venues, "perp", "funding")
        _check_points(win := _window(lookback, start, end), step_s, "step_s")
        args = {"venues": vs, "step_s": step_s, "cascade_gap_s": cascade_gap_s,
                "cascade_min_events": cascade_min_events, **win}
        return await _analyze(ctx, pipelines.analyze_leverage, args, kind="funding", symbol=sym, venues=vs,
                              market="perp", response_format=response_format)

    @tool(server)
    async def analyze_cross_exchange(
        symbol: SymbolArg,
        venues: Annotated[list[VenueId] | None, Field(min_length=2, max_length=8, description=(
            "venues to compare, at least 2 (default: every venue with quotes)"))] = None,
        market: MarketArg = "perp", lookback: LookbackArg = "15m", start: StartArg = None, end: EndArg = None,
        step_ms: Annotated[float, Field(ge=10, le=60_000, description="common grid step, ms")] = 50,
        max_lag_ms: Annotated[float, Field(ge=10, le=60_000, description="largest lead-lag tested, ms")] = 2000,
        dislocation_bps: Annotated[float, Field(gt=0, le=5000, description="deviation from the other venues' "
                                                                            "median that counts as dislocated")] = 10,
        response_format: FormatArg = "concise",
    ) -> AnalyticsResult:
        """Between venues, from stored quotes: lead-lag (which venue moves first, by how many ms, how
        strongly), price-discovery share, venue-vs-venue spreads, perp-vs-spot basis and persistent
        dislocations. Tradable edges after fees now: find_arbitrage; spread matrix now: get_spread_matrix."""
        sym = symbol_arg(symbol)
        vs = sources.check_venues(venues, market, "bbo")
        have = sorted({r["venue"] for r in await _stored(ctx, "bbo", sym, vs, market)}) if vs else vs
        if vs and len(have) < 2:
            raise ToolError(f"venues: cross-exchange analysis needs stored {market} quotes of {sym} from 2 venues; of "
                            f"{', '.join(vs)} only {', '.join(have) or 'none'} have them (list_markets shows which do)")
        if max_lag_ms < step_ms:
            raise ToolError(f"max_lag_ms={max_lag_ms:g} must be at least step_ms={step_ms:g}")
        args = {"venues": vs, "market": market, "step_ms": step_ms, "max_lag_ms": max_lag_ms,
                "dislocation_bps": dislocation_bps, **_window(lookback, start, end)}
        return await _analyze(ctx, pipelines.analyze_cross_exchange, args, kind="bbo", symbol=sym, venues=vs,
                              market=market, response_format=response_format)

    @tool(server)
    async def detect_market_regime(
        symbol: SymbolArg, venue: VenueId, market: MarketArg = "perp", lookback: LookbackArg = "1d",
        start: StartArg = None, end: EndArg = None,
        bar_s: Annotated[float, Field(ge=0.1, le=86_400, description="bar length, seconds")] = 60,
        window: Annotated[int, Field(ge=5, le=500, description="bars per rolling window")] = 20,
        response_format: FormatArg = "concise",
    ) -> AnalyticsResult:
        """Market regime per bar (TRENDING_UP, TRENDING_DOWN, RANGING, HIGH_VOLATILITY, LOW_VOLATILITY,
        BREAKOUT, BREAKDOWN) with confidence and the transition matrix over the window, plus the volatility
        regime (realized vol percentile). Bars: get_ohlcv; level shifts: detect_change_points."""
        sym = symbol_arg(symbol)
        _check_points(win := _window(lookback, start, end), bar_s, "bar_s")
        args = {"venue": venue, "market": market, "bar_s": bar_s, "window": window, **win}
        return await _analyze(ctx, pipelines.detect_market_regime, args, kind="trade", symbol=sym,
                              venues=_venue(venue, market, "trade"), market=market, response_format=response_format)

    @tool(server)
    async def compute_alpha_signals(
        symbol: SymbolArg, venue: VenueId, market: MarketArg = "perp", lookback: LookbackArg = "1h",
        start: StartArg = None, end: EndArg = None,
        bucket_s: BucketArg = 60,
        response_format: FormatArg = "concise",
    ) -> AnalyticsResult:
        """Alpha signals of one book: institutional pressure (whale flow), long/short squeeze scores
        (funding z, OI change, price move, liquidation skew), smart-money absorption, and a composite in
        [-1, 1] (+ = bullish) with each component and weight. The flows behind it: analyze_order_flow."""
        sym = symbol_arg(symbol)
        _check_points(win := _window(lookback, start, end), bucket_s, "bucket_s")
        args = {"venue": venue, "market": market, "bucket_s": bucket_s, **win}
        return await _analyze(ctx, pipelines.compute_alpha_signals, args, kind="trade", symbol=sym,
                              venues=_venue(venue, market, "trade"), market=market, response_format=response_format)

    @tool(server)
    async def liquidation_heatmap(
        symbol: SymbolArg, venues: PerpVenuesArg = None, lookback: LookbackArg = "1d", start: StartArg = None,
        end: EndArg = None,
        bucket_size: Annotated[float | None, Field(gt=0, description=(
            "price bucket width in quote units (default: the range split into `buckets`)"))] = None,
        buckets: Annotated[int, Field(ge=2, le=200, description="number of price buckets when bucket_size is "
                                                                "not given")] = 40,
        response_format: FormatArg = "concise",
    ) -> AnalyticsResult:
        """Liquidated notional by price bucket and side (long = liquidated longs) across venues, with the
        long/short skew: where forced selling or buying happened. Events: get_liquidations; cascades:
        analyze_leverage. Hyperliquid publishes no liquidations."""
        sym = symbol_arg(symbol)
        vs = sources.check_venues(venues, "perp", "liquidation")
        args = {"venues": vs, "bucket_size": bucket_size, "buckets": buckets, **_window(lookback, start, end)}
        return await _analyze(ctx, pipelines.liquidation_heatmap, args, kind="liquidation", symbol=sym, venues=vs,
                              market="perp", response_format=response_format)

    _register_series_tools(server, ctx)
    _register_calculator_access(server, ctx)


def _register_series_tools(server: MCPServer, ctx: ServerContext) -> None:
    """The time-series engine on any stored series (one venue's book)."""

    async def run(fn_name: str, symbol: str, venue: str, series: str, market: str, lookback: str, start: str | None,
                  end: str | None, interval_s: float, response_format: str, **kwargs: Any) -> AnalyticsResult:
        sym = symbol_arg(symbol)
        kind = _series_args(series, venue, market)
        _check_points(win := _window(lookback, start, end), interval_s, "interval_s")
        args = {"venue": venue, "series": series, "market": market, "interval_s": interval_s, **win, **kwargs}
        return await _analyze(ctx, getattr(ts_pipelines, fn_name), args, kind=kind, symbol=sym, venues=[venue],
                              market=market, response_format=response_format)

    @tool(server)
    async def detect_anomalies(
        symbol: SymbolArg, venue: VenueId, series: SeriesArg = "price", market: MarketArg = "perp",
        lookback: LookbackArg = "1d", start: StartArg = None, end: EndArg = None, interval_s: IntervalArg = 60,
        methods: Annotated[list[AnomalyMethod] | None, Field(min_length=1, max_length=4, description=(
            "methods that vote (default: all four)"))] = None,
        min_votes: Annotated[int, Field(ge=1, le=4, description="methods that must agree on a point")] = 2,
        on_returns: Annotated[bool | None, Field(description=(
            "test the series' changes instead of its levels (default: true for price, false otherwise)"))] = None,
        response_format: FormatArg = "concise",
    ) -> AnalyticsResult:
        """Anomalous points of a stored series by rolling robust z-score, IQR fences, isolation forest and
        CUSUM, with an ensemble vote; each point with its time, value, robust z and the methods that flagged
        it. Prices are tested on their returns by default. Level shifts: detect_change_points."""
        ms = tuple(dict.fromkeys(methods or ("zscore", "iqr", "isolation_forest", "cusum")))
        if min_votes > len(ms):
            raise ToolError(f"min_votes={min_votes} exceeds the {len(ms)} method(s) given ({', '.join(ms)}): lower "
                            "min_votes or add methods")
        return await run("detect_anomalies", symbol, venue, series, market, lookback, start, end, interval_s,
                         response_format, methods=ms, min_votes=min_votes, on_returns=on_returns)

    @tool(server)
    async def detect_change_points(
        symbol: SymbolArg, venue: VenueId, series: SeriesArg = "price", market: MarketArg = "perp",
        lookback: LookbackArg = "1d", start: StartArg = None, end: EndArg = None, interval_s: IntervalArg = 60,
        method: Annotated[ChangeMethod, Field(description="pelt (default), binseg, cusum, or all (each reported; "
                                                          "points from pelt)")] = "pelt",
        penalty: Annotated[float, Field(gt=0, le=100, description=(
            "penalty per change as a multiple of sigma^2 log(n): higher finds fewer, larger shifts"))] = 3.0,
        response_format: FormatArg = "concise",
    ) -> AnalyticsResult:
        """Times where the level of a stored series shifts (PELT or binary segmentation via ruptures, or
        CUSUM), each with the mean before and after and the shift in noise sigmas. Single outliers:
        detect_anomalies; regimes: detect_market_regime."""
        return await run("detect_change_points", symbol, venue, series, market, lookback, start, end, interval_s,
                         response_format, method=method, penalty=penalty)

    @tool(server)
    async def analyze_seasonality(
        symbol: SymbolArg, venue: VenueId, series: SeriesArg = "volume", market: MarketArg = "perp",
        lookback: LookbackArg = "7d", start: StartArg = None, end: EndArg = None, interval_s: IntervalArg = 300,
        period_s: Annotated[float | None, Field(gt=0, le=30 * 86_400, description=(
            "decompose at this period in seconds (default: the strongest FFT period), e.g. 86400 for daily"))] = None,
        response_format: FormatArg = "concise",
    ) -> AnalyticsResult:
        """Periodic patterns of a stored series: the dominant periods of its FFT periodogram (with a
        significance test) and an STL decomposition at the top or given period (seasonal and trend
        strength, seasonal profile). Needs several cycles of data: volume by hour of day needs days."""
        if period_s is not None and period_s < 2 * interval_s:
            raise ToolError(f"period_s={period_s:g} must be at least 2 x interval_s ({2 * interval_s:g}s)")
        return await run("analyze_seasonality", symbol, venue, series, market, lookback, start, end, interval_s,
                         response_format, period_s=period_s)

    @tool(server)
    async def extract_features(
        symbol: SymbolArg, venue: VenueId, series: SeriesArg = "price", market: MarketArg = "perp",
        lookback: LookbackArg = "1d", start: StartArg = None, end: EndArg = None, interval_s: IntervalArg = 60,
        groups: Annotated[list[FeatureGroup] | None, Field(min_length=1, max_length=6, description=(
            "feature groups (default: all six)"))] = None,
        response_format: FormatArg = "concise",
    ) -> AnalyticsResult:
        """40+ descriptive features of a stored series: statistical moments and quantiles, distribution,
        trend (linear fit), volatility of returns, autocorrelation (ACF, Ljung-Box) and complexity (Hurst
        exponent, DFA, sample/permutation/spectral entropy) - e.g. as model inputs or to compare books."""
        gs = tuple(dict.fromkeys(groups or ("statistical", "distribution", "trend", "volatility", "autocorrelation",
                                            "complexity")))
        return await run("extract_features", symbol, venue, series, market, lookback, start, end, interval_s,
                         response_format, groups=gs)


# ---- feature calculators ---------------------------------------------------------------------------
def calculator_registry(server: MCPServer) -> CalculatorRegistry:
    """The calculators of this server, discovered once (built-ins, $CRYPTOFLOW_PLUGIN_DIR, entry points)
    and shared by both toolsets."""
    reg = getattr(server, "cryptoflow_calculators", None)
    if reg is None:
        from cryptoflow.features import default_registry

        reg = default_registry()
        server.cryptoflow_calculators = reg  # type: ignore[attr-defined]
    return reg


async def _run_calculator(ctx: ServerContext, reg: CalculatorRegistry, name: str, params: dict[str, Any],
                          response_format: str, arg: str = "") -> Any:
    """Validate, then run one calculator on the server's lake (opened in a worker thread)."""
    from cryptoflow.features import CalcContext, CalculatorError

    if isinstance(params.get("symbol"), str):  # the server's convention: btc, BTC-USDT ... mean BTCUSDT
        params = {**params, "symbol": symbol_arg(params["symbol"], f"{arg}symbol")}
    try:
        reg.get(name).validate(params)
    except CalculatorError as e:
        raise ToolError(f"{arg}{e} (list_feature_calculators shows every calculator's parameters)") from None
    try:
        res = await reg.calculate(name, CalcContext(await asyncio.to_thread(ctx.lake)), params)
    except CryptoflowError as e:
        raise ToolError(str(e)) from e
    return respond(calculator_result(res.to_dict(), response_format == "detailed"))


def _register_calculator_access(server: MCPServer, ctx: ServerContext) -> None:
    reg = calculator_registry(server)
    names = tuple(reg.names())

    async def run_feature_calculator(name: str, params: CalcParamsArg = None,
                                     response_format: FormatArg = "concise") -> CalculatorOut:
        """Run one feature calculator (built-in or plugin) by name with its parameters; the result has
        values, signals (direction, strength, reason) and the explained metrics behind them. Parameters
        and plugins: list_feature_calculators."""
        return await _run_calculator(ctx, reg, name, params or {}, response_format, arg="params: ")

    sig = inspect.signature(run_feature_calculator, eval_str=True)
    name_type = Literal[names] if names else str  # type: ignore[valid-type]
    sig = sig.replace(parameters=[sig.parameters["name"].replace(annotation=Annotated[name_type, Field(
        description="calculator name (list_feature_calculators describes each)")]), *list(sig.parameters.values())[1:]])
    run_feature_calculator.__signature__ = sig  # type: ignore[attr-defined]
    tool(server)(run_feature_calculator)

    @tool(server)
    async def list_feature_calculators() -> CalculatorsResult:
        """Every feature calculator (built-in and plugin) with its parameters, and the plugins that failed
        to load with their error. Run one with run_feature_calculator(name, params)."""
        return calculators_result(reg.listing(), {t.name for t in await server.list_tools()})


def register_calculators(server: MCPServer, ctx: ServerContext) -> None:
    """Toolset ``calculators``: one ``calculate_<name>`` tool per calculator, its parameters as the input
    schema. A calculator whose tool cannot be built is reported by list_feature_calculators and skipped."""
    from cryptoflow.features.registry import PluginError

    reg = calculator_registry(server)
    for name in reg.names():
        calc = reg.get(name)
        try:
            server.add_tool(_calculator_tool(ctx, reg, calc), name=f"calculate_{name}", description=calc.description,
                            annotations=READ_ONLY, structured_output=True)
        except Exception as exc:  # a plugin's odd parameters must not stop the server
            log.warning("calculator %s: no tool: %s", name, exc)
            reg.errors.append(PluginError("tool", f"calculate_{name}", f"{type(exc).__name__}: {exc}"))


def _calculator_tool(ctx: ServerContext, reg: CalculatorRegistry, calc: FeatureCalculator) -> Any:
    own_format = "response_format" not in {p.name for p in calc.parameters}

    async def calculate(**kwargs: Any) -> Any:
        fmt = kwargs.pop("response_format", "concise") if own_format else "concise"
        return await _run_calculator(ctx, reg, calc.name, kwargs, fmt)

    sig = calc.signature()
    params = list(sig.parameters.values())
    if own_format:
        params.append(inspect.Parameter("response_format", inspect.Parameter.KEYWORD_ONLY, default="concise",
                                        annotation=FormatArg))
    calculate.__signature__ = sig.replace(parameters=params, return_annotation=CalculatorOut)  # type: ignore
    calculate.__name__ = calculate.__qualname__ = f"calculate_{calc.name}"
    return calculate


__all__ = ["calculator_registry", "register", "register_calculators"]
