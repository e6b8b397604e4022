-- Service call edges. edge_facts holds one row per call (from airdig.edges); a materialized view
-- aggregates them per minute, and the view service_edges reads the aggregate as the query
-- contract's columns. Calls and errors count distinct edge ids, so a replayed fact is not counted twice.
CREATE TABLE IF NOT EXISTS edge_facts
(
    id                String,
    ts                DateTime64(3),
    trace_id          String,
    client            LowCardinality(String),
    server            LowCardinality(String),
    connection_type   LowCardinality(String),
    failed            UInt8,
    latency_ms        Float64,
    client_latency_ms Float64
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (client, server, connection_type, toStartOfMinute(ts), id)
TTL toDateTime(ts) + INTERVAL 30 DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS service_edges_mv
ENGINE = AggregatingMergeTree
PARTITION BY toDate(ts)
ORDER BY (ts, client, server, connection_type)
TTL ts + INTERVAL 90 DAY
AS SELECT
    toStartOfMinute(ts) AS ts,
    client,
    server,
    connection_type,
    uniqExactState(id) AS calls_state,
    uniqExactIfState(id, failed = 1) AS errors_state,
    quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency_state
FROM edge_facts
GROUP BY ts, client, server, connection_type;

CREATE VIEW IF NOT EXISTS service_edges AS
SELECT
    ts,
    client,
    server,
    connection_type,
    uniqExactMerge(calls_state) AS calls,
    uniqExactIfMerge(errors_state) AS errors,
    quantilesMerge(0.5, 0.95, 0.99)(latency_state) AS latency_quantiles,
    latency_quantiles[1] AS p50_ms,
    latency_quantiles[2] AS p95_ms,
    latency_quantiles[3] AS p99_ms
FROM service_edges_mv
GROUP BY ts, client, server, connection_type;
