#![doc = include_str!("../README.md")]

pub mod requests;
pub mod views;

pub use requests::*;
pub use views::*;
