//! Event reports (`/eventReports/*` and the `EventReport` list of events): MISP's shapes,
//! visibility by the report's own level, the event unpublished by changes, reports carried
//! by `/events/add` and newer versions by `/events/edit`.

use crate::support::{ROLE_USER, Server, int, new_uuid, text};
use axum::http::StatusCode;
use serde_json::{Value, json};

async fn published_event(server: &Server, distribution: i64) -> Value {
    let event = server
        .add_event(json!({"info": "with reports", "distribution": distribution,
            "published": true,
            "Attribute": [{"type": "domain", "category": "Network activity",
                           "value": "evil.example"}]}))
        .await;
    let (status, _, _) = server
        .post(
            &format!("/events/publish/{}", text(&event["id"])),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    event
}

async fn add_report(server: &Server, event_id: &str, report: Value) -> Value {
    let (status, _, body) = server
        .post(&format!("/eventReports/add/{event_id}"), report)
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body
}

fn report_names(event: &Value) -> Vec<String> {
    event["EventReport"]
        .as_array()
        .unwrap_or_else(|| panic!("no EventReport list in {event:#}"))
        .iter()
        .map(|report| text(&report["name"]).to_string())
        .collect()
}

#[tokio::test]
async fn reports_are_added_viewed_edited_deleted_and_restored_as_misp_does() {
    let server = Server::start().await;
    let event = published_event(&server, 3).await;
    let event_id = text(&event["id"]).to_string();

    let (status, _, described) = server.get("/eventReports/add").await;
    assert_eq!(status, StatusCode::OK, "{described:#}");
    assert!(described["mandatory_fields"].to_string().contains("name"));

    let added = add_report(
        &server,
        &event_id,
        json!({"EventReport": {"name": "Campaign write-up",
            "content": "# Dropper\nTalks to `evil.example`.", "distribution": 5}}),
    )
    .await;
    let report = &added["EventReport"];
    assert_eq!(report["name"], "Campaign write-up");
    assert_eq!(report["event_id"], json!(event_id));
    assert_eq!(report["distribution"], "5");
    assert_eq!(report["sharing_group_id"], "0");
    assert_eq!(report["deleted"], false);
    assert_eq!(added["Event"]["id"], json!(event_id));
    let report_id = text(&report["id"]).to_string();
    let report_uuid = text(&report["uuid"]).to_string();

    // The event is unpublished by the change, and lists the report.
    let viewed = server.view_event(&event_id).await;
    assert_eq!(viewed["published"], false);
    assert_eq!(report_names(&viewed), ["Campaign write-up"]);
    for key in [&report_id, &report_uuid] {
        let (status, _, body) = server.get(&format!("/eventReports/view/{key}")).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert_eq!(body["EventReport"]["uuid"], json!(report_uuid));
    }

    let (status, _, edited) = server
        .post(
            &format!("/eventReports/edit/{report_id}"),
            json!({"EventReport": {"name": "Campaign write-up v2"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(edited["EventReport"]["name"], "Campaign write-up v2");
    assert!(
        edited["EventReport"]["content"]
            .as_str()
            .unwrap()
            .contains("Dropper")
    );

    let (status, _, listed) = server
        .get(&format!("/eventReports/index/event_id:{event_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed:#}");

    let (status, _, deleted) = server
        .post(&format!("/eventReports/delete/{report_id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted:#}");
    assert_eq!(
        deleted["message"],
        format!("Event Report {report_id} soft deleted")
    );
    assert!(report_names(&server.view_event(&event_id).await).is_empty());
    let (_, _, with_deleted) = server
        .get(&format!("/events/view/{event_id}/deleted:1"))
        .await;
    assert_eq!(
        report_names(&with_deleted["Event"]),
        ["Campaign write-up v2"]
    );

    let (status, _, _) = server
        .post(&format!("/eventReports/restore/{report_id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report_names(&server.view_event(&event_id).await).len(), 1);

    let (status, _, _) = server
        .post(
            &format!("/eventReports/delete/{report_id}"),
            json!({"hard": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, missing) = server.get(&format!("/eventReports/view/{report_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing:#}");
}

#[tokio::test]
async fn other_organisations_see_reports_by_their_own_level() {
    let server = Server::start().await;
    let event = published_event(&server, 3).await;
    let event_id = text(&event["id"]).to_string();
    let hidden = add_report(
        &server,
        &event_id,
        json!({"name": "internal notes", "distribution": 0}),
    )
    .await;
    add_report(&server, &event_id, json!({"name": "shared write-up"})).await;
    let (status, _, _) = server
        .post(&format!("/events/publish/{event_id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let outsider = server.user_in_new_org("OUTSIDERS", ROLE_USER).await;
    let (status, _, seen) = outsider.get(&format!("/events/view/{event_id}")).await;
    assert_eq!(status, StatusCode::OK, "{seen:#}");
    assert_eq!(report_names(&seen["Event"]), ["shared write-up"]);
    let (status, _, _) = outsider
        .get(&format!(
            "/eventReports/view/{}",
            text(&hidden["EventReport"]["id"])
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, listed) = outsider.get("/eventReports/index").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed:#}");
    // restSearch's events carry the same reports; noEventReports leaves them out.
    let (status, _, found) = outsider
        .post("/events/restSearch", json!({"eventid": event_id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{found:#}");
    assert_eq!(
        report_names(&found["response"][0]["Event"]),
        ["shared write-up"]
    );
    let (_, _, bare) = outsider
        .post(
            "/events/restSearch",
            json!({"eventid": event_id, "noEventReports": 1}),
        )
        .await;
    assert_eq!(
        report_names(&bare["response"][0]["Event"]),
        Vec::<String>::new()
    );
    let (_, _, viewed) = outsider
        .get(&format!("/events/view/{event_id}/noEventReports:1"))
        .await;
    assert_eq!(report_names(&viewed["Event"]), Vec::<String>::new());
    // Nor may they change the event's reports.
    let (status, _, _) = outsider
        .post(
            &format!("/eventReports/add/{event_id}"),
            json!({"name": "mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn events_carry_reports_in_and_newer_versions_replace_older_ones() {
    let server = Server::start().await;
    let report_uuid = new_uuid();
    let event_uuid = new_uuid();
    let event = server
        .add_event(json!({"uuid": event_uuid, "info": "pushed with a report",
            "distribution": 3, "timestamp": "1700000000",
            "EventReport": [{"uuid": report_uuid, "name": "From the producer",
                             "content": "v1", "distribution": "5",
                             "timestamp": "1700000000"}]}))
        .await;
    assert_eq!(report_names(&event), ["From the producer"]);

    // A newer version in an edit replaces it; an older one would not.
    let (status, _, edited) = server
        .post(
            &format!("/events/edit/{event_uuid}"),
            json!({"Event": {"uuid": event_uuid, "info": "pushed with a report",
                "timestamp": "1700000100",
                "EventReport": [{"uuid": report_uuid, "name": "From the producer, v2",
                                 "content": "v2", "distribution": "5",
                                 "timestamp": "1700000100"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    let (_, _, viewed) = server
        .get(&format!("/eventReports/view/{report_uuid}"))
        .await;
    assert_eq!(viewed["EventReport"]["content"], "v2");
    let (status, _, _) = server
        .post(
            &format!("/events/edit/{event_uuid}"),
            json!({"Event": {"timestamp": "1700000200",
                "EventReport": [{"uuid": report_uuid, "name": "stale", "content": "v0",
                                 "timestamp": "1699999999"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, viewed) = server
        .get(&format!("/eventReports/view/{report_uuid}"))
        .await;
    assert_eq!(viewed["EventReport"]["content"], "v2");

    // A report without a name refuses the whole event, naming the field.
    let (status, _, refused) = server
        .post(
            "/events/add",
            json!({"Event": {"info": "bad report", "EventReport": [{"content": "x"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused:#}");
    assert!(
        refused["errors"]["EventReport.0.name"].is_array(),
        "{refused:#}"
    );
    let (status, _, body) = server
        .post("/eventReports/add/999999", json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body:#}");
    let (status, _, body) = server
        .post(
            &format!("/eventReports/add/{}", int(&event["id"])),
            json!({"name": "", "distribution": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body:#}");
    assert!(body["errors"]["distribution"].is_array(), "{body:#}");
}
