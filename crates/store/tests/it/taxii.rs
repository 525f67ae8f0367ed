//! TAXII storage: collections, status resources and the order events were changed in
//! (`local_change_us`), on SQLite and (when `KIZUNA_TEST_PG_URL` is set) PostgreSQL.

use crate::fixtures::{attached, create_org, event, ip_dst, new_uuid};
use kizuna_model::access::Viewer;
use kizuna_model::query::AttributeCriteria;
use kizuna_store::{Key, Store, StoreError, StoredKind, TaxiiCollection, TaxiiStatus};

macro_rules! both_backends {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::support::run_sqlite(super::$test).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::support::run_postgres(super::$test).await;
                }
            )+
        }
    };
}

both_backends!(
    collections_are_created_found_by_alias_updated_and_deleted,
    statuses_are_kept_and_old_ones_forgotten,
    events_come_in_the_order_their_changes_were_stored,
    stored_uuids_name_attributes_objects_and_events,
);

/// PostgreSQL only: SQLite's one writer commits before the next one writes, so there a change
/// is never seen out of order.
#[tokio::test]
async fn postgres_changes_of_a_running_transaction_are_not_overtaken() {
    crate::support::run_postgres(changes_of_a_running_transaction_are_not_overtaken).await;
}

/// A transaction stamps its change when it writes it and commits later; a change committed
/// meanwhile is held back, so a poller never moves its `added_after` past a change that
/// has not been seen yet.
async fn changes_of_a_running_transaction_are_not_overtaken(store: Store) {
    use sqlx::Connection;
    let org = create_org(&store, "ORG").await;
    let criteria = AttributeCriteria::default();
    let viewer = Viewer::SiteAdmin;
    let mut ids = Vec::new();
    for index in 0..2 {
        let mut stored = event(org.id, &format!("event {index}"));
        stored.attributes.push(ip_dst(&format!("192.0.2.{index}")));
        ids.push(store.insert_event(&stored, true).await.unwrap());
    }
    let before = store
        .taxii_events_page(&criteria, &viewer, None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(before.iter().map(|e| e.id).collect::<Vec<_>>(), ids);

    let mut slow = sqlx::PgConnection::connect(&crate::support::database_url())
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut slow).await.unwrap();
    sqlx::query("UPDATE events SET info = 'slow change' WHERE id = $1")
        .bind(ids[0])
        .execute(&mut slow)
        .await
        .unwrap();
    // Committed after the slow change was stamped: later in TAXII order.
    crate::support::execute(
        &store,
        &[format!(
            "UPDATE events SET info = 'quick change' WHERE id = {}",
            ids[1]
        )],
    )
    .await;
    let while_running = store
        .taxii_events_page(&criteria, &viewer, None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(while_running, before[..1], "the quick change is held back");
    let polled = store
        .taxii_events_page(
            &criteria,
            &viewer,
            None,
            Some(before[1].local_change_us),
            None,
            10,
        )
        .await
        .unwrap();
    assert!(polled.is_empty(), "{polled:?}");

    sqlx::raw_sql("COMMIT").execute(&mut slow).await.unwrap();
    slow.close().await.unwrap();
    let after = store
        .taxii_events_page(
            &criteria,
            &viewer,
            None,
            Some(before[1].local_change_us),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(after.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
}

fn collection(title: &str, alias: &str) -> TaxiiCollection {
    TaxiiCollection {
        id: new_uuid(),
        title: title.into(),
        description: "d".into(),
        alias: alias.into(),
        writable: true,
        filter: r#"{"tags":["tlp:clear"]}"#.into(),
        read_orgs: vec![],
        write_orgs: vec![3, 4],
        distribution: 1,
        sharing_group_id: 0,
        created: 100,
        modified: 100,
    }
}

async fn collections_are_created_found_by_alias_updated_and_deleted(store: Store) {
    let first = collection("B feed", "feed-b");
    store.create_taxii_collection(&first).await.unwrap();
    let second = collection("A feed", "");
    store.create_taxii_collection(&second).await.unwrap();
    let unaliased = collection("C feed", "");
    store.create_taxii_collection(&unaliased).await.unwrap();
    let clash = collection("D", "feed-b");
    assert!(matches!(
        store.create_taxii_collection(&clash).await,
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(store.taxii_collection(&first.id).await.unwrap(), first);
    assert_eq!(store.taxii_collection("feed-b").await.unwrap(), first);
    assert!(matches!(
        store.taxii_collection("").await,
        Err(StoreError::NotFound)
    ));
    let titles: Vec<String> = store
        .taxii_collections()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.title)
        .collect();
    assert_eq!(titles, ["A feed", "B feed", "C feed"]);

    let mut changed = first.clone();
    changed.title = "B renamed".into();
    changed.read_orgs = vec![7];
    changed.write_orgs = vec![];
    changed.writable = false;
    changed.modified = 200;
    store.update_taxii_collection(&changed).await.unwrap();
    assert_eq!(store.taxii_collection(&first.id).await.unwrap(), changed);

    store.delete_taxii_collection(&first.id).await.unwrap();
    assert!(matches!(
        store.taxii_collection(&first.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_taxii_collection(&first.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn statuses_are_kept_and_old_ones_forgotten(store: Store) {
    let now = 1_800_000_000;
    let old = TaxiiStatus {
        id: new_uuid(),
        collection_id: new_uuid(),
        user_id: 1,
        request_timestamp: (now - 8 * 86_400) * 1_000_000,
        total_count: 1,
        success_count: 1,
        successes: r#"[{"id":"indicator--x","version":"v"}]"#.into(),
        failures: "[]".into(),
        pendings: "[]".into(),
        created_at: now - 8 * 86_400,
        ..TaxiiStatus::default()
    };
    store.insert_taxii_status(&old).await.unwrap();
    assert_eq!(store.taxii_status(&old.id).await.unwrap(), old);
    let recent = TaxiiStatus {
        id: new_uuid(),
        created_at: now,
        request_timestamp: now * 1_000_000,
        ..old.clone()
    };
    store.insert_taxii_status(&recent).await.unwrap();
    assert_eq!(store.taxii_status(&recent.id).await.unwrap(), recent);
    assert!(matches!(
        store.taxii_status(&old.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn events_come_in_the_order_their_changes_were_stored(store: Store) {
    let org = create_org(&store, "ORG").await;
    let criteria = AttributeCriteria::default();
    let viewer = Viewer::SiteAdmin;
    // Old MISP timestamps do not matter: the order is the order of storing.
    let mut ids = Vec::new();
    for (index, timestamp) in [1_000, 500, 2_000].into_iter().enumerate() {
        let mut stored = event(org.id, &format!("event {index}"));
        stored.timestamp = timestamp;
        stored.distribution = kizuna_model::Distribution::OrganisationOnly;
        stored.attributes.push(ip_dst(&format!("192.0.2.{index}")));
        ids.push(store.insert_event(&stored, true).await.unwrap());
    }
    let page = store
        .taxii_events_page(&criteria, &viewer, None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    assert!(page.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(page[0].local_change_us > 1_700_000_000_000_000);

    // A change moves the event to the end; sightings do not.
    store
        .touch_sighting_timestamps(&[ids[1]], 1_900_000_000)
        .await
        .unwrap();
    let unchanged = store
        .taxii_events_page(&criteria, &viewer, None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(unchanged, page);
    let mut clear = attached("tlp:clear");
    clear.tag = store.create_tag(&clear.tag).await.unwrap();
    store
        .attach_event_tag(ids[0], &clear, 1_900_000_000)
        .await
        .unwrap();
    let after_tag = store
        .taxii_events_page(&criteria, &viewer, None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(
        after_tag.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[1], ids[2], ids[0]]
    );
    let moved = after_tag[2];
    assert!(moved.local_change_us > page[2].local_change_us);

    // From a position (inclusive), after a date (exclusive), limited.
    let from = store
        .taxii_events_page(&criteria, &viewer, Some(after_tag[1]), None, None, 10)
        .await
        .unwrap();
    assert_eq!(from, after_tag[1..]);
    let after = store
        .taxii_events_page(
            &criteria,
            &viewer,
            None,
            Some(after_tag[1].local_change_us),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(after, vec![moved]);
    let limited = store
        .taxii_events_page(&criteria, &viewer, None, None, None, 1)
        .await
        .unwrap();
    assert_eq!(limited, after_tag[..1]);
    let among = store
        .taxii_events_page(&criteria, &viewer, None, None, Some(&[ids[2], ids[1]]), 10)
        .await
        .unwrap();
    assert_eq!(among, after_tag[..2]);
    let by_id = store.events_local_change(&[ids[0]]).await.unwrap();
    assert_eq!(by_id, vec![moved]);

    // Another organisation sees none of these organisation-only events.
    let other = Viewer::organisation(org.id + 1000, []);
    let hidden = store
        .taxii_events_page(&criteria, &other, None, None, None, 10)
        .await
        .unwrap();
    assert!(hidden.is_empty());
}

async fn stored_uuids_name_attributes_objects_and_events(store: Store) {
    let org = create_org(&store, "ORG").await;
    let mut stored = event(org.id, "e");
    stored.attributes.push(ip_dst("198.51.100.1"));
    stored.objects.push(crate::fixtures::object(
        "domain-ip",
        vec![crate::fixtures::object_attribute(
            "domain",
            "domain",
            "example.com",
        )],
    ));
    let event_id = store.insert_event(&stored, true).await.unwrap();
    let loaded = store
        .event(&Key::Id(event_id), &Default::default())
        .await
        .unwrap();
    let wanted = vec![
        loaded.attributes[0].uuid.clone(),
        loaded.objects[0].uuid.clone(),
        loaded.uuid.clone(),
        new_uuid(),
    ];
    let mut found = store.stored_uuids(&wanted).await.unwrap();
    found.sort_by_key(|item| item.kind as u8);
    let kinds: Vec<StoredKind> = found.iter().map(|item| item.kind).collect();
    assert_eq!(
        kinds,
        [StoredKind::Attribute, StoredKind::Object, StoredKind::Event]
    );
    assert!(found.iter().all(|item| item.event_id == event_id));
    assert_eq!(found[0].uuid, wanted[0]);
    assert_eq!(
        store
            .events_created_by_org_uuid(&org.uuid, 5)
            .await
            .unwrap(),
        vec![event_id]
    );
}
