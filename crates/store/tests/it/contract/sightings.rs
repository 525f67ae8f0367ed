//! Sightings: one expiration per organisation and attribute, sighting by value, MISP's
//! default sighting policy, restSearch filters, counts and deletes.

use crate::fixtures::{
    T0, attribute, create_org, domain, event, ip_dst, new_uuid, object, object_attribute,
};
use crate::support::count;
use kizuna_model::access::Viewer;
use kizuna_model::{Distribution, Event, Organisation, Sighting, SightingType};
use kizuna_store::{Key, LoadOptions, SightableAttribute, SightingFilter, Store, StoreError};

async fn viewer_of(store: &Store, org: &Organisation) -> Viewer {
    Viewer::organisation(
        org.id,
        store.authorised_sharing_groups(org.id).await.unwrap(),
    )
}

fn sighting(attribute_id: i64, event_id: i64, org_id: i64, kind: SightingType) -> Sighting {
    Sighting {
        id: 0,
        uuid: new_uuid(),
        attribute_id,
        event_id,
        org_id,
        date_sighting: T0,
        source: String::new(),
        sighting_type: kind,
    }
}

/// Stores `sent` and returns it as loaded, with ids.
async fn stored(store: &Store, sent: &Event) -> Event {
    let id = store.insert_event(sent, true).await.unwrap();
    store
        .event(&Key::Id(id), &LoadOptions::default())
        .await
        .unwrap()
}

fn ids(found: &[SightableAttribute]) -> Vec<i64> {
    found.iter().map(|hit| hit.attribute_id).collect()
}

async fn add_one(store: &Store, sighting: Sighting) -> Sighting {
    store.add_sightings(&[sighting]).await.unwrap().remove(0)
}

