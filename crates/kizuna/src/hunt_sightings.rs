//! `kizuna hunt --record-sightings`: hits back as sightings, locally or through the API.
pub const PLACEHOLDER: () = ();
