//! Kizuna's pure domain model: the MISP entities (events, attributes, objects, tags,
//! organisations, users, roles, sharing groups, sightings), the complete MISP attribute
//! type and category table, and MISP-compatible validation and normalisation of values.
//!
//! No IO and no async here; everything is unit-tested in place.

pub mod access;
pub mod attribute_types;
pub mod correlation;
pub mod entities;
pub mod enums;
pub mod feed;
pub mod normalize;
pub mod query;
pub mod refang;
pub mod validity;

pub use entities::*;
pub use enums::*;