pub async fn expiration_replaces_the_organisations_previous_one(store: Store) {
    let owner = create_org(&store, "Owner").await;
    let other = create_org(&store, "Other").await;
    let mut sent = event(owner.id, "sighted");
    sent.attributes = vec![ip_dst("10.9.0.1")];
    let loaded = stored(&store, &sent).await;
    let (attribute_id, event_id) = (loaded.attributes[0].id, loaded.id);

    let first = add_one(
        &store,
        sighting(attribute_id, event_id, owner.id, SightingType::Sighting),
    )
    .await;
    assert!(first.id > 0);
    let expiry = |org_id: i64, when: i64| Sighting {
        date_sighting: when,
        ..sighting(attribute_id, event_id, org_id, SightingType::Expiration)
    };
    add_one(&store, expiry(owner.id, T0 + 10)).await;
    add_one(&store, expiry(other.id, T0 + 20)).await;
    let replacement = add_one(&store, expiry(owner.id, T0 + 30)).await;

    let all = store
        .list_sightings(&SightingFilter::default(), &Viewer::SiteAdmin)
        .await
        .unwrap();
    let expirations: Vec<(i64, i64)> = all
        .iter()
        .filter(|details| details.sighting.sighting_type == SightingType::Expiration)
        .map(|details| (details.sighting.org_id, details.sighting.date_sighting))
        .collect();
    assert_eq!(expirations, [(other.id, T0 + 20), (owner.id, T0 + 30)]);
    assert_eq!(all.len(), 3, "plain sightings are kept");
    assert_eq!(
        store.sighting(&Key::Id(replacement.id)).await.unwrap(),
        replacement
    );
    assert_eq!(
        store
            .sighting(&Key::Uuid(replacement.uuid.clone()))
            .await
            .unwrap(),
        replacement
    );

    let duplicate = Sighting {
        uuid: first.uuid.clone(),
        ..sighting(attribute_id, event_id, owner.id, SightingType::Sighting)
    };
    let fresh = sighting(attribute_id, event_id, owner.id, SightingType::Sighting);
    assert!(matches!(
        store.add_sightings(&[fresh, duplicate]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(count(&store, "sightings").await, 3, "all or nothing");
}

pub async fn sighting_by_value_finds_visible_live_attributes(store: Store) {
    let owner = create_org(&store, "Owner").await;
    let stranger = create_org(&store, "Stranger").await;
    let mut shared = event(owner.id, "community");
    let mut hidden = ip_dst("203.0.113.7");
    hidden.distribution = Distribution::OrganisationOnly;
    let mut deleted = ip_dst("203.0.113.7");
    deleted.deleted = true;
    let deleted_uuid = deleted.uuid.clone();
    let mut private_object = object(
        "ip-port",
        vec![object_attribute("ip", "ip-dst", "203.0.113.7")],
    );
    private_object.distribution = Distribution::OrganisationOnly;
    shared.attributes = vec![
        domain("Example.ORG"),
        attribute("ip-dst|port", "Network activity", "203.0.113.7", "443"),
        hidden,
        deleted,
        ip_dst("198.51.100.1"),
    ];
    shared.objects = vec![private_object];
    let shared = stored(&store, &shared).await;
    let mut private = event(owner.id, "org only");
    private.distribution = Distribution::OrganisationOnly;
    private.attributes = vec![ip_dst("203.0.113.7")];
    let private = stored(&store, &private).await;

    let by_value = |values: &[&str], viewer: Viewer| {
        let store = store.clone();
        let values: Vec<String> = values.iter().map(|value| value.to_string()).collect();
        async move {
            store
                .sightable_attributes_by_value(&values, &viewer)
                .await
                .unwrap()
        }
    };
    let composite = shared.attributes[1].id;
    let hidden = shared.attributes[2].id;
    let in_object = shared.objects[0].attributes[0].id;
    let org_only_event = private.attributes[0].id;

    let everything = by_value(&["203.0.113.7"], Viewer::SiteAdmin).await;
    assert_eq!(
        ids(&everything),
        [composite, hidden, in_object, org_only_event],
        "value2 matches, deleted attributes never do"
    );
    assert!(everything.iter().all(|hit| hit.event_id
        == if hit.attribute_id == org_only_event {
            private.id
        } else {
            shared.id
        }));
    assert_eq!(
        ids(&by_value(&["203.0.113.7"], viewer_of(&store, &owner).await).await),
        ids(&everything)
    );
    assert_eq!(
        ids(&by_value(&["203.0.113.7"], viewer_of(&store, &stranger).await).await),
        [composite]
    );
    assert_eq!(
        ids(&by_value(&["example.org", "443", "", "nothing"], Viewer::SiteAdmin).await),
        [shared.attributes[0].id, composite],
        "case-insensitive, on value1 and value2"
    );

    let deleted = store
        .attribute(&Key::Uuid(deleted_uuid), true)
        .await
        .unwrap();
    assert!(deleted.deleted);
    let plain = &shared.attributes[3];
    let keys = [
        Key::Id(hidden),
        Key::Uuid(plain.uuid.clone()),
        Key::Id(deleted.id),
        Key::Id(999_999),
    ];
    assert_eq!(
        ids(&store
            .sightable_attributes_by_key(&keys, &Viewer::SiteAdmin)
            .await
            .unwrap()),
        [hidden, plain.id]
    );
    assert_eq!(
        ids(&store
            .sightable_attributes_by_key(&keys, &viewer_of(&store, &stranger).await)
            .await
            .unwrap()),
        [plain.id]
    );
}

pub async fn listing_follows_the_default_sighting_policy(store: Store) {
    let owner = create_org(&store, "Owner").await;
    let reporter = create_org(&store, "Reporter").await;
    let stranger = create_org(&store, "Stranger").await;
    let mut sent = event(owner.id, "policy");
    let mut hidden = ip_dst("10.0.0.2");
    hidden.distribution = Distribution::OrganisationOnly;
    sent.attributes = vec![ip_dst("10.0.0.1"), hidden];
    let loaded = stored(&store, &sent).await;
    let (visible_id, hidden_id) = (loaded.attributes[0].id, loaded.attributes[1].id);
    for org in [&owner, &reporter, &stranger] {
        add_one(
            &store,
            sighting(visible_id, loaded.id, org.id, SightingType::Sighting),
        )
        .await;
    }
    add_one(
        &store,
        sighting(hidden_id, loaded.id, owner.id, SightingType::FalsePositive),
    )
    .await;

    let reporters = |viewer: Viewer| {
        let store = store.clone();
        let event_id = loaded.id;
        async move {
            let filter = SightingFilter {
                event_ids: vec![event_id],
                ..SightingFilter::default()
            };
            store
                .list_sightings(&filter, &viewer)
                .await
                .unwrap()
                .into_iter()
                .map(|details| {
                    (
                        details.sighting.attribute_id,
                        details.reporter.map(|org| org.name).unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let all = vec![
        (visible_id, "Owner".to_string()),
        (visible_id, "Reporter".to_string()),
        (visible_id, "Stranger".to_string()),
        (hidden_id, "Owner".to_string()),
    ];
    assert_eq!(reporters(Viewer::SiteAdmin).await, all);
    assert_eq!(
        reporters(viewer_of(&store, &owner).await).await,
        all,
        "the event's owner sees every sighting"
    );
    assert_eq!(
        reporters(viewer_of(&store, &reporter).await).await,
        [(visible_id, "Reporter".to_string())],
        "others see their own only"
    );
    let nobody = create_org(&store, "Nobody").await;
    assert!(reporters(viewer_of(&store, &nobody).await).await.is_empty());

    let details = store
        .list_sightings(
            &SightingFilter {
                attribute_ids: vec![visible_id],
                ..SightingFilter::default()
            },
            &viewer_of(&store, &reporter).await,
        )
        .await
        .unwrap();
    let only = &details[0];
    assert_eq!(only.attribute.uuid, loaded.attributes[0].uuid);
    assert_eq!(only.attribute.value, "10.0.0.1");
    assert_eq!(only.attribute.attr_type, "ip-dst");
    assert!(only.attribute.to_ids);
    assert_eq!(only.event.uuid, loaded.uuid);
    assert_eq!(only.event.org_id, owner.id);
    assert_eq!(only.event.orgc_id, owner.id);
    assert_eq!(only.event.orgc_name, "Owner");
    assert_eq!(only.event.info, "policy");

    let counts = store
        .sighting_counts(&[visible_id, hidden_id], &viewer_of(&store, &owner).await)
        .await
        .unwrap();
    assert_eq!(counts[&visible_id].sightings, 3);
    assert_eq!(counts[&hidden_id].false_positives, 1);
    let counts = store
        .sighting_counts(
            &[visible_id, hidden_id],
            &viewer_of(&store, &stranger).await,
        )
        .await
        .unwrap();
    assert_eq!(counts[&visible_id].sightings, 1);
    assert!(!counts.contains_key(&hidden_id));
}

pub async fn listing_filters_like_rest_search(store: Store) {
    let owner = create_org(&store, "Owner").await;
    let other = create_org(&store, "Other").await;
    let mut first = event(owner.id, "first");
    first.attributes = vec![ip_dst("10.1.0.1"), ip_dst("10.1.0.2")];
    let first = stored(&store, &first).await;
    let mut second = event(owner.id, "second");
    second.attributes = vec![domain("second.example")];
    let second = stored(&store, &second).await;
    let a = first.attributes[0].id;
    let b = first.attributes[1].id;
    let c = second.attributes[0].id;
    let mut batch = vec![
        Sighting {
            source: "Sensor-A".into(),
            date_sighting: T0 - 100,
            ..sighting(a, first.id, owner.id, SightingType::Sighting)
        },
        Sighting {
            source: "sensor-b".into(),
            date_sighting: T0,
            ..sighting(b, first.id, other.id, SightingType::FalsePositive)
        },
        Sighting {
            date_sighting: T0 + 100,
            ..sighting(c, second.id, other.id, SightingType::Sighting)
        },
    ];
    batch = store.add_sightings(&batch).await.unwrap();
    let list = |filter: SightingFilter| {
        let store = store.clone();
        async move {
            store
                .list_sightings(&filter, &Viewer::SiteAdmin)
                .await
                .unwrap()
                .into_iter()
                .map(|details| details.sighting.id)
                .collect::<Vec<_>>()
        }
    };
    let [sa, sb, sc] = [batch[0].id, batch[1].id, batch[2].id];
    assert_eq!(list(SightingFilter::default()).await, [sa, sb, sc]);
    assert_eq!(
        list(SightingFilter {
            newest_first: true,
            ..SightingFilter::default()
        })
        .await,
        [sc, sb, sa]
    );
    assert_eq!(
        list(SightingFilter {
            types: vec![SightingType::FalsePositive],
            ..SightingFilter::default()
        })
        .await,
        [sb]
    );
    assert_eq!(
        list(SightingFilter {
            sources: vec!["SENSOR-a".into(), "sensor-B".into()],
            ..SightingFilter::default()
        })
        .await,
        [sa, sb]
    );
    assert_eq!(
        list(SightingFilter {
            org_ids: vec![other.id],
            ..SightingFilter::default()
        })
        .await,
        [sb, sc]
    );
    assert_eq!(
        list(SightingFilter {
            excluded_org_ids: vec![other.id],
            ..SightingFilter::default()
        })
        .await,
        [sa]
    );
    assert_eq!(
        list(SightingFilter {
            date_from: Some(T0),
            date_to: Some(T0 + 50),
            ..SightingFilter::default()
        })
        .await,
        [sb]
    );
    assert_eq!(
        list(SightingFilter {
            event_uuids: vec![second.uuid.clone()],
            ..SightingFilter::default()
        })
        .await,
        [sc]
    );
    assert_eq!(
        list(SightingFilter {
            attribute_uuids: vec![first.attributes[1].uuid.clone()],
            ..SightingFilter::default()
        })
        .await,
        [sb]
    );
    assert_eq!(
        list(SightingFilter {
            event_ids: vec![first.id],
            attribute_ids: vec![c],
            ..SightingFilter::default()
        })
        .await,
        Vec::<i64>::new(),
        "fields are all required"
    );

    // Soft-deleting an attribute hides its sightings unless asked for; deleting one
    // sighting removes it for good.
    let deleted = store.attribute(&Key::Id(a), false).await.unwrap();
    store
        .delete_attribute(&deleted, false, T0 + 200)
        .await
        .unwrap();
    assert_eq!(list(SightingFilter::default()).await, [sb, sc]);
    assert_eq!(
        list(SightingFilter {
            include_deleted_attributes: true,
            ..SightingFilter::default()
        })
        .await,
        [sa, sb, sc]
    );
    store.delete_sighting(sb).await.unwrap();
    assert!(matches!(
        store.delete_sighting(sb).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.sighting(&Key::Id(sb)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(list(SightingFilter::default()).await, [sc]);
}
