"""Structured outputs of the history, store and streaming tools (see ``models`` for the conventions)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cryptoflow.server.models import Cell, CollectorInfo, Out, PriceContextOut


# ---- history ------------------------------------------------------------------------------------
class Bar(Out):
    ts: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float | None = None
    vwap: float | None = None
    trades: int | None = None
    buy_volume: float | None = None


class OhlcvResult(Out):
    symbol: str
    venue: str
    market: str
    interval: str
    start: str
    end: str
    bars: list[Bar]
    truncated: bool
    next_cursor: str | None = Field(None, description="pass as cursor for the page of older bars")

    def summary(self) -> str:
        if not self.bars:
            return "no bars"
        return (f"{len(self.bars)} {self.interval} bars {self.bars[0].ts}..{self.bars[-1].ts}, "
                f"last close {self.bars[-1].close:.6g}")


class HistoryResult(Out):
    stream: str
    interval: str
    start: str
    end: str
    columns: list[str]
    rows: list[list[Cell]]
    truncated: bool
    next_cursor: str | None = Field(None, description="pass as cursor for the next page")

    def summary(self) -> str:
        more = " (more: pass next_cursor)" if self.next_cursor else ""
        return f"{len(self.rows)} {self.stream} rows ({self.interval}) {self.start}..{self.end}{more}"


class PriceContextResult(Out):
    symbol: str
    venue: str | None
    market: str
    lookback: str
    interval: str
    now_source: str
    now_ts: str
    context: PriceContextOut

    def summary(self) -> str:
        c = self.context
        return (f"{self.symbol} {c.now:.6g}: percentile {c.percentile:.0f} of {self.lookback}, z {c.zscore}, "
                f"range {c.low:.6g}..{c.high:.6g}")


class TableStat(Out):
    table: str
    rows: int
    first_ts: str | None
    last_ts: str | None
    files: int | None = None
    bytes: int | None = None


class DatabaseStatsResult(Out):
    tables: list[TableStat]
    total_rows: int
    total_parquet_bytes: int
    snapshots: int | None = None
    catalog: str | None = None
    data_path: str | None = None
    data_bytes_on_disk: int | None = None
    collector: CollectorInfo

    def summary(self) -> str:
        return f"{self.total_rows:,} rows, {self.total_parquet_bytes / 1e6:.1f} MB parquet"


class SqlOut(Out):
    columns: list[str]
    rows: list[list[Cell]]
    row_count: int
    truncated: bool
    elapsed_ms: float

    def summary(self) -> str:
        return f"{self.row_count} rows{' (truncated)' if self.truncated else ''} in {self.elapsed_ms:.0f} ms"


class ExportResult(Out):
    path: str
    relative_path: str
    format: str
    rows: int
    bytes: int

    def summary(self) -> str:
        return f"wrote {self.rows:,} rows to {self.path}"


# ---- streaming ----------------------------------------------------------------------------------
class StreamHealthOut(Out):
    venue: str
    stream: str
    records: int
    records_per_min: float | None
    last_event_age_s: float | None
    status: Literal["ok", "stale", "no_data"]


class VenueHealthOut(Out):
    venue: str
    connected: int
    connections: int
    reconnects: int
    gaps: int
    resyncs: int
    decode_errors: int
    books_valid: int
    books: int


class Alert(Out):
    level: Literal["warning", "error"]
    venue: str | None = None
    stream: str | None = None
    message: str


class StreamingStatus(Out):
    state: Literal["running_in_process", "running_other_process", "stopped", "never_started"]
    controllable: bool = Field(description="true when start/stop/configure act on this collector")
    pid: int | None = None
    data_dir: str
    uptime_s: float | None = None
    rows_written: int | None = None
    queue_depth: int | None = None
    last_report_age_s: float | None = None
    config: dict[str, Any] = {}
    venues: list[VenueHealthOut] = []
    streams: list[StreamHealthOut] = []
    alerts: list[Alert] = []
    backfills: list[BackfillJobOut] = Field(default=[], description="REST backfills started by backfill_history")
    truncated: bool = False
    note: str | None = None

    def summary(self) -> str:
        return (f"collector {self.state}" + (f" (pid {self.pid})" if self.pid else "")
                + f", {len(self.alerts)} alerts" + (f"; {self.note}" if self.note else ""))


class StreamingActionResult(Out):
    action: str
    message: str
    status: StreamingStatus

    def summary(self) -> str:
        return self.message


# ---- venue REST data and backfill ---------------------------------------------------------------
class VenueDataResult(Out):
    venue: str
    symbol: str | None
    kind: str
    period: str | None = None
    count: int
    records: list[dict[str, Any]] = Field(description="normalized records, oldest first; times ISO 8601 UTC")
    truncated: bool = False
    requests: int = 1
    note: str | None = None

    def summary(self) -> str:
        return (f"{self.count} {self.kind} records from {self.venue} REST" + (f" for {self.symbol}" if self.symbol
                else "") + (" (truncated)" if self.truncated else ""))


class BackfillJobOut(Out):
    job_id: str
    state: Literal["running", "done", "failed"]
    request: dict[str, Any]
    started: str
    finished: str | None = None
    windows_done: int = 0
    windows_total: int = 0
    rows_fetched: int = 0
    rows_new: int = 0
    requests: int = 0
    series: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    error: str | None = None

    def summary(self) -> str:
        return (f"backfill {self.job_id} {self.state}: {self.windows_done}/{self.windows_total} pages, "
                f"{self.rows_new:,} new rows" + (f"; {self.error}" if self.error else ""))

StreamingStatus.model_rebuild()
