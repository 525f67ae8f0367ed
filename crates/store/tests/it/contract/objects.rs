//! Objects added to existing events, their deletion, object references.

use crate::fixtures::{
    T0, attached, create_org, event, ip_dst, new_uuid, object, object_attribute, reference,
    tag_names, uuid_key,
};
use crate::support;
use kizuna_model::{MispObject, ReferencedType};
use kizuna_store::{Key, LoadOptions, Store, StoreError};

const WITH_DELETED: LoadOptions = LoadOptions {
    include_deleted: true,
    viewer_org: None,
};

/// A published event with one plain attribute and the given objects.
async fn event_with(store: &Store, objects: Vec<MispObject>) -> (i64, i64) {
    let acme = create_org(store, "ACME").await;
    let mut sent = event(acme.id, "objects");
    sent.published = true;
    sent.publish_timestamp = T0;
    let ip = ip_dst("192.0.2.1");
    sent.attributes.push(ip.clone());
    sent.objects = objects;
    let event_id = store.insert_event(&sent, true).await.unwrap();
    let ip_id = store
        .attribute(&uuid_key(&ip.uuid), false)
        .await
        .unwrap()
        .id;
    (event_id, ip_id)
}

async fn event_state(store: &Store, event_id: i64) -> (i64, bool, i64) {
    let meta = store.event_meta(&Key::Id(event_id)).await.unwrap();
    (meta.timestamp, meta.published, meta.attribute_count)
}

pub async fn add_object_stores_attributes_and_references(store: Store) {
    let (event_id, ip_id) = event_with(&store, Vec::new()).await;
    let ip_uuid = store.attribute(&Key::Id(ip_id), false).await.unwrap().uuid;
    let mut file = object(
        "file",
        vec![
            object_attribute("filename", "filename", "a.exe"),
            object_attribute("sha256", "sha256", "aa11"),
        ],
    );
    file.attributes[1].tags = vec![attached("hash-tag")];
    file.references
        .push(reference(0, &ip_uuid, "communicates-with"));
    let added = store
        .add_object(event_id, &file, T0 + 10, true)
        .await
        .unwrap();

    assert!(added.id > 0);
    assert_eq!(
        MispObject {
            id: 0,
            event_id: 0,
            attributes: Vec::new(),
            references: Vec::new(),
            ..added.clone()
        },
        MispObject {
            attributes: Vec::new(),
            references: Vec::new(),
            ..file.clone()
        }
    );
    assert_eq!(added.event_id, event_id);
    assert_eq!(added.attributes.len(), 2);
    for (stored, sent) in added.attributes.iter().zip(&file.attributes) {
        assert_eq!(
            (stored.uuid.as_str(), stored.object_id, stored.event_id),
            (sent.uuid.as_str(), added.id, event_id)
        );
        assert_eq!(stored.object_relation, sent.object_relation);
    }
    assert_eq!(tag_names(&added.attributes[1].tags), ["hash-tag"]);
    assert_eq!(added.references.len(), 1);
    let link = &added.references[0];
    assert_eq!(
        (link.object_id, link.event_id, link.source_uuid.as_str()),
        (added.id, event_id, file.uuid.as_str())
    );
    assert_eq!(
        (link.referenced_id, link.referenced_type),
        (ip_id, ReferencedType::Attribute)
    );
    assert_eq!(event_state(&store, event_id).await, (T0 + 10, false, 3));

    assert_eq!(
        store.object(&uuid_key(&file.uuid), false).await.unwrap(),
        added
    );
    assert_eq!(store.object(&Key::Id(added.id), true).await.unwrap(), added);
    assert!(matches!(
        store.object(&Key::Id(added.id + 100), true).await,
        Err(StoreError::NotFound)
    ));
    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(loaded.objects, vec![added.clone()]);
    assert_eq!(
        loaded.attributes.len(),
        1,
        "object attributes are not event attributes"
    );

    // The same object again: a conflict, and nothing changes.
    let again = store.add_object(event_id, &file, T0 + 20, true).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(event_state(&store, event_id).await, (T0 + 10, false, 3));
    assert_eq!(support::count(&store, "objects").await, 1);
}

