-- Changes to the estate, one row per CloudTrail eventID: the log keeps every delivery, the view
-- change_events shows each event once (ReplacingMergeTree by event_id, read with FINAL).
CREATE TABLE IF NOT EXISTS change_event_log
(
    event_id      String,
    ts            DateTime64(3),
    source        LowCardinality(String),
    event_source  LowCardinality(String),
    event_name    LowCardinality(String),
    actor         String,
    actor_type    LowCardinality(String),
    account       LowCardinality(String),
    region        LowCardinality(String),
    resource_ids  Array(String),
    read_only     Bool,
    error_code    LowCardinality(String),
    error_message String,
    source_ip     String,
    user_agent    String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (event_id)
TTL toDateTime(ts) + INTERVAL 400 DAY;

CREATE VIEW IF NOT EXISTS change_events AS
SELECT event_id, ts, source, event_source, event_name, actor, actor_type, account, region, resource_ids, read_only, error_code, error_message, source_ip, user_agent
FROM change_event_log FINAL;
