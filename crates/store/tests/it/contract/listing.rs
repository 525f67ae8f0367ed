//! The event index: visibility, filters, sorting and paging.

use crate::fixtures::{attached, create_org, create_sharing_group, event};
use kizuna_model::{Distribution, Event, Organisation};
use kizuna_store::{EventFilter, Store};

/// The events of the listing tests, in insertion order (ids ascending):
///
/// | # | owner | distribution          | info                 | published | timestamp | orgc |
/// |---|-------|-----------------------|----------------------|-----------|-----------|------|
/// | 0 | A     | organisation only     | Alpha campaign       | yes       | 100       | A    |
/// | 1 | B     | organisation only     | Beta                 | no        | 200       | B    |
/// | 2 | B     | community             | gamma ALPHA follow-up| no        | 300       | A    |
/// | 3 | B     | sharing group with A  | Delta                | yes       | 400       | B    |
/// | 4 | B     | sharing group w/o A   | Epsilon              | no        | 500       | B    |
/// | 5 | B     | all communities       | Zeta                 | no        | 600       | B    |
/// | 6 | B     | open sharing group    | Eta                  | no        | 700       | B    |
struct World {
    a: Organisation,
    b: Organisation,
    c: Organisation,
    uuids: Vec<String>,
    ids: Vec<i64>,
}

async fn world(store: &Store) -> World {
    let a = create_org(store, "Org A").await;
    let b = create_org(store, "Org B").await;
    let c = create_org(store, "Org C").await;
    let with_a = create_sharing_group(store, "with A", &b, &[a.id, b.id], false).await;
    let without_a = create_sharing_group(store, "without A", &b, &[b.id, c.id], false).await;
    let open = create_sharing_group(store, "open", &c, &[c.id], true).await;
    let rows: [(i64, Distribution, i64, &str, bool, i64, i64); 7] = [
        (
            a.id,
            Distribution::OrganisationOnly,
            0,
            "Alpha campaign",
            true,
            100,
            a.id,
        ),
        (
            b.id,
            Distribution::OrganisationOnly,
            0,
            "Beta",
            false,
            200,
            b.id,
        ),
        (
            b.id,
            Distribution::CommunityOnly,
            0,
            "gamma ALPHA follow-up",
            false,
            300,
            a.id,
        ),
        (
            b.id,
            Distribution::SharingGroup,
            with_a,
            "Delta",
            true,
            400,
            b.id,
        ),
        (
            b.id,
            Distribution::SharingGroup,
            without_a,
            "Epsilon",
            false,
            500,
            b.id,
        ),
        (
            b.id,
            Distribution::AllCommunities,
            0,
            "Zeta",
            false,
            600,
            b.id,
        ),
        (
            b.id,
            Distribution::SharingGroup,
            open,
            "Eta",
            false,
            700,
            b.id,
        ),
    ];
    let mut uuids = Vec::new();
    let mut ids = Vec::new();
    for (org_id, distribution, sharing_group_id, info, published, timestamp, orgc_id) in rows {
        let mut sent = event(org_id, info);
        sent.distribution = distribution;
        sent.sharing_group_id = sharing_group_id;
        sent.published = published;
        sent.timestamp = timestamp;
        sent.orgc_id = orgc_id;
        sent.tags = vec![attached(&format!("index:{}", ids.len()))];
        ids.push(store.insert_event(&sent, true).await.unwrap());
        uuids.push(sent.uuid);
    }
    World {
        a,
        b,
        c,
        uuids,
        ids,
    }
}

impl World {
    /// The row numbers of `events` in the table above.
    fn rows(&self, events: &[Event]) -> Vec<usize> {
        events
            .iter()
            .map(|event| {
                self.ids
                    .iter()
                    .position(|id| *id == event.id)
                    .expect("known event")
            })
            .collect()
    }
}

async fn rows_and_total(store: &Store, world: &World, filter: EventFilter) -> (Vec<usize>, i64) {
    let (events, total) = store.list_events(&filter).await.unwrap();
    (world.rows(&events), total)
}

