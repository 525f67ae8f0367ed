//! Pushing to a remote (misp-reference §2.4, §3.4 from the client's side): the published
//! events this server may receive and its push rules let through are offered in one
//! request; the remote names the ones it wants (new to it, or older there and arrived by
//! sync), and those are sent whole after the push downgrade. Then the sightings of events
//! whose local sightings are newer than the remote's.

use super::downgrade::{PushScope, prepare_for_push, strip_local_ids};
use super::remote::{IndexAnswer, Remote, Upload};
use super::rules::{PullRules, PushRules};
use super::{SyncError, host_org_id};
use futures_util::StreamExt;
use kizuna_formats::misp::output::render_event;
use kizuna_formats::misp::sharing_groups::{
    LocalServer, embed_sharing_groups, render_embedded_sharing_group,
};
use kizuna_model::{Distribution, SharingGroup};
use kizuna_store::{Key, LoadOptions, PushCandidate, Server, Store};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Event uploads in flight at once.
pub const UPLOAD_CONCURRENCY: usize = 4;
/// Offers per `filterEventIdsForPush` request.
const OFFER_CHUNK: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushTechnique {
    Full,
    /// Events with an id above the server's `lastpushedid`.
    Incremental,
    /// One local event, by id or uuid.
    Single(Key),
}

impl PushTechnique {
    pub fn parse(text: &str) -> Option<PushTechnique> {
        match text {
            "" | "full" => Some(PushTechnique::Full),
            "incremental" => Some(PushTechnique::Incremental),
            other => Key::parse(other).map(PushTechnique::Single),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PushReport {
    /// Events the rules and distribution let through.
    pub offered: u64,
    pub pushed: Vec<String>,
    /// Events the remote said it holds as new already.
    pub already_current: u64,
    pub failed: Vec<(String, String)>,
    pub sightings_pushed: u64,
    pub sighting_failures: Vec<String>,
    /// The new `lastpushedid`, when the run had candidates.
    pub lastpushedid: Option<i64>,
}

impl PushReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.sighting_failures.is_empty()
    }

    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} events pushed, {} events could not be pushed, {} sightings pushed",
            self.pushed.len(),
            self.failed.len(),
            self.sightings_pushed
        );
        if let Some((uuid, reason)) = self.failed.first() {
            text.push_str(&format!("; first failure: {uuid}: {reason}"));
        }
        if let Some(reason) = self.sighting_failures.first() {
            text.push_str(&format!("; sightings: {reason}"));
        }
        text
    }
}

pub fn report_json(report: &PushReport) -> Value {
    json!({
        "offered": report.offered,
        "pushed": report.pushed.len(),
        "already_current": report.already_current,
        "failed": report.failed.iter().map(|(uuid, reason)| json!({"uuid": uuid, "reason": reason})).collect::<Vec<_>>(),
        "sightings_pushed": report.sightings_pushed,
        "sighting_failures": report.sighting_failures,
    })
}

/// What decides whether an event may go to this server at all.
struct Eligibility {
    internal_host_link: bool,
    rules: PushRules,
    remote_org_uuid: String,
    groups: HashMap<i64, Option<SharingGroup>>,
    server_id: i64,
    internal: bool,
}

impl Eligibility {
    /// SharingGroup::checkIfServerInSG: a group with a server list (and not roaming) must
    /// list this server; then the remote's organisation must be a member.
    fn group_allows(&self, group_id: i64, org_uuids: &HashMap<i64, String>) -> bool {
        let Some(Some(group)) = self.groups.get(&group_id) else {
            return false;
        };
        if !group.roaming && !group.servers.is_empty() {
            let listed = group
                .servers
                .iter()
                .find(|member| member.server_id == self.server_id);
            match listed {
                Some(member) if member.all_orgs => return true,
                Some(_) => {}
                None if !self.internal => return false,
                None => {}
            }
        }
        !self.remote_org_uuid.is_empty()
            && group.orgs.iter().any(|member| {
                org_uuids
                    .get(&member.org_id)
                    .is_some_and(|uuid| uuid.eq_ignore_ascii_case(&self.remote_org_uuid))
            })
    }

    /// Event::checkDistributionForPush plus the push rules.
    fn event_allowed(&self, candidate: &PushCandidate, org_uuids: &HashMap<i64, String>) -> bool {
        let level_ok = match candidate.distribution {
            0 | 1 => self.internal_host_link,
            2 | 3 => true,
            4 => self.group_allows(candidate.sharing_group_id, org_uuids),
            _ => false,
        };
        level_ok && self.rules.allows(candidate.orgc_id, &candidate.tags)
    }
}

