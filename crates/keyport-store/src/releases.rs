//! Releases and artifacts (the catalog of downloadable software), the downloads customers and
//! machines may make, and the update answer. The files themselves live in the artifact
//! storage (`keyport-artifacts`); this module keeps what is known about them and decides,
//! through core, who gets which.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use keyport_api::{
    ArtifactView, DownloadableArtifact, DownloadableRelease, DownloadsView, OfferedRelease, ProductDownloads,
    ProductUpdate, ReleaseStateName, ReleaseView, UpdateQuestion, UpdatesView, UpgradeHint,
};
use keyport_core::release::{
    self, ArtifactSpec, Candidate, Change, DownloadClaims, Downloader, HeldLicense, Os, ReleaseChannel,
    ReleaseFacts, ReleaseSpec, ReleaseState, ReleaseVersion, Sha256Digest, Transition, UpdateManifest,
};
use keyport_core::{CoreError, ErrorCode, EventKind, Lang, Reason};
use serde_json::json;
use uuid::Uuid;

use crate::catalog::versions_of;
use crate::db::DbConn;
use crate::error::stored;
use crate::events::{Subject, append};
use crate::rows::{ItemRow, ProductRow};
use crate::schema::{
    activations, artifacts, downloads, items, licenses, products, releases, signing_keys, tickets,
};
use crate::{Context, Page, Paging, Scope, Store, StoreResult, new_id, stored_time, utc, uuid_of};

/// The most releases one product keeps (drafts, published and yanked).
pub const MAX_RELEASES_PER_PRODUCT: i64 = 1000;
/// The most artifacts one release has.
pub const MAX_ARTIFACTS_PER_RELEASE: i64 = 64;

/// A release row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = releases)]
pub(crate) struct ReleaseRow {
    pub id: String,
    pub product_id: String,
    pub version: String,
    pub major: i32,
    pub channel: String,
    pub notes_en: String,
    pub notes_de: String,
    pub state: String,
    pub rollout_percent: i32,
    pub keep_downloadable: bool,
    pub yank_reason: Option<String>,
    pub published_at: Option<NaiveDateTime>,
    pub yanked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// An artifact row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = artifacts)]
pub(crate) struct ArtifactRow {
    pub id: String,
    pub release_id: String,
    pub os: String,
    pub arch: String,
    pub file_name: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
    pub min_os_version: Option<String>,
    pub created_at: NaiveDateTime,
}

/// How download links are made: the API's public base (e.g. `https://licenses.example.com/api/v1`)
/// and how long a link works.
#[derive(Debug, Clone)]
pub struct DownloadLinks {
    /// The API's public base URL, without a trailing slash.
    pub base: String,
    /// How long a link works.
    pub ttl: Duration,
}

/// A download the caller may make: what to send, and what to record once it is sent.
#[derive(Debug, Clone)]
pub struct DownloadGrant {
    /// The artifact.
    pub artifact_id: Uuid,
    /// The release.
    pub release_id: Uuid,
    /// The license that entitles the downloader to it.
    pub license_id: Uuid,
    /// Who follows the link.
    pub downloader: Downloader,
    /// The file's digest (its name in the storage).
    pub digest: Sha256Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The name it is saved under.
    pub file_name: String,
    /// Its media type.
    pub media_type: String,
    /// Its operating system (recorded with the download).
    pub os: Os,
}

fn version_of(row: &ReleaseRow) -> StoreResult<ReleaseVersion> {
    stored("release version", ReleaseVersion::parse(&row.version))
}

fn state_of(row: &ReleaseRow) -> StoreResult<ReleaseState> {
    stored("release state", ReleaseState::parse(&row.state))
}

fn channel_of(row: &ReleaseRow) -> StoreResult<ReleaseChannel> {
    stored("release channel", ReleaseChannel::parse(&row.channel))
}

fn percent_of(row: &ReleaseRow) -> u8 {
    u8::try_from(row.rollout_percent).unwrap_or(0).min(release::FULL_ROLLOUT)
}

fn digest_of(row: &ArtifactRow) -> StoreResult<Sha256Digest> {
    stored("artifact digest", Sha256Digest::parse(&row.sha256))
}

fn os_of(row: &ArtifactRow) -> StoreResult<Os> {
    stored("artifact os", Os::parse(&row.os))
}

fn artifact_view(row: &ArtifactRow) -> StoreResult<ArtifactView> {
    Ok(ArtifactView {
        id: uuid_of(&row.id)?,
        os: os_of(row)?,
        arch: row.arch.clone(),
        file_name: row.file_name.clone(),
        media_type: row.media_type.clone(),
        size: u64::try_from(row.size).unwrap_or(0),
        sha256: row.sha256.clone(),
        min_os_version: row.min_os_version.clone(),
        created_at: utc(row.created_at),
    })
}

fn release_view(row: &ReleaseRow, product: &str, files: &[ArtifactRow]) -> StoreResult<ReleaseView> {
    let state = match state_of(row)? {
        ReleaseState::Draft => ReleaseStateName::Draft,
        ReleaseState::Published => ReleaseStateName::Published,
        ReleaseState::Yanked => ReleaseStateName::Yanked,
    };
    Ok(ReleaseView {
        id: uuid_of(&row.id)?,
        product: product.to_owned(),
        version: row.version.clone(),
        channel: row.channel.clone(),
        state,
        notes_en: row.notes_en.clone(),
        notes_de: row.notes_de.clone(),
        rollout_percent: percent_of(row),
        keep_downloadable: row.keep_downloadable,
        yank_reason: row.yank_reason.clone(),
        published_at: row.published_at.map(utc),
        yanked_at: row.yanked_at.map(utc),
        created_at: utc(row.created_at),
        artifacts: files
            .iter()
            .filter(|a| a.release_id == row.id)
            .map(artifact_view)
            .collect::<StoreResult<_>>()?,
    })
}

/// A release by id, with its product's code; `not_found` when there is none.
fn find(conn: &mut DbConn, id: Uuid) -> StoreResult<(ReleaseRow, String)> {
    releases::table
        .inner_join(products::table)
        .filter(releases::id.eq(id.to_string()))
        .select((ReleaseRow::as_select(), products::code))
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found("release").into())
}

