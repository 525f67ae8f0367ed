//! The audit log: entries are appended and listed newest first, filtered, paged and counted,
//! with their user's address and organisation's name where those still exist.

use crate::fixtures::{T0, create_org, stored_key, user};
use kizuna_store::{AuditEntry, AuditFilter, REQUEST_TYPE_API, Store};

fn entry(created: i64, action: &str, model: &str, model_id: i64) -> AuditEntry {
    AuditEntry {
        created,
        ip: "192.0.2.1".into(),
        request_type: REQUEST_TYPE_API,
        action: action.into(),
        model: model.into(),
        model_id,
        model_title: format!("{model} number {model_id}"),
        change: r#"{"info":"x"}"#.into(),
        ..AuditEntry::default()
    }
}

async fn listed_ids(store: &Store, filter: &AuditFilter) -> Vec<i64> {
    store
        .list_audit_entries(filter, 100, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|listed| listed.entry.id)
        .collect()
}

pub async fn audit_entries_are_appended_and_listed_newest_first(store: Store) {
    let org = create_org(&store, "Auditors").await;
    let author = store
        .create_user(
            &user("author@auditors.test", org.id, 3),
            Some(&stored_key("a1")),
        )
        .await
        .unwrap();
    let written = AuditEntry {
        user_id: author.id,
        org_id: org.id,
        authkey_id: 7,
        request_id: "req-1".into(),
        event_id: 12,
        ..entry(T0, "add", "Event", 12)
    };
    let first = store.insert_audit_entry(&written).await.unwrap();
    let second = store
        .insert_audit_entry(&entry(T0 + 1, "login_fail", "User", 0))
        .await
        .unwrap();
    assert!(second > first);

    let listed = store
        .list_audit_entries(&AuditFilter::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].entry.id, second, "newest first");
    let stored = &listed[1];
    assert_eq!(
        stored.entry,
        AuditEntry {
            id: first,
            ..written
        }
    );
    assert_eq!(stored.user_email.as_deref(), Some("author@auditors.test"));
    assert_eq!(stored.user_org_id, Some(org.id));
    assert_eq!(stored.org_name.as_deref(), Some("Auditors"));
    assert_eq!(stored.org_uuid.as_deref(), Some(org.uuid.as_str()));
    // The SYSTEM entry has no user or organisation.
    assert_eq!(listed[0].user_email, None);
    assert_eq!(listed[0].org_name, None);
}

pub async fn audit_entries_are_filtered_paged_and_counted(store: Store) {
    let mut ids = Vec::new();
    for (offset, (action, model, model_id, user_id)) in [
        ("add", "Event", 1, 10),
        ("edit", "Event", 1, 10),
        ("add", "Attribute", 5, 11),
        ("delete", "Event", 2, 11),
        ("login", "User", 11, 11),
    ]
    .into_iter()
    .enumerate()
    {
        let written = AuditEntry {
            user_id,
            org_id: user_id * 100,
            event_id: if model == "Event" { model_id } else { 0 },
            ..entry(T0 + offset as i64 * 60, action, model, model_id)
        };
        ids.push(store.insert_audit_entry(&written).await.unwrap());
    }
    let newest_first =
        |picked: &[usize]| -> Vec<i64> { picked.iter().rev().map(|i| ids[*i]).collect() };

    let by_model = AuditFilter {
        models: vec!["Event".into()],
        ..AuditFilter::default()
    };
    assert_eq!(
        listed_ids(&store, &by_model).await,
        newest_first(&[0, 1, 3])
    );
    let by_model_and_id = AuditFilter {
        model_ids: vec![1],
        ..by_model.clone()
    };
    assert_eq!(
        listed_ids(&store, &by_model_and_id).await,
        newest_first(&[0, 1])
    );
    let by_actions = AuditFilter {
        actions: vec!["add".into(), "delete".into()],
        ..AuditFilter::default()
    };
    assert_eq!(
        listed_ids(&store, &by_actions).await,
        newest_first(&[0, 2, 3])
    );
    let by_user_and_org = AuditFilter {
        user_ids: vec![11],
        org_ids: vec![1100],
        ..AuditFilter::default()
    };
    assert_eq!(
        listed_ids(&store, &by_user_and_org).await,
        newest_first(&[2, 3, 4])
    );
    let by_time = AuditFilter {
        created_from: Some(T0 + 60),
        created_to: Some(T0 + 180),
        ..AuditFilter::default()
    };
    assert_eq!(listed_ids(&store, &by_time).await, newest_first(&[1, 2, 3]));
    let by_event = AuditFilter {
        event_ids: vec![2],
        ..AuditFilter::default()
    };
    assert_eq!(listed_ids(&store, &by_event).await, newest_first(&[3]));
    let by_title = AuditFilter {
        model_title_like: Some("%ATTRIBUTE%".into()),
        ..AuditFilter::default()
    };
    assert_eq!(listed_ids(&store, &by_title).await, newest_first(&[2]));
    let by_change = AuditFilter {
        change_like: Some("%\"info\"%".into()),
        ips: vec!["192.0.2.1".into()],
        request_types: vec![REQUEST_TYPE_API],
        ..AuditFilter::default()
    };
    assert_eq!(listed_ids(&store, &by_change).await.len(), 5);
    let nothing = AuditFilter {
        ids: vec![ids[0]],
        actions: vec!["edit".into()],
        ..AuditFilter::default()
    };
    assert!(listed_ids(&store, &nothing).await.is_empty());

    let all = AuditFilter::default();
    assert_eq!(store.count_audit_entries(&all).await.unwrap(), 5);
    assert_eq!(store.count_audit_entries(&by_model).await.unwrap(), 3);
    let page = |limit, offset| {
        let store = store.clone();
        async move {
            store
                .list_audit_entries(&AuditFilter::default(), limit, offset)
                .await
                .unwrap()
                .into_iter()
                .map(|listed| listed.entry.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(2, 0).await, newest_first(&[3, 4]));
    assert_eq!(page(2, 2).await, newest_first(&[1, 2]));
    assert_eq!(page(2, 4).await, newest_first(&[0]));
    assert!(page(2, 6).await.is_empty());
}
