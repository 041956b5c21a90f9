//! Releases and artifacts of a product, and the decisions about them: which state changes
//! are allowed, who may download a release (entitlement), which release is offered as an
//! update (channel, staged rollout), and the signed download links and update manifests.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::catalog::VersionRange;
use crate::error::{CoreError, ErrorCode};
use crate::jws;

/// The JWS `typ` of a download link's token.
pub const DOWNLOAD_TYP: &str = "keyport-download+jwt";
/// The JWS `typ` of an update manifest.
pub const MANIFEST_TYP: &str = "keyport-update+jwt";
/// The largest percentage of a staged rollout: everyone.
pub const FULL_ROLLOUT: u8 = 100;

/// A release's version: a semantic version such as `5.2.0` or `6.0.0-beta.1`, compared as
/// semver (a pre-release sorts before its release).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReleaseVersion(semver::Version);

impl ReleaseVersion {
    /// Reads a semantic version (surrounding whitespace trimmed; no leading `v`).
    pub fn parse(text: &str) -> Result<ReleaseVersion, CoreError> {
        let text = text.trim();
        if text.len() > 64 {
            return Err(CoreError::invalid("version", "must be at most 64 characters"));
        }
        let version = semver::Version::parse(text)
            .map_err(|_| CoreError::invalid("version", "must be a semantic version such as 5.2.0"))?;
        if u32::try_from(version.major).is_err() {
            return Err(CoreError::invalid("version", "must be a semantic version such as 5.2.0"));
        }
        Ok(ReleaseVersion(version))
    }

    /// Whether two versions are the same by semver precedence (build metadata aside).
    pub fn same_as(&self, other: &ReleaseVersion) -> bool {
        self.0.cmp_precedence(&other.0) == std::cmp::Ordering::Equal
    }

    /// The major version, which item version ranges entitle.
    pub fn major(&self) -> u32 {
        u32::try_from(self.0.major).unwrap_or(u32::MAX)
    }
}

impl fmt::Display for ReleaseVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The channel a release is published on: `stable` (what everyone gets) or another name
/// (`beta`, ...) that a client asks for; a client on another channel also gets stable releases.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReleaseChannel(String);

impl ReleaseChannel {
    /// The channel everyone gets.
    pub const STABLE: &'static str = "stable";

    /// Reads a channel name: 1 to 32 lower-case letters, digits or '-'.
    pub fn parse(text: &str) -> Result<ReleaseChannel, CoreError> {
        let text = text.trim();
        let ok = !text.is_empty()
            && text.len() <= 32
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(CoreError::invalid("channel", "must be 1 to 32 lower-case letters, digits or '-'"));
        }
        Ok(ReleaseChannel(text.to_owned()))
    }

    /// `stable`.
    pub fn stable() -> ReleaseChannel {
        ReleaseChannel(Self::STABLE.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a client on this channel is offered a release published on `release`.
    pub fn offers(&self, release: &ReleaseChannel) -> bool {
        release.0 == Self::STABLE || release.0 == self.0
    }
}

/// An operating system an artifact is built for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Os {
    /// Microsoft Windows.
    Windows,
    /// Apple macOS.
    Macos,
    /// Linux.
    Linux,
}

impl Os {
    /// Reads `windows`, `macos` or `linux` (any case).
    pub fn parse(text: &str) -> Result<Os, CoreError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "windows" => Ok(Os::Windows),
            "macos" => Ok(Os::Macos),
            "linux" => Ok(Os::Linux),
            _ => Err(CoreError::invalid("os", "must be windows, macos or linux")),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Windows => "windows",
            Os::Macos => "macos",
            Os::Linux => "linux",
        }
    }
}

/// A processor architecture, e.g. `x86_64` or `aarch64`: 1 to 16 lower-case letters, digits
/// or '_'.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arch(String);

