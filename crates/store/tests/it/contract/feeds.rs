//! Feeds: settings create/read/update/delete, fetch state, event marks, the event lookups
//! incremental fetching needs, soft-deleting a fixed event's vanished values, the value cache.

use crate::fixtures::{T0, create_org, domain, event, ip_dst, new_uuid};
use kizuna_model::Distribution;
use kizuna_model::feed::{Feed, FeedFetchState, FeedInputSource, FeedSourceFormat};
use kizuna_store::{FeedCacheEntry, FeedEventMark, Key, LoadOptions, Store, StoreError};

fn misp_feed(name: &str) -> Feed {
    Feed {
        name: name.to_string(),
        provider: "CIRCL".into(),
        url: "https://www.circl.lu/doc/misp/feed-osint".into(),
        rules:
            r#"{"tags":{"OR":["tlp:white"],"NOT":[]},"orgs":{"OR":[],"NOT":[]},"url_params":""}"#
                .into(),
        enabled: true,
        distribution: Distribution::AllCommunities,
        headers: "Authorization: secret".into(),
        fetch_interval: 3600,
        ..Feed::default()
    }
}

pub async fn feeds_create_read_update_delete(store: Store) {
    let stored = store.create_feed(&misp_feed("OSINT")).await.unwrap();
    assert!(stored.id > 0);
    assert_eq!(stored.name, "OSINT");
    assert_eq!(stored.distribution, Distribution::AllCommunities);
    assert_eq!(stored.source_format, FeedSourceFormat::Misp);
    assert_eq!(stored.input_source, FeedInputSource::Network);
    assert_eq!(stored.fetch_interval, 3600);
    assert_eq!(stored.state, FeedFetchState::default());
    assert_eq!(store.feed(stored.id).await.unwrap(), stored);

    let csv = store
        .create_feed(&Feed {
            name: "Blocklist".into(),
            url: "/srv/feeds/list.csv".into(),
            source_format: FeedSourceFormat::Csv,
            input_source: FeedInputSource::Local,
            fixed_event: true,
            delta_merge: true,
            settings: r#"{"csv":{"value":"2","delimiter":","}}"#.into(),
            ..Feed::default()
        })
        .await
        .unwrap();
    let shipped = store
        .create_feed(&Feed {
            name: "Shipped".into(),
            url: "https://example.org/feed".into(),
            default: true,
            ..Feed::default()
        })
        .await
        .unwrap();
    let order: Vec<i64> = store
        .list_feeds()
        .await
        .unwrap()
        .iter()
        .map(|feed| feed.id)
        .collect();
    assert_eq!(
        order,
        [shipped.id, stored.id, csv.id],
        "shipped feeds first"
    );

    let mut edited = stored.clone();
    edited.name = "OSINT (CIRCL)".into();
    edited.enabled = false;
    edited.distribution = Distribution::InheritEvent;
    edited.tag_id = 7;
    edited.state.last_fetch_result = "ignored: state is not written by an edit".into();
    let after = store.update_feed(&edited).await.unwrap();
    assert_eq!(after.name, "OSINT (CIRCL)");
    assert!(!after.enabled);
    assert_eq!(after.distribution, Distribution::InheritEvent);
    assert_eq!(after.tag_id, 7);
    assert_eq!(after.state, FeedFetchState::default());

    store.delete_feed(csv.id).await.unwrap();
    assert!(matches!(
        store.feed(csv.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_feed(csv.id).await,
        Err(StoreError::NotFound)
    ));
    let mut missing = edited;
    missing.id = 9_999;
    assert!(matches!(
        store.update_feed(&missing).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn feed_fetch_state_and_event_marks_are_kept_until_the_source_changes(store: Store) {
    let feed = store.create_feed(&misp_feed("OSINT")).await.unwrap();
    let state = FeedFetchState {
        etag: "\"abc\"".into(),
        last_modified: "Wed, 21 Oct 2015 07:28:00 GMT".into(),
        last_fetch_at: T0,
        last_fetch_ok: true,
        last_fetch_result: "2 events added".into(),
        cache_timestamp: 0,
    };
    store.record_feed_fetch(feed.id, &state).await.unwrap();
    assert_eq!(store.feed(feed.id).await.unwrap().state, state);

    let first = new_uuid();
    let second = new_uuid();
    let mark = |timestamp, imported| FeedEventMark {
        timestamp,
        imported,
    };
    store
        .mark_feed_events(
            feed.id,
            &[
                (first.clone(), mark(10, true)),
                (second.clone(), mark(20, false)),
            ],
        )
        .await
        .unwrap();
    store
        .mark_feed_events(feed.id, &[(second.clone(), mark(30, true))])
        .await
        .unwrap();
    let marks = store.feed_event_marks(feed.id).await.unwrap();
    assert_eq!(marks.len(), 2);
    assert_eq!(marks[&first], mark(10, true));
    assert_eq!(
        marks[&second],
        mark(30, true),
        "a newer download replaces the mark"
    );

    // A new name keeps what the last fetch learnt; new rules drop the validators only; a
    // new URL forgets the marks too.
    let mut renamed = store.feed(feed.id).await.unwrap();
    renamed.name = "Renamed".into();
    let renamed = store.update_feed(&renamed).await.unwrap();
    assert_eq!(renamed.state.etag, "\"abc\"");
    assert_eq!(store.feed_event_marks(feed.id).await.unwrap().len(), 2);
    let mut filtered = renamed.clone();
    filtered.rules = String::new();
    let filtered = store.update_feed(&filtered).await.unwrap();
    assert_eq!(filtered.state.etag, "");
    assert_eq!(filtered.state.last_fetch_result, "2 events added");
    assert_eq!(store.feed_event_marks(feed.id).await.unwrap().len(), 2);
    let mut moved = filtered;
    moved.url = "https://mirror.example.org/feed-osint".into();
    store.update_feed(&moved).await.unwrap();
    assert!(store.feed_event_marks(feed.id).await.unwrap().is_empty());

    store
        .mark_feed_events(feed.id, &[(first, mark(10, true))])
        .await
        .unwrap();
    store.delete_feed(feed.id).await.unwrap();
    assert!(store.feed_event_marks(feed.id).await.unwrap().is_empty());
    assert!(matches!(
        store.record_feed_fetch(feed.id, &state).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn event_timestamps_are_found_by_uuid(store: Store) {
    let org = create_org(&store, "Feeder").await;
    let mut known = event(org.id, "known");
    known.timestamp = T0 + 5;
    store.insert_event(&known, true).await.unwrap();
    let absent = new_uuid();
    let mut asked = vec![known.uuid.clone(), absent.clone()];
    // More uuids than one statement binds.
    asked.extend((0..1_200).map(|_| new_uuid()));
    let found = store.event_timestamps_by_uuid(&asked).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[&known.uuid], T0 + 5);
    assert!(
        store
            .event_timestamps_by_uuid(&[])
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn fixed_event_values_are_soft_deleted_at_once(store: Store) {
    let org = create_org(&store, "Feeder").await;
    let mut fixed = event(org.id, "Blocklist feed");
    fixed.published = true;
    fixed.attributes = vec![
        ip_dst("192.0.2.1"),
        ip_dst("192.0.2.2"),
        domain("evil.test"),
    ];
    let event_id = store.insert_event(&fixed, true).await.unwrap();
    let other_id = store
        .insert_event(&event(org.id, "unrelated"), true)
        .await
        .unwrap();
    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    let gone: Vec<i64> = loaded
        .attributes
        .iter()
        .filter(|attribute| attribute.value1 != "192.0.2.1")
        .map(|attribute| attribute.id)
        .collect();
    assert_eq!(
        store
            .soft_delete_event_attributes(other_id, &gone, T0 + 60)
            .await
            .unwrap(),
        0,
        "attributes of another event are not touched"
    );
    assert_eq!(
        store
            .soft_delete_event_attributes(event_id, &gone, T0 + 60)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .soft_delete_event_attributes(event_id, &gone, T0 + 120)
            .await
            .unwrap(),
        0,
        "already deleted"
    );
    let after = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(after.attributes.len(), 1);
    assert_eq!(after.attribute_count, 1);
    assert_eq!(after.timestamp, T0 + 60);
    assert!(!after.published, "a changed event is unpublished");
    let with_deleted = store
        .event(
            &Key::Id(event_id),
            &LoadOptions {
                include_deleted: true,
                viewer_org: None,
            },
        )
        .await
        .unwrap();
    assert!(
        with_deleted
            .attributes
            .iter()
            .filter(|attribute| attribute.deleted)
            .all(|attribute| attribute.timestamp == T0 + 60)
    );
    assert_eq!(
        store
            .soft_delete_event_attributes(event_id, &[], T0)
            .await
            .unwrap(),
        0
    );
}

pub async fn feed_cache_is_replaced_and_searched(store: Store) {
    let first = store.create_feed(&misp_feed("first")).await.unwrap();
    let second = store.create_feed(&misp_feed("second")).await.unwrap();
    let entry = |md5: &str, uuid: &str| FeedCacheEntry {
        value_md5: md5.to_string(),
        event_uuid: uuid.to_string(),
    };
    let many: Vec<FeedCacheEntry> = (0..700)
        .map(|n| entry(&format!("{n:032x}"), "e1"))
        .chain([entry("aa", "e2"), entry("aa", "e2")])
        .collect();
    store.replace_feed_cache(first.id, &many, T0).await.unwrap();
    store
        .replace_feed_cache(second.id, &[entry("aa", ""), entry("bb", "")], T0 + 1)
        .await
        .unwrap();
    let counts = store.feed_cache_counts().await.unwrap();
    assert_eq!(counts[&first.id], 701);
    assert_eq!(counts[&second.id], 2);
    assert_eq!(
        store.feed(first.id).await.unwrap().state.cache_timestamp,
        T0
    );

    let hits = store
        .feed_cache_hits(&["aa".to_string(), "cc".to_string()])
        .await
        .unwrap();
    let found: Vec<(i64, &str)> = hits
        .iter()
        .map(|hit| (hit.feed_id, hit.event_uuid.as_str()))
        .collect();
    assert_eq!(found, [(first.id, "e2"), (second.id, "")]);

    store
        .replace_feed_cache(first.id, &[entry("cc", "e3")], T0 + 2)
        .await
        .unwrap();
    let hits = store
        .feed_cache_hits(&["aa".to_string(), "cc".to_string()])
        .await
        .unwrap();
    let found: Vec<(i64, &str)> = hits
        .iter()
        .map(|hit| (hit.feed_id, hit.value_md5.as_str()))
        .collect();
    assert_eq!(found, [(first.id, "cc"), (second.id, "aa")]);
    store.delete_feed(second.id).await.unwrap();
    assert!(
        !store
            .feed_cache_counts()
            .await
            .unwrap()
            .contains_key(&second.id)
    );
    assert!(matches!(
        store.replace_feed_cache(second.id, &[], T0).await,
        Err(StoreError::NotFound)
    ));
}
