//! A collection as the caller sees it: the events its filter selects under the caller's
//! visibility, each rendered on its own with the STIX 2.1 export, listed in the order this
//! instance stored their changes, objects in the order the export writes them.
//!
//! Event-level criteria of the filter select events; attribute-level ones (type, category,
//! to_ids, values, attribute tags, validity…) also decide which attributes of a selected
//! event are rendered, through the same attribute search restSearch runs.
//!
//! Rendering a large event costs far more than sending a page of it, so rendered events
//! are kept in a bounded in-memory cache keyed by the event, the time of its last change,
//! the reader's visibility and the filter: paging through a 1,000-indicator event renders it
//! once, not once per page.

use super::paging::{Cursor, ListParams, MAX_REMEMBERED_SHARED, shared_digest};
use super::{TaxiiCall, TaxiiError};
use crate::{AppState, ServerSettings};
use kizuna_formats::misp::filters::{Scope, parse_search};
use kizuna_formats::stix::export::{Stix2Options, StixObjectText, event_objects};
use kizuna_model::access::Viewer;
use kizuna_model::query::{AttributeCriteria, Terms};
use kizuna_store::{
    ChangedEvent, Details, EventStubCache, Key, LoadOptions, SearchCursor, StoreError,
    TaxiiCollection,
};
use serde_json::{Map, Value};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, Weak};

/// A collection's filter, parsed.
#[derive(Clone)]
pub struct View {
    pub criteria: AttributeCriteria,
    attribute_level: bool,
    filter_key: u64,
}

/// Parses a collection filter (restSearch filters as a JSON object; '' = none) into search
/// criteria, or says what is wrong with it.
pub fn parse_filter(text: &str, now: i64) -> Result<AttributeCriteria, String> {
    if text.trim().is_empty() {
        return Ok(AttributeCriteria::default());
    }
    let map: Map<String, Value> = match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err("the filter must be a JSON object of restSearch filters".into()),
        Err(error) => return Err(format!("the filter is not JSON: {error}")),
    };
    for paging in ["limit", "page", "returnFormat"] {
        if map.contains_key(paging) {
            return Err(format!(
                "{paging} has no meaning in a collection filter (TAXII pages by itself)"
            ));
        }
    }
    parse_search(&map, Scope::Events, None, now)
        .map(|request| request.criteria)
        .map_err(|error| error.to_string())
}

/// Whether criteria restrict attributes, not only events (then a selected event shows only
/// the attributes that match).
fn restricts_attributes(criteria: &AttributeCriteria) -> bool {
    !(criteria.value.is_empty()
        && criteria.value1.is_empty()
        && criteria.value2.is_empty()
        && criteria.attr_type.is_empty()
        && criteria.category.is_empty()
        && criteria.object_relation.is_empty()
        && criteria.comment.is_empty()
        && criteria.attribute_uuid.is_empty()
        && criteria.attribute_timestamp.is_none()
        && criteria.first_seen.is_none()
        && criteria.last_seen.is_none()
        && criteria.valid_at.is_none()
        && criteria.to_ids.is_none()
        && criteria.object_name.is_empty()
        && criteria.search_all.is_none()
        && (criteria.tags.is_empty() || criteria.event_tags_only))
}

impl View {
    pub fn of(collection: &TaxiiCollection, now: i64) -> Result<Self, TaxiiError> {
        let criteria = parse_filter(&collection.filter, now).map_err(|error| {
            tracing::error!(collection = %collection.id, %error, "stored TAXII collection filter does not parse");
            TaxiiError::internal()
        })?;
        let mut hasher = DefaultHasher::new();
        collection.filter.hash(&mut hasher);
        // "Valid now" moves with the clock: renders made under it are kept a minute.
        if criteria.valid_at.is_some() {
            (now / 60).hash(&mut hasher);
        }
        Ok(Self {
            attribute_level: restricts_attributes(&criteria),
            criteria,
            filter_key: hasher.finish(),
        })
    }
}

