//! Instance settings that live in the database (`settings` table), e.g. the instance UUID.

use crate::{Result, Store, with_pool, with_writer};

impl Store {
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let value: Option<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(value.map(|(value,)| value))
    }

    pub async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        with_writer!(self, pool => {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(name)
            .bind(value)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The instance's own UUID, created on first use.
    pub async fn instance_uuid(&self) -> Result<String> {
        if let Some(uuid) = self.setting("instance_uuid").await? {
            return Ok(uuid);
        }
        let fresh = uuid::Uuid::new_v4().to_string();
        with_writer!(self, pool => {
            sqlx::query("INSERT INTO settings (name, value) VALUES ('instance_uuid', $1) ON CONFLICT (name) DO NOTHING")
                .bind(&fresh)
                .execute(pool)
                .await?;
        });
        Ok(self.setting("instance_uuid").await?.unwrap_or(fresh))
    }
}
