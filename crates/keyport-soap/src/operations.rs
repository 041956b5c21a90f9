//! The operations: each turns its generated request into core types, calls the same store
//! use case as REST, and answers with its generated response.

use chrono::{DateTime, SecondsFormat, Utc};
use keyport_core::ProductCode;
use keyport_core::demo::DemoPolicy;
use keyport_core::{
    CoreError, CustomerNumber, DisplayName, Email, ErrorCode, ExternalOrderNumber, OrderCustomer, OrderLine,
    OrderRequest, Reason, Role, ShopName, Sku, TicketCode,
};
use keyport_store::DemoFor;
use keyport_store::mail::MailLinks;
use keyport_store::{
    ActivationView, Context, CustomerChanges, CustomerView, LicenseView, NewCustomer, OrderView, Scope,
    Store, StoreError, TicketView,
};
use uuid::Uuid;
use yaserde::{YaDeserialize, YaSerialize};

use crate::contract::*;
use crate::envelope::{Fault, malformed};

/// Who may call an operation. Shops create and change what they sell; support reads and
/// acts on licenses. Unlike REST, `UpdateCustomer` and `CreateCustomer` are a shop's (its
/// ERP keeps customer master data), and support reads orders and customers but changes
/// only licenses.
pub fn allowed(operation: Operation) -> &'static [Role] {
    const READ: &[Role] = &[Role::Admin, Role::Shop, Role::Support];
    const SELL: &[Role] = &[Role::Admin, Role::Shop];
    const SUPPORT: &[Role] = &[Role::Admin, Role::Support];
    match operation {
        Operation::GetOrder
        | Operation::GetTicket
        | Operation::ListCustomerLicenses
        | Operation::ListCustomerOffers
        | Operation::GetCustomer => READ,
        Operation::RecordOfferReaction => SELL,
        Operation::GrantReactivationCredits | Operation::RevokeLicense => SUPPORT,
        Operation::CreateOrder
        | Operation::CancelOrder
        | Operation::RenewSubscription
        | Operation::CreateCustomer
        | Operation::UpdateCustomer
        | Operation::AssignTicket
        | Operation::CreateDemoLicense => SELL,
    }
}

fn store_fault(e: StoreError) -> Fault {
    match e {
        StoreError::Domain(e) => e.into(),
        other => {
            tracing::error!(error = %other, "store failure in a SOAP call");
            CoreError::new(other.code()).into()
        }
    }
}

fn run<Q, R>(canonical: &str, f: impl FnOnce(Q) -> Result<R, Fault>) -> Result<String, Fault>
where
    Q: YaDeserialize,
    R: YaSerialize,
{
    let request: Q = yaserde::de::from_str(canonical).map_err(|e| {
        // The schema check has passed, so this is ours to fix; the library's words stay in the log.
        tracing::warn!(error = %e, "a payload the schema accepted could not be read");
        malformed("the payload does not match the operation's message")
    })?;
    let response = f(request)?;
    crate::to_xml(&response).map_err(|e| {
        tracing::error!(error = %e, "a SOAP response could not be written");
        Fault::from(CoreError::new(ErrorCode::InternalError))
    })
}

