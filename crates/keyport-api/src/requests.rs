//! Request bodies and query parameters of the REST API, with the checks that turn each into
//! core's values (`parse`): a façade calls them, a client builds them.

use chrono::{DateTime, Utc};
use keyport_core::{
    CoreError, DisplayName, ExternalOrderNumber, Features, Fingerprint, ItemChanges, ItemSpec, LicenseModel,
    MachineIdentity, MachineKey, OrderCustomer, OrderLine, OrderRequest, ProductCode, Role, RuleSetName,
    ShopName, Sku, VersionRange,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A key to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// What the key is for, e.g. "web shop".
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it stops working; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A product to define.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    /// Unique code: letters, digits, '-', '_', '.'.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub code: String,
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
}

/// A product's new name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProductChanges {
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
}

/// How long a license of an item lasts: for ever, for a subscription's term, or for a
/// demo's days. The contract names the values; the handler parses them into core's model.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "lowercase"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenseModelName {
    /// Valid for ever.
    Perpetual,
    /// For a term of `duration_days`, renewable.
    Subscription,
    /// For `duration_days`, to try the software.
    Demo,
}

/// An item to define.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    /// Unique article number.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub sku: String,
    /// The product's code.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub product_code: String,
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// `perpetual`, `subscription` or `demo`.
    #[cfg_attr(feature = "openapi", schema(value_type = LicenseModelName))]
    pub license_model: String,
    /// Term in days, for subscriptions and demos (1 to 3650).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub duration_days: Option<u32>,
    /// Feature names: lower-case letters, digits, '-', '_'.
    #[serde(default)]
    pub features: Vec<String>,
    /// The lowest entitled major version.
    pub version_min: u32,
    /// The highest entitled major version; open when absent.
    pub version_max: Option<u32>,
    /// The rule set's name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub rule_set: String,
    /// Whether customers and the ISV's software may request it themselves (demo items only).
    #[serde(default)]
    pub self_service: bool,
    /// The items (SKUs) whose licenses an order line of this item upgrades to it, keeping
    /// the license's id, machines and history (at most 32; default none).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 32))]
    pub upgrade_from: Vec<String>,
}

impl ItemRequest {
    /// The request as core's checked value; the first invalid field is the error.
    pub fn parse(self) -> Result<ItemSpec, CoreError> {
        let model = LicenseModel::parse(&self.license_model, self.duration_days)?;
        let sku = Sku::parse(&self.sku)?;
        Ok(ItemSpec {
            upgrade_from: keyport_core::catalog::upgrade_from(&sku, &self.upgrade_from)?,
            sku,
            product: ProductCode::parse(&self.product_code)?,
            name: DisplayName::parse(&self.name)?,
            self_service: keyport_core::catalog::check_self_service(model, self.self_service)?,
            model,
            features: Features::new(&self.features)?,
            versions: VersionRange::new(self.version_min, self.version_max)?,
            rule_set: RuleSetName::parse(&self.rule_set)?,
        })
    }
}

/// What to change on an item; absent fields stay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ItemChangesRequest {
    /// New display name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    /// New feature names (replacing the old ones).
    pub features: Option<Vec<String>>,
    /// Another rule set, by name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub rule_set: Option<String>,
    /// Offer the demo item for self-service, or withdraw the offer (demo items only).
    pub self_service: Option<bool>,
}

impl ItemChangesRequest {
    /// The request as core's checked value; the first invalid field is the error.
    pub fn parse(self) -> Result<ItemChanges, CoreError> {
        Ok(ItemChanges {
            name: self.name.as_deref().map(DisplayName::parse).transpose()?,
            features: self.features.map(Features::new).transpose()?,
            rule_set: self.rule_set.as_deref().map(RuleSetName::parse).transpose()?,
            self_service: self.self_service,
        })
    }
}

/// A customer account to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomerRequest {
    /// E-mail address; unique.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// The shop's customer number; unique when given.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub customer_number: Option<String>,
    /// A password to log in with (at least 10 characters); without one, the customer logs
    /// in with a ticket until they get one.
    #[cfg_attr(feature = "openapi", schema(format = Password, min_length = 10, max_length = 1024))]
    pub password: Option<String>,
}

/// What to change on a customer; absent fields stay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomerChangesRequest {
    /// New e-mail address.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: Option<String>,
    /// New display name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    /// New customer number.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub customer_number: Option<String>,
}

