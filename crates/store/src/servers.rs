//! Sync servers: the remote instances this one pulls from and pushes to, MISP's `servers`
//! table, with what the last pull and push left behind.

use crate::feeds::FeedCacheEntry;
use crate::value_cache::{self, CacheOf};
use crate::{Result, Store, StoreError, with_pool, with_tx, with_writer};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

const SERVER_COLUMNS: &str = "id, name, url, authkey, org_id, remote_org_id, push, pull, \
     push_sightings, push_galaxy_clusters, pull_galaxy_clusters, push_analyst_data, \
     pull_analyst_data, lastpushedid, lastpulledid, publish_without_email, unpublish_event, \
     self_signed, cert_file, client_cert_file, internal, skip_proxy, caching_enabled, priority, \
     remove_missing_tags, pull_rules, push_rules, timeout_seconds, cert_pem, client_cert_pem, \
     federated_search, federated_org_ids, index_etag, last_pull_at, last_pull_ok, \
     last_pull_result, last_push_at, last_push_ok, last_push_result, cache_timestamp";

/// Binds the 31 settings of a server, in `SERVER_COLUMNS` order after `id`, to an INSERT or
/// UPDATE that names them as `$1` … `$31`.
macro_rules! bind_settings {
    ($query:expr, $server:expr) => {
        $query
            .bind(&$server.name)
            .bind(&$server.url)
            .bind(&$server.authkey)
            .bind($server.org_id)
            .bind($server.remote_org_id)
            .bind($server.push)
            .bind($server.pull)
            .bind($server.push_sightings)
            .bind($server.push_galaxy_clusters)
            .bind($server.pull_galaxy_clusters)
            .bind($server.push_analyst_data)
            .bind($server.pull_analyst_data)
            .bind($server.lastpushedid)
            .bind($server.lastpulledid)
            .bind($server.publish_without_email)
            .bind($server.unpublish_event)
            .bind($server.self_signed)
            .bind(&$server.cert_file)
            .bind(&$server.client_cert_file)
            .bind($server.internal)
            .bind($server.skip_proxy)
            .bind($server.caching_enabled)
            .bind($server.priority)
            .bind($server.remove_missing_tags)
            .bind(&$server.pull_rules)
            .bind(&$server.push_rules)
            .bind($server.timeout_seconds)
            .bind(&$server.cert_pem)
            .bind(&$server.client_cert_pem)
            .bind($server.federated_search)
            .bind(&$server.federated_org_ids)
    };
}

/// A remote instance (MISP's `Server`). The settings are what an administrator writes; the
/// [`ServerSyncState`] is what sync runs record.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Server {
    pub id: i64,
    pub name: String,
    /// Base URL of the remote, without a trailing slash.
    pub url: String,
    /// The API key of the sync user on the remote.
    pub authkey: String,
    /// Local organisation owning the link; pulled events belong to it.
    pub org_id: i64,
    /// Local id of the organisation running the remote instance.
    pub remote_org_id: i64,
    pub push: bool,
    pub pull: bool,
    pub push_sightings: bool,
    pub push_galaxy_clusters: bool,
    pub pull_galaxy_clusters: bool,
    pub push_analyst_data: bool,
    pub pull_analyst_data: bool,
    pub lastpushedid: i64,
    pub lastpulledid: i64,
    pub publish_without_email: bool,
    pub unpublish_event: bool,
    pub self_signed: bool,
    pub cert_file: String,
    pub client_cert_file: String,
    pub internal: bool,
    pub skip_proxy: bool,
    pub caching_enabled: bool,
    /// Push order: lower first.
    pub priority: i64,
    pub remove_missing_tags: bool,
    /// JSON rules as MISP writes them ('' = none).
    pub pull_rules: String,
    pub push_rules: String,
    /// Seconds one request to the remote may take.
    pub timeout_seconds: i64,
    /// PEM certificates trusted for the remote instead of the system roots ('' = system
    /// roots); MISP's uploaded `cert_file`.
    pub cert_pem: String,
    /// PEM client certificate with its private key ('' = none); MISP's `client_cert_file`.
    pub client_cert_pem: String,
    /// Whether federated searches ask this server.
    pub federated_search: bool,
    /// Comma-separated local organisation ids whose users may ask it in a federated search
    /// ('' = every user); see [`Server::federated_orgs`].
    pub federated_org_ids: String,
    #[sqlx(flatten)]
    pub state: ServerSyncState,
}