/// One object of a page: the event's rendered list, the object's place in it, and the
/// event's `date_added`.
pub struct PageItem {
    pub objects: Arc<Vec<StixObjectText>>,
    pub index: usize,
    pub date_added: i64,
}

impl PageItem {
    pub fn object(&self) -> &StixObjectText {
        &self.objects[self.index]
    }
}

pub struct Page {
    pub items: Vec<PageItem>,
    pub more: bool,
    pub next: Option<String>,
}

impl Page {
    /// Smallest and largest `date_added` of the page (the X-TAXII-Date-Added headers).
    pub fn date_added_range(&self) -> Option<(i64, i64)> {
        let first = self.items.iter().map(|item| item.date_added).min()?;
        let last = self.items.iter().map(|item| item.date_added).max()?;
        Some((first, last))
    }
}

/// Events read per query while filling a page.
const EVENTS_PER_QUERY: u64 = 16;

/// Events rendered ahead of a pager. Two keep both cores busy while a reader parses its
/// pages (every object ~40 % faster, `match[type]=indicator` ~30 % than one ahead) for
/// ~12 MiB more at the peak; that fits under OpenTAXII's memory since whole events are read
/// through the store's two bulk readers instead of all eight pooled connections.
const READ_AHEAD: usize = 2;

/// The page `params` asks for: objects passing the `match` filters, in collection order,
/// from `next` on, at most `limit`; an object id already in the page is not repeated, nor
/// a shared object (identity, marking, cluster) an earlier page of the chain sent.
/// `only_events` limits the page to those events (reading one object).
pub async fn page(
    call: &TaxiiCall,
    view: &View,
    params: &ListParams,
    only_events: Option<&[i64]>,
) -> Result<Page, TaxiiError> {
    let store = &call.state.store;
    let renderer = Renderer::new(call, view);
    let mut items: Vec<PageItem> = Vec::new();
    let mut in_page = PageIds::with_capacity(params.limit);
    let mut from = params.next.as_ref().map(|cursor| cursor.event);
    let resume = params
        .next
        .as_ref()
        .map(|cursor| (cursor.event, cursor.position));
    let mut shared_sent: Vec<u64> = params
        .next
        .as_ref()
        .map(|cursor| cursor.shared_sent.clone())
        .unwrap_or_default();
    loop {
        let events = store
            .taxii_events_page(
                &view.criteria,
                &call.viewer,
                from,
                params.added_after,
                only_events,
                EVENTS_PER_QUERY,
            )
            .await?;
        for (position_in_batch, event) in events.iter().enumerate() {
            let Some(objects) = renderer.rendered(*event).await? else {
                continue;
            };
            let start = match resume {
                Some((resume_event, position)) if resume_event == *event => position,
                _ => 0,
            };
            for index in start..objects.len() {
                let object = &objects[index];
                if !params.matches(object.id(), object.object_type(), object.version()) {
                    continue;
                }
                if object.shared() {
                    let digest = shared_digest(object.id());
                    if shared_sent.contains(&digest) {
                        continue;
                    }
                    if items.len() < params.limit && shared_sent.len() < MAX_REMEMBERED_SHARED {
                        shared_sent.push(digest);
                    }
                }
                if items.len() >= params.limit {
                    // The reader asks for the next page while it reads this one: the events
                    // after this one are rendered meanwhile, on the cores it leaves idle.
                    let following = &events[position_in_batch + 1..];
                    for next in following.iter().take(READ_AHEAD) {
                        renderer.prefetch(*next);
                    }
                    // A page ending near the end of its batch: the events after the batch
                    // are read ahead too, or the reader would wait for their render.
                    if following.len() < READ_AHEAD
                        && events.len() as u64 == EVENTS_PER_QUERY
                        && only_events.is_none()
                        && let Some(last) = events.last()
                    {
                        renderer.prefetch_after(
                            *last,
                            params.added_after,
                            READ_AHEAD - following.len(),
                        );
                    }
                    return Ok(Page {
                        items,
                        more: true,
                        next: Some(params.token(&Cursor {
                            event: *event,
                            position: index,
                            shared_sent,
                        })),
                    });
                }
                if !in_page.insert(object.id(), &items) {
                    continue;
                }
                items.push(PageItem {
                    objects: Arc::clone(&objects),
                    index,
                    date_added: event.local_change_us,
                });
            }
        }
        match events.last() {
            Some(last) if events.len() as u64 == EVENTS_PER_QUERY => {
                from = Some(ChangedEvent {
                    local_change_us: last.local_change_us,
                    id: last.id + 1,
                });
            }
            _ => break,
        }
    }
    Ok(Page {
        items,
        more: false,
        next: None,
    })
}

