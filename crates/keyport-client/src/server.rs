//! The online calls, over the REST API, with the contract's own types (`keyport-api`): an
//! answer missing a field is an error that says so, never an empty value.

use keyport_api::{
    ActivationOutcome, CheckInOutcome, DemoOutcome, DemoRequest, EmergencyOutcome, EmergencyRequest,
    LicenseView, MachineRequest, SessionOutcome, SignedFileRequest, SignedReportRequest, TicketLoginRequest,
    TokenResponse,
};
use keyport_core::certificate::Jwks;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{ClientError, Machine};

/// A Keyport server.
pub struct Server {
    base: String,
    http: reqwest::blocking::Client,
}

/// A logged-in session (by ticket).
pub struct Session {
    token: String,
}

/// An activation the server made, with its certificate file.
#[derive(Debug, Clone)]
pub struct Activated {
    /// The license.
    pub license_id: Uuid,
    /// The activation.
    pub activation_id: Uuid,
    /// Whether a seat was taken now (false: this machine had it already).
    pub created: bool,
    /// The certificate file.
    pub certificate: String,
}

impl Activated {
    fn from(license_id: Uuid, outcome: ActivationOutcome) -> Activated {
        Activated {
            license_id,
            activation_id: outcome.activation.id,
            created: outcome.created,
            certificate: outcome.certificate,
        }
    }
}

/// A problem document, as far as the client shows it.
#[derive(serde::Deserialize)]
struct Problem {
    code: String,
    detail: String,
}

/// No body.
const NONE: Option<&()> = None;

impl Server {
    /// A server by its base URL, e.g. `https://licenses.example.com`.
    pub fn new(base: &str) -> Server {
        Server { base: base.trim_end_matches('/').to_owned(), http: reqwest::blocking::Client::new() }
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "POST" => self.http.post(&url),
            _ => self.http.get(&url),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().map_err(|e| ClientError::Network(e.to_string()))?;
        let status = response.status();
        let text = response.text().map_err(|e| ClientError::Network(e.to_string()))?;
        if !status.is_success() {
            return Err(match serde_json::from_str::<Problem>(&text) {
                Ok(problem) => ClientError::Server { code: problem.code, detail: problem.detail },
                Err(_) => {
                    ClientError::Network(format!("the server answered {status} without a problem document"))
                }
            });
        }
        serde_json::from_str(&text)
            .map_err(|e| ClientError::Network(format!("unexpected answer from {path}: {e}")))
    }

    /// Logs in with a ticket code.
    pub fn ticket_login(&self, ticket: &str) -> Result<Session, ClientError> {
        let body = TicketLoginRequest { ticket_code: ticket.to_owned() };
        let tokens: TokenResponse = self.call("POST", "/api/v1/auth/ticket-login", None, Some(&body))?;
        Ok(Session { token: tokens.access_token })
    }

    /// The licenses the session sees.
    pub fn licenses(&self, session: &Session) -> Result<Vec<LicenseView>, ClientError> {
        self.call("GET", "/api/v1/me/licenses", Some(&session.token), NONE)
    }

    /// One license the session sees, with its activations.
    pub fn license(&self, session: &Session, license: Uuid) -> Result<LicenseView, ClientError> {
        self.call("GET", &format!("/api/v1/me/licenses/{license}"), Some(&session.token), NONE)
    }

    /// Activates a license on this machine.
    pub fn activate(
        &self,
        session: &Session,
        license: Uuid,
        machine: &Machine,
    ) -> Result<Activated, ClientError> {
        let path = format!("/api/v1/me/licenses/{license}/activations");
        let outcome: ActivationOutcome =
            self.call("POST", &path, Some(&session.token), Some(&body_of(machine)))?;
        Ok(Activated::from(license, outcome))
    }

    /// Moves the seat of a lost machine's activation to this machine; it spends one
    /// re-activation credit.
    pub fn recover(
        &self,
        session: &Session,
        license: Uuid,
        lost_activation: Uuid,
        machine: &Machine,
    ) -> Result<Activated, ClientError> {
        let path = format!("/api/v1/me/activations/{lost_activation}/recovery");
        let outcome: ActivationOutcome =
            self.call("POST", &path, Some(&session.token), Some(&body_of(machine)))?;
        Ok(Activated::from(license, outcome))
    }

    /// Sends a deactivation proof.
    pub fn deactivate(&self, session: &Session, proof: &str) -> Result<(), ClientError> {
        let body = SignedFileRequest { file: proof.to_owned() };
        let _: keyport_api::ActivationView =
            self.call("POST", "/api/v1/me/deactivations", Some(&session.token), Some(&body))?;
        Ok(())
    }