/// Like [`find`], taking the release's row lock first (a no-op update): on PostgreSQL the
/// writers of one release take turns, so a publish cannot count artifacts that a delete is
/// removing, and an artifact cannot join a release being published. (SQLite has one writer.)
fn find_locked(conn: &mut DbConn, id: Uuid) -> StoreResult<(ReleaseRow, String)> {
    diesel::update(releases::table.find(id.to_string()))
        .set(releases::state.eq(releases::state))
        .execute(conn)?;
    find(conn, id)
}

fn files_of(conn: &mut DbConn, release_ids: &[String]) -> StoreResult<Vec<ArtifactRow>> {
    Ok(artifacts::table
        .filter(artifacts::release_id.eq_any(release_ids))
        .order((artifacts::os.asc(), artifacts::arch.asc()))
        .select(ArtifactRow::as_select())
        .load(conn)?)
}

fn view_of(conn: &mut DbConn, id: Uuid) -> StoreResult<ReleaseView> {
    let (row, product) = find(conn, id)?;
    let files = files_of(conn, std::slice::from_ref(&row.id))?;
    release_view(&row, &product, &files)
}

/// Asks core whether `change` may happen to the release now.
fn decide(conn: &mut DbConn, row: &ReleaseRow, change: Change) -> StoreResult<Transition> {
    let count: i64 = artifacts::table.filter(artifacts::release_id.eq(&row.id)).count().get_result(conn)?;
    Ok(release::decide_change(
        &version_of(row)?,
        state_of(row)?,
        change,
        usize::try_from(count).unwrap_or(0),
    )?)
}

fn subject(row: &ReleaseRow) -> Subject<'_> {
    Subject::of("release", &row.id)
}

impl Store {
    /// Creates a release of a product as a draft; its version must be new for the product.
    pub fn create_release(&self, ctx: &Context, spec: &ReleaseSpec) -> StoreResult<ReleaseView> {
        self.write(|conn| {
            let product = crate::catalog::find_product(conn, spec.product.as_str())?;
            let version = spec.version.to_string();
            let existing: Vec<String> = releases::table
                .filter(releases::product_id.eq(&product.id))
                .select(releases::version)
                .load(conn)?;
            // Versions are compared by semver precedence: 5.2.0+build1 and 5.2.0+build2 are
            // the same version (build metadata does not count).
            if existing.iter().any(|v| ReleaseVersion::parse(v).is_ok_and(|v| v.same_as(&spec.version))) {
                return Err(CoreError::new(ErrorCode::AlreadyExists)
                    .with("resource", "release")
                    .with("field", "version")
                    .into());
            }
            if existing.len() as i64 >= MAX_RELEASES_PER_PRODUCT {
                return Err(CoreError::invalid("product", "has 1000 releases; delete drafts first").into());
            }
            let row = ReleaseRow {
                id: new_id(),
                product_id: product.id.clone(),
                version,
                major: i32::try_from(spec.version.major())
                    .map_err(|_| CoreError::invalid("version", "must be a semantic version such as 5.2.0"))?,
                channel: spec.channel.as_str().to_owned(),
                notes_en: spec.notes_en.clone(),
                notes_de: spec.notes_de.clone(),
                state: ReleaseState::Draft.as_str().to_owned(),
                rollout_percent: i32::from(spec.rollout_percent),
                keep_downloadable: false,
                yank_reason: None,
                published_at: None,
                yanked_at: None,
                created_at: stored_time(ctx.now),
            };
            diesel::insert_into(releases::table).values(&row).execute(conn)?;
            let data = json!({"product": product.code, "version": row.version, "channel": row.channel});
            append(conn, ctx, EventKind::ReleaseCreated, subject(&row), data)?;
            release_view(&row, &product.code, &[])
        })
    }

