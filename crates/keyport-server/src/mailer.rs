//! The mail worker: claims due mails from the outbox and sends them over SMTP, or writes
//! them as `.eml` files when no SMTP server is configured. A failure is recorded and tried
//! again later; the outbox keeps every mail until it is sent.

use std::path::PathBuf;
use std::time::Duration;

use keyport_store::Store;
use keyport_store::mail::OutgoingMail;
use lettre::message::header::ContentTransferEncoding;
use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::settings::{Settings, SmtpSettings};

/// Where mails go.
#[derive(Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a folder.
    Files(PathBuf),
}

/// The worker's configuration.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

fn smtp(s: &SmtpSettings) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let builder = match s.security.as_str() {
        "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
        "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)?,
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?,
        other => anyhow::bail!("smtp.security must be none, starttls or tls, not '{other}'"),
    };
    let builder = builder.port(s.port).timeout(Some(Duration::from_secs(10)));
    let builder = match (&s.username, &s.password) {
        (Some(user), Some(password)) => builder.credentials(Credentials::new(user.clone(), password.clone())),
        _ => builder,
    };
    Ok(builder.build())
}

/// The body: for SMTP as lettre chooses (quoted-printable for long lines); for `.eml`
/// files unencoded, so the links in them can be read and copied as they are.
fn body(text: &str, for_files: bool) -> Body {
    if for_files {
        Body::new_with_encoding(text.to_owned(), ContentTransferEncoding::Binary)
            .unwrap_or_else(|text| Body::new(String::from_utf8_lossy(&text).into_owned()))
    } else {
        Body::new(text.to_owned())
    }
}

impl Mailer {
    /// The mailer the settings describe.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Mailer> {
        let transport = match &settings.smtp {
            Some(s) => Transport::Smtp(smtp(s)?),
            None => Transport::Files(settings.data_dir.join("mail")),
        };
        let from = settings
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail_from '{}' is not a mail address: {e}", settings.mail_from))?;
        Ok(Mailer { transport, from })
    }

    async fn send(&self, mail: &OutgoingMail) -> anyhow::Result<()> {
        let mut builder =
            Message::builder().from(self.from.clone()).to(mail.to.parse()?).subject(&mail.subject);
        if let Some(url) = &mail.list_unsubscribe {
            // RFC 8058: a mail client's one-click unsubscribe POSTs to the URL.
            let name = |n: &'static str| HeaderName::new_from_ascii_str(n);
            builder = builder
                .raw_header(HeaderValue::new(name("List-Unsubscribe"), format!("<{url}>")))
                .raw_header(HeaderValue::new(
                    name("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(body(&mail.body, matches!(self.transport, Transport::Files(_))))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::Files(dir) => {
                // Mails hold one-time links: the folder and files are their owner's only.
                let (dir, path) = (dir.clone(), dir.join(format!("{}.eml", mail.id)));
                let text = message.formatted();
                tokio::task::spawn_blocking(move || {
                    keyport_store::files::owner_only_dir(&dir)?;
                    keyport_store::files::write_owner_only(&path, &text)
                })
                .await??;
            }
        }
        Ok(())
    }

    /// Sends due mails until the process stops.
    pub async fn run(self, store: Store) {
        loop {
            let claimed = {
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.claim_mail(store.now())).await
            };
            let mail = match claimed {
                Ok(Ok(Some(mail))) => mail,
                Ok(Ok(None)) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the outbox cannot be read");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the mail worker failed");
                    return;
                }
            };
            // A send must end well within the claim, or another instance could claim and
            // send the same mail again.
            let limit =
                Duration::from_secs(u64::try_from(keyport_store::mail::CLAIM_SECONDS / 2).unwrap_or(30));
            let outcome = match tokio::time::timeout(limit, self.send(&mail)).await {
                Ok(sent) => sent,
                Err(_) => {
                    Err(anyhow::anyhow!("the mail server did not answer within {} seconds", limit.as_secs()))
                }
            };
            let store = store.clone();
            let recorded = tokio::task::spawn_blocking(move || match outcome {
                Ok(()) => {
                    tracing::info!(mail = %mail.id, to = %mail.to, "mail sent");
                    store.mail_sent(&mail.id, store.now())
                }
                Err(e) => {
                    tracing::warn!(mail = %mail.id, attempt = mail.attempts + 1, error = %e, "mail not sent; will retry");
                    store.mail_failed(&mail.id, &e.to_string(), store.now())
                }
            })
            .await;
            if let Ok(Err(e)) = recorded {
                tracing::warn!(error = %e, "a mail's outcome could not be recorded");
            }
        }
    }
}