/// Which customers to find.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// By e-mail address (any case).
    pub email: Option<String>,
    /// By the shop's customer number.
    pub customer_number: Option<String>,
    /// E-mail addresses that start with this (any case).
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 254))]
    pub email_prefix: Option<String>,
    /// Names that contain this (any case).
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    /// The customer a ticket is registered to (case, spaces and dashes do not matter).
    pub ticket_code: Option<String>,
    /// The `X-Next-Cursor` of the previous page.
    pub after: Option<String>,
    /// At most this many (1 to 500, default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

/// Which customers staff look for, checked; every given filter must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerSearch {
    /// This e-mail address.
    pub email: Option<keyport_core::Email>,
    /// E-mail addresses that start with this (lower case).
    pub email_prefix: Option<String>,
    /// Names that contain this (lower case).
    pub name: Option<String>,
    /// This customer number.
    pub customer_number: Option<keyport_core::CustomerNumber>,
    /// The customer a ticket is registered to.
    pub ticket: Option<keyport_core::TicketCode>,
}

impl CustomerSearch {
    /// Whether it looks beyond one customer named exactly (e-mail address or number): a
    /// search, which is for admins and support only.
    pub fn is_search(&self) -> bool {
        let exact = self.email.is_some() || self.customer_number.is_some();
        !exact || self.email_prefix.is_some() || self.name.is_some() || self.ticket.is_some()
    }
}

impl CustomerQuery {
    /// The filters, checked.
    pub fn parse(&self) -> Result<CustomerSearch, CoreError> {
        let text =
            |field: &'static str, value: &Option<String>, max: usize| -> Result<Option<String>, CoreError> {
                match value.as_deref().map(str::trim) {
                    None => Ok(None),
                    Some("") => Err(CoreError::invalid(field, "must not be empty")),
                    Some(v) if v.chars().count() > max => {
                        Err(CoreError::invalid(field, format!("must be at most {max} characters")))
                    }
                    Some(v) => {
                        keyport_core::check_text(field, v)?;
                        Ok(Some(v.to_lowercase()))
                    }
                }
            };
        Ok(CustomerSearch {
            email: self.email.as_deref().map(keyport_core::Email::parse).transpose()?,
            email_prefix: text("email_prefix", &self.email_prefix, 254)?,
            name: text("name", &self.name, 200)?,
            customer_number: self
                .customer_number
                .as_deref()
                .map(keyport_core::CustomerNumber::parse)
                .transpose()?,
            ticket: self.ticket_code.as_deref().map(keyport_core::TicketCode::parse).transpose()?,
        })
    }
}

/// Filters and the page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only events about this license.
    pub license_id: Option<Uuid>,
    /// Only events about this customer.
    pub customer_id: Option<Uuid>,
    /// Only events of this kind, e.g. `license_activated`.
    #[cfg_attr(feature = "openapi", param(max_length = 64))]
    pub kind: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// At most this many (1 to 500, default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

/// A new account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The e-mail address; a verification link is sent to it.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    /// The display name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// The password: at least 10 characters, not a common one.
    #[cfg_attr(feature = "openapi", schema(format = Password, min_length = 10, max_length = 1024))]
    pub password: String,
    /// `en` or `de`, for the account's mails (default `en`).
    pub language: Option<String>,
    /// A ticket to register to the new account at once.
    pub ticket_code: Option<String>,
}

/// The token from a mail's link.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    /// The token.
    pub token: String,
}

/// An address that forgot its password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The account's e-mail address.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
}

/// A new password set with the token from a reset or invitation mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmation {
    /// The token from the mail's link.
    pub token: String,
    /// The new password.
    #[cfg_attr(feature = "openapi", schema(format = Password, min_length = 10, max_length = 1024))]
    pub new_password: String,
}

/// A password change by a logged-in customer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub old_password: String,
    /// The new password.
    #[cfg_attr(feature = "openapi", schema(format = Password, min_length = 10, max_length = 1024))]
    pub new_password: String,
}

/// A token of the ISV's own identity provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SsoRequest {
    /// The JWT (RS256, ES256, EdDSA or HS256) issued by a trusted issuer.
    pub token: String,
}

/// A machine as the client presents it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MachineRequest {
    /// The machine's fingerprint, computed by the client (16 to 128 characters).
    pub fingerprint: String,
    /// The machine's Ed25519 public key, unpadded base64url (32 bytes).
    pub machine_key: String,
}

