//! Sharing groups: create/read/update/delete with member organisations and servers,
//! uniqueness, member changes, deletion refused while in use, who may use a group.

use crate::fixtures::{T0, create_org, event, ip_dst, new_uuid, object, object_attribute};
use crate::support;
use kizuna_model::{Distribution, Organisation, SharingGroup, SharingGroupOrg, SharingGroupServer};
use kizuna_store::{Key, Store, StoreError};
use std::collections::HashSet;

fn group(name: &str, owner: &Organisation) -> SharingGroup {
    SharingGroup {
        uuid: new_uuid(),
        name: name.to_string(),
        releasability: "TLP:AMBER partners".into(),
        description: format!("{name} description"),
        org_id: owner.id,
        organisation_uuid: owner.uuid.clone(),
        active: true,
        local: true,
        created: T0,
        modified: T0,
        ..SharingGroup::default()
    }
}

fn member(org_id: i64, extend: bool) -> SharingGroupOrg {
    SharingGroupOrg {
        id: 0,
        org_id,
        extend,
    }
}

fn server(server_id: i64, all_orgs: bool) -> SharingGroupServer {
    SharingGroupServer {
        id: 0,
        server_id,
        all_orgs,
    }
}

/// (org_id, extend) of each member, in order.
fn members(group: &SharingGroup) -> Vec<(i64, bool)> {
    group.orgs.iter().map(|m| (m.org_id, m.extend)).collect()
}

fn servers(group: &SharingGroup) -> Vec<(i64, bool)> {
    group
        .servers
        .iter()
        .map(|s| (s.server_id, s.all_orgs))
        .collect()
}

fn ids(ids: &[i64]) -> HashSet<i64> {
    ids.iter().copied().collect()
}

