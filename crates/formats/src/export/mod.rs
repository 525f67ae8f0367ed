//! Exports for devices and tools (misp-reference §8, stix-taxii-reference D): what a
//! restSearch `returnFormat` and `kizuna export --format` write.
//!
//! Every format is an [`ExportWriter`]: the caller (the server's streaming restSearch, the
//! CLI) feeds it the attributes a search found, page by page, and ships each chunk of text
//! as it is produced, so a million attributes never sit in memory at once. Writers keep only
//! what their format needs across pages (the distinct values of `text`, the sid counter of
//! NIDS rules).

pub mod nids;
pub mod plain;
pub mod rpz;
pub mod zeek;

use kizuna_model::{Attribute, Event, MispObject};

/// One attribute to export, with the event (and object) holding it.
#[derive(Clone, Copy, Debug)]
pub struct ExportItem<'a> {
    pub attribute: &'a Attribute,
    /// The event; its `attributes`/`objects` need not be loaded.
    pub event: &'a Event,
    pub object: Option<&'a MispObject>,
}

/// A format written in steps: `begin`, then `attribute` (or `event`) any number of times,
/// then `finish`. Each step appends to `out`; the caller may send and clear `out` between
/// steps.
pub trait ExportWriter: Send {
    /// The HTTP `Content-Type` of the whole output.
    fn content_type(&self) -> &'static str;

    /// Whether the format needs whole events (`event`) rather than attributes.
    fn wants_events(&self) -> bool {
        false
    }

    fn begin(&mut self, out: &mut String);

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>);

    /// A whole event with its attributes, objects and tags loaded. By default every
    /// attribute, loose and inside objects, in the order MISP lists them.
    fn event(&mut self, out: &mut String, event: &Event) {
        for attribute in &event.attributes {
            self.attribute(
                out,
                &ExportItem {
                    attribute,
                    event,
                    object: None,
                },
            );
        }
        for object in &event.objects {
            for attribute in &object.attributes {
                self.attribute(
                    out,
                    &ExportItem {
                        attribute,
                        event,
                        object: Some(object),
                    },
                );
            }
        }
    }

    fn finish(&mut self, out: &mut String);

    /// Warnings for the operator once the export is finished (a list past a device's
    /// documented capacity, values a format cannot express).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}
