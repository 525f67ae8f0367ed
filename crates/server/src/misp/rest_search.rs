//! restSearch on events and attributes (misp-reference §4.4): filters parsed by
//! `kizuna_formats::misp::filters`, run page by page by the store, and written out as the
//! pages arrive, so a search matching millions of attributes streams in bounded memory.

use super::{Call, json_response};
use crate::error::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use kizuna_formats::export::{ExportItem, ExportWriter};
use kizuna_formats::misp::csv::{CsvLayout, ObjectColumns};
use kizuna_formats::misp::filters::{ReturnFormat, Scope, SearchRequest, parse_search};
use kizuna_formats::misp::output::render_sighting_with_reporter;
use kizuna_formats::misp::output::{
    render_attached_tag, render_attribute, render_event, render_object,
};
use kizuna_model::access::Viewer;
use kizuna_model::correlation::DEFAULT_CORRELATION_LIMIT;
use kizuna_model::query::DeletedFilter;
use kizuna_model::{Attribute, Event};
use kizuna_store::{
    AttributeHit, Details, EventStubCache, Key, LoadOptions, SEARCH_PAGE_SIZE, SearchCursor,
    SightingFilter, Store,
};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;

/// Events loaded per step of an event-scope export.
const EVENTS_PER_STEP: u64 = 20;
/// Largest `limit` whose event ids are read before answering (to count them exactly).
const EVENT_IDS_PREFETCH: u64 = 10_000;

pub(super) async fn attributes(call: &Call) -> ApiResult<Response> {
    let request = parse_request(call, Scope::Attributes)?;
    let viewer = call.viewer().await?;
    let (count, export) = AttributeExport::prepare(
        call.store(),
        &call.state.warninglists,
        viewer,
        request,
        Counted::Yes,
    )
    .await?;
    Ok(match export {
        Some(export) => stream_response(export, count),
        None => count_response(count),
    })
}

pub(super) async fn events(call: &Call) -> ApiResult<Response> {
    let request = parse_request(call, Scope::Events)?;
    let viewer = call.viewer().await?;
    let (count, export) = EventExport::prepare(
        call.store(),
        &call.state.warninglists,
        viewer,
        call.viewer_org(),
        request,
        Counted::Yes,
    )
    .await?;
    Ok(match export {
        Some(export) => stream_response(export, count),
        None => count_response(count),
    })
}

/// Whether an answer needs MISP's result count before its body (the `X-Result-Count`
/// header); counting a million matches costs a pass of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counted {
    Yes,
    No,
}

/// Runs a parsed restSearch outside HTTP (the CLI's `kizuna export`): the answer's chunks go
/// to `sink` as they are produced. Nothing is counted ahead (there is no header to fill):
/// the result is the count only for `returnFormat: count`, else 0.
pub async fn write_search(
    store: &Store,
    warninglists: &Arc<crate::Warninglists>,
    viewer: Viewer,
    request: SearchRequest,
    scope: Scope,
    mut sink: impl FnMut(&str) -> std::io::Result<()>,
) -> Result<u64, SearchError> {
    let viewer_org = viewer.org_id();
    let (count, chunks): (u64, Option<Box<dyn ChunkSource>>) = match scope {
        Scope::Events => {
            let (count, export) = EventExport::prepare(
                store,
                warninglists,
                viewer,
                viewer_org,
                request,
                Counted::No,
            )
            .await?;
            (
                count,
                export.map(|export| Box::new(export) as Box<dyn ChunkSource>),
            )
        }
        Scope::Attributes | Scope::Objects => {
            let (count, export) =
                AttributeExport::prepare(store, warninglists, viewer, request, Counted::No).await?;
            (
                count,
                export.map(|export| Box::new(export) as Box<dyn ChunkSource>),
            )
        }
    };
    let Some(mut chunks) = chunks else {
        sink(&json!({ "count": count }).to_string())?;
        return Ok(count);
    };
    while let Some(chunk) = chunks.next_boxed().await? {
        sink(&chunk)?;
    }
    Ok(count)
}

/// Why a search written outside HTTP stopped.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] kizuna_store::StoreError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