impl Arch {
    /// Reads an architecture name.
    pub fn parse(text: &str) -> Result<Arch, CoreError> {
        let text = text.trim();
        let ok = !text.is_empty()
            && text.len() <= 16
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(CoreError::invalid("arch", "must be 1 to 16 lower-case letters, digits or '_'"));
        }
        Ok(Arch(text.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An operating system's version, e.g. `10.0.19045` or `13.1`: 1 to 4 numbers separated by
/// dots, compared number by number (`13.1` is below `13.10`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OsVersion(Vec<u32>);

impl OsVersion {
    /// Reads an OS version.
    pub fn parse(text: &str) -> Result<OsVersion, CoreError> {
        let parts: Option<Vec<u32>> = text.trim().split('.').map(|p| p.parse().ok()).collect();
        match parts {
            Some(parts) if (1..=4).contains(&parts.len()) && text.trim().len() <= 32 => Ok(OsVersion(parts)),
            _ => Err(CoreError::invalid(
                "os_version",
                "must be 1 to 4 numbers separated by dots, such as 10.0",
            )),
        }
    }
}

impl fmt::Display for OsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// The name a downloaded file gets: 1 to 200 characters that every OS accepts in a file name
/// (no path separators, control characters or `"*:<>?|`, no Windows device name, not ending
/// in a dot or space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// Reads a file name.
    pub fn parse(text: &str) -> Result<FileName, CoreError> {
        let text = text.trim();
        let ok = !text.is_empty()
            && text.chars().count() <= 200
            && text != "."
            && text != ".."
            && !text
                .chars()
                .any(|c| c.is_control() || matches!(c, '/' | '\\' | '"' | ':' | '<' | '>' | '|' | '?' | '*'))
            && !text.ends_with(['.', ' '])
            && !windows_device(text);
        if !ok {
            return Err(CoreError::invalid(
                "file_name",
                "must be 1 to 200 characters, a name Windows, macOS and Linux all accept",
            ));
        }
        Ok(FileName(text.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a name is one of Windows' device names (`CON`, `NUL`, `COM1`, ...), with or
/// without an extension.
fn windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end().to_ascii_uppercase();
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit())
}

/// A file name as a URL path segment or RFC 8187 value: every byte but the unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`) percent-encoded.
pub fn percent_encoded(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A media type such as `application/zip` (defaults to `application/octet-stream`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType(String);

impl MediaType {
    /// Reads a media type: `type/subtype` of letters, digits and `!#$&-^_.+`, at most 100.
    pub fn parse(text: &str) -> Result<MediaType, CoreError> {
        let text = text.trim().to_ascii_lowercase();
        let token = |s: &str| {
            !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
        };
        match text.split_once('/') {
            Some((kind, sub)) if text.len() <= 100 && token(kind) && token(sub) => Ok(MediaType(text)),
            _ => Err(CoreError::invalid("media_type", "must be a media type such as application/zip")),
        }
    }

    /// `application/octet-stream`.
    pub fn octet_stream() -> MediaType {
        MediaType("application/octet-stream".to_owned())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SHA-256 digest, written as 64 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// Reads 64 hex digits (any case).
    pub fn parse(text: &str) -> Result<Sha256Digest, CoreError> {
        let text = text.trim();
        let bytes: Option<[u8; 32]> = (text.len() == 64)
            .then(|| (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()).collect())
            .flatten()
            .and_then(|v: Vec<u8>| v.try_into().ok());
        bytes.map(Sha256Digest).ok_or_else(|| CoreError::invalid("sha256", "must be 64 hexadecimal digits"))
    }

    /// The digest of bytes already summed.
    pub fn from_bytes(bytes: [u8; 32]) -> Sha256Digest {
        Sha256Digest(bytes)
    }

    /// Lower-case hex.
    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A release to create (as a draft).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSpec {
    /// The product's code.
    pub product: crate::ProductCode,
    /// Its version, unique within the product.
    pub version: ReleaseVersion,
    /// Its channel.
    pub channel: ReleaseChannel,
    /// Release notes in English.
    pub notes_en: String,
    /// Release notes in German.
    pub notes_de: String,
    /// The share of machines (and customers) it is offered to as an update, 0 to 100.
    pub rollout_percent: u8,
}

/// An artifact to add to a draft release; its size and digest come from the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactSpec {
    /// Its operating system.
    pub os: Os,
    /// Its architecture.
    pub arch: Arch,
    /// The name a download gets.
    pub file_name: FileName,
    /// Its media type.
    pub media_type: MediaType,
    /// The lowest OS version it runs on, if any.
    pub min_os_version: Option<OsVersion>,
    /// The SHA-256 the uploader announces; the upload is refused when the file's differs.
    pub sha256: Option<Sha256Digest>,
}

/// Whether an artifact runs on a machine: the same OS and architecture, and the OS version
/// (when both are known) not below the artifact's minimum.
pub fn runs_on(
    artifact: (Os, &Arch, Option<&OsVersion>),
    os: Os,
    arch: &Arch,
    os_version: Option<&OsVersion>,
) -> bool {
    let (a_os, a_arch, minimum) = artifact;
    a_os == os && a_arch == arch && minimum.zip(os_version).is_none_or(|(min, have)| have >= min)
}

/// Where a release is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseState {
    /// Being prepared: artifacts can be added and removed; customers do not see it.
    Draft,
    /// Customers see it and it is offered as an update.
    Published,
    /// Withdrawn: never offered; downloadable only where the ISV keeps it so.
    Yanked,
}

impl ReleaseState {
    /// Reads a stored name.
    pub fn parse(text: &str) -> Result<ReleaseState, CoreError> {
        match text {
            "draft" => Ok(ReleaseState::Draft),
            "published" => Ok(ReleaseState::Published),
            "yanked" => Ok(ReleaseState::Yanked),
            _ => Err(CoreError::invalid("state", "must be draft, published or yanked")),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseState::Draft => "draft",
            ReleaseState::Published => "published",
            ReleaseState::Yanked => "yanked",
        }
    }
}

/// What a change asks of a release in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Add or delete an artifact, or delete the release.
    Edit,
    /// Publish it.
    Publish,
    /// Yank it.
    Yank,
    /// Set its rollout percentage.
    Rollout,
}

/// Whether a change is done, refused, or was done before (an end state reached twice
/// answers as the first time did, with no new event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Make the change.
    Apply,
    /// It was made before: nothing to do.
    AlreadyDone,
}

fn release_state_error(version: &ReleaseVersion, state: ReleaseState, reason: &str) -> CoreError {
    CoreError::new(ErrorCode::ReleaseState)
        .with("version", version)
        .with("state", state.as_str())
        .with("reason", reason)
}

/// Decides whether `change` may happen to a release in `state` with `artifacts` artifacts.
pub fn decide_change(
    version: &ReleaseVersion,
    state: ReleaseState,
    change: Change,
    artifacts: usize,
) -> Result<Transition, CoreError> {
    let refuse = |reason| Err(release_state_error(version, state, reason));
    match (change, state) {
        (Change::Edit, ReleaseState::Draft) => Ok(Transition::Apply),
        (Change::Edit, ReleaseState::Published | ReleaseState::Yanked) => {
            refuse("only a draft can be changed; publish a new release instead")
        }
        (Change::Publish, ReleaseState::Draft) if artifacts == 0 => {
            refuse("a release needs at least one artifact before it is published")
        }
        (Change::Publish, ReleaseState::Draft) => Ok(Transition::Apply),
        (Change::Publish, ReleaseState::Published) => Ok(Transition::AlreadyDone),
        (Change::Publish, ReleaseState::Yanked) => refuse("a yanked release cannot be published again"),
        (Change::Yank, ReleaseState::Published) => Ok(Transition::Apply),
        (Change::Yank, ReleaseState::Yanked) => Ok(Transition::AlreadyDone),
        (Change::Yank, ReleaseState::Draft) => refuse("a draft is deleted, not yanked"),
        (Change::Rollout, ReleaseState::Draft | ReleaseState::Published) => Ok(Transition::Apply),
        (Change::Rollout, ReleaseState::Yanked) => refuse("a yanked release is offered to no one"),
    }
}

/// Checks a rollout percentage (0 to 100).
pub fn rollout_percent(value: i64) -> Result<u8, CoreError> {
    u8::try_from(value)
        .ok()
        .filter(|p| *p <= FULL_ROLLOUT)
        .ok_or_else(|| CoreError::invalid("rollout_percent", "must be between 0 and 100"))
}

/// The bucket (0 to 99) of a machine or customer in a release's staged rollout: stable for
/// the pair, independent between releases.
pub fn rollout_bucket(release: Uuid, subject: Uuid) -> u8 {
    let digest = Sha256::new().chain_update(release.as_bytes()).chain_update(subject.as_bytes()).finalize();
    let value = u16::from_be_bytes([digest[0], digest[1]]) % 100;
    u8::try_from(value).unwrap_or(0)
}

/// Whether a subject in `bucket` is offered a release rolled out to `percent`.
pub fn in_rollout(percent: u8, bucket: u8) -> bool {
    bucket < percent
}

/// A license a customer holds, as entitlement needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLicense {
    /// The license.
    pub license_id: Uuid,
    /// Its item's SKU.
    pub sku: String,
    /// Its product's code.
    pub product: String,
    /// The major versions its item entitles.
    pub versions: VersionRange,
    /// When it ends (subscriptions, demos); `None` for perpetual.
    pub ends_at: Option<DateTime<Utc>>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A published release, as entitlement needs it.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseFacts<'a> {
    /// The product's code.
    pub product: &'a str,
    /// The version.
    pub version: &'a ReleaseVersion,
    /// When it was published.
    pub published_at: DateTime<Utc>,
}

/// The fact `reason` of a `not_entitled` (or `release_state`) refusal.
pub mod reason {
    /// No license of the product is held.
    pub const NO_LICENSE: &str = "you hold no license of this product";
    /// Every license of the product was revoked.
    pub const REVOKED: &str = "your license of this product was revoked";
    /// A license covers the version but ended before the release.
    pub const ENDED: &str = "your license ended before this release was published; renew it to get it";
    /// Licenses of the product cover other major versions.
    pub const UPGRADE: &str = "your licenses cover other versions of this product; an upgrade is needed";
    /// (Publishing) a file of the release is not in the storage.
    pub const FILE_MISSING: &str =
        "a file of its artifacts is missing from the storage; delete that artifact and upload it again";
}

/// An item of the product that covers a release's major version, as a refusal may name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoveringItem {
    /// Its SKU.
    pub sku: String,
    /// The SKUs of the items it upgrades (an order line of it upgrades their licenses).
    pub upgrade_from: Vec<String>,
}

/// The items a refusal names as the way to a release (`upgrade_items`): those that upgrade
/// an item the customer holds a license of first (the cheaper way: an upgrade of what they
/// own), then the others, each group in the given order.
pub fn upgrade_hint(covering: &[CoveringItem], licenses: &[HeldLicense]) -> Vec<String> {
    let upgrades_held = |item: &CoveringItem| {
        item.upgrade_from.iter().any(|from| licenses.iter().any(|l| !l.revoked && &l.sku == from))
    };
    let (first, rest): (Vec<&CoveringItem>, Vec<&CoveringItem>) =
        covering.iter().partition(|i| upgrades_held(i));
    first.into_iter().chain(rest).map(|i| i.sku.clone()).collect()
}

/// Decides whether a customer holding `licenses` may download `release`: the license that
/// entitles it (one not revoked, of the product, whose item's versions include the
/// release's major version, and which had not ended when the release was published), or
/// `not_entitled` with the facts: which license would entitle it after a renewal, or which
/// items (`upgrade_items`, SKUs of the product covering the version) would.
pub fn entitlement(
    release: ReleaseFacts<'_>,
    licenses: &[HeldLicense],
    upgrade_items: &[String],
) -> Result<Uuid, CoreError> {
    let major = release.version.major();
    let of_product: Vec<&HeldLicense> = licenses.iter().filter(|l| l.product == release.product).collect();
    let live: Vec<&HeldLicense> = of_product.iter().copied().filter(|l| !l.revoked).collect();
    let covering: Vec<&HeldLicense> = live.iter().copied().filter(|l| l.versions.contains(major)).collect();
    let in_time = |l: &&HeldLicense| l.ends_at.is_none_or(|end| release.published_at <= end);
    // The longest-running entitling license, so the answer does not flip between equals.
    let best = covering
        .iter()
        .copied()
        .filter(in_time)
        .max_by_key(|l| (l.ends_at.is_none(), l.ends_at, l.license_id));
    if let Some(license) = best {
        return Ok(license.license_id);
    }
    let refuse = |why: &str| {
        CoreError::new(ErrorCode::NotEntitled)
            .with("product", release.product)
            .with("version", release.version)
            .with("reason", why)
    };
    let ended = covering.iter().copied().max_by_key(|l| (l.ends_at, l.license_id));
    match (of_product.is_empty(), live.is_empty(), ended) {
        (true, _, _) => Err(refuse(reason::NO_LICENSE)),
        (false, true, _) => Err(refuse(reason::REVOKED)),
        (false, false, Some(license)) => {
            let mut error = refuse(reason::ENDED).with("license_id", license.license_id);
            if let Some(end) = license.ends_at {
                error = error.with("ended_at", end.to_rfc3339());
            }
            Err(error)
        }
        (false, false, None) => Err(refuse(reason::UPGRADE).with("upgrade_items", upgrade_items.join(","))),
    }
}

/// Whether a customer sees a release that is not published any more: a yanked release stays
/// downloadable only when the ISV kept it so and the customer downloaded it before.
pub fn yanked_visible(keep_downloadable: bool, downloaded_before: bool) -> bool {
    keep_downloadable && downloaded_before
}

/// A release that could be offered as an update to one OS and architecture.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The version.
    pub version: ReleaseVersion,
    /// Its channel.
    pub channel: ReleaseChannel,
    /// The license that entitles it, or why none does.
    pub entitlement: Result<Uuid, CoreError>,
    /// Whether the asking machine or customer is in its staged rollout.
    pub in_rollout: bool,
}

/// Which release to offer: indexes into the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateDecision {
    /// The newest entitled release on the channel, in rollout.
    pub newest: Option<usize>,
    /// Whether `newest` is newer than the installed version.
    pub behind: bool,
    /// A newer release the customer is not entitled to (an upgrade or renewal would give it).
    pub not_entitled: Option<usize>,
}

