//! Warninglists against the real lists shipped in data/warninglists/.

mod directory;
mod hunt_index;
mod hunt_logs;
mod hunt_scan;
mod shipped;
