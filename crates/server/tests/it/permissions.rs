//! MISP's write rights (misp-reference §1.3) and deleted-item visibility (§2.3), over the
//! six stock roles. Every actor belongs to ORG-A; each write is tried on three events:
//! one the actor created, one a colleague of ORG-A created, and one of ORG-B shared with
//! the community. Every refusal is checked to have changed nothing by re-reading the
//! stored event (timestamps included).

use crate::roles_support::{
    Actor, Ownership, STOCK_ROLES, create_org, create_user, insert_event, role_name, stored_event,
};
use crate::support::{Reply, Server, int, text};
use axum::http::StatusCode;
use kizuna_model::Event;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// 2xx, and the change is stored.
    Done,
    /// 403 in MISP's error shape, nothing stored.
    Refused,
    /// 404 in MISP's error shape, nothing stored.
    Missing,
}

use Outcome::{Done as D, Missing as M, Refused as F};

#[derive(Clone, Copy, Debug)]
enum Relation {
    /// Created by the actor in ORG-A.
    Own,
    /// Created by a colleague in ORG-A.
    OwnOrg,
    /// Created by a user of ORG-B, shared with the community (distribution 1).
    OtherOrg,
}

const RELATIONS: [Relation; 3] = [Relation::Own, Relation::OwnOrg, Relation::OtherOrg];

/// Expected outcomes: one row per stock role (admin, Org Admin, User, Publisher, Sync user,
/// Read Only), one column per relation (own, own org's, other org's visible event).
type Table = [[Outcome; 3]; 6];

/// canModifyEvent behind the perm_add / perm_modify / perm_tagger gates: site admins
/// everywhere, other writers on their organisation's events, Read Only nowhere.
const MODIFY: Table = [
    [D, D, D],
    [D, D, F],
    [D, D, F],
    [D, D, F],
    [D, D, F],
    [F, F, F],
];

/// canPublishEvent: perm_publish (no User, no Read Only) in the creator organisation.
const PUBLISH: Table = [
    [D, D, D],
    [D, D, F],
    [F, F, F],
    [D, D, F],
    [D, D, F],
    [F, F, F],
];

/// perm_sighting: anyone who sights may sight any attribute they can see.
const SIGHT: Table = [
    [D, D, D],
    [D, D, D],
    [D, D, D],
    [D, D, D],
    [D, D, D],
    [F, F, F],
];

/// objectReferences/add: MISP answers an object of an event the caller may not modify as
/// missing ("Invalid object.").
const REFERENCE: Table = [
    [D, D, D],
    [D, D, M],
    [D, D, M],
    [D, D, M],
    [D, D, M],
    [F, F, F],
];

/// attributes/restore acts on a deleted attribute, which another organisation does not
/// see at all (§2.3), except a sync user, who sees it and is then refused.
const RESTORE: Table = [
    [D, D, D],
    [D, D, M],
    [D, D, M],
    [D, D, M],
    [D, D, F],
    [F, F, F],
];

/// The ids of what one test event holds.
struct Target {
    event_id: i64,
    event_uuid: String,
    /// A live attribute (`live.example`).
    attribute_id: i64,
    attribute_uuid: String,
    /// A soft-deleted attribute (`gone.example`).
    deleted_attribute_id: i64,
    object_id: i64,
}

impl Target {
    fn event(&self) -> String {
        self.event_id.to_string()
    }
}

struct World {
    server: Server,
    host_org: i64,
    org_a: i64,
    org_b: i64,
    /// One user of each stock role, in ORG-A, in [`STOCK_ROLES`] order.
    actors: Vec<Actor>,
    /// A User of ORG-A who creates the "own organisation's" events.
    colleague: Actor,
    /// A User of ORG-B who creates the other organisation's events.
    outsider: Actor,
}