/// Decides the update answer for one product: the newest entitled release on `channel` (a
/// release outside the staged rollout is not offered yet), whether `installed` is behind
/// it, and the newest release beyond it that the customer is not entitled to.
pub fn decide_update(
    installed: Option<&ReleaseVersion>,
    channel: &ReleaseChannel,
    candidates: &[Candidate],
) -> UpdateDecision {
    let offered = |c: &&Candidate| channel.offers(&c.channel) && c.in_rollout;
    let newest = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| offered(c) && c.entitlement.is_ok())
        .max_by(|a, b| a.1.version.cmp(&b.1.version))
        .map(|(i, _)| i);
    let floor = newest.map(|i| &candidates[i].version).into_iter().chain(installed).max();
    let not_entitled = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| offered(c) && c.entitlement.is_err())
        .filter(|(_, c)| floor.is_none_or(|f| c.version > *f))
        .max_by(|a, b| a.1.version.cmp(&b.1.version))
        .map(|(i, _)| i);
    let behind = match (newest, installed) {
        (Some(i), Some(installed)) => candidates[i].version > *installed,
        (Some(_), None) | (None, _) => false,
    };
    UpdateDecision { newest, behind, not_entitled }
}

/// Who a download link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Downloader {
    /// A customer account.
    Customer(Uuid),
    /// A ticket login (one ticket's licenses).
    Ticket(Uuid),
    /// The machine of an activation (the update endpoint for the ISV's software).
    Activation(Uuid),
}

