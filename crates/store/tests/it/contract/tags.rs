//! Tags: CRUD, case-insensitive names, usage counts, search, attachments.

use crate::fixtures::{T0, attached, create_org, domain, event, ip_dst, tag, tag_names, uuid_key};
use crate::support;
use kizuna_model::access::Viewer;
use kizuna_model::{AttachedTag, Tag};
use kizuna_store::{Key, LoadOptions, Store, StoreError, TagUsage};

pub async fn tags_create_read_update_delete(store: Store) {
    let mut wanted = tag("tlp:green");
    wanted.numerical_value = Some(3);
    wanted.is_galaxy = false;
    wanted.org_id = 2;
    let created = store.create_tag(&wanted).await.unwrap();
    assert!(created.id > 0);
    assert_eq!(
        Tag {
            id: 0,
            ..created.clone()
        },
        wanted
    );
    assert_eq!(store.tag(created.id).await.unwrap(), created);
    assert_eq!(
        store.tag_by_name("TLP:Green").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.tag_by_name("tlp").await.unwrap(), None);
    assert!(matches!(
        store.tag(created.id + 100).await,
        Err(StoreError::NotFound)
    ));

    let edited = Tag {
        name: "tlp:clear".into(),
        colour: "#ffffff".into(),
        exportable: false,
        hide_tag: true,
        numerical_value: None,
        local_only: true,
        ..created.clone()
    };
    assert_eq!(store.update_tag(&edited).await.unwrap(), edited);
    assert_eq!(store.tag(created.id).await.unwrap(), edited);
    assert_eq!(store.tag_by_name("tlp:green").await.unwrap(), None);
    let missing = Tag {
        id: created.id + 100,
        ..edited.clone()
    };
    assert!(matches!(
        store.update_tag(&missing).await,
        Err(StoreError::NotFound)
    ));

    // Deleting a tag detaches it everywhere.
    let acme = create_org(&store, "ACME").await;
    let mut with_tags = event(acme.id, "tagged");
    with_tags.tags = vec![attached("tlp:clear"), attached("keep")];
    let mut ip = ip_dst("192.0.2.1");
    ip.tags = vec![attached("TLP:CLEAR")];
    with_tags.attributes.push(ip.clone());
    let event_id = store.insert_event(&with_tags, false).await.unwrap();
    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(
        tag_names(&loaded.tags),
        ["tlp:clear"],
        "'keep' does not exist"
    );
    assert_eq!(tag_names(&loaded.attributes[0].tags), ["tlp:clear"]);

    store.delete_tag(created.id).await.unwrap();
    assert!(matches!(
        store.tag(created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_tag(created.id).await,
        Err(StoreError::NotFound)
    ));
    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert!(loaded.tags.is_empty());
    assert!(loaded.attributes[0].tags.is_empty());
    assert!(
        store
            .attribute(&uuid_key(&ip.uuid), false)
            .await
            .unwrap()
            .tags
            .is_empty()
    );
    assert_eq!(support::count(&store, "event_tags").await, 0);
    assert_eq!(support::count(&store, "attribute_tags").await, 0);
}

pub async fn tag_names_are_unique_case_insensitively(store: Store) {
    let phishing = store.create_tag(&tag("Phishing")).await.unwrap();
    let again = store.create_tag(&tag("phishing")).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let other = store.create_tag(&tag("Other")).await.unwrap();
    let renamed = store
        .update_tag(&Tag {
            name: "PHISHING".into(),
            ..other.clone()
        })
        .await;
    assert!(
        matches!(renamed, Err(StoreError::Conflict(_))),
        "{renamed:?}"
    );
    assert_eq!(store.tag(other.id).await.unwrap(), other);
    // Renaming a tag to a case variant of its own name is fine.
    let recased = Tag {
        name: "PHISHING".into(),
        ..phishing.clone()
    };
    assert_eq!(store.update_tag(&recased).await.unwrap(), recased);
    assert_eq!(support::count(&store, "tags").await, 2);
}

pub async fn tags_are_listed_with_usage_counts(store: Store) {
    let acme = create_org(&store, "ACME").await;
    store.create_tag(&tag("delta")).await.unwrap();
    let mut first = event(acme.id, "first");
    first.tags = vec![attached("alpha"), attached("bravo")];
    let mut ip = ip_dst("192.0.2.1");
    ip.tags = vec![attached("alpha")];
    let mut name = domain("example.org");
    name.tags = vec![attached("alpha"), attached("charlie")];
    first.attributes = vec![ip, name];
    store.insert_event(&first, true).await.unwrap();
    let mut second = event(acme.id, "second");
    second.tags = vec![attached("alpha")];
    store.insert_event(&second, true).await.unwrap();

    let listed: Vec<(String, TagUsage)> = store
        .list_tags(&Viewer::SiteAdmin)
        .await
        .unwrap()
        .into_iter()
        .map(|(tag, usage)| (tag.name, usage))
        .collect();
    let usage = |count, attribute_count| TagUsage {
        count,
        attribute_count,
    };
    assert_eq!(
        listed,
        [
            ("alpha".to_string(), usage(2, 2)),
            ("bravo".to_string(), usage(1, 0)),
            ("charlie".to_string(), usage(0, 1)),
            ("delta".to_string(), usage(0, 0)),
        ]
    );
}

pub async fn tags_are_searched_with_like_patterns(store: Store) {
    for name in [
        "tlp:white",
        "TLP:AMBER",
        "tlp-like",
        "misp-galaxy:threat-actor=\"Sofacy\"",
        "estimative-language:likelihood-probability=\"likely\"",
    ] {
        store.create_tag(&tag(name)).await.unwrap();
    }
    let search = |pattern: &'static str| {
        let store = store.clone();
        async move {
            store
                .search_tags(pattern)
                .await
                .unwrap()
                .into_iter()
                .map(|tag| tag.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("tlp:%").await, ["TLP:AMBER", "tlp:white"]);
    assert_eq!(search("TLP%").await, ["TLP:AMBER", "tlp-like", "tlp:white"]);
    assert_eq!(
        search("%galaxy%").await,
        ["misp-galaxy:threat-actor=\"Sofacy\""]
    );
    assert_eq!(
        search("%LIKEL%").await,
        ["estimative-language:likelihood-probability=\"likely\""]
    );
    assert_eq!(search("tlp:white").await, ["tlp:white"]);
    assert!(search("nothing%").await.is_empty());
}

pub async fn tag_attachments_touch_the_event_unless_local(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let global = store.create_tag(&tag("global")).await.unwrap();
    let local = store.create_tag(&tag("local")).await.unwrap();
    let mut wanted = event(acme.id, "tags");
    wanted.published = true;
    wanted.publish_timestamp = T0;
    let ip = ip_dst("192.0.2.1");
    wanted.attributes.push(ip.clone());
    let event_id = store.insert_event(&wanted, false).await.unwrap();
    let as_global = AttachedTag {
        tag: global.clone(),
        local: false,
        relationship_type: None,
    };
    let as_local = AttachedTag {
        tag: local.clone(),
        local: true,
        relationship_type: None,
    };
    let state = |store: Store| async move {
        let meta = store.event_meta(&Key::Id(event_id)).await.unwrap();
        (meta.timestamp, meta.published)
    };

    assert!(
        store
            .attach_event_tag(event_id, &as_global, T0 + 10)
            .await
            .unwrap()
    );
    assert_eq!(state(store.clone()).await, (T0 + 10, false));
    store.set_published(event_id, true, T0 + 11).await.unwrap();
    assert!(
        !store
            .attach_event_tag(event_id, &as_global, T0 + 12)
            .await
            .unwrap()
    );
    assert_eq!(
        state(store.clone()).await,
        (T0 + 10, true),
        "already attached"
    );
    assert!(
        store
            .attach_event_tag(event_id, &as_local, T0 + 13)
            .await
            .unwrap()
    );
    assert_eq!(
        state(store.clone()).await,
        (T0 + 10, true),
        "local tags change nothing"
    );
    let meta = store.event_meta(&Key::Id(event_id)).await.unwrap();
    assert_eq!(tag_names(&meta.tags), ["global", "local"]);
    assert_eq!(
        meta.tags.iter().map(|t| t.local).collect::<Vec<_>>(),
        [false, true]
    );

    assert!(
        store
            .detach_event_tag(event_id, local.id, T0 + 14)
            .await
            .unwrap()
    );
    assert_eq!(state(store.clone()).await, (T0 + 10, true));
    assert!(
        store
            .detach_event_tag(event_id, global.id, T0 + 15)
            .await
            .unwrap()
    );
    assert_eq!(state(store.clone()).await, (T0 + 15, false));
    assert!(
        !store
            .detach_event_tag(event_id, global.id, T0 + 16)
            .await
            .unwrap()
    );
    assert!(
        store
            .event_meta(&Key::Id(event_id))
            .await
            .unwrap()
            .tags
            .is_empty()
    );

    let attribute = store.attribute(&uuid_key(&ip.uuid), false).await.unwrap();
    store.set_published(event_id, true, T0 + 17).await.unwrap();
    assert!(
        store
            .attach_attribute_tag(event_id, attribute.id, &as_local, T0 + 18)
            .await
            .unwrap()
    );
    assert_eq!(state(store.clone()).await, (T0 + 15, true));
    assert!(
        store
            .attach_attribute_tag(event_id, attribute.id, &as_global, T0 + 19)
            .await
            .unwrap()
    );
    assert!(
        !store
            .attach_attribute_tag(event_id, attribute.id, &as_global, T0 + 20)
            .await
            .unwrap()
    );
    assert_eq!(state(store.clone()).await, (T0 + 19, false));
    let tagged = store
        .attribute(&Key::Id(attribute.id), false)
        .await
        .unwrap();
    assert_eq!(tagged.timestamp, T0 + 19);
    assert_eq!(tag_names(&tagged.tags), ["local", "global"]);

    assert!(
        store
            .detach_attribute_tag(event_id, attribute.id, global.id, T0 + 21)
            .await
            .unwrap()
    );
    assert!(
        !store
            .detach_attribute_tag(event_id, attribute.id, global.id, T0 + 22)
            .await
            .unwrap()
    );
    assert_eq!(state(store.clone()).await, (T0 + 21, false));
    let tagged = store
        .attribute(&Key::Id(attribute.id), false)
        .await
        .unwrap();
    assert_eq!(
        (tagged.timestamp, tag_names(&tagged.tags)),
        (T0 + 21, vec!["local"])
    );
}

/// Events pushed at the same time that bring the same new tag must all be stored, sharing
/// one tag (sync and PyMISP scripts push in parallel).
pub async fn concurrent_inserts_share_a_new_tag(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        let mut sent = event(acme.id, &format!("parallel {n}"));
        sent.tags = vec![attached("shared-new-tag")];
        let mut ip = ip_dst(&format!("192.0.2.{n}"));
        ip.tags = vec![attached("shared-new-attribute-tag")];
        sent.attributes.push(ip);
        tasks.push(tokio::spawn(async move {
            store.insert_event(&sent, true).await
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(error) = task.await.unwrap() {
            failures.push(error.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 8 inserts failed: {failures:?}",
        failures.len()
    );
    assert_eq!(support::count(&store, "tags").await, 2);
    assert_eq!(support::count(&store, "event_tags").await, 8);
    assert_eq!(support::count(&store, "attribute_tags").await, 8);
}
