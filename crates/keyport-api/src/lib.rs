#![doc = include_str!("../README.md")]

pub mod analytics;
pub mod bonus;
pub mod consent;
pub mod offers;
pub mod releases;
pub mod requests;
pub mod segments;
pub mod views;
pub mod webhooks;

pub use analytics::*;
pub use bonus::*;
pub use consent::*;
pub use offers::*;
pub use releases::*;
pub use requests::*;
pub use segments::*;
pub use views::*;
pub use webhooks::*;
