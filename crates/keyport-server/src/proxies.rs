//! The request's origin (client address, scheme, host), worked out once per request by
//! [`keyport_core::net::origin`] with the configured trusted proxies, and kept in the
//! request's extensions for the façades: REST counts per-address limits by its client, SOAP
//! writes the WSDL's address from its scheme and host.

use std::net::IpAddr;

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use keyport_core::net::{Arrival, Origin, origin};

/// The proxies whose forwarded headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpAddr>);

/// The origin of a request from its connection and headers.
fn origin_of(req: &ServiceRequest, trusted: &[IpAddr]) -> Origin {
    let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    // Every X-Forwarded-For line, in order, as one list (a proxy may add a line of its own).
    let forwarded_for: Vec<&str> =
        req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).collect();
    let forwarded_for = forwarded_for.join(",");
    let arrival = Arrival {
        host: header("host"),
        forwarded_for: (!forwarded_for.is_empty()).then_some(forwarded_for.as_str()),
        forwarded_proto: header("x-forwarded-proto"),
        forwarded_host: header("x-forwarded-host"),
    };
    origin(peer, &arrival, trusted)
}

/// The client address of a request (after [`resolve`] ran, its origin's).
pub fn client_address(req: &ServiceRequest) -> IpAddr {
    match req.extensions().get::<Origin>() {
        Some(origin) => origin.client,
        None => req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip().to_canonical()),
    }
}

/// Middleware: works out the request's [`Origin`] and keeps it in its extensions.
pub async fn resolve(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let trusted =
        req.app_data::<actix_web::web::Data<TrustedProxies>>().map(|t| t.0.clone()).unwrap_or_default();
    let origin = origin_of(&req, &trusted);
    req.extensions_mut().insert(origin);
    Ok(next.call(req).await?.map_into_boxed_body())
}