pub async fn list_events_visibility_rules(store: Store) {
    let world = world(&store).await;
    let visible = |org: Option<i64>| EventFilter {
        visible_to_org: org,
        ..EventFilter::default()
    };
    assert_eq!(
        rows_and_total(&store, &world, visible(None)).await,
        (vec![0, 1, 2, 3, 4, 5, 6], 7)
    );
    assert_eq!(
        rows_and_total(&store, &world, visible(Some(world.a.id))).await,
        (vec![0, 2, 3, 5, 6], 5)
    );
    assert_eq!(
        rows_and_total(&store, &world, visible(Some(world.b.id))).await,
        (vec![1, 2, 3, 4, 5, 6], 6)
    );
    assert_eq!(
        rows_and_total(&store, &world, visible(Some(world.c.id))).await,
        (vec![2, 4, 5, 6], 4)
    );
    let stranger = create_org(&store, "Stranger").await;
    assert_eq!(
        rows_and_total(&store, &world, visible(Some(stranger.id))).await,
        (vec![2, 5, 6], 3)
    );

    // Listed events come with their organisations and tags.
    let (events, _) = store.list_events(&visible(Some(world.a.id))).await.unwrap();
    let follow_up = &events[1];
    assert_eq!(
        follow_up.org.as_ref().map(|org| org.name.as_str()),
        Some("Org B")
    );
    assert_eq!(
        follow_up.orgc.as_ref().map(|org| org.name.as_str()),
        Some("Org A")
    );
    assert_eq!(follow_up.tags.len(), 1);
    assert_eq!(follow_up.tags[0].tag.name, "index:2");
    assert!(
        events
            .iter()
            .all(|event| event.attributes.is_empty() && event.objects.is_empty())
    );
}

pub async fn list_events_filters(store: Store) {
    let world = world(&store).await;
    let list = |filter: EventFilter| rows_and_total(&store, &world, filter);
    let all = EventFilter::default;

    assert_eq!(
        list(EventFilter {
            ids: vec![world.ids[1], world.ids[4]],
            ..all()
        })
        .await,
        (vec![1, 4], 2)
    );
    assert_eq!(
        list(EventFilter {
            uuids: vec![world.uuids[6].clone(), world.uuids[0].clone()],
            ..all()
        })
        .await,
        (vec![0, 6], 2)
    );
    assert_eq!(
        list(EventFilter {
            ids: vec![world.ids[1]],
            uuids: vec![world.uuids[3].clone()],
            ..all()
        })
        .await,
        (vec![1, 3], 2),
        "ids and uuids are alternatives"
    );
    assert_eq!(
        list(EventFilter {
            ids: vec![999_999],
            ..all()
        })
        .await,
        (vec![], 0)
    );

    assert_eq!(
        list(EventFilter {
            info_contains: Some("alpha".into()),
            ..all()
        })
        .await,
        (vec![0, 2], 2)
    );
    assert_eq!(
        list(EventFilter {
            info_contains: Some("ALPHA CAMP".into()),
            ..all()
        })
        .await,
        (vec![0], 1)
    );
    assert_eq!(
        list(EventFilter {
            info_contains: Some("ta".into()),
            ..all()
        })
        .await,
        (vec![1, 3, 5, 6], 4)
    );

    assert_eq!(
        list(EventFilter {
            published: Some(true),
            ..all()
        })
        .await,
        (vec![0, 3], 2)
    );
    assert_eq!(
        list(EventFilter {
            published: Some(false),
            ..all()
        })
        .await,
        (vec![1, 2, 4, 5, 6], 5)
    );

    assert_eq!(
        list(EventFilter {
            timestamp_from: Some(200),
            timestamp_to: Some(400),
            ..all()
        })
        .await,
        (vec![1, 2, 3], 3)
    );
    assert_eq!(
        list(EventFilter {
            timestamp_from: Some(601),
            ..all()
        })
        .await,
        (vec![6], 1)
    );
    assert_eq!(
        list(EventFilter {
            timestamp_to: Some(100),
            ..all()
        })
        .await,
        (vec![0], 1)
    );

    assert_eq!(
        list(EventFilter {
            orgc_ids: vec![world.a.id],
            ..all()
        })
        .await,
        (vec![0, 2], 2)
    );
    assert_eq!(
        list(EventFilter {
            orgc_ids: vec![world.a.id, world.b.id],
            ..all()
        })
        .await
        .1,
        7
    );

    // Filters combine with AND, and with visibility.
    assert_eq!(
        list(EventFilter {
            visible_to_org: Some(world.a.id),
            info_contains: Some("a".into()),
            published: Some(false),
            timestamp_from: Some(250),
            ..all()
        })
        .await,
        (vec![2, 5, 6], 3)
    );
    assert_eq!(
        list(EventFilter {
            visible_to_org: Some(world.c.id),
            orgc_ids: vec![world.a.id],
            ..all()
        })
        .await,
        (vec![2], 1)
    );
}

