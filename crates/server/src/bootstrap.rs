//! First start: the organisation that runs the instance and its site administrator.

use crate::keys;
use kizuna_model::{Organisation, User};
use kizuna_store::{Result, Store};

/// MISP's stock role id of the site administrator.
pub const SITE_ADMIN_ROLE_ID: i64 = 1;

/// Creates `org_name` as the host organisation and a site-admin user `email` in it, and
/// returns that user's new API key (shown once; only its digest is stored).
pub async fn create_first_admin(
    store: &Store,
    org_name: &str,
    email: &str,
    now: i64,
) -> Result<String> {
    let org = store
        .create_org(&Organisation {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: org_name.to_string(),
            local: true,
            date_created: now,
            date_modified: now,
            ..Organisation::default()
        })
        .await?;
    store
        .set_setting("host_org_id", &org.id.to_string())
        .await?;
    let key = keys::generate_api_key();
    store
        .create_user(
            &User {
                email: email.to_string(),
                org_id: org.id,
                role_id: SITE_ADMIN_ROLE_ID,
                termsaccepted: true,
                nids_sid: 4_000_000,
                date_created: now,
                date_modified: now,
                ..User::default()
            },
            Some(&kizuna_store::NewAuthKey {
                comment: "Created with the first site administrator".into(),
                ..keys::stored_form(&key)
            }),
        )
        .await?;
    Ok(key)
}