/// The claims of a download link's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadClaims {
    /// The artifact.
    pub art: Uuid,
    /// Who may follow it.
    pub sub: Downloader,
    /// When it expires (seconds since the epoch).
    pub exp: i64,
}

/// Signs a download link's token.
pub fn sign_download(claims: &DownloadClaims, kid: &str, seed: &[u8; 32]) -> Result<String, CoreError> {
    jws::sign(claims, DOWNLOAD_TYP, Some(kid), seed)
}

/// The reason of a refused download link.
fn link_refused(reason: &str) -> CoreError {
    CoreError::new(ErrorCode::DownloadLinkInvalid).with("reason", reason)
}

/// Checks a download link's token for `artifact` at `now`, with the public key its `kid`
/// names (`None` when no such key exists): the downloader it was made for.
pub fn verify_download(
    token: &str,
    artifact: Uuid,
    key_of: impl FnOnce(&str) -> Option<[u8; 32]>,
    now: DateTime<Utc>,
) -> Result<Downloader, CoreError> {
    let forged = "it was not made by this service";
    let parsed = jws::Unverified::parse(token).map_err(|_| link_refused(forged))?;
    if parsed.header.typ != DOWNLOAD_TYP {
        return Err(link_refused(forged));
    }
    let key = parsed.header.kid.as_deref().and_then(key_of).ok_or_else(|| link_refused(forged))?;
    let claims: DownloadClaims = parsed.verify(&key).map_err(|_| link_refused(forged))?;
    if claims.art != artifact {
        return Err(link_refused("it was made for another file"));
    }
    if now.timestamp() >= claims.exp {
        return Err(link_refused("it has expired"));
    }
    Ok(claims.sub)
}