/// The ids already in a page, by a hash of each: a page of 1,000 objects would otherwise copy
/// 1,000 ids to find the rare object that two of its events share. An id whose hash is
/// already there is compared with the page's ids themselves.
struct PageIds {
    hashes: HashSet<u64, foldhash::fast::FixedState>,
    hasher: foldhash::fast::FixedState,
}

impl PageIds {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            hashes: HashSet::with_capacity_and_hasher(capacity.min(4096), Default::default()),
            hasher: foldhash::fast::FixedState::default(),
        }
    }

    /// Whether `id` is new to the page (whose objects so far are `items`); notes it if so.
    fn insert(&mut self, id: &str, items: &[PageItem]) -> bool {
        if self.hashes.insert(self.hasher.hash_one(id)) {
            return true;
        }
        !items.iter().any(|item| item.object().id() == id)
    }
}

/// Renders events as one caller sees them through one view, through the render cache; owns
/// what it needs so that a render can run on after the request that asked for it.
#[derive(Clone)]
struct Renderer {
    state: AppState,
    viewer: Viewer,
    view: View,
    now: i64,
}

impl Renderer {
    fn new(call: &TaxiiCall, view: &View) -> Self {
        Renderer {
            state: call.state.clone(),
            viewer: call.viewer.clone(),
            view: view.clone(),
            now: call.now,
        }
    }

    fn key(&self, event: ChangedEvent) -> RenderKey {
        RenderKey {
            event: event.id,
            local_change_us: event.local_change_us,
            viewer: viewer_key(&self.viewer),
            filter: self.view.filter_key,
        }
    }

    /// The STIX objects of one event; None when the event is gone. Callers asking for the
    /// same render at the same time share one.
    async fn rendered(
        &self,
        event: ChangedEvent,
    ) -> Result<Option<Arc<Vec<StixObjectText>>>, TaxiiError> {
        let key = self.key(event);
        let cache = cache_of(&self.state);
        let slot = lock(&cache).slot(key);
        let objects = slot
            .get_or_try_init(|| self.render(event.id))
            .await?
            .clone();
        lock(&cache).account(key, &slot);
        Ok(objects)
    }

    /// Starts rendering `event` in the background unless it is cached or under way.
    fn prefetch(&self, event: ChangedEvent) {
        let cache = cache_of(&self.state);
        if lock(&cache).is_known(&self.key(event)) {
            return;
        }
        let renderer = self.clone();
        tokio::spawn(async move {
            // A failed read-ahead costs nothing: the request that needs the event renders
            // it and reports the error.
            let _ = renderer.rendered(event).await;
        });
    }

    /// Starts rendering, in the background, the first `count` events of the view after
    /// `last`.
    fn prefetch_after(&self, last: ChangedEvent, added_after: Option<i64>, count: usize) {
        let renderer = self.clone();
        tokio::spawn(async move {
            let from = ChangedEvent {
                local_change_us: last.local_change_us,
                id: last.id + 1,
            };
            // As for `prefetch`: a failure here costs the request that needs the event.
            let Ok(events) = renderer
                .state
                .store
                .taxii_events_page(
                    &renderer.view.criteria,
                    &renderer.viewer,
                    Some(from),
                    added_after,
                    None,
                    count as u64,
                )
                .await
            else {
                return;
            };
            for event in events {
                renderer.prefetch(event);
            }
        });
    }

