-- Prometheus remote write: one row per series (latest sighting wins), samples, native histograms
-- and exemplars. Fingerprints are a 64-bit hash of the sorted labels, in hex. Replays collapse on
-- (metric, fingerprint, ts). Stale markers (Prometheus' special NaN) keep value NaN and stale = 1.
CREATE TABLE IF NOT EXISTS prom_series
(
    fingerprint String,
    metric_name LowCardinality(String),
    labels      Map(LowCardinality(String), String),
    job         LowCardinality(String),
    instance    LowCardinality(String),
    resource_id String,
    type        LowCardinality(String),
    help        String,
    unit        LowCardinality(String),
    last_seen   DateTime64(3)
)
ENGINE = ReplacingMergeTree(last_seen)
ORDER BY fingerprint
TTL toDateTime(last_seen) + INTERVAL 15 DAY;

CREATE TABLE IF NOT EXISTS prom_samples
(
    metric_name LowCardinality(String),
    fingerprint String,
    ts          DateTime64(3),
    value       Float64,
    stale       UInt8
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (metric_name, fingerprint, ts)
TTL toDateTime(ts) + INTERVAL 15 DAY;

CREATE TABLE IF NOT EXISTS prom_histograms
(
    metric_name     LowCardinality(String),
    fingerprint     String,
    ts              DateTime64(3),
    count           Float64,
    sum             Float64,
    schema          Int32,
    zero_threshold  Float64,
    zero_count      Float64,
    positive_spans  Array(Tuple(Int32, UInt32)),
    positive_deltas Array(Int64),
    positive_counts Array(Float64),
    negative_spans  Array(Tuple(Int32, UInt32)),
    negative_deltas Array(Int64),
    negative_counts Array(Float64),
    custom_values   Array(Float64),
    reset_hint      UInt8
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (metric_name, fingerprint, ts)
TTL toDateTime(ts) + INTERVAL 15 DAY;

CREATE TABLE IF NOT EXISTS prom_exemplars
(
    metric_name LowCardinality(String),
    fingerprint String,
    ts          DateTime64(3),
    value       Float64,
    labels      Map(String, String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (metric_name, fingerprint, ts)
TTL toDateTime(ts) + INTERVAL 15 DAY;
