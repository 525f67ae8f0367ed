//! Whole-event writes (all or nothing), full loads, publishing, deleting, edits.

use crate::fixtures::{
    T0, attached, attribute, create_org, domain, event, ip_dst, new_uuid, object, object_attribute,
    reference, tag, tag_names, uuid_key,
};
use crate::support;
use kizuna_model::{
    Analysis, Attribute, Distribution, Event, IntendedUse, ItemStatus, MispObject, ReferencedType,
    ThreatLevel,
};
use kizuna_store::{EventChanges, Key, LoadOptions, Store, StoreError};
use time::macros::date;

/// Row counts of every table an event write touches, to prove a failed write left nothing.
async fn footprint(store: &Store) -> [i64; 8] {
    let mut counts = [0; 8];
    for (slot, table) in counts.iter_mut().zip([
        "events",
        "attributes",
        "objects",
        "object_references",
        "tags",
        "event_tags",
        "attribute_tags",
        "sightings",
    ]) {
        *slot = support::count(store, table).await;
    }
    counts
}

/// `loaded` equals `sent` apart from what the store assigns (id, event, object, tag ids).
fn assert_stored_attribute(loaded: &Attribute, sent: &Attribute, event_id: i64, object_id: i64) {
    assert!(loaded.id > 0);
    assert_eq!(loaded.event_id, event_id);
    assert_eq!(loaded.object_id, object_id);
    assert_eq!(
        tag_names(&loaded.tags),
        tag_names(&sent.tags),
        "{}",
        sent.uuid
    );
    for (loaded_tag, sent_tag) in loaded.tags.iter().zip(&sent.tags) {
        assert!(loaded_tag.tag.id > 0);
        assert_eq!(loaded_tag.local, sent_tag.local);
        assert_eq!(loaded_tag.relationship_type, sent_tag.relationship_type);
    }
    let expected = Attribute {
        id: loaded.id,
        event_id,
        object_id,
        tags: loaded.tags.clone(),
        ..sent.clone()
    };
    assert_eq!(loaded, &expected);
}

fn strictly_increasing(ids: &[i64]) -> bool {
    ids.windows(2).all(|pair| pair[0] < pair[1])
}

