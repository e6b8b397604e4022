-- Scanner topology: a complete scan of a scope writes a `gone` version of each node and edge it no
-- longer saw there. graph_nodes / graph_edges show `gone` of the latest version, so a resource seen
-- again (by a later scan, or by traces) is back.
ALTER TABLE graph_node_versions ADD COLUMN IF NOT EXISTS gone Bool DEFAULT false;
ALTER TABLE graph_edge_versions ADD COLUMN IF NOT EXISTS gone Bool DEFAULT false;

-- A gone version carries no description: the latest description comes from sightings. (The inner
-- query renames the column, so that the view's `gone` alias does not shadow it.)
CREATE OR REPLACE VIEW graph_nodes AS
SELECT
    id,
    argMaxIf(type, seen, NOT removed) AS type,
    argMaxIf(provider, seen, NOT removed) AS provider,
    argMaxIf(account, seen, NOT removed) AS account,
    argMaxIf(region, seen, NOT removed) AS region,
    argMaxIf(name, seen, NOT removed) AS name,
    argMaxIf(attributes, seen, NOT removed) AS attributes,
    minIf(seen, NOT removed) AS first_seen,
    maxIf(seen, NOT removed) AS last_seen,
    argMax(removed, seen) AS gone
FROM (SELECT id, type, provider, account, region, name, attributes, seen, gone AS removed FROM graph_node_versions)
GROUP BY id;

CREATE OR REPLACE VIEW graph_edges AS
SELECT src, dst, type, minIf(seen, NOT removed) AS first_seen, maxIf(seen, NOT removed) AS last_seen, argMax(removed, seen) AS gone
FROM (SELECT src, dst, type, seen, gone AS removed FROM graph_edge_versions)
GROUP BY src, dst, type;
