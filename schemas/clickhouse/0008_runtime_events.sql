-- Runtime security events (Falco alerts), one row per alert, on the resource they happened on:
-- the pod when Falco names one, else the container (container:<first 12 hex digits>), else the host.
CREATE TABLE IF NOT EXISTS runtime_events
(
    id            String,
    ts            DateTime64(9),
    rule          LowCardinality(String),
    priority      LowCardinality(String),
    source        LowCardinality(String),
    hostname      LowCardinality(String),
    resource_id   String,
    container_id  String,
    k8s_namespace LowCardinality(String),
    k8s_pod       String,
    output        String,
    tags          Array(String),
    output_fields Map(String, String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (resource_id, ts, id)
TTL toDateTime(ts) + INTERVAL 90 DAY;