/// An `Export` behind a pointer, for callers that pick the scope at run time.
trait ChunkSource: Send {
    fn next_boxed(
        &mut self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Option<String>, kizuna_store::StoreError>>
                + Send
                + '_,
        >,
    >;
}

impl<E: Export> ChunkSource for E {
    fn next_boxed(
        &mut self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Option<String>, kizuna_store::StoreError>>
                + Send
                + '_,
        >,
    > {
        Box::pin(self.next_chunk())
    }
}

impl AttributeExport {
    /// The answer's count and, unless only the count was asked for, the export.
    async fn prepare(
        store: &Store,
        warninglists: &Arc<crate::Warninglists>,
        viewer: Viewer,
        request: SearchRequest,
        counted: Counted,
    ) -> ApiResult<(u64, Option<AttributeExport>)> {
        let store = store.clone();
        let mut cursor = SearchCursor::new(request.paging.offset(), request.paging.limit);
        let mut events = EventStubCache::default();
        let mut prefetched = None;
        let count = if counted == Counted::No && request.format != ReturnFormat::Count {
            0
        } else if request.options.enforce_warninglist {
            count_unwarned(warninglists, &store, &request, &viewer).await?
        } else if request
            .paging
            .limit
            .is_some_and(|limit| limit <= SEARCH_PAGE_SIZE)
        {
            // A page that fits one read: read it now and count it, instead of counting every
            // match (what makes deep paging over millions of attributes slow).
            let hits = store
                .search_attributes_page(&request.criteria, &viewer, &mut cursor, &mut events)
                .await?;
            let count = hits.len() as u64;
            prefetched = Some(hits);
            count
        } else {
            let total = store.count_attributes(&request.criteria, &viewer).await?;
            page_count(total, &request)
        };
        if request.format == ReturnFormat::Count {
            return Ok((count, None));
        }
        let writer = export_writer(&request);
        Ok((
            count,
            Some(AttributeExport {
                cursor,
                prefetched,
                warninglists: warninglists.clone(),
                store,
                viewer,
                request,
                events,
                stage: Stage::Start,
                written: 0,
                writer,
            }),
        ))
    }
}

impl EventExport {
    /// The reports of a page of events, by event id, when the answer is MISP JSON with
    /// full events (metadata and `noEventReports` leave them out, as MISP does).
    async fn reports_of(
        &self,
        ids: &[i64],
        include_deleted: bool,
    ) -> Result<HashMap<i64, Vec<kizuna_model::EventReport>>, kizuna_store::StoreError> {
        let mut by_event: HashMap<i64, Vec<kizuna_model::EventReport>> = HashMap::new();
        let options = &self.request.options;
        if self.request.format != ReturnFormat::Json || options.metadata || options.no_event_reports
        {
            return Ok(by_event);
        }
        for report in self.store.event_reports_of(ids, include_deleted).await? {
            by_event.entry(report.event_id).or_default().push(report);
        }
        Ok(by_event)
    }