/// What the last pull and push of a server did. Unix seconds, 0 = never.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ServerSyncState {
    /// ETag of the remote's event index after the last pull that completed.
    pub index_etag: String,
    pub last_pull_at: i64,
    pub last_pull_ok: bool,
    pub last_pull_result: String,
    pub last_push_at: i64,
    pub last_push_ok: bool,
    pub last_push_result: String,
    /// When the server's value cache was last rebuilt (0 = never).
    pub cache_timestamp: i64,
}

/// A value found in a server's cache: the remote event holding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCacheHit {
    pub server_id: i64,
    pub value_md5: String,
    pub event_uuid: String,
}

/// The outcome of one sync run in one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncOutcome {
    pub at: i64,
    pub ok: bool,
    pub result: String,
}

impl Server {
    /// A server with MISP's defaults for everything but what names and reaches it.
    pub fn new(name: &str, url: &str, authkey: &str, org_id: i64) -> Server {
        Server {
            id: 0,
            name: name.to_string(),
            url: url.to_string(),
            authkey: authkey.to_string(),
            org_id,
            remote_org_id: 0,
            push: false,
            pull: false,
            push_sightings: false,
            push_galaxy_clusters: false,
            pull_galaxy_clusters: false,
            push_analyst_data: false,
            pull_analyst_data: false,
            lastpushedid: 0,
            lastpulledid: 0,
            publish_without_email: false,
            unpublish_event: false,
            self_signed: false,
            cert_file: String::new(),
            client_cert_file: String::new(),
            internal: false,
            skip_proxy: false,
            caching_enabled: false,
            priority: 0,
            remove_missing_tags: false,
            pull_rules: String::new(),
            push_rules: String::new(),
            timeout_seconds: 60,
            cert_pem: String::new(),
            client_cert_pem: String::new(),
            federated_search: true,
            federated_org_ids: String::new(),
            state: ServerSyncState::default(),
        }
    }

    /// The organisations whose users may ask this server in a federated search; empty means
    /// every user.
    pub fn federated_orgs(&self) -> Vec<i64> {
        self.federated_org_ids
            .split(',')
            .filter_map(|id| id.trim().parse().ok())
            .collect()
    }

    pub fn set_federated_orgs(&mut self, org_ids: &[i64]) {
        let mut ids = org_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        self.federated_org_ids = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    }
}

