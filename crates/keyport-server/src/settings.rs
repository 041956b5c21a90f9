//! Typed settings: defaults, then an optional TOML file, then `KEYPORT_*` environment
//! variables, then command-line flags. Secrets (the database URL's password) are redacted
//! whenever settings are shown or logged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use keyport_store::DatabaseUrl;
use serde::{Deserialize, Serialize};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything `keyport` can be configured with.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The folder holding the SQLite file (and, later, keys).
    pub data_dir: PathBuf,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The database; the SQLite file in `data_dir` when absent.
    pub database_url: Option<String>,
    /// How logs are written.
    pub log_format: LogFormat,
    /// Database connections per instance.
    pub pool_size: u32,
    /// How long a request waits for a database connection, in milliseconds, before it is
    /// answered 503 with `Retry-After` (while the database is down or every connection is
    /// busy).
    pub database_wait_ms: u64,
    /// The public base URL (e.g. `https://licenses.example.com`) written into the WSDL's
    /// service address and into links in mails; the request's host (WSDL) or the listen
    /// address (mails) when absent.
    pub public_url: Option<String>,
    /// The sender of mails.
    pub mail_from: String,
    /// The SMTP server; without one, mails are written as `.eml` files into
    /// `<data_dir>/mail/`.
    pub smtp: Option<SmtpSettings>,
    /// Login and reset limits.
    pub limits: LimitSettings,
    /// Trusted single sign-on issuers.
    pub sso: Vec<SsoSettings>,
    /// Self-service demos.
    #[serde(default)]
    pub demo: DemoSettings,
    /// How long rows that grow per request are kept.
    pub retention: RetentionSettings,
    /// Proxies (e.g. the nginx in front) whose `X-Forwarded-For`, `-Proto` and `-Host`
    /// are believed; from anyone else they are ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Limits on slow and greedy clients.
    pub http: HttpSettings,
    /// A bearer token `/metrics` asks for; open to anyone who reaches it when absent.
    pub metrics_token: Option<String>,
    /// Webhook deliveries.
    #[serde(default)]
    pub webhooks: WebhookSettings,
    /// Where releases' files are stored, and how they are handed out.
    #[serde(default)]
    pub artifacts: ArtifactSettings,
    /// The web depot under `/depot`.
    #[serde(default)]
    pub depot: DepotSettings,
    /// Where links in mails point when the ISV's own portal serves those pages.
    #[serde(default)]
    pub mail_links: MailLinkSettings,
}

/// Where the links in mails point when the ISV's own portal serves those pages
/// (`[mail_links]`): each a URL the mail appends `?token=...` to. The web depot's pages on
/// `public_url` when absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailLinkSettings {
    /// The page that confirms an e-mail address (`POST`s the token to
    /// `/api/v1/auth/verify-email`, or calls it with `GET`).
    pub verify_email: Option<String>,
    /// The page that sets a password after a reset or an invitation (posts the token and
    /// the password to `/api/v1/auth/password-reset/confirm`).
    pub set_password: Option<String>,
    /// The page that confirms the newsletter (posts the token to
    /// `/api/v1/marketing-consent/confirmations`).
    pub confirm_marketing: Option<String>,
    /// The portal's start page (named in other mails).
    pub portal: Option<String>,
}

impl MailLinkSettings {
    /// The links: the depot's, each replaced by the portal's page where one is configured.
    pub fn apply(
        &self,
        mut links: keyport_store::mail::MailLinks,
    ) -> Result<keyport_store::mail::MailLinks, String> {
        for (name, value, target) in [
            ("verify_email", &self.verify_email, &mut links.verify_email),
            ("set_password", &self.set_password, &mut links.set_password),
            ("confirm_marketing", &self.confirm_marketing, &mut links.confirm_marketing),
            ("portal", &self.portal, &mut links.portal),
        ] {
            let Some(url) = value else { continue };
            let absolute = url.starts_with("https://") || url.starts_with("http://");
            if !absolute
                || url.contains(['?', '#'])
                || url.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(format!(
                    "mail_links.{name}: '{url}' must be an http(s) URL without a query (the mail adds ?token=...)"
                ));
            }
            *target = url.clone();
        }
        Ok(links)
    }
}