pub async fn list_events_sorts_and_pages(store: Store) {
    let world = world(&store).await;
    let list = |filter: EventFilter| rows_and_total(&store, &world, filter);
    let sorted = |column: &str, descending: bool| EventFilter {
        sort: Some(column.to_string()),
        descending,
        ..EventFilter::default()
    };

    assert_eq!(
        list(sorted("timestamp", true)).await,
        (vec![6, 5, 4, 3, 2, 1, 0], 7)
    );
    // (Row 2 starts in lower case, which sorts differently under different collations.)
    let capitalised: Vec<i64> = [0, 1, 3, 4, 5, 6].map(|row| world.ids[row]).to_vec();
    assert_eq!(
        list(EventFilter {
            ids: capitalised,
            ..sorted("info", false)
        })
        .await,
        (vec![0, 1, 3, 4, 6, 5], 6)
    );
    assert_eq!(list(sorted("id", true)).await.0, vec![6, 5, 4, 3, 2, 1, 0]);
    // Ties are broken by id, in the same direction.
    assert_eq!(
        list(sorted("published", false)).await.0,
        vec![0, 1, 2, 3, 4, 5, 6],
        "not sortable: id"
    );
    assert_eq!(
        list(sorted("distribution", false)).await.0,
        vec![0, 1, 2, 5, 3, 4, 6]
    );
    assert_eq!(
        list(sorted("distribution", true)).await.0,
        vec![6, 4, 3, 5, 2, 1, 0]
    );
    assert_eq!(
        list(sorted("orgc_id", false)).await.0,
        vec![0, 2, 1, 3, 4, 5, 6]
    );
    // Unknown or hostile column names fall back to id.
    assert_eq!(
        list(sorted("id; DROP TABLE events", true)).await,
        (vec![6, 5, 4, 3, 2, 1, 0], 7)
    );
    assert_eq!(
        list(sorted("nonsense", false)).await.0,
        vec![0, 1, 2, 3, 4, 5, 6]
    );

    let page = |limit: i64, page: Option<i64>| EventFilter {
        sort: Some("timestamp".into()),
        descending: true,
        limit: Some(limit),
        page,
        ..EventFilter::default()
    };
    assert_eq!(list(page(2, None)).await, (vec![6, 5], 7));
    assert_eq!(list(page(2, Some(1))).await, (vec![6, 5], 7));
    assert_eq!(list(page(2, Some(2))).await, (vec![4, 3], 7));
    assert_eq!(list(page(2, Some(4))).await, (vec![0], 7));
    assert_eq!(list(page(2, Some(5))).await, (vec![], 7));
    assert_eq!(
        list(page(3, Some(0))).await,
        (vec![6, 5, 4], 7),
        "page 0 is page 1"
    );
    assert_eq!(
        list(page(0, Some(3))).await,
        (vec![6, 5, 4, 3, 2, 1, 0], 7),
        "limit 0: no paging"
    );
    assert_eq!(
        list(EventFilter {
            visible_to_org: Some(world.a.id),
            ..page(2, Some(2))
        })
        .await,
        (vec![3, 2], 5),
        "the total counts the matches before paging"
    );
}

/// An info substring typed exactly as it appears in the event must find it, whatever the
/// characters (the filter may fold case, but not in a way that breaks exact matches).
pub async fn list_events_info_filter_finds_non_ascii_text_as_written(store: Store) {
    let a = create_org(&store, "Org A").await;
    store
        .insert_event(&event(a.id, "Ärger im Büro"), true)
        .await
        .unwrap();
    store
        .insert_event(&event(a.id, "Opération ÉTÉ 2024"), true)
        .await
        .unwrap();
    let matches = |needle: &str| {
        let store = store.clone();
        let filter = EventFilter {
            info_contains: Some(needle.to_string()),
            ..EventFilter::default()
        };
        async move { store.list_events(&filter).await.unwrap().1 }
    };
    assert_eq!(matches("im Büro").await, 1);
    assert_eq!(matches("ération").await, 1);
    assert_eq!(
        matches("Ärger").await,
        1,
        "an upper-case non-ASCII letter, as written"
    );
    assert_eq!(
        matches("ÉTÉ").await,
        1,
        "upper-case non-ASCII letters, as written"
    );
    assert_eq!(
        matches("Opération ÉTÉ 2024").await,
        1,
        "the whole info, as written"
    );
}

/// `info_contains` is documented as case-insensitive; that must not stop at ASCII (MISP on
/// MySQL folds case with a Unicode collation).
pub async fn list_events_info_filter_folds_non_ascii_case(store: Store) {
    let a = create_org(&store, "Org A").await;
    store
        .insert_event(&event(a.id, "Ärger im Büro"), true)
        .await
        .unwrap();
    store
        .insert_event(&event(a.id, "Opération ÉTÉ 2024"), true)
        .await
        .unwrap();
    let matches = |needle: &str| {
        let store = store.clone();
        let filter = EventFilter {
            info_contains: Some(needle.to_string()),
            ..EventFilter::default()
        };
        async move { store.list_events(&filter).await.unwrap().1 }
    };
    assert_eq!(
        matches("ärger").await,
        1,
        "lower-case needle, upper-case text"
    );
    assert_eq!(
        matches("BÜRO").await,
        1,
        "upper-case needle, lower-case text"
    );
    assert_eq!(matches("opÉration été").await, 1, "mixed");
}
