//! Logging: readable text on a terminal or JSON lines; level from `RUST_LOG` (default info).
//!
//! Policy: a request is logged by its route pattern (`/api/v1/tickets/{ticket_code}`), never
//! by its path or query string: ticket codes, e-mail tokens and keys travel in both. Errors
//! are logged by their stable code, never by their details (they can quote the input).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use keyport_core::CoreError;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::settings::LogFormat;

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A line when each request's span closes: its request id, route, status and latency.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        // Colour codes only for a terminal, never into a file or a collector.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}

/// The root span of every request: method, matched route pattern, peer address, request id;
/// status and error code once answered. Use as `TracingLogger::<RequestSpan>::new()`.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        // The pattern of the resource the path matches, or a fixed word: an unknown path is
        // as likely to carry a secret as a known one.
        let route = request.match_pattern().unwrap_or_else(|| "(no route)".to_owned());
        let request_id = request.extensions().get::<RequestId>().map(ToString::to_string).unwrap_or_default();
        let peer = request.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            client.address = %peer,
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            error.code = tracing::field::Empty,
            soap.operation = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        match outcome {
            Ok(response) => {
                span.record("http.status_code", response.status().as_u16());
                if let Some(error) = response.response().extensions().get::<CoreError>() {
                    span.record("error.code", error.code().as_str());
                }
            }
            Err(error) => {
                span.record("http.status_code", error.as_response_error().status_code().as_u16());
            }
        }
    }
}
