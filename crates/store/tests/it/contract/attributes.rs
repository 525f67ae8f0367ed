//! Attribute writes outside whole-event inserts: add, update, delete, restore, duplicates.

use crate::fixtures::{
    T0, attached, attribute, create_org, domain, event, ip_dst, new_uuid, object, object_attribute,
    tag_names, uuid_key,
};
use crate::support;
use kizuna_model::access::Viewer;
use kizuna_model::{Attribute, Distribution};
use kizuna_store::{AttributePage, Key, LoadOptions, Store, StoreError};

const WITH_DELETED: LoadOptions = LoadOptions {
    include_deleted: true,
    viewer_org: None,
};

async fn published_event(store: &Store, attributes: Vec<Attribute>) -> i64 {
    let acme = create_org(store, "ACME").await;
    let mut sent = event(acme.id, "attributes");
    sent.published = true;
    sent.publish_timestamp = T0;
    sent.attributes = attributes;
    store.insert_event(&sent, true).await.unwrap()
}

/// (timestamp, published, publish_timestamp, attribute_count) of the event.
async fn event_state(store: &Store, event_id: i64) -> (i64, bool, i64, i64) {
    let meta = store.event_meta(&Key::Id(event_id)).await.unwrap();
    (
        meta.timestamp,
        meta.published,
        meta.publish_timestamp,
        meta.attribute_count,
    )
}

pub async fn add_attributes_bumps_the_event_and_unpublishes(store: Store) {
    let event_id = published_event(&store, vec![ip_dst("192.0.2.1")]).await;
    assert_eq!(event_state(&store, event_id).await, (T0, true, T0, 1));

    let mut tagged = domain("example.org");
    tagged.tags = vec![attached("new-tag")];
    tagged.event_id = 424_242; // ignored: the event is the argument
    let composite = attribute("ip-dst|port", "Network activity", "192.0.2.2", "443");
    let added = store
        .add_attributes(
            event_id,
            &[tagged.clone(), composite.clone()],
            T0 + 60,
            true,
        )
        .await
        .unwrap();
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].uuid, tagged.uuid);
    assert_eq!(added[0].event_id, event_id);
    assert_eq!(tag_names(&added[0].tags), ["new-tag"]);
    assert_eq!(
        (added[1].value1.as_str(), added[1].value2.as_str()),
        ("192.0.2.2", "443")
    );
    assert_eq!(added[1].value(), "192.0.2.2|443");
    assert!(added[0].id < added[1].id);
    assert_eq!(event_state(&store, event_id).await, (T0 + 60, false, T0, 3));
    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(&loaded.attributes[1..], &added[..]);

    // Without tag creation the unknown tag is dropped, the attribute kept.
    let mut unknown = domain("other.example");
    unknown.tags = vec![attached("unknown"), attached("NEW-TAG")];
    let added = store
        .add_attributes(event_id, &[unknown], T0 + 61, false)
        .await
        .unwrap();
    assert_eq!(tag_names(&added[0].tags), ["new-tag"]);
    assert_eq!(store.tag_by_name("unknown").await.unwrap(), None);
    assert_eq!(event_state(&store, event_id).await, (T0 + 61, false, T0, 4));
}

