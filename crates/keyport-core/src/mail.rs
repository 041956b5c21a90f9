//! The mails Keyport sends, composed in English and German. The lifetimes a mail states are
//! the ones its tokens are made with ([`Lifetime`]), and its links are the façade's routes
//! ([`MailLinks`]), so a mail never promises what the server does not do.

use chrono::Duration;

use crate::Lang;

/// How long a one-time token lives, as a number a person reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Hours.
    Hours(u32),
    /// Days.
    Days(u32),
}

impl Lifetime {
    /// The lifetime as a duration.
    pub fn duration(self) -> Duration {
        match self {
            Lifetime::Hours(h) => Duration::hours(i64::from(h)),
            Lifetime::Days(d) => Duration::days(i64::from(d)),
        }
    }

    /// "within 48 hours", "innerhalb von 48 Stunden", "within one hour", ...
    pub fn within(self, lang: Lang) -> String {
        match (self, lang) {
            (Lifetime::Hours(1), Lang::En) => "within one hour".to_owned(),
            (Lifetime::Hours(1), Lang::De) => "innerhalb einer Stunde".to_owned(),
            (Lifetime::Hours(n), Lang::En) => format!("within {n} hours"),
            (Lifetime::Hours(n), Lang::De) => format!("innerhalb von {n} Stunden"),
            (Lifetime::Days(1), Lang::En) => "within one day".to_owned(),
            (Lifetime::Days(1), Lang::De) => "innerhalb eines Tages".to_owned(),
            (Lifetime::Days(n), Lang::En) => format!("within {n} days"),
            (Lifetime::Days(n), Lang::De) => format!("innerhalb von {n} Tagen"),
        }
    }
}

/// How long an e-mail verification link works.
pub const VERIFY_LIFETIME: Lifetime = Lifetime::Hours(48);
/// How long a password-reset link works.
pub const RESET_LIFETIME: Lifetime = Lifetime::Hours(1);
/// How long an invitation to set a first password works.
pub const INVITE_LIFETIME: Lifetime = Lifetime::Days(14);
/// How long the link confirming marketing consent works.
pub const MARKETING_CONFIRM_LIFETIME: Lifetime = Lifetime::Days(7);

/// Where the links in mails point: the routes of the façade that serves them, each a URL
/// the token is appended to as `?token=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailLinks {
    /// Confirms an e-mail address.
    pub verify_email: String,
    /// Sets a password (after a reset, or a first one after an invitation).
    pub set_password: String,
    /// The portal's start page.
    pub portal: String,
    /// The portal page that confirms marketing consent (it posts the token to the API).
    pub confirm_marketing: String,
    /// The one-click unsubscribe endpoint (RFC 8058): a `POST` unsubscribes, a `GET` shows
    /// a page with the button.
    pub unsubscribe: String,
}

/// The mails Keyport sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mail<'a> {
    /// Confirm a new account's address.
    Verify {
        /// The one-time token.
        token: &'a str,
    },
    /// Set a new password.
    Reset {
        /// The one-time token.
        token: &'a str,
    },
    /// Set a first password for an account a shop made.
    Invite {
        /// The one-time token.
        token: &'a str,
    },
    /// Someone tried to register an address that has an account.
    AlreadyRegistered,
    /// Confirm that you want marketing mail (double opt-in).
    ConfirmMarketing {
        /// The one-time token.
        token: &'a str,
    },
    /// Marketing consent was confirmed: the first marketing mail, with its unsubscribe link.
    MarketingWelcome {
        /// The customer's unsubscribe token.
        unsubscribe: &'a str,
    },
    /// A demo was given to this address: its ticket, to log in with or register.
    DemoTicket {
        /// The product's code.
        product: &'a str,
        /// The ticket holding the demo, as shown to people.
        ticket_code: &'a str,
        /// The demo's length.
        days: u32,
    },
}

fn link(base: &str, token: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}token={token}")
}

/// The one-click unsubscribe URL of a marketing mail (for its `List-Unsubscribe` header,
/// RFC 8058); `None` for the mails an account needs.
pub fn list_unsubscribe(mail: &Mail<'_>, links: &MailLinks) -> Option<String> {
    match mail {
        Mail::MarketingWelcome { unsubscribe } => Some(link(&links.unsubscribe, unsubscribe)),
        Mail::Verify { .. }
        | Mail::Reset { .. }
        | Mail::Invite { .. }
        | Mail::AlreadyRegistered
        | Mail::ConfirmMarketing { .. }
        | Mail::DemoTicket { .. } => None,
    }
}