    /// One release with its artifacts (staff).
    pub fn get_release(&self, id: Uuid) -> StoreResult<ReleaseView> {
        self.read(|conn| view_of(conn, id))
    }

    /// Releases (of one product, or all), oldest first, one page at a time (staff).
    pub fn list_releases(&self, product: Option<&str>, paging: &Paging) -> StoreResult<Page<ReleaseView>> {
        self.read(|conn| {
            let mut query = releases::table
                .inner_join(products::table)
                .order(releases::id.asc())
                .select((ReleaseRow::as_select(), products::code))
                .into_boxed();
            if let Some(code) = product {
                query = query.filter(products::code.eq(code.to_owned()));
            }
            if let Some(after) = &paging.after {
                query = query.filter(releases::id.gt(after.clone()));
            }
            let rows: Vec<(ReleaseRow, String)> = query.limit(paging.fetch()).load(conn)?;
            let page = Page::of(rows, paging, |(r, _)| r.id.clone());
            let ids: Vec<String> = page.items.iter().map(|(r, _)| r.id.clone()).collect();
            let files = files_of(conn, &ids)?;
            page.try_map(|(row, code)| release_view(&row, &code, &files))
        })
    }

    /// Publishes a draft that has artifacts; publishing it again changes nothing.
    pub fn publish_release(&self, ctx: &Context, id: Uuid) -> StoreResult<ReleaseView> {
        self.write(|conn| {
            let (row, product) = find_locked(conn, id)?;
            if decide(conn, &row, Change::Publish)? == Transition::Apply {
                diesel::update(releases::table.find(&row.id))
                    .set((
                        releases::state.eq(ReleaseState::Published.as_str()),
                        releases::published_at.eq(stored_time(ctx.now)),
                    ))
                    .execute(conn)?;
                let data = json!({"product": product, "version": row.version, "channel": row.channel});
                append(conn, ctx, EventKind::ReleasePublished, subject(&row), data)?;
            }
            view_of(conn, id)
        })
    }

    /// Withdraws a published release: it is never offered again; customers who downloaded it
    /// keep access only when `keep_downloadable`. Yanking it again changes nothing.
    pub fn yank_release(
        &self,
        ctx: &Context,
        id: Uuid,
        reason: &Reason,
        keep_downloadable: bool,
    ) -> StoreResult<ReleaseView> {
        self.write(|conn| {
            let (row, product) = find_locked(conn, id)?;
            let transition = decide(conn, &row, Change::Yank)?;
            if transition == Transition::AlreadyDone && row.keep_downloadable != keep_downloadable {
                // Yanked before: only whether those who had it keep it changes (the first
                // reason and time stay).
                diesel::update(releases::table.find(&row.id))
                    .set(releases::keep_downloadable.eq(keep_downloadable))
                    .execute(conn)?;
                let data = json!({"product": product, "version": row.version, "reason": reason.as_str(),
                                  "keep_downloadable": keep_downloadable,
                                  "before": {"keep_downloadable": row.keep_downloadable}});
                append(conn, ctx, EventKind::ReleaseYanked, subject(&row), data)?;
            }
            if transition == Transition::Apply {
                diesel::update(releases::table.find(&row.id))
                    .set((
                        releases::state.eq(ReleaseState::Yanked.as_str()),
                        releases::yanked_at.eq(stored_time(ctx.now)),
                        releases::yank_reason.eq(reason.as_str()),
                        releases::keep_downloadable.eq(keep_downloadable),
                    ))
                    .execute(conn)?;
                let data = json!({"product": product, "version": row.version, "reason": reason.as_str(),
                                  "keep_downloadable": keep_downloadable});
                append(conn, ctx, EventKind::ReleaseYanked, subject(&row), data)?;
            }
            view_of(conn, id)
        })
    }

    /// Sets the share of machines a release is offered to as an update.
    pub fn set_release_rollout(&self, ctx: &Context, id: Uuid, percent: u8) -> StoreResult<ReleaseView> {
        self.write(|conn| {
            let (row, product) = find_locked(conn, id)?;
            decide(conn, &row, Change::Rollout)?;
            if percent_of(&row) != percent {
                diesel::update(releases::table.find(&row.id))
                    .set(releases::rollout_percent.eq(i32::from(percent)))
                    .execute(conn)?;
                let data = json!({"product": product, "version": row.version, "percent": percent,
                                  "before": percent_of(&row)});
                append(conn, ctx, EventKind::ReleaseRolloutChanged, subject(&row), data)?;
            }
            view_of(conn, id)
        })
    }