/// The web depot (`[depot]`): its corporate design and who may frame it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DepotSettings {
    /// A theme folder (`theme.toml`, `logo.svg` or `logo.png`, `extra.css`,
    /// `texts.en.toml`, `texts.de.toml`); Keyport's own look when absent.
    pub theme: Option<PathBuf>,
    /// Origins that may show the depot in a frame (e.g. the ISV's portal,
    /// `https://portal.example.com`); none when empty.
    pub frame_ancestors: Vec<String>,
}

/// The depot's look, loaded and checked.
#[derive(Debug, Clone, Default)]
pub struct DepotLook {
    /// The theme.
    pub theme: keyport_depot::Theme,
    /// Origins that may frame the depot.
    pub frame_ancestors: Vec<String>,
}

impl DepotSettings {
    /// Loads the theme folder and checks the frame ancestors.
    pub fn look(&self) -> anyhow::Result<DepotLook> {
        let theme = match &self.theme {
            Some(folder) => keyport_depot::Theme::load(folder)
                .map_err(|e| anyhow::anyhow!("depot theme {}: {e}", folder.display()))?,
            None => keyport_depot::Theme::default(),
        };
        for origin in &self.frame_ancestors {
            keyport_depot::check_frame_ancestor(origin)
                .map_err(|e| anyhow::anyhow!("depot.frame_ancestors: {e}"))?;
        }
        Ok(DepotLook { theme, frame_ancestors: self.frame_ancestors.clone() })
    }
}

/// Where releases' files are stored (`[artifacts]`), and how they are handed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArtifactSettings {
    /// `file` (under `path`) or `s3` (the `[artifacts.s3]` section).
    pub storage: String,
    /// The folder of `file` storage; `<data_dir>/artifacts` when absent.
    pub path: Option<PathBuf>,
    /// The largest artifact taken, in bytes (4 GiB; S3 copies objects of at most 5 GB).
    pub max_upload_bytes: u64,
    /// How long a download link works, in minutes.
    pub link_minutes: u32,
    /// S3-compatible object storage.
    pub s3: Option<S3Settings>,
}

impl Default for ArtifactSettings {
    fn default() -> Self {
        ArtifactSettings {
            storage: "file".to_owned(),
            path: None,
            max_upload_bytes: keyport_rest::delivery::DEFAULT_MAX_UPLOAD,
            link_minutes: 10,
            s3: None,
        }
    }
}

/// S3-compatible object storage (`[artifacts.s3]`). Credentials may instead come from the
/// environment as the AWS tools read them (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The bucket (it must exist).
    pub bucket: String,
    /// The region.
    #[serde(default = "default_region")]
    pub region: String,
    /// The endpoint of an S3-compatible server (MinIO, Ceph, ...); AWS when absent.
    pub endpoint: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key (never logged).
    pub secret_access_key: Option<String>,
    /// Whether an `http://` endpoint is allowed.
    #[serde(default)]
    pub allow_http: bool,
    /// A prefix for Keyport's objects in the bucket.
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_prefix() -> String {
    "keyport".to_owned()
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .field("allow_http", &self.allow_http)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Settings {
    /// The artifact storage and download settings, with the storage opened.
    pub fn delivery(&self) -> anyhow::Result<keyport_rest::Delivery> {
        let a = &self.artifacts;
        let storage = match (a.storage.as_str(), &a.s3) {
            ("file", _) => {
                let path = a.path.clone().unwrap_or_else(|| self.data_dir.join("artifacts"));
                keyport_artifacts::ArtifactStorage::local(&path)?
            }
            ("s3", Some(s3)) => keyport_artifacts::ArtifactStorage::s3(&keyport_artifacts::S3Options {
                bucket: s3.bucket.clone(),
                region: s3.region.clone(),
                endpoint: s3.endpoint.clone(),
                access_key_id: s3.access_key_id.clone(),
                secret_access_key: s3.secret_access_key.clone(),
                allow_http: s3.allow_http,
                prefix: s3.prefix.clone(),
            })?,
            ("s3", None) => anyhow::bail!("artifacts.storage = \"s3\" needs an [artifacts.s3] section"),
            (other, _) => anyhow::bail!("artifacts.storage must be \"file\" or \"s3\", not \"{other}\""),
        };
        tracing::info!(storage = %storage.describe(), "artifact storage");
        let mut delivery = keyport_rest::Delivery::new(storage, self.public_url.clone());
        delivery.max_upload_bytes = a.max_upload_bytes.max(1);
        delivery.link_ttl = chrono::Duration::minutes(i64::from(a.link_minutes.clamp(1, 7 * 24 * 60)));
        Ok(delivery)
    }
}

/// How webhook deliveries are sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Whether this instance sends deliveries (any number of instances may).
    pub send: bool,
    /// Whether endpoints may be on private, loopback or link-local addresses (an ISV's own
    /// network; the tests). Off by default: an admin key could otherwise reach inside.
    pub allow_private_addresses: bool,
    /// How long one attempt may take, in milliseconds (connect, send, answer).
    pub timeout_ms: u64,
    /// The wait after the first failed attempt, in milliseconds; each next wait is four
    /// times longer, up to `max_retry_seconds`.
    pub first_retry_ms: u64,
    /// The longest wait between attempts, in seconds.
    pub max_retry_seconds: u64,
    /// How long a delivery is tried, in seconds from its creation; an endpoint that takes
    /// nothing for this long is disabled.
    pub retry_window_seconds: u64,
    /// How often an idle sender looks for new events and due deliveries, in milliseconds.
    pub poll_ms: u64,
    /// Attempts in flight at once per instance.
    pub concurrency: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            send: true,
            allow_private_addresses: false,
            timeout_ms: 10_000,
            first_retry_ms: 5_000,
            max_retry_seconds: 6 * 3600,
            retry_window_seconds: 24 * 3600,
            poll_ms: 500,
            concurrency: 32,
        }
    }
}

