//! The MISP REST API, called in-process over a fresh SQLite store per test.

mod access;
mod accounts;
mod attributes;
mod audit;
mod correlations;
mod errors;
mod events;
mod exports;
mod federated;
mod feeds;
mod handshake;
mod hardening;
mod objects;
mod permissions;
mod rest_search;
mod roles_support;
mod roundtrip;
mod sharing_groups;
mod sightings;
mod stix_upload;
mod support;
mod sync_client;
mod sync_remote;
mod tags;
mod visibility_property;
mod warninglists;