    async fn render(&self, event_id: i64) -> Result<Option<Arc<Vec<StixObjectText>>>, TaxiiError> {
        let store = &self.state.store;
        let options = LoadOptions {
            include_deleted: false,
            viewer_org: self.viewer.org_id(),
        };
        let mut loaded = match store.event(&Key::Id(event_id), &options).await {
            Ok(loaded) => loaded,
            Err(StoreError::NotFound) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        if self.view.attribute_level {
            let wanted = self.matching_attributes(event_id).await?;
            loaded
                .attributes
                .retain(|attribute| wanted.contains(&attribute.id));
            for object in &mut loaded.objects {
                object
                    .attributes
                    .retain(|attribute| wanted.contains(&attribute.id));
            }
            loaded
                .objects
                .retain(|object| !object.attributes.is_empty());
        }
        let options = Stix2Options::new(self.state.settings.base_url.clone(), self.now);
        // Tens of milliseconds of CPU for a large event: off the runtime's workers, which
        // keep answering pages meanwhile.
        let objects = tokio::task::spawn_blocking(move || event_objects(&loaded, &options))
            .await
            .map_err(|failure| {
                tracing::error!(event = event_id, %failure, "TAXII render stopped");
                TaxiiError::internal()
            })?;
        Ok(Some(Arc::new(objects)))
    }

    /// Ids of the event's attributes the view's attribute criteria select.
    async fn matching_attributes(&self, event_id: i64) -> Result<HashSet<i64>, TaxiiError> {
        let mut criteria = self.view.criteria.clone();
        criteria.event = Terms::any_of([event_id.to_string()]);
        let mut cursor = SearchCursor::new(0, None);
        let mut events = EventStubCache::default();
        let mut wanted = HashSet::new();
        loop {
            let hits = self
                .state
                .store
                .search_attributes_page_reading(
                    &criteria,
                    &self.viewer,
                    &mut cursor,
                    &mut events,
                    Details::Skip,
                )
                .await?;
            if hits.is_empty() {
                return Ok(wanted);
            }
            wanted.extend(hits.iter().map(|hit| hit.attribute.id));
        }
    }
}

fn viewer_key(viewer: &Viewer) -> u64 {
    let mut hasher = DefaultHasher::new();
    match viewer {
        Viewer::SiteAdmin => 0u8.hash(&mut hasher),
        Viewer::Organisation {
            org_id,
            sharing_groups,
            unpublished_private,
        } => {
            1u8.hash(&mut hasher);
            org_id.hash(&mut hasher);
            unpublished_private.hash(&mut hasher);
            let mut groups: Vec<i64> = sharing_groups.iter().copied().collect();
            groups.sort_unstable();
            groups.hash(&mut hasher);
        }
    }
    hasher.finish()
}

// ---------------------------------------------------------------------------------------
// The render cache
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct RenderKey {
    event: i64,
    local_change_us: i64,
    viewer: u64,
    filter: u64,
}

/// Heap bytes of rendered objects kept per server; the entry used last is kept even when
/// larger. A pager walks one event's pages in a row, so a few events per reader is what
/// pays; a collection scanned in order evicts each event before it comes round again
/// (least recently used), whatever the bound, so a larger one buys memory, not speed;
/// 16 MiB holds a few 1,000-attribute events (3–5 MiB each).
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Entries kept at most, rendered or not: renders of events that are gone, or that failed,
/// hold no bytes but must not pile up.
const CACHE_ENTRIES: usize = 256;

/// One render, shared by everyone who asks for it while it runs; empty until it has run
/// (and again after it failed, for the next caller to retry).
type Slot = Arc<tokio::sync::OnceCell<Option<Arc<Vec<StixObjectText>>>>>;

#[derive(Default)]
struct RenderCache {
    entries: HashMap<RenderKey, CacheEntry>,
    bytes: usize,
    clock: u64,
}

struct CacheEntry {
    slot: Slot,
    /// Counted once the render is done.
    bytes: usize,
    used: u64,
}

impl RenderCache {
    /// The key's slot, a new empty one if there is none.
    fn slot(&mut self, key: RenderKey) -> Slot {
        self.clock += 1;
        let clock = self.clock;
        if !self.entries.contains_key(&key) {
            self.make_room();
        }
        let entry = self.entries.entry(key).or_insert_with(|| CacheEntry {
            slot: Slot::default(),
            bytes: 0,
            used: clock,
        });
        entry.used = clock;
        Arc::clone(&entry.slot)
    }