/// Runs the operation named `name` on a checked, canonical payload.
pub fn dispatch(
    store: &Store,
    links: &MailLinks,
    demo: &DemoPolicy,
    ctx: &Context,
    operation: Operation,
    canonical: &str,
) -> Result<String, Fault> {
    let s = store;
    match operation {
        Operation::CreateOrder => run(canonical, |r: CreateOrder| {
            let outcome = s.create_order(ctx, &order_request(&r)?).map_err(store_fault)?;
            Ok(CreateOrderResponse {
                created: outcome.created,
                added_line: outcome
                    .added_lines
                    .iter()
                    .map(|n| i32::try_from(*n).unwrap_or(i32::MAX))
                    .collect(),
                order: order(outcome.order),
            })
        }),
        Operation::GetOrder => run(canonical, |r: GetOrder| {
            let found = s.get_order(&r.shop, &r.external_order_number).map_err(store_fault)?;
            Ok(GetOrderResponse { order: order(found) })
        }),
        Operation::CancelOrder => run(canonical, |r: CancelOrder| {
            let reason = Reason::parse(&r.reason)?;
            let t = s.cancel_order(ctx, &r.shop, &r.external_order_number, &reason).map_err(store_fault)?;
            Ok(CancelOrderResponse { ticket: ticket(t) })
        }),
        Operation::GetTicket => run(canonical, |r: GetTicket| {
            let t = s.lookup_ticket(&TicketCode::parse(&r.ticket_code)?, ctx.now).map_err(store_fault)?;
            Ok(GetTicketResponse { ticket: ticket(t) })
        }),
        Operation::ListCustomerLicenses => run(canonical, |r: ListCustomerLicenses| {
            let id = uuid(&r.customer_id, "customerId")?;
            s.get_customer(id).map_err(store_fault)?;
            let all = s.list_licenses(Scope::Customer(id), ctx.now).map_err(store_fault)?;
            let wanted = |l: &LicenseView| r.state.is_none_or(|state| state.as_str() == l.state.as_str());
            Ok(ListCustomerLicensesResponse {
                license: all.into_iter().filter(wanted).map(license).collect(),
            })
        }),
        Operation::ListCustomerOffers => run(canonical, |r: ListCustomerOffers| {
            let id = uuid(&r.customer_id, "customerId")?;
            let limit = keyport_core::offer::list_limit(r.limit.map(i64::from))?;
            let offers = s.customer_offers(id, ctx.now, limit).map_err(store_fault)?;
            Ok(ListCustomerOffersResponse {
                offer: offers
                    .into_iter()
                    .map(|o| Offer {
                        id: o.id.to_string(),
                        kind: o.kind,
                        language: o.language,
                        title: o.title,
                        text: o.text,
                        link: o.link,
                        coupon_code: o.coupon_code,
                        ends_at: o.ends_at.map(time),
                        clicked: o.clicked,
                    })
                    .collect(),
            })
        }),
        Operation::RecordOfferReaction => run(canonical, |r: RecordOfferReaction| {
            let (customer, offer) = (uuid(&r.customer_id, "customerId")?, uuid(&r.offer_id, "offerId")?);
            let response = match r.reaction {
                OfferReaction::Impression => keyport_core::offer::Response::Impression,
                OfferReaction::Click => keyport_core::offer::Response::Click,
                OfferReaction::Dismissal => keyport_core::offer::Response::Dismissal,
            };
            s.respond_to_offer(customer, offer, response, ctx.now).map_err(store_fault)?;
            Ok(RecordOfferReactionResponse { offer_id: offer.to_string() })
        }),
        Operation::RenewSubscription => run(canonical, |r: RenewSubscription| {
            let l = s.renew_subscription(ctx, uuid(&r.license_id, "licenseId")?).map_err(store_fault)?;
            Ok(RenewSubscriptionResponse { license: license(l) })
        }),
        Operation::CreateCustomer => run(canonical, |r: CreateCustomer| {
            let new = NewCustomer {
                email: Email::parse(&r.email)?,
                name: DisplayName::parse(&r.name)?,
                customer_number: r.customer_number.as_deref().map(CustomerNumber::parse).transpose()?,
                password: None,
            };
            let invite = (r.send_invitation == Some(true)).then_some(links);
            let created = s.create_customer_inviting(ctx, &new, invite).map_err(store_fault)?;
            Ok(CreateCustomerResponse { customer: customer(created) })
        }),
        Operation::GetCustomer => run(canonical, |r: GetCustomer| {
            let who = OrderCustomer::from_parts(r.email.as_deref(), r.customer_number.as_deref())?;
            let found = s.find_customer(&who);
            Ok(GetCustomerResponse { customer: customer(found.map_err(store_fault)?) })
        }),
        Operation::UpdateCustomer => run(canonical, |r: UpdateCustomer| {
            let changes = CustomerChanges {
                email: r.email.as_deref().map(Email::parse).transpose()?,
                name: r.name.as_deref().map(DisplayName::parse).transpose()?,
                customer_number: r.customer_number.as_deref().map(CustomerNumber::parse).transpose()?,
            };
            let id = uuid(&r.customer_id, "customerId")?;
            Ok(UpdateCustomerResponse {
                customer: customer(s.update_customer(ctx, id, &changes).map_err(store_fault)?),
            })
        }),
        Operation::AssignTicket => run(canonical, |r: AssignTicket| {
            let code = TicketCode::parse(&r.ticket_code)?;
            let t =
                s.register_ticket(ctx, uuid(&r.customer_id, "customerId")?, &code).map_err(store_fault)?;
            Ok(AssignTicketResponse { ticket: ticket(t) })
        }),
        Operation::GrantReactivationCredits => run(canonical, |r: GrantReactivationCredits| {
            let amount = u32::try_from(r.amount)
                .map_err(|_| CoreError::invalid("amount", "must be between 1 and 100"))?;
            let id = uuid(&r.license_id, "licenseId")?;
            let l = s.grant_credits(ctx, id, amount, &Reason::parse(&r.reason)?).map_err(store_fault)?;
            Ok(GrantReactivationCreditsResponse { license: license(l) })
        }),
        Operation::CreateDemoLicense => run(canonical, |r: CreateDemoLicense| {
            let (product, email) = (ProductCode::parse(&r.product_code)?, Email::parse(&r.customer_email)?);
            let given =
                s.request_demo(ctx, &product, DemoFor::Shop(&email), None, demo).map_err(store_fault)?;
            let code = TicketCode::parse(given.ticket_code.as_deref().unwrap_or_default())?;
            Ok(CreateDemoLicenseResponse {
                ticket: ticket(s.lookup_ticket(&code, ctx.now).map_err(store_fault)?),
            })
        }),
        Operation::RevokeLicense => run(canonical, |r: RevokeLicense| {
            let id = uuid(&r.license_id, "licenseId")?;
            let l = s.revoke_license(ctx, id, &Reason::parse(&r.reason)?).map_err(store_fault)?;
            Ok(RevokeLicenseResponse { license: license(l) })
        }),
    }
}