impl WebhookSettings {
    /// The retry policy these settings describe.
    /// Out-of-range values are brought into range: a first wait of 1 ms to a day, waits up
    /// to a week, windows up to 30 days.
    pub fn policy(&self) -> keyport_core::webhook::RetryPolicy {
        const DAY_MS: u64 = 86_400_000;
        let millis = |n: u64| chrono::Duration::milliseconds(i64::try_from(n).unwrap_or(DAY_MS as i64));
        keyport_core::webhook::RetryPolicy {
            first: millis(self.first_retry_ms.clamp(1, DAY_MS)),
            factor: 4,
            cap: millis(self.max_retry_seconds.clamp(1, 7 * 86_400) * 1000),
            window: millis(self.retry_window_seconds.clamp(1, 30 * 86_400) * 1000),
        }
    }
}

/// Limits on slow and greedy clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// A request's head (line and headers) must arrive within this many milliseconds (408).
    pub head_timeout_ms: u64,
    /// A request's body must arrive within this many milliseconds (408).
    pub body_timeout_ms: u64,
    /// Requests one client address may have in flight at once (more get 429).
    pub requests_per_address: usize,
    /// Requests the instance has in flight at once, from all clients: the queue's bound.
    /// More are answered 503 with `Retry-After` (after a pause of a quarter second, so that
    /// clients that ask again at once cannot take the CPU with refusals) instead of waiting
    /// behind a queue that only grows (health, readiness and metrics are not counted).
    pub max_in_flight: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            head_timeout_ms: 5_000,
            body_timeout_ms: 15_000,
            requests_per_address: 64,
            max_in_flight: 256,
        }
    }
}

/// How long rows that grow per request are kept before the pruning job deletes them. The
/// event log, licenses and activations are the record and are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Idempotency keys, in hours from their first answer.
    pub idempotency_key_hours: u32,
    /// Sessions, in days from their expiry or revocation.
    pub session_days: u32,
    /// One-time tokens (verification, reset, invitation), in days from their expiry.
    pub one_time_token_days: u32,
    /// Sent mails, in days from sending.
    pub sent_mail_days: u32,
    /// Mails given up, in days from their creation.
    pub failed_mail_days: u32,
    /// Daily usage rows (check-ins and sessions), in days from their day.
    #[serde(default = "default_usage_days")]
    pub usage_days: u32,
    /// Webhook deliveries and their attempts, in days from their creation (or last resend).
    #[serde(default = "default_webhook_delivery_days")]
    pub webhook_delivery_days: u32,
    /// Completed downloads (for the analytics), in days from their time.
    #[serde(default = "default_usage_days")]
    pub download_days: u32,
    /// Offers with their customers' views, in days from when they ended or were withdrawn.
    #[serde(default = "default_usage_days")]
    pub offer_days: u32,
    /// Seconds between pruning passes.
    pub prune_every_seconds: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            idempotency_key_hours: 24,
            session_days: 30,
            one_time_token_days: 7,
            sent_mail_days: 14,
            failed_mail_days: 90,
            usage_days: default_usage_days(),
            webhook_delivery_days: default_webhook_delivery_days(),
            download_days: default_usage_days(),
            offer_days: default_usage_days(),
            prune_every_seconds: 300,
        }
    }
}