    /// Sends a signed check-in (no login needed).
    pub fn check_in(&self, proof: &str) -> Result<CheckInOutcome, ClientError> {
        let body = SignedReportRequest { proof: proof.to_owned() };
        self.call("POST", "/api/v1/checkins", None, Some(&body))
    }

    /// Sends a signed update check (no login needed).
    pub fn update_check(&self, proof: &str) -> Result<keyport_api::UpdatesView, ClientError> {
        let body = SignedReportRequest { proof: proof.to_owned() };
        self.call("POST", "/api/v1/update-checks", None, Some(&body))
    }

    /// Fetches `url` (a download link) of a file of `size` bytes into `file`, from byte
    /// `from` on when it is not 0 (`If-Range: etag`, so a changed file starts over). Never
    /// writes more than the file's size. Answers whether the file was appended to (206)
    /// rather than written from its start (200).
    pub fn fetch(
        &self,
        url: &str,
        (from, size): (u64, u64),
        etag: &str,
        file: &mut std::fs::File,
    ) -> Result<bool, ClientError> {
        let io = |e: std::io::Error| ClientError::Io(e.to_string());
        let mut request = self.http.get(url).timeout(std::time::Duration::from_secs(24 * 3600));
        if from > 0 {
            request = request.header("Range", format!("bytes={from}-")).header("If-Range", etag);
        }
        let mut response = request.send().map_err(|e| ClientError::Network(e.to_string()))?;
        let status = response.status().as_u16();
        if !matches!(status, 200 | 206) {
            let text = response.text().map_err(|e| ClientError::Network(e.to_string()))?;
            return Err(match serde_json::from_str::<Problem>(&text) {
                Ok(problem) => ClientError::Server { code: problem.code, detail: problem.detail },
                Err(_) => ClientError::Network(format!("the download answered {status}")),
            });
        }
        let appended = status == 206;
        if appended {
            // The part must start where the file on disk ends.
            let range =
                response.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !range.starts_with(&format!("bytes {from}-")) {
                return Err(ClientError::Network(format!(
                    "the server sent another part ({range}) than asked"
                )));
            }
        } else {
            file.set_len(0).map_err(io)?;
        }
        std::io::Seek::seek(file, std::io::SeekFrom::End(0)).map_err(io)?;
        let left = size - if appended { from } else { 0 };
        let copied = std::io::copy(&mut std::io::Read::take(&mut response, left + 1), file)
            .map_err(|e| ClientError::Network(format!("the download broke off: {e}")))?;
        if copied > left {
            return Err(ClientError::Network("the server sent more than the file's size".to_owned()));
        }
        Ok(appended)
    }

    /// Sends a signed usage report (no login needed).
    pub fn usage_report(&self, proof: &str) -> Result<SessionOutcome, ClientError> {
        let body = SignedReportRequest { proof: proof.to_owned() };
        self.call("POST", "/api/v1/usage-reports", None, Some(&body))
    }

    /// Asks for a demo of a product on this machine, for an e-mail address (the ticket is
    /// mailed there).
    pub fn demo(
        &self,
        product: &str,
        email: &str,
        language: Option<&str>,
        machine: &Machine,
    ) -> Result<DemoOutcome, ClientError> {
        let body = DemoRequest {
            product_code: product.to_owned(),
            email: email.to_owned(),
            language: language.map(str::to_owned),
            machine: body_of(machine),
        };
        self.call("POST", "/api/v1/demos", None, Some(&body))
    }

    /// Runs a license on this machine as an emergency license while the machine of
    /// `lost_activation` is lost and a recovery is blocked.
    pub fn emergency(
        &self,
        session: &Session,
        lost_activation: Uuid,
        machine: &Machine,
    ) -> Result<EmergencyOutcome, ClientError> {
        let path = format!("/api/v1/me/activations/{lost_activation}/emergency");
        let body = EmergencyRequest { machine: body_of(machine) };
        self.call("POST", &path, Some(&session.token), Some(&body))
    }

    /// The server's public keys.
    pub fn jwks(&self) -> Result<Jwks, ClientError> {
        self.call("GET", "/.well-known/jwks.json", None, NONE)
    }
}

fn body_of(machine: &Machine) -> MachineRequest {
    MachineRequest {
        fingerprint: machine.fingerprint.as_str().to_owned(),
        machine_key: machine.key.to_string(),
    }
}
