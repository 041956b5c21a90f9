//! Guards against clients that hold the server: a request body must arrive within a
//! deadline (a slow body is answered `408`), one address may have only so many requests in
//! flight at once (more are answered `429`), and the instance takes only so many requests
//! at once from everyone (more are answered `503` with `Retry-After` after a short pause:
//! under overload the queue, and so the latency, stays bounded, and clients that ask again
//! at once cannot spend the CPU on refusals). Slow request heads are cut by
//! actix's own `client_request_timeout`. Every guard answers with a problem document.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use futures_util::StreamExt;
use keyport_core::{CoreError, ErrorCode, Lang};
use keyport_rest::problem::problem_response;

/// The limits the guards apply.
#[derive(Debug, Clone)]
pub struct Guards {
    /// The whole body must arrive within this.
    pub body_timeout: Duration,
    /// The largest body read (larger ones are left to the handlers' `413`).
    pub body_limit: usize,
    /// Requests in flight per client address.
    pub per_address: usize,
    /// Requests in flight in all.
    pub total: usize,
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
    all: Arc<AtomicUsize>,
}

impl Guards {
    /// Guards with these limits.
    pub fn new(body_timeout: Duration, body_limit: usize, per_address: usize, total: usize) -> Guards {
        Guards {
            body_timeout,
            body_limit,
            per_address: per_address.max(1),
            total: total.max(1),
            in_flight: Arc::default(),
            all: Arc::default(),
        }
    }

    /// Counts a request of `address` in, or refuses it when the address has too many.
    fn enter(&self, address: IpAddr) -> Option<InFlight> {
        let mut map = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        let count = map.entry(address).or_insert(0);
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(InFlight { address, map: self.in_flight.clone() })
    }

    /// Counts a request whose body has arrived into the instance's work, or refuses it when
    /// the instance has too many. A body still arriving holds only its address's slots, so
    /// slow senders cannot fill the instance's bound.
    fn admit(&self) -> Option<Admitted> {
        if self.all.fetch_add(1, Ordering::SeqCst) >= self.total {
            self.all.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Admitted(self.all.clone()))
    }
}

/// A request counted into the instance's work, counted out when dropped.
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One request in flight, counted out when dropped.
struct InFlight {
    address: IpAddr,
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.address);
            }
        }
    }
}

/// Middleware: the per-address cap, the body deadline and the instance's bound.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(guards) = req.app_data::<actix_web::web::Data<Guards>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let address = crate::proxies::client_address(&req);
    let Some(counted) = guards.enter(address) else {
        let error = CoreError::new(ErrorCode::RateLimited).with("seconds", 1);
        return Ok(req.into_response(problem_response(&error, Lang::En)));
    };
    let payload = req.take_payload();
    // An artifact upload (gigabytes) streams on to its handler; no chunk may take longer
    // than the body deadline to come.
    if streams_body(&req) {
        req.set_payload(with_idle_deadline(payload, guards.body_timeout));
        let Some(admitted) = guards.admit() else { return Ok(refuse_overloaded(req).await) };
        return Ok(held(next.call(req).await?, counted, Some(admitted)));
    }
    let deadline = tokio::time::Instant::now() + guards.body_timeout;
    match tokio::time::timeout_at(deadline, read_body(payload, guards.body_limit)).await {
        Ok(Ok(body)) => req.set_payload(Payload::from(body)),
        // A body over the limit or broken is left for the handler's own answer (413 or
        // 400); what is still to come must arrive within the same deadline.
        Ok(Err(rest)) => req.set_payload(with_deadline(rest, deadline)),
        Err(_) => {
            let error = CoreError::new(ErrorCode::RequestTimeout)
                .with("seconds", guards.body_timeout.as_secs().max(1));
            let mut response = problem_response(&error, Lang::En);
            response.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
            return Ok(req.into_response(response));
        }
    }
    // Probes and scrapes are answered however busy the instance is (they keep the address
    // cap and the body deadline above).
    let probe = matches!(req.path(), "/healthz" | "/readyz" | "/metrics");
    let admitted = match probe {
        true => None,
        false => match guards.admit() {
            Some(admitted) => Some(admitted),
            None => return Ok(refuse_overloaded(req).await),
        },
    };
    Ok(held(next.call(req).await?, counted, admitted))
}