    /// Deletes a draft with its artifacts. Answers the digests no artifact uses any more:
    /// the caller removes those files from the storage.
    pub fn delete_release(&self, ctx: &Context, id: Uuid) -> StoreResult<Vec<Sha256Digest>> {
        self.write(|conn| {
            let (row, product) = find_locked(conn, id)?;
            decide(conn, &row, Change::Edit)?;
            let files = files_of(conn, std::slice::from_ref(&row.id))?;
            diesel::delete(artifacts::table.filter(artifacts::release_id.eq(&row.id))).execute(conn)?;
            diesel::delete(releases::table.find(&row.id)).execute(conn)?;
            let data = json!({"product": product, "version": row.version, "artifacts": files.len()});
            append(conn, ctx, EventKind::ReleaseDeleted, subject(&row), data)?;
            unused(conn, &files)
        })
    }

    /// Checks, before an upload, that the release exists and takes artifacts (a draft).
    pub fn editable_release(&self, id: Uuid) -> StoreResult<()> {
        self.read(|conn| {
            let (row, _) = find(conn, id)?;
            decide(conn, &row, Change::Edit).map(drop)
        })
    }

    /// Records an uploaded file as an artifact of a draft: one per OS and architecture.
    pub fn add_artifact(
        &self,
        ctx: &Context,
        release_id: Uuid,
        spec: &ArtifactSpec,
        digest: Sha256Digest,
        size: u64,
    ) -> StoreResult<ArtifactView> {
        self.write(|conn| {
            let (row, product) = find_locked(conn, release_id)?;
            decide(conn, &row, Change::Edit)?;
            let files = files_of(conn, std::slice::from_ref(&row.id))?;
            if files.iter().any(|a| a.os == spec.os.as_str() && a.arch == spec.arch.as_str()) {
                return Err(CoreError::new(ErrorCode::AlreadyExists)
                    .with("resource", "artifact")
                    .with("field", "os and arch")
                    .into());
            }
            if files.len() as i64 >= MAX_ARTIFACTS_PER_RELEASE {
                return Err(CoreError::invalid("release", "has 64 artifacts already").into());
            }
            let artifact = ArtifactRow {
                id: new_id(),
                release_id: row.id.clone(),
                os: spec.os.as_str().to_owned(),
                arch: spec.arch.as_str().to_owned(),
                file_name: spec.file_name.as_str().to_owned(),
                media_type: spec.media_type.as_str().to_owned(),
                size: i64::try_from(size).map_err(|_| CoreError::invalid("size", "is too large"))?,
                sha256: digest.to_hex(),
                min_os_version: spec.min_os_version.as_ref().map(ToString::to_string),
                created_at: stored_time(ctx.now),
            };
            diesel::insert_into(artifacts::table).values(&artifact).execute(conn)?;
            let data = json!({"product": product, "version": row.version, "artifact_id": artifact.id,
                              "os": artifact.os, "arch": artifact.arch, "file_name": artifact.file_name,
                              "size": artifact.size, "sha256": artifact.sha256});
            append(conn, ctx, EventKind::ArtifactAdded, subject(&row), data)?;
            artifact_view(&artifact)
        })
    }

