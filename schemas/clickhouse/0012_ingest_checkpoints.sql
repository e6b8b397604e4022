-- Where a polling intake (the CloudTrail LookupEvents poller) got to, per source, so a restart goes
-- on from there. The latest row per source wins.
CREATE TABLE IF NOT EXISTS ingest_checkpoints
(
    source   String,
    position String,
    updated  DateTime64(3)
)
ENGINE = ReplacingMergeTree(updated)
ORDER BY source;
