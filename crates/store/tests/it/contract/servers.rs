//! Sync servers: settings create/read/update/delete, push order, the sync state a run
//! records and the index ETag an edit forgets.

use crate::fixtures::create_org;
use kizuna_store::{Server, ServerSyncState, Store, StoreError, SyncOutcome};

pub async fn servers_create_read_update_delete(store: Store) {
    let org = create_org(&store, "ORGA").await;
    let mut remote = Server::new(
        "B",
        "https://b.example.org",
        "k".repeat(40).as_str(),
        org.id,
    );
    remote.pull = true;
    remote.priority = 2;
    remote.pull_rules = r#"{"tags":{"OR":["tlp:white"],"NOT":[]}}"#.into();
    let stored = store.create_server(&remote).await.unwrap();
    assert!(stored.id > 0);
    assert_eq!(stored.name, "B");
    assert!(stored.pull && !stored.push);
    assert_eq!(stored.timeout_seconds, 60);
    assert_eq!(stored.state, ServerSyncState::default());
    assert_eq!(store.server(stored.id).await.unwrap(), stored);

    let first = store
        .create_server(&Server {
            priority: 1,
            ..Server::new("C", "https://c.example.org", "c", org.id)
        })
        .await
        .unwrap();
    let order: Vec<i64> = store
        .servers()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(order, vec![first.id, stored.id]);

    store
        .record_server_pull(
            stored.id,
            &SyncOutcome {
                at: 1_700_000_000,
                ok: true,
                result: "2 events".into(),
            },
            "\"etag-1\"",
        )
        .await
        .unwrap();
    store
        .record_server_push(
            stored.id,
            &SyncOutcome {
                at: 1_700_000_001,
                ok: false,
                result: "403".into(),
            },
            Some(17),
        )
        .await
        .unwrap();
    let after_runs = store.server(stored.id).await.unwrap();
    assert_eq!(after_runs.state.index_etag, "\"etag-1\"");
    assert!(after_runs.state.last_pull_ok && !after_runs.state.last_push_ok);
    assert_eq!(after_runs.state.last_push_result, "403");
    assert_eq!(after_runs.lastpushedid, 17);

    // Renaming keeps the ETag; new pull rules forget it.
    let renamed = store
        .update_server(&Server {
            name: "B renamed".into(),
            ..after_runs.clone()
        })
        .await
        .unwrap();
    assert_eq!(renamed.name, "B renamed");
    assert_eq!(renamed.state.index_etag, "\"etag-1\"");
    let new_rules = store
        .update_server(&Server {
            pull_rules: String::new(),
            ..renamed
        })
        .await
        .unwrap();
    assert_eq!(new_rules.state.index_etag, "");
    assert_eq!(new_rules.state.last_pull_result, "2 events");

    store.delete_server(stored.id).await.unwrap();
    assert!(matches!(
        store.server(stored.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_server(stored.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_server(&Server {
                id: stored.id,
                ..first
            })
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn servers_keep_tls_material_and_federation_settings(store: Store) {
    let org = create_org(&store, "ORGA").await;
    let other = create_org(&store, "ORGB").await;
    let mut remote = Server::new("B", "https://b.example.org", "k", org.id);
    assert!(remote.federated_search && remote.federated_orgs().is_empty());
    remote.cert_pem = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n".into();
    remote.client_cert_pem = "client and key".into();
    remote.set_federated_orgs(&[other.id, org.id, other.id]);
    let stored = store.create_server(&remote).await.unwrap();
    assert_eq!(stored.cert_pem, remote.cert_pem);
    assert_eq!(stored.client_cert_pem, "client and key");
    let mut expected = vec![org.id, other.id];
    expected.sort_unstable();
    assert_eq!(stored.federated_orgs(), expected);

    let updated = store
        .update_server(&Server {
            cert_pem: String::new(),
            federated_search: false,
            federated_org_ids: String::new(),
            ..stored.clone()
        })
        .await
        .unwrap();
    assert_eq!(updated.cert_pem, "");
    assert_eq!(updated.client_cert_pem, "client and key");
    assert!(!updated.federated_search && updated.federated_orgs().is_empty());
    assert_eq!(store.server(stored.id).await.unwrap(), updated);
}

pub async fn server_caches_are_replaced_counted_searched_and_deleted(store: Store) {
    use kizuna_store::{FeedCacheEntry, ServerCacheHit};
    let org = create_org(&store, "ORGA").await;
    let first = store
        .create_server(&Server::new("B", "https://b.example.org", "k", org.id))
        .await
        .unwrap();
    let second = store
        .create_server(&Server::new("C", "https://c.example.org", "k", org.id))
        .await
        .unwrap();
    let entry = |md5: &str, uuid: &str| FeedCacheEntry {
        value_md5: md5.into(),
        event_uuid: uuid.into(),
    };
    store
        .replace_server_cache(
            first.id,
            &[
                entry("aa", "e1"),
                entry("aa", "e2"),
                entry("bb", "e1"),
                entry("aa", "e1"),
            ],
            1_700_000_000,
        )
        .await
        .unwrap();
    store
        .replace_server_cache(second.id, &[entry("aa", "e9")], 1_700_000_001)
        .await
        .unwrap();
    assert_eq!(
        store.server(first.id).await.unwrap().state.cache_timestamp,
        1_700_000_000
    );
    let counts = store.server_cache_counts().await.unwrap();
    assert_eq!((counts[&first.id], counts[&second.id]), (2, 1));
    let hit = |server_id: i64, uuid: &str| ServerCacheHit {
        server_id,
        value_md5: "aa".into(),
        event_uuid: uuid.into(),
    };
    assert_eq!(
        store
            .server_cache_hits(&["aa".into(), "zz".into()])
            .await
            .unwrap(),
        vec![
            hit(first.id, "e1"),
            hit(first.id, "e2"),
            hit(second.id, "e9")
        ]
    );
    // Feeds' caches are apart from servers'.
    assert!(
        store
            .feed_cache_hits(&["aa".into()])
            .await
            .unwrap()
            .is_empty()
    );

    // A rebuild replaces the whole cache; deleting the server drops it.
    store
        .replace_server_cache(first.id, &[entry("cc", "")], 1_700_000_002)
        .await
        .unwrap();
    assert_eq!(
        store.server_cache_hits(&["aa".into()]).await.unwrap().len(),
        1
    );
    store.delete_server(second.id).await.unwrap();
    assert!(
        store
            .server_cache_hits(&["aa".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.replace_server_cache(second.id, &[], 1).await,
        Err(StoreError::NotFound)
    ));
}
