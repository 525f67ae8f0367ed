//! The store contract: what every backend must do the same way.

pub mod accounts;
pub mod attributes;
pub mod audit;
pub mod correlations;
pub mod event_reports;
pub mod events;
pub mod feeds;
pub mod objects;
pub mod schema;
pub mod servers;
pub mod sharing_groups;
pub mod sightings;
pub mod tag_pruning;
pub mod tags;
pub mod visibility;
