//! Accounts: editing, disabling and deleting users, password hashes, API key resets and
//! listings, roles and organisations (issue 4).

use crate::fixtures::{T0, create_org, event, stored_key, user};
use crate::support::{count, scalar};
use kizuna_model::{Role, User};
use kizuna_store::{Key, NewAuthKey, Store, StoreError};

fn key(digest: &str, comment: &str) -> NewAuthKey {
    NewAuthKey {
        comment: comment.to_string(),
        ..stored_key(digest)
    }
}

pub async fn users_are_edited_disabled_and_deleted(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let other = create_org(&store, "Other").await;
    let created = store
        .create_user_with_password(
            &User {
                gpgkey: "-----BEGIN PGP PUBLIC KEY BLOCK-----".into(),
                invited_by: 7,
                last_pw_change: T0,
                notification_weekly: true,
                ..user("a@acme.example", acme.id, 3)
            },
            "$argon2id$v=19$fake",
            Some(&stored_key("k-a")),
        )
        .await
        .unwrap();
    assert_eq!(created.gpgkey, "-----BEGIN PGP PUBLIC KEY BLOCK-----");
    assert_eq!(created.invited_by, 7);
    assert!(created.notification_weekly);
    assert_eq!(
        store.user_password_hash(created.id).await.unwrap(),
        "$argon2id$v=19$fake"
    );

    // Every editable field is written; the password only when a new hash is given.
    let edited = User {
        email: "b@other.example".into(),
        org_id: other.id,
        role_id: 4,
        autoalert: true,
        termsaccepted: true,
        nids_sid: 5_000_001,
        expiration: Some(T0 + 99),
        certif_public: "PEM".into(),
        notification_weekly: false,
        notification_monthly: true,
        date_modified: T0 + 5,
        ..created.clone()
    };
    let stored = store.update_user(&edited, None).await.unwrap();
    assert_eq!(stored, edited);
    assert_eq!(store.user(created.id).await.unwrap(), edited);
    assert_eq!(
        store.user_password_hash(created.id).await.unwrap(),
        "$argon2id$v=19$fake"
    );
    store
        .update_user(&edited, Some("$argon2id$v=19$new"))
        .await
        .unwrap();
    assert_eq!(
        store.user_password_hash(created.id).await.unwrap(),
        "$argon2id$v=19$new"
    );

    // E-mail addresses stay unique, case-insensitively.
    let second = store
        .create_user(
            &user("c@acme.example", acme.id, 3),
            Some(&stored_key("k-c")),
        )
        .await
        .unwrap();
    let clash = store
        .update_user(
            &User {
                email: "B@OTHER.example".into(),
                ..second.clone()
            },
            None,
        )
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    assert!(matches!(
        store
            .update_user(
                &User {
                    id: 9999,
                    ..second.clone()
                },
                None
            )
            .await,
        Err(StoreError::NotFound)
    ));

    let disabled = store
        .set_user_disabled(second.id, true, T0 + 9)
        .await
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(disabled.date_modified, T0 + 9);
    let principal = store.principal_by_key("k-c").await.unwrap().unwrap();
    assert!(
        principal.user.disabled,
        "the caller decides; the flag is there"
    );
    assert!(
        !store
            .set_user_disabled(second.id, false, T0 + 10)
            .await
            .unwrap()
            .disabled
    );

    assert_eq!(store.count_users_with_role(4).await.unwrap(), 1);
    assert_eq!(store.count_users_with_role(3).await.unwrap(), 1);

    // Deleting a user deletes their keys with them.
    store
        .create_auth_key(created.id, &stored_key("k-a2"), T0)
        .await
        .unwrap();
    store.delete_user(created.id).await.unwrap();
    assert!(matches!(
        store.user(created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.principal_by_key("k-a").await.unwrap().is_none());
    assert!(store.principal_by_key("k-a2").await.unwrap().is_none());
    assert_eq!(
        scalar(
            &store,
            &format!(
                "SELECT COUNT(*) FROM auth_keys WHERE user_id = {}",
                created.id
            )
        )
        .await,
        0
    );
    assert!(matches!(
        store.delete_user(created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.user_password_hash(created.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn auth_keys_are_updated_listed_and_reset(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let other = create_org(&store, "Other").await;
    let alice = store
        .create_user(
            &user("alice@acme.example", acme.id, 3),
            Some(&key("a1", "first")),
        )
        .await
        .unwrap();
    let bob = store
        .create_user(
            &user("bob@other.example", other.id, 3),
            Some(&key("b1", "")),
        )
        .await
        .unwrap();
    let second = store
        .create_auth_key(
            alice.id,
            &NewAuthKey {
                allowed_ips: vec!["10.0.0.0/8".into(), "::1".into()],
                ..key("a2", "second")
            },
            T0 + 1,
        )
        .await
        .unwrap();

    let mut changed = second.clone();
    changed.comment = "renamed".into();
    changed.expiration = T0 + 100;
    changed.read_only = true;
    changed.allowed_ips = vec!["192.0.2.0/24".into()];
    assert_eq!(store.update_auth_key(&changed).await.unwrap(), changed);
    assert_eq!(store.auth_key(&Key::Id(second.id)).await.unwrap(), changed);
    assert!(matches!(
        store
            .update_auth_key(&kizuna_model::AuthKey {
                id: 9999,
                ..changed.clone()
            })
            .await,
        Err(StoreError::NotFound)
    ));

    // Listings with owners, narrowed by user or organisation.
    let all = store.auth_keys_with_owners(None, None).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].email, "alice@acme.example");
    assert_eq!(all[0].org_id, acme.id);
    let of_acme = store
        .auth_keys_with_owners(None, Some(acme.id))
        .await
        .unwrap();
    assert_eq!(
        of_acme
            .iter()
            .map(|owned| owned.key.comment.as_str())
            .collect::<Vec<_>>(),
        ["first", "renamed"]
    );
    let of_bob = store
        .auth_keys_with_owners(Some(bob.id), None)
        .await
        .unwrap();
    assert_eq!(of_bob.len(), 1);
    assert_eq!(of_bob[0].email, "bob@other.example");
    assert!(
        store
            .auth_keys_with_owners(Some(bob.id), Some(acme.id))
            .await
            .unwrap()
            .is_empty()
    );

    // Resetting one key: it expires, the new one names it and keeps its addresses.
    let first_id = store
        .principal_by_key("a1")
        .await
        .unwrap()
        .unwrap()
        .auth_key
        .id;
    let replacement = store
        .reset_auth_keys(alice.id, Some(second.id), &stored_key("a3"), T0 + 50)
        .await
        .unwrap();
    assert_eq!(replacement.user_id, alice.id);
    assert_eq!(replacement.allowed_ips, ["192.0.2.0/24"]);
    assert_eq!(
        replacement.comment,
        format!("Created by resetting auth key {}\nrenamed", second.id)
    );
    assert_eq!(
        store
            .auth_key(&Key::Id(second.id))
            .await
            .unwrap()
            .expiration,
        T0 + 50
    );
    assert_eq!(
        store.auth_key(&Key::Id(first_id)).await.unwrap().expiration,
        0
    );
    // Someone else's key id is not found for this user, and nothing is written.
    let bobs_key = of_bob[0].key.id;
    assert!(matches!(
        store
            .reset_auth_keys(alice.id, Some(bobs_key), &stored_key("a4"), T0 + 60)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(store.principal_by_key("a4").await.unwrap().is_none());
    assert_eq!(
        store.auth_key(&Key::Id(bobs_key)).await.unwrap().expiration,
        0
    );

    // Resetting all: every live key expires now, expired ones keep their time.
    let fresh = store
        .reset_auth_keys(alice.id, None, &key("a5", "after reset"), T0 + 70)
        .await
        .unwrap();
    assert_eq!(fresh.comment, "after reset");
    let keys = store.list_auth_keys(Some(alice.id)).await.unwrap();
    let expirations: Vec<i64> = keys.iter().map(|key| key.expiration).collect();
    assert_eq!(expirations, [T0 + 70, T0 + 50, T0 + 70, 0]);
    assert_eq!(
        store.auth_key(&Key::Id(bobs_key)).await.unwrap().expiration,
        0
    );
}

pub async fn roles_are_created_updated_deleted_and_defaulted(store: Store) {
    assert_eq!(store.default_role().await.unwrap().unwrap().id, 3);
    let mut wanted = Role {
        name: "Analyst".into(),
        memory_limit: "512M".into(),
        max_execution_time: "300".into(),
        enforce_rate_limit: true,
        rate_limit_count: 10,
        ..Role::default()
    };
    wanted.permissions.set("perm_auth", true);
    wanted.permissions.set("perm_sighting", true);
    let created = store.create_role(&wanted, T0).await.unwrap();
    assert!(created.id > 6, "after the stock roles: {}", created.id);
    assert_eq!(
        Role {
            id: 0,
            created: 0,
            modified: 0,
            ..created.clone()
        },
        wanted
    );
    assert_eq!((created.created, created.modified), (T0, T0));
    assert_eq!(
        store.role_by_name("ANALYST").await.unwrap().unwrap().id,
        created.id
    );
    assert!(store.role_by_name("nobody").await.unwrap().is_none());
    let taken = store.create_role(&wanted, T0).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");

    let mut changed = created.clone();
    changed.name = "Senior analyst".into();
    changed.permissions.set("perm_sighting", false);
    changed.permissions.set_permission_level(3);
    changed.restricted_to_site_admin = true;
    let updated = store.update_role(&changed, T0 + 5).await.unwrap();
    assert_eq!(
        updated,
        Role {
            modified: T0 + 5,
            ..changed.clone()
        }
    );
    assert_eq!(store.role(created.id).await.unwrap(), updated);
    assert!(matches!(
        store
            .update_role(
                &Role {
                    id: 9999,
                    ..changed.clone()
                },
                T0
            )
            .await,
        Err(StoreError::NotFound)
    ));
    let clash = store
        .update_role(
            &Role {
                name: "User".into(),
                ..changed.clone()
            },
            T0,
        )
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");

    // One default at a time.
    store.set_default_role(created.id).await.unwrap();
    assert_eq!(store.default_role().await.unwrap().unwrap().id, created.id);
    let defaults = store
        .list_roles()
        .await
        .unwrap()
        .iter()
        .filter(|role| role.default_role)
        .count();
    assert_eq!(defaults, 1);
    assert!(matches!(
        store.set_default_role(9999).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.default_role().await.unwrap().unwrap().id, created.id);

    // Not deleted while default or in use.
    assert!(matches!(
        store.delete_role(created.id).await,
        Err(StoreError::Conflict(_))
    ));
    store.set_default_role(3).await.unwrap();
    let acme = create_org(&store, "ACME").await;
    let holder = store
        .create_user(&user("h@acme.example", acme.id, created.id), None)
        .await
        .unwrap();
    let in_use = store.delete_role(created.id).await;
    assert!(
        matches!(&in_use, Err(StoreError::Conflict(message)) if message.contains("assigned")),
        "{in_use:?}"
    );
    store.delete_user(holder.id).await.unwrap();
    store.delete_role(created.id).await.unwrap();
    assert!(matches!(
        store.role(created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_role(created.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn organisations_are_updated_and_deleted_when_unused(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let other = create_org(&store, "Other").await;
    let mut changed = acme.clone();
    changed.name = "ACME Renamed".into();
    changed.uuid = uuid::Uuid::new_v4().to_string();
    changed.local = false;
    changed.restricted_to_domain = vec!["acme.example".into(), "acme.test".into()];
    changed.date_modified = T0 + 3;
    changed.landingpage = "https://acme.example".into();
    let updated = store.update_org(&changed).await.unwrap();
    assert_eq!(updated, changed);
    assert_eq!(store.org(&Key::Id(acme.id)).await.unwrap(), changed);
    let clash = store
        .update_org(&kizuna_model::Organisation {
            name: "other".into(),
            ..changed.clone()
        })
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    assert!(matches!(
        store
            .update_org(&kizuna_model::Organisation {
                id: 9999,
                ..changed.clone()
            })
            .await,
        Err(StoreError::NotFound)
    ));

    // Users block the delete, then events (owned or created), then it goes.
    let member = store
        .create_user(&user("m@acme.example", acme.id, 3), None)
        .await
        .unwrap();
    let refused = store.delete_org(acme.id).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict(message)) if message.contains("user")),
        "{refused:?}"
    );
    store.delete_user(member.id).await.unwrap();
    let mut created_elsewhere = event(other.id, "created by ACME");
    created_elsewhere.orgc_id = acme.id;
    store.insert_event(&created_elsewhere, true).await.unwrap();
    let refused = store.delete_org(acme.id).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict(message)) if message.contains("event")),
        "{refused:?}"
    );
    let orgs_before = count(&store, "organisations").await;
    let third = create_org(&store, "Unused").await;
    store.delete_org(third.id).await.unwrap();
    assert_eq!(count(&store, "organisations").await, orgs_before);
    assert!(matches!(
        store.org(&Key::Id(third.id)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_org(third.id).await,
        Err(StoreError::NotFound)
    ));
}
