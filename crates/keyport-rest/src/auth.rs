//! Who is calling: API keys (roles), customer access tokens, ticket-login tokens, and a
//! portal key acting for one of its customers.
//!
//! - `Authorization: Bearer kp_...` is an API key; its role decides what it may do.
//! - A portal key may add `Keyport-Customer: <customer id>` to act for that customer; the
//!   call then sees exactly what the customer sees, and changes record both identities.
//! - `Authorization: Bearer <JWT>` is an access token from `/auth/login`,
//!   `/auth/ticket-login` or `/auth/refresh`: HS256, 15 minutes, bound to its session, so
//!   logout ends it at once.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use keyport_core::{Actor, Channel, ErrorCode, Role};
use keyport_store::mail::MailLinks;
use keyport_store::{Context, Limits, Scope, Session, SessionSubject, Store, family_of};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::problem::ApiError;
use crate::run;

/// The header a portal key names the customer it acts for with.
pub const ACT_FOR_HEADER: &str = "Keyport-Customer";
/// How long an access token lives, in seconds.
pub const ACCESS_TOKEN_SECONDS: i64 = 900;
const ISSUER: &str = "keyport";
const AUDIENCE: &str = "keyport-api";
/// How far past its expiry an access token is still taken (clocks of several instances).
const LEEWAY_SECONDS: i64 = 5;

/// How customers get in: where mail links point, the limits, and the trusted SSO issuers.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Where links in mails point.
    pub links: MailLinks,
    /// Login and reset limits.
    pub limits: Limits,
    /// Trusted single sign-on issuers.
    pub issuers: Vec<crate::sso::Issuer>,
    /// Who gets no demo.
    pub demo: keyport_core::demo::DemoPolicy,
    /// Whether webhook endpoints may be on private, loopback or link-local addresses.
    pub private_webhooks: bool,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            links: crate::mail_links("http://127.0.0.1:8080"),
            limits: Limits::default(),
            issuers: Vec::new(),
            demo: keyport_core::demo::DemoPolicy::default(),
            private_webhooks: false,
        }
    }
}

/// What the REST façade shares between requests.
#[derive(Clone)]
pub struct RestState {
    /// The store.
    pub store: Store,
    /// Identity settings.
    pub identity: Identity,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Releases' files (none: the release endpoints answer `unavailable`).
    delivery: Option<crate::delivery::Delivery>,
}

impl RestState {
    /// Loads (or creates, once per database) the access-token secret; default identity
    /// settings.
    pub fn new(store: Store) -> Result<RestState, keyport_store::StoreError> {
        RestState::with_identity(store, Identity::default())
    }

    /// Like [`RestState::new`], with identity settings.
    pub fn with_identity(store: Store, identity: Identity) -> Result<RestState, keyport_store::StoreError> {
        let secret = store.secret("access_token_hs256")?;
        Ok(RestState {
            store,
            identity,
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            delivery: None,
        })
    }

    /// The same state serving releases' files from `delivery`.
    pub fn with_delivery(mut self, delivery: crate::delivery::Delivery) -> RestState {
        self.delivery = Some(delivery);
        self
    }

    /// Releases' files; `unavailable` when this instance has no artifact storage.
    pub fn delivery(&self) -> Result<&crate::delivery::Delivery, ApiError> {
        self.delivery.as_ref().ok_or_else(|| {
            tracing::error!("no artifact storage is configured");
            ApiError::new(keyport_core::ErrorCode::Unavailable)
        })
    }

    /// Signs an access token for a session.
    pub fn access_token(&self, session: &Session) -> Result<String, ApiError> {
        let now = self.store.now().timestamp();
        let sub = match session.subject {
            SessionSubject::Customer(id) => format!("customer:{id}"),
            SessionSubject::Ticket(id) => format!("ticket:{id}"),
        };
        let claims = Claims {
            sub,
            sid: family_of(session),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + ACCESS_TOKEN_SECONDS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(&e))
    }

    fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // The expiry is checked on the store's clock (the sandbox moves it), not the system's.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::new(ErrorCode::Unauthorized))?;
        if claims.exp + LEEWAY_SECONDS < self.store.now().timestamp() {
            return Err(ApiError::new(ErrorCode::Unauthorized));
        }
        Ok(claims)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An API key acting on its own behalf.
    Staff {
        /// The key's id.
        key: Uuid,
        /// The key's role.
        role: Role,
    },
    /// A customer: logged in, or a portal key acting for them.
    Customer {
        /// The customer.
        customer: Uuid,
        /// The portal key acting for them, if any.
        portal: Option<Uuid>,
    },
    /// A ticket login.
    Ticket {
        /// The ticket.
        ticket: Uuid,
    },
}