pub async fn add_attributes_is_all_or_nothing(store: Store) {
    let existing = ip_dst("192.0.2.1");
    let event_id = published_event(&store, vec![existing.clone()]).await;
    let mut fresh = domain("example.org");
    fresh.tags = vec![attached("fresh")];
    let result = store
        .add_attributes(event_id, &[fresh.clone(), existing.clone()], T0 + 60, true)
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(event_state(&store, event_id).await, (T0, true, T0, 1));
    assert!(matches!(
        store.attribute(&uuid_key(&fresh.uuid), true).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(support::count(&store, "tags").await, 0);

    // Many statements' worth (the store inserts in chunks): the clash in the last chunk
    // still undoes the first ones.
    let mut many: Vec<Attribute> = (0..2_345)
        .map(|n| {
            ip_dst(&format!(
                "10.{}.{}.{}",
                n / 65_536,
                (n / 256) % 256,
                n % 256
            ))
        })
        .collect();
    many[7].tags = vec![attached("seven")];
    let last = many.len() - 1;
    many[last].uuid = existing.uuid.clone();
    let result = store.add_attributes(event_id, &many, T0 + 70, true).await;
    // The clash is found inside a multi-row insert; the error still names the attribute.
    assert!(
        matches!(&result, Err(StoreError::Conflict(message)) if message.contains(&existing.uuid)),
        "{result:?}"
    );
    assert_eq!(support::count(&store, "attributes").await, 1);
    assert_eq!(support::count(&store, "tags").await, 0);
    assert_eq!(event_state(&store, event_id).await, (T0, true, T0, 1));

    many[last].uuid = new_uuid();
    many[2_000].tags = vec![attached("two-thousand"), attached("seven")];
    let added = store
        .add_attributes(event_id, &many, T0 + 80, true)
        .await
        .unwrap();
    assert_eq!(added.len(), many.len());
    for (stored, sent) in added.iter().zip(&many) {
        assert_eq!(stored.uuid, sent.uuid);
        assert_eq!(stored.value1, sent.value1);
        assert_eq!(tag_names(&stored.tags), tag_names(&sent.tags));
    }
    assert!(added.windows(2).all(|pair| pair[0].id < pair[1].id));
    // Each id handed back is the one stored under that attribute's uuid.
    for stored in [
        &added[0],
        &added[31],
        &added[32],
        &added[2_047],
        &added[2_048],
    ]
    .into_iter()
    .chain(added.last())
    {
        let read = store
            .attribute(&uuid_key(&stored.uuid), true)
            .await
            .unwrap();
        assert_eq!(read.id, stored.id, "{}", stored.uuid);
    }
    assert_eq!(
        event_state(&store, event_id).await,
        (T0 + 80, false, T0, 2_346)
    );
}

pub async fn update_attribute_writes_fields_and_tags(store: Store) {
    let mut original = ip_dst("192.0.2.1");
    original.tags = vec![attached("first")];
    let event_id = published_event(&store, vec![original.clone(), domain("example.org")]).await;
    let stored = store
        .attribute(&uuid_key(&original.uuid), false)
        .await
        .unwrap();

    let mut edited = stored.clone();
    edited.value1 = "203.0.113.9".into();
    edited.category = "External analysis".into();
    edited.comment = "re-checked".into();
    edited.to_ids = false;
    edited.distribution = Distribution::ConnectedCommunities;
    edited.first_seen = Some(1_690_000_000_000_000);
    edited.disable_correlation = true;
    edited.timestamp = T0 + 70;
    edited.tags.push(attached("second"));
    let updated = store
        .update_attribute(&edited, T0 + 70, true)
        .await
        .unwrap();
    assert_eq!(
        Attribute {
            tags: Vec::new(),
            ..updated.clone()
        },
        Attribute {
            tags: Vec::new(),
            ..edited.clone()
        }
    );
    assert_eq!(tag_names(&updated.tags), ["first", "second"]);
    assert_eq!(
        store.attribute(&Key::Id(stored.id), false).await.unwrap(),
        updated
    );
    assert_eq!(event_state(&store, event_id).await, (T0 + 70, false, T0, 2));

    // Marking it deleted through an update is counted too.
    let deleted = Attribute {
        deleted: true,
        ..updated.clone()
    };
    store
        .update_attribute(&deleted, T0 + 71, true)
        .await
        .unwrap();
    assert_eq!(event_state(&store, event_id).await, (T0 + 71, false, T0, 1));

    let missing = Attribute {
        id: stored.id + 1_000,
        ..edited
    };
    assert!(matches!(
        store.update_attribute(&missing, T0 + 72, true).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(event_state(&store, event_id).await, (T0 + 71, false, T0, 1));
}

pub async fn soft_delete_hides_until_restored(store: Store) {
    let keep = ip_dst("192.0.2.1");
    let mut doomed = domain("example.org");
    doomed.tags = vec![attached("t")];
    let event_id = published_event(&store, vec![keep.clone(), doomed.clone()]).await;
    let stored = store
        .attribute(&uuid_key(&doomed.uuid), false)
        .await
        .unwrap();

    store
        .delete_attribute(&stored, false, T0 + 80)
        .await
        .unwrap();
    assert_eq!(event_state(&store, event_id).await, (T0 + 80, false, T0, 1));
    let visible = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(
        visible
            .attributes
            .iter()
            .map(|a| a.uuid.as_str())
            .collect::<Vec<_>>(),
        [keep.uuid.as_str()]
    );
    let everything = store
        .event(&Key::Id(event_id), &WITH_DELETED)
        .await
        .unwrap();
    assert_eq!(everything.attributes.len(), 2);
    let hidden = &everything.attributes[1];
    assert_eq!(
        (hidden.id, hidden.deleted, hidden.timestamp),
        (stored.id, true, T0 + 80)
    );
    assert_eq!(tag_names(&hidden.tags), ["t"], "tags survive a soft delete");
    assert!(matches!(
        store.attribute(&Key::Id(stored.id), false).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .attribute(&Key::Id(stored.id), true)
            .await
            .unwrap()
            .deleted
    );
    let live = store
        .list_attributes(&AttributePage::default())
        .await
        .unwrap();
    assert_eq!(
        live.iter().map(|a| a.uuid.as_str()).collect::<Vec<_>>(),
        [keep.uuid.as_str()]
    );

    let restored = store.restore_attribute(&stored, T0 + 90).await.unwrap();
    assert_eq!((restored.deleted, restored.timestamp), (false, T0 + 90));
    assert_eq!(tag_names(&restored.tags), ["t"]);
    assert_eq!(event_state(&store, event_id).await, (T0 + 90, false, T0, 2));
    let visible = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(visible.attributes.len(), 2);
    assert_eq!(visible.attributes[1], restored);
}

pub async fn hard_delete_removes_the_attribute_and_its_tags(store: Store) {
    let mut doomed = ip_dst("192.0.2.1");
    doomed.tags = vec![attached("t")];
    let keep = domain("example.org");
    let event_id = published_event(&store, vec![doomed.clone(), keep]).await;
    let stored = store
        .attribute(&uuid_key(&doomed.uuid), false)
        .await
        .unwrap();
    support::execute(
        &store,
        &[format!(
            "INSERT INTO sightings (uuid, attribute_id, event_id, org_id, date_sighting) \
             VALUES ('{}', {}, {event_id}, 1, {T0})",
            new_uuid(),
            stored.id
        )],
    )
    .await;

    store
        .delete_attribute(&stored, true, T0 + 80)
        .await
        .unwrap();
    assert!(matches!(
        store.attribute(&Key::Id(stored.id), true).await,
        Err(StoreError::NotFound)
    ));
    let everything = store
        .event(&Key::Id(event_id), &WITH_DELETED)
        .await
        .unwrap();
    assert_eq!(everything.attributes.len(), 1);
    assert_eq!(event_state(&store, event_id).await, (T0 + 80, false, T0, 1));
    assert_eq!(support::count(&store, "attribute_tags").await, 0);
    assert_eq!(support::count(&store, "sightings").await, 0);
    let tags = store.list_tags(&Viewer::SiteAdmin).await.unwrap();
    assert_eq!(tags.len(), 1, "the tag itself stays");
    assert_eq!(tags[0].1.attribute_count, 0);

    assert!(matches!(
        store.delete_attribute(&stored, true, T0 + 81).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_attribute(&stored, false, T0 + 81).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(event_state(&store, event_id).await, (T0 + 80, false, T0, 1));
}

pub async fn duplicate_detection_ignores_objects_and_deleted(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let ip = ip_dst("192.0.2.1");
    let composite = attribute("filename|sha256", "Payload delivery", "a.exe", "aa11");
    let mut gone = domain("gone.example");
    gone.deleted = true;
    let mut first = event(acme.id, "first");
    first.attributes = vec![ip.clone(), composite.clone(), gone.clone()];
    let mut in_object = object_attribute("ip", "ip-dst", "198.51.100.1");
    in_object.category = "Network activity".into();
    first
        .objects
        .push(object("ip-port", vec![in_object.clone()]));
    let first_id = store.insert_event(&first, true).await.unwrap();
    let mut second = event(acme.id, "second");
    second.attributes = vec![ip_dst("203.0.113.1")];
    let second_id = store.insert_event(&second, true).await.unwrap();
    let ip_id = store
        .attribute(&uuid_key(&ip.uuid), false)
        .await
        .unwrap()
        .id;

    let exists = |event_id: i64, candidate: Attribute, except: i64| {
        let store = store.clone();
        async move {
            store
                .attribute_duplicate_exists(event_id, &candidate, except)
                .await
                .unwrap()
        }
    };
    assert!(exists(first_id, ip_dst("192.0.2.1"), 0).await);
    assert!(
        !exists(first_id, ip_dst("192.0.2.1"), ip_id).await,
        "the attribute being edited"
    );
    assert!(!exists(first_id, ip_dst("192.0.2.2"), 0).await);
    assert!(
        !exists(
            first_id,
            attribute("ip-dst", "External analysis", "192.0.2.1", ""),
            0
        )
        .await
    );
    assert!(
        !exists(
            first_id,
            attribute("ip-src", "Network activity", "192.0.2.1", ""),
            0
        )
        .await
    );
    assert!(
        exists(
            first_id,
            attribute("filename|sha256", "Payload delivery", "a.exe", "aa11"),
            0
        )
        .await
    );
    assert!(
        !exists(
            first_id,
            attribute("filename|sha256", "Payload delivery", "a.exe", "bb22"),
            0
        )
        .await
    );
    assert!(
        !exists(first_id, ip_dst("198.51.100.1"), 0).await,
        "object attributes do not count"
    );
    assert!(
        !exists(first_id, domain("gone.example"), 0).await,
        "deleted attributes do not count"
    );
    assert!(
        !exists(first_id, ip_dst("203.0.113.1"), 0).await,
        "other events do not count"
    );
    assert!(exists(second_id, ip_dst("203.0.113.1"), 0).await);
}

pub async fn list_attributes_pages_live_attributes(store: Store) {
    let mut sent: Vec<Attribute> = (1..=5).map(|n| ip_dst(&format!("192.0.2.{n}"))).collect();
    sent[2].deleted = true;
    published_event(&store, sent.clone()).await;
    let values =
        |attributes: Vec<Attribute>| attributes.into_iter().map(|a| a.value1).collect::<Vec<_>>();
    let page = |limit, page| AttributePage {
        limit: Some(limit),
        page: Some(page),
    };
    assert_eq!(
        values(
            store
                .list_attributes(&AttributePage::default())
                .await
                .unwrap()
        ),
        ["192.0.2.1", "192.0.2.2", "192.0.2.4", "192.0.2.5"]
    );
    assert_eq!(
        values(store.list_attributes(&page(2, 1)).await.unwrap()),
        ["192.0.2.1", "192.0.2.2"]
    );
    assert_eq!(
        values(store.list_attributes(&page(2, 2)).await.unwrap()),
        ["192.0.2.4", "192.0.2.5"]
    );
    assert!(store.list_attributes(&page(2, 3)).await.unwrap().is_empty());
    assert_eq!(
        values(store.list_attributes(&page(3, 0)).await.unwrap()),
        ["192.0.2.1", "192.0.2.2", "192.0.2.4"]
    );
}

pub async fn bulk_insert_counts_and_touches_the_event(store: Store) {
    let event_id = published_event(&store, Vec::new()).await;
    let mut many: Vec<Attribute> = (0..2_500)
        .map(|n| domain(&format!("host{n}.example")))
        .collect();
    many[10].deleted = true;
    many[11].to_ids = false;
    many[12].tags = vec![attached("bulk")];
    store
        .bulk_insert_attributes(event_id, &many, T0 + 5)
        .await
        .unwrap();
    assert_eq!(
        event_state(&store, event_id).await,
        (T0 + 5, false, T0, 2_499)
    );
    let loaded = store
        .event(&Key::Id(event_id), &WITH_DELETED)
        .await
        .unwrap();
    assert_eq!(loaded.attributes.len(), 2_500);
    for (stored, sent) in loaded.attributes.iter().zip(&many) {
        assert_eq!(
            (&stored.uuid, &stored.value1, stored.deleted, stored.to_ids),
            (&sent.uuid, &sent.value1, sent.deleted, sent.to_ids)
        );
    }
    assert_eq!(tag_names(&loaded.attributes[12].tags), ["bulk"]);

    let mut clash: Vec<Attribute> = (0..1_500)
        .map(|n| domain(&format!("more{n}.example")))
        .collect();
    clash[1_499].uuid = many[0].uuid.clone();
    let result = store.bulk_insert_attributes(event_id, &clash, T0 + 6).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(support::count(&store, "attributes").await, 2_500);
    assert_eq!(
        event_state(&store, event_id).await,
        (T0 + 5, false, T0, 2_499)
    );
}

/// Restoring an attribute that does not exist is NotFound and changes nothing (in
/// particular its event is neither unpublished nor re-timestamped).
pub async fn restoring_a_missing_attribute_changes_nothing(store: Store) {
    let ip = ip_dst("192.0.2.1");
    let event_id = published_event(&store, vec![ip.clone()]).await;
    let stored = store.attribute(&uuid_key(&ip.uuid), false).await.unwrap();
    let ghost = Attribute {
        id: stored.id + 1_000,
        ..stored
    };
    let result = store.restore_attribute(&ghost, T0 + 90).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(event_state(&store, event_id).await, (T0, true, T0, 1));
}
