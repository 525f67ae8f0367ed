-- Sightings are listed instance-wide by time (restSearch defaults to the last 30 days) and
-- per reporting organisation (visibility, org filters, one expiration per org and attribute).
CREATE INDEX sightings_date ON sightings (date_sighting);
CREATE INDEX sightings_org_attribute ON sightings (org_id, attribute_id);
