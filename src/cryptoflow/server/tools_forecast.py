"""Toolset ``forecast``: forecasts with their evidence, backtests, ensembles, tuning, drift, the model
registry, and the live forecasts of the streaming controller.

Every tool loads one stored series (``forecast.targets.load_target``: ticks resampled to bars of
``interval``), runs one library call in a worker thread, and shapes the result. Honesty is the
library's (rolling-origin backtests against the naive forecast, DM test, coverage); the tools only
refuse what cannot work: too little data (how much exists and how much is needed), unknown models
(the installed ones are listed), models whose optional extra is not installed (the pip command).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from cryptoflow.forecast.zoo import MODELS, ForecastError, get_spec, install_hint
from cryptoflow.server import sources
from cryptoflow.server.context import ServerContext
from cryptoflow.server.models_forecast import (
    UNITS,
    BacktestResult,
    CrossValidateResult,
    CVRow,
    DetectorOut,
    DriftResult,
    EnsembleOut,
    ExplainResult,
    FeatureOut,
    ForecastOut,
    HoldoutOut,
    HorizonErrorOut,
    MemberOut,
    ModelInfoOut,
    ModelListResult,
    SeriesOut,
    TuneResult,
    backtest_out,
    forecast_out,
    num,
    steps_out,
)
from cryptoflow.server.params import Interval, MarketArg, SymbolArg, VenueId, iso, symbol_arg, tool
from cryptoflow.server.tools_forecast_live import registry_tool, stream_tools
from cryptoflow.streaming.config import PERP_ONLY, TARGETS, min_bars

Target = Literal["price", "volatility", "funding", "open_interest", "spread"]
Priority = Literal["fast", "accurate", "realtime"]
Strategy = Literal["expanding", "sliding", "blocked", "purged", "walkforward"]
Family = Literal["baseline", "statistical", "volatility", "ml", "deep", "foundation"]
ExogName = Literal["all", "funding", "oi_change", "cvd_delta", "cvd", "book_imbalance"]

STREAM_OF = {"price": "trade", "volatility": "trade", "funding": "funding", "open_interest": "open_interest",
             "spread": "book"}

TargetArg = Annotated[Target, Field(description=(
    "price (trade closes, modelled as log returns), volatility (per-bar range volatility), funding (rate per "
    "interval, perps), open_interest (base units, perps) or spread (top of book, bps)"))]
IntervalArg = Annotated[Interval, Field(description="bar size: the series has one value per bar")]
HorizonArg = Annotated[int, Field(ge=1, le=200, description="bars ahead to forecast")]
ModelArg = Annotated[str, Field(min_length=1, max_length=40, description=(
    "'auto' (the router picks from data length, regularity, priority and past skill) or a model from "
    "list_forecast_models, e.g. Naive, Theta, AutoETS, AutoARIMA, HAR, LightGBM"))]
PriorityArg = Annotated[Priority, Field(description=(
    "router speed class: realtime (instant models), fast (up to ~20 ms fits), accurate (up to ~0.5 s fits)"))]
HistoryArg = Annotated[int, Field(ge=30, le=5000, description="most recent bars to load")]
ExogArg = Annotated[list[ExogName], Field(max_length=6, description=(
    "order-flow features from the store for models that take exogenous inputs (LightGBM, Ridge ...): funding "
    "(latest rate), oi_change (open interest change over the bar), cvd_delta (taker buy - sell qty in the bar), "
    "cvd (its running sum), book_imbalance (top-5 bid vs ask qty); each as known at its bar's end and lagged by "
    "the horizon (no look-ahead). ['all'] = every one with data; [] = none"))]
OriginsArg = Annotated[int, Field(ge=20, le=100, description="rolling origins of the backtest (each refit on "
                                                              "data before it only)")]


def model_arg(name: str, arg: str = "model", auto: bool = True) -> str:
    """A zoo model name (canonical spelling) or 'auto'; refuses unknown and not-installed models."""
    if auto and name.strip().lower() == "auto":
        return "auto"
    installed = [n for n, s in MODELS.items() if s.installed]
    try:
        spec = get_spec(name.strip())
    except ForecastError:
        raise ToolError(f"{arg}={name!r} is not a forecasting model. Installed: {', '.join(installed)}"
                        + (" (or 'auto': the router chooses)" if auto else "")
                        + "; list_forecast_models lists every model with its family, speed and install "
                          "command") from None
    if not spec.installed:
        same = [n for n in installed if MODELS[n].family == spec.family] or installed[:6]
        raise ToolError(f"{arg}={spec.name} is an optional model that is not installed: {install_hint(spec)}"
                        f"{f' (extra {spec.extra!r})' if spec.extra else ''}. Installed alternatives: "
                        f"{', '.join(same)}; or model='auto'")
    return spec.name


def series_out(series: Any, venue: str, symbol: str, market: str, target: str, interval: str) -> SeriesOut:
    ts = series.ts_ns
    n = len(series)
    return SeriesOut(symbol=symbol, venue=venue, market=market, target=target, interval=interval, unit=UNITS[target],
                     bars=n, first_ts=iso(int(ts[0])) if ts is not None and n else None,
                     last_ts=iso(int(ts[-1])) if ts is not None and n else None,
                     last_value=float(series.values[-1]) if n else None,
                     filled_fraction=round(series.filled_fraction, 4))


def too_little(s: SeriesOut, needed: int | None, what: str, history: int, detail: str = "") -> ToolError:
    """``needed`` None: the library found the data short for this model (e.g. a long season), ``detail`` says so."""
    more = f"raise history (now {history}, up to 5000), " if s.bars >= history else ""
    need = f"at least {needed}" if needed is not None else f"more ({detail})"
    return ToolError(
        f"too little data: {s.venue} {s.symbol} {s.market} {s.target} has {s.bars} {s.interval} bars "
        f"({s.first_ts} .. {s.last_ts}); {what} needs {need}. "
        f"Use {more}a shorter interval, a smaller horizon, or collect longer (get_ohlcv shows what is stored)")


def register(server: MCPServer, ctx: ServerContext) -> None:
    async def add_exog(series: Any, s: SeriesOut, exog: list[str], history: int) -> tuple[Any, SeriesOut, list[str]]:
        """Attach the requested order-flow columns (leading bars where one is still unknown are dropped)."""
        if not exog:
            return series, s, []
        from cryptoflow.forecast.exog import attach_exog

        try:
            series, notes = await ctx.query(attach_exog, series, s.venue, s.symbol, s.market, list(exog))
        except ForecastError as e:
            raise ToolError(f"exog={list(exog)}: {e}. list_markets shows which streams are stored") from None
        return series, series_out(series, s.venue, s.symbol, s.market, s.target, s.interval), notes

    async def load(symbol: str, venue: str, target: str, interval: str, market: str, history: int,
                   ) -> tuple[Any, SeriesOut]:
        from cryptoflow.forecast.targets import load_target

        sym = symbol_arg(symbol)
        if target in PERP_ONLY and market != "perp":
            raise ToolError(f"target={target} exists only for perpetuals: use market='perp'")
        kind = STREAM_OF[target]
        sources.check_venues([venue], market, kind, arg="venue")
        try:
            series = await ctx.query(load_target, TARGETS[target], venue, sym, market, interval, limit=history)
        except ForecastError as e:
            known = await ctx.known_symbols(sources.KIND_TABLE[kind])
            if sym not in known:
                raise ToolError(await sources.explain_missing(ctx, kind, sym, [venue], market)) from None
            raise ToolError(f"no {market} {kind} data stored for {sym} on {venue} ({e}); list_markets shows which "
                            "venues have it") from None
        return series, series_out(series, venue, sym, market, target, interval)

    async def run(s: SeriesOut, history: int, needed: int, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        """``fn(*args, **kw)`` in a worker thread, after the data-length check; library 'too few'
        errors become the same too-little-data message."""
        if s.bars < needed:
            raise too_little(s, needed, what, history)
        try:
            return await asyncio.to_thread(fn, *args, **kw)
        except ForecastError as e:
            if "too few" in str(e):
                raise too_little(s, None, what, history, str(e)) from None
            raise

    def registry() -> Any:
        reg = ctx.forecast_registry()
        return reg if reg is not None and not reg.read_only else None

    @tool(server)
    async def forecast(symbol: SymbolArg, venue: VenueId, target: TargetArg = "price", interval: IntervalArg = "1m",
                       horizon: HorizonArg = 12, model: ModelArg = "auto", priority: PriorityArg = "fast",
                       market: MarketArg = "perp", history: HistoryArg = 1000, exog: ExogArg = []  # noqa: B006
                       ) -> ForecastOut:
        """Forecast a stored series `horizon` bars ahead with 80%/95% intervals. The result names the model
        and why it was chosen, and backtests it on the same data against the naive forecast (rolling
        origins, refit each time): rMAE < 1 beats the last value, grade S/A/B = significant skill, C = ties
        naive. Prices are close to random walks: expect rMAE ~1 and grade C there; volatility, funding and
        OI can show skill. `exog` adds order-flow features for ML models (the result lists those used).
        Compare models: cross_validate; combine them: forecast_ensemble."""
        name = model_arg(model)
        from cryptoflow.forecast.service import forecast as run_forecast

        series, s = await load(symbol, venue, target, interval, market, history)
        series, s, notes = await add_exog(series, s, exog, history)
        reg = await asyncio.to_thread(registry)
        res = await run(s, history, min_bars(name, horizon), f"a {horizon}-bar forecast with a 20-origin backtest",
                        run_forecast, series, horizon, name, priority, registry=reg)
        d = res.as_dict()
        d["warnings"] = [*notes, *d["warnings"]]
        return forecast_out(s, d, [iso(t) for t in d["ts_ns"] or []])

    @tool(server)
    async def forecast_ensemble(
        symbol: SymbolArg, venue: VenueId, target: TargetArg = "price", interval: IntervalArg = "1m",
        horizon: HorizonArg = 12, models: Annotated[list[str] | None, Field(min_length=2, max_length=6, description=(
            "2-6 member models (default: Naive, Theta, plus SeasonalNaive when the series is seasonal)"))] = None,
        method: Annotated[Literal["mean", "median", "inverse_error"], Field(description=(
            "how members combine: mean, median, or weights from inverse backtest error"))] = "inverse_error",
        market: MarketArg = "perp", history: HistoryArg = 1000,
    ) -> EnsembleOut:
        """Forecast with a combination of models. The ensemble is backtested as a model of its own on the
        same rolling origins as its members (inverse-error weights use only errors known at each origin),
        so its rMAE against naive and its interval coverage are as honest as a single model's."""
        names = [model_arg(m, "models", auto=False) for m in models] if models else None
        from cryptoflow.forecast.ensemble import forecast_ensemble as run_ensemble

        series, s = await load(symbol, venue, target, interval, market, history)
        need = max(min_bars(n, horizon) for n in names or ["Theta"])
        what = f"a {horizon}-bar ensemble with a 20-origin backtest"
        r = await run(s, history, need, what, run_ensemble, series, names, method, horizon)
        weights = r.get("weights") or {}
        return EnsembleOut(series=s, model=r["model"], method=method, horizon=horizon,
                           members=[MemberOut(model=m["model"], rmae=num(m["rmae"]), grade=m["grade"],
                                              weight=weights.get(m["model"])) for m in r["member_backtests"]],
                           forecast=steps_out(r["point"], [iso(t) for t in r["ts_ns"] or []], r["intervals"]),
                           backtest=backtest_out(r["backtest"]), skill=r["skill"], seconds=r["seconds"])

    @tool(server)
    async def list_forecast_models(
        family: Annotated[Family | None, Field(description="only this family (default: all)")] = None,
        installed_only: Annotated[bool, Field(description="hide models whose optional extra is missing")] = False,
    ) -> ModelListResult:
        """Every forecasting model: installed or not (with the pip command that brings it), family, speed
        class, where its intervals come from, whether it takes exogenous inputs or seasonality, and whether
        tune_forecast_model can search its parameters."""
        from cryptoflow.forecast.tuning import SPACES
        from cryptoflow.forecast.zoo import list_models

        rows = list_models(family, installed_only)
        return ModelListResult(
            models=[ModelInfoOut(name=m["name"], family=m["family"], speed=m["speed"], installed=m["installed"],
                                 install_hint=m["install_hint"], intervals=m["intervals"], exogenous=m["exogenous"],
                                 seasonal=m["seasonal"], tunable=m["name"] in SPACES, min_length=m["min_length"],
                                 description=m["description"]) for m in rows],
            installed=sum(m["installed"] for m in rows), total=len(rows))

    @tool(server)
    async def backtest_forecast(
        symbol: SymbolArg, venue: VenueId, target: TargetArg = "price", interval: IntervalArg = "1m",
        horizon: HorizonArg = 12, model: ModelArg = "auto", priority: PriorityArg = "fast",
        strategy: Annotated[Strategy, Field(description=(
            "expanding (refit on all past data), sliding (last window), blocked, purged (blocked with purge/"
            "embargo gaps), walkforward (refit every 5 origins)"))] = "expanding",
        n_origins: OriginsArg = 20, market: MarketArg = "perp", history: HistoryArg = 1000,
        exog: ExogArg = [],  # noqa: B006
    ) -> BacktestResult:
        """Backtest one model (or the router's pick) by rolling origin: MAE, RMSE, sMAPE, MASE, rMAE vs the
        naive forecast on the same origins, Diebold-Mariano test, directional accuracy, interval coverage vs
        nominal, per-horizon error, and the grade. The score is stored in the model registry (model_registry)
        and the router prefers models that beat naive significantly there."""
        name = model_arg(model)
        from cryptoflow.forecast.service import backtest_forecast as run_backtest

        series, s = await load(symbol, venue, target, interval, market, history)
        series, s, notes = await add_exog(series, s, exog, history)
        reg = await asyncio.to_thread(registry)
        what = f"a {n_origins}-origin backtest at horizon {horizon}"
        r = await run(s, history, min_bars(name, horizon, n_origins), what, run_backtest, series, name, horizon,
                      priority, strategy, n_origins, registry=reg)
        r["warnings"] = [*notes, *r["warnings"]]
        return BacktestResult(series=s, reason=r["reason"], backtest=backtest_out(r), skill=r["skill"],
                              exog=list(r.get("exog") or []))

    @tool(server)
    async def cross_validate(
        symbol: SymbolArg, venue: VenueId, target: TargetArg = "price", interval: IntervalArg = "1m",
        horizon: HorizonArg = 12,
        models: Annotated[list[str], Field(min_length=1, max_length=6, description="1-6 models to compare")] = [  # noqa: B006
            "Naive", "Theta", "AutoETS"],
        strategies: Annotated[list[Strategy], Field(min_length=1, max_length=5, description=(
            "CV strategies: expanding, sliding, blocked, purged, walkforward"))] = ["expanding"],  # noqa: B006
        n_origins: OriginsArg = 20, market: MarketArg = "perp", history: HistoryArg = 1000,
    ) -> CrossValidateResult:
        """Compare models x CV strategies on identical rolling origins: a leaderboard by rMAE (naive = 1)
        with MASE, DM p-value, grade and interval coverage per row. The cheapest model that is not beaten
        is the honest choice; a lower rMAE without DM p < 0.01 is not a demonstrated improvement."""
        names = list(dict.fromkeys(model_arg(m, "models", auto=False) for m in models))
        from cryptoflow.forecast.service import cross_validate as run_cv

        series, s = await load(symbol, venue, target, interval, market, history)
        need = max(min_bars(n, horizon, n_origins) for n in names)
        what = f"a {n_origins}-origin cross-validation at horizon {horizon}"
        r = await run(s, history, need, what, run_cv, series, names, horizon, list(dict.fromkeys(strategies)),
                      n_origins)
        rows = [CVRow(model=x["model"], strategy=x["strategy"], rmae=num(x["rmae"]), mase=num(x["mase"]),
                      mae=num(x["mae"]), dm_p_better=num(x["p_better"]), grade=x["grade"],
                      coverage_80=num(x["coverage80"]), coverage_95=num(x["coverage95"]), origins=x["origins"],
                      refits=x["refits"], seconds=x["seconds"]) for x in r["results"]]
        best: dict[str, str] = {}
        for row in rows:
            best.setdefault(row.strategy, row.model)
        return CrossValidateResult(series=s, horizon=horizon, season_length=r["season_length"], results=rows,
                                   best=best)

    @tool(server)
    async def tune_forecast_model(
        symbol: SymbolArg, venue: VenueId, model: Annotated[str, Field(min_length=1, max_length=40, description=(
            "a tunable model (list_forecast_models shows tunable=true): LightGBM, Ridge, AutoETS, AutoARIMA ..."))],
        target: TargetArg = "price", interval: IntervalArg = "1m", horizon: HorizonArg = 12,
        n_trials: Annotated[int, Field(ge=1, le=100, description="Optuna trials at most")] = 20,
        timeout_s: Annotated[float, Field(gt=0, le=300, description="search time budget in seconds")] = 60.0,
        market: MarketArg = "perp", history: HistoryArg = 1000,
    ) -> TuneResult:
        """Search a model's hyper-parameters with Optuna (trial and time budget; objective = rMAE of a rolling
        backtest on data before a hold-out span), then backtest tuned and default parameters on the hold-out
        span the search never saw. `improved` compares those out-of-sample figures."""
        from cryptoflow.forecast.tuning import SPACES, tune

        name = model_arg(model, auto=False)
        if name not in SPACES:
            raise ToolError(f"model={name} has no search space; tunable models: {', '.join(SPACES)}")
        series, s = await load(symbol, venue, target, interval, market, history)
        need = max(get_spec(name).min_length, 30) + 6 * horizon + 30
        t0 = time.perf_counter()
        what = f"tuning at horizon {horizon} (search span + hold-out)"
        r = await run(s, history, need, what, tune, series, name, horizon, n_trials, timeout_s)
        reg = await asyncio.to_thread(registry)
        if reg is not None:
            await asyncio.to_thread(reg.record_event, series.key, "tune", None, r)

        def hold(k: str) -> HoldoutOut:
            h = r["holdout"][k]
            return HoldoutOut(rmae=num(h["rmae"]), mase=num(h["mase"]), grade=h["grade"], verdict=h["verdict"])

        return TuneResult(series=s, model=name, best_params=r["best_params"], cv_rmae=num(r["cv_rmae"]),
                          trials=r["trials"], holdout_origins=r["holdout_origins"], tuned=hold("tuned"),
                          default=hold("default"), improved=r["improved"], note=r["note"],
                          seconds=round(time.perf_counter() - t0, 3))

    @tool(server)
    async def detect_model_drift(
        symbol: SymbolArg, venue: VenueId, target: TargetArg = "price", interval: IntervalArg = "1m",
        model: Annotated[str, Field(min_length=1, max_length=40, description="model whose errors are watched")] = (
            "Naive"),
        reference_points: Annotated[int, Field(ge=30, le=2000, description="bars of the reference period")] = 200,
        recent_points: Annotated[int, Field(ge=20, le=1000, description="most recent bars compared with it")] = 60,
        market: MarketArg = "perp", history: HistoryArg = 1000,
    ) -> DriftResult:
        """Has the model stopped working? Fits it before a reference period, then compares its one-step
        errors on the most recent bars with those on the reference bars (river ADWIN, Page-Hinkley, KSWIN;
        PSI and KS tests on errors and inputs). Severity LOW/MEDIUM/HIGH with a recommendation; HIGH needs
        grown errors confirmed by several tests. Live streams are checked continuously: get_streaming_alerts."""
        from cryptoflow.forecast.drift import model_drift

        name = model_arg(model, auto=False)
        series, s = await load(symbol, venue, target, interval, market, history)
        what = f"{reference_points} reference + {recent_points} recent bars after a 30-bar fit"
        r = await run(s, history, 30 + reference_points + recent_points, what, model_drift, series, name,
                      reference_points, recent_points)
        reg = await asyncio.to_thread(registry)
        if reg is not None:
            await asyncio.to_thread(reg.record_event, series.key, "drift", r["severity"], r)
        return DriftResult(series=s, model=r["model"], reference_points=r["reference_points"],
                           recent_points=r["recent_points"], severity=r["severity"],
                           recommendation=r["recommendation"], error_ratio=r["error_ratio"],
                           detectors=[DetectorOut(name=k, detected=v["detected"], first=v["first"])
                                      for k, v in r["detectors"].items()],
                           tests={k: num(v) for k, v in r["tests"].items()}, reasons=r["reasons"])

    @tool(server)
    async def explain_forecast(
        symbol: SymbolArg, venue: VenueId, target: TargetArg = "price", interval: IntervalArg = "1m",
        horizon: HorizonArg = 12, model: ModelArg = "auto", priority: PriorityArg = "fast",
        market: MarketArg = "perp", history: HistoryArg = 1000,
    ) -> ExplainResult:
        """Why a forecast looks the way it does and where it goes wrong: error vs naive per horizon step,
        residual diagnostics of one-step errors (bias, autocorrelation left = missed structure, volatility
        clustering, fat tails = Gaussian intervals under-cover), feature importance for ML models (LightGBM,
        Ridge ...), and the fitted parameters."""
        from cryptoflow.forecast.explain import explain_forecast as run_explain

        name = model_arg(model)
        series, s = await load(symbol, venue, target, interval, market, history)
        r = await run(s, history, min_bars(name, horizon) + 10, f"a {horizon}-bar backtest plus residual diagnostics",
                      run_explain, series, name, horizon, 20, 150, priority)
        feats = r["features"]
        res = dict(r["residuals"])
        findings = res.pop("findings", [])
        return ExplainResult(
            series=s, model=r["model"], horizon=horizon,
            by_horizon=[HorizonErrorOut(step=b["step"], mae=b["mae"], mae_naive=b["mae_naive"], rmae=num(b["rmae"]))
                        for b in r["by_horizon"]],
            backtest=r["backtest"], residuals=res, findings=findings,
            feature_importance=[FeatureOut(feature=k, importance=round(v, 6))
                                for k, v in list((feats.get("importance") or {}).items())[:20]],
            feature_note=feats.get("why") or feats.get("shap") or feats.get("method"), state=r["state"])

    registry_tool(server, ctx)
    stream_tools(server, ctx)


__all__ = ["model_arg", "register", "series_out"]