pub async fn insert_event_stores_and_loads_everything_in_order(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let circl = create_org(&store, "CIRCL").await;
    let mut sent = event(acme.id, "Phishing wave against finance");
    sent.orgc_id = circl.id;
    sent.user_id = 7;
    sent.date = date!(2023 - 12 - 31);
    sent.threat_level = ThreatLevel::High;
    sent.analysis = Analysis::Ongoing;
    sent.distribution = Distribution::ConnectedCommunities;
    sent.published = true;
    sent.publish_timestamp = T0 - 10;
    sent.sighting_timestamp = T0 - 20;
    sent.disable_correlation = true;
    sent.extends_uuid = new_uuid();
    sent.protected = Some(false);
    sent.tags = vec![
        attached("tlp:green"),
        kizuna_model::AttachedTag {
            local: true,
            relationship_type: Some("related-to".into()),
            ..attached("Phishing")
        },
    ];

    let mut ip = ip_dst("198.51.100.7");
    ip.comment = "C2 server".into();
    ip.first_seen = Some(1_600_000_000_000_000);
    ip.last_seen = Some(1_700_000_000_123_456);
    ip.valid_until = Some(1_800_000_000_000_000);
    ip.intended_use = Some(IntendedUse::BlockOutbound);
    ip.status = Some(ItemStatus::Confirmed);
    ip.tags = vec![attached("malicious"), attached("tlp:green")];
    let mut composite = attribute(
        "filename|sha256",
        "Payload delivery",
        "invoice.exe",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    );
    composite.distribution = Distribution::AllCommunities;
    let mut name = domain("evil.example");
    name.to_ids = false;
    name.disable_correlation = true;
    name.distribution = Distribution::OrganisationOnly;
    let mut sample = attribute("attachment", "External analysis", "report.txt", "");
    sample.data = Some("aGVsbG8=".into());
    sample.to_ids = false;
    sent.attributes = vec![ip.clone(), composite, name, sample];

    let mut file = object(
        "file",
        vec![
            object_attribute("filename", "filename", "invoice.exe"),
            object_attribute(
                "sha256",
                "sha256",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            ),
        ],
    );
    file.attributes[1].tags = vec![attached("hash")];
    file.comment = "dropped".into();
    file.first_seen = Some(1_650_000_000_000_000);
    let mut host = object(
        "domain-ip",
        vec![
            object_attribute("domain", "domain", "evil.example"),
            object_attribute("ip", "ip-dst", "198.51.100.7"),
        ],
    );
    host.meta_category = "network".into();
    host.distribution = Distribution::CommunityOnly;
    // References to a plain attribute, to a later object and to an attribute of that object.
    file.references = vec![
        reference(0, &ip.uuid, "communicates-with"),
        reference(0, &host.uuid, "downloaded-from"),
        reference(0, &host.attributes[1].uuid, "connects-to"),
    ];
    sent.objects = vec![file, host];

    let event_id = store.insert_event(&sent, true).await.unwrap();
    assert!(event_id > 0);
    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();

    // The event itself.
    let expected_meta = Event {
        id: event_id,
        attribute_count: 8,
        org: Some(acme.clone()),
        orgc: Some(circl.clone()),
        attributes: Vec::new(),
        objects: Vec::new(),
        tags: loaded.tags.clone(),
        ..sent.clone()
    };
    let loaded_meta = Event {
        attributes: Vec::new(),
        objects: Vec::new(),
        ..loaded.clone()
    };
    assert_eq!(loaded_meta, expected_meta);
    assert_eq!(tag_names(&loaded.tags), ["tlp:green", "Phishing"]);
    assert_eq!(
        loaded
            .tags
            .iter()
            .map(|t| (t.local, t.relationship_type.as_deref()))
            .collect::<Vec<_>>(),
        [(false, None), (true, Some("related-to"))]
    );
    assert_eq!(
        loaded.tags[0].tag,
        store.tag_by_name("tlp:green").await.unwrap().unwrap()
    );

    // Attributes, in the order sent, composite halves kept apart.
    assert_eq!(loaded.attributes.len(), 4);
    for (loaded_attribute, sent_attribute) in loaded.attributes.iter().zip(&sent.attributes) {
        assert_stored_attribute(loaded_attribute, sent_attribute, event_id, 0);
    }
    let ids: Vec<i64> = loaded.attributes.iter().map(|a| a.id).collect();
    assert!(strictly_increasing(&ids), "{ids:?}");
    assert_eq!(
        loaded.attributes[1].value(),
        format!("invoice.exe|{}", sent.attributes[1].value2)
    );
    assert_eq!(
        loaded.attributes[0].tags[1].tag.id, loaded.tags[0].tag.id,
        "one tlp:green tag shared by event and attribute"
    );

    // Objects with their attributes and references.
    assert_eq!(loaded.objects.len(), 2);
    for (loaded_object, sent_object) in loaded.objects.iter().zip(&sent.objects) {
        assert!(loaded_object.id > 0);
        let expected = MispObject {
            id: loaded_object.id,
            event_id,
            attributes: loaded_object.attributes.clone(),
            references: loaded_object.references.clone(),
            ..sent_object.clone()
        };
        assert_eq!(loaded_object, &expected);
        assert_eq!(loaded_object.attributes.len(), sent_object.attributes.len());
        for (loaded_attribute, sent_attribute) in
            loaded_object.attributes.iter().zip(&sent_object.attributes)
        {
            assert_stored_attribute(loaded_attribute, sent_attribute, event_id, loaded_object.id);
        }
    }
    assert!(loaded.objects[0].id < loaded.objects[1].id);
    let file = &loaded.objects[0];
    let host = &loaded.objects[1];
    assert!(host.references.is_empty());
    let resolved: Vec<(&str, &str, i64, ReferencedType)> = file
        .references
        .iter()
        .map(|r| {
            (
                r.relationship_type.as_str(),
                r.referenced_uuid.as_str(),
                r.referenced_id,
                r.referenced_type,
            )
        })
        .collect();
    assert_eq!(
        resolved,
        [
            (
                "communicates-with",
                ip.uuid.as_str(),
                loaded.attributes[0].id,
                ReferencedType::Attribute
            ),
            (
                "downloaded-from",
                host.uuid.as_str(),
                host.id,
                ReferencedType::Object
            ),
            (
                "connects-to",
                host.attributes[1].uuid.as_str(),
                host.attributes[1].id,
                ReferencedType::Attribute
            ),
        ]
    );
    for (loaded_reference, sent_reference) in
        file.references.iter().zip(&sent.objects[0].references)
    {
        assert!(loaded_reference.id > 0);
        assert_eq!(loaded_reference.uuid, sent_reference.uuid);
        assert_eq!(loaded_reference.object_id, file.id);
        assert_eq!(loaded_reference.event_id, event_id);
        assert_eq!(loaded_reference.source_uuid, file.uuid);
        assert_eq!(loaded_reference.timestamp, T0);
        assert!(!loaded_reference.deleted);
    }

    // The same event by uuid (any case), its metadata alone, its id by uuid.
    let by_uuid = store
        .event(
            &Key::parse(&sent.uuid.to_uppercase()).unwrap(),
            &LoadOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(by_uuid, loaded);
    let meta = store.event_meta(&uuid_key(&sent.uuid)).await.unwrap();
    assert_eq!(meta, loaded_meta);
    assert_eq!(
        store.event_id_by_uuid(&sent.uuid).await.unwrap(),
        Some(event_id)
    );
    assert_eq!(store.event_id_by_uuid(&new_uuid()).await.unwrap(), None);
    assert!(matches!(
        store
            .event(&Key::Id(event_id + 1), &LoadOptions::default())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.event_meta(&uuid_key(&new_uuid())).await,
        Err(StoreError::NotFound)
    ));

    // A second event gets its own id and leaves the first alone.
    let other_id = store
        .insert_event(&event(acme.id, "other"), true)
        .await
        .unwrap();
    assert_ne!(other_id, event_id);
    assert_eq!(
        store
            .event(&Key::Id(event_id), &LoadOptions::default())
            .await
            .unwrap(),
        loaded
    );
}

pub async fn insert_event_captures_tags_by_name(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let mut existing = tag("TLP:GREEN");
    existing.colour = "#00ff00".into();
    let existing = store.create_tag(&existing).await.unwrap();
    let mut sent = event(acme.id, "capture");
    let mut recoloured = attached("tlp:green");
    recoloured.tag.colour = "#123456".into();
    sent.tags = vec![recoloured, attached("TLP:Green"), attached("brand-new")];
    let mut ip = ip_dst("192.0.2.1");
    ip.tags = vec![attached("Tlp:Green"), attached("new-attribute-tag")];
    sent.attributes.push(ip);
    let mut file = object(
        "file",
        vec![object_attribute("filename", "filename", "a.exe")],
    );
    file.attributes[0].tags = vec![attached("brand-new")];
    sent.objects.push(file);
    let event_id = store.insert_event(&sent, true).await.unwrap();

    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(
        tag_names(&loaded.tags),
        ["TLP:GREEN", "brand-new"],
        "captured once, stored name"
    );
    assert_eq!(
        loaded.tags[0].tag, existing,
        "the existing tag is not changed"
    );
    assert_eq!(
        tag_names(&loaded.attributes[0].tags),
        ["TLP:GREEN", "new-attribute-tag"]
    );
    assert_eq!(
        tag_names(&loaded.objects[0].attributes[0].tags),
        ["brand-new"]
    );
    assert_eq!(
        loaded.objects[0].attributes[0].tags[0].tag.id,
        loaded.tags[1].tag.id
    );
    assert_eq!(support::count(&store, "tags").await, 3);
    let created = store
        .tag_by_name("new-attribute-tag")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.colour, "#336699");
}