    /// The answer's count and, unless only the count was asked for, the export.
    async fn prepare(
        store: &Store,
        warninglists: &Arc<crate::Warninglists>,
        viewer: Viewer,
        viewer_org: Option<i64>,
        request: SearchRequest,
        counted: Counted,
    ) -> ApiResult<(u64, Option<EventExport>)> {
        let store = store.clone();
        let mut cursor = SearchCursor::new(request.paging.offset(), request.paging.limit);
        let mut prefetched = None;
        let count = match request.paging.limit {
            _ if counted == Counted::No && request.format != ReturnFormat::Count => 0,
            // A page of event ids is cheap to read whole; its length is the count.
            Some(limit) if limit <= EVENT_IDS_PREFETCH => {
                let ids = store
                    .search_event_ids_page(&request.criteria, &viewer, &mut cursor, limit)
                    .await?;
                let count = ids.len() as u64;
                prefetched = Some(ids);
                count
            }
            _ => {
                let total = store.count_events(&request.criteria, &viewer).await?;
                page_count(total, &request)
            }
        };
        if request.format == ReturnFormat::Count {
            return Ok((count, None));
        }
        let writer = export_writer(&request);
        let blocked_tags = request.criteria.tags.none.iter().cloned().collect();
        Ok((
            count,
            Some(EventExport {
                cursor,
                prefetched,
                viewer_org,
                warninglists: warninglists.clone(),
                store,
                viewer,
                request,
                blocked_tags,
                stage: Stage::Start,
                written: 0,
                writer,
            }),
        ))
    }
}

/// `/objects/restSearch`: objects holding a matching attribute, each with its visible
/// attributes, as `{"response": [{"Object": {...}}]}` (JSON only, as MISP).
pub(super) async fn objects(call: &Call) -> ApiResult<Response> {
    let request = parse_request(call, Scope::Objects)?;
    if !matches!(request.format, ReturnFormat::Json | ReturnFormat::Count) {
        return Err(ApiError::BadRequest(
            "Invalid filter returnFormat: objects restSearch answers json only".into(),
        ));
    }
    let viewer = call.viewer().await?;
    let store = call.store().clone();
    let total = store.count_objects(&request.criteria, &viewer).await?;
    let count = page_count(total, &request);
    if request.format == ReturnFormat::Count {
        return Ok(count_response(count));
    }
    let export = ObjectExport {
        cursor: SearchCursor::new(request.paging.offset(), request.paging.limit),
        store,
        viewer,
        request,
        events: EventStubCache::default(),
        stage: Stage::Start,
        written: 0,
    };
    Ok(stream_response(export, count))
}

struct ObjectExport {
    store: Store,
    viewer: Viewer,
    request: SearchRequest,
    cursor: SearchCursor,
    events: EventStubCache,
    stage: Stage,
    written: u64,
}

impl Export for ObjectExport {
    fn content_type(&self) -> &'static str {
        "application/json; charset=UTF-8"
    }

