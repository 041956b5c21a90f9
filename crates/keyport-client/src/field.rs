//! The commands of the software in the field: check-in with its offline queue, and usage
//! sessions.

use chrono::{DateTime, Utc};
use keyport_api::CheckInOutcome;
use keyport_client::{ClientError, Home, Machine, Server, client_report};
use keyport_core::certificate::CertificateClaims;
use keyport_core::checkin::{SessionEvent, Validity};
use uuid::Uuid;

use crate::{Field, SessionAction};

/// The installed license's claims: verified when the keys are here, else as written (the
/// server checks every statement anyway, and a certificate whose lease ran out must still
/// be able to check in).
fn installed(
    home: &Home,
    machine: &Machine,
    license: Option<Uuid>,
) -> Result<(Uuid, CertificateClaims), ClientError> {
    let (license, text) = home.certificate(license)?;
    let claims = machine
        .verify(&text, &home.jwks().unwrap_or_default(), Utc::now())
        .or_else(|_| crate::unverified_claims(&text))?;
    Ok((license, claims))
}

/// A failure worth trying again later: the network, or a server that cannot answer now.
fn temporary(e: &ClientError) -> bool {
    match e {
        ClientError::Network(_) => true,
        ClientError::Server { code, .. } => {
            matches!(code.as_str(), "unavailable" | "internal_error" | "rate_limited")
        }
        ClientError::Refused(_) | ClientError::Io(_) => false,
    }
}

fn lease(claims: &CertificateClaims) -> String {
    claims
        .checkin_until
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "its end".to_owned())
}

/// Sends the queued check-ins, oldest first; stops at the first temporary failure (the rest
/// wait for the next time). Ones the server refuses for good (a replay, too old) are
/// dropped. Answers (sent, dropped).
fn flush(home: &Home, server: &Server, license: Uuid) -> Result<(usize, usize), ClientError> {
    let (mut sent, mut dropped) = (0, 0);
    for (path, proof) in home.queued_check_ins(license)? {
        match server.check_in(&proof) {
            Ok(_) => sent += 1,
            Err(e) if temporary(&e) => break,
            Err(ClientError::Server { .. }) => dropped += 1,
            Err(e) => return Err(e),
        }
        home.unqueue(&path)?;
    }
    Ok((sent, dropped))
}