pub async fn insert_event_skips_unknown_tags_without_permission(store: Store) {
    let acme = create_org(&store, "ACME").await;
    store.create_tag(&tag("known")).await.unwrap();
    let mut sent = event(acme.id, "no tag creation");
    sent.tags = vec![attached("unknown-event-tag"), attached("KNOWN")];
    let mut ip = ip_dst("192.0.2.1");
    ip.tags = vec![attached("unknown-attribute-tag"), attached("known")];
    sent.attributes.push(ip);
    let mut file = object(
        "file",
        vec![object_attribute("filename", "filename", "a.exe")],
    );
    file.attributes[0].tags = vec![attached("unknown-object-tag")];
    sent.objects.push(file);
    let event_id = store.insert_event(&sent, false).await.unwrap();

    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(tag_names(&loaded.tags), ["known"]);
    assert_eq!(tag_names(&loaded.attributes[0].tags), ["known"]);
    assert!(loaded.objects[0].attributes[0].tags.is_empty());
    assert_eq!(support::count(&store, "tags").await, 1);
    for name in [
        "unknown-event-tag",
        "unknown-attribute-tag",
        "unknown-object-tag",
    ] {
        assert_eq!(store.tag_by_name(name).await.unwrap(), None, "{name}");
    }
}

pub async fn duplicate_event_uuid_is_a_conflict(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let first = event(acme.id, "first");
    let first_id = store.insert_event(&first, true).await.unwrap();
    let before = footprint(&store).await;

    let mut second = event(acme.id, "second");
    second.uuid = first.uuid.clone();
    second.tags = vec![attached("fresh")];
    second.attributes.push(ip_dst("192.0.2.1"));
    let result = store.insert_event(&second, true).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(footprint(&store).await, before);
    assert_eq!(
        store.event_id_by_uuid(&first.uuid).await.unwrap(),
        Some(first_id)
    );
    assert_eq!(
        store.event_meta(&Key::Id(first_id)).await.unwrap().info,
        "first"
    );
}

