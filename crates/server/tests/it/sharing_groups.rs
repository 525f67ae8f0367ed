//! Sharing groups (misp-reference §1.10, §2.2, §4.7): every endpoint of MISP's
//! SharingGroupsController, who may see, edit, delete and change the members of a group,
//! distribution 4 on writes, and the `SharingGroup` object embedded in events.

use crate::support::{
    BASE_URL, Client, ROLE_USER, Server, assert_misp_error, assert_save_failed, int, new_uuid, now,
    text,
};
use axum::http::StatusCode;
use kizuna_model::{Organisation, User};
use kizuna_server::keys;
use serde_json::{Value, json};

/// MISP's stock "Org Admin" role: it holds perm_sharing_group, "User" does not.
const ROLE_ORG_ADMIN: i64 = 2;

/// A user of an organisation, with the organisation's id and uuid.
struct Member {
    client: Client,
    org_id: i64,
    org_uuid: String,
}

async fn new_org(server: &Server, name: &str) -> Organisation {
    server
        .store
        .create_org(&Organisation {
            uuid: new_uuid(),
            name: name.to_string(),
            local: true,
            date_created: now(),
            date_modified: now(),
            ..Organisation::default()
        })
        .await
        .expect("a new organisation")
}

async fn user_of(server: &Server, org: &Organisation, role_id: i64, email: &str) -> Member {
    let key = keys::generate_api_key();
    server
        .store
        .create_user(
            &User {
                email: email.to_string(),
                org_id: org.id,
                role_id,
                termsaccepted: true,
                date_created: now(),
                date_modified: now(),
                ..User::default()
            },
            Some(&keys::stored_form(&key)),
        )
        .await
        .expect("a new user");
    Member {
        client: server.client(&key),
        org_id: org.id,
        org_uuid: org.uuid.clone(),
    }
}

/// A new organisation with one user of `role_id`.
async fn member(server: &Server, org_name: &str, role_id: i64) -> Member {
    let org = new_org(server, org_name).await;
    let email = format!("{}-{role_id}@{}.test", new_uuid(), org_name.to_lowercase());
    user_of(server, &org, role_id, &email).await
}

async fn host_org(server: &Server) -> Organisation {
    server
        .store
        .org_by_name("HOST-ORG")
        .await
        .unwrap()
        .expect("the host organisation")
}

/// Adds a group as `client` and returns the answer's envelope.
async fn add_group(client: &Client, body: Value) -> Value {
    let (status, _, reply) = client.post("/sharing_groups/add", body).await;
    assert_eq!(status, StatusCode::OK, "sharing_groups/add: {reply:#}");
    reply
}

async fn view_group(client: &Client, key: &str) -> Value {
    let (status, _, body) = client.get(&format!("/sharing_groups/view/{key}")).await;
    assert_eq!(status, StatusCode::OK, "sharing_groups/view: {body:#}");
    body
}

/// (org_id, extend) of each member of an envelope.
fn members(envelope: &Value) -> Vec<(i64, bool)> {
    envelope["SharingGroupOrg"]
        .as_array()
        .expect("a SharingGroupOrg list")
        .iter()
        .map(|member| (int(&member["org_id"]), member["extend"] == json!(true)))
        .collect()
}

/// (server_id, all_orgs) of each server of an envelope.
fn servers(envelope: &Value) -> Vec<(i64, bool)> {
    envelope["SharingGroupServer"]
        .as_array()
        .expect("a SharingGroupServer list")
        .iter()
        .map(|server| (int(&server["server_id"]), server["all_orgs"] == json!(true)))
        .collect()
}

/// Names of the groups `client` sees in `/sharingGroups/index[/true]`.
async fn listed(client: &Client, path: &str) -> Vec<String> {
    let (status, _, body) = client.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body:#}");
    body["response"]
        .as_array()
        .expect("a response list")
        .iter()
        .map(|entry| text(&entry["SharingGroup"]["name"]).to_string())
        .collect()
}

fn id_of(envelope: &Value) -> String {
    text(&envelope["SharingGroup"]["id"]).to_string()
}

async fn group_count(server: &Server) -> usize {
    server.store.list_sharing_groups().await.unwrap().len()
}

