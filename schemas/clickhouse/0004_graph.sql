-- The resource graph. Every sighting of a node or edge is a version row; the views graph_nodes and
-- graph_edges give the latest version per id with first_seen / last_seen over all sightings.
CREATE TABLE IF NOT EXISTS graph_node_versions
(
    id         String,
    type       LowCardinality(String),
    provider   LowCardinality(String),
    account    LowCardinality(String),
    region     LowCardinality(String),
    name       String,
    attributes Map(LowCardinality(String), String),
    seen       DateTime64(3),
    source     LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(seen)
ORDER BY (id, seen, source)
TTL toDateTime(seen) + INTERVAL 90 DAY;

CREATE VIEW IF NOT EXISTS graph_nodes AS
SELECT
    id,
    argMax(type, seen) AS type,
    argMax(provider, seen) AS provider,
    argMax(account, seen) AS account,
    argMax(region, seen) AS region,
    argMax(name, seen) AS name,
    argMax(attributes, seen) AS attributes,
    min(seen) AS first_seen,
    max(seen) AS last_seen
FROM graph_node_versions
GROUP BY id;

CREATE TABLE IF NOT EXISTS graph_edge_versions
(
    src    String,
    dst    String,
    type   LowCardinality(String),
    seen   DateTime64(3),
    source LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(seen)
ORDER BY (src, dst, type, seen, source)
TTL toDateTime(seen) + INTERVAL 90 DAY;

CREATE VIEW IF NOT EXISTS graph_edges AS
SELECT src, dst, type, min(seen) AS first_seen, max(seen) AS last_seen
FROM graph_edge_versions
GROUP BY src, dst, type;
