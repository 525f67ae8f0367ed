//! The `kizuna` binary, run as a child process: `config example`, `init`, `serve`.

mod config;
mod init;
mod serve;
mod support;
