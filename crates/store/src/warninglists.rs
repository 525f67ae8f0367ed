//! Which warninglists are switched on or off. The lists live outside the database (compiled
//! into the binary or read from a directory); only the operator's choices are stored here,
//! keyed by list name, so they survive restarts and list upgrades.

use crate::{Result, Store, with_pool, with_tx};

impl Store {
    /// Every stored `(list name, enabled)` choice; lists without one keep their default.
    pub async fn warninglist_states(&self) -> Result<Vec<(String, bool)>> {
        let rows: Vec<(String, bool)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT name, enabled FROM warninglist_states ORDER BY name")
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Records the enabled state of each named list, all or nothing.
    pub async fn set_warninglist_states(&self, states: &[(String, bool)]) -> Result<()> {
        let mut tx = self.begin().await?;
        for (name, enabled) in states {
            with_tx!(&mut tx, conn => {
                sqlx::query(
                    "INSERT INTO warninglist_states (name, enabled) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled",
                )
                .bind(name)
                .bind(*enabled)
                .execute(&mut *conn)
                .await?;
            });
        }
        tx.commit().await
    }
}
