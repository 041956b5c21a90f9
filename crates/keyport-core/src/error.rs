//! The error-code table and the error every layer above core carries.
//!
//! Policy: every "no" that reaches a person has a stable snake_case [`ErrorCode`], an HTTP
//! status, a SOAP fault side and a message in English and German. Messages name the facts
//! a person needs ("next re-activation available on 2027-03-01"); the facts travel as
//! named values in [`CoreError`] and are filled into the message when it is rendered.
//! Internal causes (database errors, I/O) never become facts: they are logged once by the
//! layer that met them and reach the caller as `internal_error`.

use std::collections::BTreeMap;
use std::fmt;

/// A language a message can be rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English, the default.
    #[default]
    En,
    /// German.
    De,
}

impl Lang {
    /// The language's code as accounts store it (`en`, `de`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The language of a stored code (`de`; anything else is English, the default).
    pub fn from_code(code: &str) -> Lang {
        if code == "de" { Lang::De } else { Lang::En }
    }

    /// Picks the first supported language from an `Accept-Language` header value.
    pub fn from_accept_language(header: &str) -> Lang {
        for part in header.split(',') {
            let tag = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if tag == "de" || tag.starts_with("de-") {
                return Lang::De;
            }
            if tag == "en" || tag.starts_with("en-") {
                return Lang::En;
            }
        }
        Lang::En
    }
}

/// Which side a SOAP fault blames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSide {
    /// The request was wrong (`soap:Client`).
    Client,
    /// The server could not do it (`soap:Server`).
    Server,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal, $side:ident, $en:literal, $de:literal), )*) => {
        /// Every stable error code Keyport answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The stable snake_case code.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status a REST answer carries.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// The side a SOAP fault blames.
            pub fn fault_side(self) -> FaultSide {
                match self { $(ErrorCode::$variant => FaultSide::$side,)* }
            }

            /// The message template; `{name}` is replaced by the fact of that name.
            pub fn template(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((ErrorCode::$variant, Lang::En) => $en,
                      (ErrorCode::$variant, Lang::De) => $de,)*
                }
            }
        }
    };
}

