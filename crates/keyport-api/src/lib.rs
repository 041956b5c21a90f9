#![doc = include_str!("../README.md")]

pub mod requests;
pub mod views;
pub mod webhooks;

pub use requests::*;
pub use views::*;
pub use webhooks::*;
