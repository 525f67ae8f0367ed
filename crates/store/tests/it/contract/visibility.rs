//! Item-level distribution inside one event (`LoadOptions::viewer_org`).

use crate::fixtures::{
    attached, create_org, create_sharing_group, event, ip_dst, object, object_attribute,
};
use kizuna_model::{Attribute, Distribution, Event};
use kizuna_store::{Key, LoadOptions, Store};

fn shared(
    mut attribute: Attribute,
    distribution: Distribution,
    sharing_group_id: i64,
) -> Attribute {
    attribute.distribution = distribution;
    attribute.sharing_group_id = sharing_group_id;
    attribute
}

fn values(event: &Event) -> Vec<&str> {
    event.attributes.iter().map(|a| a.value1.as_str()).collect()
}

/// (object name, values of its attributes) of every object.
fn objects(event: &Event) -> Vec<(&str, Vec<&str>)> {
    event
        .objects
        .iter()
        .map(|o| {
            (
                o.name.as_str(),
                o.attributes.iter().map(|a| a.value1.as_str()).collect(),
            )
        })
        .collect()
}

pub async fn viewer_org_hides_items_it_may_not_see(store: Store) {
    let viewer = create_org(&store, "Viewer").await;
    let owner = create_org(&store, "Owner").await;
    let third = create_org(&store, "Third").await;
    let with_viewer =
        create_sharing_group(&store, "with viewer", &owner, &[owner.id, viewer.id], false).await;
    let without_viewer = create_sharing_group(
        &store,
        "without viewer",
        &owner,
        &[owner.id, third.id],
        false,
    )
    .await;
    let open = create_sharing_group(&store, "open", &third, &[], true).await;

    let mut sent = event(owner.id, "mixed distribution");
    sent.distribution = Distribution::CommunityOnly;
    sent.tags = vec![attached("tlp:green")];
    sent.attributes = vec![
        shared(ip_dst("10.0.0.1"), Distribution::InheritEvent, 0),
        shared(ip_dst("10.0.0.2"), Distribution::OrganisationOnly, 0),
        shared(ip_dst("10.0.0.3"), Distribution::CommunityOnly, 0),
        shared(ip_dst("10.0.0.4"), Distribution::SharingGroup, with_viewer),
        shared(
            ip_dst("10.0.0.5"),
            Distribution::SharingGroup,
            without_viewer,
        ),
        shared(ip_dst("10.0.0.6"), Distribution::SharingGroup, open),
        shared(ip_dst("10.0.0.7"), Distribution::AllCommunities, 0),
    ];
    let mut org_only = object(
        "org-only",
        vec![object_attribute("ip", "ip-dst", "10.1.0.1")],
    );
    org_only.distribution = Distribution::OrganisationOnly;
    let mut outsiders = object(
        "without-viewer",
        vec![object_attribute("ip", "ip-dst", "10.2.0.1")],
    );
    outsiders.distribution = Distribution::SharingGroup;
    outsiders.sharing_group_id = without_viewer;
    let mut mixed = object(
        "mixed",
        vec![
            object_attribute("ip", "ip-dst", "10.3.0.1"),
            shared(
                object_attribute("ip", "ip-dst", "10.3.0.2"),
                Distribution::OrganisationOnly,
                0,
            ),
            shared(
                object_attribute("ip", "ip-dst", "10.3.0.3"),
                Distribution::SharingGroup,
                with_viewer,
            ),
        ],
    );
    mixed.distribution = Distribution::InheritEvent;
    let mut grouped = object(
        "with-viewer",
        vec![object_attribute("ip", "ip-dst", "10.4.0.1")],
    );
    grouped.distribution = Distribution::SharingGroup;
    grouped.sharing_group_id = with_viewer;
    sent.objects = vec![org_only, outsiders, mixed, grouped];
    let event_id = store.insert_event(&sent, true).await.unwrap();

    let load = |viewer_org: Option<i64>| {
        let store = store.clone();
        async move {
            store
                .event(
                    &Key::Id(event_id),
                    &LoadOptions {
                        include_deleted: false,
                        viewer_org,
                    },
                )
                .await
                .unwrap()
        }
    };
    let everything = load(None).await;
    assert_eq!(values(&everything).len(), 7);
    assert_eq!(everything.objects.len(), 4);
    assert_eq!(
        load(Some(owner.id)).await,
        everything,
        "the owner sees everything"
    );

    let seen = load(Some(viewer.id)).await;
    assert_eq!(
        values(&seen),
        ["10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.6", "10.0.0.7"]
    );
    assert_eq!(
        objects(&seen),
        [
            ("mixed", vec!["10.3.0.1", "10.3.0.3"]),
            ("with-viewer", vec!["10.4.0.1"])
        ]
    );
    assert_eq!(seen.tags, everything.tags);
    assert_eq!(seen.attribute_count, everything.attribute_count);

    let seen = load(Some(third.id)).await;
    assert_eq!(
        values(&seen),
        ["10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.6", "10.0.0.7"]
    );
    assert_eq!(
        objects(&seen),
        [
            ("without-viewer", vec!["10.2.0.1"]),
            ("mixed", vec!["10.3.0.1"])
        ]
    );

    let stranger = create_org(&store, "Stranger").await;
    let seen = load(Some(stranger.id)).await;
    assert_eq!(
        values(&seen),
        ["10.0.0.1", "10.0.0.3", "10.0.0.6", "10.0.0.7"]
    );
    assert_eq!(objects(&seen), [("mixed", vec!["10.3.0.1"])]);
}
