-- A node is described by the scanner and sighted by traces (the placement processor: a service runs
-- on it). A sighting adds what it knows and never erases what a scan said: graph_nodes takes each
-- description field from the latest scan that is not a gone version (source = 'scanner'), and only
-- where that scan left it empty from the latest sighting (any other source) that said it; the
-- attributes are the sighting's with the scan's over them (the scan's value wins on a key both
-- have). A later scan replaces an older one whole. first_seen / last_seen and gone are as in 0010:
-- over every version, and `gone` of the latest one (a gone version describes nothing).
-- graph_node_versions keeps one row per (id, seen, source), so merges and FINAL never collapse a
-- scan's row with a sighting's.
CREATE OR REPLACE VIEW graph_nodes AS
SELECT
    id,
    if(scan_type != '', scan_type, sighted_type) AS type,
    if(scan_provider != '', scan_provider, sighted_provider) AS provider,
    if(scan_account != '', scan_account, sighted_account) AS account,
    if(scan_region != '', scan_region, sighted_region) AS region,
    if(scan_name != '', scan_name, sighted_name) AS name,
    mapUpdate(sighted_attributes, scan_attributes) AS attributes,
    first_seen,
    last_seen,
    gone
FROM
(
    SELECT
        id,
        argMaxIf(type, seen, scan) AS scan_type,
        argMaxIf(provider, seen, scan) AS scan_provider,
        argMaxIf(account, seen, scan) AS scan_account,
        argMaxIf(region, seen, scan) AS scan_region,
        argMaxIf(name, seen, scan) AS scan_name,
        argMaxIf(attributes, seen, scan) AS scan_attributes,
        argMaxIf(type, seen, sighting AND type != '') AS sighted_type,
        argMaxIf(provider, seen, sighting AND provider != '') AS sighted_provider,
        argMaxIf(account, seen, sighting AND account != '') AS sighted_account,
        argMaxIf(region, seen, sighting AND region != '') AS sighted_region,
        argMaxIf(name, seen, sighting AND name != '') AS sighted_name,
        argMaxIf(attributes, seen, sighting AND notEmpty(attributes)) AS sighted_attributes,
        minIf(seen, NOT removed) AS first_seen,
        maxIf(seen, NOT removed) AS last_seen,
        argMax(removed, seen) AS gone
    FROM
    (
        SELECT
            id, type, provider, account, region, name, attributes, seen,
            gone AS removed,
            (NOT gone AND source = 'scanner') AS scan,
            (NOT gone AND source != 'scanner') AS sighting
        FROM graph_node_versions
    )
    GROUP BY id
);
