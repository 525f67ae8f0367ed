//! MISP's event and organisation blocklists: uuids whose events this instance refuses, kept
//! in `event_blocklists` (filled by deleting an event, or by administrators) and
//! `org_blocklists`.

use crate::{Key, Result, Store, StoreError, with_pool, with_tx, with_writer};
use std::collections::HashSet;

/// Which blocklist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlocklistKind {
    Event,
    Organisation,
}

impl BlocklistKind {
    fn table(self) -> &'static str {
        match self {
            BlocklistKind::Event => "event_blocklists",
            BlocklistKind::Organisation => "org_blocklists",
        }
    }

    fn uuid_column(self) -> &'static str {
        match self {
            BlocklistKind::Event => "event_uuid",
            BlocklistKind::Organisation => "org_uuid",
        }
    }

    /// The descriptive name column: the event's info or the organisation's name.
    fn name_column(self) -> &'static str {
        match self {
            BlocklistKind::Event => "event_info",
            BlocklistKind::Organisation => "org_name",
        }
    }

    /// The creator organisation's name of a blocked event; organisations have none.
    fn orgc_column(self) -> &'static str {
        match self {
            BlocklistKind::Event => "event_orgc",
            BlocklistKind::Organisation => "''",
        }
    }
}

/// One blocked uuid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlocklistEntry {
    pub id: i64,
    pub uuid: String,
    pub created: i64,
    /// The event's info or the organisation's name, as the administrator wrote it.
    pub name: String,
    pub comment: String,
    /// The blocked event's creator organisation (event blocklist only).
    pub orgc: String,
}

type EntryRow = (i64, String, i64, String, String, String);

fn entry(row: EntryRow) -> BlocklistEntry {
    let (id, uuid, created, name, comment, orgc) = row;
    BlocklistEntry {
        id,
        uuid,
        created,
        name,
        comment,
        orgc,
    }
}

impl Store {
    fn blocklist_select(kind: BlocklistKind) -> String {
        format!(
            "SELECT id, {}, created, {}, comment, {} FROM {}",
            kind.uuid_column(),
            kind.name_column(),
            kind.orgc_column(),
            kind.table()
        )
    }

    /// Every entry, newest first (MISP's order).
    pub async fn blocklist(&self, kind: BlocklistKind) -> Result<Vec<BlocklistEntry>> {
        let text = format!(
            "{} ORDER BY created DESC, id DESC",
            Self::blocklist_select(kind)
        );
        let rows: Vec<EntryRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(text.as_str())).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(entry).collect())
    }

    /// One entry by id or blocked uuid.
    pub async fn blocklist_entry(&self, kind: BlocklistKind, key: &Key) -> Result<BlocklistEntry> {
        let select = Self::blocklist_select(kind);
        let row: Option<EntryRow> = match key {
            Key::Id(id) => {
                let text = format!("{select} WHERE id = $1");
                with_pool!(self, pool => {
                    sqlx::query_as(sqlx::AssertSqlSafe(text.as_str())).bind(*id).fetch_optional(pool).await?
                })
            }
            Key::Uuid(uuid) => {
                let text = format!("{select} WHERE {} = $1", kind.uuid_column());
                with_pool!(self, pool => {
                    sqlx::query_as(sqlx::AssertSqlSafe(text.as_str()))
                        .bind(uuid.to_ascii_lowercase())
                        .fetch_optional(pool)
                        .await?
                })
            }
        };
        row.map(entry).ok_or(StoreError::NotFound)
    }

    /// Adds an entry; false when the uuid is blocked already (the entry is left as it was).
    pub async fn add_to_blocklist(
        &self,
        kind: BlocklistKind,
        entry: &BlocklistEntry,
    ) -> Result<bool> {
        let text = match kind {
            BlocklistKind::Event => {
                "INSERT INTO event_blocklists (event_uuid, created, event_info, comment, event_orgc) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_uuid) DO NOTHING"
            }
            BlocklistKind::Organisation => {
                "INSERT INTO org_blocklists (org_uuid, created, org_name, comment) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (org_uuid) DO NOTHING"
            }
        };
        let uuid = entry.uuid.to_ascii_lowercase();
        let inserted = with_writer!(self, pool => {
            let query = sqlx::query(text)
                .bind(&uuid)
                .bind(entry.created)
                .bind(&entry.name)
                .bind(&entry.comment);
            let query = match kind {
                BlocklistKind::Event => query.bind(&entry.orgc),
                BlocklistKind::Organisation => query,
            };
            query.execute(pool).await?.rows_affected()
        });
        Ok(inserted == 1)
    }

    /// Rewrites an entry's descriptive fields (the blocked uuid stays).
    pub async fn update_blocklist_entry(
        &self,
        kind: BlocklistKind,
        entry: &BlocklistEntry,
    ) -> Result<()> {
        let text = match kind {
            BlocklistKind::Event => {
                "UPDATE event_blocklists SET event_info = $1, comment = $2, event_orgc = $3 WHERE id = $4"
            }
            BlocklistKind::Organisation => {
                "UPDATE org_blocklists SET org_name = $1, comment = $2 WHERE id = $3"
            }
        };
        let changed = with_writer!(self, pool => {
            let query = sqlx::query(text).bind(&entry.name).bind(&entry.comment);
            let query = match kind {
                BlocklistKind::Event => query.bind(&entry.orgc),
                BlocklistKind::Organisation => query,
            };
            query.bind(entry.id).execute(pool).await?.rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes an entry. What a pull would take has changed with it, so every remote index
    /// answer kept for a conditional request is forgotten: the next pull reads the index
    /// whole and takes the events that were skipped.
    pub async fn remove_from_blocklist(&self, kind: BlocklistKind, id: i64) -> Result<()> {
        let text = format!("DELETE FROM {} WHERE id = $1", kind.table());
        let mut tx = self.begin().await?;
        let removed = with_tx!(&mut tx, conn => {
            sqlx::query(sqlx::AssertSqlSafe(text.as_str())).bind(id).execute(&mut *conn).await?.rows_affected()
        });
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE servers SET index_etag = ''").execute(&mut *conn).await?;
        });
        tx.commit().await?;
        Ok(())
    }

    pub async fn is_org_blocklisted(&self, uuid: &str) -> Result<bool> {
        let found: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM org_blocklists WHERE org_uuid = $1")
                .bind(uuid.to_ascii_lowercase())
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }

    /// Every blocked organisation uuid (a short list an administrator keeps).
    pub async fn blocklisted_org_uuids(&self) -> Result<HashSet<String>> {
        let rows: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT org_uuid FROM org_blocklists").fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(|(uuid,)| uuid).collect())
    }
}