impl Principal {
    /// The staff role, if it is one of `allowed`; `forbidden` otherwise.
    pub fn staff(&self, allowed: &[Role]) -> Result<Role, ApiError> {
        match self {
            Principal::Staff { role, .. } if allowed.contains(role) => Ok(*role),
            _ => Err(ApiError::new(ErrorCode::Forbidden)),
        }
    }

    /// What a customer-facing call may see; `forbidden` for staff keys.
    pub fn customer_scope(&self) -> Result<Scope, ApiError> {
        match self {
            Principal::Customer { customer, .. } => Ok(Scope::Customer(*customer)),
            Principal::Ticket { ticket } => Ok(Scope::Ticket(*ticket)),
            Principal::Staff { .. } => Err(ApiError::new(ErrorCode::Forbidden)),
        }
    }

    /// The customer account; `forbidden` for ticket logins and staff keys.
    pub fn customer(&self) -> Result<Uuid, ApiError> {
        match self {
            Principal::Customer { customer, .. } => Ok(*customer),
            _ => Err(ApiError::new(ErrorCode::Forbidden)),
        }
    }

    /// Who the event log records.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Staff { key, .. } => Actor::ApiKey(*key),
            Principal::Customer { customer, portal: Some(key) } => {
                Actor::PortalForCustomer { api_key: *key, customer: *customer }
            }
            Principal::Customer { customer, portal: None } => Actor::Customer(*customer),
            Principal::Ticket { ticket } => Actor::Ticket(*ticket),
        }
    }

    /// A use-case context for this caller, now, over REST.
    pub fn ctx(&self, store: &Store) -> Context {
        Context::new(self.actor(), Channel::Rest, store.now())
    }

    /// A stable name for idempotency keys.
    pub fn name(&self) -> String {
        match self {
            Principal::Staff { key, .. } => format!("api_key:{key}"),
            Principal::Customer { customer, .. } => format!("customer:{customer}"),
            Principal::Ticket { ticket } => format!("ticket:{ticket}"),
        }
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Principal, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<RestState>>().cloned();
        let bearer = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|v| v.trim().to_owned());
        let act_for = req.headers().get(ACT_FOR_HEADER).map(|v| v.to_str().map(str::to_owned));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(&"RestState is not configured"))?;
            let token = bearer.ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
            if token.starts_with(keyport_store::KEY_PREFIX) {
                let store = state.store.clone();
                let key = run(move || store.authenticate_api_key(&token, store.now())).await?;
                return match act_for {
                    None => Ok(Principal::Staff { key: key.id, role: key.role }),
                    Some(_) if key.role != Role::Portal => Err(ApiError::new(ErrorCode::Forbidden)),
                    Some(value) => {
                        let customer = value
                            .ok()
                            .and_then(|v| Uuid::parse_str(v.trim()).ok())
                            .ok_or_else(|| keyport_core::CoreError::not_found("customer"))?;
                        let store = state.store.clone();
                        run(move || store.get_customer(customer)).await?;
                        Ok(Principal::Customer { customer, portal: Some(key.id) })
                    }
                };
            }
            let claims = state.verify(&token)?;
            let unauthorized = || ApiError::new(ErrorCode::Unauthorized);
            let parse = |id: &str| Uuid::parse_str(id).map_err(|_| unauthorized());
            let subject = match claims.sub.split_once(':') {
                Some(("customer", id)) => SessionSubject::Customer(parse(id)?),
                Some(("ticket", id)) => SessionSubject::Ticket(parse(id)?),
                _ => return Err(unauthorized()),
            };
            // The session must exist, be open, and be the token's subject's: a signed token
            // naming a session that never was, or someone else's, is refused.
            let (store, sid) = (state.store.clone(), claims.sid);
            if run(move || store.open_session_subject(&sid)).await? != Some(subject) {
                return Err(unauthorized());
            }
            Ok(match subject {
                SessionSubject::Customer(customer) => Principal::Customer { customer, portal: None },
                SessionSubject::Ticket(ticket) => Principal::Ticket { ticket },
            })
        })
    }
}
