//! `keyport-client`: activate, verify and move a license on this machine, online or offline.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use keyport_client::home::read_jwks;
use keyport_client::{ClientError, Home, Server, Session};
use keyport_core::certificate::Jwks;
use uuid::Uuid;

mod field;

/// Activate, verify and move a Keyport license on this machine.
#[derive(Debug, Parser)]
#[command(name = "keyport-client", version, about)]
struct Cli {
    /// The client's folder [default: $KEYPORT_CLIENT_HOME, $XDG_DATA_HOME/keyport-client or ~/.local/share/keyport-client].
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// The product code the fingerprint is made for.
    #[arg(long, global = true, default_value = "default")]
    product: String,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// Where the public keys for verification come from.
#[derive(Debug, clap::Args)]
struct KeySource {
    /// A JWKS file bundled with the software.
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// Fetch the JWKS from this server (and keep it for offline use).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

/// A license of a ticket, on a server.
#[derive(Debug, clap::Args)]
struct Online {
    /// The server's base URL.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The ticket code.
    #[arg(long)]
    ticket: String,
    /// Which license of the ticket [default: the first].
    #[arg(long)]
    license: Option<Uuid>,
}

/// A license installed here, and the server it checks in with.
#[derive(Debug, clap::Args)]
struct Field {
    /// The server's base URL.
    #[arg(long, value_name = "URL")]
    server: String,
    /// Which license [default: the only one installed].
    #[arg(long)]
    license: Option<Uuid>,
    /// The version of the software that reports.
    #[arg(long = "app-version", value_name = "VERSION", default_value = env!("CARGO_PKG_VERSION"))]
    app_version: String,
}

/// What happens to a session of use.
#[derive(Debug, Subcommand)]
enum SessionAction {
    /// The software started: open a session (remembered here).
    Start {
        /// The server and the license.
        #[command(flatten)]
        field: Field,
    },
    /// The software still runs (send one every 15 minutes).
    Heartbeat {
        /// The server and the license.
        #[command(flatten)]
        field: Field,
    },
    /// The software ended: close the session.
    Stop {
        /// The server and the license.
        #[command(flatten)]
        field: Field,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show this machine's fingerprint and public key.
    Fingerprint,
    /// Activate a license of a ticket on this machine, online.
    Activate {
        /// The server, the ticket and the license.
        #[command(flatten)]
        online: Online,
    },
    /// Move a license from a machine that was lost (broken, stolen, wiped) to this one. It
    /// spends one re-activation credit; a reinstalled machine needs `activate` instead, free.
    Recover {
        /// The server, the ticket and the license.
        #[command(flatten)]
        online: Online,
        /// The lost machine's activation [default: the only active one].
        #[arg(long)]
        activation: Option<Uuid>,
    },
    /// Run a license on this machine for a few days while its machine is lost and a
    /// recovery is blocked (blocking period, or no credit left). Spends no credit.
    Emergency {
        /// The server, the ticket and the license.
        #[command(flatten)]
        online: Online,
        /// The lost machine's activation [default: the only active one].
        #[arg(long)]
        activation: Option<Uuid>,
    },
    /// Check in with the server: report the version and system, learn whether the license
    /// is still valid, and renew the certificate's check-in lease. Check-ins that cannot be
    /// sent are kept and sent, oldest first, by the next one. Fails when the license no
    /// longer runs here (revoked, expired, seat lost).
    Checkin {
        /// The server, the license and the version.
        #[command(flatten)]
        field: Field,
    },
    /// Report a session of use (start, heartbeat, stop).
    Session {
        /// What happens.
        #[command(subcommand)]
        action: SessionAction,
    },
    /// Ask for a demo of the product (`--product`) on this machine: it is activated here at
    /// once, and its ticket is mailed to the address.
    Demo {
        /// The server's base URL.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
        /// The mail's language: en or de.
        #[arg(long)]
        language: Option<String>,
    },
    /// Ask the server whether there is an update of the installed product for this OS and
    /// architecture (a statement signed by the machine key; no login).
    UpdateCheck {
        /// The server, the license and the installed version.
        #[command(flatten)]
        field: Field,
        /// The channel (`stable` when absent; others also get stable releases).
        #[arg(long)]
        channel: Option<String>,
    },
    /// Download the update the server offers into a folder: its signed manifest is verified,
    /// a broken download is resumed, and a file whose SHA-256 or size is not the manifest's
    /// is removed and refused.
    Download {
        /// The server, the license and the installed version.
        #[command(flatten)]
        field: Field,
        /// The channel (`stable` when absent).
        #[arg(long)]
        channel: Option<String>,
        /// Where the file goes.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Verify the installed certificate offline.
    Verify {
        /// Which license [default: the only one installed].
        #[arg(long)]
        license: Option<Uuid>,
        /// Where the keys come from [default: the copy kept from the server].
        #[command(flatten)]
        keys: KeySource,
    },
    /// Show the installed licenses and whether they verify.
    Status {
        /// Where the keys come from [default: the copy kept from the server].
        #[command(flatten)]
        keys: KeySource,
    },
    /// Give this machine's seat back: online, or as a proof file to upload elsewhere.
    Deactivate {
        /// Which license [default: the only one installed].
        #[arg(long)]
        license: Option<Uuid>,
        /// The server's base URL (online).
        #[arg(long, value_name = "URL", required_unless_present = "offline")]
        server: Option<String>,
        /// The ticket code (online).
        #[arg(long, required_unless_present = "offline")]
        ticket: Option<String>,
        /// Write a deactivation proof file instead of calling the server.
        #[arg(long, requires = "out")]
        offline: bool,
        /// Where to write the proof file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Offline: write an activation request file for a license.
    Request {
        /// The license to activate here.
        #[arg(long)]
        license: Uuid,
        /// Where to write the request file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Offline: install the certificate the portal returned, and write the receipt file.
    Import {
        /// The certificate file.
        #[arg(long, value_name = "FILE")]
        certificate: PathBuf,
        /// Where to write the receipt file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Where the keys come from [default: the copy kept from the server].
        #[command(flatten)]
        keys: KeySource,
    },
}

fn read(path: &PathBuf) -> Result<String, ClientError> {
    std::fs::read_to_string(path).map_err(|e| ClientError::Io(format!("cannot read {}: {e}", path.display())))
}

fn write(path: &PathBuf, text: &str) -> Result<(), ClientError> {
    std::fs::write(path, text).map_err(|e| ClientError::Io(format!("cannot write {}: {e}", path.display())))
}

fn keys(home: &Home, source: &KeySource) -> Result<Jwks, ClientError> {
    match (&source.jwks, &source.server) {
        (Some(path), _) => {
            // Kept, so later checks need no --jwks.
            let jwks = read_jwks(path)?;
            home.save_jwks(&jwks)?;
            Ok(jwks)
        }
        (None, Some(url)) => {
            let jwks = Server::new(url).jwks()?;
            home.save_jwks(&jwks)?;
            Ok(jwks)
        }
        (None, None) => home.jwks().map_err(|_| {
            ClientError::Io("no public keys here: pass --jwks FILE or --server URL once".to_owned())
        }),
    }
}

fn date(seconds: Option<i64>) -> String {
    seconds
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "never".to_owned())
}

/// The license named, or the ticket's first.
fn pick_license(server: &Server, session: &Session, named: Option<Uuid>) -> Result<Uuid, ClientError> {
    match named {
        Some(id) => Ok(id),
        None => server
            .licenses(session)?
            .first()
            .map(|l| l.id)
            .ok_or_else(|| ClientError::Io("this ticket holds no license".to_owned())),
    }
}

fn run(cli: Cli) -> Result<(), ClientError> {
    let home = Home::locate(cli.home.clone());
    let machine = home.machine(&cli.product)?;
    match cli.command {
        Command::Fingerprint => {
            println!("fingerprint: {}", machine.fingerprint.as_str());
            println!("machine key: {}", machine.key);
        }
        Command::Activate { online: Online { server, ticket, license } } => {
            let server = Server::new(&server);
            let session = server.ticket_login(&ticket)?;
            let license = pick_license(&server, &session, license)?;
            let activated = server.activate(&session, license, &machine)?;
            home.save_jwks(&server.jwks()?)?;
            home.save_certificate(license, &activated.certificate)?;
            let how = if activated.created { "activated" } else { "already active" };
            println!("{how}: license {license} on this machine (activation {})", activated.activation_id);
        }
        Command::Recover { online: Online { server, ticket, license }, activation } => {
            let server = Server::new(&server);
            let session = server.ticket_login(&ticket)?;
            let license = pick_license(&server, &session, license)?;
            let lost = lost_activation(&server, &session, license, &machine, activation)?;
            let recovered = server.recover(&session, license, lost, &machine)?;
            home.save_jwks(&server.jwks()?)?;
            home.save_certificate(license, &recovered.certificate)?;
            println!(
                "recovered: license {license} moved here from activation {lost} (new activation {})",
                recovered.activation_id
            );
        }
        Command::Emergency { online: Online { server, ticket, license }, activation } => {
            let server = Server::new(&server);
            let session = server.ticket_login(&ticket)?;
            let license = pick_license(&server, &session, license)?;
            let lost = lost_activation(&server, &session, license, &machine, activation)?;
            let emergency = server.emergency(&session, lost, &machine)?;
            home.save_jwks(&server.jwks()?)?;
            home.save_certificate(license, &emergency.certificate)?;
            println!(
                "emergency license: license {license} runs here until {} ({} more this year)",
                emergency.emergency_until.format("%Y-%m-%d %H:%M UTC"),
                emergency.left_this_year
            );
        }
        Command::Checkin { field } => field::check_in(&home, &machine, &field)?,
        Command::Session { action } => field::session(&home, &machine, &action)?,
        Command::UpdateCheck { field, channel } => {
            field::update_check(&home, &machine, &field, channel.as_deref())?;
        }
        Command::Download { field, channel, out } => {
            field::download(&home, &machine, &field, channel.as_deref(), &out)?;
        }
        Command::Demo { server, email, language } => {
            let server = Server::new(&server);
            let demo = server.demo(&cli.product, &email, language.as_deref(), &machine)?;
            home.save_jwks(&server.jwks()?)?;
            if let Some(activation) = &demo.activation {
                home.save_certificate(demo.license_id, &activation.certificate)?;
            }
            let until = demo.expires_at.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default();
            println!(
                "demo of {} activated on this machine until {until} (license {}); the ticket was mailed to {email}",
                demo.product_code, demo.license_id
            );
        }
        Command::Verify { license, keys: source } => {
            let jwks = keys(&home, &source)?;
            let (_, text) = home.certificate(license)?;
            let claims = machine.verify(&text, &jwks, Utc::now())?;
            println!(
                "valid: license {} of {} ({}), features [{}], expires {}",
                claims.sub,
                claims.item,
                claims.product,
                claims.features.join(", "),
                date(claims.exp)
            );
        }
        Command::Status { keys: source } => {
            let jwks = keys(&home, &source)?;
            let installed = home.certificates()?;
            if installed.is_empty() {
                println!("no license is installed on this machine");
            }
            for (license, text) in installed {
                match machine.verify(&text, &jwks, Utc::now()) {
                    Ok(c) => {
                        println!("{license}: valid, {} ({}), expires {}", c.item, c.product, date(c.exp))
                    }
                    Err(e) => println!("{license}: not valid: {e}"),
                }
            }
        }
        Command::Deactivate { license, server, ticket, offline, out } => {
            let (license, text) = home.certificate(license)?;
            let claims = machine
                .verify(&text, &home.jwks().unwrap_or_default(), Utc::now())
                .or_else(|_| unverified_claims(&text))?;
            let proof = machine.deactivation_proof(&claims)?;
            if offline {
                let out = out.ok_or_else(|| ClientError::Io("--out is required".to_owned()))?;
                write(&out, &proof)?;
                // The license leaves this machine now (the proof says so); a copy of the
                // proof stays here in case the file gets lost before it is uploaded.
                let kept = home.keep_proof(license, &proof)?;
                home.remove_certificate(license)?;
                println!(
                    "wrote {}: the license is removed from this machine now; upload the file in the portal to free the seat (a copy is kept in {})",
                    out.display(),
                    kept.display()
                );
            } else {
                let server = Server::new(server.as_deref().unwrap_or_default());
                let session = server.ticket_login(ticket.as_deref().unwrap_or_default())?;
                server.deactivate(&session, &proof)?;
                home.remove_certificate(license)?;
                println!("deactivated: license {license} is no longer on this machine");
            }
        }
        Command::Request { license, out } => {
            write(&out, &machine.activation_request(license)?)?;
            println!("wrote {}: upload it in the portal and bring back the certificate", out.display());
        }
        Command::Import { certificate, out, keys: source } => {
            let jwks = keys(&home, &source)?;
            let text = read(&certificate)?;
            let claims = machine.verify(&text, &jwks, Utc::now())?;
            home.save_certificate(claims.sub, &text)?;
            write(&out, &machine.receipt(&claims)?)?;
            println!(
                "installed license {}; wrote {}: upload it in the portal to finish",
                claims.sub,
                out.display()
            );
        }
    }
    Ok(())
}

/// The lost machine's activation: the one named, or the only active one of another machine.
fn lost_activation(
    server: &Server,
    session: &Session,
    license: Uuid,
    machine: &keyport_client::Machine,
    named: Option<Uuid>,
) -> Result<Uuid, ClientError> {
    if let Some(id) = named {
        return Ok(id);
    }
    let mine = machine.key.to_string();
    let active: Vec<_> = server
        .license(session, license)?
        .activations
        .into_iter()
        .filter(|a| {
            a.state == keyport_core::ActivationState::Active
                && a.machine_key != mine
                && a.emergency_until.is_none()
        })
        .collect();
    match active.as_slice() {
        [lost] => Ok(lost.id),
        [] => Err(ClientError::Io("no other machine holds this license".to_owned())),
        several => {
            let ids: Vec<String> = several.iter().map(|a| a.id.to_string()).collect();
            Err(ClientError::Io(format!(
                "several machines hold this license; name the lost one with --activation ({})",
                ids.join(", ")
            )))
        }
    }
}

/// The claims of an installed certificate without checking its signature: enough to name
/// the activation a deactivation proof gives back (the server checks everything).
pub(crate) fn unverified_claims(
    text: &str,
) -> Result<keyport_core::certificate::CertificateClaims, ClientError> {
    let compact = keyport_core::files::unarmor(keyport_core::files::FileKind::Certificate, text)?;
    Ok(keyport_core::jws::Unverified::parse(&compact)?.peek()?)
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyport-client: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