pub async fn sharing_groups_create_read_update_delete(store: Store) {
    let owner = create_org(&store, "Owner").await;
    let partner = create_org(&store, "Partner").await;
    let mut wanted = group("Partners", &owner);
    wanted.orgs = vec![member(owner.id, true), member(partner.id, false)];
    wanted.servers = vec![server(0, false)];
    let created = store.create_sharing_group(&wanted).await.unwrap();
    assert!(created.id > 0);
    assert_eq!(members(&created), [(owner.id, true), (partner.id, false)]);
    assert_eq!(servers(&created), [(0, false)]);
    assert!(created.orgs.iter().all(|m| m.id > 0));
    assert_eq!(
        SharingGroup {
            id: 0,
            orgs: Vec::new(),
            servers: Vec::new(),
            ..created.clone()
        },
        SharingGroup {
            orgs: Vec::new(),
            servers: Vec::new(),
            ..wanted.clone()
        }
    );
    assert_eq!(
        store.sharing_group(&Key::Id(created.id)).await.unwrap(),
        created
    );
    assert_eq!(
        store
            .sharing_group(&Key::Uuid(created.uuid.clone()))
            .await
            .unwrap(),
        created
    );
    assert_eq!(
        store.sharing_group_by_name("Partners").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.sharing_group_by_name("partners").await.unwrap(), None);
    assert!(matches!(
        store.sharing_group(&Key::Id(created.id + 100)).await,
        Err(StoreError::NotFound)
    ));

    // An edit writes the fields and merges the member lists.
    let third = create_org(&store, "Third").await;
    let edited = SharingGroup {
        name: "Partners (renamed)".into(),
        releasability: "TLP:GREEN".into(),
        description: "edited".into(),
        active: false,
        roaming: true,
        modified: T0 + 60,
        orgs: vec![member(partner.id, true), member(third.id, false)],
        servers: vec![server(0, true)],
        ..created.clone()
    };
    let stored = store.update_sharing_group(&edited).await.unwrap();
    assert_eq!(stored.name, "Partners (renamed)");
    assert_eq!(stored.releasability, "TLP:GREEN");
    assert!(!stored.active && stored.roaming);
    assert_eq!(stored.modified, T0 + 60);
    assert_eq!(stored.created, T0);
    assert_eq!(
        members(&stored),
        [(owner.id, true), (partner.id, true), (third.id, false)]
    );
    assert_eq!(servers(&stored), [(0, true)]);
    assert_eq!(
        store.sharing_group(&Key::Id(created.id)).await.unwrap(),
        stored
    );
    let missing = SharingGroup {
        id: created.id + 100,
        name: "nowhere".into(),
        ..edited.clone()
    };
    assert!(matches!(
        store.update_sharing_group(&missing).await,
        Err(StoreError::NotFound)
    ));

    store.delete_sharing_group(created.id).await.unwrap();
    assert!(matches!(
        store.sharing_group(&Key::Id(created.id)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(support::count(&store, "sharing_group_orgs").await, 0);
    assert_eq!(support::count(&store, "sharing_group_servers").await, 0);
    assert!(matches!(
        store.delete_sharing_group(created.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn sharing_group_names_and_uuids_are_unique(store: Store) {
    let owner = create_org(&store, "Owner").await;
    let first = store
        .create_sharing_group(&group("First", &owner))
        .await
        .unwrap();
    let mut same_name = group("First", &owner);
    same_name.orgs = vec![member(owner.id, true)];
    assert!(matches!(
        store.create_sharing_group(&same_name).await,
        Err(StoreError::Conflict(_))
    ));
    let same_uuid = SharingGroup {
        uuid: first.uuid.clone(),
        ..group("Other", &owner)
    };
    assert!(matches!(
        store.create_sharing_group(&same_uuid).await,
        Err(StoreError::Conflict(message)) if message.contains(&first.uuid)
    ));
    // Nothing of the refused groups was kept.
    assert_eq!(support::count(&store, "sharing_groups").await, 1);
    assert_eq!(support::count(&store, "sharing_group_orgs").await, 0);

    let second = store
        .create_sharing_group(&group("Second", &owner))
        .await
        .unwrap();
    let renamed = SharingGroup {
        name: "First".into(),
        ..second.clone()
    };
    assert!(matches!(
        store.update_sharing_group(&renamed).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.sharing_group(&Key::Id(second.id)).await.unwrap(),
        second
    );
    // Keeping one's own name is no conflict.
    store.update_sharing_group(&second).await.unwrap();
}

pub async fn sharing_group_members_are_added_and_removed(store: Store) {
    let owner = create_org(&store, "Owner").await;
    let partner = create_org(&store, "Partner").await;
    let mut wanted = group("Members", &owner);
    wanted.orgs = vec![member(owner.id, true)];
    let created = store.create_sharing_group(&wanted).await.unwrap();

    let added = store
        .add_sharing_group_org(created.id, partner.id, true, T0 + 10)
        .await
        .unwrap();
    assert!(added.id > 0);
    assert_eq!((added.org_id, added.extend), (partner.id, true));
    assert!(matches!(
        store
            .add_sharing_group_org(created.id, partner.id, false, T0 + 20)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let server_zero = store
        .add_sharing_group_server(created.id, 0, true, T0 + 30)
        .await
        .unwrap();
    assert_eq!((server_zero.server_id, server_zero.all_orgs), (0, true));
    assert!(matches!(
        store
            .add_sharing_group_server(created.id, 0, false, T0 + 40)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let stored = store.sharing_group(&Key::Id(created.id)).await.unwrap();
    assert_eq!(members(&stored), [(owner.id, true), (partner.id, true)]);
    assert_eq!(servers(&stored), [(0, true)]);
    // A refused change leaves `modified` where the last accepted one put it.
    assert_eq!(stored.modified, T0 + 30);

    store
        .remove_sharing_group_org(created.id, partner.id, T0 + 50)
        .await
        .unwrap();
    assert!(matches!(
        store
            .remove_sharing_group_org(created.id, partner.id, T0 + 60)
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .remove_sharing_group_server(created.id, 0, T0 + 70)
        .await
        .unwrap();
    assert!(matches!(
        store
            .remove_sharing_group_server(created.id, 0, T0 + 80)
            .await,
        Err(StoreError::NotFound)
    ));
    let stored = store.sharing_group(&Key::Id(created.id)).await.unwrap();
    assert_eq!(members(&stored), [(owner.id, true)]);
    assert!(stored.servers.is_empty());
    assert_eq!(stored.modified, T0 + 70);

    let unknown = created.id + 100;
    assert!(matches!(
        store
            .add_sharing_group_org(unknown, partner.id, false, T0)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.add_sharing_group_server(unknown, 0, false, T0).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(support::count(&store, "sharing_group_orgs").await, 1);
}

pub async fn sharing_groups_in_use_are_not_deleted(store: Store) {
    let owner = create_org(&store, "Owner").await;
    let by_event = store
        .create_sharing_group(&group("event", &owner))
        .await
        .unwrap();
    let by_attribute = store
        .create_sharing_group(&group("attribute", &owner))
        .await
        .unwrap();
    let by_object = store
        .create_sharing_group(&group("object", &owner))
        .await
        .unwrap();
    let unused = store
        .create_sharing_group(&group("unused", &owner))
        .await
        .unwrap();

    let mut shared = event(owner.id, "uses three groups");
    shared.distribution = Distribution::SharingGroup;
    shared.sharing_group_id = by_event.id;
    let mut ip = ip_dst("192.0.2.4");
    ip.distribution = Distribution::SharingGroup;
    ip.sharing_group_id = by_attribute.id;
    shared.attributes.push(ip);
    let mut file = object(
        "file",
        vec![object_attribute("filename", "filename", "a.exe")],
    );
    file.distribution = Distribution::SharingGroup;
    file.sharing_group_id = by_object.id;
    shared.objects.push(file);
    store.insert_event(&shared, false).await.unwrap();

    for in_use in [&by_event, &by_attribute, &by_object] {
        let refused = store.delete_sharing_group(in_use.id).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "deleting {:?}: {refused:?}",
            in_use.name
        );
        assert_eq!(
            store.sharing_group(&Key::Id(in_use.id)).await.unwrap(),
            *in_use
        );
    }
    store.delete_sharing_group(unused.id).await.unwrap();
}

pub async fn sharing_groups_are_listed_by_name(store: Store) {
    let owner = create_org(&store, "Owner").await;
    let partner = create_org(&store, "Partner").await;
    let mut zulu = group("zulu", &owner);
    zulu.orgs = vec![member(partner.id, false), member(owner.id, true)];
    let zulu = store.create_sharing_group(&zulu).await.unwrap();
    let mut alpha = group("alpha", &owner);
    alpha.servers = vec![server(0, true)];
    let alpha = store.create_sharing_group(&alpha).await.unwrap();
    let mike = store
        .create_sharing_group(&group("mike", &partner))
        .await
        .unwrap();

    let listed = store.list_sharing_groups().await.unwrap();
    assert_eq!(listed, [alpha.clone(), mike.clone(), zulu.clone()]);
    let some = store
        .sharing_groups_by_ids(&[zulu.id, alpha.id, zulu.id + 100])
        .await
        .unwrap();
    assert_eq!(some, [alpha, zulu]);
    assert!(store.sharing_groups_by_ids(&[]).await.unwrap().is_empty());
}

pub async fn usable_sharing_groups_are_owned_listed_or_open(store: Store) {
    let owner = create_org(&store, "Owner").await;
    let member_org = create_org(&store, "Member").await;
    let outsider = create_org(&store, "Outsider").await;
    let mut listed = group("listed", &owner);
    listed.orgs = vec![member(member_org.id, false)];
    let listed = store.create_sharing_group(&listed).await.unwrap();
    let mut open = group("open", &member_org);
    open.servers = vec![server(0, true)];
    let open = store.create_sharing_group(&open).await.unwrap();
    let mut closed_server = group("server without all_orgs", &member_org);
    closed_server.servers = vec![server(0, false)];
    let closed_server = store.create_sharing_group(&closed_server).await.unwrap();

    assert_eq!(
        store
            .sharing_groups_usable_by(Some(owner.id))
            .await
            .unwrap(),
        ids(&[listed.id, open.id])
    );
    assert_eq!(
        store
            .sharing_groups_usable_by(Some(member_org.id))
            .await
            .unwrap(),
        ids(&[listed.id, open.id, closed_server.id])
    );
    assert_eq!(
        store
            .sharing_groups_usable_by(Some(outsider.id))
            .await
            .unwrap(),
        ids(&[open.id])
    );
    assert_eq!(
        store.sharing_groups_usable_by(None).await.unwrap(),
        ids(&[listed.id, open.id, closed_server.id])
    );
    // What an organisation may *see* does not include groups it only owns (MISP's
    // authorizedSGs), so the owner of `listed` sees its content by event ownership only.
    assert_eq!(
        store.authorised_sharing_groups(owner.id).await.unwrap(),
        ids(&[open.id])
    );
}