/// How long a request the instance has no room for waits before its `503`: a client that
/// asks again at once, whatever `Retry-After` says, then asks at most a few times a second,
/// and a storm of such clients costs the admitted requests little CPU.
pub const REFUSAL_PAUSE: Duration = Duration::from_millis(250);

/// Answers `503` with `Retry-After` after [`REFUSAL_PAUSE`], the request's body dropped
/// first (a waiting refusal holds no body).
async fn refuse_overloaded(mut req: ServiceRequest) -> ServiceResponse<BoxBody> {
    metrics::counter!("keyport_http_overload_refused_total").increment(1);
    drop(req.take_payload());
    tokio::time::sleep(REFUSAL_PAUSE).await;
    req.into_response(problem_response(&CoreError::new(ErrorCode::Unavailable), Lang::En))
}

/// The response with its request's slots kept until its body is sent: a download streams
/// long after its handler returned, and counts against both bounds until it ends.
fn held(
    res: ServiceResponse<impl MessageBody + 'static>,
    counted: InFlight,
    admitted: Option<Admitted>,
) -> ServiceResponse<BoxBody> {
    res.map_body(|_, body| BoxBody::new(Held { body: body.boxed(), _slots: (counted, admitted) }))
}

/// A response body holding its request's slots (dropped with it).
struct Held {
    body: BoxBody,
    _slots: (InFlight, Option<Admitted>),
}

impl MessageBody for Held {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> actix_web::body::BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_next(cx)
    }
}

/// Reads the body up to `limit` bytes. Over the limit or on an error, the part read and
/// the rest are handed back as one payload, so the handler answers as it always does.
async fn read_body(mut payload: Payload, limit: usize) -> Result<Bytes, Payload> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) if body.len() + chunk.len() <= limit => body.extend_from_slice(&chunk),
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                return Err(rejoin(body.freeze(), payload));
            }
            Err(e) => {
                let failed = futures_util::stream::once(async move { Err(e) });
                return Err(Payload::Stream { payload: Box::pin(failed) });
            }
        }
    }
    Ok(body.freeze())
}

/// Whether the request is an artifact upload, whose body streams to its handler.
fn streams_body(req: &ServiceRequest) -> bool {
    let path = req.path();
    req.method() == actix_web::http::Method::POST
        && path.starts_with("/api/v1/releases/")
        && path.trim_end_matches('/').ends_with("/artifacts")
}

/// The payload, cut with an error when one chunk takes longer than `idle` to come.
fn with_idle_deadline(payload: Payload, idle: Duration) -> Payload {
    let stream = futures_util::stream::unfold(Some(payload), move |state| async move {
        let mut payload = state?;
        match tokio::time::timeout(idle, payload.next()).await {
            Ok(Some(item)) => Some((item, Some(payload))),
            Ok(None) => None,
            Err(_) => {
                let late = std::io::Error::new(std::io::ErrorKind::TimedOut, "the body stalled");
                Some((Err(actix_web::error::PayloadError::Io(late)), None))
            }
        }
    });
    Payload::Stream { payload: Box::pin(stream) }
}

/// The payload, cut with an error when `deadline` passes before it ends.
fn with_deadline(payload: Payload, deadline: tokio::time::Instant) -> Payload {
    let stream = futures_util::stream::unfold(Some(payload), move |state| async move {
        let mut payload = state?;
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Ok(Some(item)) => Some((item, Some(payload))),
            Ok(None) => None,
            Err(_) => {
                let late =
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "the body did not arrive in time");
                Some((Err(actix_web::error::PayloadError::Io(late)), None))
            }
        }
    });
    Payload::Stream { payload: Box::pin(stream) }
}

/// The bytes read so far followed by the rest of the stream.
fn rejoin(read: Bytes, rest: Payload) -> Payload {
    let head = futures_util::stream::once(async move { Ok(read) });
    Payload::Stream { payload: Box::pin(head.chain(rest)) }
}
