//! Webhooks, after the Standard Webhooks specification: signing secrets (`whsec_...`), the
//! `v1,` signature over `id.timestamp.body`, which events an endpoint receives, which
//! addresses Keyport may call, and the retry and give-up rules of a delivery.
//!
//! Pure: randomness (secret bytes, jitter) and time are passed in.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::CoreError;
use crate::event::EventKind;

/// The prefix of a signing secret, as the specification writes it.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of a new signing secret (the specification asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;
/// The longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2000;
/// The most endpoints Keyport keeps (each one multiplies the deliveries per event).
pub const MAX_ENDPOINTS: i64 = 50;

/// An endpoint's signing secret: random bytes, shown as `whsec_` and their base64.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret from fresh random bytes.
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> Secret {
        Secret(bytes.to_vec())
    }

    /// Reads a stored or shown secret (`whsec_` and base64 of 24 to 64 bytes).
    pub fn parse(text: &str) -> Result<Secret, CoreError> {
        let bytes = text
            .strip_prefix(SECRET_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|b| (24..=64).contains(&b.len()))
            .ok_or_else(|| CoreError::invalid("secret", "is not a webhook signing secret"))?;
        Ok(Secret(bytes))
    }

    /// The `v1,` signature of one message: HMAC-SHA256 over `id.timestamp.body`, in base64.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        // An HMAC takes a key of any length; this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else { return String::new() };
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The `webhook-signature` header of one message: the current secret's signature, and
/// during a rotation's overlap the previous secret's too (space-separated, as the
/// specification allows), so a receiver that has either secret verifies it.
pub fn signature_header(
    current: &Secret,
    previous: Option<(&Secret, DateTime<Utc>)>,
    now: DateTime<Utc>,
    message_id: &str,
    body: &[u8],
) -> String {
    let timestamp = now.timestamp();
    let mut header = current.sign(message_id, timestamp, body);
    if let Some((old, until)) = previous
        && now < until
    {
        header.push(' ');
        header.push_str(&old.sign(message_id, timestamp, body));
    }
    header
}

/// Where an endpoint receives its deliveries: an absolute `http` or `https` URL without
/// credentials or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    url: url::Url,
}

impl EndpointUrl {
    /// Parses and checks an endpoint URL.
    pub fn parse(text: &str) -> Result<EndpointUrl, CoreError> {
        crate::text::check_text("url", text)?;
        if text.len() > MAX_URL_LEN {
            return Err(CoreError::invalid("url", format!("must be at most {MAX_URL_LEN} characters")));
        }
        let url =
            url::Url::parse(text.trim()).map_err(|_| CoreError::invalid("url", "is not an absolute URL"))?;
        match url.scheme() {
            "http" | "https" => {}
            _ => return Err(CoreError::invalid("url", "must start with http:// or https://")),
        }
        if url.host().is_none() {
            return Err(CoreError::invalid("url", "is not an absolute URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(CoreError::invalid(
                "url",
                "must not carry a user name or password; receivers check the signature instead",
            ));
        }
        if url.fragment().is_some() {
            return Err(CoreError::invalid("url", "must not have a fragment (#...)"));
        }
        Ok(EndpointUrl { url })
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host as written (a name, or an address in brackets for IPv6).
    pub fn host(&self) -> Option<url::Host<&str>> {
        self.url.host()
    }

    /// Refuses a URL whose host is a private, loopback or link-local address written as
    /// such (or `localhost`), unless private addresses are allowed. Names are checked again
    /// when they are resolved for each attempt.
    pub fn check_address(&self, allow_private: bool) -> Result<(), CoreError> {
        let private = match self.url.host() {
            Some(url::Host::Ipv4(a)) => !is_public(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => !is_public(IpAddr::V6(a)),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
            None => true,
        };
        if private && !allow_private {
            return Err(CoreError::invalid(
                "url",
                "points to a private, loopback or link-local address, which this server may not call",
            ));
        }
        Ok(())
    }

    /// The URL's origin (scheme, host and port), for the same-host redirect rule.
    pub fn origin(&self) -> url::Origin {
        self.url.origin()
    }
}

/// Whether Keyport may call an address: only public unicast addresses, unless the
/// configuration allows private ones. Refused are loopback, private (RFC 1918, unique
/// local), link-local (cloud metadata lives there), shared (CGNAT), unspecified, broadcast,
/// multicast, documentation and benchmarking ranges, and IPv4 hidden in IPv6.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped().or_else(|| v6.to_ipv4()) {
            Some(v4) if !v6.is_unspecified() && !v6.is_loopback() => is_public_v4(v4),
            _ => is_public_v6(v6),
        },
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [o1, o2, _, _] = a.octets();
    !(a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o1 == 0
        || (o1 == 100 && (64..=127).contains(&o2))
        || (o1 == 198 && (18..=19).contains(&o2))
        || (o1 == 192 && o2 == 0 && a.octets()[2] == 0)
        || o1 >= 240)
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let first = a.segments()[0];
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || first == 0x2001 && a.segments()[1] == 0x0db8
        || first == 0x0064 && a.segments()[1] == 0xff9b)
}

