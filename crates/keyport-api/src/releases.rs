//! Releases, artifacts, downloads and update information: the requests staff and customers
//! send and the answers they get.

use chrono::{DateTime, Utc};
use keyport_core::release::{
    Arch, ArtifactSpec, FileName, MediaType, Os, OsVersion, ReleaseChannel, ReleaseSpec, ReleaseVersion,
    Sha256Digest, rollout_percent,
};
use keyport_core::{CoreError, ProductCode, check_text};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most products one update question may name in `installed`.
pub const MAX_INSTALLED: usize = 50;

/// A release to create as a draft.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// The product's code.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub product: String,
    /// A semantic version, unique within the product, e.g. `5.2.0` or `6.0.0-beta.1`.
    #[cfg_attr(feature = "openapi", schema(min_length = 5, max_length = 64, example = "5.2.0"))]
    pub version: String,
    /// `stable` (the default) or another channel such as `beta`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 32, pattern = "^[a-z0-9-]+$"))]
    pub channel: Option<String>,
    /// Release notes in English.
    #[cfg_attr(feature = "openapi", schema(max_length = 16384))]
    pub notes_en: Option<String>,
    /// Release notes in German.
    #[cfg_attr(feature = "openapi", schema(max_length = 16384))]
    pub notes_de: Option<String>,
    /// The share of machines it is offered to as an update, 0 to 100 (default 100).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub rollout_percent: Option<i64>,
}

impl ReleaseRequest {
    /// Checks every field.
    pub fn parse(&self) -> Result<ReleaseSpec, CoreError> {
        let notes = |field: &'static str, text: &Option<String>| -> Result<String, CoreError> {
            let text = text.as_deref().unwrap_or_default();
            check_text(field, text)?;
            Ok(text.to_owned())
        };
        Ok(ReleaseSpec {
            product: ProductCode::parse(&self.product)?,
            version: ReleaseVersion::parse(&self.version)?,
            channel: match &self.channel {
                Some(channel) => ReleaseChannel::parse(channel)?,
                None => ReleaseChannel::stable(),
            },
            notes_en: notes("notes_en", &self.notes_en)?,
            notes_de: notes("notes_de", &self.notes_de)?,
            rollout_percent: rollout_percent(self.rollout_percent.unwrap_or(100))?,
        })
    }
}

/// Why a release is withdrawn.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct YankRequest {
    /// Why (shown to staff).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub reason: String,
    /// Whether customers who downloaded it before may still download it (default false).
    #[serde(default)]
    pub keep_downloadable: bool,
}

/// A staged rollout's new percentage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    /// The share of machines (and customers) offered the release as an update, 0 to 100.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub percent: i64,
}

/// The query of an artifact upload: what the file is (its bytes are the body).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct ArtifactQuery {
    /// `windows`, `macos` or `linux`.
    pub os: String,
    /// The architecture, e.g. `x86_64` or `aarch64`.
    pub arch: String,
    /// The name a download gets, e.g. `cad-pro-5.2.0-setup.exe`.
    pub file_name: String,
    /// The media type (default `application/octet-stream`).
    pub media_type: Option<String>,
    /// The lowest OS version it runs on, e.g. `10.0`.
    pub min_os_version: Option<String>,
    /// The file's SHA-256 (64 hex digits): when given, an upload whose bytes differ is
    /// refused and nothing is stored.
    pub sha256: Option<String>,
}

impl ArtifactQuery {
    /// Checks every field.
    pub fn parse(&self) -> Result<ArtifactSpec, CoreError> {
        Ok(ArtifactSpec {
            os: Os::parse(&self.os)?,
            arch: Arch::parse(&self.arch)?,
            file_name: FileName::parse(&self.file_name)?,
            media_type: match &self.media_type {
                Some(media_type) => MediaType::parse(media_type)?,
                None => MediaType::octet_stream(),
            },
            min_os_version: self.min_os_version.as_deref().map(OsVersion::parse).transpose()?,
            sha256: self.sha256.as_deref().map(Sha256Digest::parse).transpose()?,
        })
    }
}

/// Which releases a staff list shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct ReleaseQuery {
    /// Only this product's releases.
    pub product: Option<String>,
    /// The cursor of the previous page.
    pub after: Option<String>,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// What a machine (or a customer's portal) asks about updates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct UpdateQuery {
    /// `windows`, `macos` or `linux`.
    pub os: String,
    /// The architecture, e.g. `x86_64`.
    pub arch: String,
    /// The OS version, e.g. `10.0.19045` (artifacts needing a newer one are not offered).
    pub os_version: Option<String>,
    /// The channel (default `stable`; any other channel also gets stable releases).
    pub channel: Option<String>,
    /// What is installed: `product@version` pairs separated by commas, e.g.
    /// `cad-pro@5.1.0,viewer@2.0.0` (at most 50).
    pub installed: Option<String>,
}

/// An update question, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateQuestion {
    /// The operating system.
    pub os: Os,
    /// The architecture.
    pub arch: Arch,
    /// The OS version, if told.
    pub os_version: Option<OsVersion>,
    /// The channel.
    pub channel: ReleaseChannel,
    /// The installed version per product.
    pub installed: Vec<(String, ReleaseVersion)>,
}

