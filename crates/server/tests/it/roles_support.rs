//! Users of MISP's stock roles in chosen organisations, and events with a chosen creator,
//! owner and lock, written straight into the store so that any role (Read Only included)
//! can be given events of its own.

use crate::support::{Client, Server, now};
use kizuna_formats::misp::build::{BuildContext, new_event};
use kizuna_formats::misp::input::parse_event;
use kizuna_model::{Organisation, User};
use kizuna_server::keys;
use kizuna_store::Key;
use serde_json::Value;

/// MISP's stock role ids, in order: admin, Org Admin, User, Publisher, Sync user, Read Only.
pub const STOCK_ROLES: [i64; 6] = [1, 2, 3, 4, 5, 6];

pub fn role_name(role_id: i64) -> &'static str {
    match role_id {
        1 => "admin",
        2 => "Org Admin",
        3 => "User",
        4 => "Publisher",
        5 => "Sync user",
        6 => "Read Only",
        _ => "custom",
    }
}

/// One user and their key.
#[derive(Clone)]
pub struct Actor {
    pub client: Client,
    pub user_id: i64,
    pub org_id: i64,
}

impl std::ops::Deref for Actor {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

/// A new local organisation; returns its id.
pub async fn create_org(server: &Server, name: &str) -> i64 {
    let now = now();
    server
        .store
        .create_org(&Organisation {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            local: true,
            date_created: now,
            date_modified: now,
            ..Organisation::default()
        })
        .await
        .expect("a new organisation")
        .id
}

/// A new user of `role_id` in organisation `org_id`, with a fresh API key.
pub async fn create_user(server: &Server, org_id: i64, role_id: i64, email: &str) -> Actor {
    let now = now();
    let key = keys::generate_api_key();
    let user = server
        .store
        .create_user(
            &User {
                email: email.to_string(),
                org_id,
                role_id,
                termsaccepted: true,
                date_created: now,
                date_modified: now,
                ..User::default()
            },
            Some(&keys::stored_form(&key)),
        )
        .await
        .expect("a new user");
    Actor {
        client: server.client(&key),
        user_id: user.id,
        org_id,
    }
}

/// Who an event belongs to: the creating user, the owner organisation (`org_id`), the
/// creator organisation (`orgc_id`), and whether it arrived by sync (`locked`).
#[derive(Clone, Copy, Debug)]
pub struct Ownership {
    pub user_id: i64,
    pub org_id: i64,
    pub orgc_id: i64,
    pub locked: bool,
}

/// Stores the MISP JSON event `body` (the inner object) as `owner`'s, bypassing the API;
/// returns the event id.
pub async fn insert_event(server: &Server, body: &Value, owner: Ownership) -> i64 {
    let input = parse_event(body).expect("a valid event");
    let context = BuildContext {
        now: now(),
        today: time::OffsetDateTime::now_utc().date(),
    };
    let mut event =
        new_event(&input, &context, owner.org_id, owner.user_id).expect("a buildable event");
    event.orgc_id = owner.orgc_id;
    event.locked = owner.locked;
    server
        .store
        .insert_event(&event, true)
        .await
        .expect("the event stored")
}

/// The stored event with everything (site admin view, deleted items included).
pub async fn stored_event(server: &Server, id: i64) -> Option<kizuna_model::Event> {
    server
        .store
        .event(
            &Key::Id(id),
            &kizuna_store::LoadOptions {
                include_deleted: true,
                viewer_org: None,
            },
        )
        .await
        .ok()
}
