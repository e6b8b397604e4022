-- Every other name of a resource (IPs, DNS names, short ids, endpoints, pod uids) → its canonical
-- id, from the graph's node records; and one row per canonical resource with what is known of it.
CREATE TABLE IF NOT EXISTS resource_alias_log
(
    alias       String,
    resource_id String,
    source      LowCardinality(String),
    seen        DateTime64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(seen)
ORDER BY (alias, resource_id, source, seen)
TTL toDateTime(seen) + INTERVAL 400 DAY;

CREATE VIEW IF NOT EXISTS resource_aliases AS
SELECT alias, resource_id, source, min(seen) AS first_seen, max(seen) AS last_seen
FROM resource_alias_log
GROUP BY alias, resource_id, source;

-- health: the latest status (resource_health); open_drift: drifts seen on it (drift_events);
-- last_change: its latest successful, not read-only change; criticality: how many services depend
-- on it directly (run on it, or call it). The engine ranks causes with the transitive count.
CREATE VIEW IF NOT EXISTS resources AS
SELECT
    n.id AS resource_id,
    n.type AS type,
    n.provider AS provider,
    n.name AS name,
    if(h.resource_id = '', 'unknown', h.status) AS health,
    d.open_drift AS open_drift,
    if(c.resource_id = '', NULL, c.last_change) AS last_change,
    r.dependents AS criticality
FROM graph_nodes AS n
LEFT JOIN resource_health AS h ON h.resource_id = n.id
LEFT JOIN (SELECT resource_id, count() AS open_drift FROM drift_events GROUP BY resource_id) AS d ON d.resource_id = n.id
LEFT JOIN
(
    SELECT arrayJoin(resource_ids) AS resource_id, max(ts) AS last_change
    FROM change_events
    WHERE NOT read_only AND error_code = ''
    GROUP BY resource_id
) AS c ON c.resource_id = n.id
LEFT JOIN
(
    SELECT id, sum(n) AS dependents
    FROM
    (
        SELECT dst AS id, uniqExact(src) AS n FROM graph_edges WHERE type = 'runs_on' AND startsWith(src, 'service:') AND NOT gone GROUP BY dst
        UNION ALL
        SELECT server_id AS id, uniqExact(client_id) AS n FROM service_edges GROUP BY server_id
    )
    GROUP BY id
) AS r ON r.id = n.id
WHERE NOT n.gone;