    async fn next_chunk(&mut self) -> Result<Option<String>, kizuna_store::StoreError> {
        match self.stage {
            Stage::Done => Ok(None),
            Stage::Start => {
                self.stage = Stage::Body;
                Ok(Some("{\"response\": [".into()))
            }
            Stage::Body => {
                let ids = self
                    .store
                    .search_object_ids_page(
                        &self.request.criteria,
                        &self.viewer,
                        &mut self.cursor,
                        EVENTS_PER_STEP,
                    )
                    .await?;
                if ids.is_empty() {
                    self.stage = Stage::Done;
                    return Ok(Some("]}".into()));
                }
                let mut chunk = String::new();
                for id in ids {
                    let mut object = match self.store.object(&Key::Id(id), false).await {
                        Ok(object) => object,
                        Err(kizuna_store::StoreError::NotFound) => continue,
                        Err(other) => return Err(other),
                    };
                    let event = self.events.event(&self.store, object.event_id).await?;
                    object.attributes.retain(|attribute| {
                        self.viewer.sees_item(
                            event.org_id,
                            attribute.distribution,
                            attribute.sharing_group_id,
                        )
                    });
                    if self.written > 0 {
                        chunk.push_str(", ");
                    }
                    let mut rendered = render_object(&object);
                    rendered["Event"] = json!({
                        "id": event.id.to_string(),
                        "info": event.info,
                        "org_id": event.org_id.to_string(),
                        "orgc_id": event.orgc_id.to_string(),
                        "uuid": event.uuid,
                    });
                    chunk.push_str(&json!({ "Object": rendered }).to_string());
                    self.written += 1;
                }
                Ok(Some(chunk))
            }
        }
    }
}

/// X-Result-Count when enforceWarninglist drops attributes: MISP counts what it exported, so
/// the page is walked once ahead of the export to count the attributes no list holds.
async fn count_unwarned(
    warninglists: &crate::Warninglists,
    store: &Store,
    request: &SearchRequest,
    viewer: &Viewer,
) -> ApiResult<u64> {
    let lists = warninglists.ready(store).await?;
    let mut cursor = SearchCursor::new(request.paging.offset(), request.paging.limit);
    let mut events = EventStubCache::default();
    let mut count = 0;
    loop {
        let hits = store
            .search_attributes_page(&request.criteria, viewer, &mut cursor, &mut events)
            .await?;
        if hits.is_empty() {
            return Ok(count);
        }
        count += hits
            .iter()
            .filter(|hit| !lists.is_attribute_warned(&hit.attribute))
            .count() as u64;
    }
}

/// The body merged with CakePHP named parameters; the path's first argument is the format.
fn parse_request(call: &Call, scope: Scope) -> ApiResult<SearchRequest> {
    let mut params = match &call.body {
        Some(Value::Object(map)) => match map.get("request") {
            Some(Value::Object(inner)) => inner.clone(),
            _ => map.clone(),
        },
        Some(_) => {
            return Err(ApiError::BadRequest(
                "restSearch expects a JSON object of filters.".into(),
            ));
        }
        None => Map::new(),
    };
    for (key, value) in &call.path.named {
        params.insert(key.clone(), Value::String(value.clone()));
    }
    let format_from_path = call.path.arg(0);
    if call.body.is_none() && call.path.named.is_empty() && format_from_path.is_none() {
        return Err(ApiError::BadRequest(
            "Either specify the search terms in the url, or POST a json with the filter \
             parameters."
                .into(),
        ));
    }
    let mut request = parse_search(&params, scope, format_from_path, call.now)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    request.options.export.base_url = call.state.settings.base_url.clone();
    if call.principal.user.nids_sid > 0 {
        request.options.export.nids_sid_base = call.principal.user.nids_sid;
    }
    Ok(request)
}

/// MISP's X-Result-Count: what this response holds (the page size when paging).
fn page_count(total: u64, request: &SearchRequest) -> u64 {
    let after_skip = total.saturating_sub(request.paging.offset());
    request
        .paging
        .limit
        .map_or(after_skip, |limit| after_skip.min(limit))
}

fn count_response(count: u64) -> Response {
    let mut response = json_response(json!({ "count": count }));
    set_result_count(&mut response, count);
    response
}

fn set_result_count(response: &mut Response, count: u64) {
    if let Ok(value) = HeaderValue::from_str(&count.to_string()) {
        response.headers_mut().insert("X-Result-Count", value);
    }
}

/// A restSearch body written in steps: each call returns the next chunk, `None` at the end.
trait Export: Send + 'static {
    fn content_type(&self) -> &'static str;
    fn next_chunk(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Option<String>, kizuna_store::StoreError>> + Send;
}

fn stream_response<E: Export>(export: E, count: u64) -> Response {
    let content_type = export.content_type();
    let stream = futures_util::stream::unfold(Some(export), |state| async move {
        let mut export = state?;
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((
                Ok::<Bytes, std::io::Error>(Bytes::from(chunk)),
                Some(export),
            )),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, "restSearch export stopped");
                Some((Err(std::io::Error::other(error.to_string())), None))
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    set_result_count(&mut response, count);
    response
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    Body,
    Done,
}

fn csv_layout(request: &SearchRequest) -> CsvLayout {
    CsvLayout::new(
        &request.options.requested_attributes,
        request.options.include_context,
    )
}

fn content_type(request: &SearchRequest, writer: Option<&dyn ExportWriter>) -> &'static str {
    match (request.format, writer) {
        (_, Some(writer)) => writer.content_type(),
        (ReturnFormat::Csv, None) => "text/csv; charset=UTF-8",
        _ => "application/json; charset=UTF-8",
    }
}

fn header_chunk(
    request: &SearchRequest,
    attribute_scope: bool,
    writer: Option<&mut Box<dyn ExportWriter>>,
) -> String {
    let mut out = String::new();
    match (request.format, writer) {
        (_, Some(writer)) => writer.begin(&mut out),
        (ReturnFormat::Json, None) if attribute_scope => {
            out.push_str("{\"response\": {\"Attribute\": [")
        }
        (ReturnFormat::Json, None) => out.push_str("{\"response\": ["),
        (ReturnFormat::Csv, None) if !request.options.headerless => {
            out.push_str(&csv_layout(request).header())
        }
        _ => {}
    }
    out
}

fn footer_chunk(
    format: ReturnFormat,
    attribute_scope: bool,
    writer: Option<&mut Box<dyn ExportWriter>>,
) -> String {
    let mut out = String::new();
    match (format, writer) {
        (_, Some(writer)) => {
            writer.finish(&mut out);
            for warning in writer.warnings() {
                tracing::warn!(format = ?format, "{warning}");
            }
        }
        (ReturnFormat::Json, None) if attribute_scope => out.push_str("]}}"),
        (ReturnFormat::Json, None) => out.push_str("]}"),
        (ReturnFormat::Csv, None) => out.push('\n'),
        _ => {}
    }
    out
}

/// The writer of an export format (its options carry the instance's URL and the caller's
/// NIDS sid base).
fn export_writer(request: &SearchRequest) -> Option<Box<dyn ExportWriter>> {
    match request.format {
        ReturnFormat::Export(format) => Some(kizuna_formats::export::writer(
            format,
            &request.options.export,
        )),
        _ => None,
    }
}

struct AttributeExport {
    /// The first page, when it was read before answering.
    prefetched: Option<Vec<AttributeHit>>,
    store: Store,
    warninglists: Arc<crate::Warninglists>,
    viewer: Viewer,
    request: SearchRequest,
    cursor: SearchCursor,
    events: EventStubCache,
    stage: Stage,
    written: u64,
    writer: Option<Box<dyn ExportWriter>>,
}

impl Export for AttributeExport {
    fn content_type(&self) -> &'static str {
        content_type(&self.request, self.writer.as_deref())
    }

