#!/usr/bin/env python3
"""Runs a fixed set of queries against a ClickHouse-compatible HTTP endpoint with the official
Python client, clickhouse-connect (unchanged, from PyPI; version in requirements.txt), and prints
one JSON object per line per case:

    {"client": "clickhouse-connect", "case": "select1", "ok": true, "rows": [[1]]}
    {"client": "clickhouse-connect", "case": "insert_refused", "ok": false, "error": "...", "code": 164}

Endpoint: CH_HTTP (host:port), CH_USER (default), CH_PASSWORD (empty), CH_DATABASE (default).
Exit code 0 once every case ran, whatever their outcomes; 2 when it could not start.
Row representation (shared with the Go and JDBC programs, see ../README.md): arrays of arrays of
JSON values; integers of 64 bits or more as decimal strings, narrower ones as numbers.
"""
import datetime
import decimal
import ipaddress
import json
import math
import os
import sys
import uuid

CLIENT = "clickhouse-connect"

TYPES_SQL = """SELECT
    toUInt64(18446744073709551615) AS u64,
    toInt32(-2147483648) AS i32,
    toFloat64(3.141592653589793) AS f64,
    'héllo "wörld"\\n' AS s,
    toDateTime64('2024-01-02 03:04:05.123456789', 9, 'UTC') AS dt64,
    ['a', 'b', ''] AS arr,
    map('k1', 'v1', 'k2', 'v2') AS m,
    CAST(NULL AS Nullable(String)) AS n,
    toLowCardinality('lc') AS lc"""

WIDE_INTS = {"Int64", "UInt64", "Int128", "UInt128", "Int256", "UInt256"}


def env(name, default):
    v = os.environ.get(name)
    return v if v else default


def emit(case, rows=None, error=None):
    r = {"client": CLIENT, "case": case}
    if error is None:
        r.update(ok=True, rows=rows if rows is not None else [])
    else:
        r.update(ok=False, error=str(error).strip())
        code = getattr(error, "code", None)
        if isinstance(code, int):
            r["code"] = code
    sys.stdout.write(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n")
    sys.stdout.flush()


def fmt_ns(dt, nanos=None):
    """ISO-8601 UTC with 9 fractional digits."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    frac = nanos if nanos is not None else dt.microsecond * 1000
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % frac


def norm(v, ch_type=None):
    """One JSON value for v, a value clickhouse-connect returned for a column of type ch_type."""
    if v is None:
        return None
    base = getattr(ch_type, "base_type", None)
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        if base == "DateTime64":  # read with the 'int' format: ticks of 10^-scale s
            scale = ch_type.scale
            secs, frac = divmod(v, 10**scale)
            dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
            return fmt_ns(dt, frac * 10 ** (9 - scale))
        return str(v) if base in WIDE_INTS else v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8", "replace")
    if isinstance(v, datetime.datetime):
        return fmt_ns(v)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (decimal.Decimal, uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(v)
    if isinstance(v, dict):
        kt, vt = getattr(ch_type, "key_type", None), getattr(ch_type, "value_type", None)
        return {str(norm(k, kt)): norm(x, vt) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, (list, tuple)):
        if base == "Tuple":
            return [norm(x, t) for x, t in zip(v, ch_type.element_types)]
        et = getattr(ch_type, "element_type", None)
        return [norm(x, et) for x in v]
    return str(v)


def rows_of(result):
    types = result.column_types
    return [[norm(v, t) for v, t in zip(row, types)] for row in result.result_rows]


def main():
    http = os.environ.get("CH_HTTP")
    if not http:
        print("set CH_HTTP (host:port)", file=sys.stderr)
        return 2
    host, _, port = http.rpartition(":")
    try:
        import clickhouse_connect
    except ImportError as e:
        print(f"clickhouse-connect is not installed: {e}", file=sys.stderr)
        return 2

    cases = [
        "select1", "version", "whoami", "tables", "types", "numbers", "params", "params_client",
        "insert_refused", "insert_refused_api", "ddl_refused", "file_refused", "settings",
        "datetime64_default",
    ]
    try:
        client = clickhouse_connect.get_client(
            host=host or "127.0.0.1",
            port=int(port),
            username=env("CH_USER", "default"),
            password=os.environ.get("CH_PASSWORD", ""),
            database=env("CH_DATABASE", "default"),
            interface="http",
            connect_timeout=10,
            send_receive_timeout=60,
            client_name="airdig-client-probe",
        )
    except Exception as e:  # the client checks the server when it is created
        emit("connect", error=e)
        for c in cases:
            emit(c, error=e)
        return 0

    def run(case, fn):
        try:
            emit(case, rows=fn())
        except Exception as e:
            emit(case, error=e)

    q = lambda sql, **kw: rows_of(client.query(sql, **kw))

    run("select1", lambda: q("SELECT 1 AS one"))
    run("version", lambda: q("SELECT version()"))
    run("whoami", lambda: q("SELECT currentUser(), getSetting('readonly')"))
    run("tables", lambda: q("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name"))
    # DateTime64 read as ticks ('int' format) so the nanoseconds survive; see datetime64_default.
    run("types", lambda: q(TYPES_SQL, query_formats={"DateTime64": "int"}))

    def numbers():
        n = total = 0
        with client.query_row_block_stream("SELECT number FROM numbers(100000)") as stream:
            for block in stream:
                for (v,) in block:
                    n += 1
                    total += v
        return [[n, str(total)]]

    run("numbers", numbers)
    # Server-side parameters: {name:Type} in the SQL, sent as param_n.
    run("params", lambda: q("SELECT {n:UInt32} + 1 AS x", parameters={"n": 41}))
    # Client-side binding (%(name)s), formatted into the SQL by the client.
    run("params_client", lambda: q("SELECT toUInt32(%(n)s) + 1 AS x", parameters={"n": 41}))

    def command(sql):
        client.command(sql)
        return []

    run("insert_refused", lambda: command("INSERT INTO otel_traces (TraceId) VALUES ('x')"))

    def insert_api():
        client.insert("otel_traces", [["x"]], column_names=["TraceId"])
        return []

    run("insert_refused_api", insert_api)
    run("ddl_refused", lambda: command("CREATE TABLE airdig_client_probe (x UInt8) ENGINE = Memory"))
    run("file_refused", lambda: q("SELECT * FROM file('/etc/hostname', 'LineAsString')"))
    run("settings", lambda: q("SELECT toString(getSetting('max_execution_time')) AS max_execution_time",
                              settings={"max_execution_time": 30}))
    # The default DateTime64 read: a Python datetime, which holds microseconds only.
    run("datetime64_default", lambda: q("SELECT toDateTime64('2024-01-02 03:04:05.123456789', 9, 'UTC') AS dt64"))
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
