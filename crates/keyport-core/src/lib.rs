#![doc = include_str!("../README.md")]

pub mod analytics;
pub mod bonus;
pub mod catalog;
pub mod certificate;
pub mod checkin;
pub mod consent;
pub mod demo;
pub mod emergency;
pub mod error;
pub mod event;
pub mod files;
pub mod jws;
pub mod license;
pub mod machine;
pub mod mail;
pub mod net;
pub mod offer;
pub mod order;
pub mod phrases;
pub mod release;
pub mod rules;
pub mod stats;
pub mod targeting;
#[cfg(any(test, feature = "proptest"))]
pub mod targeting_strategy;
pub mod text;
pub mod ticket;
pub mod webhook;

pub use catalog::{Features, ItemChanges, ItemSpec, LicenseModel, ProductSpec, VersionRange};
pub use error::{CoreError, ErrorCode, FaultSide, Lang};
pub use event::{Actor, ApiKeyState, Channel, EventKind, Role, decide_key_revocation};
pub use license::{
    ActivationDecision, ActivationRecord, ActivationState, CreditGrant, Credits, LicenseHistory,
    LicenseState, RecoveryDecision, RevocationDecision,
};
pub use machine::{Fingerprint, MachineIdentity, MachineKey};
pub use order::{
    CancelDecision, Cancellation, HeldLine, OrderCustomer, OrderLine, OrderRequest, decide_lines,
};
pub use rules::{RuleSet, RuleSetParams};
pub use text::{
    CustomerNumber, DisplayName, Email, ExternalOrderNumber, Password, ProductCode, Reason, RuleSetName,
    ShopName, Sku, SsoSubject, check_text,
};
pub use ticket::TicketCode;
