//! The `kizuna` binary, run as a child process: `config example`, `init`, `serve`, `user`.

mod config;
mod federated;
mod hunt;
mod import_export;
mod init;
mod serve;
mod support;
mod sync;
mod taxii_collection;
mod taxii_pull;
mod user;
