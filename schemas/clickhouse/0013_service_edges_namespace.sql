-- Service identity includes the namespace: `orders` of namespace `shop` and `orders` of namespace
-- `billing` are two nodes. edge_facts gets each side's service.namespace and canonical id
-- (service:<namespace>/<name>, as graph_nodes names services); a row written before this migration
-- has namespace '' and the id its name gives.
ALTER TABLE edge_facts
    ADD COLUMN IF NOT EXISTS client_namespace LowCardinality(String) DEFAULT '' AFTER server,
    ADD COLUMN IF NOT EXISTS server_namespace LowCardinality(String) DEFAULT '' AFTER client_namespace,
    ADD COLUMN IF NOT EXISTS client_id LowCardinality(String) DEFAULT concat('service:', client_namespace, '/', client) AFTER server_namespace,
    ADD COLUMN IF NOT EXISTS server_id LowCardinality(String) DEFAULT concat('service:', server_namespace, '/', server) AFTER client_id;

-- service_edges_mv (0003) aggregates by (ts, client, server, connection_type): its rows merge both
-- namespaces, and a materialized view's own table cannot take new key columns. The per-minute
-- aggregate moves to service_edge_minutes, keyed by both sides' ids, namespaces and names, filled by
-- service_edge_minutes_mv. Its table is explicit (TO), so that a later migration can ALTER it.
CREATE TABLE IF NOT EXISTS service_edge_minutes
(
    ts               DateTime,
    client           LowCardinality(String),
    server           LowCardinality(String),
    connection_type  LowCardinality(String),
    client_namespace LowCardinality(String),
    server_namespace LowCardinality(String),
    client_id        LowCardinality(String),
    server_id        LowCardinality(String),
    calls_state      AggregateFunction(uniqExact, String),
    errors_state     AggregateFunction(uniqExactIf, String, UInt8),
    latency_state    AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(ts)
ORDER BY (ts, client_id, server_id, connection_type, client_namespace, client, server_namespace, server)
TTL ts + INTERVAL 90 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS service_edge_minutes_mv TO service_edge_minutes AS
SELECT
    toStartOfMinute(ts) AS ts,
    client,
    server,
    connection_type,
    client_namespace,
    server_namespace,
    client_id,
    server_id,
    uniqExactState(id) AS calls_state,
    uniqExactIfState(id, failed = 1) AS errors_state,
    quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency_state
FROM edge_facts
GROUP BY ts, client, server, connection_type, client_namespace, server_namespace, client_id, server_id;

-- What service_edges_mv aggregated before (up to 90 days; edge_facts keeps 30) is copied over, with
-- namespace '' as it was written. It is read through the Merge table service_edges_mv_0003, which
-- reads nothing once service_edges_mv is gone and is kept: the migration can run again, or in two
-- processes at once. Copied twice, calls and errors are the same (they count distinct edge ids),
-- and so are the quantiles (every latency counted twice). A call made while this runs reaches both
-- aggregates and is counted once.
CREATE TABLE IF NOT EXISTS service_edges_mv_0003
(
    ts              DateTime,
    client          LowCardinality(String),
    server          LowCardinality(String),
    connection_type LowCardinality(String),
    calls_state     AggregateFunction(uniqExact, String),
    errors_state    AggregateFunction(uniqExactIf, String, UInt8),
    latency_state   AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64)
)
ENGINE = Merge(currentDatabase(), '^service_edges_mv$');

INSERT INTO service_edge_minutes
SELECT
    ts,
    client,
    server,
    connection_type,
    '' AS client_namespace,
    '' AS server_namespace,
    concat('service:/', client) AS client_id,
    concat('service:/', server) AS server_id,
    calls_state,
    errors_state,
    latency_state
FROM service_edges_mv_0003;

CREATE OR REPLACE VIEW service_edges AS
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
    latency_quantiles[3] AS p99_ms,
    client_namespace,
    server_namespace,
    client_id,
    server_id
FROM service_edge_minutes
GROUP BY ts, client, server, connection_type, client_namespace, server_namespace, client_id, server_id;

DROP TABLE IF EXISTS service_edges_mv;
