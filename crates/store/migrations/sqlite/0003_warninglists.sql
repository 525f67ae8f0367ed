-- Enabled state of warninglists, keyed by the list's name (MISP's unique key for a list).
-- The lists themselves ship inside the binary (or come from a configured directory); a
-- list without a row here has its default state.
CREATE TABLE warninglist_states (
    name TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL
);
