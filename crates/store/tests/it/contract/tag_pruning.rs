//! Pulled edits that take tags off attributes (a sync server's `remove_missing_tags`).

use crate::fixtures::{T0, attached, create_org, domain, event, tag_names};
use kizuna_model::AttachedTag;
use kizuna_store::{EventChanges, Key, LoadOptions, Store};

pub async fn pulled_edits_detach_global_attribute_tags_and_keep_local_ones(store: Store) {
    let acme = create_org(&store, "ACME").await;
    let mut sent = event(acme.id, "pulled");
    let mut tagged = domain("tagged.example");
    let mut local = attached("here:local");
    local.local = true;
    tagged.tags = vec![attached("remote:a"), attached("remote:b"), local];
    sent.attributes.push(tagged);
    sent.attributes.push(domain("other.example"));
    let event_id = store.insert_event(&sent, true).await.unwrap();
    let loaded = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    let tag_id = |name: &str| {
        loaded.attributes[0]
            .tags
            .iter()
            .find(|attached| attached.tag.name == name)
            .unwrap()
            .tag
            .id
    };
    let attribute_id = loaded.attributes[0].id;

    let mut scalars = loaded.clone();
    scalars.timestamp = T0 + 50;
    let mut edited = loaded.attributes[0].clone();
    edited.comment = "edited at the source".into();
    edited.timestamp = T0 + 40;
    edited.tags = vec![attached("remote:c")];
    let changes = EventChanges {
        event: scalars,
        new_attributes: Vec::new(),
        updated_attributes: vec![edited],
        new_objects: Vec::new(),
        updated_objects: Vec::new(),
        new_references: Vec::new(),
        add_event_tags: Vec::new(),
        may_create_tags: true,
    };
    // The local attachment is named too: it must stay whatever the caller asks.
    let detached = [
        (attribute_id, tag_id("remote:a")),
        (attribute_id, tag_id("remote:b")),
        (attribute_id, tag_id("here:local")),
    ];
    store
        .apply_event_changes_detaching_tags(&changes, &detached)
        .await
        .unwrap();

    let after = store
        .event(&Key::Id(event_id), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(after.timestamp, T0 + 50);
    let pruned = &after.attributes[0];
    assert_eq!(
        (pruned.comment.as_str(), pruned.timestamp),
        ("edited at the source", T0 + 40)
    );
    let mut names = tag_names(&pruned.tags);
    names.sort();
    assert_eq!(names, ["here:local", "remote:c"]);
    assert!(
        pruned
            .tags
            .iter()
            .any(|attached: &AttachedTag| attached.tag.name == "here:local" && attached.local)
    );
    assert_eq!(after.attributes[1].tags, loaded.attributes[1].tags);
    assert_eq!(after.attributes[1].timestamp, T0);
}
