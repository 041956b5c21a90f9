#![doc = include_str!("../README.md")]

pub mod releases;
pub mod requests;
pub mod views;
pub mod webhooks;

pub use releases::*;
pub use requests::*;
pub use views::*;
pub use webhooks::*;