pub async fn push(
    store: &Store,
    server: &Server,
    technique: &PushTechnique,
    base_url: &str,
) -> Result<PushReport, SyncError> {
    let remote = Remote::new(server)?;
    let version = remote.version().await?;
    version.check_compatible().map_err(SyncError::Version)?;
    if !version.perm_sync {
        return Err(SyncError::Refused(
            "the remote user lacks the sync permission (perm_sync): nothing can be pushed".into(),
        ));
    }
    let (after_id, only) = match technique {
        PushTechnique::Full => (0, None),
        PushTechnique::Incremental => (server.lastpushedid, None),
        PushTechnique::Single(key) => (0, Some(key)),
    };
    let candidates = store.push_candidates(after_id, only).await?;
    if let (Some(key), true) = (only, candidates.is_empty()) {
        return Err(SyncError::Refused(format!(
            "event {key:?} is not a published event with attributes"
        )));
    }
    let eligibility = eligibility(store, server, &candidates).await?;
    let org_uuids = member_org_uuids(store, &eligibility).await?;
    let allowed: Vec<&PushCandidate> = candidates
        .iter()
        .filter(|candidate| eligibility.event_allowed(candidate, &org_uuids))
        .collect();
    let mut report = PushReport {
        offered: allowed.len() as u64,
        ..PushReport::default()
    };
    let mut wanted: Vec<&PushCandidate> = Vec::new();
    for chunk in allowed.chunks(OFFER_CHUNK) {
        let offers: Vec<(String, i64)> = chunk
            .iter()
            .map(|candidate| (candidate.uuid.clone(), candidate.timestamp))
            .collect();
        let accepted = remote.filter_event_ids_for_push(&offers).await?;
        wanted.extend(
            chunk
                .iter()
                .filter(|candidate| accepted.contains(&candidate.uuid)),
        );
    }
    report.already_current = (allowed.len() - wanted.len()) as u64;
    let local = LocalServer {
        url: base_url,
        name: base_url,
    };
    let wanted: Vec<PushCandidate> = wanted.into_iter().cloned().collect();
    let eligibility = &eligibility;
    let org_uuids = &org_uuids;
    let uploader = remote.clone();
    let mut uploads = futures_util::stream::iter(wanted.into_iter().map(move |candidate| {
        let remote = uploader.clone();
        async move {
            let outcome = async {
                let body =
                    payload_for(store, server, &candidate, eligibility, org_uuids, local).await?;
                remote
                    .upload_event(&candidate.uuid, &body)
                    .await
                    .map_err(|error| error.to_string())
            }
            .await;
            (candidate, outcome)
        }
    }))
    .buffered(UPLOAD_CONCURRENCY);
    let mut failed_ids: Vec<i64> = Vec::new();
    while let Some((candidate, outcome)) = uploads.next().await {
        match outcome {
            Ok(Upload::Saved) => report.pushed.push(candidate.uuid.clone()),
            Ok(Upload::AlreadyCurrent) => report.already_current += 1,
            Err(reason) => {
                failed_ids.push(candidate.id);
                report.failed.push((candidate.uuid.clone(), reason));
            }
        }
    }
    drop(uploads);
    if only.is_none() && !candidates.is_empty() {
        // A failed event is offered again by the next incremental push.
        report.lastpushedid = Some(match failed_ids.iter().min() {
            Some(first_failed) => first_failed - 1,
            None => candidates.iter().map(|c| c.id).max().unwrap_or(0),
        });
    }
    if server.push_sightings {
        push_sightings(store, server, &remote, &allowed, &mut report).await;
    }
    Ok(report)
}

async fn eligibility(
    store: &Store,
    server: &Server,
    candidates: &[PushCandidate],
) -> Result<Eligibility, SyncError> {
    let host = host_org_id(store).await?;
    let remote_org_uuid = match server.remote_org_id {
        0 => String::new(),
        id => store
            .org(&Key::Id(id))
            .await
            .map(|org| org.uuid)
            .unwrap_or_default(),
    };
    let mut group_ids: Vec<i64> = candidates
        .iter()
        .filter(|candidate| candidate.distribution == 4)
        .map(|candidate| candidate.sharing_group_id)
        .collect();
    group_ids.sort_unstable();
    group_ids.dedup();
    let mut groups: HashMap<i64, Option<SharingGroup>> =
        group_ids.iter().map(|id| (*id, None)).collect();
    for group in store.sharing_groups_by_ids(&group_ids).await? {
        groups.insert(group.id, Some(group));
    }
    Ok(Eligibility {
        internal_host_link: server.internal && host == Some(server.remote_org_id),
        rules: PushRules::parse(&server.push_rules),
        remote_org_uuid,
        groups,
        server_id: server.id,
        internal: server.internal,
    })
}