impl UpdateQuery {
    /// Checks every field.
    pub fn parse(&self) -> Result<UpdateQuestion, CoreError> {
        let mut installed = Vec::new();
        for pair in self.installed.as_deref().unwrap_or_default().split(',').filter(|p| !p.trim().is_empty())
        {
            let Some((product, version)) = pair.split_once('@') else {
                return Err(CoreError::invalid(
                    "installed",
                    "must be product@version pairs separated by commas",
                ));
            };
            installed
                .push((ProductCode::parse(product)?.as_str().to_owned(), ReleaseVersion::parse(version)?));
        }
        if installed.len() > MAX_INSTALLED {
            return Err(CoreError::invalid("installed", "must name at most 50 products"));
        }
        Ok(UpdateQuestion {
            os: Os::parse(&self.os)?,
            arch: Arch::parse(&self.arch)?,
            os_version: self.os_version.as_deref().map(OsVersion::parse).transpose()?,
            channel: match &self.channel {
                Some(channel) => ReleaseChannel::parse(channel)?,
                None => ReleaseChannel::stable(),
            },
            installed,
        })
    }
}

/// Where a release is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStateName {
    /// Being prepared; customers do not see it.
    Draft,
    /// Customers see it; it is offered as an update.
    Published,
    /// Withdrawn.
    Yanked,
}

/// A file of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArtifactView {
    /// Its id.
    pub id: Uuid,
    /// Its operating system.
    pub os: Os,
    /// Its architecture.
    pub arch: String,
    /// The name a download gets.
    pub file_name: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, 64 lower-case hex digits.
    pub sha256: String,
    /// The lowest OS version it runs on.
    pub min_os_version: Option<String>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
}

/// A release, as staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseView {
    /// Its id.
    pub id: Uuid,
    /// The product's code.
    pub product: String,
    /// Its semantic version.
    pub version: String,
    /// Its channel.
    pub channel: String,
    /// Where it is in its life.
    pub state: ReleaseStateName,
    /// Release notes in English.
    pub notes_en: String,
    /// Release notes in German.
    pub notes_de: String,
    /// The share of machines offered it as an update.
    pub rollout_percent: u8,
    /// Whether customers who downloaded it keep access after it was yanked.
    pub keep_downloadable: bool,
    /// Why it was yanked.
    pub yank_reason: Option<String>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// When it was yanked.
    pub yanked_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its files.
    pub artifacts: Vec<ArtifactView>,
}

/// One page of releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleasePage {
    /// The releases, oldest first.
    pub items: Vec<ReleaseView>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A file the customer may download, with a short-lived link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DownloadableArtifact {
    /// The file.
    #[serde(flatten)]
    pub artifact: ArtifactView,
    /// The link: works without a login until `link_expires_at`, for this customer (or
    /// machine) and this file only. Supports `Range`.
    pub download_url: String,
    /// When the link stops working.
    pub link_expires_at: DateTime<Utc>,
}

/// A release the customer may download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DownloadableRelease {
    /// The release.
    pub id: Uuid,
    /// Its version.
    pub version: String,
    /// Its channel.
    pub channel: String,
    /// Release notes in English.
    pub notes_en: String,
    /// Release notes in German.
    pub notes_de: String,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// Whether it was withdrawn (kept downloadable for those who had it).
    pub yanked: bool,
    /// The license that entitles the customer to it.
    pub license_id: Uuid,
    /// Its files.
    pub artifacts: Vec<DownloadableArtifact>,
}

/// The downloads of one product the customer owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductDownloads {
    /// The product's code.
    pub product: String,
    /// Its name.
    pub name: String,
    /// The entitled releases, newest first (at most `limit`).
    pub releases: Vec<DownloadableRelease>,
    /// Entitled releases not shown (older than those listed).
    pub older_releases: u32,
}

/// What a customer may download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DownloadsView {
    /// One entry per owned product, by code.
    pub products: Vec<ProductDownloads>,
}

/// Which downloads to list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct DownloadsQuery {
    /// Only this product.
    pub product: Option<String>,
    /// Only files for this OS.
    pub os: Option<String>,
    /// At most this many releases per product, newest first (1 to 100, default 20).
    pub limit: Option<u32>,
}

/// A release offered as an update, with its file for the asking OS and architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferedRelease {
    /// The release.
    pub release_id: Uuid,
    /// Its version.
    pub version: String,
    /// Its channel.
    pub channel: String,
    /// Release notes in English.
    pub notes_en: String,
    /// Release notes in German.
    pub notes_de: String,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// The file for the asking OS and architecture, with its link.
    pub artifact: DownloadableArtifact,
    /// The update manifest: a compact JWS (EdDSA, verifiable with the JWKS at
    /// `/api/v1/.well-known/jwks.json`) whose payload names the file's SHA-256 and size.
    pub manifest: String,
}

/// A newer release the customer is not entitled to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpgradeHint {
    /// Its version.
    pub version: String,
    /// Always `not_entitled`.
    pub code: String,
    /// Why, in the asker's language.
    pub message: String,
    /// The items (SKUs) that would entitle it (an upgrade).
    pub upgrade_items: Vec<String>,
    /// The license that would entitle it after a renewal.
    pub renew_license_id: Option<Uuid>,
}

/// The update answer for one owned product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductUpdate {
    /// The product's code.
    pub product: String,
    /// The installed version, as asked.
    pub installed: Option<String>,
    /// The newest release offered to the asker for this OS and architecture.
    pub latest: Option<OfferedRelease>,
    /// Whether `latest` is newer than the installed version.
    pub update_available: bool,
    /// A newer release that needs an upgrade or a renewal.
    pub upgrade: Option<UpgradeHint>,
}

/// The update answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdatesView {
    /// One entry per owned product (for a machine: its license's product), by code.
    pub products: Vec<ProductUpdate>,
}