/// `keyport-client checkin`.
pub fn check_in(home: &Home, machine: &Machine, field: &Field) -> Result<(), ClientError> {
    let (license, claims) = installed(home, machine, field.license)?;
    let server = Server::new(&field.server);
    let report = client_report(&field.app_version);
    let (sent, dropped) = flush(home, &server, license)?;
    if sent + dropped > 0 {
        println!("sent {sent} queued check-ins ({dropped} refused for good and dropped)");
    }
    // The live check-in goes even when queued ones could not: the license must not run out
    // because of an old report (a queued one older than a taken live one is dropped later).
    let now = Utc::now();
    match server.check_in(&machine.check_in(&claims, &report, now, false)?) {
        Ok(outcome) => answered(home, license, &outcome),
        Err(e) if temporary(&e) => {
            let queued = machine.check_in(&claims, &report, now, true)?;
            home.queue_check_in(license, now.timestamp_millis(), &queued)?;
            let waiting = home.queued_check_ins(license)?.len();
            println!(
                "{e}; the check-in is kept and sent with the next one ({waiting} waiting); the certificate works until {}",
                lease(&claims)
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn answered(home: &Home, license: Uuid, outcome: &CheckInOutcome) -> Result<(), ClientError> {
    match outcome.validity {
        Validity::Active => {
            if let Some(certificate) = &outcome.certificate {
                home.save_certificate(license, certificate)?;
            }
            let until = outcome.checkin_until.map(|t| t.format("%Y-%m-%d").to_string());
            match until {
                Some(until) => println!("checked in: license {license} is active; check in again by {until}"),
                None => println!("checked in: license {license} is active"),
            }
            Ok(())
        }
        Validity::Pending => {
            println!("checked in: license {license} waits for its receipt (offline activation)");
            Ok(())
        }
        Validity::Revoked | Validity::SeatLost => {
            home.remove_certificate(license)?;
            home.remove_session(license)?;
            for (path, _) in home.queued_check_ins(license)? {
                home.unqueue(&path)?;
            }
            let why = if outcome.validity == Validity::Revoked {
                "was revoked"
            } else {
                "no longer holds a seat on this machine (deactivated, moved, or an emergency license that ended)"
            };
            Err(ClientError::Io(format!(
                "license {license} {why}; its certificate is removed from this machine"
            )))
        }
        Validity::Expired => Err(ClientError::Io(format!("license {license} has expired"))),
    }
}

/// `keyport-client session start|heartbeat|stop`.
pub fn session(home: &Home, machine: &Machine, action: &SessionAction) -> Result<(), ClientError> {
    let (field, event) = match action {
        SessionAction::Start { field } => (field, SessionEvent::Start),
        SessionAction::Heartbeat { field } => (field, SessionEvent::Heartbeat),
        SessionAction::Stop { field } => (field, SessionEvent::End),
    };
    let (license, claims) = installed(home, machine, field.license)?;
    let session = match (event, home.session(license)) {
        (SessionEvent::Start, _) => Uuid::now_v7(),
        (SessionEvent::Heartbeat | SessionEvent::End, Some(open)) => open,
        (SessionEvent::Heartbeat | SessionEvent::End, None) => {
            return Err(ClientError::Io(
                "no session is open for this license here; start one first".to_owned(),
            ));
        }
    };
    let report = client_report(&field.app_version);
    let outcome =
        Server::new(&field.server).usage_report(&machine.usage_report(&claims, session, event, &report)?)?;
    match (event, outcome.open) {
        (SessionEvent::Start, true) => {
            home.save_session(license, session)?;
            println!("session {session} started");
        }
        (SessionEvent::Start, false) => {
            return Err(ClientError::Io(format!(
                "no session started: the license is {:?} on this machine",
                outcome.validity
            )));
        }
        (SessionEvent::Heartbeat, true) => println!("session {session} goes on"),
        (SessionEvent::Heartbeat, false) => {
            home.remove_session(license)?;
            println!(
                "session {session} was closed by the server (no heartbeat for too long); start a new one"
            );
        }
        (SessionEvent::End, _) => {
            home.remove_session(license)?;
            println!("session {session} ended");
        }
    }
    Ok(())
}

/// The update the server offers for the installed license, if any (and says so), with the
/// installed license's product.
fn offered(
    home: &Home,
    machine: &Machine,
    field: &Field,
    channel: Option<&str>,
) -> Result<(Server, String, Option<keyport_api::OfferedRelease>), ClientError> {
    let (_, claims) = installed(home, machine, field.license)?;
    let server = Server::new(&field.server);
    let report = client_report(&field.app_version);
    let answer = server.update_check(&machine.update_check(&claims, &report, channel)?)?;
    let product = claims.product.clone();
    let Some(update) = answer.products.into_iter().next() else {
        println!("no release of {product} is offered for {} {}", report.os, report.arch);
        return Ok((server, product, None));
    };
    if let Some(upgrade) = &update.upgrade {
        println!("{} {} exists: {}", update.product, upgrade.version, upgrade.message);
    }
    match (update.latest, update.update_available) {
        (Some(latest), true) => {
            let file = &latest.artifact.artifact;
            println!(
                "update available: {} {} (installed {}): {} ({} bytes)",
                update.product, latest.version, field.app_version, file.file_name, file.size
            );
            Ok((server, product, Some(latest)))
        }
        (Some(_), false) => {
            println!(
                "up to date: {} {} is the newest release offered here",
                update.product, field.app_version
            );
            Ok((server, product, None))
        }
        (None, _) => {
            println!("no release of {} is offered for {} {}", update.product, report.os, report.arch);
            Ok((server, product, None))
        }
    }
}

/// `keyport-client update-check`.
pub fn update_check(
    home: &Home,
    machine: &Machine,
    field: &Field,
    channel: Option<&str>,
) -> Result<(), ClientError> {
    offered(home, machine, field, channel).map(drop)
}

/// The keys an update's manifest is checked with: those kept here (from the activation),
/// and only when they do not know the manifest's key, the server's (added to the kept ones,
/// never replacing them). A manifest that a kept key fails to verify is refused.
fn keys_for(
    home: &Home,
    server: &Server,
    manifest: &str,
) -> Result<keyport_core::certificate::Jwks, ClientError> {
    let kid = keyport_core::jws::Unverified::parse(manifest)?.header.kid.unwrap_or_default();
    let mut kept = home.jwks().unwrap_or_default();
    if kept.key(&kid).is_some() {
        return Ok(kept);
    }
    for key in server.jwks()?.keys {
        if !kept.keys.iter().any(|k| k.kid == key.kid) {
            kept.keys.push(key);
        }
    }
    home.save_jwks(&kept)?;
    Ok(kept)
}

/// `keyport-client download`.
pub fn download(
    home: &Home,
    machine: &Machine,
    field: &Field,
    channel: Option<&str>,
    out: &std::path::Path,
) -> Result<(), ClientError> {
    let (server, product, Some(latest)) = offered(home, machine, field, channel)? else {
        return Ok(());
    };
    let jwks = keys_for(home, &server, &latest.manifest)?;
    let report = client_report(&field.app_version);
    let expected = keyport_client::download::Expected {
        product: &product,
        installed: &field.app_version,
        os: &report.os,
        arch: &report.arch,
    };
    let manifest = keyport_client::download::verified_manifest(&latest, &jwks, &expected)?;
    let path = keyport_client::download::download(&server, &latest, &manifest, out)?;
    println!(
        "downloaded {} (SHA-256 {} verified against the signed manifest)",
        path.display(),
        manifest.sha256
    );
    Ok(())
}
