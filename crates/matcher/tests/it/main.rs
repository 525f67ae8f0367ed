//! Warninglists against the real lists shipped in data/warninglists/.

mod directory;
mod shipped;
