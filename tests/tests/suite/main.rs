//! Keyport's black-box suite: one binary, every test on a fresh database of each backend.
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

mod analytics;
mod api_keys;
mod bonus;
mod catalog;
mod concurrency;
mod consent;
mod depot;
mod events;
mod field;
mod hostile;
mod licenses;
mod offers;
mod orders;
mod releases;
mod reliability;
mod rest;
mod rest_access;
mod rest_field;
mod rest_lists;
mod segments;
mod server;
mod soap;
mod targeting;
mod upgrades;
mod webhooks;
