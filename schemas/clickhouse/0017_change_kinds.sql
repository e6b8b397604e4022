-- Every kind of change in one table: CloudTrail calls, deploys (from spans and scans) and changes
-- posted to /v1/changes. A row written before this migration is CloudTrail's, with no summary and
-- empty details. change_events keeps its columns and its one row per event_id (FINAL), and gains
-- the three.
ALTER TABLE change_event_log
    ADD COLUMN IF NOT EXISTS kind    LowCardinality(String) DEFAULT 'cloudtrail' AFTER user_agent,
    ADD COLUMN IF NOT EXISTS summary String DEFAULT '' AFTER kind,
    ADD COLUMN IF NOT EXISTS details String DEFAULT '{}' AFTER summary;

CREATE OR REPLACE VIEW change_events AS
SELECT event_id, ts, source, event_source, event_name, actor, actor_type, account, region, resource_ids, read_only, error_code, error_message, source_ip, user_agent,
       kind, summary, details
FROM change_event_log FINAL;