/// A new endpoint, parsed.
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    /// Where deliveries go.
    pub url: EndpointUrl,
    /// What it is for.
    pub description: String,
    /// Which events it receives.
    pub selection: Selection,
}

/// Changes to an endpoint, parsed; `None` keeps the value.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    /// A new address.
    pub url: Option<EndpointUrl>,
    /// A new description.
    pub description: Option<String>,
    /// New kinds.
    pub selection: Option<Selection>,
    /// Enable (forgetting failures) or pause.
    pub enabled: Option<bool>,
}

/// Reads a description: at most 200 characters, empty allowed.
pub fn description(text: Option<&str>) -> Result<String, CoreError> {
    match text.map(str::trim) {
        None | Some("") => Ok(String::new()),
        Some(text) => Ok(crate::text::DisplayName::parse(text)?.as_str().to_owned()),
    }
}

/// Which events an endpoint receives: every kind, or the listed ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every kind, including kinds added in later releases.
    All,
    /// Only these kinds (not empty).
    Kinds(Vec<EventKind>),
}

impl Selection {
    /// Reads a selection from a list of kind names: an empty list means every kind.
    pub fn parse(names: &[String]) -> Result<Selection, CoreError> {
        if names.is_empty() {
            return Ok(Selection::All);
        }
        if names.len() > 64 {
            return Err(CoreError::invalid("event_kinds", "must be between 0 and 64"));
        }
        let mut kinds = Vec::new();
        for name in names {
            let kind = EventKind::parse(name.trim())?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(Selection::Kinds(kinds))
    }

    /// Whether an event of this kind is delivered.
    pub fn matches(&self, kind: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::Kinds(kinds) => kinds.iter().any(|k| k.as_str() == kind),
        }
    }

    /// Whether deliveries may carry a ticket code: only when the endpoint named the
    /// event's kind itself (not through "every kind") and the event is about the ticket
    /// (a ticket's registration, or an order, which issues its ticket). Elsewhere codes are
    /// masked but for their last group.
    pub fn shows_ticket_codes(&self, kind: &str, subject_type: &str) -> bool {
        match self {
            Selection::All => false,
            Selection::Kinds(_) => matches!(subject_type, "ticket" | "order") && self.matches(kind),
        }
    }

    /// The kind names, as stored and shown (empty for every kind).
    pub fn names(&self) -> Vec<String> {
        match self {
            Selection::All => Vec::new(),
            Selection::Kinds(kinds) => kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        }
    }
}

/// When a failed delivery is tried again: exponential back-off with jitter, until its
/// window (counted from the delivery's creation) is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt.
    pub first: Duration,
    /// Each wait is this many times the one before ...
    pub factor: i32,
    /// ... but never longer than this.
    pub cap: Duration,
    /// No attempt is made later than this after the delivery was created.
    pub window: Duration,
}