impl World {
    async fn new() -> World {
        let server = Server::start().await;
        let host_org = server
            .store
            .user_by_email("admin@host.test")
            .await
            .expect("the store answers")
            .expect("the first admin")
            .org_id;
        let org_a = create_org(&server, "ORG-A").await;
        let org_b = create_org(&server, "ORG-B").await;
        let mut actors = Vec::new();
        for role_id in STOCK_ROLES {
            actors
                .push(create_user(&server, org_a, role_id, &format!("role{role_id}@a.test")).await);
        }
        let colleague = create_user(&server, org_a, 3, "colleague@a.test").await;
        let outsider = create_user(&server, org_b, 3, "outsider@b.test").await;
        let (status, _, body) = server.post("/tags/add", json!({"name": "perm:new"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        World {
            server,
            host_org,
            org_a,
            org_b,
            actors,
            colleague,
            outsider,
        }
    }

    fn actor(&self, role_id: i64) -> &Actor {
        &self.actors[(role_id - 1) as usize]
    }

    fn ownership(&self, actor: &Actor, relation: Relation) -> Ownership {
        let (user_id, org_id) = match relation {
            Relation::Own => (actor.user_id, actor.org_id),
            Relation::OwnOrg => (self.colleague.user_id, self.org_a),
            Relation::OtherOrg => (self.outsider.user_id, self.org_b),
        };
        Ownership {
            user_id,
            org_id,
            orgc_id: org_id,
            locked: false,
        }
    }

    /// A fresh event for `owner`: a global and a local tag, a live and a deleted
    /// attribute, and an object; everything below the event inherits its distribution.
    async fn event(&self, owner: Ownership, distribution: i64, published: bool) -> Target {
        let body = json!({
            "info": "permissions",
            "distribution": distribution,
            "published": published,
            "Tag": [{"name": "perm:attached"}, {"name": "perm:local", "local": true}],
            "Attribute": [
                {"type": "domain", "value": "live.example", "distribution": 5},
                {"type": "domain", "value": "gone.example", "distribution": 5, "deleted": true},
            ],
            "Object": [{"name": "domain-ip", "meta-category": "network", "distribution": 5,
                "Attribute": [{"object_relation": "domain", "type": "domain",
                               "value": "in-object.example", "distribution": 5}]}],
        });
        let event_id = insert_event(&self.server, &body, owner).await;
        let stored = self.stored(event_id).await.expect("just stored");
        let attribute = |value: &str| {
            stored
                .attributes
                .iter()
                .find(|attribute| attribute.value1 == value)
                .unwrap_or_else(|| panic!("{value} in {stored:?}"))
        };
        Target {
            event_id,
            event_uuid: stored.uuid.clone(),
            attribute_id: attribute("live.example").id,
            attribute_uuid: attribute("live.example").uuid.clone(),
            deleted_attribute_id: attribute("gone.example").id,
            object_id: stored.objects[0].id,
        }
    }

    async fn stored(&self, event_id: i64) -> Option<Event> {
        stored_event(&self.server, event_id).await
    }

    /// How many sightings the site admin sees on the event.
    async fn sighting_count(&self, event_id: i64) -> usize {
        let (status, _, body) = self
            .server
            .get(&format!("/sightings/index/{event_id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().map_or(0, Vec::len)
    }
}

fn tagged(event: &Event, name: &str) -> bool {
    event.tags.iter().any(|attached| attached.tag.name == name)
}

fn attribute_of(event: &Event, id: i64) -> &kizuna_model::Attribute {
    event
        .attributes
        .iter()
        .find(|attribute| attribute.id == id)
        .unwrap_or_else(|| panic!("attribute {id} in {event:?}"))
}

/// Asserts MISP's error body: `name`, `message` and `url` are strings.
fn assert_error_shape(body: &Value, case: &str) {
    for field in ["name", "message", "url"] {
        assert!(body[field].is_string(), "{case}: no {field} in {body}");
    }
}

fn assert_outcome(reply: &Reply, expected: Outcome, case: &str) {
    let (status, _, body) = reply;
    match expected {
        Outcome::Done => assert!(status.is_success(), "{case}: {status} {body}"),
        Outcome::Refused => {
            assert_eq!(*status, StatusCode::FORBIDDEN, "{case}: {body}");
            assert_error_shape(body, case);
        }
        Outcome::Missing => {
            assert_eq!(*status, StatusCode::NOT_FOUND, "{case}: {body}");
            assert_error_shape(body, case);
        }
    }
}

/// Runs `act` for every stock role on a fresh event of every relation and checks the
/// outcome against `table`: a success must show through `took_effect`, a refusal must
/// leave the stored event exactly as it was.
async fn check_matrix(
    action: &str,
    table: &Table,
    published: bool,
    act: impl AsyncFn(&World, &Actor, &Target) -> Reply,
    took_effect: impl AsyncFn(&World, &Target) -> bool,
) {
    let world = World::new().await;
    for (row, role_id) in STOCK_ROLES.into_iter().enumerate() {
        let actor = world.actor(role_id);
        for (column, relation) in RELATIONS.into_iter().enumerate() {
            let target = world
                .event(world.ownership(actor, relation), 1, published)
                .await;
            let case = format!("{action} by {} on {relation:?}", role_name(role_id));
            let before = world.stored(target.event_id).await;
            let sightings_before = world.sighting_count(target.event_id).await;
            let reply = act(&world, actor, &target).await;
            let expected = table[row][column];
            assert_outcome(&reply, expected, &case);
            if expected == Outcome::Done {
                assert!(took_effect(&world, &target).await, "{case}: no effect");
            } else {
                assert_eq!(world.stored(target.event_id).await, before, "{case}");
                assert_eq!(
                    world.sighting_count(target.event_id).await,
                    sightings_before,
                    "{case}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn events_edit() {
    check_matrix(
        "events/edit",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post(
                    &format!("/events/edit/{}", target.event()),
                    json!({"Event": {"info": "edited"}}),
                )
                .await
        },
        async |world, target| world.stored(target.event_id).await.unwrap().info == "edited",
    )
    .await;
}

#[tokio::test]
async fn events_delete() {
    check_matrix(
        "events/delete",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post_empty(&format!("/events/delete/{}", target.event()))
                .await
        },
        async |world, target| world.stored(target.event_id).await.is_none(),
    )
    .await;
}

#[tokio::test]
async fn events_publish() {
    check_matrix(
        "events/publish",
        &PUBLISH,
        false,
        async |_, actor, target| {
            actor
                .post_empty(&format!("/events/publish/{}", target.event()))
                .await
        },
        async |world, target| world.stored(target.event_id).await.unwrap().published,
    )
    .await;
}

#[tokio::test]
async fn events_alert() {
    check_matrix(
        "events/alert",
        &PUBLISH,
        false,
        async |_, actor, target| {
            actor
                .post_empty(&format!("/events/alert/{}", target.event()))
                .await
        },
        async |world, target| world.stored(target.event_id).await.unwrap().published,
    )
    .await;
}

#[tokio::test]
async fn events_unpublish() {
    check_matrix(
        "events/unpublish",
        &MODIFY,
        true,
        async |_, actor, target| {
            actor
                .post_empty(&format!("/events/unpublish/{}", target.event()))
                .await
        },
        async |world, target| !world.stored(target.event_id).await.unwrap().published,
    )
    .await;
}

#[tokio::test]
async fn events_add_tag() {
    check_matrix(
        "events/addTag",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post_empty(&format!("/events/addTag/{}/perm%3Anew", target.event()))
                .await
        },
        async |world, target| tagged(&world.stored(target.event_id).await.unwrap(), "perm:new"),
    )
    .await;
}

#[tokio::test]
async fn events_remove_tag() {
    check_matrix(
        "events/removeTag",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post_empty(&format!(
                    "/events/removeTag/{}/perm%3Aattached",
                    target.event()
                ))
                .await
        },
        async |world, target| {
            !tagged(
                &world.stored(target.event_id).await.unwrap(),
                "perm:attached",
            )
        },
    )
    .await;
}

#[tokio::test]
async fn events_add_needs_perm_add() {
    let world = World::new().await;
    for role_id in STOCK_ROLES {
        let actor = world.actor(role_id);
        let info = format!("added by {}", role_name(role_id));
        let reply = actor
            .post("/events/add", json!({"Event": {"info": info}}))
            .await;
        let expected = if role_id == 6 { F } else { D };
        assert_outcome(&reply, expected, &info);
        let (_, _, index) = world
            .server
            .post("/events/index", json!({"eventinfo": info}))
            .await;
        let found = index.as_array().map_or(0, Vec::len);
        assert_eq!(found, usize::from(expected == D), "{info}: {index}");
    }
}

// ---------------------------------------------------------------------------------------
// Tags on events and attributes (TagsController)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tags_attach_tag_to_object() {
    check_matrix(
        "tags/attachTagToObject",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post(
                    "/tags/attachTagToObject",
                    json!({"uuid": target.event_uuid, "tag": "perm:new"}),
                )
                .await
        },
        async |world, target| tagged(&world.stored(target.event_id).await.unwrap(), "perm:new"),
    )
    .await;
}

#[tokio::test]
async fn tags_attach_tag_to_an_attribute() {
    check_matrix(
        "tags/attachTagToObject on an attribute",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post(
                    "/tags/attachTagToObject",
                    json!({"uuid": target.attribute_uuid, "tag": "perm:new"}),
                )
                .await
        },
        async |world, target| {
            let stored = world.stored(target.event_id).await.unwrap();
            attribute_of(&stored, target.attribute_id)
                .tags
                .iter()
                .any(|attached| attached.tag.name == "perm:new")
        },
    )
    .await;
}

#[tokio::test]
async fn tags_remove_tag_from_object() {
    check_matrix(
        "tags/removeTagFromObject",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post(
                    "/tags/removeTagFromObject",
                    json!({"uuid": target.event_uuid, "tag": "perm:attached"}),
                )
                .await
        },
        async |world, target| {
            !tagged(
                &world.stored(target.event_id).await.unwrap(),
                "perm:attached",
            )
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Attributes, objects, references, sightings
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn attributes_add() {
    check_matrix(
        "attributes/add",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post(
                    &format!("/attributes/add/{}", target.event()),
                    json!({"type": "domain", "value": "added.example"}),
                )
                .await
        },
        async |world, target| {
            world
                .stored(target.event_id)
                .await
                .unwrap()
                .attributes
                .iter()
                .any(|attribute| attribute.value1 == "added.example")
        },
    )
    .await;
}

#[tokio::test]
async fn attributes_edit() {
    check_matrix(
        "attributes/edit",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post(
                    &format!("/attributes/edit/{}", target.attribute_id),
                    json!({"comment": "edited"}),
                )
                .await
        },
        async |world, target| {
            let stored = world.stored(target.event_id).await.unwrap();
            attribute_of(&stored, target.attribute_id).comment == "edited"
        },
    )
    .await;
}

#[tokio::test]
async fn attributes_delete() {
    check_matrix(
        "attributes/delete",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post_empty(&format!("/attributes/delete/{}", target.attribute_id))
                .await
        },
        async |world, target| {
            let stored = world.stored(target.event_id).await.unwrap();
            attribute_of(&stored, target.attribute_id).deleted
        },
    )
    .await;
}

#[tokio::test]
async fn attributes_restore() {
    check_matrix(
        "attributes/restore",
        &RESTORE,
        false,
        async |_, actor, target| {
            actor
                .post_empty(&format!(
                    "/attributes/restore/{}",
                    target.deleted_attribute_id
                ))
                .await
        },
        async |world, target| {
            let stored = world.stored(target.event_id).await.unwrap();
            !attribute_of(&stored, target.deleted_attribute_id).deleted
        },
    )
    .await;
}

#[tokio::test]
async fn objects_add() {
    check_matrix(
        "objects/add",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post(
                    &format!("/objects/add/{}", target.event()),
                    json!({"name": "domain-ip", "meta-category": "network", "Attribute": [
                        {"object_relation": "domain", "type": "domain", "value": "new-object.example"}
                    ]}),
                )
                .await
        },
        async |world, target| world.stored(target.event_id).await.unwrap().objects.len() == 2,
    )
    .await;
}