/// Subject and plain-text body of a mail in a language.
pub fn compose(mail: &Mail<'_>, links: &MailLinks, lang: Lang) -> (String, String) {
    match (mail, lang) {
        (Mail::Verify { token }, Lang::En) => (
            "Confirm your e-mail address".to_owned(),
            format!(
                "Welcome!\n\nPlease confirm your e-mail address by opening this link {}:\n\n{}\n\nIf you did not register, ignore this mail.\n",
                VERIFY_LIFETIME.within(lang),
                link(&links.verify_email, token)
            ),
        ),
        (Mail::Verify { token }, Lang::De) => (
            "Bestätigen Sie Ihre E-Mail-Adresse".to_owned(),
            format!(
                "Willkommen!\n\nBitte bestätigen Sie Ihre E-Mail-Adresse {} mit diesem Link:\n\n{}\n\nWenn Sie sich nicht registriert haben, ignorieren Sie diese E-Mail.\n",
                VERIFY_LIFETIME.within(lang),
                link(&links.verify_email, token)
            ),
        ),
        (Mail::Reset { token }, Lang::En) => (
            "Set a new password".to_owned(),
            format!(
                "Someone asked to reset the password of your account.\n\nSet a new one {} with this link:\n\n{}\n\nIf it was not you, ignore this mail; your password stays as it is.\n",
                RESET_LIFETIME.within(lang),
                link(&links.set_password, token)
            ),
        ),
        (Mail::Reset { token }, Lang::De) => (
            "Neues Passwort festlegen".to_owned(),
            format!(
                "Jemand hat das Zurücksetzen des Passworts Ihres Kontos angefordert.\n\nLegen Sie {} mit diesem Link ein neues fest:\n\n{}\n\nWaren Sie das nicht, ignorieren Sie diese E-Mail; Ihr Passwort bleibt unverändert.\n",
                RESET_LIFETIME.within(lang),
                link(&links.set_password, token)
            ),
        ),
        (Mail::Invite { token }, Lang::En) => (
            "Your license account is ready".to_owned(),
            format!(
                "An account with your licenses was made for you.\n\nSet your password {} with this link:\n\n{}\n",
                INVITE_LIFETIME.within(lang),
                link(&links.set_password, token)
            ),
        ),
        (Mail::Invite { token }, Lang::De) => (
            "Ihr Lizenzkonto ist bereit".to_owned(),
            format!(
                "Für Sie wurde ein Konto mit Ihren Lizenzen angelegt.\n\nLegen Sie {} mit diesem Link Ihr Passwort fest:\n\n{}\n",
                INVITE_LIFETIME.within(lang),
                link(&links.set_password, token)
            ),
        ),
        (Mail::AlreadyRegistered, Lang::En) => (
            "You already have an account".to_owned(),
            format!(
                "Someone tried to register with this e-mail address, which has an account already.\n\nIf you forgot your password, ask for a new one at {}.\n",
                links.portal
            ),
        ),
        (Mail::AlreadyRegistered, Lang::De) => (
            "Sie haben bereits ein Konto".to_owned(),
            format!(
                "Jemand wollte sich mit dieser E-Mail-Adresse registrieren, zu der es bereits ein Konto gibt.\n\nWenn Sie Ihr Passwort vergessen haben, fordern Sie unter {} ein neues an.\n",
                links.portal
            ),
        ),
        (Mail::ConfirmMarketing { token }, Lang::En) => (
            "Confirm your newsletter subscription".to_owned(),
            format!(
                "You asked for news and offers about your software by e-mail.\n\nPlease confirm {} with this link:\n\n{}\n\nIf you did not ask for it, ignore this mail: you will get no newsletter.\n",
                MARKETING_CONFIRM_LIFETIME.within(lang),
                link(&links.confirm_marketing, token)
            ),
        ),
        (Mail::ConfirmMarketing { token }, Lang::De) => (
            "Bestätigen Sie Ihr Newsletter-Abonnement".to_owned(),
            format!(
                "Sie möchten Neuigkeiten und Angebote zu Ihrer Software per E-Mail erhalten.\n\nBitte bestätigen Sie das {} mit diesem Link:\n\n{}\n\nWenn Sie das nicht angefordert haben, ignorieren Sie diese E-Mail: Sie erhalten keinen Newsletter.\n",
                MARKETING_CONFIRM_LIFETIME.within(lang),
                link(&links.confirm_marketing, token)
            ),
        ),
        (Mail::MarketingWelcome { unsubscribe }, Lang::En) => (
            "You are subscribed".to_owned(),
            format!(
                "Thank you: you will get news and offers about your software by e-mail.\n\nTo unsubscribe at any time, open:\n\n{}\n",
                link(&links.unsubscribe, unsubscribe)
            ),
        ),
        (Mail::MarketingWelcome { unsubscribe }, Lang::De) => (
            "Ihr Abonnement ist bestätigt".to_owned(),
            format!(
                "Vielen Dank: Sie erhalten Neuigkeiten und Angebote zu Ihrer Software per E-Mail.\n\nAbmelden können Sie sich jederzeit hier:\n\n{}\n",
                link(&links.unsubscribe, unsubscribe)
            ),
        ),
        (Mail::DemoTicket { product, ticket_code, days }, Lang::En) => (
            format!("Your demo of {product}"),
            format!(
                "Your demo of {product} runs for {days} days on the computer it was requested on.\n\nIts ticket is {ticket_code}. Log in with it, or register it to your account, at {}.\n\nIf you did not ask for a demo, ignore this mail.\n",
                links.portal
            ),
        ),
        (Mail::DemoTicket { product, ticket_code, days }, Lang::De) => (
            format!("Ihre Demo von {product}"),
            format!(
                "Ihre Demo von {product} läuft {days} Tage auf dem Rechner, auf dem sie angefordert wurde.\n\nIhr Ticket lautet {ticket_code}. Melden Sie sich damit an oder ordnen Sie es Ihrem Konto zu unter {}.\n\nWenn Sie keine Demo angefordert haben, ignorieren Sie diese E-Mail.\n",
                links.portal
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> MailLinks {
        MailLinks {
            verify_email: "https://l.example/api/v1/auth/verify-email".to_owned(),
            set_password: "https://l.example/reset-password".to_owned(),
            portal: "https://l.example".to_owned(),
            confirm_marketing: "https://l.example/newsletter/confirm".to_owned(),
            unsubscribe: "https://l.example/api/v1/unsubscribe".to_owned(),
        }
    }

    #[test]
    fn every_mail_states_the_lifetime_its_token_has_and_carries_its_link() {
        for lang in [Lang::En, Lang::De] {
            for (mail, lifetime, base) in [
                (Mail::Verify { token: "t0k3n" }, Some(VERIFY_LIFETIME), links().verify_email),
                (Mail::Reset { token: "t0k3n" }, Some(RESET_LIFETIME), links().set_password),
                (Mail::Invite { token: "t0k3n" }, Some(INVITE_LIFETIME), links().set_password),
                (
                    Mail::ConfirmMarketing { token: "t0k3n" },
                    Some(MARKETING_CONFIRM_LIFETIME),
                    links().confirm_marketing,
                ),
                (Mail::AlreadyRegistered, None, links().portal),
                (Mail::DemoTicket { product: "cad", ticket_code: "ABCDE", days: 30 }, None, links().portal),
            ] {
                let (subject, body) = compose(&mail, &links(), lang);
                assert!(!subject.is_empty());
                if let Some(lifetime) = lifetime {
                    assert!(body.contains(&lifetime.within(lang)), "{lang:?} {mail:?}: {body}");
                    assert!(body.contains(&format!("{base}?token=t0k3n")), "{body}");
                } else {
                    assert!(body.contains(&base), "{body}");
                }
            }
        }
    }

    #[test]
    fn only_marketing_mail_carries_an_unsubscribe_link_and_its_body_names_it() {
        let welcome = Mail::MarketingWelcome { unsubscribe: "abc.def" };
        let url = list_unsubscribe(&welcome, &links());
        assert_eq!(url.as_deref(), Some("https://l.example/api/v1/unsubscribe?token=abc.def"));
        for lang in [Lang::En, Lang::De] {
            assert!(compose(&welcome, &links(), lang).1.contains(url.as_deref().unwrap_or("-")));
        }
        assert_eq!(list_unsubscribe(&Mail::ConfirmMarketing { token: "t" }, &links()), None);
        assert_eq!(list_unsubscribe(&Mail::Reset { token: "t" }, &links()), None);
    }

    #[test]
    fn lifetimes_read_as_people_write_them() {
        assert_eq!(Lifetime::Hours(1).within(Lang::En), "within one hour");
        assert_eq!(Lifetime::Hours(48).within(Lang::De), "innerhalb von 48 Stunden");
        assert_eq!(Lifetime::Days(14).within(Lang::De), "innerhalb von 14 Tagen");
        assert_eq!(RESET_LIFETIME.duration(), Duration::hours(1));
    }
}
