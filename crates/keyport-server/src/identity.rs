//! Builds the REST façade's identity settings: mail links, limits and SSO issuers.

use jsonwebtoken::Algorithm;
use keyport_rest::sso::Issuer;
use keyport_rest::{Identity, Limits};
use keyport_store::Limit;

use crate::settings::{Settings, SsoSettings};

fn algorithm(name: &str) -> anyhow::Result<Algorithm> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        "HS256" => Algorithm::HS256,
        other => anyhow::bail!("the SSO algorithm '{other}' is not supported (RS256, ES256, EdDSA, HS256)"),
    })
}

fn issuer(s: &SsoSettings) -> anyhow::Result<Issuer> {
    let algorithms = s.algorithms.iter().map(|a| algorithm(a)).collect::<anyhow::Result<Vec<_>>>()?;
    match (&s.secret, &s.jwks_file, &s.jwks_url) {
        (Some(secret), None, None) => Ok(Issuer::with_secret(&s.issuer, &s.audience, secret.as_bytes())),
        (None, Some(file), None) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                anyhow::anyhow!("SSO issuer {}: cannot read {}: {e}", s.issuer, file.display())
            })?;
            Issuer::with_jwks(&s.issuer, &s.audience, algorithms, &text).map_err(anyhow::Error::msg)
        }
        (None, None, Some(url)) => {
            // A plain thread: the blocking client must not run on an async worker.
            let fetch_url = url.clone();
            let text = std::thread::spawn(move || {
                reqwest::blocking::get(&fetch_url).and_then(|r| r.error_for_status()).and_then(|r| r.text())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("SSO issuer {}: fetching {url} failed", s.issuer))?
            .map_err(|e| anyhow::anyhow!("SSO issuer {}: cannot fetch {url}: {e}", s.issuer))?;
            Issuer::with_jwks(&s.issuer, &s.audience, algorithms, &text).map_err(anyhow::Error::msg)
        }
        _ => anyhow::bail!("SSO issuer {}: give exactly one of secret, jwks_file, jwks_url", s.issuer),
    }
}

/// The identity settings for the REST façade.
pub fn identity(settings: &Settings) -> anyhow::Result<Identity> {
    let l = &settings.limits;
    let window = chrono::Duration::minutes(l.window_minutes.max(1));
    let limit = |max| Limit { max, window };
    Ok(Identity {
        links: settings
            .mail_links
            .apply(keyport_rest::mail_links(
                &settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.listen)),
            ))
            .map_err(anyhow::Error::msg)?,
        limits: Limits {
            login_per_account: limit(l.login_failures_per_account),
            login_per_address: limit(l.login_failures_per_address),
            ticket_login_per_address: limit(l.ticket_logins_per_address),
            reset_per_address: limit(l.reset_requests_per_address),
            register_per_address: limit(l.registrations_per_address),
            mails_per_account: limit(l.mails_per_account),
            demos_total: Limit { max: l.demos_per_hour, window: chrono::Duration::hours(1) },
        },
        issuers: settings.sso.iter().map(issuer).collect::<anyhow::Result<Vec<_>>>()?,
        demo: keyport_core::demo::DemoPolicy { refused_domains: settings.demo.refused_domains.clone() },
        private_webhooks: settings.webhooks.allow_private_addresses,
    })
}