#[tokio::test]
async fn objects_delete() {
    check_matrix(
        "objects/delete",
        &MODIFY,
        false,
        async |_, actor, target| {
            actor
                .post_empty(&format!("/objects/delete/{}", target.object_id))
                .await
        },
        async |world, target| world.stored(target.event_id).await.unwrap().objects[0].deleted,
    )
    .await;
}

#[tokio::test]
async fn object_references_add() {
    check_matrix(
        "objectReferences/add",
        &REFERENCE,
        false,
        async |_, actor, target| {
            actor
                .post(
                    &format!("/objectReferences/add/{}", target.object_id),
                    json!({"referenced_uuid": target.attribute_uuid,
                           "relationship_type": "related-to"}),
                )
                .await
        },
        async |world, target| {
            !world.stored(target.event_id).await.unwrap().objects[0]
                .references
                .is_empty()
        },
    )
    .await;
}

#[tokio::test]
async fn sightings_add() {
    check_matrix(
        "sightings/add",
        &SIGHT,
        false,
        async |_, actor, target| {
            actor
                .post_empty(&format!("/sightings/add/{}", target.attribute_id))
                .await
        },
        async |world, target| world.sighting_count(target.event_id).await == 1,
    )
    .await;
}

/// MISP's canDeleteSighting behind the perm_sighting + perm_modify_org gate: an
/// organisation's sightings are deleted by its own writers; another organisation's are
/// answered as missing.
#[tokio::test]
async fn sightings_delete() {
    let world = World::new().await;
    for role_id in STOCK_ROLES {
        let actor = world.actor(role_id);
        let target = world
            .event(world.ownership(actor, Relation::OtherOrg), 1, false)
            .await;
        let case = format!("sightings/delete by {}", role_name(role_id));
        let (status, _, body) = world
            .colleague
            .post_empty(&format!("/sightings/add/{}", target.attribute_id))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let own_org_sighting = text(&body["Sighting"]["id"]).to_string();
        let (status, _, body) = world
            .outsider
            .post_empty(&format!("/sightings/add/{}", target.attribute_id))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let other_org_sighting = text(&body["Sighting"]["id"]).to_string();

        let expected = if role_id == 6 { F } else { D };
        let reply = actor
            .post_empty(&format!("/sightings/delete/{own_org_sighting}"))
            .await;
        assert_outcome(&reply, expected, &format!("{case}, own organisation's"));
        let expected_left = if expected == D { 1 } else { 2 };
        assert_eq!(
            world.sighting_count(target.event_id).await,
            expected_left,
            "{case}"
        );

        let expected = match role_id {
            1 => D,
            6 => F,
            _ => M,
        };
        let reply = actor
            .post_empty(&format!("/sightings/delete/{other_org_sighting}"))
            .await;
        assert_outcome(&reply, expected, &format!("{case}, other organisation's"));
        assert_eq!(
            world.sighting_count(target.event_id).await,
            expected_left - usize::from(expected == D),
            "{case}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Tags and warninglists themselves
// ---------------------------------------------------------------------------------------

/// tags/add needs perm_tag_editor; tags/edit and tags/delete are site admin only in MISP.
#[tokio::test]
async fn tag_editing_rights() {
    let world = World::new().await;
    for role_id in STOCK_ROLES {
        let actor = world.actor(role_id);
        let name = format!("perm:by-role-{role_id}");
        let case = format!("tags by {}", role_name(role_id));
        let may_add = matches!(role_id, 1 | 2 | 5);
        let reply = actor.post("/tags/add", json!({"name": name})).await;
        assert_outcome(&reply, if may_add { D } else { F }, &format!("{case}: add"));
        let (status, _, _) = world
            .server
            .get(&format!("/tags/view/{}", name.replace(':', "%3A")))
            .await;
        assert_eq!(status.is_success(), may_add, "{case}: add stored");

        let (_, _, tag) = world
            .server
            .post("/tags/add", json!({"name": format!("{name}-x")}))
            .await;
        let tag_id = text(&tag["Tag"]["id"]).to_string();
        let may_manage = role_id == 1;
        let reply = actor
            .post(
                &format!("/tags/edit/{tag_id}"),
                json!({"Tag": {"colour": "#123456"}}),
            )
            .await;
        assert_outcome(
            &reply,
            if may_manage { D } else { F },
            &format!("{case}: edit"),
        );
        let (_, _, viewed) = world.server.get(&format!("/tags/view/{tag_id}")).await;
        assert_eq!(
            viewed["Tag"]["colour"] == json!("#123456"),
            may_manage,
            "{case}: edit stored: {viewed}"
        );
        let reply = actor.post_empty(&format!("/tags/delete/{tag_id}")).await;
        assert_outcome(
            &reply,
            if may_manage { D } else { F },
            &format!("{case}: delete"),
        );
        let (status, _, _) = world.server.get(&format!("/tags/view/{tag_id}")).await;
        assert_eq!(status.is_success(), !may_manage, "{case}: delete stored");
    }
}

/// Switching warninglists needs perm_warninglist, which only the admin role has.
#[tokio::test]
async fn warninglist_switches() {
    let world = World::new().await;
    let (_, _, index) = world.server.get("/warninglists/index").await;
    let first = &index["Warninglists"][0]["Warninglist"];
    let id = text(&first["id"]).to_string();
    let mut enabled = first["enabled"] == json!(true);
    for role_id in STOCK_ROLES {
        let actor = world.actor(role_id);
        let case = format!("warninglists by {}", role_name(role_id));
        let allowed = role_id == 1;
        let wanted = !enabled;
        let reply = actor
            .post(
                "/warninglists/toggleEnable",
                json!({"id": id, "enabled": wanted}),
            )
            .await;
        assert_outcome(
            &reply,
            if allowed { D } else { F },
            &format!("{case}: toggleEnable"),
        );
        let reply = actor
            .post_empty(&format!(
                "/warninglists/enableWarninglist/{id}/{}",
                u8::from(wanted)
            ))
            .await;
        assert_outcome(
            &reply,
            if allowed { D } else { F },
            &format!("{case}: enableWarninglist"),
        );
        let reply = actor.post_empty("/warninglists/update").await;
        assert_outcome(
            &reply,
            if allowed { D } else { F },
            &format!("{case}: update"),
        );
        let (_, _, viewed) = world.server.get(&format!("/warninglists/view/{id}")).await;
        if allowed {
            enabled = wanted;
        }
        assert_eq!(
            viewed["Warninglist"]["enabled"],
            json!(enabled),
            "{case}: {viewed}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Events the caller cannot see, sync users and locked events, local tags, tag limits
// ---------------------------------------------------------------------------------------

/// A write on an event the caller cannot see is MISP's 404 "Invalid event." (missing and
/// invisible look the same); a role the action's gate refuses (Read Only everywhere, User
/// on publish) gets the gate's 403 before that.
#[tokio::test]
async fn writes_on_an_invisible_event_are_missing() {
    let world = World::new().await;
    let owner = Ownership {
        user_id: world.outsider.user_id,
        org_id: world.org_b,
        orgc_id: world.org_b,
        locked: false,
    };
    for role_id in STOCK_ROLES.into_iter().filter(|role| *role != 1) {
        let actor = world.actor(role_id);
        let target = world.event(owner, 0, false).await;
        let before = world.stored(target.event_id).await;
        let id = target.event();
        let attempts: Vec<(&str, Reply, &str)> = vec![
            (
                "events/edit",
                actor
                    .post(
                        &format!("/events/edit/{id}"),
                        json!({"Event": {"info": "x"}}),
                    )
                    .await,
                "Invalid event.",
            ),
            (
                "events/delete",
                actor.post_empty(&format!("/events/delete/{id}")).await,
                "Invalid event.",
            ),
            (
                "events/publish",
                actor.post_empty(&format!("/events/publish/{id}")).await,
                "Invalid event.",
            ),
            (
                "events/unpublish",
                actor.post_empty(&format!("/events/unpublish/{id}")).await,
                "Invalid event.",
            ),
            (
                "events/addTag",
                actor
                    .post_empty(&format!("/events/addTag/{id}/perm%3Anew"))
                    .await,
                "Invalid event.",
            ),
            (
                "attributes/add",
                actor
                    .post(
                        &format!("/attributes/add/{id}"),
                        json!({"type": "domain", "value": "x.example"}),
                    )
                    .await,
                "Invalid event.",
            ),
            (
                "objects/add",
                actor
                    .post(
                        &format!("/objects/add/{id}"),
                        json!({"name": "domain-ip", "Attribute": [
                            {"object_relation": "domain", "type": "domain", "value": "x.example"}]}),
                    )
                    .await,
                "Invalid event.",
            ),
            (
                "attributes/edit",
                actor
                    .post(
                        &format!("/attributes/edit/{}", target.attribute_id),
                        json!({"comment": "x"}),
                    )
                    .await,
                "Invalid attribute.",
            ),
            (
                "attributes/delete",
                actor
                    .post_empty(&format!("/attributes/delete/{}", target.attribute_id))
                    .await,
                "Invalid attribute.",
            ),
            (
                "tags/attachTagToObject",
                actor
                    .post(
                        "/tags/attachTagToObject",
                        json!({"uuid": target.event_uuid, "tag": "perm:new"}),
                    )
                    .await,
                "Invalid target.",
            ),
            (
                "sightings/add",
                actor
                    .post_empty(&format!("/sightings/add/{}", target.attribute_id))
                    .await,
                "",
            ),
        ];
        for (action, reply, message) in attempts {
            let case = format!("{action} by {} on an invisible event", role_name(role_id));
            // The per-action gate comes first: it knows nothing of the event.
            let stopped_at_the_gate = role_id == 6 || (role_id == 3 && action == "events/publish");
            if stopped_at_the_gate {
                assert_outcome(&reply, F, &case);
            } else {
                assert_outcome(&reply, M, &case);
                if !message.is_empty() {
                    assert_eq!(reply.2["message"], json!(message), "{case}");
                }
            }
        }
        assert_eq!(world.stored(target.event_id).await, before, "{role_id}");
        assert_eq!(world.sighting_count(target.event_id).await, 0);
    }
}

/// An event that arrived by sync (`locked`, held by ORG-A, created by ORG-B): MISP lets a
/// sync user of ORG-A edit it through events/edit and delete its attributes, but not
/// delete the event or add attributes (canModifyEvent knows no lock); a plain User of
/// ORG-A may do none of it.
#[tokio::test]
async fn sync_users_edit_locked_events() {
    let world = World::new().await;
    let locked = Ownership {
        user_id: world.outsider.user_id,
        org_id: world.org_a,
        orgc_id: world.org_b,
        locked: true,
    };
    for (role_id, may_write) in [(5, true), (3, false)] {
        let actor = world.actor(role_id);
        let who = role_name(role_id);
        let target = world.event(locked, 1, false).await;
        let id = target.event();

        let reply = actor
            .post(
                &format!("/events/edit/{id}"),
                json!({"Event": {"info": "synced edit"}}),
            )
            .await;
        assert_outcome(
            &reply,
            if may_write { D } else { F },
            &format!("edit by {who}"),
        );
        let stored = world.stored(target.event_id).await.unwrap();
        assert_eq!(stored.info == "synced edit", may_write, "{who}");

        let reply = actor
            .post_empty(&format!("/attributes/delete/{}", target.attribute_id))
            .await;
        assert_outcome(
            &reply,
            if may_write { D } else { F },
            &format!("attributes/delete by {who}"),
        );
        let stored = world.stored(target.event_id).await.unwrap();
        assert_eq!(
            attribute_of(&stored, target.attribute_id).deleted,
            may_write,
            "{who}"
        );

        let before = world.stored(target.event_id).await;
        let reply = actor
            .post(
                &format!("/attributes/add/{id}"),
                json!({"type": "domain", "value": "synced-add.example"}),
            )
            .await;
        assert_outcome(&reply, F, &format!("attributes/add by {who}"));
        let reply = actor.post_empty(&format!("/events/delete/{id}")).await;
        assert_outcome(&reply, F, &format!("events/delete by {who}"));
        assert_eq!(world.stored(target.event_id).await, before, "{who}");
    }
}

/// Local tags (MISP's canModifyTag and attachTagToObject): the host organisation's taggers
/// set and remove them on any event they can see; other organisations set them only
/// where they may modify the event, and never through attachTagToObject.
#[tokio::test]
async fn local_tags_belong_to_the_host_organisation() {
    let world = World::new().await;
    let host_user = create_user(&world.server, world.host_org, 3, "tagger@host.test").await;
    let other_org = Ownership {
        user_id: world.outsider.user_id,
        org_id: world.org_b,
        orgc_id: world.org_b,
        locked: false,
    };

    // The host organisation, on ORG-B's event.
    let target = world.event(other_org, 1, false).await;
    let id = target.event();
    let reply = host_user
        .post_empty(&format!("/events/addTag/{id}/perm%3Anew/local:1"))
        .await;
    assert_outcome(&reply, D, "host local addTag");
    let stored = world.stored(target.event_id).await.unwrap();
    let attached = stored
        .tags
        .iter()
        .find(|attached| attached.tag.name == "perm:new")
        .expect("attached");
    assert!(attached.local);
    let reply = host_user
        .post_empty(&format!("/events/removeTag/{id}/perm%3Anew"))
        .await;
    assert_outcome(&reply, D, "host local removeTag");
    let reply = host_user
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": target.event_uuid, "tag": "perm:new", "local": 1}),
        )
        .await;
    assert_outcome(&reply, D, "host local attachTagToObject");
    let reply = host_user
        .post(
            "/tags/removeTagFromObject",
            json!({"uuid": target.event_uuid, "tag": "perm:local"}),
        )
        .await;
    assert_outcome(&reply, D, "host removes the event's local tag");
    let stored = world.stored(target.event_id).await.unwrap();
    assert!(tagged(&stored, "perm:new") && !tagged(&stored, "perm:local"));

    // ... but not global tags there.
    let before = world.stored(target.event_id).await;
    let reply = host_user
        .post_empty(&format!("/events/addTag/{id}/perm%3Anew"))
        .await;
    assert_outcome(&reply, F, "host global addTag");
    let reply = host_user
        .post(
            "/tags/removeTagFromObject",
            json!({"uuid": target.event_uuid, "tag": "perm:attached"}),
        )
        .await;
    assert_outcome(&reply, F, "host global removeTagFromObject");
    assert_eq!(world.stored(target.event_id).await, before);

    // ORG-A, not the host: nothing local on ORG-B's event ...
    let user = world.actor(3);
    let target = world.event(other_org, 1, false).await;
    let before = world.stored(target.event_id).await;
    let reply = user
        .post_empty(&format!(
            "/events/addTag/{}/perm%3Anew/local:1",
            target.event()
        ))
        .await;
    assert_outcome(&reply, F, "ORG-A local addTag on ORG-B's event");
    let reply = user
        .post(
            "/tags/removeTagFromObject",
            json!({"uuid": target.event_uuid, "tag": "perm:local"}),
        )
        .await;
    assert_outcome(&reply, F, "ORG-A removes ORG-B's local tag");
    assert_eq!(world.stored(target.event_id).await, before);

    // ... and on its own event, local tags only through events/addTag.
    let own = world
        .event(world.ownership(user, Relation::Own), 1, false)
        .await;
    let reply = user
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": own.event_uuid, "tag": "perm:new", "local": 1}),
        )
        .await;
    assert_outcome(&reply, F, "ORG-A local attachTagToObject");
    assert_eq!(reply.2["saved"], json!(false));
    assert!(!tagged(
        &world.stored(own.event_id).await.unwrap(),
        "perm:new"
    ));
    let reply = user
        .post_empty(&format!(
            "/events/addTag/{}/perm%3Anew/local:1",
            own.event()
        ))
        .await;
    assert_outcome(&reply, D, "ORG-A local addTag on its own event");
}

/// Tags reserved to one organisation or user, and local-only tags.
#[tokio::test]
async fn tag_restrictions_hold_for_everyone_but_site_admins() {
    let world = World::new().await;
    let user = world.actor(3);
    let reserved = [
        json!({"name": "perm:org-b-only", "org_id": world.org_b}),
        json!({"name": "perm:outsider-only", "user_id": world.outsider.user_id}),
        json!({"name": "perm:local-only", "local_only": true}),
    ];
    for tag in &reserved {
        let (status, _, body) = world.server.post("/tags/add", tag.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let own = world
        .event(world.ownership(user, Relation::Own), 1, false)
        .await;
    let before = world.stored(own.event_id).await;
    for tag in &reserved {
        let name = text(&tag["name"]);
        let reply = user
            .post(
                "/tags/attachTagToObject",
                json!({"uuid": own.event_uuid, "tag": name}),
            )
            .await;
        assert_outcome(&reply, F, &format!("attachTagToObject {name}"));
        let reply = user
            .post_empty(&format!(
                "/events/addTag/{}/{}",
                own.event(),
                name.replace(':', "%3A")
            ))
            .await;
        assert_outcome(&reply, F, &format!("addTag {name}"));
    }
    assert_eq!(world.stored(own.event_id).await, before);

    // A local-only tag is fine locally (from the host organisation), and site admins are
    // not bound by the organisation and user limits.
    let reply = world
        .server
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": own.event_uuid, "tag": "perm:local-only", "local": 1}),
        )
        .await;
    assert_outcome(&reply, D, "admin local-only, locally");
    let reply = world
        .server
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": own.event_uuid, "tag": ["perm:org-b-only", "perm:outsider-only"]}),
        )
        .await;
    assert_outcome(&reply, D, "admin reserved tags");
    let stored = world.stored(own.event_id).await.unwrap();
    for tag in &reserved {
        assert!(tagged(&stored, text(&tag["name"])), "{tag}");
    }
}

// ---------------------------------------------------------------------------------------
// Deleted items (misp-reference §2.3)
// ---------------------------------------------------------------------------------------

fn values(items: &Value) -> Vec<String> {
    let mut values: Vec<String> = items
        .as_array()
        .into_iter()
        .flatten()
        .map(|attribute| text(&attribute["value"]).to_string())
        .collect();
    values.sort();
    values
}

/// Soft-deleted attributes and objects asked for with `deleted` are shown to other
/// organisations on their own events only; site admins and sync users see them all.
#[tokio::test]
async fn deleted_items_of_other_organisations_stay_hidden() {
    let world = World::new().await;
    let user = world.actor(3);
    let sync_user = world.actor(5);
    let theirs = world
        .event(world.ownership(user, Relation::OtherOrg), 1, false)
        .await;
    let ours = world
        .event(world.ownership(user, Relation::OwnOrg), 1, false)
        .await;
    // A deleted object on ORG-B's event too.
    let (status, _, body) = world
        .server
        .post_empty(&format!("/objects/delete/{}", theirs.object_id))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // events/view with deleted.
    let view = async |client: &crate::support::Client, target: &Target| {
        let (status, _, body) = client
            .get(&format!("/events/view/{}/deleted:1", target.event()))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            values(&body["Event"]["Attribute"]),
            body["Event"]["Object"].as_array().map_or(0, Vec::len),
        )
    };
    let live_only = (vec!["live.example".to_string()], 0);
    let with_deleted = (
        vec!["gone.example".to_string(), "live.example".to_string()],
        1,
    );
    assert_eq!(
        view(user, &theirs).await,
        live_only,
        "User on ORG-B's event"
    );
    assert_eq!(
        view(&world.outsider, &theirs).await,
        with_deleted,
        "ORG-B on its own"
    );
    assert_eq!(
        view(&world.server, &theirs).await,
        with_deleted,
        "site admin"
    );
    assert_eq!(view(sync_user, &theirs).await, with_deleted, "sync user");
    let (own_values, _) = view(user, &ours).await;
    assert_eq!(own_values, with_deleted.0, "User on ORG-A's event");

    // attributes/view of a deleted attribute.
    let path = format!("/attributes/view/{}/deleted:1", theirs.deleted_attribute_id);
    let (status, _, body) = user.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, body) = world.outsider.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // attributes/restSearch.
    for deleted in [json!(1), json!("only"), json!([0, 1])] {
        let (status, _, body) = user
            .post(
                "/attributes/restSearch",
                json!({"deleted": deleted, "value": "gone.example"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let found: Vec<i64> = body["response"]["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .map(|attribute| int(&attribute["event_id"]))
            .collect();
        assert_eq!(found, [ours.event_id], "deleted {deleted}: {body}");
        let (_, _, body) = world
            .server
            .post(
                "/attributes/restSearch",
                json!({"deleted": deleted, "value": "gone.example"}),
            )
            .await;
        assert_eq!(
            body["response"]["Attribute"].as_array().unwrap().len(),
            2,
            "site admin, deleted {deleted}"
        );
    }

    // events/restSearch.
    let (status, _, body) = user.post("/events/restSearch", json!({"deleted": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["response"].as_array().unwrap();
    for event in events {
        let event = &event["Event"];
        let id = int(&event["id"]);
        let expected = if id == ours.event_id {
            &with_deleted.0
        } else {
            &live_only.0
        };
        assert_eq!(&values(&event["Attribute"]), expected, "event {id}");
        if id == theirs.event_id {
            assert!(
                event["Object"].as_array().is_none_or(Vec::is_empty),
                "{event}"
            );
        }
    }
    assert_eq!(events.len(), 2, "{body}");
    // With `only`, events still come whole-event first (as MISP's events restSearch does),
    // carrying only the deleted attributes the caller may see.
    let (_, _, body) = user
        .post("/events/restSearch", json!({"deleted": "only"}))
        .await;
    for event in body["response"].as_array().unwrap() {
        let event = &event["Event"];
        let id = int(&event["id"]);
        let expected: Vec<String> = if id == ours.event_id {
            vec!["gone.example".into()]
        } else {
            Vec::new()
        };
        assert_eq!(values(&event["Attribute"]), expected, "event {id}");
    }
}