    async fn next_chunk(&mut self) -> Result<Option<String>, kizuna_store::StoreError> {
        match self.stage {
            Stage::Done => Ok(None),
            Stage::Start => {
                self.stage = Stage::Body;
                Ok(Some(header_chunk(
                    &self.request,
                    true,
                    self.writer.as_mut(),
                )))
            }
            Stage::Body => {
                let details = match &self.writer {
                    Some(writer) if !writer.reads_attribute_details() => Details::Skip,
                    _ => Details::Read,
                };
                let hits = match self.prefetched.take() {
                    Some(hits) => hits,
                    None => {
                        self.store
                            .search_attributes_page_reading(
                                &self.request.criteria,
                                &self.viewer,
                                &mut self.cursor,
                                &mut self.events,
                                details,
                            )
                            .await?
                    }
                };
                if hits.is_empty() {
                    self.stage = Stage::Done;
                    return Ok(Some(footer_chunk(
                        self.request.format,
                        true,
                        self.writer.as_mut(),
                    )));
                }
                let options = &self.request.options;
                let lists = if options.enforce_warninglist || options.include_warninglist_hits {
                    Some(self.warninglists.ready(&self.store).await?)
                } else {
                    None
                };
                let json = self.request.format == ReturnFormat::Json;
                let mut sightings = if json && options.include_sightings {
                    self.sightings_of(&hits).await?
                } else {
                    HashMap::new()
                };
                let mut chunk = String::with_capacity(hits.len() * 256);
                let layout = csv_layout(&self.request);
                for hit in &hits {
                    let warnings = lists
                        .map(|lists| lists.check_attribute(&hit.attribute))
                        .unwrap_or_default();
                    // MISP: enforcing drops any attribute on a list; hits are shown on IDS ones.
                    if options.enforce_warninglist && !warnings.is_empty() {
                        continue;
                    }
                    match self.request.format {
                        ReturnFormat::Json => {
                            if self.written > 0 {
                                chunk.push_str(", ");
                            }
                            let mut rendered = attribute_json(hit, &self.request);
                            if options.include_warninglist_hits
                                && hit.attribute.to_ids
                                && !warnings.is_empty()
                            {
                                rendered["warnings"] = Value::Array(
                                    warnings.iter().map(|hit| hit.to_misp_warning()).collect(),
                                );
                            }
                            if let Some(list) = sightings.remove(&hit.attribute.id) {
                                rendered["Sighting"] = Value::Array(list);
                            }
                            if options.include_correlations {
                                rendered["RelatedAttribute"] =
                                    Value::Array(self.related_attributes(hit).await?);
                            }
                            chunk.push_str(&rendered.to_string());
                        }
                        ReturnFormat::Csv => {
                            let object = hit.object.as_deref().map(|object| ObjectColumns {
                                uuid: &object.uuid,
                                name: &object.name,
                                meta_category: &object.meta_category,
                            });
                            layout.write_row(
                                &mut chunk,
                                &hit.attribute,
                                &hit.event,
                                object.as_ref(),
                            );
                        }
                        ReturnFormat::Export(_) => {
                            if let Some(writer) = self.writer.as_mut() {
                                writer.attribute(
                                    &mut chunk,
                                    &ExportItem {
                                        attribute: &hit.attribute,
                                        event: &hit.event,
                                        object: hit.object.as_deref(),
                                    },
                                );
                            }
                        }
                        ReturnFormat::Count => {}
                    }
                    self.written += 1;
                }
                Ok(Some(chunk))
            }
        }
    }
}