pub async fn attribute_uuid_conflict_rolls_back_the_whole_event(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let taken = ip_dst("192.0.2.1");
    let mut first = event(acme.id, "first");
    first.attributes.push(taken.clone());
    let first_id = store.insert_event(&first, true).await.unwrap();
    let before = footprint(&store).await;
    assert_eq!(before, [1, 1, 0, 0, 0, 0, 0, 0]);

    // The clash comes last, after an attribute with a new tag, an object, a reference and
    // event tags have been written in the same transaction.
    let mut second = event(acme.id, "second");
    second.tags = vec![attached("fresh-event-tag")];
    let mut tagged = domain("example.org");
    tagged.tags = vec![attached("fresh-attribute-tag")];
    second.attributes.push(tagged.clone());
    let mut ok = object(
        "file",
        vec![object_attribute("filename", "filename", "ok.exe")],
    );
    ok.references.push(reference(0, &tagged.uuid, "related-to"));
    let clash = object(
        "file",
        vec![Attribute {
            uuid: taken.uuid.clone(),
            ..object_attribute("filename", "filename", "x")
        }],
    );
    second.objects = vec![ok, clash];
    let result = store.insert_event(&second, true).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(
        footprint(&store).await,
        before,
        "nothing of the event may remain"
    );
    assert_eq!(store.event_id_by_uuid(&second.uuid).await.unwrap(), None);
    assert!(matches!(
        store.attribute(&uuid_key(&tagged.uuid), true).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.tag_by_name("fresh-attribute-tag").await.unwrap(),
        None
    );
    assert_eq!(store.tag_by_name("fresh-event-tag").await.unwrap(), None);
    assert_eq!(
        store
            .attribute(&uuid_key(&taken.uuid), false)
            .await
            .unwrap()
            .event_id,
        first_id
    );

    // A top-level clash in the middle of the attribute list.
    let mut third = event(acme.id, "third");
    third.attributes = vec![domain("a.example"), taken.clone(), domain("b.example")];
    let result = store.insert_event(&third, true).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(footprint(&store).await, before);

    // Without the clash the same event goes in: no leftovers stand in its way.
    second.objects[1].attributes[0].uuid = new_uuid();
    let second_id = store.insert_event(&second, true).await.unwrap();
    let loaded = store
        .event(&Key::Id(second_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(loaded.attribute_count, 3);
    assert_eq!(tag_names(&loaded.tags), ["fresh-event-tag"]);
}

pub async fn object_uuid_conflict_rolls_back_the_whole_event(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let mut first = event(acme.id, "first");
    let mut taken = object(
        "file",
        vec![object_attribute("filename", "filename", "a.exe")],
    );
    taken
        .references
        .push(reference(0, &new_uuid(), "related-to"));
    first.objects.push(taken.clone());
    store.insert_event(&first, true).await.unwrap();
    let before = footprint(&store).await;
    assert_eq!(before, [1, 1, 1, 1, 0, 0, 0, 0]);

    let mut second = event(acme.id, "object clash");
    second.tags = vec![attached("fresh")];
    let mut tagged = ip_dst("192.0.2.1");
    tagged.tags = vec![attached("fresh-attribute-tag")];
    second.attributes.push(tagged);
    second.objects = vec![
        object(
            "file",
            vec![object_attribute("filename", "filename", "b.exe")],
        ),
        MispObject {
            uuid: taken.uuid.clone(),
            ..object(
                "file",
                vec![object_attribute("filename", "filename", "c.exe")],
            )
        },
    ];
    let result = store.insert_event(&second, true).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(footprint(&store).await, before);

    // A reference uuid that is taken.
    let mut third = event(acme.id, "reference clash");
    let mut with_reference = object(
        "file",
        vec![object_attribute("filename", "filename", "d.exe")],
    );
    with_reference
        .references
        .push(reference(0, &taken.uuid, "related-to"));
    with_reference.references[0].uuid = taken.references[0].uuid.clone();
    third.objects.push(with_reference);
    let result = store.insert_event(&third, true).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(footprint(&store).await, before);
}

pub async fn duplicate_uuid_within_one_event_is_a_conflict(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let mut twice = event(acme.id, "twice");
    let ip = ip_dst("192.0.2.1");
    twice.attributes = vec![
        ip.clone(),
        Attribute {
            value1: "192.0.2.2".into(),
            ..ip.clone()
        },
    ];
    let result = store.insert_event(&twice, true).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");

    let mut across = event(acme.id, "across");
    across.attributes = vec![ip.clone()];
    across.objects = vec![object(
        "ip-port",
        vec![Attribute {
            object_relation: Some("ip".into()),
            ..ip.clone()
        }],
    )];
    let result = store.insert_event(&across, true).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(footprint(&store).await, [0; 8]);
}

pub async fn set_published_sets_the_publish_timestamp(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let event_id = store
        .insert_event(&event(acme.id, "publish me"), true)
        .await
        .unwrap();
    let meta = store.event_meta(&Key::Id(event_id)).await.unwrap();
    assert_eq!((meta.published, meta.publish_timestamp), (false, 0));

    store.set_published(event_id, true, T0 + 500).await.unwrap();
    let meta = store.event_meta(&Key::Id(event_id)).await.unwrap();
    assert_eq!(
        (meta.published, meta.publish_timestamp, meta.timestamp),
        (true, T0 + 500, T0)
    );

    store
        .set_published(event_id, false, T0 + 600)
        .await
        .unwrap();
    let meta = store.event_meta(&Key::Id(event_id)).await.unwrap();
    assert_eq!(
        (meta.published, meta.publish_timestamp),
        (false, T0 + 500),
        "last publication kept"
    );

    assert!(matches!(
        store.set_published(event_id + 1, true, T0).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn update_event_writes_scalar_fields(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let circl = create_org(&store, "CIRCL").await;
    let mut sent = event(acme.id, "before");
    sent.attributes.push(ip_dst("192.0.2.1"));
    let event_id = store.insert_event(&sent, true).await.unwrap();
    let mut edited = store.event_meta(&Key::Id(event_id)).await.unwrap();
    edited.info = "after".into();
    edited.date = date!(2020 - 02 - 29);
    edited.threat_level = ThreatLevel::Low;
    edited.analysis = Analysis::Completed;
    edited.distribution = Distribution::AllCommunities;
    edited.published = true;
    edited.publish_timestamp = T0 + 1;
    edited.timestamp = T0 + 2;
    edited.sighting_timestamp = T0 + 3;
    edited.orgc_id = circl.id;
    edited.locked = true;
    edited.proposal_email_lock = true;
    edited.disable_correlation = true;
    edited.extends_uuid = new_uuid();
    edited.protected = Some(true);
    store.update_event(&edited).await.unwrap();
    let loaded = store.event_meta(&Key::Id(event_id)).await.unwrap();
    assert_eq!(
        loaded,
        Event {
            orgc: Some(circl),
            ..edited.clone()
        }
    );
    assert_eq!(loaded.attribute_count, 1);

    let missing = Event {
        id: event_id + 1,
        ..edited
    };
    assert!(matches!(
        store.update_event(&missing).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn delete_event_removes_everything_and_blocklists(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let circl = create_org(&store, "CIRCL").await;
    let mut doomed = event(acme.id, "doomed event");
    doomed.orgc_id = circl.id;
    doomed.tags = vec![attached("tlp:red")];
    let mut ip = ip_dst("192.0.2.1");
    ip.tags = vec![attached("malicious")];
    doomed.attributes.push(ip.clone());
    let mut file = object(
        "file",
        vec![object_attribute("filename", "filename", "a.exe")],
    );
    file.attributes[0].tags = vec![attached("malicious")];
    file.references.push(reference(0, &ip.uuid, "related-to"));
    doomed.objects.push(file.clone());
    let doomed_id = store.insert_event(&doomed, true).await.unwrap();
    let kept_id = store
        .insert_event(&event(acme.id, "kept"), true)
        .await
        .unwrap();
    let ip_id = store
        .attribute(&uuid_key(&ip.uuid), false)
        .await
        .unwrap()
        .id;
    support::execute(
        &store,
        &[format!(
            "INSERT INTO sightings (uuid, attribute_id, event_id, org_id, date_sighting, source, type) \
             VALUES ('{}', {ip_id}, {doomed_id}, {}, {T0}, 'sensor', 0)",
            new_uuid(),
            acme.id
        )],
    )
    .await;
    assert_eq!(footprint(&store).await, [2, 2, 1, 1, 2, 1, 2, 1]);

    let meta = store.event_meta(&Key::Id(doomed_id)).await.unwrap();
    store.delete_event(&meta, true, T0 + 100).await.unwrap();
    assert!(matches!(
        store.event_meta(&Key::Id(doomed_id)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .event(
                &uuid_key(&doomed.uuid),
                &LoadOptions {
                    include_deleted: true,
                    viewer_org: None
                }
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.attribute(&uuid_key(&ip.uuid), true).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.object(&uuid_key(&file.uuid), true).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        footprint(&store).await,
        [1, 0, 0, 0, 2, 0, 0, 0],
        "tags themselves stay"
    );
    assert!(store.is_event_blocklisted(&doomed.uuid).await.unwrap());
    let remembered = support::scalar(
        &store,
        &format!(
            "SELECT COUNT(*) FROM event_blocklists WHERE event_uuid = '{}' AND event_info = 'doomed event' \
             AND event_orgc = 'CIRCL' AND created = {}",
            doomed.uuid,
            T0 + 100
        ),
    )
    .await;
    assert_eq!(remembered, 1);

    let kept = store.event_meta(&Key::Id(kept_id)).await.unwrap();
    assert!(!store.is_event_blocklisted(&kept.uuid).await.unwrap());
    store.delete_event(&kept, false, T0 + 200).await.unwrap();
    assert!(!store.is_event_blocklisted(&kept.uuid).await.unwrap());
    assert!(matches!(
        store.delete_event(&kept, true, T0 + 300).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        !store.is_event_blocklisted(&kept.uuid).await.unwrap(),
        "a failed delete blocklists nothing"
    );
    assert_eq!(support::count(&store, "event_blocklists").await, 1);
    assert_eq!(support::count(&store, "events").await, 0);
}

pub async fn apply_event_changes_writes_everything_at_once(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let mut sent = event(acme.id, "before");
    sent.published = true;
    let a1 = ip_dst("192.0.2.1");
    sent.attributes.push(a1.clone());
    sent.objects.push(object(
        "file",
        vec![object_attribute("filename", "filename", "a.exe")],
    ));
    let event_id = store.insert_event(&sent, true).await.unwrap();
    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();

    let mut scalars = loaded.clone();
    scalars.info = "after".into();
    scalars.timestamp = T0 + 50;
    scalars.published = false;
    let mut a2 = domain("new.example");
    a2.tags = vec![attached("new-attribute-tag")];
    let mut a1_edited = loaded.attributes[0].clone();
    a1_edited.value1 = "192.0.2.99".into();
    a1_edited.to_ids = false;
    a1_edited.timestamp = T0 + 50;
    a1_edited.tags = vec![attached("edited-tag")];
    let mut o2 = object(
        "domain-ip",
        vec![object_attribute("domain", "domain", "new.example")],
    );
    o2.references.push(reference(0, &a1.uuid, "resolves-to"));
    let mut o1_edited = loaded.objects[0].clone();
    o1_edited.comment = "edited".into();
    o1_edited.timestamp = T0 + 50;
    o1_edited.attributes.clear();
    let mut o1_reference = reference(loaded.objects[0].id, &a2.uuid, "contacts");
    o1_reference.source_uuid = loaded.objects[0].uuid.clone();
    let changes = EventChanges {
        event: scalars,
        new_attributes: vec![a2.clone()],
        updated_attributes: vec![a1_edited.clone()],
        new_objects: vec![o2.clone()],
        updated_objects: vec![o1_edited.clone()],
        new_references: vec![o1_reference.clone()],
        add_event_tags: vec![attached("tlp:amber")],
        may_create_tags: true,
    };
    store.apply_event_changes(&changes).await.unwrap();

    let after = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(after.info, "after");
    assert_eq!((after.timestamp, after.published), (T0 + 50, false));
    assert_eq!(after.attribute_count, 4);
    assert_eq!(tag_names(&after.tags), ["tlp:amber"]);
    assert_eq!(after.attributes.len(), 2);
    assert_stored_attribute(&after.attributes[0], &a1_edited, event_id, 0);
    assert_eq!(after.attributes[0].id, loaded.attributes[0].id);
    assert_stored_attribute(&after.attributes[1], &a2, event_id, 0);

    assert_eq!(after.objects.len(), 2);
    let o1 = &after.objects[0];
    assert_eq!((o1.comment.as_str(), o1.timestamp), ("edited", T0 + 50));
    assert_eq!(
        o1.attributes, loaded.objects[0].attributes,
        "object attributes untouched"
    );
    assert_eq!(o1.references.len(), 1);
    assert_eq!(o1.references[0].uuid, o1_reference.uuid);
    assert_eq!(
        (
            o1.references[0].referenced_id,
            o1.references[0].referenced_type
        ),
        (after.attributes[1].id, ReferencedType::Attribute),
        "resolved against an attribute added in the same change"
    );
    let new_object = &after.objects[1];
    assert_eq!(new_object.uuid, o2.uuid);
    assert_stored_attribute(
        &new_object.attributes[0],
        &o2.attributes[0],
        event_id,
        new_object.id,
    );
    assert_eq!(
        new_object.references[0].referenced_id,
        after.attributes[0].id
    );
    assert_eq!(new_object.references[0].source_uuid, o2.uuid);
}

pub async fn apply_event_changes_is_all_or_nothing(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let mut other = event(acme.id, "other");
    let taken = ip_dst("203.0.113.1");
    other.attributes.push(taken.clone());
    store.insert_event(&other, true).await.unwrap();
    let mut sent = event(acme.id, "before");
    sent.attributes.push(ip_dst("192.0.2.1"));
    let event_id = store.insert_event(&sent, true).await.unwrap();
    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    let before = footprint(&store).await;

    let mut scalars = loaded.clone();
    scalars.info = "after".into();
    scalars.timestamp = T0 + 50;
    let mut edited = loaded.attributes[0].clone();
    edited.value1 = "192.0.2.99".into();
    edited.tags = vec![attached("edited-tag")];
    let mut fresh = domain("fresh.example");
    fresh.tags = vec![attached("fresh-tag")];
    let clash = object(
        "file",
        vec![Attribute {
            uuid: taken.uuid.clone(),
            ..object_attribute("filename", "filename", "x")
        }],
    );
    let changes = EventChanges {
        event: scalars.clone(),
        new_attributes: vec![fresh.clone()],
        updated_attributes: vec![edited.clone()],
        new_objects: vec![clash],
        updated_objects: Vec::new(),
        new_references: Vec::new(),
        add_event_tags: vec![attached("event-tag")],
        may_create_tags: true,
    };
    let result = store.apply_event_changes(&changes).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(footprint(&store).await, before);
    assert_eq!(
        store
            .event(&Key::Id(event_id), &LoadOptions::default())
            .await
            .unwrap(),
        loaded
    );

    // Updating an attribute that does not exist.
    let mut ghost = edited.clone();
    ghost.id = 999_999;
    let changes = EventChanges {
        event: scalars.clone(),
        new_attributes: vec![fresh.clone()],
        updated_attributes: vec![ghost],
        new_objects: Vec::new(),
        updated_objects: Vec::new(),
        new_references: Vec::new(),
        add_event_tags: Vec::new(),
        may_create_tags: true,
    };
    assert!(matches!(
        store.apply_event_changes(&changes).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(footprint(&store).await, before);
    assert_eq!(
        store
            .event(&Key::Id(event_id), &LoadOptions::default())
            .await
            .unwrap(),
        loaded
    );

    // An event that does not exist.
    let changes = EventChanges {
        event: Event {
            id: 999_999,
            ..scalars
        },
        new_attributes: vec![fresh],
        updated_attributes: Vec::new(),
        new_objects: Vec::new(),
        updated_objects: Vec::new(),
        new_references: Vec::new(),
        add_event_tags: Vec::new(),
        may_create_tags: true,
    };
    assert!(matches!(
        store.apply_event_changes(&changes).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(footprint(&store).await, before);
}
