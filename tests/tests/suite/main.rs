//! Keyport's black-box suite: one binary, every test on a fresh database of each backend.

mod catalog;
mod concurrency;
mod events;
mod licenses;
mod orders;
mod server;
