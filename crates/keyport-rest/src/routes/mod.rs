//! The handlers, one module per endpoint family.

mod analytics;
mod api_keys;
mod bonus;
mod catalog;
mod consent;
mod customers;
mod events;
mod field;
mod identity;
mod me;
mod offers;
mod orders;
mod releases;
mod segments;
mod sessions;
mod support;
mod webhooks;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every handler.
pub fn configure(cfg: &mut ServiceConfig) {
    sessions::configure(cfg);
    identity::configure(cfg);
    me::configure(cfg);
    catalog::configure(cfg);
    orders::configure(cfg);
    customers::configure(cfg);
    support::configure(cfg);
    events::configure(cfg);
    api_keys::configure(cfg);
    field::configure(cfg);
    webhooks::configure(cfg);
    releases::configure(cfg);
    analytics::configure(cfg);
    offers::configure(cfg);
    bonus::configure(cfg);
    consent::configure(cfg);
    segments::configure(cfg);
}

/// Roles that may read the catalog.
pub const CATALOG_READERS: &[keyport_core::Role] = &[
    keyport_core::Role::Admin,
    keyport_core::Role::Support,
    keyport_core::Role::Shop,
    keyport_core::Role::Portal,
];
