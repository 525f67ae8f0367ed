//! Event reports: create/read/update/delete, the event they change, synced versions (newer
//! wins, never moved to another event) and removal with their event.

use crate::fixtures::{create_org, event, new_uuid};
use kizuna_model::{Distribution, EventReport};
use kizuna_store::{Key, LoadOptions, Store, StoreError, SyncedReports};

fn report(event_id: i64, name: &str, timestamp: i64) -> EventReport {
    EventReport {
        id: 0,
        uuid: new_uuid(),
        event_id,
        name: name.into(),
        content: "# Campaign\nThe **dropper** talks to `evil.example`.".into(),
        distribution: Distribution::InheritEvent,
        sharing_group_id: 0,
        timestamp,
        deleted: false,
    }
}

pub async fn event_reports_are_created_read_updated_and_deleted(store: Store) {
    let org = create_org(&store, "ORGA").await;
    let mut published = event(org.id, "with a report");
    published.published = true;
    published.timestamp = 1_000;
    let event_id = store.insert_event(&published, true).await.unwrap();

    let stored = store
        .create_event_report(&report(event_id, "Write-up", 1_500), 2_000)
        .await
        .unwrap();
    assert!(stored.id > 0);
    assert_eq!(stored.name, "Write-up");
    assert!(stored.content.contains("**dropper**"));
    assert_eq!(
        store.event_report(&Key::Id(stored.id)).await.unwrap(),
        stored
    );
    assert_eq!(
        store
            .event_report(&Key::Uuid(stored.uuid.to_uppercase()))
            .await
            .unwrap(),
        stored
    );
    // Adding a report unpublishes the event and moves its timestamp.
    let after = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert!(!after.published);
    assert_eq!(after.timestamp, 2_000);

    let duplicate = EventReport {
        name: "again".into(),
        ..stored.clone()
    };
    assert!(matches!(
        store.create_event_report(&duplicate, 2_001).await,
        Err(StoreError::Conflict(_))
    ));

    let edited = store
        .update_event_report(
            &EventReport {
                name: "Write-up v2".into(),
                deleted: true,
                timestamp: 3_000,
                ..stored.clone()
            },
            3_000,
        )
        .await
        .unwrap();
    assert_eq!(edited.name, "Write-up v2");
    assert!(
        store
            .event_reports_of(&[event_id], false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.event_reports_of(&[event_id], true).await.unwrap(),
        vec![edited.clone()]
    );
    assert_eq!(store.all_event_reports(true).await.unwrap().len(), 1);

    store.delete_event_report(&edited, 4_000).await.unwrap();
    assert!(matches!(
        store.event_report(&Key::Id(edited.id)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_event_report(&edited, 4_001).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn synced_event_reports_keep_the_newest_version_and_go_with_their_event(store: Store) {
    let org = create_org(&store, "ORGA").await;
    let first = store
        .insert_event(&event(org.id, "first"), true)
        .await
        .unwrap();
    let second = store
        .insert_event(&event(org.id, "second"), true)
        .await
        .unwrap();
    let original = report(first, "Original", 100);
    assert_eq!(
        store
            .save_synced_event_reports(first, std::slice::from_ref(&original))
            .await
            .unwrap(),
        SyncedReports {
            added: 1,
            ..SyncedReports::default()
        }
    );
    let older = EventReport {
        name: "older".into(),
        timestamp: 50,
        ..original.clone()
    };
    let newer = EventReport {
        name: "newer".into(),
        timestamp: 200,
        ..original.clone()
    };
    let outcome = store
        .save_synced_event_reports(first, &[older, newer.clone()])
        .await
        .unwrap();
    assert_eq!((outcome.updated, outcome.kept), (1, 1));
    let stored = store
        .event_report(&Key::Uuid(original.uuid.clone()))
        .await
        .unwrap();
    assert_eq!((stored.name.as_str(), stored.timestamp), ("newer", 200));
    // A uuid of another event's report is never moved over.
    let moved = EventReport {
        name: "moved".into(),
        timestamp: 300,
        ..newer
    };
    let outcome = store
        .save_synced_event_reports(second, &[moved])
        .await
        .unwrap();
    assert_eq!(outcome.kept, 1);
    assert_eq!(
        store
            .event_report(&Key::Uuid(original.uuid.clone()))
            .await
            .unwrap()
            .event_id,
        first
    );

    let meta = store.event_meta(&Key::Id(first)).await.unwrap();
    store.delete_event(&meta, false, 1_000).await.unwrap();
    assert!(matches!(
        store.event_report(&Key::Uuid(original.uuid)).await,
        Err(StoreError::NotFound)
    ));
}