impl Default for RetryPolicy {
    /// 5 s, 20 s, 80 s, ... up to 6 hours apart, for 24 hours: about 11 attempts.
    fn default() -> Self {
        RetryPolicy {
            first: Duration::seconds(5),
            factor: 4,
            cap: Duration::hours(6),
            window: Duration::hours(24),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failed` failed attempts (1 for the first), before jitter.
    pub fn wait(&self, failed: u32) -> Duration {
        let mut wait = self.first;
        for _ in 1..failed {
            wait = wait * self.factor;
            if wait >= self.cap {
                return self.cap;
            }
        }
        wait.min(self.cap)
    }

    /// When to try again after `failed` failed attempts, or `None` when the delivery's
    /// window is spent. `jitter` in `[0, 1)` spreads the wait by ±20%, so receivers that
    /// come back are not hit by every retry at once.
    pub fn next_attempt(
        &self,
        failed: u32,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        let base = self.wait(failed).num_milliseconds() as f64;
        let spread = (0.8 + 0.4 * jitter.clamp(0.0, 1.0)) * base;
        let at = now + Duration::milliseconds(spread.round() as i64);
        (at <= created_at + self.window).then_some(at)
    }
}

/// What an attempt's outcome means for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// It took a delivery: not failing any more.
    Healthy,
    /// It fails, since this time.
    Failing(DateTime<Utc>),
    /// It failed for the whole window: disable it, with this reason for its admins.
    Disable(String),
}

/// Decides an endpoint's health after an attempt. An endpoint that has not taken a single
/// delivery for a whole retry window (about a day) is disabled, so its deliveries stop
/// piling up; its admins see why and enable it again when it is fixed.
pub fn decide_health(
    delivered: bool,
    failing_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
    error: &str,
) -> Health {
    if delivered {
        return Health::Healthy;
    }
    let since = failing_since.unwrap_or(now);
    if now - since >= policy.window {
        Health::Disable(format!(
            "no delivery succeeded since {}; the last attempt failed: {error}",
            since.format("%Y-%m-%d %H:%M UTC")
        ))
    } else {
        Health::Failing(since)
    }
}

/// Whether an HTTP answer counts as delivered: any 2xx.
pub fn is_delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn the_signature_matches_the_specifications_example() {
        // The example of the Standard Webhooks reference libraries' tests.
        let secret =
            Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_or_else(|_| Secret(vec![]));
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_reads_back_as_written_and_hides_in_debug() {
        let secret = Secret::from_bytes([7; SECRET_BYTES]);
        let text = secret.to_string();
        assert!(text.starts_with("whsec_"));
        assert_eq!(Secret::parse(&text).ok(), Some(secret.clone()));
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err());
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
    }

    #[test]
    fn during_the_overlap_both_secrets_sign() {
        let (new, old) = (Secret::from_bytes([1; SECRET_BYTES]), Secret::from_bytes([2; SECRET_BYTES]));
        let now = at("2026-11-30T10:00:00Z");
        let both = signature_header(&new, Some((&old, now + Duration::hours(1))), now, "m", b"{}");
        assert_eq!(both.split(' ').count(), 2);
        assert!(both.contains(&old.sign("m", now.timestamp(), b"{}")));
        let after = signature_header(&new, Some((&old, now)), now, "m", b"{}");
        assert_eq!(after, new.sign("m", now.timestamp(), b"{}"));
    }

    #[test]
    fn urls_are_http_without_credentials() {
        assert!(EndpointUrl::parse("https://hooks.example.com/keyport?x=1").is_ok());
        assert!(EndpointUrl::parse("http://127.0.0.1:8080/in").is_ok());
        for bad in ["ftp://x.example/", "https://user:pw@x.example/", "/relative", "https://x.example/#f", ""]
        {
            assert!(EndpointUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(EndpointUrl::parse(&format!("https://x.example/{}", "a".repeat(MAX_URL_LEN))).is_err());
        assert!(EndpointUrl::parse("https://x.example/\0").is_err());
    }

    #[test]
    fn private_hosts_are_refused_unless_allowed() {
        for host in [
            "http://127.0.0.1/",
            "http://[::1]:8080/",
            "http://localhost/",
            "http://10.0.0.1/",
            "http://a.localhost./",
        ] {
            let url = EndpointUrl::parse(host).unwrap();
            assert!(url.check_address(false).is_err(), "{host}");
            assert!(url.check_address(true).is_ok(), "{host}");
        }
        assert!(EndpointUrl::parse("https://hooks.example.com/").unwrap().check_address(false).is_ok());
    }

    #[test]
    fn only_public_addresses_are_called() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "192.0.0.8",
            "fec0::1",
            "64:ff9b:1::1",
        ] {
            assert!(!is_public(private.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))), "{public}");
        }
    }

    #[test]
    fn a_selection_names_kinds_or_takes_all() {
        let all = Selection::parse(&[]).unwrap_or(Selection::Kinds(vec![]));
        assert!(all.matches("license_activated"));
        assert!(!all.shows_ticket_codes("ticket_registered", "ticket"));
        let some = Selection::parse(&["ticket_registered".into(), "ticket_registered".into()])
            .unwrap_or(Selection::All);
        assert_eq!(some.names(), vec!["ticket_registered"]);
        assert!(some.matches("ticket_registered") && !some.matches("license_activated"));
        assert!(some.shows_ticket_codes("ticket_registered", "ticket"));
        assert!(!some.shows_ticket_codes("ticket_registered", "license"));
        let err = Selection::parse(&["nonsense".into()]).err().map(|e| e.code());
        assert_eq!(err, Some(crate::ErrorCode::InvalidInput));
    }

    #[test]
    fn the_default_schedule_spans_about_a_day() {
        let policy = RetryPolicy::default();
        let created = at("2026-11-30T00:00:00Z");
        let (mut now, mut failed) = (created, 0);
        while let Some(next) = policy.next_attempt(failed + 1, created, now, 0.5) {
            now = next;
            failed += 1;
        }
        assert!((9..=12).contains(&failed), "{failed} retries");
        assert!(now - created > Duration::hours(18), "last retry at {now}");
        assert_eq!(policy.wait(1), Duration::seconds(5));
        assert_eq!(policy.wait(3), Duration::seconds(80));
        assert_eq!(policy.wait(40), Duration::hours(6));
    }

    #[test]
    fn an_endpoint_failing_for_a_window_is_disabled() {
        let policy = RetryPolicy::default();
        let now = at("2026-11-30T12:00:00Z");
        assert_eq!(decide_health(true, Some(now - Duration::days(3)), now, &policy, "x"), Health::Healthy);
        assert_eq!(decide_health(false, None, now, &policy, "x"), Health::Failing(now));
        let since = now - Duration::hours(2);
        assert_eq!(decide_health(false, Some(since), now, &policy, "x"), Health::Failing(since));
        let disabled = decide_health(false, Some(now - Duration::hours(25)), now, &policy, "HTTP 500");
        assert!(matches!(disabled, Health::Disable(ref why) if why.contains("HTTP 500")));
    }

    proptest! {
        #[test]
        fn waits_grow_and_stay_within_the_window(failed in 1u32..40, jitter in 0.0f64..1.0, offset in 0i64..200_000) {
            let policy = RetryPolicy::default();
            prop_assert!(policy.wait(failed + 1) >= policy.wait(failed));
            let created = at("2026-11-30T00:00:00Z");
            let now = created + Duration::seconds(offset);
            if let Some(next) = policy.next_attempt(failed, created, now, jitter) {
                prop_assert!(next > now);
                prop_assert!(next <= created + policy.window);
                let wait = (next - now).num_milliseconds() as f64;
                let base = policy.wait(failed).num_milliseconds() as f64;
                prop_assert!(wait >= base * 0.8 - 1.0 && wait <= base * 1.2 + 1.0);
            }
        }

        #[test]
        fn a_signature_changes_with_every_part(id in "[a-z0-9_]{1,20}", ts in 0i64..4_000_000_000, body in ".{0,64}") {
            let secret = Secret::from_bytes([9; SECRET_BYTES]);
            let sig = secret.sign(&id, ts, body.as_bytes());
            prop_assert_ne!(&sig, &secret.sign(&format!("{id}x"), ts, body.as_bytes()));
            prop_assert_ne!(&sig, &secret.sign(&id, ts + 1, body.as_bytes()));
            prop_assert_ne!(&sig, &secret.sign(&id, ts, format!("{body}x").as_bytes()));
        }
    }
}