fn default_usage_days() -> u32 {
    730
}

fn default_webhook_delivery_days() -> u32 {
    30
}

impl RetentionSettings {
    /// The store's retention; rate-limit counters are kept for a day or the longest window.
    pub fn retention(&self, limits: &LimitSettings) -> keyport_store::Retention {
        use chrono::Duration;
        let longest_window = Duration::minutes(limits.window_minutes.max(60));
        keyport_store::Retention {
            idempotency_keys: Duration::hours(i64::from(self.idempotency_key_hours.max(1))),
            sessions: Duration::days(i64::from(self.session_days)),
            one_time_tokens: Duration::days(i64::from(self.one_time_token_days)),
            sent_mail: Duration::days(i64::from(self.sent_mail_days)),
            failed_mail: Duration::days(i64::from(self.failed_mail_days)),
            rate_counters: longest_window.max(Duration::hours(24)),
            usage_days: Duration::days(i64::from(self.usage_days.max(1))),
            webhook_deliveries: Duration::days(i64::from(self.webhook_delivery_days.max(1))),
            downloads: Duration::days(i64::from(self.download_days.max(1))),
            offers: Duration::days(i64::from(self.offer_days.max(1))),
        }
    }
}

/// How mails leave.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Host name.
    pub host: String,
    /// Port (25, 465, 587, ...).
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    #[serde(default = "starttls")]
    pub security: String,
    /// User name, if the server wants one.
    pub username: Option<String>,
    /// Password (never logged).
    pub password: Option<String>,
}

fn starttls() -> String {
    "starttls".to_owned()
}

/// Self-service demos.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// E-mail domains (and their subdomains) that get no demo, e.g. throw-away mail services.
    #[serde(default)]
    pub refused_domains: Vec<String>,
}

/// Login and reset limits, each per window.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// The window in minutes.
    pub window_minutes: i64,
    /// Failed logins per account in a window before it is locked.
    pub login_failures_per_account: u32,
    /// Failed logins per source address in a window.
    pub login_failures_per_address: u32,
    /// Ticket logins per source address in a window.
    pub ticket_logins_per_address: u32,
    /// Password-reset requests per source address in a window.
    pub reset_requests_per_address: u32,
    /// Registrations per source address in a window.
    pub registrations_per_address: u32,
    /// Registrations naming one e-mail address in a window (each mails that address).
    pub mails_per_account: u32,
    /// Demos the software may ask for without a login in an hour, from all sources together.
    #[serde(default = "default_demos_per_hour")]
    pub demos_per_hour: u32,
}

fn default_demos_per_hour() -> u32 {
    500
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            window_minutes: 15,
            login_failures_per_account: 5,
            login_failures_per_address: 20,
            ticket_logins_per_address: 30,
            reset_requests_per_address: 5,
            registrations_per_address: 10,
            mails_per_account: 3,
            demos_per_hour: default_demos_per_hour(),
        }
    }
}

