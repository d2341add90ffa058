//! Black-box tests: each starts the real `chapar` binary on a free port with its own data
//! directory and talks to it over real sockets (raw protocol, SDK, or the CLI).
//! One test binary (one link step) for all of them.

mod util;

mod auth;
mod bad_input;
mod bots;
mod bots_bad_input;
mod bots_libraries;
mod bots_service;
mod chaos;
mod cli;
mod cli_chat;
mod cluster;
mod delivery;
mod drain;
mod durability;
mod hardening;
mod presence;
mod reconnect;
mod recovery;
mod safety;
mod surge;