    fn is_known(&self, key: &RenderKey) -> bool {
        self.entries.contains_key(key)
    }

    /// Counts a finished render's bytes (once) and evicts what no longer fits.
    fn account(&mut self, key: RenderKey, slot: &Slot) {
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        if !Arc::ptr_eq(&entry.slot, slot) || entry.bytes != 0 {
            return;
        }
        let Some(Some(objects)) = slot.get() else {
            return;
        };
        let bytes = held_bytes(objects);
        self.clock += 1;
        entry.bytes = bytes;
        entry.used = self.clock;
        self.bytes += bytes;
        self.make_room();
    }

    /// Evicts the least recently used finished renders until the bytes fit and one more
    /// entry would; the entry used last is kept even when larger than the bound, and renders
    /// under way are never evicted.
    fn make_room(&mut self) {
        while self.bytes > CACHE_BYTES || self.entries.len() >= CACHE_ENTRIES {
            let last_used = self.clock;
            let oldest = self
                .entries
                .iter()
                .filter(|(_, entry)| entry.slot.initialized() && entry.used != last_used)
                .min_by_key(|(_, entry)| entry.used)
                .map(|(key, _)| *key);
            let Some(oldest) = oldest else {
                return;
            };
            if let Some(removed) = self.entries.remove(&oldest) {
                self.bytes -= removed.bytes;
            }
        }
    }
}

/// What an event's rendered objects hold on the heap: their buffers' capacities plus the
/// allocator's per-allocation overhead, so the cache's bound is a bound on memory, not on
/// JSON text.
fn held_bytes(objects: &Vec<StixObjectText>) -> usize {
    const PER_ALLOCATION: usize = 16;
    objects.capacity() * std::mem::size_of::<StixObjectText>()
        + objects
            .iter()
            .map(|object| object.heap_bytes() + PER_ALLOCATION)
            .sum::<usize>()
}

type SharedCache = Arc<Mutex<RenderCache>>;

/// One cache per running application. Event ids mean nothing across databases, so the
/// cache belongs to the application's settings (one allocation per `AppState::new`); the
/// weak reference kept here pins that allocation's address, so it cannot be reused by
/// another application while the entry exists.
static CACHES: Mutex<Vec<(Weak<ServerSettings>, SharedCache)>> = Mutex::new(Vec::new());

fn cache_of(state: &AppState) -> SharedCache {
    let mut caches = CACHES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    caches.retain(|(settings, _)| settings.strong_count() > 0);
    if let Some((_, cache)) = caches
        .iter()
        .find(|(settings, _)| std::ptr::eq(settings.as_ptr(), Arc::as_ptr(&state.settings)))
    {
        return Arc::clone(cache);
    }
    let cache = SharedCache::default();
    caches.push((Arc::downgrade(&state.settings), Arc::clone(&cache)));
    cache
}

fn lock(cache: &SharedCache) -> std::sync::MutexGuard<'_, RenderCache> {
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_formats::stix::export::StixObjectText;

    #[test]
    fn page_ids_find_repeats_and_keep_distinct_ids_apart() {
        let objects: Arc<Vec<StixObjectText>> = Arc::new(
            ["a", "b", "c"]
                .into_iter()
                .map(|id| StixObjectText::new(id, "x", "", "{}", false))
                .collect(),
        );
        let mut ids = PageIds::with_capacity(8);
        let mut items = Vec::new();
        for index in 0..3 {
            assert!(ids.insert(objects[index].id(), &items));
            items.push(PageItem {
                objects: Arc::clone(&objects),
                index,
                date_added: 0,
            });
        }
        assert!(!ids.insert("b", &items));
        assert!(ids.insert("d", &items));
        // A hash already noted for another id: the ids themselves decide.
        ids.hashes.insert(ids.hasher.hash_one("e"));
        assert!(ids.insert("e", &items));
    }
}
