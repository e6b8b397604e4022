-- Records that a consumer could not process, read back from airdig.dlq so operators can query them.
-- One row per source record: replays of the DLQ collapse on (source_topic, source_partition, source_offset).
CREATE TABLE IF NOT EXISTS dead_letters
(
    ts               DateTime64(3),
    source_topic     LowCardinality(String),
    source_partition UInt32,
    source_offset    UInt64,
    component        LowCardinality(String),
    error_code       LowCardinality(String),
    error            String,
    key_base64       String,
    value_base64     String,
    value_bytes      UInt32,
    headers          Map(String, String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (source_topic, source_partition, source_offset)
TTL toDateTime(ts) + INTERVAL 14 DAY
SETTINGS non_replicated_deduplication_window = 1000;