error_codes! {
    /// A field of the input is missing or has an invalid value.
    InvalidInput = ("invalid_input", 422, Client,
        "Invalid value for {field}: {reason}.",
        "Ungültiger Wert für {field}: {reason}."),
    /// The request could not be read at all (syntax, encoding).
    MalformedRequest = ("malformed_request", 400, Client,
        "The request could not be read: {reason}.",
        "Die Anfrage konnte nicht gelesen werden: {reason}."),
    /// The request body is larger than the documented limit.
    PayloadTooLarge = ("payload_too_large", 413, Client,
        "The request body is larger than the limit of {limit} bytes.",
        "Der Inhalt der Anfrage ist größer als die Grenze von {limit} Bytes."),
    /// The client sent its request too slowly.
    RequestTimeout = ("request_timeout", 408, Client,
        "The request was not received within {seconds} seconds; send it again.",
        "Die Anfrage ist nicht innerhalb von {seconds} Sekunden eingegangen; bitte senden Sie sie erneut."),
    /// A ticket code could not be read.
    InvalidTicketCode = ("invalid_ticket_code", 422, Client,
        "This is not a valid ticket code: {reason}.",
        "Das ist kein gültiger Ticket-Code: {reason}."),
    /// The resource does not exist or is not visible to the caller.
    NotFound = ("not_found", 404, Client,
        "No {resource} was found.",
        "Es wurde kein(e) {resource} gefunden."),
    /// The path exists, but not for this HTTP method.
    MethodNotAllowed = ("method_not_allowed", 405, Client,
        "This path does not answer {method}; it answers {allowed}.",
        "Dieser Pfad beantwortet {method} nicht, sondern {allowed}."),
    /// A request with the same Idempotency-Key is still running.
    IdempotencyKeyInUse = ("idempotency_key_in_use", 409, Client,
        "A request with this Idempotency-Key is still being processed; send it again in a moment to get its answer.",
        "Eine Anfrage mit diesem Idempotency-Key wird noch bearbeitet; senden Sie sie gleich noch einmal, um ihre Antwort zu erhalten."),
    /// An API key that must stay is not revoked.
    KeyRevocationRefused = ("key_revocation_refused", 409, Client,
        "This API key cannot be revoked: {reason}.",
        "Dieser API-Schlüssel kann nicht widerrufen werden: {reason}."),
    /// A resource with the same unique value exists already.
    AlreadyExists = ("already_exists", 409, Client,
        "A {resource} with this {field} exists already.",
        "Ein(e) {resource} mit diesem Wert für {field} existiert bereits."),
    /// An order line was sent again with other content.
    OrderLineConflict = ("order_line_conflict", 409, Client,
        "Order line {line_number} was sent before with other content; a line cannot change.",
        "Bestellposition {line_number} wurde bereits mit anderem Inhalt gesendet; eine Position kann sich nicht ändern."),
    /// The order was cancelled: it is final and takes no new lines.
    OrderCancelled = ("order_cancelled", 409, Client,
        "This order was cancelled on {date}; a cancelled order cannot take new lines.",
        "Diese Bestellung wurde am {date} storniert; eine stornierte Bestellung kann keine neuen Positionen aufnehmen."),
    /// The ticket belongs to a customer account already.
    TicketAlreadyRegistered = ("ticket_already_registered", 409, Client,
        "This ticket is registered to another customer account already.",
        "Dieses Ticket ist bereits einem anderen Kundenkonto zugeordnet."),
    /// Every seat of the license is in use.
    SeatsExhausted = ("seats_exhausted", 409, Client,
        "All {seats} seats of this license are in use; deactivate it on another machine first.",
        "Alle {seats} Plätze dieser Lizenz sind belegt; deaktivieren Sie sie zuerst auf einem anderen Rechner."),
    /// The license was revoked.
    LicenseRevoked = ("license_revoked", 409, Client,
        "This license was revoked.",
        "Diese Lizenz wurde widerrufen."),
    /// The license has expired.
    LicenseExpired = ("license_expired", 409, Client,
        "This license expired on {date}.",
        "Diese Lizenz ist am {date} abgelaufen."),
    /// The rule set does not allow deactivation.
    DeactivationNotAllowed = ("deactivation_not_allowed", 409, Client,
        "The rules of this license do not allow deactivation.",
        "Die Regeln dieser Lizenz erlauben keine Deaktivierung."),
    /// The activation is not active (any more).
    ActivationNotActive = ("activation_not_active", 409, Client,
        "This activation is not active; its state is {state}.",
        "Diese Aktivierung ist nicht aktiv; ihr Zustand ist {state}."),
    /// The machine holds an activation of this license already.
    MachineAlreadyActive = ("machine_already_active", 409, Client,
        "This machine holds an activation of this license already.",
        "Dieser Rechner hat bereits eine Aktivierung dieser Lizenz."),
    /// A recovery is blocked for a while after an activation.
    RecoveryBlocked = ("recovery_blocked", 409, Client,
        "The next re-activation is available on {date}.",
        "Die nächste Reaktivierung ist ab dem {date} möglich."),
    /// No re-activation credit is left.
    NoReactivationCredits = ("no_reactivation_credits", 409, Client,
        "No re-activation credit is left; the next one comes on {date}.",
        "Es ist kein Reaktivierungs-Guthaben übrig; das nächste kommt am {date}."),
    /// No re-activation credit is left and none will come by replenishment.
    ReactivationCreditsExhausted = ("reactivation_credits_exhausted", 409, Client,
        "No re-activation credit is left and the rules of this license give no more; support can grant one.",
        "Es ist kein Reaktivierungs-Guthaben übrig, und die Regeln dieser Lizenz geben keines mehr; der Support kann eines gewähren."),
    /// A signed file (request, receipt, proof) is unreadable or its signature is wrong.
    SignatureInvalid = ("signature_invalid", 422, Client,
        "The signature is not valid: {reason}.",
        "Die Signatur ist ungültig: {reason}."),
    /// A license certificate does not verify.
    CertificateInvalid = ("certificate_invalid", 422, Client,
        "The license certificate is not valid: {reason}.",
        "Das Lizenzzertifikat ist ungültig: {reason}."),
    /// A signed file was used before.
    Replayed = ("replayed", 409, Client,
        "This {file} was used before; write a new one.",
        "Diese Datei ({file}) wurde bereits verwendet; erzeugen Sie eine neue."),
    /// A proof or receipt names another machine than the activation's.
    WrongMachine = ("wrong_machine", 409, Client,
        "This file was signed by another machine than the one holding the activation.",
        "Diese Datei wurde von einem anderen Rechner signiert als dem, der die Aktivierung hält."),
    /// The rule set does not allow offline activation.
    OfflineNotAllowed = ("offline_not_allowed", 409, Client,
        "The rules of this license do not allow offline activation.",
        "Die Regeln dieser Lizenz erlauben keine Offline-Aktivierung."),
    /// Only subscription licenses can be renewed.
    NotASubscription = ("not_a_subscription", 409, Client,
        "This license is not a subscription and cannot be renewed.",
        "Diese Lizenz ist kein Abonnement und kann nicht verlängert werden."),
    /// A check-in or usage report was signed too far from the server's time.
    StaleProof = ("stale_proof", 422, Client,
        "This report was signed at {signed_at} and the server's time is {now}: a report is taken within {minutes} minutes of it, a queued check-in up to {days} days after it was signed. Check the computer's clock and send a new one.",
        "Diese Meldung wurde um {signed_at} signiert, die Serverzeit ist {now}: angenommen wird eine Meldung innerhalb von {minutes} Minuten, eine nachgereichte Anmeldung bis {days} Tage nach ihrer Signatur. Prüfen Sie die Uhr des Rechners und senden Sie eine neue."),
    /// The rule set gives no emergency licenses.
    EmergencyNotOffered = ("emergency_not_offered", 409, Client,
        "The rules of this license allow no emergency licenses.",
        "Die Regeln dieser Lizenz erlauben keine Notfall-Lizenzen."),
    /// An emergency license was asked for while a recovery is possible.
    RecoveryPossible = ("recovery_possible", 409, Client,
        "A recovery is possible now (re-activation credits left: {credits}); move the license with a recovery instead of an emergency license.",
        "Eine Wiederherstellung ist jetzt möglich (verbleibende Reaktivierungen: {credits}); übertragen Sie die Lizenz per Wiederherstellung statt mit einer Notfall-Lizenz."),
    /// An emergency license was asked for while a seat is free.
    ActivationPossible = ("activation_possible", 409, Client,
        "A seat of this license is free; activate the license on this machine instead of running an emergency license.",
        "Ein Platz dieser Lizenz ist frei; aktivieren Sie die Lizenz auf diesem Rechner, statt eine Notfall-Lizenz zu nutzen."),
    /// Every emergency license of the rolling year is used.
    EmergencyAllowanceUsed = ("emergency_allowance_used", 409, Client,
        "The emergency licenses of the last 365 days are used (allowed per year: {allowed}); the next is possible on {date}.",
        "Die Notfall-Lizenzen der letzten 365 Tage sind verbraucht (erlaubt pro Jahr: {allowed}); die nächste ist ab dem {date} möglich."),
    /// An emergency license of the license is running already.
    EmergencyRunning = ("emergency_running", 409, Client,
        "An emergency license of this license runs until {date} already; only one can run at a time.",
        "Eine Notfall-Lizenz dieser Lizenz läuft bereits bis zum {date}; es kann nur eine zur selben Zeit laufen."),
    /// An emergency license cannot itself be recovered.
    EmergencyNotRecoverable = ("emergency_not_recoverable", 409, Client,
        "An emergency license ends by itself and cannot be moved; recover the lost machine's activation instead.",
        "Eine Notfall-Lizenz endet von selbst und kann nicht übertragen werden; stellen Sie stattdessen die Aktivierung des verlorenen Rechners wieder her."),
    /// The product offers no self-service demo.
    DemoNotOffered = ("demo_not_offered", 404, Client,
        "No demo of the product '{product}' is offered.",
        "Für das Produkt '{product}' wird keine Demo angeboten."),
    /// A demo of the product was had before by this customer or on this machine.
    DemoAlreadyUsed = ("demo_already_used", 409, Client,
        "A demo of '{product}' was used before by this customer account, for this e-mail address or on this computer; there is one demo per customer, address and computer.",
        "Eine Demo von '{product}' wurde bereits von diesem Kundenkonto, für diese E-Mail-Adresse oder auf diesem Rechner genutzt; es gibt eine Demo pro Kunde, Adresse und Rechner."),
    /// Demos are not given to addresses of this domain.
    DemoDomainRefused = ("demo_domain_refused", 422, Client,
        "Demos are not given to addresses at {domain}; use another e-mail address.",
        "An Adressen bei {domain} werden keine Demos vergeben; verwenden Sie eine andere E-Mail-Adresse."),
    /// A machine has too many usage sessions open.
    TooManySessions = ("too_many_sessions", 429, Client,
        "This machine has {limit} usage sessions open already; end one before starting another.",
        "Auf diesem Rechner sind bereits {limit} Nutzungssitzungen offen; beenden Sie eine, bevor Sie eine weitere beginnen."),
    /// Keyport keeps no more webhook endpoints.
    TooManyEndpoints = ("too_many_endpoints", 409, Client,
        "There are {limit} webhook endpoints already; delete one before adding another.",
        "Es gibt bereits {limit} Webhook-Endpunkte; löschen Sie einen, bevor Sie einen weiteren anlegen."),
    /// Keyport keeps no more live offers.
    TooManyOffers = ("too_many_offers", 409, Client,
        "There are {limit} live offers already; withdraw one before adding another.",
        "Es gibt bereits {limit} laufende Angebote; ziehen Sie eines zurück, bevor Sie ein weiteres anlegen."),
    /// Keyport keeps no more live rewards.
    TooManyRewards = ("too_many_rewards", 409, Client,
        "There are {limit} live rewards already; withdraw one before adding another.",
        "Es gibt bereits {limit} laufende Prämien; ziehen Sie eine zurück, bevor Sie eine weitere anlegen."),
    /// A customer's bonus balance does not cover a redemption.
    InsufficientPoints = ("insufficient_points", 409, Client,
        "This needs {points} bonus points; the balance is {balance}. Nothing was deducted.",
        "Dafür sind {points} Bonuspunkte nötig; der Kontostand ist {balance}. Es wurde nichts abgebucht."),
    /// A coupon pool has no coupon left to hand out.
    CouponPoolEmpty = ("coupon_pool_empty", 409, Client,
        "The coupon pool '{pool}' has no coupons left; nothing was deducted. Try again later.",
        "Im Gutscheinpool '{pool}' sind keine Gutscheine mehr; es wurde nichts abgebucht. Versuchen Sie es später erneut."),
    /// A redemption reference was used before with other points.
    RedemptionConflict = ("redemption_conflict", 409, Client,
        "The reference '{reference}' was used for a redemption of {points} points before; use a new reference for another redemption.",
        "Die Referenz '{reference}' wurde bereits für eine Einlösung von {points} Punkten verwendet; verwenden Sie für eine weitere Einlösung eine neue Referenz."),
    /// The ordered item does not upgrade the license's item.
    UpgradeNotAllowed = ("upgrade_not_allowed", 409, Client,
        "License {license_id} is of item {license_sku}; {sku} upgrades only: {allowed}.",
        "Lizenz {license_id} gehört zum Artikel {license_sku}; {sku} ist nur ein Upgrade für: {allowed}."),
    /// More machines hold the license than the upgrade item allows.
    UpgradeSeats = ("upgrade_seats", 409, Client,
        "License {license_id} is active on {in_use} machines; {sku} allows {seats}: deactivate it on the others first.",
        "Lizenz {license_id} ist auf {in_use} Rechnern aktiv; {sku} erlaubt {seats}: deaktivieren Sie sie zuerst auf den anderen."),
    /// A withdrawn offer cannot change.
    OfferWithdrawn = ("offer_withdrawn", 409, Client,
        "This offer was withdrawn on {date} and cannot change; define a new one instead.",
        "Dieses Angebot wurde am {date} zurückgezogen und kann nicht mehr geändert werden; legen Sie stattdessen ein neues an."),
    /// A delivery to a disabled endpoint was asked for.
    EndpointDisabled = ("endpoint_disabled", 409, Client,
        "The webhook endpoint is disabled (the endpoint shows why); enable it before resending.",
        "Der Webhook-Endpunkt ist deaktiviert (der Endpunkt zeigt, warum); aktivieren Sie ihn vor dem erneuten Senden."),
    /// A link from a mail is unknown, used or expired.
    InvalidToken = ("invalid_token", 422, Client,
        "This link is not valid (any more); ask for a new one.",
        "Dieser Link ist (nicht mehr) gültig; fordern Sie einen neuen an."),
    /// The account's e-mail address is not confirmed yet.
    EmailNotVerified = ("email_not_verified", 403, Client,
        "Confirm your e-mail address with the link we sent before logging in.",
        "Bestätigen Sie Ihre E-Mail-Adresse mit dem gesendeten Link, bevor Sie sich anmelden."),
    /// A single sign-on token was refused.
    SsoTokenInvalid = ("sso_token_invalid", 401, Client,
        "The single sign-on token is not accepted: {reason}.",
        "Das Single-Sign-on-Token wird nicht akzeptiert: {reason}."),
    /// A release cannot make this change in its state.
    ReleaseState = ("release_state", 409, Client,
        "Release {version} is {state}: {reason}.",
        "Release {version} ist im Zustand {state}: {reason}."),
    /// No license of the customer entitles them to this release.
    NotEntitled = ("not_entitled", 403, Client,
        "None of your licenses entitles you to {product} {version}: {reason}.",
        "Keine Ihrer Lizenzen berechtigt Sie zu {product} {version}: {reason}."),
    /// A download link is forged, expired or for another file.
    DownloadLinkInvalid = ("download_link_invalid", 403, Client,
        "This download link is not valid: {reason}; get a new one from the list of downloads.",
        "Dieser Download-Link ist ungültig: {reason}; holen Sie einen neuen aus der Liste der Downloads."),
    /// A download's `Range` lies beyond the file.
    RangeNotSatisfiable = ("range_not_satisfiable", 416, Client,
        "The requested range lies beyond the end of the file ({size} bytes).",
        "Der angefragte Bereich liegt hinter dem Ende der Datei ({size} Bytes)."),
    /// An uploaded file's SHA-256 is not the one the uploader announced.
    HashMismatch = ("hash_mismatch", 422, Client,
        "The uploaded file's SHA-256 is {actual}, not {expected} as announced; nothing was stored.",
        "Die SHA-256-Prüfsumme der hochgeladenen Datei ist {actual}, nicht {expected} wie angekündigt; es wurde nichts gespeichert."),
    /// The caller did not authenticate, or the credentials are wrong.
    Unauthorized = ("unauthorized", 401, Client,
        "Authentication is required, or the credentials are not valid.",
        "Anmeldung erforderlich, oder die Anmeldedaten sind ungültig."),
    /// The caller may not do this.
    Forbidden = ("forbidden", 403, Client,
        "Your role may not do this.",
        "Ihre Rolle darf das nicht."),
    /// Too many requests.
    RateLimited = ("rate_limited", 429, Client,
        "Too many requests; try again in {seconds} seconds.",
        "Zu viele Anfragen; versuchen Sie es in {seconds} Sekunden erneut."),
    /// The service cannot do this now (database down, overload).
    Unavailable = ("unavailable", 503, Server,
        "The service is unavailable right now; try again shortly.",
        "Der Dienst ist gerade nicht verfügbar; versuchen Sie es gleich erneut."),
    /// Something failed inside the service; details are in its log.
    InternalError = ("internal_error", 500, Server,
        "Something went wrong on our side; it has been logged.",
        "Bei uns ist etwas schiefgegangen; es wurde protokolliert."),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal or an invalid input: a stable code plus the facts its message names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreError {
    code: ErrorCode,
    facts: BTreeMap<&'static str, String>,
}

impl CoreError {
    /// An error with a code and no facts yet.
    pub fn new(code: ErrorCode) -> Self {
        CoreError { code, facts: BTreeMap::new() }
    }

    /// Adds a named fact that the message shows.
    pub fn with(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        self.facts.insert(name, value.to_string());
        self
    }

    /// An `invalid_input` error naming the field and what is wrong with it.
    pub fn invalid(field: &'static str, reason: impl fmt::Display) -> Self {
        CoreError::new(ErrorCode::InvalidInput).with("field", field).with("reason", reason)
    }

    /// A `not_found` error naming the kind of resource.
    pub fn not_found(resource: &'static str) -> Self {
        CoreError::new(ErrorCode::NotFound).with("resource", resource)
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The named facts, for machine-readable answers.
    pub fn facts(&self) -> &BTreeMap<&'static str, String> {
        &self.facts
    }

    /// When to try again, in seconds (HTTP `Retry-After`): a rate limit says when its
    /// window ends; an unavailable database or a key in use is worth another try in a
    /// second; anything else not by itself.
    pub fn retry_after(&self) -> Option<String> {
        match self.code {
            ErrorCode::RateLimited => self.facts.get("seconds").cloned(),
            ErrorCode::Unavailable | ErrorCode::IdempotencyKeyInUse => Some("1".to_owned()),
            _ => None,
        }
    }

    /// The message for a person, in the given language.
    pub fn message(&self, lang: Lang) -> String {
        let mut out = self.code.template(lang).to_owned();
        for (name, value) in &self.facts {
            let translated = match lang {
                Lang::En => None,
                Lang::De => crate::phrases::german(value),
            };
            out = out.replace(&format!("{{{name}}}"), translated.as_deref().unwrap_or(value));
        }
        out
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message(Lang::En))
    }
}

