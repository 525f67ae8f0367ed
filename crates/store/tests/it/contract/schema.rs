//! Migrations and the seeded roles, organisations, users, settings.

use crate::fixtures::{T0, create_org, org, stored_key, user};
use crate::support;
use kizuna_model::access::Viewer;
use kizuna_model::{Organisation, User};
use kizuna_store::{Key, Store, StoreError};

pub async fn migrations_seed_the_misp_roles(store: Store) {
    let roles = store.list_roles().await.unwrap();
    let names: Vec<(i64, &str)> = roles
        .iter()
        .map(|role| (role.id, role.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (1, "admin"),
            (2, "Org Admin"),
            (3, "User"),
            (4, "Publisher"),
            (5, "Sync user"),
            (6, "Read Only"),
        ]
    );

    let admin = store.role(1).await.unwrap();
    assert!(admin.permissions.perm_site_admin);
    assert!(admin.permissions.perm_admin);
    assert!(admin.permissions.perm_full);
    assert!(!admin.default_role);
    for (name, value) in admin.permissions.flags() {
        assert_eq!(value, name != "perm_skip_otp", "admin {name}");
    }
    assert_eq!(admin.permissions.permission_level(), 3);

    let org_admin = store.role(2).await.unwrap();
    assert!(org_admin.permissions.perm_admin);
    assert!(!org_admin.permissions.perm_site_admin);
    assert!(org_admin.permissions.perm_publish);

    let user = store.role(3).await.unwrap();
    assert!(user.default_role);
    assert!(user.permissions.perm_add && user.permissions.perm_modify);
    assert!(!user.permissions.perm_publish);
    assert!(!user.permissions.perm_admin && !user.permissions.perm_site_admin);
    assert_eq!(user.permissions.permission_level(), 2);

    assert!(store.role(4).await.unwrap().permissions.perm_publish);
    assert!(!store.role(4).await.unwrap().permissions.perm_sync);
    assert!(store.role(5).await.unwrap().permissions.perm_sync);

    let read_only = store.role(6).await.unwrap();
    let granted: Vec<&str> = read_only
        .permissions
        .flags()
        .into_iter()
        .filter_map(|(name, value)| value.then_some(name))
        .collect();
    assert_eq!(granted, ["perm_audit", "perm_auth"]);
    assert_eq!(read_only.permissions.permission_level(), 0);

    let defaults: Vec<i64> = roles
        .iter()
        .filter(|role| role.default_role)
        .map(|role| role.id)
        .collect();
    assert_eq!(defaults, [3], "exactly one default role: User");
    assert!(matches!(store.role(7).await, Err(StoreError::NotFound)));

    // Tables start empty.
    assert_eq!(store.count_users().await.unwrap(), 0);
    assert!(store.list_orgs().await.unwrap().is_empty());
    assert!(
        store
            .list_tags(&Viewer::SiteAdmin)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(support::count(&store, "events").await, 0);
}

pub async fn migrations_are_idempotent(store: Store) {
    let acme = create_org(&store, "ACME").await;
    // A second store on the same database runs the migrations again: nothing changes.
    let again = Store::connect(&support::database_url()).await.unwrap();
    assert_eq!(again.list_roles().await.unwrap().len(), 6);
    assert_eq!(again.list_orgs().await.unwrap(), vec![acme]);
    again.close().await;
    // New roles get ids after the seeded ones (PostgreSQL: the sequence was moved past them).
    support::execute(
        &store,
        &["INSERT INTO roles (name) VALUES ('Custom role')".to_string()],
    )
    .await;
    let roles = store.list_roles().await.unwrap();
    assert_eq!(
        roles.last().map(|role| (role.id, role.name.as_str())),
        Some((7, "Custom role"))
    );
}

pub async fn orgs_are_found_by_id_uuid_and_name(store: Store) {
    let mut wanted = org("CIRCL");
    wanted.restricted_to_domain = vec!["circl.lu".into(), "example.lu".into()];
    wanted.landingpage = "https://circl.lu".into();
    wanted.local = false;
    let created = store.create_org(&wanted).await.unwrap();
    assert!(created.id > 0);
    assert_eq!(
        Organisation {
            id: 0,
            ..created.clone()
        },
        wanted
    );
    let other = create_org(&store, "ACME").await;
    assert_ne!(other.id, created.id);

    assert_eq!(store.org(&Key::Id(created.id)).await.unwrap(), created);
    assert_eq!(
        store.org(&Key::Uuid(created.uuid.clone())).await.unwrap(),
        created
    );
    assert_eq!(
        store.org_by_name("circl").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        store.org_by_name("CiRcL").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.org_by_name("CIRC").await.unwrap(), None);
    assert!(matches!(
        store.org(&Key::Id(9999)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.org(&Key::Uuid(crate::fixtures::new_uuid())).await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        store.list_orgs().await.unwrap(),
        vec![created.clone(), other.clone()]
    );
    let found = store
        .orgs_by_ids(&[other.id, 9999, created.id])
        .await
        .unwrap();
    assert_eq!(found, vec![other, created]);
}

pub async fn org_names_and_uuids_are_unique(store: Store) {
    let first = create_org(&store, "ACME").await;
    let same_name = store.create_org(&org("acme")).await;
    assert!(
        matches!(same_name, Err(StoreError::Conflict(_))),
        "{same_name:?}"
    );
    let mut same_uuid = org("Other");
    same_uuid.uuid = first.uuid.clone();
    let same_uuid = store.create_org(&same_uuid).await;
    assert!(
        matches!(same_uuid, Err(StoreError::Conflict(_))),
        "{same_uuid:?}"
    );
    assert_eq!(store.list_orgs().await.unwrap(), vec![first]);
}

pub async fn users_resolve_to_principals(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let mut wanted = user("analyst@acme.example", acme.id, 3);
    wanted.expiration = Some(T0 + 86_400);
    wanted.termsaccepted = true;
    let created = store
        .create_user(&wanted, Some(&stored_key("a1b2c3")))
        .await
        .unwrap();
    assert!(created.id > 0);
    assert_eq!(
        User {
            id: 0,
            ..created.clone()
        },
        wanted
    );
    assert_eq!(store.count_users().await.unwrap(), 1);

    let principal = store
        .principal_by_key("a1b2c3")
        .await
        .unwrap()
        .expect("principal");
    assert_eq!(principal.user, created);
    assert_eq!(principal.role.id, 3);
    assert_eq!(principal.role.name, "User");
    assert_eq!(principal.org, acme);
    assert!(store.principal_by_key("A1B2C3").await.unwrap().is_none());
    assert!(store.principal_by_key("").await.unwrap().is_none());

    assert_eq!(principal.auth_key.authkey_start, "abcd");
    assert_eq!(principal.auth_key.user_id, created.id);
    store
        .touch_auth_key(principal.auth_key.id, created.id, T0 + 5)
        .await
        .unwrap();
    let principal = store.principal_by_key("a1b2c3").await.unwrap().unwrap();
    assert_eq!(principal.user.last_api_access, T0 + 5);
    assert_eq!(principal.auth_key.last_used, T0 + 5);

    // A second key for the same user; deleting it leaves the first working.
    let second = store
        .create_auth_key(created.id, &stored_key("d4e5f6"), T0 + 6)
        .await
        .unwrap();
    assert_eq!(
        store
            .principal_by_key("d4e5f6")
            .await
            .unwrap()
            .unwrap()
            .user
            .id,
        created.id
    );
    assert_eq!(
        store.list_auth_keys(Some(created.id)).await.unwrap().len(),
        2
    );
    store.delete_auth_key(second.id).await.unwrap();
    assert!(store.principal_by_key("d4e5f6").await.unwrap().is_none());
    assert!(store.principal_by_key("a1b2c3").await.unwrap().is_some());

    let admin = store
        .create_user(
            &user("admin@acme.example", acme.id, 1),
            Some(&stored_key("ffff")),
        )
        .await
        .unwrap();
    let principal = store.principal_by_key("ffff").await.unwrap().unwrap();
    assert_eq!(principal.user.id, admin.id);
    assert!(principal.role.permissions.perm_site_admin);
    assert_eq!(store.count_users().await.unwrap(), 2);
}

pub async fn user_emails_and_keys_are_unique(store: Store) {
    let acme = create_org(&store, "ACME").await;
    store
        .create_user(
            &user("someone@acme.example", acme.id, 3),
            Some(&stored_key("k1")),
        )
        .await
        .unwrap();
    let same_email = store
        .create_user(
            &user("SomeOne@ACME.example", acme.id, 3),
            Some(&stored_key("k2")),
        )
        .await;
    assert!(
        matches!(same_email, Err(StoreError::Conflict(_))),
        "{same_email:?}"
    );
    let same_key = store
        .create_user(
            &user("other@acme.example", acme.id, 3),
            Some(&stored_key("k1")),
        )
        .await;
    assert!(
        matches!(same_key, Err(StoreError::Conflict(_))),
        "{same_key:?}"
    );
    assert_eq!(store.count_users().await.unwrap(), 1);
}

pub async fn settings_and_instance_uuid(store: Store) {
    assert_eq!(store.setting("motd").await.unwrap(), None);
    store.set_setting("motd", "hello").await.unwrap();
    assert_eq!(
        store.setting("motd").await.unwrap().as_deref(),
        Some("hello")
    );
    store.set_setting("motd", "bye").await.unwrap();
    assert_eq!(store.setting("motd").await.unwrap().as_deref(), Some("bye"));
    assert_eq!(support::count(&store, "settings").await, 1);

    let instance = store.instance_uuid().await.unwrap();
    let parsed = uuid::Uuid::parse_str(&instance).expect("instance uuid is a uuid");
    assert_eq!(
        parsed.hyphenated().to_string(),
        instance,
        "canonical lower case"
    );
    assert_eq!(store.instance_uuid().await.unwrap(), instance);
    assert_eq!(
        store.setting("instance_uuid").await.unwrap(),
        Some(instance.clone())
    );
    // Another connection sees the same one.
    let again = Store::connect(&support::database_url()).await.unwrap();
    assert_eq!(again.instance_uuid().await.unwrap(), instance);
    again.close().await;
}

/// Names are unique and found case-insensitively; that must not stop at ASCII.
pub async fn org_and_tag_names_fold_non_ascii_case(store: Store) {
    let cafe = create_org(&store, "Café Sécurité").await;
    assert_eq!(
        store.org_by_name("CAFÉ SÉCURITÉ").await.unwrap(),
        Some(cafe)
    );
    let twin = store.create_org(&org("CAFÉ SÉCURITÉ")).await;
    assert!(matches!(twin, Err(StoreError::Conflict(_))), "{twin:?}");

    let tag = store
        .create_tag(&crate::fixtures::tag("Ärger"))
        .await
        .unwrap();
    assert_eq!(store.tag_by_name("ärger").await.unwrap(), Some(tag));
    let twin = store.create_tag(&crate::fixtures::tag("ÄRGER")).await;
    assert!(matches!(twin, Err(StoreError::Conflict(_))), "{twin:?}");
}
