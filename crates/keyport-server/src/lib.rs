#![doc = include_str!("../README.md")]

pub mod cli;
pub mod guards;
pub mod health;
pub mod identity;
pub mod mailer;
pub mod metrics;
pub mod proxies;
pub mod pruner;
pub mod sandbox;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod webhooks;

pub use settings::Settings;
pub use startup::Application;
