-- Drift between Terraform state and the cloud. The same drift seen again (each scan, each state)
-- has the same id; drift_events shows it once, when it was first seen, with the latest CloudTrail
-- change found to have caused it.
CREATE TABLE IF NOT EXISTS drift_event_log
(
    id               String,
    ts               DateTime64(3),
    resource_id      String,
    resource_type    LowCardinality(String),
    address          String,
    drift            LowCardinality(String),
    attribute        String,
    expected         String,
    actual           String,
    lineage          String,
    serial           UInt64,
    scan_id          String,
    cause_event_id   String,
    cause_ts         DateTime64(3),
    cause_actor      String,
    cause_event_name LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (id, ts, cause_event_id)
TTL toDateTime(ts) + INTERVAL 400 DAY;

-- (The inner query renames the times, so that the view's aliases do not shadow them.)
CREATE VIEW IF NOT EXISTS drift_events AS
SELECT
    id,
    min(t) AS ts,
    any(resource_id) AS resource_id,
    any(resource_type) AS resource_type,
    any(address) AS address,
    any(drift) AS drift,
    any(attribute) AS attribute,
    any(expected) AS expected,
    any(actual) AS actual,
    argMin(lineage, t) AS lineage,
    argMin(serial, t) AS serial,
    argMin(scan_id, t) AS scan_id,
    argMax(cause_id, ct) AS cause_event_id,
    max(ct) AS cause_ts,
    argMax(cause_actor, ct) AS cause_actor,
    argMax(cause_event_name, ct) AS cause_event_name
FROM (
    SELECT id, ts AS t, resource_id, resource_type, address, drift, attribute, expected, actual, lineage, serial, scan_id,
           cause_event_id AS cause_id, cause_ts AS ct, cause_actor, cause_event_name
    FROM drift_event_log
)
GROUP BY id;
