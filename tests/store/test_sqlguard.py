"""run_readonly_sql: what it refuses (and says so), what it accepts, limits and timeouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptoflow.errors import QueryError
from cryptoflow.events import Trade
from cryptoflow.store import BatchWriter, Lake, check_readonly_sql, create_compat_views, run_readonly_sql

from .conftest import at, dt_at


@pytest.fixture
def filled(lake: Lake, writer: BatchWriter) -> Lake:
    create_compat_views(lake, [("BTCUSDT", "okx", "perp")])
    writer.add_many(Trade("okx", "perp", "BTCUSDT", at(i), at(i), 100.0 + i, 1.0, "buy", str(i)) for i in range(50))
    writer.flush()
    return lake


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("INSERT INTO trades SELECT * FROM trades", "INSERT statements"),
        ("UPDATE trades SET price = 0", "UPDATE statements"),
        ("DELETE FROM trades", "DELETE statements"),
        ("DROP TABLE trades", "DROP statements"),
        ("CREATE TABLE x AS SELECT 1", "CREATE statements"),
        ("ALTER TABLE trades ADD COLUMN x INT", "ALTER statements"),
        ("ATTACH '/tmp/other.db' AS other", "ATTACH statements"),
        ("DETACH lake", "DETACH statements"),
        ("COPY trades TO '/tmp/out.csv'", "COPY statements"),
        ("COPY (SELECT 1) TO '/tmp/out.csv'", "COPY statements"),
        ("INSTALL httpfs", "LOAD statements"),
        ("LOAD httpfs", "LOAD statements"),
        ("SET enable_external_access = true", "SET statements"),
        ("PRAGMA enable_profiling", "PRAGMA|statements"),
        ("CALL ducklake_merge_adjacent_files('lake')", "CALL statements"),
        ("EXPORT DATABASE '/tmp/x'", "EXPORT statements"),
        ("SELECT * FROM read_parquet('/etc/passwd')", r"table function read_parquet\(\)"),
        ("SELECT * FROM read_csv('/etc/passwd')", r"table function read_csv\(\)"),
        ("SELECT * FROM read_json_auto('/etc/passwd')", r"table function read_json_auto\(\)"),
        ("SELECT * FROM read_text('/etc/passwd')", r"table function read_text\(\)"),
        ("SELECT * FROM glob('/etc/*')", r"table function glob\(\)"),
        ("SELECT * FROM query('DROP TABLE trades')", r"table function query\(\)"),
        ("SELECT * FROM '/etc/passwd'", "file paths"),
        ("SELECT * FROM \"data.parquet\"", "file paths"),
        ("SELECT (SELECT count(*) FROM read_blob('/etc/shadow'))", r"table function read_blob\(\)"),
        ("WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM x", r"read_csv\(\)"),
        ("SELECT getenv('HOME')", r"function getenv\(\)"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("SELECT 1; DROP TABLE trades", "2 statements"),
        ("SELECT * FROM other_db.main.t", "only the lake"),
        ("", "empty SQL"),
    ],
)
def test_refusals_name_what_was_refused(sql: str, refused: str) -> None:
    with pytest.raises(QueryError, match=refused) as info:
        check_readonly_sql(sql)
    assert "Accepted: one SELECT statement" in str(info.value)


def test_unparseable_sql_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="does not parse"):
        check_readonly_sql("SELEC 1")


def test_select_with_describe_show_are_accepted(filled: Lake) -> None:
    res = run_readonly_sql(filled, "SELECT venue, count(*) AS n, max(price) FROM trades GROUP BY venue")
    assert res.columns == ["venue", "n", "max(price)"] and res.rows == [["okx", 50, 149.0]]
    assert not res.truncated
    res = run_readonly_sql(filled, "WITH t AS (SELECT * FROM lake.trades) SELECT min(ts) FROM t -- comment")
    assert res.rows == [[dt_at(0)]]
    recent = "SELECT count(*) FROM btcusdt_okx_futures_trades WHERE ts > now()::TIMESTAMP - INTERVAL 100 YEAR"
    res = run_readonly_sql(filled, recent)
    assert res.rows == [[50]]
    assert "price" in [r[0] for r in run_readonly_sql(filled, "DESCRIBE trades").rows]
    assert run_readonly_sql(filled, "SELECT * FROM range(3)").row_count == 3
    assert run_readonly_sql(filled, "SELECT now() AS t").rows[0][0].tzinfo is not None  # no pytz needed


def test_row_limit_is_enforced(filled: Lake) -> None:
    res = run_readonly_sql(filled, "SELECT price FROM trades ORDER BY price DESC", limit=10)
    assert res.row_count == 10 and res.truncated
    assert res.rows[0] == [149.0]
    with pytest.raises(QueryError, match="limit"):
        run_readonly_sql(filled, "SELECT 1", limit=10**9)


def test_timeout_cancels(filled: Lake) -> None:
    slow = "SELECT count(*) FROM range(10000000000) a WHERE a.range % 7 = 3"
    with pytest.raises(QueryError, match="cancelled after"):
        run_readonly_sql(filled, slow, timeout=0.3)


def test_sql_errors_are_query_errors(filled: Lake) -> None:
    with pytest.raises(QueryError, match="query failed"):
        run_readonly_sql(filled, "SELECT no_such_column FROM trades")


def test_sandbox_blocks_files_even_past_the_checks(filled: Lake, tmp_path: Path) -> None:
    """Layer two: the sandbox connection itself cannot read outside the lake."""
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    cur = filled.sandbox().cursor()
    with pytest.raises(Exception, match="disabled by configuration"):
        cur.execute(f"SELECT * FROM read_csv('{secret}')")
    with pytest.raises(Exception, match="locked"):
        cur.execute("SET enable_external_access = true")
    with pytest.raises(Exception, match=r"read-only|read only"):
        cur.execute("DELETE FROM lake.trades")
    assert cur.execute("SELECT count(*) FROM lake.trades").fetchone() == (50,)
    cur.close()


def test_trailing_semicolon_comment_and_huge_results(filled: Lake) -> None:
    assert run_readonly_sql(filled, "SELECT 1 AS one; -- done").rows == [[1]]
    res = run_readonly_sql(filled, "SELECT * FROM range(1000000000000)", limit=5, timeout=5)
    assert res.rows == [[0], [1], [2], [3], [4]] and res.truncated  # streamed: stops early
    tables = [r[0] for r in run_readonly_sql(filled, "SHOW TABLES").rows]
    assert "trades" in tables and "btcusdt_okx_futures_trades" in tables
