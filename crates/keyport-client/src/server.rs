//! The online calls, over the REST API.

use keyport_core::certificate::Jwks;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
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
        body: Option<Value>,
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
            request = request.json(&body);
        }
        let response = request.send().map_err(|e| ClientError::Network(e.to_string()))?;
        let status = response.status();
        let value: Value = response.json().map_err(|e| ClientError::Network(e.to_string()))?;
        if !status.is_success() {
            return Err(ClientError::Server {
                code: value["code"].as_str().unwrap_or("unknown").to_owned(),
                detail: value["detail"].as_str().unwrap_or("the server refused").to_owned(),
            });
        }
        serde_json::from_value(value).map_err(|e| ClientError::Network(format!("unexpected answer: {e}")))
    }

    /// Logs in with a ticket code.
    pub fn ticket_login(&self, ticket: &str) -> Result<Session, ClientError> {
        let answer: Value =
            self.call("POST", "/api/v1/auth/ticket-login", None, Some(json!({"ticket_code": ticket})))?;
        let token = answer["access_token"].as_str().unwrap_or_default().to_owned();
        Ok(Session { token })
    }

    /// The licenses the session sees: (id, sku, state).
    pub fn licenses(&self, session: &Session) -> Result<Vec<(Uuid, String, String)>, ClientError> {
        let list: Vec<Value> = self.call("GET", "/api/v1/me/licenses", Some(&session.token), None)?;
        Ok(list
            .iter()
            .filter_map(|l| {
                let id = Uuid::parse_str(l["id"].as_str()?).ok()?;
                Some((id, l["sku"].as_str()?.to_owned(), l["state"].as_str()?.to_owned()))
            })
            .collect())
    }

    /// Activates a license on this machine.
    pub fn activate(
        &self,
        session: &Session,
        license: Uuid,
        machine: &Machine,
    ) -> Result<Activated, ClientError> {
        let body =
            json!({"fingerprint": machine.fingerprint.as_str(), "machine_key": machine.key.to_string()});
        let answer: Value = self.call(
            "POST",
            &format!("/api/v1/me/licenses/{license}/activations"),
            Some(&session.token),
            Some(body),
        )?;
        Ok(Activated {
            license_id: license,
            activation_id: Uuid::parse_str(answer["activation"]["id"].as_str().unwrap_or_default())
                .map_err(|e| ClientError::Network(format!("unexpected answer: {e}")))?,
            created: answer["created"].as_bool().unwrap_or(false),
            certificate: answer["certificate"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// The activations of a license: (activation id, machine key, state).
    pub fn activations(
        &self,
        session: &Session,
        license: Uuid,
    ) -> Result<Vec<(Uuid, String, String)>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Activation {
            id: Uuid,
            machine_key: String,
            state: String,
        }
        #[derive(serde::Deserialize)]
        struct License {
            activations: Vec<Activation>,
        }
        let license: License =
            self.call("GET", &format!("/api/v1/me/licenses/{license}"), Some(&session.token), None)?;
        Ok(license.activations.into_iter().map(|a| (a.id, a.machine_key, a.state)).collect())
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
        #[derive(serde::Deserialize)]
        struct Activation {
            id: Uuid,
        }
        #[derive(serde::Deserialize)]
        struct Outcome {
            activation: Activation,
            created: bool,
            certificate: String,
        }
        let body =
            json!({"fingerprint": machine.fingerprint.as_str(), "machine_key": machine.key.to_string()});
        let outcome: Outcome = self.call(
            "POST",
            &format!("/api/v1/me/activations/{lost_activation}/recovery"),
            Some(&session.token),
            Some(body),
        )?;
        Ok(Activated {
            license_id: license,
            activation_id: outcome.activation.id,
            created: outcome.created,
            certificate: outcome.certificate,
        })
    }

    /// Sends a deactivation proof.
    pub fn deactivate(&self, session: &Session, proof: &str) -> Result<(), ClientError> {
        let _: Value = self.call(
            "POST",
            "/api/v1/me/deactivations",
            Some(&session.token),
            Some(json!({"file": proof})),
        )?;
        Ok(())
    }

    /// The server's public keys.
    pub fn jwks(&self) -> Result<Jwks, ClientError> {
        self.call("GET", "/.well-known/jwks.json", None, None)
    }
}