impl AttributeExport {
    /// The sightings of a page of attributes the caller may see, rendered, in one query.
    async fn sightings_of(
        &self,
        hits: &[AttributeHit],
    ) -> Result<HashMap<i64, Vec<Value>>, kizuna_store::StoreError> {
        let filter = SightingFilter {
            attribute_ids: hits.iter().map(|hit| hit.attribute.id).collect(),
            ..SightingFilter::default()
        };
        let mut by_attribute: HashMap<i64, Vec<Value>> = HashMap::new();
        for details in self.store.list_sightings(&filter, &self.viewer).await? {
            by_attribute
                .entry(details.sighting.attribute_id)
                .or_default()
                .push(render_sighting_with_reporter(&details));
        }
        Ok(by_attribute)
    }

    /// `includeCorrelations`: the attributes of other events this one correlates with, each
    /// with a short `Event`, as MISP's fetchAttributes adds them.
    async fn related_attributes(
        &self,
        hit: &AttributeHit,
    ) -> Result<Vec<Value>, kizuna_store::StoreError> {
        let mut alone = (*hit.event).clone();
        alone.attributes = vec![hit.attribute.clone()];
        alone.objects.clear();
        let correlations = self
            .store
            .event_correlations(&alone, &self.viewer, DEFAULT_CORRELATION_LIMIT)
            .await?;
        let mut related = Vec::with_capacity(correlations.len());
        for correlation in correlations {
            let other = self
                .store
                .attribute(&Key::Id(correlation.other_attribute_id), false)
                .await?;
            let events = self.store.events_meta_by_ids(&[other.event_id]).await?;
            let Some(event) = events.first() else {
                continue;
            };
            related.push(json!({
                "id": other.id.to_string(),
                "event_id": other.event_id.to_string(),
                "object_id": other.object_id.to_string(),
                "object_relation": other.object_relation,
                "category": other.category,
                "type": other.attr_type,
                "value": other.value(),
                "uuid": other.uuid,
                "timestamp": other.timestamp.to_string(),
                "distribution": other.distribution.as_i64().to_string(),
                "sharing_group_id": other.sharing_group_id.to_string(),
                "to_ids": other.to_ids,
                "comment": other.comment,
                "Event": {
                    "id": event.id.to_string(),
                    "org_id": event.org_id.to_string(),
                    "info": event.info,
                    "published": event.published,
                    "uuid": event.uuid,
                },
            }));
        }
        Ok(related)
    }
}

/// One attribute as MISP's attribute-scope JSON export writes it: the attribute with its
/// `Event` stub, its `Object` stub when in an object, and its tags (event tags marked
/// `inherited` when asked for).
fn attribute_json(hit: &AttributeHit, request: &SearchRequest) -> Value {
    let mut rendered = render_attribute(&hit.attribute);
    let Value::Object(map) = &mut rendered else {
        return rendered;
    };
    let event = &hit.event;
    map.insert(
        "Event".into(),
        json!({
            "org_id": event.org_id.to_string(),
            "distribution": event.distribution.as_i64().to_string(),
            "id": event.id.to_string(),
            "info": event.info,
            "orgc_id": event.orgc_id.to_string(),
            "uuid": event.uuid,
        }),
    );
    if request.options.include_context {
        // The whole event's metadata (tags, organisations) instead of the short stub.
        let mut context = render_event(event);
        if let Value::Object(fields) = &mut context {
            for bulky in [
                "Attribute",
                "Object",
                "ShadowAttribute",
                "RelatedEvent",
                "EventReport",
                "CryptographicKey",
            ] {
                fields.remove(bulky);
            }
        }
        map.insert("Event".into(), context);
    }
    if let Some(object) = &hit.object {
        map.insert(
            "Object".into(),
            json!({
                "id": object.id.to_string(),
                "distribution": object.distribution.as_i64().to_string(),
                "sharing_group_id": object.sharing_group_id.to_string(),
            }),
        );
    }
    if request.options.include_event_uuid {
        map.insert("event_uuid".into(), Value::String(event.uuid.clone()));
    }
    if request.options.include_event_tags && !event.tags.is_empty() {
        let tags = map.entry("Tag").or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(tags) = tags {
            for attached in &event.tags {
                let mut tag = render_attached_tag(attached);
                tag["inherited"] = json!(1);
                tags.push(tag);
            }
        }
    }
    rendered
}

