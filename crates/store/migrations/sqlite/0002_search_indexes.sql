-- restSearch by value must not scan: MISP compares values case-insensitively, so the indexes
-- fold case the way the queries do (COLLATE NOCASE here, lower() on PostgreSQL). Most
-- attributes have no value2, so its index only holds the composite ones.
CREATE INDEX attributes_value1 ON attributes (value1 COLLATE NOCASE);
CREATE INDEX attributes_value2 ON attributes (value2 COLLATE NOCASE) WHERE value2 <> '';
CREATE INDEX attributes_timestamp ON attributes (timestamp);
CREATE INDEX events_date ON events (date);
-- Advanced correlation looks up the (few) CIDR blocks among IP attributes; queries repeat
-- these exact conditions so the planner picks the partial index (URLs contain '/' too, hence
-- the type list, written as crates/model's correlation::IP_TYPES).
CREATE INDEX attributes_cidr ON attributes (type)
    WHERE value1 LIKE '%/%' AND type IN ('ip-src', 'ip-dst', 'ip-src|port', 'ip-dst|port');
