//! IoCs for `kizuna hunt`: from files (MISP feed, MISP event, STIX, CSV, plain list), a database or a server.
pub const PLACEHOLDER: () = ();