pub async fn soft_deleted_objects_are_hidden_by_default(store: Store) {
    let mut file = object(
        "file",
        vec![
            object_attribute("filename", "filename", "a.exe"),
            object_attribute("md5", "md5", "0cc175b9c0f1b6a831c399e269772661"),
        ],
    );
    file.attributes[0].tags = vec![attached("t")];
    let keep = object(
        "file",
        vec![object_attribute("filename", "filename", "b.exe")],
    );
    let (event_id, ip_id) = event_with(&store, vec![file.clone(), keep.clone()]).await;
    let ip_uuid = store.attribute(&Key::Id(ip_id), false).await.unwrap().uuid;
    let stored = store.object(&uuid_key(&file.uuid), false).await.unwrap();
    store
        .add_object_reference(
            event_id,
            &reference(stored.id, &ip_uuid, "related-to"),
            T0 + 1,
        )
        .await
        .unwrap();
    store.set_published(event_id, true, T0 + 2).await.unwrap();
    assert_eq!(event_state(&store, event_id).await, (T0 + 1, true, 4));

    store.delete_object(&stored, false, T0 + 20).await.unwrap();
    assert_eq!(event_state(&store, event_id).await, (T0 + 20, false, 2));
    assert!(matches!(
        store.object(&Key::Id(stored.id), false).await,
        Err(StoreError::NotFound)
    ));
    let hidden = store.object(&Key::Id(stored.id), true).await.unwrap();
    assert_eq!((hidden.deleted, hidden.timestamp), (true, T0 + 20));
    assert!(
        hidden
            .attributes
            .iter()
            .all(|a| a.deleted && a.timestamp == T0 + 20)
    );
    assert_eq!(tag_names(&hidden.attributes[0].tags), ["t"]);
    assert_eq!(hidden.references.len(), 1);
    assert!(hidden.references[0].deleted);

    let visible = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(
        visible
            .objects
            .iter()
            .map(|o| o.uuid.as_str())
            .collect::<Vec<_>>(),
        [keep.uuid.as_str()]
    );
    let everything = store
        .event(&Key::Id(event_id), &WITH_DELETED)
        .await
        .unwrap();
    assert_eq!(everything.objects.len(), 2);
    assert_eq!(everything.objects[0], hidden);
    assert!(matches!(
        store
            .attribute(&uuid_key(&file.attributes[0].uuid), false)
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn hard_deleted_objects_are_gone(store: Store) {
    let mut file = object(
        "file",
        vec![object_attribute("filename", "filename", "a.exe")],
    );
    file.attributes[0].tags = vec![attached("t")];
    file.references
        .push(reference(0, &new_uuid(), "related-to"));
    let keep = object(
        "file",
        vec![object_attribute("filename", "filename", "b.exe")],
    );
    let (event_id, _) = event_with(&store, vec![file.clone(), keep.clone()]).await;
    let stored = store.object(&uuid_key(&file.uuid), false).await.unwrap();
    assert_eq!(support::count(&store, "object_references").await, 1);

    store.delete_object(&stored, true, T0 + 30).await.unwrap();
    assert!(matches!(
        store.object(&Key::Id(stored.id), true).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .attribute(&uuid_key(&file.attributes[0].uuid), true)
            .await,
        Err(StoreError::NotFound)
    ));
    let everything = store
        .event(&Key::Id(event_id), &WITH_DELETED)
        .await
        .unwrap();
    assert_eq!(
        everything
            .objects
            .iter()
            .map(|o| o.uuid.as_str())
            .collect::<Vec<_>>(),
        [keep.uuid.as_str()]
    );
    assert_eq!(support::count(&store, "object_references").await, 0);
    assert_eq!(support::count(&store, "attribute_tags").await, 0);
    assert_eq!(support::count(&store, "attributes").await, 2);
    assert_eq!(event_state(&store, event_id).await, (T0 + 30, false, 2));
    assert!(matches!(
        store.delete_object(&stored, true, T0 + 31).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_object(&stored, false, T0 + 31).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn object_references_resolve_to_objects_and_attributes(store: Store) {
    let first = object(
        "file",
        vec![object_attribute("filename", "filename", "a.exe")],
    );
    let second = object(
        "domain-ip",
        vec![object_attribute("domain", "domain", "evil.example")],
    );
    let (event_id, ip_id) = event_with(&store, vec![first.clone(), second.clone()]).await;
    let ip_uuid = store.attribute(&Key::Id(ip_id), false).await.unwrap().uuid;
    let from = store.object(&uuid_key(&first.uuid), false).await.unwrap();
    let to = store.object(&uuid_key(&second.uuid), false).await.unwrap();
    let add = |referenced: String, relationship: &'static str, now: i64| {
        let store = store.clone();
        let mut wanted = reference(from.id, &referenced, relationship);
        wanted.source_uuid = from.uuid.clone();
        wanted.comment = format!("{relationship} comment");
        async move {
            let stored = store
                .add_object_reference(event_id, &wanted, now)
                .await
                .unwrap();
            assert!(stored.id > 0);
            assert_eq!(
                (
                    stored.uuid.as_str(),
                    stored.object_id,
                    stored.event_id,
                    stored.source_uuid.as_str()
                ),
                (
                    wanted.uuid.as_str(),
                    wanted.object_id,
                    event_id,
                    wanted.source_uuid.as_str()
                )
            );
            assert_eq!(
                (stored.relationship_type.as_str(), stored.comment.as_str()),
                (relationship, wanted.comment.as_str())
            );
            (stored.referenced_id, stored.referenced_type)
        }
    };
    assert_eq!(
        add(to.uuid.clone(), "downloaded-from", T0 + 40).await,
        (to.id, ReferencedType::Object)
    );
    assert_eq!(
        add(ip_uuid, "communicates-with", T0 + 41).await,
        (ip_id, ReferencedType::Attribute)
    );
    assert_eq!(
        add(to.attributes[0].uuid.clone(), "resolves", T0 + 42).await,
        (to.attributes[0].id, ReferencedType::Attribute)
    );
    assert_eq!(
        add(new_uuid(), "unknown", T0 + 43).await,
        (0, ReferencedType::Attribute)
    );
    assert_eq!(event_state(&store, event_id).await, (T0 + 43, false, 3));

    let loaded = store.object(&Key::Id(from.id), false).await.unwrap();
    assert_eq!(
        loaded
            .references
            .iter()
            .map(|r| r.relationship_type.as_str())
            .collect::<Vec<_>>(),
        [
            "downloaded-from",
            "communicates-with",
            "resolves",
            "unknown"
        ]
    );
    let duplicate = loaded.references[0].clone();
    let again = store
        .add_object_reference(event_id, &duplicate, T0 + 44)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(event_state(&store, event_id).await, (T0 + 43, false, 3));
}