/// What the ISV's software checks before it installs a download: signed by the
/// certificate signing key, so the JWKS verifies it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateManifest {
    /// The product's code.
    pub product: String,
    /// The release's version.
    pub version: String,
    /// The artifact's id.
    pub artifact_id: Uuid,
    /// The file's name.
    pub file_name: String,
    /// Its operating system.
    pub os: Os,
    /// Its architecture.
    pub arch: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, 64 lower-case hex digits.
    pub sha256: String,
    /// When the manifest was signed (seconds since the epoch).
    pub iat: i64,
}

/// Signs an update manifest.
pub fn sign_manifest(manifest: &UpdateManifest, kid: &str, seed: &[u8; 32]) -> Result<String, CoreError> {
    jws::sign(manifest, MANIFEST_TYP, Some(kid), seed)
}

/// Verifies an update manifest with the server's public keys: signed by a key of the set,
/// of the manifest's type. Each refusal says why.
pub fn verify_manifest(text: &str, jwks: &crate::certificate::Jwks) -> Result<UpdateManifest, CoreError> {
    let refuse = |reason: &str| CoreError::new(ErrorCode::SignatureInvalid).with("reason", reason);
    let parsed = jws::Unverified::parse(text)?;
    if parsed.header.typ != MANIFEST_TYP {
        return Err(refuse("it is not an update manifest"));
    }
    let kid = parsed.header.kid.clone().unwrap_or_default();
    let key = jwks.key(&kid).ok_or_else(|| refuse("it is signed by a key the server does not publish"))?;
    parsed.verify(&key)
}

/// "Which update is there for this machine?", signed by the machine key of its activation
/// (no customer login). Read-only, so a repeated statement does no harm; it is taken within
/// the check-in clock skew of its signing time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateCheck {
    /// The activation of this machine.
    pub activation_id: Uuid,
    /// Its license.
    pub license_id: Uuid,
    /// The machine's public key.
    pub machine_key: String,
    /// When it was signed, in milliseconds since 1970.
    pub at_ms: i64,
    /// The channel (`stable` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The installed version and the system (version, OS, OS version, architecture).
    #[serde(flatten)]
    pub report: crate::checkin::ClientReport,
}

impl crate::files::MachineStatement for UpdateCheck {
    const KIND: crate::files::FileKind = crate::files::FileKind::UpdateCheck;
    fn machine_key(&self) -> &str {
        &self.machine_key
    }
}

#[cfg(test)]
#[path = "release_tests.rs"]
mod tests;
