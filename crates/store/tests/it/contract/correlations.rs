//! Correlations: computed from the value indexes the same way on every backend.

use crate::fixtures::{attribute, create_org, domain, event, ip_dst};
use kizuna_model::access::Viewer;
use kizuna_model::{Distribution, Event};
use kizuna_store::{Key, LoadOptions, Store};

async fn stored(store: &Store, sent: &Event) -> Event {
    let id = store.insert_event(sent, true).await.unwrap();
    store
        .event(&Key::Id(id), &LoadOptions::default())
        .await
        .unwrap()
}

pub async fn equal_values_correlate_across_events_up_to_the_cap(store: Store) {
    let org = create_org(&store, "Correlating").await;
    let mut first = event(org.id, "first");
    first.attributes = vec![
        domain("Shared.example"),
        attribute(
            "filename|md5",
            "Payload delivery",
            "a.exe",
            "d41d8cd98f00b204e9800998ecf8427e",
        ),
        ip_dst("192.0.2.10"),
        attribute("ip-dst|port", "Network activity", "192.0.2.77", "443"),
    ];
    let first = stored(&store, &first).await;
    let mut second = event(org.id, "second");
    second.distribution = Distribution::OrganisationOnly;
    second.attributes = vec![
        attribute("hostname", "Network activity", "shared.EXAMPLE", ""),
        attribute(
            "md5",
            "Payload delivery",
            "d41d8cd98f00b204e9800998ecf8427e",
            "",
        ),
        attribute("ip-dst", "Network activity", "192.0.2.0/24", ""),
        attribute("port", "Network activity", "443", ""),
    ];
    let second = stored(&store, &second).await;
    let found = store
        .event_correlations(&first, &Viewer::SiteAdmin, 20)
        .await
        .unwrap();
    let mut pairs: Vec<(String, String)> = found
        .iter()
        .map(|correlation| {
            let ours = first
                .attributes
                .iter()
                .find(|attribute| attribute.id == correlation.attribute_id)
                .unwrap();
            (ours.attr_type.clone(), correlation.value.clone())
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("domain".to_string(), "shared.EXAMPLE".to_string()),
            (
                "filename|md5".to_string(),
                "d41d8cd98f00b204e9800998ecf8427e".to_string()
            ),
            ("ip-dst".to_string(), "192.0.2.0/24".to_string()),
            ("ip-dst|port".to_string(), "192.0.2.0/24".to_string()),
        ]
    );
    assert!(
        found
            .iter()
            .all(|correlation| correlation.other_event_id == second.id)
    );

    // Over the cap the value shows nothing.
    let capped = store
        .event_correlations(&first, &Viewer::SiteAdmin, 0)
        .await
        .unwrap();
    assert!(capped.is_empty(), "{capped:?}");

    // Another organisation does not see the second event (distribution 0).
    let outsider = create_org(&store, "Outsider").await;
    let viewer = Viewer::organisation(outsider.id, []);
    assert!(
        store
            .event_correlations(&first, &viewer, 20)
            .await
            .unwrap()
            .is_empty()
    );
}