struct EventExport {
    /// The event ids of the answer, when they were read before answering.
    prefetched: Option<Vec<i64>>,
    store: Store,
    warninglists: Arc<crate::Warninglists>,
    viewer: Viewer,
    viewer_org: Option<i64>,
    request: SearchRequest,
    /// Tag names whose attributes are stripped from returned events (MISP's
    /// blockedAttributeTags, from NOT tags).
    blocked_tags: HashSet<String>,
    cursor: SearchCursor,
    stage: Stage,
    written: u64,
    writer: Option<Box<dyn ExportWriter>>,
}

impl EventExport {
    /// What of a loaded event the export keeps: attributes failing to_ids / validity / deleted filters or
    /// carrying a blocked tag go; metadata drops them all.
    fn trim(&self, event: &mut Event) {
        let criteria = &self.request.criteria;
        // Deleted items of another organisation's event stay hidden even when asked for
        // (misp-reference §2.3).
        let deleted_hidden = self
            .viewer
            .org_id()
            .is_some_and(|org_id| org_id != event.org_id);
        let keep = |attribute: &Attribute| {
            !(deleted_hidden && attribute.deleted)
                && criteria
                    .to_ids
                    .is_none_or(|to_ids| attribute.to_ids == to_ids)
                && criteria
                    .valid_at
                    .is_none_or(|at| kizuna_model::validity::is_valid_at(attribute, at))
                && match criteria.deleted {
                    DeletedFilter::LiveOnly => !attribute.deleted,
                    DeletedFilter::DeletedOnly => attribute.deleted,
                    DeletedFilter::Both => true,
                }
                && !attribute
                    .tags
                    .iter()
                    .any(|attached| self.blocked_tags.contains(&attached.tag.name))
        };
        if self.request.options.metadata {
            event.attributes.clear();
            event.objects.clear();
            return;
        }
        event.attributes.retain(keep);
        event
            .objects
            .retain(|object| !(deleted_hidden && object.deleted));
        for object in &mut event.objects {
            object.attributes.retain(keep);
        }
    }
}

impl EventExport {
    /// Warninglist hits of the event's IDS attributes (MISP checks only those in the event
    /// scope); with enforceWarninglist the hitting attributes are removed.
    async fn warninglist_hits(
        &self,
        event: &mut Event,
    ) -> Result<HashMap<i64, Vec<kizuna_matcher::WarninglistHit>>, kizuna_store::StoreError> {
        let options = &self.request.options;
        if !options.enforce_warninglist && !options.include_warninglist_hits {
            return Ok(HashMap::new());
        }
        let lists = self.warninglists.ready(&self.store).await?;
        let mut hits = HashMap::new();
        let attributes = event
            .attributes
            .iter()
            .chain(event.objects.iter().flat_map(|object| &object.attributes));
        for attribute in attributes.filter(|attribute| attribute.to_ids) {
            let found = lists.check_attribute(attribute);
            if !found.is_empty() {
                hits.insert(attribute.id, found);
            }
        }
        if options.enforce_warninglist {
            event
                .attributes
                .retain(|attribute| !hits.contains_key(&attribute.id));
            for object in &mut event.objects {
                object
                    .attributes
                    .retain(|attribute| !hits.contains_key(&attribute.id));
            }
        }
        Ok(hits)
    }
}