async fn member_org_uuids(
    store: &Store,
    eligibility: &Eligibility,
) -> Result<HashMap<i64, String>, SyncError> {
    let mut ids: Vec<i64> = eligibility
        .groups
        .values()
        .flatten()
        .flat_map(|group| group.orgs.iter().map(|member| member.org_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(store
        .orgs_by_ids(&ids)
        .await?
        .into_iter()
        .map(|org| (org.id, org.uuid))
        .collect())
}

/// The event as this server may receive it: `{"Event": {...}}` after the push downgrade,
/// with its sharing groups described so the receiver can capture them.
async fn payload_for(
    store: &Store,
    server: &Server,
    candidate: &PushCandidate,
    eligibility: &Eligibility,
    org_uuids: &HashMap<i64, String>,
    local: LocalServer<'_>,
) -> Result<Value, String> {
    let mut event = store
        .event(
            &Key::Id(candidate.id),
            &LoadOptions {
                include_deleted: true,
                viewer_org: None,
            },
        )
        .await
        .map_err(|error| format!("cannot read it: {error}"))?;
    let reports = store
        .event_reports_of(&[event.id], true)
        .await
        .map_err(|error| error.to_string())?;
    let mut extra_groups: HashMap<i64, Option<SharingGroup>> = HashMap::new();
    let mut item_groups: Vec<i64> = event
        .attributes
        .iter()
        .chain(
            event
                .objects
                .iter()
                .flat_map(|object| object.attributes.iter()),
        )
        .filter(|attribute| attribute.distribution == Distribution::SharingGroup)
        .map(|attribute| attribute.sharing_group_id)
        .chain(
            event
                .objects
                .iter()
                .filter(|object| object.distribution == Distribution::SharingGroup)
                .map(|object| object.sharing_group_id),
        )
        .chain(
            reports
                .iter()
                .filter(|report| report.distribution == Distribution::SharingGroup)
                .map(|report| report.sharing_group_id),
        )
        .filter(|id| !eligibility.groups.contains_key(id))
        .collect();
    item_groups.sort_unstable();
    item_groups.dedup();
    if !item_groups.is_empty() {
        for group in store
            .sharing_groups_by_ids(&item_groups)
            .await
            .map_err(|error| error.to_string())?
        {
            extra_groups.insert(group.id, Some(group));
        }
    }
    let mut all_org_uuids = org_uuids.clone();
    let extra_org_ids: Vec<i64> = extra_groups
        .values()
        .flatten()
        .flat_map(|group| group.orgs.iter().map(|member| member.org_id))
        .filter(|id| !all_org_uuids.contains_key(id))
        .collect();
    if !extra_org_ids.is_empty() {
        for org in store
            .orgs_by_ids(&extra_org_ids)
            .await
            .map_err(|error| error.to_string())?
        {
            all_org_uuids.insert(org.id, org.uuid);
        }
    }
    let scoped = Eligibility {
        internal_host_link: eligibility.internal_host_link,
        rules: eligibility.rules.clone(),
        remote_org_uuid: eligibility.remote_org_uuid.clone(),
        groups: eligibility
            .groups
            .iter()
            .chain(extra_groups.iter())
            .map(|(id, group)| (*id, group.clone()))
            .collect(),
        server_id: eligibility.server_id,
        internal: eligibility.internal,
    };
    // The scope borrows a closure that is not Sync: it must be gone before the next await.
    let (reports, mut inner) = {
        let group_allowed = |group_id: i64| scoped.group_allows(group_id, &all_org_uuids);
        let scope = PushScope {
            internal: server.internal,
            unpublish: server.unpublish_event,
            rules: &scoped.rules,
            group_allowed: &group_allowed,
        };
        prepare_for_push(&mut event, &scope);
        let reports = crate::sync::downgrade::reports_for_push(reports, &scope);
        (reports, render_event(&event))
    };
    inner["EventReport"] = Value::Array(
        reports
            .iter()
            .map(kizuna_formats::misp::event_report::render_event_report)
            .collect(),
    );
    strip_local_ids(&mut inner);
    let mut body = json!({ "Event": inner });
    embed_groups(store, &scoped, &mut body, local).await?;
    Ok(body)
}

/// Describes the sharing groups the payload names (`SharingGroup` on each item).
async fn embed_groups(
    store: &Store,
    scoped: &Eligibility,
    body: &mut Value,
    local: LocalServer<'_>,
) -> Result<(), String> {
    let named = kizuna_formats::misp::sharing_groups::sharing_groups_named(&body["Event"]);
    if named.is_empty() {
        return Ok(());
    }
    let groups: Vec<&SharingGroup> = named
        .iter()
        .filter_map(|id| scoped.groups.get(id).and_then(Option::as_ref))
        .collect();
    let mut org_ids: Vec<i64> = groups
        .iter()
        .flat_map(|group| {
            std::iter::once(group.org_id).chain(group.orgs.iter().map(|member| member.org_id))
        })
        .collect();
    org_ids.sort_unstable();
    org_ids.dedup();
    let orgs: HashMap<i64, kizuna_model::Organisation> = store
        .orgs_by_ids(&org_ids)
        .await
        .map_err(|error| error.to_string())?
        .into_iter()
        .map(|org| (org.id, org))
        .collect();
    let rendered: HashMap<i64, Value> = groups
        .iter()
        .map(|group| (group.id, render_embedded_sharing_group(group, &orgs, local)))
        .collect();
    if let Some(event) = body.get_mut("Event") {
        embed_sharing_groups(event, &rendered);
    }
    Ok(())
}

/// Sightings push (Sighting::pushSightings): for the events we may push whose local
/// sightings are newer than the remote's, the sightings the remote organisation may see
/// under the default sighting policy that the remote does not hold yet.
async fn push_sightings(
    store: &Store,
    server: &Server,
    remote: &Remote,
    allowed: &[&PushCandidate],
    report: &mut PushReport,
) {
    let index = match remote
        .event_index(&PullRules::unfiltered_index(), None)
        .await
    {
        Ok(IndexAnswer::Fresh { entries, .. }) => entries,
        Ok(IndexAnswer::NotModified) => return,
        Err(error) => {
            report.sighting_failures.push(error.to_string());
            return;
        }
    };
    let remote_marks: HashMap<&str, i64> = index
        .iter()
        .map(|entry| (entry.uuid.as_str(), entry.sighting_timestamp))
        .collect();
    for candidate in allowed {
        let Some(&remote_mark) = remote_marks.get(candidate.uuid.as_str()) else {
            continue;
        };
        if candidate.sighting_timestamp <= remote_mark {
            continue;
        }
        let reporter = (candidate.org_id != server.remote_org_id).then_some(server.remote_org_id);
        let sightings = match store.sightings_for_sync(candidate.id, reporter).await {
            Ok(sightings) => sightings,
            Err(error) => {
                report.sighting_failures.push(error.to_string());
                continue;
            }
        };
        if sightings.is_empty() {
            continue;
        }
        let uuids: Vec<String> = sightings.iter().map(|s| s.uuid.clone()).collect();
        let known = match remote.known_sightings(&candidate.uuid, &uuids).await {
            Ok(known) => known,
            Err(error) => {
                report.sighting_failures.push(error.to_string());
                continue;
            }
        };
        let fresh: Vec<Value> = sightings
            .iter()
            .filter(|sighting| {
                !known
                    .iter()
                    .any(|uuid| uuid.eq_ignore_ascii_case(&sighting.uuid))
            })
            .map(|sighting| {
                let mut row = json!({
                    "uuid": sighting.uuid,
                    "attribute_uuid": sighting.attribute_uuid,
                    "date_sighting": sighting.date_sighting.to_string(),
                    "type": sighting.sighting_type.to_string(),
                    "source": sighting.source,
                    "org_id": sighting.org_id.to_string(),
                });
                // An anonymised sighting (org 0) names no organisation.
                if sighting.org_id != 0 {
                    row["Organisation"] =
                        json!({"uuid": sighting.org_uuid, "name": sighting.org_name});
                }
                row
            })
            .collect();
        if fresh.is_empty() {
            continue;
        }
        match remote.save_sightings(&candidate.uuid, &fresh).await {
            Ok(()) => report.sightings_pushed += fresh.len() as u64,
            Err(error) => report.sighting_failures.push(error.to_string()),
        }
    }
}