    /// Deletes an artifact of a draft. Answers its digest when no artifact uses it any more.
    pub fn delete_artifact(
        &self,
        ctx: &Context,
        release_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Vec<Sha256Digest>> {
        self.write(|conn| {
            let (row, product) = find_locked(conn, release_id)?;
            let files = files_of(conn, std::slice::from_ref(&row.id))?;
            let file = files
                .into_iter()
                .find(|a| a.id == id.to_string())
                .ok_or_else(|| CoreError::not_found("artifact"))?;
            decide(conn, &row, Change::Edit)?;
            diesel::delete(artifacts::table.find(&file.id)).execute(conn)?;
            let data = json!({"product": product, "version": row.version, "artifact_id": file.id,
                              "os": file.os, "arch": file.arch});
            append(conn, ctx, EventKind::ArtifactDeleted, subject(&row), data)?;
            unused(conn, std::slice::from_ref(&file))
        })
    }

    /// Whether any artifact is stored under this digest.
    pub fn digest_in_use(&self, digest: Sha256Digest) -> StoreResult<bool> {
        self.read(|conn| {
            let n: i64 =
                artifacts::table.filter(artifacts::sha256.eq(digest.to_hex())).count().get_result(conn)?;
            Ok(n > 0)
        })
    }

    /// What the scope (a customer or a ticket login) may download: per owned product, the
    /// entitled releases (newest first, at most `limit`), with links for `os` (or every OS).
    pub fn list_downloads(
        &self,
        scope: Scope,
        product: Option<&str>,
        os: Option<Os>,
        limit: usize,
        links: &DownloadLinks,
        now: DateTime<Utc>,
    ) -> StoreResult<DownloadsView> {
        let downloader = downloader_of(scope)?;
        let key = self.cached_signing_key(now)?;
        self.read(|conn| {
            let held = held_licenses(conn, downloader)?;
            let mut products = Vec::new();
            for (code, shelf) in shelves(conn, &held, None)? {
                if !shelf.owned || product.is_some_and(|p| p != code) {
                    continue;
                }
                let mut entitled = Vec::new();
                for (row, files) in &shelf.releases {
                    if let Some(license) = shelf.downloadable(row, &held)? {
                        let files: Vec<&ArtifactRow> =
                            files.iter().filter(|a| os.is_none_or(|os| a.os == os.as_str())).collect();
                        entitled.push((row, license, files));
                    }
                }
                let older = entitled.len().saturating_sub(limit);
                let mut releases = Vec::new();
                for (row, license, files) in entitled.into_iter().take(limit) {
                    let artifacts = files
                        .into_iter()
                        .map(|a| link(a, downloader, links, &key, now))
                        .collect::<StoreResult<Vec<_>>>()?;
                    releases.push(DownloadableRelease {
                        id: uuid_of(&row.id)?,
                        version: row.version.clone(),
                        channel: row.channel.clone(),
                        notes_en: row.notes_en.clone(),
                        notes_de: row.notes_de.clone(),
                        published_at: row.published_at.map(utc).unwrap_or_else(|| utc(row.created_at)),
                        yanked: state_of(row)? == ReleaseState::Yanked,
                        license_id: license,
                        artifacts,
                    });
                }
                products.push(ProductDownloads {
                    product: code,
                    name: shelf.name.clone(),
                    releases,
                    older_releases: u32::try_from(older).unwrap_or(u32::MAX),
                });
            }
            Ok(DownloadsView { products })
        })
    }

    /// The update answer for the scope (a customer or a ticket login): per owned product,
    /// the newest release offered for the OS and architecture, whether the installed version
    /// is behind, and a newer release that needs an upgrade or a renewal.
    pub fn updates(
        &self,
        scope: Scope,
        question: &UpdateQuestion,
        links: &DownloadLinks,
        lang: Lang,
        now: DateTime<Utc>,
    ) -> StoreResult<UpdatesView> {
        let downloader = downloader_of(scope)?;
        self.update_answer(downloader, question, links, lang, now)
    }

    /// The update answer for a downloader (see [`Store::updates`]).
    fn update_answer(
        &self,
        downloader: Downloader,
        question: &UpdateQuestion,
        links: &DownloadLinks,
        lang: Lang,
        now: DateTime<Utc>,
    ) -> StoreResult<UpdatesView> {
        let key = self.cached_signing_key(now)?;
        self.read(|conn| {
            let held = held_licenses(conn, downloader)?;
            let subject = match downloader {
                Downloader::Customer(id) | Downloader::Ticket(id) | Downloader::Activation(id) => id,
            };
            let mut products = Vec::new();
            for (code, shelf) in shelves(conn, &held, None)?.into_iter().filter(|(_, s)| s.owned) {
                let installed = question.installed.iter().find(|(p, _)| *p == code).map(|(_, v)| v);
                let mut candidates = Vec::new();
                let mut offered_files = Vec::new();
                for (row, files) in &shelf.releases {
                    if state_of(row)? != ReleaseState::Published {
                        continue;
                    }
                    let file = files.iter().find(|a| {
                        let minimum =
                            a.min_os_version.as_deref().and_then(|m| release::OsVersion::parse(m).ok());
                        let arch = release::Arch::parse(&a.arch).ok();
                        os_of(a).ok().zip(arch).is_some_and(|(os, arch)| {
                            release::runs_on(
                                (os, &arch, minimum.as_ref()),
                                question.os,
                                &question.arch,
                                question.os_version.as_ref(),
                            )
                        })
                    });
                    let Some(file) = file else { continue };
                    let release_id = uuid_of(&row.id)?;
                    candidates.push(Candidate {
                        version: version_of(row)?,
                        channel: channel_of(row)?,
                        entitlement: shelf.entitlement(row, &held)?,
                        in_rollout: release::in_rollout(
                            percent_of(row),
                            release::rollout_bucket(release_id, subject),
                        ),
                    });
                    offered_files.push((row, file));
                }
                let decision = release::decide_update(installed, &question.channel, &candidates);
                let latest = match decision.newest {
                    Some(i) => {
                        let (row, file) = offered_files[i];
                        Some(offer(&code, row, file, downloader, links, &key, now)?)
                    }
                    None => None,
                };
                let upgrade = decision.not_entitled.and_then(|i| {
                    let error = candidates[i].entitlement.as_ref().err()?;
                    Some(UpgradeHint {
                        version: candidates[i].version.to_string(),
                        code: error.code().as_str().to_owned(),
                        message: error.message(lang),
                        upgrade_items: error
                            .facts()
                            .get("upgrade_items")
                            .map(|s| s.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
                            .unwrap_or_default(),
                        renew_license_id: error
                            .facts()
                            .get("license_id")
                            .and_then(|id| Uuid::parse_str(id).ok()),
                    })
                });
                products.push(ProductUpdate {
                    product: code,
                    installed: installed.map(ToString::to_string),
                    latest,
                    update_available: decision.behind,
                    upgrade,
                });
            }
            Ok(UpdatesView { products })
        })
    }

    /// The update answer for the ISV's software: a statement signed by the machine key of an
    /// active activation names the installed version, OS and architecture; the answer is for
    /// the activation's product, with links bound to the activation.
    pub fn machine_update_check(
        &self,
        proof: &str,
        links: &DownloadLinks,
        lang: Lang,
        now: DateTime<Utc>,
    ) -> StoreResult<UpdatesView> {
        let mut statement: release::UpdateCheck = keyport_core::files::read(proof)?;
        statement.report.check()?;
        statement.at_ms = statement.at_ms.saturating_add(self.clock_offset().num_milliseconds());
        keyport_core::checkin::decide_report_time(statement.at_ms, false, now)?;
        let (activation, license, key) =
            (statement.activation_id, statement.license_id, &statement.machine_key);
        let loaded =
            self.read_each(|conn| crate::checkins::signed_license(conn, activation, license, key))?;
        let (row, _) = loaded.activation(activation)?;
        if row.state != keyport_core::ActivationState::Active.as_str() {
            return Err(CoreError::new(ErrorCode::ActivationNotActive).with("state", &row.state).into());
        }
        let report = &statement.report;
        let question = UpdateQuestion {
            os: Os::parse(&report.os)?,
            arch: release::Arch::parse(&report.arch.to_ascii_lowercase())?,
            os_version: release::OsVersion::parse(&report.os_version).ok(),
            channel: match &statement.channel {
                Some(channel) => ReleaseChannel::parse(channel)?,
                None => ReleaseChannel::stable(),
            },
            installed: vec![(loaded.product_code.clone(), ReleaseVersion::parse(&report.version)?)],
        };
        self.update_answer(Downloader::Activation(activation), &question, links, lang, now)
    }

    /// Checks a download link for `artifact` and answers what to send: refused when the
    /// token is forged, expired or for another file, and (`not_entitled`, `not_found`) when
    /// its holder lost the right to it since the link was made.
    pub fn open_download(
        &self,
        artifact: Uuid,
        token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<DownloadGrant> {
        self.read(|conn| {
            let keys: Vec<(String, String)> =
                signing_keys::table.select((signing_keys::kid, signing_keys::public_key)).load(conn)?;
            let key_of = |kid: &str| {
                keys.iter()
                    .find(|(k, _)| k == kid)
                    .and_then(|(_, public)| hex::decode(public).ok())
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            };
            let downloader = release::verify_download(token, artifact, key_of, now)?;
            let file: ArtifactRow = artifacts::table
                .find(artifact.to_string())
                .select(ArtifactRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| CoreError::not_found("artifact"))?;
            let held = held_licenses(conn, downloader)?;
            let (row, _) = find(conn, uuid_of(&file.release_id)?)?;
            let shelf = shelves(conn, &held, Some(&row.product_id))?
                .into_iter()
                .find(|(_, s)| s.product_id == row.product_id)
                .map(|(_, s)| s)
                .ok_or_else(|| CoreError::not_found("artifact"))?;
            match shelf.downloadable(&row, &held)? {
                Some(license_id) => Ok(DownloadGrant {
                    artifact_id: artifact,
                    release_id: uuid_of(&row.id)?,
                    license_id,
                    downloader,
                    digest: digest_of(&file)?,
                    size: u64::try_from(file.size).unwrap_or(0),
                    file_name: file.file_name.clone(),
                    media_type: file.media_type.clone(),
                    os: os_of(&file)?,
                }),
                None => Err(match (state_of(&row)?, shelf.entitlement(&row, &held)?) {
                    (ReleaseState::Published, Err(refused)) => refused.into(),
                    (ReleaseState::Published | ReleaseState::Draft | ReleaseState::Yanked, _) => {
                        CoreError::not_found("artifact").into()
                    }
                }),
            }
        })
    }

    /// Records a completed download (for the analytics; pruned after its retention).
    pub fn record_download(&self, grant: &DownloadGrant, now: DateTime<Utc>) -> StoreResult<()> {
        let (customer, ticket, activation) = match grant.downloader {
            Downloader::Customer(id) => (Some(id.to_string()), None, None),
            Downloader::Ticket(id) => (None, Some(id.to_string()), None),
            Downloader::Activation(id) => (None, None, Some(id.to_string())),
        };
        self.write(|conn| {
            diesel::insert_into(downloads::table)
                .values((
                    downloads::id.eq(crate::fixed_seed::system_id()),
                    downloads::artifact_id.eq(grant.artifact_id.to_string()),
                    downloads::release_id.eq(grant.release_id.to_string()),
                    downloads::license_id.eq(grant.license_id.to_string()),
                    downloads::customer_id.eq(&customer),
                    downloads::ticket_id.eq(&ticket),
                    downloads::activation_id.eq(&activation),
                    downloads::os.eq(grant.os.as_str()),
                    downloads::at.eq(stored_time(now)),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Completed downloads of a release (staff; for tests and support).
    pub fn count_downloads(&self, release_id: Uuid) -> StoreResult<i64> {
        self.read(|conn| {
            Ok(downloads::table
                .filter(downloads::release_id.eq(release_id.to_string()))
                .count()
                .get_result(conn)?)
        })
    }
}

/// The digests of `files` that no artifact uses any more.
fn unused(conn: &mut DbConn, files: &[ArtifactRow]) -> StoreResult<Vec<Sha256Digest>> {
    let mut out = Vec::new();
    for file in files {
        let n: i64 = artifacts::table.filter(artifacts::sha256.eq(&file.sha256)).count().get_result(conn)?;
        if n == 0 && !out.iter().any(|d: &Sha256Digest| d.to_hex() == file.sha256) {
            out.push(digest_of(file)?);
        }
    }
    Ok(out)
}

fn downloader_of(scope: Scope) -> StoreResult<Downloader> {
    match scope {
        Scope::Customer(id) => Ok(Downloader::Customer(id)),
        Scope::Ticket(id) => Ok(Downloader::Ticket(id)),
        Scope::Staff => Err(CoreError::new(ErrorCode::Forbidden).into()),
    }
}

/// The licenses a downloader holds (a machine: its activation's license, while the
/// activation is active), as entitlement needs them.
fn held_licenses(conn: &mut DbConn, downloader: Downloader) -> StoreResult<Vec<HeldLicense>> {
    type Held = (String, Option<NaiveDateTime>, Option<NaiveDateTime>, ItemRow, String);
    let query = licenses::table
        .inner_join(tickets::table)
        .inner_join(items::table.inner_join(products::table))
        .select((
            licenses::id,
            licenses::expires_at,
            licenses::revoked_at,
            ItemRow::as_select(),
            products::code,
        ))
        .into_boxed();
    let rows: Vec<Held> = match downloader {
        Downloader::Customer(id) => query.filter(tickets::customer_id.eq(id.to_string())).load(conn)?,
        Downloader::Ticket(id) => query.filter(tickets::id.eq(id.to_string())).load(conn)?,
        Downloader::Activation(id) => query
            .filter(
                licenses::id.nullable().eq_any(
                    activations::table
                        .filter(activations::id.eq(id.to_string()))
                        .filter(activations::state.eq(keyport_core::ActivationState::Active.as_str()))
                        .select(activations::license_id.nullable()),
                ),
            )
            .load(conn)?,
    };
    rows.into_iter()
        .map(|(id, expires_at, revoked_at, item, product)| {
            Ok(HeldLicense {
                license_id: uuid_of(&id)?,
                versions: versions_of(&item)?,
                sku: item.sku,
                product,
                ends_at: expires_at.map(utc),
                revoked: revoked_at.is_some(),
            })
        })
        .collect()
}

/// The releases of one product a downloader owns, newest first, with what entitlement needs.
struct Shelf {
    product_id: String,
    code: String,
    name: String,
    releases: Vec<(ReleaseRow, Vec<ArtifactRow>)>,
    items: Vec<ItemRow>,
    downloaded: HashSet<String>,
    /// Whether a license of the product is held that is not revoked: only then is the
    /// product owned (listed for downloads and updates).
    owned: bool,
}

impl Shelf {
    /// The license entitling the release, or core's refusal.
    fn entitlement(&self, row: &ReleaseRow, held: &[HeldLicense]) -> StoreResult<Result<Uuid, CoreError>> {
        let version = version_of(row)?;
        let major = version.major();
        let covering = self
            .items
            .iter()
            .filter(|i| versions_of(i).is_ok_and(|v| v.contains(major)))
            .map(|i| {
                Ok(release::CoveringItem {
                    sku: i.sku.clone(),
                    upgrade_from: crate::catalog::upgrade_from_of(i)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let upgrades = release::upgrade_hint(&covering, held);
        let Some(published_at) = row.published_at.map(utc) else {
            return Ok(Err(CoreError::not_found("release")));
        };
        let facts = ReleaseFacts { product: &self.code, version: &version, published_at };
        Ok(release::entitlement(facts, held, &upgrades))
    }

    /// The license by which the downloader may download the release now, if any.
    fn downloadable(&self, row: &ReleaseRow, held: &[HeldLicense]) -> StoreResult<Option<Uuid>> {
        let visible = match state_of(row)? {
            ReleaseState::Draft => false,
            ReleaseState::Published => true,
            ReleaseState::Yanked => {
                release::yanked_visible(row.keep_downloadable, self.downloaded.contains(&row.id))
            }
        };
        match visible {
            true => Ok(self.entitlement(row, held)?.ok()),
            false => Ok(None),
        }
    }
}

/// A shelf per product the downloader holds a license of, by product code.
fn shelves(
    conn: &mut DbConn,
    held: &[HeldLicense],
    only: Option<&str>,
) -> StoreResult<BTreeMap<String, Shelf>> {
    let codes: HashSet<&str> = held.iter().map(|l| l.product.as_str()).collect();
    let mut query = products::table.filter(products::code.eq_any(codes.iter().copied())).into_boxed();
    if let Some(id) = only {
        query = query.filter(products::id.eq(id.to_owned()));
    }
    let owned: Vec<ProductRow> = query.select(ProductRow::as_select()).load(conn)?;
    let mut out = BTreeMap::new();
    for product in owned {
        let rows: Vec<ReleaseRow> = releases::table
            .filter(releases::product_id.eq(&product.id))
            .filter(releases::state.ne(ReleaseState::Draft.as_str()))
            .select(ReleaseRow::as_select())
            .load(conn)?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let files = files_of(conn, &ids)?;
        let mut releases: Vec<(ReleaseVersion, ReleaseRow, Vec<ArtifactRow>)> = rows
            .into_iter()
            .map(|row| {
                let mine = files.iter().filter(|a| a.release_id == row.id).cloned().collect();
                Ok((version_of(&row)?, row, mine))
            })
            .collect::<StoreResult<_>>()?;
        releases.sort_by(|a, b| b.0.cmp(&a.0));
        let items: Vec<ItemRow> =
            items::table.filter(items::product_id.eq(&product.id)).select(ItemRow::as_select()).load(conn)?;
        let yanked: Vec<String> = releases
            .iter()
            .filter(|(_, r, _)| r.state == ReleaseState::Yanked.as_str() && r.keep_downloadable)
            .map(|(_, r, _)| r.id.clone())
            .collect();
        let downloaded = downloaded_before(conn, held, &yanked)?;
        out.insert(
            product.code.clone(),
            Shelf {
                product_id: product.id,
                code: product.code.clone(),
                name: product.name,
                releases: releases.into_iter().map(|(_, r, f)| (r, f)).collect(),
                items,
                downloaded,
                owned: held.iter().any(|l| l.product == product.code && !l.revoked),
            },
        );
    }
    Ok(out)
}

/// Which of `releases` were downloaded before under a license the downloader holds (by any
/// login: the customer, a ticket, a machine), while the download records are kept.
fn downloaded_before(
    conn: &mut DbConn,
    held: &[HeldLicense],
    releases: &[String],
) -> StoreResult<HashSet<String>> {
    if releases.is_empty() {
        return Ok(HashSet::new());
    }
    let licenses: Vec<String> = held.iter().map(|l| l.license_id.to_string()).collect();
    let found: Vec<String> = downloads::table
        .filter(downloads::release_id.eq_any(releases))
        .filter(downloads::license_id.eq_any(&licenses))
        .select(downloads::release_id)
        .distinct()
        .load(conn)?;
    Ok(found.into_iter().collect())
}

/// A file with its signed link.
fn link(
    file: &ArtifactRow,
    downloader: Downloader,
    links: &DownloadLinks,
    (kid, seed): &crate::certificates::SigningKey,
    now: DateTime<Utc>,
) -> StoreResult<DownloadableArtifact> {
    let expires = now + links.ttl;
    let claims = DownloadClaims { art: uuid_of(&file.id)?, sub: downloader, exp: expires.timestamp() };
    let token = release::sign_download(&claims, kid, seed)?;
    Ok(DownloadableArtifact {
        artifact: artifact_view(file)?,
        download_url: format!(
            "{}/downloads/{}/{}?token={token}",
            links.base,
            file.id,
            release::percent_encoded(&file.file_name)
        ),
        link_expires_at: chrono::SubsecRound::trunc_subsecs(expires, 0),
    })
}

/// A release offered as an update, with its file's link and signed manifest.
fn offer(
    product: &str,
    row: &ReleaseRow,
    file: &ArtifactRow,
    downloader: Downloader,
    links: &DownloadLinks,
    key: &crate::certificates::SigningKey,
    now: DateTime<Utc>,
) -> StoreResult<OfferedRelease> {
    let manifest = UpdateManifest {
        product: product.to_owned(),
        version: row.version.clone(),
        artifact_id: uuid_of(&file.id)?,
        file_name: file.file_name.clone(),
        os: os_of(file)?,
        arch: file.arch.clone(),
        size: u64::try_from(file.size).unwrap_or(0),
        sha256: file.sha256.clone(),
        iat: now.timestamp(),
    };
    Ok(OfferedRelease {
        release_id: uuid_of(&row.id)?,
        version: row.version.clone(),
        channel: row.channel.clone(),
        notes_en: row.notes_en.clone(),
        notes_de: row.notes_de.clone(),
        published_at: row.published_at.map(utc).unwrap_or_else(|| utc(row.created_at)),
        artifact: link(file, downloader, links, key, now)?,
        manifest: release::sign_manifest(&manifest, &key.0, &key.1)?,
    })
}