fn uuid(text: &str, field: &'static str) -> Result<Uuid, Fault> {
    Uuid::parse_str(text.trim()).map_err(|_| CoreError::invalid(field, "is not an id").into())
}

fn order_request(r: &CreateOrder) -> Result<OrderRequest, Fault> {
    let customer = OrderCustomer::from_parts(r.customer_email.as_deref(), r.customer_number.as_deref())?;
    let lines = r
        .line
        .iter()
        .map(|l| {
            let number = u32::try_from(l.line_number)
                .map_err(|_| CoreError::invalid("lineNumber", "must be 1 or more"))?;
            let quantity = u32::try_from(l.quantity)
                .map_err(|_| CoreError::invalid("quantity", "must be between 1 and 1000"))?;
            // An empty element (what many toolkits send for an unset string) is no upgrade.
            match l.upgrade_license_id.as_deref().map(str::trim).filter(|id| !id.is_empty()) {
                None => OrderLine::new(number, Sku::parse(&l.sku)?, quantity),
                Some(license) => {
                    let license = Uuid::parse_str(license.trim())
                        .map_err(|_| CoreError::invalid("upgradeLicenseId", "is not an id"))?;
                    OrderLine::upgrading(number, Sku::parse(&l.sku)?, quantity, license)
                }
            }
        })
        .collect::<Result<Vec<_>, CoreError>>()?;
    Ok(OrderRequest::new(
        ShopName::parse(&r.shop)?,
        ExternalOrderNumber::parse(&r.external_order_number)?,
        customer,
        lines,
    )?)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn order(o: OrderView) -> Order {
    Order {
        id: o.id.to_string(),
        shop: o.shop,
        external_order_number: o.external_number,
        ticket_code: o.ticket_code,
        customer_id: o.customer_id.map(|c| c.to_string()),
        line: o
            .lines
            .into_iter()
            .map(|l| OrderLineResult {
                line_number: int(l.line_number),
                sku: l.sku,
                quantity: int(l.quantity),
                license_id: l.license_ids.iter().map(Uuid::to_string).collect(),
                upgrade_license_id: l.upgrade_license_id.map(|id| id.to_string()),
            })
            .collect(),
        created_at: time(o.created_at),
        cancelled_at: o.cancelled_at.map(time),
        cancel_reason: o.cancel_reason,
    }
}

fn ticket(t: TicketView) -> Ticket {
    Ticket {
        code: t.code,
        customer_id: t.customer_id.map(|c| c.to_string()),
        license: t.licenses.into_iter().map(license).collect(),
    }
}

/// Core's license state as the contract names it: a state core gains must be added to the
/// WSDL, or this does not compile.
fn license_state(state: keyport_core::LicenseState) -> LicenseState {
    match state {
        keyport_core::LicenseState::Active => LicenseState::Active,
        keyport_core::LicenseState::Pending => LicenseState::Pending,
        keyport_core::LicenseState::Inactive => LicenseState::Inactive,
        keyport_core::LicenseState::Expired => LicenseState::Expired,
        keyport_core::LicenseState::Revoked => LicenseState::Revoked,
    }
}

/// Core's activation state as the contract names it (exhaustive, like [`license_state`]).
fn activation_state(state: keyport_core::ActivationState) -> ActivationState {
    match state {
        keyport_core::ActivationState::Pending => ActivationState::Pending,
        keyport_core::ActivationState::Active => ActivationState::Active,
        keyport_core::ActivationState::Deactivated => ActivationState::Deactivated,
        keyport_core::ActivationState::Recovered => ActivationState::Recovered,
        keyport_core::ActivationState::Revoked => ActivationState::Revoked,
        keyport_core::ActivationState::Expired => ActivationState::Expired,
    }
}

fn license(l: LicenseView) -> License {
    License {
        id: l.id.to_string(),
        ticket_code: l.ticket_code,
        sku: l.sku,
        product_code: l.product_code,
        state: license_state(l.state),
        seats: int(l.seats),
        seats_in_use: int(l.seats_in_use),
        reactivation_credits: int(l.reactivation_credits),
        next_credit_at: l.next_credit_at.map(time),
        starts_at: time(l.starts_at),
        expires_at: l.expires_at.map(time),
        revoked_at: l.revoked_at.map(time),
        activation: l.activations.into_iter().map(activation).collect(),
    }
}

fn activation(a: ActivationView) -> Activation {
    Activation {
        id: a.id.to_string(),
        machine_key: a.machine_key,
        fingerprint: a.fingerprint,
        state: activation_state(a.state),
        started_at: time(a.started_at),
        ended_at: a.ended_at.map(time),
        emergency_until: a.emergency_until.map(time),
    }
}

fn customer(c: CustomerView) -> Customer {
    Customer {
        id: c.id.to_string(),
        email: c.email,
        name: c.name,
        customer_number: c.customer_number,
        created_at: time(c.created_at),
    }
}