/// A trusted identity provider for `POST /api/v1/auth/sso`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoSettings {
    /// The `iss` of its tokens.
    pub issuer: String,
    /// The `aud` its tokens must carry.
    pub audience: String,
    /// Allowed algorithms: RS256, ES256, EdDSA, HS256.
    pub algorithms: Vec<String>,
    /// A JWKS file with its public keys.
    pub jwks_file: Option<PathBuf>,
    /// A URL serving its JWKS (fetched at start).
    pub jwks_url: Option<String>,
    /// A shared secret (HS256; never logged).
    pub secret: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("keyport-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            log_format: LogFormat::Text,
            pool_size: 16,
            database_wait_ms: 2000,
            public_url: None,
            mail_from: "Keyport <keyport@localhost>".to_owned(),
            smtp: None,
            limits: LimitSettings::default(),
            sso: Vec::new(),
            demo: DemoSettings::default(),
            retention: RetentionSettings::default(),
            trusted_proxies: Vec::new(),
            http: HttpSettings::default(),
            metrics_token: None,
            webhooks: WebhookSettings::default(),
            artifacts: ArtifactSettings::default(),
            depot: DepotSettings::default(),
            mail_links: MailLinkSettings::default(),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("database", &self.database_url().map(|u| u.redacted()).unwrap_or_else(|e| e.to_string()))
            .field("log_format", &self.log_format)
            .field("pool_size", &self.pool_size)
            .field("database_wait_ms", &self.database_wait_ms)
            .field("public_url", &self.public_url)
            .field("mail_from", &self.mail_from)
            .field("smtp", &self.smtp.as_ref().map(|s| format!("{}:{} ({})", s.host, s.port, s.security)))
            .field("limits", &self.limits)
            .field("sso", &self.sso.iter().map(|s| s.issuer.clone()).collect::<Vec<_>>())
            .field("demo", &self.demo)
            .field("retention", &self.retention)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("http", &self.http)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("artifacts", &self.artifacts)
            .field("depot", &self.depot)
            .field("mail_links", &self.mail_links)
            .finish()
    }
}

/// Values given on the command line; each one present overrides the rest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--database-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// The environment variables read, without their `KEYPORT_` prefix.
const ENV_KEYS: [&str; 9] = [
    "data_dir",
    "listen",
    "database_url",
    "log_format",
    "pool_size",
    "database_wait_ms",
    "public_url",
    "mail_from",
    "metrics_token",
];

impl Settings {
    /// Loads settings from every source, the optional file included.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Settings, String> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(format!("the configuration file {} does not exist", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment
            .merge(Env::prefixed("KEYPORT_").only(&ENV_KEYS))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| format!("invalid configuration: {e}"))
    }

    /// The pool a server runs with.
    pub fn server_pool(&self) -> keyport_store::PoolOptions {
        keyport_store::PoolOptions {
            acquire_timeout: std::time::Duration::from_millis(self.database_wait_ms.max(1)),
            ..keyport_store::PoolOptions::server(self.pool_size)
        }
    }

    /// The database URL: the configured one, or the SQLite file in the data folder.
    pub fn database_url(&self) -> Result<DatabaseUrl, keyport_store::StoreError> {
        match &self.database_url {
            Some(url) => DatabaseUrl::parse(url),
            None => Ok(DatabaseUrl::sqlite_file(&self.data_dir.join("keyport.db"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_form_hides_the_database_password() {
        let settings = Settings {
            database_url: Some("postgres://keyport:hunter2@db/keyport".to_owned()),
            ..Settings::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://keyport:***@db/keyport"), "{shown}");
    }

    #[test]
    fn flags_override_the_defaults() {
        let overrides =
            Overrides { listen: Some(SocketAddr::from(([0, 0, 0, 0], 9000))), ..Overrides::default() };
        let settings = Settings::load(None, &overrides).map_err(|e| e.to_string());
        assert_eq!(settings.map(|s| s.listen.port()), Ok(9000));
    }

    #[test]
    fn mail_links_go_to_the_portal_where_it_serves_the_page() {
        let depot = keyport_rest::mail_links("https://licenses.example.com");
        let portal = MailLinkSettings {
            set_password: Some("https://portal.example.com/account/password".to_owned()),
            ..MailLinkSettings::default()
        };
        let links = portal.apply(depot.clone()).unwrap();
        assert_eq!(links.set_password, "https://portal.example.com/account/password");
        assert_eq!(links.verify_email, "https://licenses.example.com/depot/verify-email");
        for bad in [
            "portal.example.com/x",
            "https://p.example.com/x?a=1",
            "javascript:alert(1)",
            "https://p.example.com/a b",
        ] {
            let wrong =
                MailLinkSettings { verify_email: Some(bad.to_owned()), ..MailLinkSettings::default() };
            assert!(wrong.apply(depot.clone()).unwrap_err().contains("mail_links.verify_email"), "{bad}");
        }
    }

    #[test]
    fn a_missing_configuration_file_is_named() {
        let err = Settings::load(Some(Path::new("/nonexistent/keyport.toml")), &Overrides::default()).err();
        assert_eq!(err.as_deref(), Some("the configuration file /nonexistent/keyport.toml does not exist"));
    }
}