impl MachineRequest {
    /// The request as core's checked value; the first invalid field is the error.
    pub fn parse(&self) -> Result<MachineIdentity, CoreError> {
        Ok(MachineIdentity {
            fingerprint: Fingerprint::parse(&self.fingerprint)?,
            key: MachineKey::parse(&self.machine_key)?,
        })
    }
}

/// A signed file (activation request, receipt or deactivation proof), as written by
/// `keyport-client`: the armored text, or the bare compact JWS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignedFileRequest {
    /// The file's content.
    pub file: String,
}

/// A ticket to register to the account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterTicketRequest {
    /// The ticket code; case, spaces and dashes do not matter.
    pub ticket_code: String,
}

/// A page of the history.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// At most this many (1 to 500, default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

/// An order as a shop sends it. Sending the same shop and order number again adds only
/// lines whose numbers are new; a line number with other content is refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderRequestBody {
    /// The shop's name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub shop: String,
    /// The shop's order number.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub external_order_number: String,
    /// The customer, if the shop knows them: by e-mail or by the shop's customer number.
    pub customer: Option<OrderCustomerBody>,
    /// The lines.
    pub lines: Vec<OrderLineBody>,
}

/// Who an order is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderCustomerBody {
    /// The customer's e-mail address.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: Option<String>,
    /// The shop's customer number.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub customer_number: Option<String>,
}

/// One order line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderLineBody {
    /// The shop's line number (1 or more), unique in the order.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 2147483647))]
    pub line_number: u32,
    /// The item's article number.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub sku: String,
    /// How many licenses (1 to 1000; 1 on an upgrade line).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub quantity: u32,
    /// Makes this an upgrade line: the license it turns into a license of `sku` (which must
    /// list the license's item in its `upgrade_from`), instead of new licenses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_license_id: Option<Uuid>,
}

impl OrderRequestBody {
    /// The request as core's checked value; the first invalid field is the error.
    pub fn parse(&self) -> Result<OrderRequest, CoreError> {
        let customer = match &self.customer {
            None => OrderCustomer::None,
            Some(c) => OrderCustomer::from_parts(c.email.as_deref(), c.customer_number.as_deref())?,
        };
        let lines = self
            .lines
            .iter()
            .map(|l| match l.upgrade_license_id {
                None => OrderLine::new(l.line_number, Sku::parse(&l.sku)?, l.quantity),
                Some(license) => {
                    OrderLine::upgrading(l.line_number, Sku::parse(&l.sku)?, l.quantity, license)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        OrderRequest::new(
            ShopName::parse(&self.shop)?,
            ExternalOrderNumber::parse(&self.external_order_number)?,
            customer,
            lines,
        )
    }
}

/// E-mail address and password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's e-mail address.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    /// The password.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub password: String,
}

/// A ticket code, as the buyer typed it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketLoginRequest {
    /// The ticket code; case, spaces and dashes do not matter.
    pub ticket_code: String,
}

/// A refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    pub refresh_token: String,
}

/// Extra re-activation credits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreditGrantRequest {
    /// How many (1 to 100).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub amount: u32,
    /// Why, for the event log.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub reason: String,
}

/// Why a license is revoked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    /// Why, for the event log and the customer.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub reason: String,
}

/// The customer a ticket moves to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketTransferRequest {
    /// The receiving customer.
    pub customer_id: Uuid,
}

/// A check-in or usage report signed by the machine key (written by `keyport-client`), as
/// the bare compact JWS or armored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignedReportRequest {
    /// The signed statement.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 8192))]
    pub proof: String,
}

/// An emergency license on this machine, for an activation on a lost machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmergencyRequest {
    /// The new machine.
    pub machine: MachineRequest,
}

/// A demo of a product, for the logged-in customer; activated on the machine when one is
/// named.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MyDemoRequest {
    /// The product's code.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub product_code: String,
    /// The machine to activate the demo on.
    pub machine: Option<MachineRequest>,
}

/// A demo of a product, asked for by the ISV's software on a machine, for an e-mail address:
/// the demo is activated on the machine at once, and the ticket is mailed to the address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DemoRequest {
    /// The product's code.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub product_code: String,
    /// The user's e-mail address.
    #[cfg_attr(feature = "openapi", schema(min_length = 3, max_length = 254))]
    pub email: String,
    /// The language of the mail: `en` (default) or `de`.
    pub language: Option<String>,
    /// The machine the software runs on.
    pub machine: MachineRequest,
}

/// Support ends an emergency license early.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EndEmergencyRequest {
    /// Why, for the event log.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub reason: String,
}