/// `warnings` on each hitting attribute and the event's `{list id: name}` summary.
fn add_event_warnings(event: &mut Value, hits: &HashMap<i64, Vec<kizuna_matcher::WarninglistHit>>) {
    if hits.is_empty() {
        return;
    }
    let mut mark = |attribute: &mut Value| {
        let id = attribute["id"]
            .as_str()
            .and_then(|text| text.parse::<i64>().ok());
        if let Some(found) = id.and_then(|id| hits.get(&id)) {
            attribute["warnings"] =
                Value::Array(found.iter().map(|hit| hit.to_misp_warning()).collect());
        }
    };
    if let Some(attributes) = event["Attribute"].as_array_mut() {
        attributes.iter_mut().for_each(&mut mark);
    }
    if let Some(objects) = event["Object"].as_array_mut() {
        for object in objects {
            if let Some(attributes) = object["Attribute"].as_array_mut() {
                attributes.iter_mut().for_each(&mut mark);
            }
        }
    }
    event["warnings"] = kizuna_matcher::misp_event_warnings(hits.values().flatten());
}

impl Export for EventExport {
    fn content_type(&self) -> &'static str {
        content_type(&self.request, self.writer.as_deref())
    }

    async fn next_chunk(&mut self) -> Result<Option<String>, kizuna_store::StoreError> {
        match self.stage {
            Stage::Done => Ok(None),
            Stage::Start => {
                self.stage = Stage::Body;
                Ok(Some(header_chunk(
                    &self.request,
                    false,
                    self.writer.as_mut(),
                )))
            }
            Stage::Body => {
                let ids: Vec<i64> = match self.prefetched.as_mut() {
                    Some(queue) if !queue.is_empty() => {
                        let step = queue.len().min(EVENTS_PER_STEP as usize);
                        queue.drain(..step).collect()
                    }
                    _ => {
                        self.store
                            .search_event_ids_page(
                                &self.request.criteria,
                                &self.viewer,
                                &mut self.cursor,
                                EVENTS_PER_STEP,
                            )
                            .await?
                    }
                };
                if ids.is_empty() {
                    self.stage = Stage::Done;
                    return Ok(Some(footer_chunk(
                        self.request.format,
                        false,
                        self.writer.as_mut(),
                    )));
                }
                let options = LoadOptions {
                    include_deleted: self.request.criteria.deleted != DeletedFilter::LiveOnly,
                    viewer_org: self.viewer_org,
                };
                let layout = csv_layout(&self.request);
                let mut reports = self.reports_of(&ids, options.include_deleted).await?;
                let mut chunk = String::new();
                for id in ids {
                    let mut event = match self.store.event(&Key::Id(id), &options).await {
                        Ok(event) => event,
                        // Deleted between the id query and the load: skip it.
                        Err(kizuna_store::StoreError::NotFound) => continue,
                        Err(other) => return Err(other),
                    };
                    self.trim(&mut event);
                    let warnings = self.warninglist_hits(&mut event).await?;
                    match self.request.format {
                        ReturnFormat::Json => {
                            if self.written > 0 {
                                chunk.push_str(", ");
                            }
                            let mut rendered = render_event(&event);
                            if let Some(event_reports) = reports.remove(&event.id) {
                                let shown = event_reports
                                    .iter()
                                    .filter(|report| {
                                        self.viewer.sees_item(
                                            event.org_id,
                                            report.distribution,
                                            report.sharing_group_id,
                                        )
                                    })
                                    .map(kizuna_formats::misp::event_report::render_event_report)
                                    .collect();
                                rendered["EventReport"] = Value::Array(shown);
                            }
                            if self.request.options.include_warninglist_hits {
                                add_event_warnings(&mut rendered, &warnings);
                            }
                            chunk.push_str(&json!({ "Event": rendered }).to_string());
                            self.written += 1;
                        }
                        ReturnFormat::Csv => {
                            for attribute in &event.attributes {
                                layout.write_row(&mut chunk, attribute, &event, None);
                            }
                            for object in &event.objects {
                                let columns = ObjectColumns {
                                    uuid: &object.uuid,
                                    name: &object.name,
                                    meta_category: &object.meta_category,
                                };
                                for attribute in &object.attributes {
                                    layout.write_row(&mut chunk, attribute, &event, Some(&columns));
                                }
                            }
                        }
                        ReturnFormat::Export(_) => {
                            if let Some(writer) = self.writer.as_mut() {
                                writer.event(&mut chunk, &event);
                            }
                        }
                        ReturnFormat::Count => {}
                    }
                }
                Ok(Some(chunk))
            }
        }
    }
}