impl std::error::Error for CoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(template: &str) -> Vec<String> {
        template
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }

    #[test]
    fn every_code_is_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert!(seen.insert(s), "duplicate code {s}");
        }
    }

    #[test]
    fn every_code_has_both_messages_with_the_same_facts() {
        for code in ErrorCode::ALL {
            let en = code.template(Lang::En);
            let de = code.template(Lang::De);
            assert!(!en.is_empty() && !de.is_empty(), "{code}");
            assert_ne!(en, de, "{code} has no German message");
            let mut en_names = placeholders(en);
            let mut de_names = placeholders(de);
            en_names.sort();
            de_names.sort();
            assert_eq!(en_names, de_names, "{code} names other facts in German");
        }
    }

    #[test]
    fn every_code_has_a_status_matching_its_fault_side() {
        for code in ErrorCode::ALL {
            let status = code.http_status();
            assert!((400..600).contains(&status), "{code}");
            let client = status < 500;
            assert_eq!(client, code.fault_side() == FaultSide::Client, "{code}");
        }
    }

    #[test]
    fn a_message_shows_its_facts() {
        let e = CoreError::new(ErrorCode::RecoveryBlocked).with("date", "2027-03-01");
        assert_eq!(e.message(Lang::En), "The next re-activation is available on 2027-03-01.");
        assert_eq!(e.message(Lang::De), "Die nächste Reaktivierung ist ab dem 2027-03-01 möglich.");
    }

    #[test]
    fn accept_language_picks_german_when_asked_first() {
        assert_eq!(Lang::from_accept_language("de-DE,de;q=0.9,en;q=0.8"), Lang::De);
        assert_eq!(Lang::from_accept_language("en-US,de;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr"), Lang::En);
    }
}
