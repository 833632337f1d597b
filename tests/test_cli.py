"""The command line through its real entry point (subprocess), as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cryptoflow.venues import VENUE_IDS

FOLDERS = {"gateio": "gateio_futures"}


def cf(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cryptoflow.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_convert_and_replay_every_venue_sample(tmp_path, samples, venue):
    out = tmp_path / f"{venue}.jsonl.gz"
    r = cf("capture", "convert", str(samples / FOLDERS.get(venue, venue)), "--out", str(out))
    assert r.returncode == 0, r.stderr
    extra: list[str] = []
    if venue == "gateio":  # the 2023 capture's contracts: see tests/venues/test_gateio.py for provenance
        from .venues.test_gateio import SAMPLE_MULTIPLIERS

        rows = [
            {
                "venue": "gateio",
                "native": f"{b}_USDT",
                "symbol": f"{b}USDT",
                "market": "perp",
                "base": b,
                "quote": "USDT",
                "contract_type": "linear",
                "contract_size": m,
            }
            for b, m in SAMPLE_MULTIPLIERS.items()
        ]
        (tmp_path / "inst.json").write_text(json.dumps(rows))
        extra = ["--instruments", str(tmp_path / "inst.json")]
    r = cf("replay", str(out), "--json", *extra)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert set(rep["events"]) == {
        "trade",
        "bbo",
        "book",
        "mark_price",
        "funding",
        "open_interest",
        "liquidation",
        "ticker",
        "candle",
        "metric",  # REST-only statistics: counted, none in websocket captures
    }
    assert rep["frames"] > 0 and sum(rep["events"].values()) > 0
    assert rep["book"]["gaps"] == 0
    assert rep["bbo_check"]["mismatched"] == 0
    # error frames recorded on purpose decode to venue errors (controls), never to decode errors
    assert rep["decode_errors"] == {}, rep["decode_errors"]


def test_replay_reports_binance_bbo_cross_check(tmp_path, samples):
    out = tmp_path / "usdm.jsonl"
    assert cf("capture", "convert", str(samples / "binance_usdm"), "--out", str(out)).returncode == 0
    rep = json.loads(cf("replay", str(out), "--json").stdout)
    assert rep["bbo_check"]["matched"] == 50 and rep["bbo_check"]["mismatched"] == 0
    # 4 captured books rebuild; the docs example's lone BTCUSDT diff waits for a snapshot (5th book)
    assert rep["book"] == {**rep["book"], "gaps": 0, "resyncs": 0, "books": 5, "valid_books": 4}
    assert rep["events"]["trade"] == 92 and rep["events"]["candle"] == 68


def test_bad_input_gets_a_clear_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 1, "venue": "okx", "kind": "telepathy", "data": ""}\n')
    r = cf("replay", str(bad), "--json")
    assert r.returncode == 2 and "kind 'telepathy' is not one of" in r.stderr
    r = cf("replay", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = cf("simulate", "--venues", "nasdaq", "--seconds", "1")
    assert r.returncode == 2 and "unknown venue" in r.stderr and "binance_usdm" in r.stderr


def test_bench_decode_json_keys():
    r = cf("bench", "decode", "--json", "--frames", "5000")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    for k in ("trade_fps", "bbo_fps", "depth_fps", "orjson_parse_fps"):
        assert isinstance(res[k], int) and res[k] > 0


def test_simulate_json_then_collect_then_sql(tmp_path):
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cryptoflow.cli",
            "simulate",
            "--json",
            "--venues",
            "binance_usdm,hyperliquid",
            "--symbols",
            "BTCUSDT",
            "--seconds",
            "40",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = sim.stdout.readline()
        eps = json.loads(line)
        assert set(eps) == {"binance_usdm", "hyperliquid"}
        assert eps["binance_usdm"]["ws"]["public"].startswith("ws://127.0.0.1:")
        (tmp_path / "eps.json").write_text(line)
        data = tmp_path / "data"
        r = cf(
            "collect",
            "--endpoints",
            str(tmp_path / "eps.json"),
            "--venues",
            "binance_usdm",
            "hyperliquid",
            "--symbols",
            "BTCUSDT",
            "--data-dir",
            str(data),
            "--seconds",
            "6",
            "--log-level",
            "WARNING",
        )
        assert r.returncode == 0, r.stderr
        r = cf(
            "sql", "--data-dir", str(data), "--json", "SELECT venue, count(*) AS n FROM trades GROUP BY 1 ORDER BY 1"
        )
        assert r.returncode == 0, r.stderr
        rows = json.loads(r.stdout)
        assert [x["venue"] for x in rows] == ["binance_usdm", "hyperliquid"] and all(x["n"] > 0 for x in rows)
        r = cf("status", "--data-dir", str(data), "--json")
        st = json.loads(r.stdout)
        assert st["running"] is False and st["rows_written"] > 0
        assert set(st["venues"]) == {"binance_usdm", "hyperliquid"}
        r = cf("sql", "--data-dir", str(data), "DROP TABLE trades")
        assert r.returncode == 2 and "refused" in r.stderr.lower()
        out = tmp_path / "t.csv"
        r = cf(
            "export",
            "--stream",
            "trade",
            "--symbol",
            "BTCUSDT",
            "--venue",
            "hyperliquid",
            "--format",
            "csv",
            "--out",
            str(out),
            "--data-dir",
            str(data),
        )
        assert r.returncode == 0, r.stderr
        assert out.read_text().splitlines()[0].startswith("venue,market,symbol")
        assert len(out.read_text().splitlines()) == 1 + rows[1]["n"]
    finally:
        sim.terminate()
        sim.wait(10)


def test_sigint_flushes_everything_received(tmp_path):
    """Ctrl-C on a running collector: every row it received is in the store afterwards."""
    import signal
    import time

    sim = subprocess.Popen([sys.executable, "-m", "cryptoflow.cli", "simulate", "--json", "--venues", "okx",
                            "--symbols", "BTCUSDT", "--seconds", "60"], stdout=subprocess.PIPE, text=True)
    try:
        (tmp_path / "eps.json").write_text(sim.stdout.readline())
        data = tmp_path / "data"
        col = subprocess.Popen([sys.executable, "-m", "cryptoflow.cli", "collect", "--endpoints",
                                str(tmp_path / "eps.json"), "--venues", "okx", "--symbols", "BTCUSDT",
                                "--data-dir", str(data), "--log-level", "WARNING"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(7)
        col.send_signal(signal.SIGINT)
        _, err = col.communicate(timeout=30)
        assert col.returncode == 0, err
        st = json.loads(cf("status", "--data-dir", str(data), "--json").stdout)
        tables = ["trades", "bbo", "book_snapshots", "mark_prices", "funding_rates", "open_interest",
                  "liquidations", "tickers_24h", "candles", "health"]
        q = " + ".join(f"(SELECT count(*) FROM {t})" for t in tables)
        stored = json.loads(cf("sql", "--data-dir", str(data), "--json", f"SELECT {q} AS n").stdout)[0]["n"]
        assert st["rows_written"] > 100 and stored == st["rows_written"] and st["queue_depth"] == 0
    finally:
        sim.terminate()
        sim.wait(10)