impl Store {
    /// Every server in push order (priority, then id).
    pub async fn servers(&self) -> Result<Vec<Server>> {
        let sql = format!("SELECT {SERVER_COLUMNS} FROM servers ORDER BY priority ASC, id ASC");
        Ok(with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?
        }))
    }

    pub async fn server(&self, id: i64) -> Result<Server> {
        let sql = format!("SELECT {SERVER_COLUMNS} FROM servers WHERE id = $1");
        let row: Option<Server> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// Inserts `server` (its id and sync state are ignored) and returns it as stored.
    pub async fn create_server(&self, server: &Server) -> Result<Server> {
        let sql = format!(
            "INSERT INTO servers (name, url, authkey, org_id, remote_org_id, push, pull, \
             push_sightings, push_galaxy_clusters, pull_galaxy_clusters, push_analyst_data, \
             pull_analyst_data, lastpushedid, lastpulledid, publish_without_email, \
             unpublish_event, self_signed, cert_file, client_cert_file, internal, skip_proxy, \
             caching_enabled, priority, remove_missing_tags, pull_rules, push_rules, \
             timeout_seconds, cert_pem, client_cert_pem, federated_search, federated_org_ids) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31) \
             RETURNING {SERVER_COLUMNS}"
        );
        Ok(with_pool!(self, pool => {
            bind_settings!(sqlx::query_as(AssertSqlSafe(sql.as_str())), server)
                .fetch_one(pool)
                .await?
        }))
    }

    /// Writes the settings of `server` (found by its id); its sync state is left as stored,
    /// except that a new URL, key or pull rules forget the remote index's ETag (the same
    /// index may now let other events through).
    pub async fn update_server(&self, server: &Server) -> Result<Server> {
        let before = self.server(server.id).await?;
        let forget_etag = before.url != server.url
            || before.authkey != server.authkey
            || before.pull_rules != server.pull_rules
            || before.org_id != server.org_id;
        let mut tx = self.begin().await?;
        let affected = with_tx!(&mut tx, conn => {
            bind_settings!(sqlx::query(
                "UPDATE servers SET name = $1, url = $2, authkey = $3, org_id = $4, \
                 remote_org_id = $5, push = $6, pull = $7, push_sightings = $8, \
                 push_galaxy_clusters = $9, pull_galaxy_clusters = $10, push_analyst_data = $11, \
                 pull_analyst_data = $12, lastpushedid = $13, lastpulledid = $14, \
                 publish_without_email = $15, unpublish_event = $16, self_signed = $17, \
                 cert_file = $18, client_cert_file = $19, internal = $20, skip_proxy = $21, \
                 caching_enabled = $22, priority = $23, remove_missing_tags = $24, \
                 pull_rules = $25, push_rules = $26, timeout_seconds = $27, cert_pem = $28, \
                 client_cert_pem = $29, federated_search = $30, federated_org_ids = $31 \
                 WHERE id = $32",
            ), server)
            .bind(server.id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        if forget_etag {
            with_tx!(&mut tx, conn => {
                sqlx::query("UPDATE servers SET index_etag = '' WHERE id = $1")
                    .bind(server.id)
                    .execute(&mut *conn)
                    .await?;
            });
        }
        tx.commit().await?;
        self.server(server.id).await
    }

    /// Deletes a server and its memberships in sharing groups.
    pub async fn delete_server(&self, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let affected = with_tx!(&mut tx, conn => {
            sqlx::query("DELETE FROM servers WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        with_tx!(&mut tx, conn => {
            sqlx::query("DELETE FROM sharing_group_servers WHERE server_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM server_cache WHERE server_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        });
        tx.commit().await
    }

    /// Replaces the cached values of a server (MISP's `/servers/cache`) and stamps its
    /// `cache_timestamp` with `now`.
    pub async fn replace_server_cache(
        &self,
        server_id: i64,
        entries: &[FeedCacheEntry],
        now: i64,
    ) -> Result<()> {
        value_cache::replace(self, CacheOf::Server, server_id, entries, now).await
    }

    /// How many distinct values each server's cache holds, by server id.
    pub async fn server_cache_counts(&self) -> Result<HashMap<i64, u64>> {
        value_cache::counts(self, CacheOf::Server).await
    }

    /// Cached values among these md5 digests, in every server's cache.
    pub async fn server_cache_hits(&self, value_md5s: &[String]) -> Result<Vec<ServerCacheHit>> {
        Ok(value_cache::hits(self, CacheOf::Server, value_md5s)
            .await?
            .into_iter()
            .map(|hit| ServerCacheHit {
                server_id: hit.owner_id,
                value_md5: hit.value_md5,
                event_uuid: hit.event_uuid,
            })
            .collect())
    }

    /// Records how a pull ended. `index_etag` is the remote index's ETag to send next time:
    /// only a pull that stored everything it was offered may keep one.
    pub async fn record_server_pull(
        &self,
        id: i64,
        outcome: &SyncOutcome,
        index_etag: &str,
    ) -> Result<()> {
        let affected = with_writer!(self, pool => {
            sqlx::query(
                "UPDATE servers SET last_pull_at = $1, last_pull_ok = $2, last_pull_result = $3, \
                 index_etag = $4 WHERE id = $5",
            )
            .bind(outcome.at)
            .bind(outcome.ok)
            .bind(&outcome.result)
            .bind(index_etag)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records how a push ended and, when given, the new `lastpushedid`.
    pub async fn record_server_push(
        &self,
        id: i64,
        outcome: &SyncOutcome,
        lastpushedid: Option<i64>,
    ) -> Result<()> {
        let affected = with_writer!(self, pool => {
            sqlx::query(
                "UPDATE servers SET last_push_at = $1, last_push_ok = $2, last_push_result = $3, \
                 lastpushedid = COALESCE($4, lastpushedid) WHERE id = $5",
            )
            .bind(outcome.at)
            .bind(outcome.ok)
            .bind(&outcome.result)
            .bind(lastpushedid)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Sets `lastpulledid` (the highest remote event id a pull stored).
    pub async fn set_server_lastpulledid(&self, id: i64, lastpulledid: i64) -> Result<()> {
        with_writer!(self, pool => {
            sqlx::query("UPDATE servers SET lastpulledid = $1 WHERE id = $2")
                .bind(lastpulledid)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

/// Bound values per statement when a list goes into `IN (...)`.
const IN_CHUNK: usize = 500;

/// `$first, $first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The local copy of an event, as a pull compares it with the remote's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncMark {
    pub id: i64,
    pub timestamp: i64,
    pub sighting_timestamp: i64,
    /// Arrived by sync (or import from another creator): sync may update it.
    pub locked: bool,
}

/// A published event a push may offer, with what the push rules and the distribution
/// check look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushCandidate {
    pub id: i64,
    pub uuid: String,
    pub timestamp: i64,
    pub sighting_timestamp: i64,
    pub distribution: i64,
    pub sharing_group_id: i64,
    pub org_id: i64,
    pub orgc_id: i64,
    /// Global (not local) tags: (id, name).
    pub tags: Vec<(i64, String)>,
}

/// A sighting as it travels to a peer: by uuids, with its reporting organisation.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncSighting {
    pub uuid: String,
    pub attribute_uuid: String,
    pub date_sighting: i64,
    pub sighting_type: i64,
    pub source: String,
    pub org_id: i64,
    pub org_uuid: String,
    pub org_name: String,
}

impl Store {
    /// The local copies of these events that exist here, by uuid.
    pub async fn sync_marks(
        &self,
        uuids: &[String],
    ) -> Result<std::collections::HashMap<String, SyncMark>> {
        let mut found = std::collections::HashMap::with_capacity(uuids.len());
        for chunk in uuids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT uuid, id, timestamp, sighting_timestamp, locked FROM events \
                 WHERE uuid IN ({})",
                placeholders(1, chunk.len())
            );
            let rows: Vec<(String, i64, i64, i64, bool)> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
                for uuid in chunk {
                    query = query.bind(uuid);
                }
                query.fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(
                |(uuid, id, timestamp, sighting_timestamp, locked)| {
                    (
                        uuid,
                        SyncMark {
                            id,
                            timestamp,
                            sighting_timestamp,
                            locked,
                        },
                    )
                },
            ));
        }
        Ok(found)
    }

    /// Which of these event uuids were deleted here and are blocklisted.
    pub async fn blocklisted_among(
        &self,
        uuids: &[String],
    ) -> Result<std::collections::HashSet<String>> {
        let mut found = std::collections::HashSet::new();
        for chunk in uuids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT event_uuid FROM event_blocklists WHERE event_uuid IN ({})",
                placeholders(1, chunk.len())
            );
            let rows: Vec<(String,)> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
                for uuid in chunk {
                    query = query.bind(uuid);
                }
                query.fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(|(uuid,)| uuid));
        }
        Ok(found)
    }

    /// Marks these events as arrived by sync.
    pub async fn lock_events(&self, uuids: &[String]) -> Result<()> {
        for chunk in uuids.chunks(IN_CHUNK) {
            let sql = format!(
                "UPDATE events SET locked = TRUE WHERE uuid IN ({})",
                placeholders(1, chunk.len())
            );
            with_writer!(self, pool => {
                let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
                for uuid in chunk {
                    query = query.bind(uuid);
                }
                query.execute(pool).await?;
            });
        }
        Ok(())
    }

    /// Raises `sighting_timestamp` of events (by uuid) to at least the given moment: the
    /// sightings a pull brought are as recent as the remote's.
    pub async fn raise_sighting_timestamps(&self, marks: &[(String, i64)]) -> Result<()> {
        let mut tx = self.begin().await?;
        for (uuid, moment) in marks {
            with_tx!(&mut tx, conn => {
                sqlx::query(
                    "UPDATE events SET sighting_timestamp = $1 \
                     WHERE uuid = $2 AND sighting_timestamp < $1",
                )
                .bind(*moment)
                .bind(uuid)
                .execute(&mut *conn)
                .await?;
            });
        }
        tx.commit().await
    }

    /// Published events with attributes or reports a push may offer, oldest first: those with an id
    /// above `after_id`, or only the event `only` names.
    pub async fn push_candidates(
        &self,
        after_id: i64,
        only: Option<&crate::Key>,
    ) -> Result<Vec<PushCandidate>> {
        let base = "SELECT id, uuid, timestamp, sighting_timestamp, distribution, \
                    sharing_group_id, org_id, orgc_id FROM events \
                    WHERE published = TRUE AND (attribute_count > 0 OR EXISTS \
                    (SELECT 1 FROM event_reports WHERE event_reports.event_id = events.id \
                    AND event_reports.deleted = FALSE))";
        type Row = (i64, String, i64, i64, i64, i64, i64, i64);
        let rows: Vec<Row> = match only {
            Some(crate::Key::Id(id)) => {
                let sql = format!("{base} AND id = $1");
                with_pool!(self, pool => {
                    sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(*id).fetch_all(pool).await?
                })
            }
            Some(crate::Key::Uuid(uuid)) => {
                let sql = format!("{base} AND uuid = $1");
                with_pool!(self, pool => {
                    sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(uuid).fetch_all(pool).await?
                })
            }
            None => {
                let sql = format!("{base} AND id > $1 ORDER BY id");
                with_pool!(self, pool => {
                    sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(after_id).fetch_all(pool).await?
                })
            }
        };
        let mut candidates: Vec<PushCandidate> = rows
            .into_iter()
            .map(
                |(id, uuid, timestamp, sighting_timestamp, distribution, group, org, orgc)| {
                    PushCandidate {
                        id,
                        uuid,
                        timestamp,
                        sighting_timestamp,
                        distribution,
                        sharing_group_id: group,
                        org_id: org,
                        orgc_id: orgc,
                        tags: Vec::new(),
                    }
                },
            )
            .collect();
        let position: std::collections::HashMap<i64, usize> = candidates
            .iter()
            .enumerate()
            .map(|(index, candidate)| (candidate.id, index))
            .collect();
        let ids: Vec<i64> = candidates.iter().map(|candidate| candidate.id).collect();
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT event_tags.event_id, tags.id, tags.name FROM event_tags \
                 JOIN tags ON tags.id = event_tags.tag_id \
                 WHERE event_tags.local = FALSE AND event_tags.event_id IN ({})",
                placeholders(1, chunk.len())
            );
            let rows: Vec<(i64, i64, String)> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
                for id in chunk {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await?
            });
            for (event_id, tag_id, name) in rows {
                if let Some(&index) = position.get(&event_id) {
                    candidates[index].tags.push((tag_id, name));
                }
            }
        }
        Ok(candidates)
    }

    /// The sightings of an event as they travel to a peer. With `reporter_org`, only that
    /// organisation's (MISP's default sighting policy for a viewer that does not own the
    /// event); otherwise all.
    pub async fn sightings_for_sync(
        &self,
        event_id: i64,
        reporter_org: Option<i64>,
    ) -> Result<Vec<SyncSighting>> {
        let sql = "SELECT sightings.uuid, attributes.uuid AS attribute_uuid, \
                   sightings.date_sighting, sightings.type AS sighting_type, sightings.source, \
                   sightings.org_id, COALESCE(organisations.uuid, '') AS org_uuid, \
                   COALESCE(organisations.name, '') AS org_name \
                   FROM sightings JOIN attributes ON attributes.id = sightings.attribute_id \
                   LEFT JOIN organisations ON organisations.id = sightings.org_id \
                   WHERE sightings.event_id = $1 AND ($2 = 0 OR sightings.org_id = $2) \
                   ORDER BY sightings.id";
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(event_id)
                .bind(reporter_org.unwrap_or(0))
                .fetch_all(pool)
                .await?
        }))
    }
}
