-- The engine's answers. A correlation (a change linked to a signal that followed it) and an
-- incident (connected signals with their ranked causes) are written again whenever new evidence
-- revises them, under the same id: the logs keep every revision, the views show the latest.
CREATE TABLE IF NOT EXISTS correlation_log
(
    id                   String,
    ts                   DateTime64(3),
    cause_id             String,
    cause_kind           LowCardinality(String),
    cause_ts             DateTime64(3),
    cause_resource_id    String,
    impacted_resource_id String,
    signal               LowCardinality(String),
    signal_id            String,
    score                Float64,
    window_s             UInt32,
    incident_id          String,
    rank                 UInt16,
    path                 Array(String),
    evidence             String,
    revision             DateTime64(3)
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(ts)
ORDER BY (id)
TTL toDateTime(ts) + INTERVAL 400 DAY;

CREATE VIEW IF NOT EXISTS correlations AS
SELECT id, ts, cause_id, cause_kind, cause_ts, cause_resource_id, impacted_resource_id, signal, signal_id, score, window_s,
       incident_id, rank, path, evidence, revision, score >= 0.5 AS claim
FROM correlation_log FINAL;

CREATE TABLE IF NOT EXISTS incident_log
(
    id          String,
    opened      DateTime64(3),
    resolved    Nullable(DateTime64(3)),
    status      LowCardinality(String),
    merged_into String,
    impacted    Array(String),
    signals     Array(String),
    causes      Array(Tuple(cause_id String, cause_kind String, resource_id String, probability Float64, score Float64, explanation String)),
    revision    DateTime64(3)
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY (id)
TTL toDateTime(revision) + INTERVAL 400 DAY;

-- Incidents merged into another one are left out; their signals are in the one they joined.
CREATE VIEW IF NOT EXISTS incidents AS
SELECT id, opened, resolved, status, impacted, signals, causes, revision
FROM incident_log FINAL
WHERE status != 'merged';