// ---------------------------------------------------------------------------------------
// add, view, index
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_added_group_belongs_to_its_creator_and_is_limited_to_this_instance() {
    let server = Server::start().await;
    let host = host_org(&server).await;
    let added = add_group(
        &server,
        json!({"name": "Partners", "releasability": "TLP:AMBER", "description": "d"}),
    )
    .await;
    let group = &added["SharingGroup"];
    assert_eq!(group["name"], json!("Partners"));
    assert_eq!(group["releasability"], json!("TLP:AMBER"));
    assert_eq!(group["description"], json!("d"));
    assert_eq!(group["org_id"], json!(host.id.to_string()));
    assert_eq!(group["organisation_uuid"], json!(host.uuid));
    assert_eq!(group["active"], json!(true));
    assert_eq!(group["local"], json!(true));
    assert_eq!(group["roaming"], json!(false));
    assert!(text(&group["created"]).len() == 19, "{group}");
    assert_eq!(added["Organisation"]["name"], json!("HOST-ORG"));
    // The creator's organisation is a member that may extend the group.
    assert_eq!(members(&added), [(host.id, true)]);
    assert_eq!(
        added["SharingGroupOrg"][0]["Organisation"]["uuid"],
        json!(host.uuid)
    );
    // Neither roaming nor given servers: this instance only.
    assert_eq!(servers(&added), [(0, false)]);
    assert_eq!(
        added["SharingGroupServer"][0]["Server"],
        json!({"id": "0", "url": BASE_URL, "name": BASE_URL})
    );

    let id = id_of(&added);
    let uuid = text(&group["uuid"]).to_string();
    for key in [&id, &uuid] {
        let viewed = view_group(&server, key).await;
        assert_eq!(viewed["SharingGroup"], added["SharingGroup"]);
        // The view has the full owner organisation and names this instance like MISP.
        assert_eq!(viewed["Organisation"]["local"], json!(true));
        assert!(viewed["Organisation"].get("date_created").is_some());
        assert_eq!(
            viewed["SharingGroupServer"][0]["Server"]["name"],
            json!("Local instance")
        );
        let (status, _, body) = server.head(&format!("/sharing_groups/view/{key}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, Value::Null);
    }
    // PyMISP's camelCase spelling reaches the same controller.
    let (status, _, _) = server.get(&format!("/sharingGroups/view/{id}.json")).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, body) = server.get("/sharingGroups/index").await;
    assert_eq!(status, StatusCode::OK);
    let entries = body["response"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["SharingGroup"]["name"], json!("Partners"));
    assert_eq!(entries[0]["SharingGroup"]["org_count"], json!("1"));
    assert_eq!(entries[0]["editable"], json!(true));
    assert_eq!(entries[0]["deletable"], json!(true));
    assert_eq!(entries[0]["Organisation"]["uuid"], json!(host.uuid));
}

#[tokio::test]
async fn unknown_groups_are_not_found() {
    let server = Server::start().await;
    for key in ["999", "5f0c7a1e-0000-4000-8000-000000000999", "nonsense"] {
        let path = format!("/sharing_groups/view/{key}");
        let (status, _, body) = server.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_misp_error(&body, &path);
        assert_eq!(body["message"], json!("Invalid sharing group."));
        let (status, _, _) = server.head(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    for path in [
        "/sharing_groups/edit/999",
        "/sharing_groups/delete/999",
        "/sharing_groups/addOrg/999/1",
        "/sharing_groups/removeOrg/999/1",
        "/sharing_groups/addServer/999/0",
        "/sharing_groups/removeServer/999/0",
    ] {
        let (status, _, body) = server.post(path, json!({"name": "x"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_misp_error(&body, path);
    }
    let (status, _, _) = server
        .post("/sharingGroups/addOrg", json!({"org_id": 1}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn add_takes_members_servers_and_for_site_admins_an_owner() {
    let server = Server::start().await;
    let host = host_org(&server).await;
    let owner = new_org(&server, "OWNER").await;
    let by_uuid = new_org(&server, "BY-UUID").await;
    let by_name = new_org(&server, "BY-NAME").await;
    let by_id = new_org(&server, "BY-ID").await;
    let remote_uuid = new_uuid();
    let added = add_group(
        &server,
        json!({"SharingGroup": {
            "name": "Listed",
            "releasability": "members",
            "organisation_uuid": owner.uuid,
            "roaming": false,
            "active": "0",
            "SharingGroupOrg": [
                {"extend": true, "Organisation": {"uuid": by_uuid.uuid, "name": "ignored"}},
                {"extend": "0", "Organisation": {"name": "by-name"}},
                {"org_id": by_id.id.to_string(), "extend": 1},
                {"Organisation": {"uuid": remote_uuid, "name": "REMOTE-ORG"}},
            ],
            "SharingGroupServer": [
                {"all_orgs": true, "Server": {"url": format!("{BASE_URL}/")}},
                {"all_orgs": true, "Server": {"url": "https://unknown.example"}},
            ],
        }}),
    )
    .await;
    assert_eq!(added["SharingGroup"]["org_id"], json!(owner.id.to_string()));
    assert_eq!(added["SharingGroup"]["active"], json!(false));
    let remote = server
        .store
        .org(&kizuna_store::Key::Uuid(remote_uuid))
        .await
        .expect("the unknown organisation was captured");
    assert!(!remote.local);
    assert_eq!(remote.name, "REMOTE-ORG");
    assert_eq!(
        members(&added),
        [
            (owner.id, true),
            (by_uuid.id, true),
            (by_name.id, false),
            (by_id.id, true),
            (remote.id, false),
        ]
    );
    assert!(!members(&added).iter().any(|(org, _)| *org == host.id));
    // Only this instance is known; the other server is skipped as MISP skips it.
    assert_eq!(servers(&added), [(0, true)]);

    let roaming = add_group(&server, json!({"name": "Roaming", "roaming": true})).await;
    assert_eq!(roaming["SharingGroup"]["roaming"], json!(true));
    assert_eq!(servers(&roaming), []);
}

#[tokio::test]
async fn add_needs_perm_sharing_group_a_name_and_known_organisations() {
    let server = Server::start().await;
    let plain = member(&server, "PLAIN", ROLE_USER).await;
    let (status, _, body) = plain
        .client
        .post("/sharing_groups/add", json!({"name": "Nope"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_misp_error(&body, "/sharing_groups/add");

    let admin = member(&server, "ORG-ADMIN", ROLE_ORG_ADMIN).await;
    let reply = admin
        .client
        .post("/sharing_groups/add", json!({"releasability": "x"}))
        .await;
    assert_save_failed(&reply, "/sharing_groups/add");
    assert!(reply.2["errors"].get("name").is_some(), "{}", reply.2);
    assert_eq!(reply.2["name"], json!("Could not add SharingGroup"));

    // Organisation admins cannot capture organisations this instance does not know.
    let reply = admin
        .client
        .post(
            "/sharing_groups/add",
            json!({"name": "With stranger", "SharingGroupOrg": [
                {"Organisation": {"uuid": new_uuid(), "name": "STRANGER"}}
            ]}),
        )
        .await;
    assert_save_failed(&reply, "/sharing_groups/add");
    assert!(
        reply.2["errors"].get("SharingGroupOrg.0").is_some(),
        "{}",
        reply.2
    );
    assert!(
        server
            .store
            .org_by_name("STRANGER")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(group_count(&server).await, 0);

    // Nor do they choose the owner: it is their own organisation.
    let host = host_org(&server).await;
    let added = add_group(
        &admin.client,
        json!({"name": "Mine", "organisation_uuid": host.uuid, "org_id": host.id}),
    )
    .await;
    assert_eq!(
        added["SharingGroup"]["org_id"],
        json!(admin.org_id.to_string())
    );
    assert_eq!(members(&added), [(admin.org_id, true)]);

    let (status, _, body) = admin.client.get("/sharing_groups/add").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["mandatory_fields"], json!(["name", "releasability"]));
}

#[tokio::test]
async fn taken_names_get_a_suffix_on_add_but_refuse_an_edit() {
    let server = Server::start().await;
    let first = add_group(&server, json!({"name": "Twin"})).await;
    let second = add_group(&server, json!({"name": "Twin"})).await;
    let renamed = text(&second["SharingGroup"]["name"]);
    assert!(renamed.starts_with("Twin_"), "{renamed}");
    assert_ne!(
        first["SharingGroup"]["uuid"],
        second["SharingGroup"]["uuid"]
    );

    let path = format!("/sharing_groups/edit/{}", id_of(&second));
    let reply = server.post(&path, json!({"name": "Twin"})).await;
    assert_save_failed(&reply, &path);
    assert_eq!(
        view_group(&server, &id_of(&second)).await["SharingGroup"]["name"],
        json!(renamed)
    );

    let taken_uuid = text(&first["SharingGroup"]["uuid"]).to_string();
    let reply = server
        .post(
            "/sharing_groups/add",
            json!({"name": "Other", "uuid": taken_uuid}),
        )
        .await;
    assert_save_failed(&reply, "/sharing_groups/add");
    assert_eq!(group_count(&server).await, 2);
}

#[tokio::test]
async fn the_index_shows_each_organisation_its_groups() {
    let server = Server::start().await;
    let first = member(&server, "FIRST", ROLE_ORG_ADMIN).await;
    let second = member(&server, "SECOND", ROLE_ORG_ADMIN).await;
    let extender = member(&server, "EXTENDER", ROLE_ORG_ADMIN).await;
    let outsider = member(&server, "OUTSIDER", ROLE_USER).await;
    add_group(&first.client, json!({"name": "first only"})).await;
    add_group(
        &server,
        json!({"name": "admin with second", "SharingGroupOrg": [
            {"org_id": second.org_id, "extend": false},
            {"org_id": extender.org_id, "extend": true},
        ]}),
    )
    .await;
    add_group(
        &server,
        json!({"name": "everyone here", "SharingGroupServer": [{"server_id": 0, "all_orgs": true}]}),
    )
    .await;
    add_group(&server, json!({"name": "retired", "active": false})).await;

    assert_eq!(
        listed(&server, "/sharing_groups/index").await,
        ["admin with second", "everyone here", "first only"]
    );
    assert_eq!(
        listed(&server, "/sharing_groups/index/true").await,
        ["retired"]
    );
    assert_eq!(
        listed(&first.client, "/sharing_groups/index").await,
        ["everyone here", "first only"]
    );
    assert_eq!(
        listed(&second.client, "/sharing_groups/index").await,
        ["admin with second", "everyone here"]
    );
    assert_eq!(
        listed(&outsider.client, "/sharing_groups/index").await,
        ["everyone here"]
    );
    assert_eq!(
        listed(&server, "/sharing_groups/index/value:SECOND").await,
        ["admin with second"]
    );
    assert_eq!(
        listed(&server, "/sharing_groups/index/value:only").await,
        ["first only"]
    );

    let flags = |body: &Value, name: &str| -> (Value, Value) {
        let entry = body["response"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["SharingGroup"]["name"] == json!(name))
            .unwrap()
            .clone();
        (entry["editable"].clone(), entry["deletable"].clone())
    };
    let (_, _, body) = second.client.get("/sharing_groups/index").await;
    assert_eq!(
        flags(&body, "admin with second"),
        (json!(false), json!(false))
    );
    let (_, _, body) = extender.client.get("/sharing_groups/index").await;
    assert_eq!(
        flags(&body, "admin with second"),
        (json!(true), json!(false))
    );
    let (_, _, body) = first.client.get("/sharing_groups/index").await;
    assert_eq!(flags(&body, "first only"), (json!(true), json!(true)));

    // A group an organisation may not see is not found for it, HEAD included.
    let hidden = &server
        .store
        .sharing_group_by_name("first only")
        .await
        .unwrap()
        .unwrap();
    let path = format!("/sharing_groups/view/{}", hidden.id);
    let (status, _, _) = second.client.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = second.client.head(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = outsider
        .client
        .get(&format!("/sharing_groups/view/{}", hidden.uuid))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// edit, delete
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn owners_and_extending_members_edit_and_others_change_nothing() {
    let server = Server::start().await;
    let owner = member(&server, "OWNER", ROLE_ORG_ADMIN).await;
    let extender = member(&server, "EXTENDER", ROLE_ORG_ADMIN).await;
    let reader = member(&server, "READER", ROLE_ORG_ADMIN).await;
    let reader_without_permission = {
        let org = server
            .store
            .org(&kizuna_store::Key::Id(reader.org_id))
            .await
            .unwrap();
        user_of(&server, &org, ROLE_USER, "plain@reader.test").await
    };
    let stranger = member(&server, "STRANGER", ROLE_ORG_ADMIN).await;
    let added = add_group(
        &owner.client,
        json!({"name": "Edited", "releasability": "before", "SharingGroupOrg": [
            {"org_id": extender.org_id, "extend": true},
            {"org_id": reader.org_id, "extend": false},
        ]}),
    )
    .await;
    let id = id_of(&added);
    let path = format!("/sharing_groups/edit/{id}");
    let before = view_group(&server, &id).await;

    let (status, _, body) = reader.client.post(&path, json!({"name": "hijacked"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_misp_error(&body, &path);
    let (status, _, _) = reader_without_permission
        .client
        .post(&path, json!({"name": "hijacked"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = stranger
        .client
        .post(&path, json!({"name": "hijacked"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(view_group(&server, &id).await, before);

    let (status, _, edited) = owner
        .client
        .post(
            &path,
            json!({"SharingGroup": {
                "name": "Edited by owner",
                "releasability": "after",
                "description": "now described",
                "roaming": true,
                "SharingGroupOrg": [
                    {"org_id": reader.org_id, "extend": true},
                    {"org_id": stranger.org_id, "extend": false},
                ],
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["SharingGroup"]["name"], json!("Edited by owner"));
    assert_eq!(edited["SharingGroup"]["releasability"], json!("after"));
    assert_eq!(edited["SharingGroup"]["roaming"], json!(true));
    // Members are merged: the listed ones are added or updated, the others stay.
    assert_eq!(
        members(&edited),
        [
            (owner.org_id, true),
            (extender.org_id, true),
            (reader.org_id, true),
            (stranger.org_id, false),
        ]
    );

    let (status, _, edited) = extender
        .client
        .post(
            &format!(
                "/sharingGroups/edit/{}",
                text(&added["SharingGroup"]["uuid"])
            ),
            json!({"description": "extended"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["SharingGroup"]["description"], json!("extended"));
    assert_eq!(edited["SharingGroup"]["name"], json!("Edited by owner"));

    let reply = owner.client.post(&path, json!({"name": " "})).await;
    assert_save_failed(&reply, &path);
    let (status, _, body) = owner.client.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["name"].as_str().unwrap().contains("API description"));
}

#[tokio::test]
async fn owners_delete_unused_groups_only() {
    let server = Server::start().await;
    let owner = member(&server, "OWNER", ROLE_ORG_ADMIN).await;
    let extender = member(&server, "EXTENDER", ROLE_ORG_ADMIN).await;
    let added = add_group(
        &owner.client,
        json!({"name": "Doomed", "SharingGroupOrg": [{"org_id": extender.org_id, "extend": true}]}),
    )
    .await;
    let id = id_of(&added);
    let path = format!("/sharingGroups/delete/{id}");

    let (status, _, body) = extender.client.post_empty(&path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_misp_error(&body, &path);

    // In use by an event: refused, and the group stays.
    let event = {
        let (status, _, body) = owner
            .client
            .post(
                "/events/add",
                json!({"info": "uses it", "distribution": 4, "sharing_group_id": id}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["Event"].clone()
    };
    let reply = owner.client.post_empty(&path).await;
    assert_save_failed(&reply, &path);
    assert_eq!(reply.2["name"], json!("Could not delete SharingGroup"));
    view_group(&server, &id).await;

    let (status, _, _) = owner
        .client
        .post_empty(&format!("/events/delete/{}", text(&event["id"])))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = owner.client.post_empty(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], json!("SharingGroup deleted"));
    assert_eq!(body["saved"], json!(true));
    assert_eq!(body["id"], json!(id));
    assert_eq!(group_count(&server).await, 0);
    let (status, _, _) = owner.client.post_empty(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// addOrg, removeOrg, addServer, removeServer
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn organisations_are_added_and_removed_by_path_or_body() {
    let server = Server::start().await;
    let host = host_org(&server).await;
    let partner = new_org(&server, "PARTNER").await;
    let added = add_group(&server, json!({"name": "Membership"})).await;
    let id = id_of(&added);
    let uuid = text(&added["SharingGroup"]["uuid"]).to_string();

    let path = format!("/sharing_groups/addOrg/{id}/{}/1", partner.id);
    let (status, _, body) = server.post_empty(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["name"],
        json!("Organisation added to the sharing group.")
    );
    assert_eq!(body["saved"], json!(true));
    assert_eq!(
        members(&view_group(&server, &id).await),
        [(host.id, true), (partner.id, true)]
    );
    let reply = server.post_empty(&path).await;
    assert_save_failed(&reply, &path);
    assert_eq!(
        reply.2["name"],
        json!("Could not add Organisation to SharingGroup")
    );

    // PyMISP's form: uuids in the body.
    let (status, _, body) = server
        .post(
            "/sharingGroups/removeOrg",
            json!({"sg_id": uuid, "org_id": partner.uuid}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["name"],
        json!("Organisation removed from the sharing group.")
    );
    let reply = server
        .post(
            "/sharingGroups/removeOrg",
            json!({"sg_id": uuid, "org_id": partner.uuid}),
        )
        .await;
    assert_save_failed(&reply, "/sharingGroups/removeOrg");

    let (status, _, body) = server
        .post(
            "/sharingGroups/addOrg",
            json!({"sg_id": id, "org_id": "partner", "extend": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        members(&view_group(&server, &id).await),
        [(host.id, true), (partner.id, false)]
    );

    let (status, _, body) = server
        .post(
            "/sharingGroups/addOrg",
            json!({"sg_id": id, "org_id": new_uuid()}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["message"], json!("Invalid organisation."));
}

#[tokio::test]
async fn this_instance_is_added_and_removed_as_server_zero() {
    let server = Server::start().await;
    let outsider = member(&server, "OUTSIDER", ROLE_USER).await;
    let added = add_group(&server, json!({"name": "Opening", "roaming": true})).await;
    let id = id_of(&added);
    assert!(
        listed(&outsider.client, "/sharing_groups/index")
            .await
            .is_empty()
    );

    let (status, _, body) = server
        .post(
            "/sharingGroups/addServer",
            json!({"sg_id": id, "server_id": 0, "all_orgs": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], json!("Server added to the sharing group."));
    assert_eq!(servers(&view_group(&server, &id).await), [(0, true)]);
    // Open to every organisation here: the outsider now sees it.
    assert_eq!(
        listed(&outsider.client, "/sharing_groups/index").await,
        ["Opening"]
    );
    let reply = server
        .post_empty(&format!("/sharing_groups/addServer/{id}/0"))
        .await;
    assert_save_failed(&reply, &format!("/sharing_groups/addServer/{id}/0"));

    let (status, _, body) = server
        .post(
            "/sharingGroups/addServer",
            json!({"sg_id": id, "server_id": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, _, body) = server
        .post(
            "/sharingGroups/removeServer",
            json!({"sg_id": id, "server_url": BASE_URL}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["name"],
        json!("Server removed from the sharing group.")
    );
    assert!(servers(&view_group(&server, &id).await).is_empty());
    assert!(
        listed(&outsider.client, "/sharing_groups/index")
            .await
            .is_empty()
    );
    let reply = server
        .post_empty(&format!("/sharing_groups/removeServer/{id}/0"))
        .await;
    assert_save_failed(&reply, &format!("/sharing_groups/removeServer/{id}/0"));
}

#[tokio::test]
async fn nobody_joins_or_changes_a_group_they_may_not_extend() {
    let server = Server::start().await;
    let owner = member(&server, "OWNER", ROLE_ORG_ADMIN).await;
    let reader = member(&server, "READER", ROLE_ORG_ADMIN).await;
    let newcomer = member(&server, "NEWCOMER", ROLE_ORG_ADMIN).await;
    let plain = member(&server, "PLAIN", ROLE_USER).await;
    let added = add_group(
        &owner.client,
        json!({"name": "Guarded",
            "SharingGroupOrg": [{"org_id": reader.org_id, "extend": false}],
            "SharingGroupServer": [{"server_id": 0, "all_orgs": true}]}),
    )
    .await;
    let id = id_of(&added);
    let before = view_group(&server, &id).await;

    // Everyone here sees the group (all_orgs), but seeing is not extending.
    let join = json!({"sg_id": id, "org_id": newcomer.org_uuid, "extend": true});
    let (status, _, body) = newcomer.client.post("/sharingGroups/addOrg", join).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_misp_error(&body, "/sharingGroups/addOrg");
    let raise = format!("/sharing_groups/addOrg/{id}/{}/1", reader.org_id);
    let (status, _, _) = reader.client.post_empty(&raise).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let drop_owner = json!({"sg_id": id, "org_id": owner.org_id});
    let (status, _, _) = reader
        .client
        .post("/sharingGroups/removeOrg", drop_owner)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = reader
        .client
        .post_empty(&format!("/sharing_groups/removeServer/{id}/0"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let join_plain = json!({"sg_id": id, "org_id": plain.org_id});
    let (status, _, _) = plain.client.post("/sharingGroups/addOrg", join_plain).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = reader
        .client
        .post_empty(&format!("/sharingGroups/delete/{id}"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(view_group(&server, &id).await, before);
}

// ---------------------------------------------------------------------------------------
// Distribution 4 on writes, SharingGroup in events
// ---------------------------------------------------------------------------------------

async fn event_count(client: &Client) -> usize {
    let (_, _, body) = client.get("/events/index").await;
    body.as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn distribution_4_needs_a_group_the_caller_may_use() {
    let server = Server::start().await;
    let writer = member(&server, "WRITER", ROLE_USER).await;
    let other = member(&server, "OTHER", ROLE_ORG_ADMIN).await;
    let theirs = id_of(&add_group(&other.client, json!({"name": "theirs"})).await);
    let ours = id_of(
        &add_group(
            &server,
            json!({"name": "ours", "SharingGroupOrg": [{"org_id": writer.org_id}]}),
        )
        .await,
    );
    let open = id_of(
        &add_group(
            &other.client,
            json!({"name": "open", "SharingGroupServer": [{"server_id": 0, "all_orgs": true}]}),
        )
        .await,
    );

    for (body, field) in [
        (
            json!({"info": "e", "distribution": 4, "sharing_group_id": theirs}),
            "sharing_group_id",
        ),
        (
            json!({"info": "e", "distribution": 4, "sharing_group_id": 4242}),
            "sharing_group_id",
        ),
        (
            json!({"info": "e", "distribution": 1, "Attribute": [
                {"type": "domain", "value": "a.example", "distribution": 4, "sharing_group_id": theirs}
            ]}),
            "Attribute.0.sharing_group_id",
        ),
        (
            json!({"info": "e", "distribution": 1, "Object": [{
                "name": "domain-ip", "distribution": 4, "sharing_group_id": theirs,
                "Attribute": [{"type": "domain", "object_relation": "domain", "value": "b.example"}]
            }]}),
            "Object.0.sharing_group_id",
        ),
        (
            json!({"info": "e", "distribution": 1, "Object": [{
                "name": "domain-ip",
                "Attribute": [{"type": "domain", "object_relation": "domain", "value": "c.example",
                    "distribution": 4, "sharing_group_id": theirs}]
            }]}),
            "Object.0.Attribute.0.sharing_group_id",
        ),
    ] {
        let reply = writer.client.post("/events/add", body).await;
        assert_save_failed(&reply, "/events/add");
        assert!(
            reply.2["errors"].get(field).is_some(),
            "{field}: {}",
            reply.2
        );
    }
    assert_eq!(event_count(&writer.client).await, 0);

    // A group listing the organisation, or open to everyone here, may be used.
    let event = {
        let (status, _, body) = writer
            .client
            .post(
                "/events/add",
                json!({"info": "shared", "distribution": 4, "sharing_group_id": ours,
                    "Attribute": [{"type": "domain", "value": "ok.example",
                        "distribution": 4, "sharing_group_id": open}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["Event"].clone()
    };
    let event_id = text(&event["id"]).to_string();
    let attribute_id = text(&event["Attribute"][0]["id"]).to_string();

    let path = format!("/attributes/add/{event_id}");
    let reply = writer
        .client
        .post(
            &path,
            json!({"type": "domain", "value": "no.example", "distribution": 4, "sharing_group_id": theirs}),
        )
        .await;
    assert_save_failed(&reply, &path);

    let path = format!("/attributes/edit/{attribute_id}");
    let reply = writer
        .client
        .post(
            &path,
            json!({"distribution": 4, "sharing_group_id": theirs}),
        )
        .await;
    assert_save_failed(&reply, &path);

    let path = format!("/objects/add/{event_id}");
    let reply = writer
        .client
        .post(
            &path,
            json!({"Object": {"name": "domain-ip", "distribution": 4, "sharing_group_id": theirs,
                "Attribute": [{"type": "domain", "object_relation": "domain", "value": "d.example"}]}}),
        )
        .await;
    assert_save_failed(&reply, &path);

    let path = format!("/events/edit/{event_id}");
    let reply = writer
        .client
        .post(
            &path,
            json!({"Event": {"distribution": 4, "sharing_group_id": theirs}}),
        )
        .await;
    assert_save_failed(&reply, &path);
    let reply = writer
        .client
        .post(
            &path,
            json!({"Event": {"Attribute": [{"type": "domain", "value": "e.example",
                "distribution": 4, "sharing_group_id": theirs}]}}),
        )
        .await;
    assert_save_failed(&reply, &path);

    // Nothing of the refused writes was kept.
    let (_, _, body) = writer.client.get(&format!("/events/view/{event_id}")).await;
    let stored = &body["Event"];
    assert_eq!(stored["sharing_group_id"], json!(ours));
    let values: Vec<&str> = stored["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attribute| text(&attribute["value"]))
        .collect();
    assert_eq!(values, ["ok.example"]);
    assert_eq!(stored["Attribute"][0]["sharing_group_id"], json!(open));
    assert_eq!(stored["Object"], json!([]));

    // Site admins may use any group.
    let (status, _, body) = server
        .post(
            &format!("/attributes/edit/{attribute_id}"),
            json!({"distribution": 4, "sharing_group_id": theirs}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Attribute"]["sharing_group_id"], json!(theirs));
}

#[tokio::test]
async fn events_embed_the_sharing_groups_they_and_their_items_use() {
    let server = Server::start().await;
    let host = host_org(&server).await;
    let partner = new_org(&server, "PARTNER").await;
    let group = add_group(
        &server,
        json!({"name": "Embedded", "releasability": "r",
            "SharingGroupOrg": [{"org_id": partner.id, "extend": false}]}),
    )
    .await;
    let id = id_of(&group);
    let added = server
        .add_event(json!({"info": "embedding", "distribution": 1,
            "Attribute": [
                {"type": "domain", "value": "sg.example", "distribution": 4, "sharing_group_id": id},
                {"type": "domain", "value": "plain.example", "distribution": 5},
            ],
            "Object": [{"name": "domain-ip", "distribution": 4, "sharing_group_id": id,
                "Attribute": [{"type": "domain", "object_relation": "domain", "value": "o.example",
                    "distribution": 4, "sharing_group_id": id}]}]}))
        .await;
    let event_id = text(&added["id"]).to_string();
    assert!(added.get("SharingGroup").is_none());
    let embedded = &added["Attribute"][0]["SharingGroup"];
    assert_eq!(embedded["name"], json!("Embedded"));
    assert_eq!(embedded["id"], json!(id));
    assert_eq!(embedded["Organisation"]["uuid"], json!(host.uuid));
    assert_eq!(
        embedded["SharingGroupOrg"][1]["Organisation"]["name"],
        json!("PARTNER")
    );
    assert_eq!(
        embedded["SharingGroupServer"][0]["Server"],
        json!({"id": "0", "url": BASE_URL, "name": BASE_URL})
    );
    assert!(added["Attribute"][1].get("SharingGroup").is_none());
    assert_eq!(added["Object"][0]["SharingGroup"], *embedded);
    assert_eq!(
        added["Object"][0]["Attribute"][0]["SharingGroup"],
        *embedded
    );

    // PyMISP's change_sharing_group_on_entity on an event: events/edit, read back.
    let (status, _, body) = server
        .post(
            &format!("/events/edit/{event_id}"),
            json!({"Event": {"distribution": 4, "sharing_group_id": id}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Event"]["SharingGroup"]["name"], json!("Embedded"));
    let viewed = server.view_event(&event_id).await;
    assert_eq!(viewed["distribution"], json!("4"));
    assert_eq!(viewed["SharingGroup"], *embedded);
    assert_eq!(viewed["Attribute"][0]["SharingGroup"], *embedded);
}
