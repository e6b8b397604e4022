-- Health: one row per change (a rule starting or stopping to fire on a resource), and the
-- latest status per resource. A resource with metrics and no fact is healthy.
CREATE TABLE IF NOT EXISTS health_facts
(
    id          String,
    ts          DateTime64(3),
    resource_id String,
    status      LowCardinality(String),
    state       LowCardinality(String),
    rule        LowCardinality(String),
    reason      String,
    metric      LowCardinality(String),
    value       Float64,
    threshold   Float64,
    labels      Map(String, String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (resource_id, ts, id)
TTL toDateTime(ts) + INTERVAL 90 DAY;

CREATE VIEW IF NOT EXISTS resource_health AS
SELECT
    resource_id,
    if(f.status = '', 'healthy', f.status) AS status,
    if(f.status = '', '', f.reason) AS reason,
    if(f.status = '', r.seen, f.changed) AS ts
FROM (SELECT resource_id, max(last_seen) AS seen FROM prom_series WHERE resource_id != '' GROUP BY resource_id) AS r
FULL OUTER JOIN
(
    SELECT resource_id, argMax(status, ts) AS status, argMax(reason, ts) AS reason, max(ts) AS changed
    FROM health_facts FINAL
    GROUP BY resource_id
) AS f USING (resource_id);
