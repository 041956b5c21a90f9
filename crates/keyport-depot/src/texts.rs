//! Every word the depot shows, in English and German. A theme may override any of them per
//! language (`texts.en.toml`, `texts.de.toml`); an unknown key there is refused at start.

use std::collections::BTreeMap;

use keyport_core::Lang;

/// (key, English, German).
pub(crate) const TEXTS: &[(&str, &str, &str)] = &[
    ("site_title", "License depot", "Lizenz-Depot"),
    ("skip_to_content", "Skip to content", "Zum Inhalt springen"),
    ("language", "Language", "Sprache"),
    ("switch_to", "Deutsch", "English"),
    ("nav_licenses", "My licenses", "Meine Lizenzen"),
    ("nav_profile", "Profile", "Profil"),
    ("logout", "Log out", "Abmelden"),
    ("login_title", "Log in", "Anmelden"),
    (
        "login_intro",
        "Log in with your e-mail address and password.",
        "Melden Sie sich mit E-Mail-Adresse und Passwort an.",
    ),
    ("email", "E-mail address", "E-Mail-Adresse"),
    ("password", "Password", "Passwort"),
    ("login_button", "Log in", "Anmelden"),
    ("ticket_login_title", "Log in with a ticket", "Mit einem Ticket anmelden"),
    (
        "ticket_login_intro",
        "Only have a license key? Log in with it to see and activate its licenses.",
        "Sie haben nur einen Lizenzschlüssel? Melden Sie sich damit an, um seine Lizenzen zu sehen und zu aktivieren.",
    ),
    ("ticket_code", "Ticket (license key)", "Ticket (Lizenzschlüssel)"),
    (
        "ticket_hint",
        "25 characters; case, spaces and dashes do not matter.",
        "25 Zeichen; Groß- und Kleinschreibung, Leerzeichen und Bindestriche spielen keine Rolle.",
    ),
    ("forgot_link", "Forgot your password?", "Passwort vergessen?"),
    ("register_link", "No account yet? Register", "Noch kein Konto? Registrieren"),
    ("register_title", "Register", "Registrieren"),
    (
        "register_intro",
        "Create an account to keep all your licenses in one place.",
        "Legen Sie ein Konto an, um alle Ihre Lizenzen an einem Ort zu haben.",
    ),
    ("name", "Name", "Name"),
    ("new_password", "New password", "Neues Passwort"),
    (
        "password_hint",
        "At least 10 characters; not a common password.",
        "Mindestens 10 Zeichen; kein gängiges Passwort.",
    ),
    ("ticket_optional", "Ticket (optional)", "Ticket (optional)"),
    ("register_button", "Create account", "Konto anlegen"),
    ("check_mail_title", "Check your mail", "Bitte prüfen Sie Ihr Postfach"),
    (
        "check_mail_register",
        "We sent a mail to the address you gave. Follow its link to confirm the address, then log in.",
        "Wir haben eine E-Mail an die angegebene Adresse geschickt. Folgen Sie dem Link darin, um die Adresse zu bestätigen, und melden Sie sich dann an.",
    ),
    (
        "check_mail_reset",
        "If the address has an account, a mail with a link to set a new password is on its way.",
        "Wenn zu der Adresse ein Konto gehört, ist eine E-Mail mit einem Link zum Setzen eines neuen Passworts unterwegs.",
    ),
    ("verify_title", "Confirm your e-mail address", "E-Mail-Adresse bestätigen"),
    (
        "verify_intro",
        "Confirm the address to finish your registration.",
        "Bestätigen Sie die Adresse, um die Registrierung abzuschließen.",
    ),
    ("verify_button", "Confirm address", "Adresse bestätigen"),
    ("verified_title", "Address confirmed", "Adresse bestätigt"),
    (
        "verified_text",
        "Your e-mail address is confirmed. You can log in now.",
        "Ihre E-Mail-Adresse ist bestätigt. Sie können sich jetzt anmelden.",
    ),
    ("forgot_title", "Forgot your password?", "Passwort vergessen?"),
    (
        "forgot_intro",
        "Give your e-mail address and we send a link to set a new password.",
        "Geben Sie Ihre E-Mail-Adresse an, und wir senden Ihnen einen Link zum Setzen eines neuen Passworts.",
    ),
    ("forgot_button", "Send link", "Link senden"),
    ("reset_title", "Set your password", "Passwort festlegen"),
    (
        "reset_intro",
        "Choose the password for your account (after an invitation, or because you forgot it). Any open session of the account ends.",
        "Wählen Sie das Passwort für Ihr Konto (nach einer Einladung oder weil Sie es vergessen haben). Offene Sitzungen des Kontos werden beendet.",
    ),
    ("reset_button", "Set password", "Passwort setzen"),
    ("reset_done_title", "Password set", "Passwort gesetzt"),
    (
        "reset_done_text",
        "Your password is set. Log in with it now.",
        "Ihr Passwort ist gesetzt. Melden Sie sich jetzt damit an.",
    ),
    ("back_to_login", "To the login", "Zur Anmeldung"),
    ("licenses_title", "My licenses", "Meine Lizenzen"),
    (
        "licenses_empty",
        "No licenses yet. Register the ticket you bought to see its licenses here.",
        "Noch keine Lizenzen. Registrieren Sie das gekaufte Ticket, um seine Lizenzen hier zu sehen.",
    ),
    ("more_licenses", "More licenses", "Weitere Lizenzen"),
    ("register_ticket_title", "Register a ticket", "Ticket registrieren"),
    (
        "register_ticket_intro",
        "Bought from a reseller? Register the ticket to add its licenses to your account.",
        "Bei einem Händler gekauft? Registrieren Sie das Ticket, um seine Lizenzen Ihrem Konto hinzuzufügen.",
    ),
    ("register_ticket_button", "Register ticket", "Ticket registrieren"),
    (
        "ticket_registered",
        "The ticket is registered; its licenses are below.",
        "Das Ticket ist registriert; seine Lizenzen stehen unten.",
    ),
    ("bonus_earned", "Bonus for registering", "Bonus für die Registrierung"),
    ("points", "points", "Punkte"),
    ("col_product", "Product", "Produkt"),
    ("col_state", "State", "Status"),
    ("col_seats", "Seats in use", "Belegte Plätze"),
    ("col_credits", "Re-activation credits", "Reaktivierungen"),
    ("col_expires", "Valid until", "Gültig bis"),
    ("col_ticket", "Ticket", "Ticket"),
    ("of", "of", "von"),
    ("no_end", "no end", "unbefristet"),
    ("next_credit", "next on", "nächste am"),
    ("state_active", "active", "aktiv"),
    ("state_inactive", "not activated", "nicht aktiviert"),
    ("state_pending", "waiting for receipt", "wartet auf Quittung"),
    ("state_expired", "expired", "abgelaufen"),
    ("state_revoked", "revoked", "widerrufen"),
    ("state_deactivated", "deactivated", "deaktiviert"),
    ("state_recovered", "moved away (lost machine)", "übertragen (verlorener Rechner)"),
    ("features", "Features", "Funktionen"),
    ("machines", "Machines", "Rechner"),
    ("machines_empty", "Not activated on any machine.", "Auf keinem Rechner aktiviert."),
    ("col_machine", "Machine", "Rechner"),
    ("col_since", "Since", "Seit"),
    ("col_actions", "Actions", "Aktionen"),
    ("emergency_until", "emergency license until", "Notfalllizenz bis"),
    ("recover_link", "Machine lost? Move its seat", "Rechner verloren? Platz übertragen"),
    ("offline_title", "Activate a machine without internet", "Einen Rechner ohne Internet aktivieren"),
    (
        "offline_intro",
        "On the offline machine, write a request file with keyport-client (keyport-client request --license {license} --out request.txt). Upload it here and carry the certificate file back.",
        "Schreiben Sie auf dem Rechner ohne Internet mit keyport-client eine Anforderungsdatei (keyport-client request --license {license} --out request.txt). Laden Sie sie hier hoch und bringen Sie die Zertifikatsdatei zurück.",
    ),
    ("request_file", "Activation request file", "Aktivierungsanforderung (Datei)"),
    (
        "offline_button",
        "Upload request, download certificate",
        "Anforderung hochladen, Zertifikat herunterladen",
    ),
    ("receipt_title", "Finish an offline activation", "Eine Offline-Aktivierung abschließen"),
    (
        "receipt_intro",
        "After importing the certificate (keyport-client import), the machine writes a receipt file. Upload it here to finish.",
        "Nach dem Import des Zertifikats (keyport-client import) schreibt der Rechner eine Quittung. Laden Sie sie hier hoch, um abzuschließen.",
    ),
    ("receipt_file", "Receipt file", "Quittung (Datei)"),
    ("receipt_button", "Upload receipt", "Quittung hochladen"),
    ("receipt_done", "The activation is complete.", "Die Aktivierung ist abgeschlossen."),
    (
        "proof_title",
        "Give a seat back from an offline machine",
        "Einen Platz von einem Rechner ohne Internet zurückgeben",
    ),
    (
        "proof_intro",
        "Deactivate on the machine (keyport-client deactivate --offline --out proof.txt) and upload the proof file here.",
        "Deaktivieren Sie auf dem Rechner (keyport-client deactivate --offline --out proof.txt) und laden Sie den Nachweis hier hoch.",
    ),
    ("proof_file", "Deactivation proof file", "Deaktivierungsnachweis (Datei)"),
    ("proof_button", "Upload proof", "Nachweis hochladen"),
    ("proof_done", "The seat is free again.", "Der Platz ist wieder frei."),
    ("recover_title", "Move the seat of a lost machine", "Platz eines verlorenen Rechners übertragen"),
    (
        "recover_intro",
        "If a machine is lost or broken and cannot deactivate, its seat can move to a new machine. Upload the new machine's activation request file.",
        "Wenn ein Rechner verloren oder defekt ist und nicht mehr deaktivieren kann, kann sein Platz auf einen neuen Rechner übergehen. Laden Sie die Aktivierungsanforderung des neuen Rechners hoch.",
    ),
    (
        "recover_cost",
        "This costs 1 re-activation credit. You have {credits} now and {after} afterwards.",
        "Das kostet 1 Reaktivierung. Sie haben jetzt {credits} und danach {after}.",
    ),
    ("recover_not_now", "The seat cannot move now:", "Der Platz kann jetzt nicht übertragen werden:"),
    ("recover_lost_machine", "Lost machine", "Verlorener Rechner"),
    (
        "recover_confirm",
        "I understand that this spends 1 re-activation credit and that the lost machine loses its license.",
        "Mir ist klar, dass dies 1 Reaktivierung verbraucht und der verlorene Rechner seine Lizenz verliert.",
    ),
    ("recover_button", "Move the seat, download certificate", "Platz übertragen, Zertifikat herunterladen"),
    (
        "recover_confirm_missing",
        "Please confirm that you understand the cost.",
        "Bitte bestätigen Sie, dass Ihnen die Kosten klar sind.",
    ),
    ("offers_title", "For you", "Für Sie"),
    ("coupon", "Coupon:", "Gutschein:"),
    ("offer_until", "Until", "Bis"),
    ("offer_more", "Learn more", "Mehr erfahren"),
    ("offer_dismiss", "Not interested", "Kein Interesse"),
    ("other_sessions_title", "Sessions", "Sitzungen"),
    (
        "other_sessions_intro",
        "Logged in on a device you no longer use? End every other session of your account; this one stays.",
        "Auf einem Gerät angemeldet, das Sie nicht mehr nutzen? Beenden Sie alle anderen Sitzungen Ihres Kontos; diese bleibt.",
    ),
    ("other_sessions_button", "Log out everywhere else", "Überall sonst abmelden"),
    (
        "other_sessions_ended",
        "Every other session of your account has ended.",
        "Alle anderen Sitzungen Ihres Kontos sind beendet.",
    ),
    ("emergency_title", "Meanwhile: an emergency license", "Bis dahin: eine Notfalllizenz"),
    (
        "emergency_intro",
        "Run the license on the new machine for a few days without spending a credit or a seat; it ends by itself. Upload the new machine's activation request file.",
        "Nutzen Sie die Lizenz einige Tage auf dem neuen Rechner, ohne eine Reaktivierung oder einen Platz zu verbrauchen; sie endet von selbst. Laden Sie die Aktivierungsanforderung des neuen Rechners hoch.",
    ),
    (
        "emergency_button",
        "Start the emergency license, download certificate",
        "Notfalllizenz starten, Zertifikat herunterladen",
    ),
    ("sso_title", "Continue to your licenses", "Weiter zu Ihren Lizenzen"),
    (
        "sso_intro",
        "Your portal signed you in. Continue to see your licenses here.",
        "Ihr Portal hat Sie angemeldet. Fahren Sie fort, um hier Ihre Lizenzen zu sehen.",
    ),
    ("sso_button", "Continue", "Weiter"),
    ("nav_downloads", "Downloads", "Downloads"),
    ("downloads_title", "Downloads", "Downloads"),
    ("downloads_os", "Operating system", "Betriebssystem"),
    ("downloads_all", "All", "Alle"),
    (
        "downloads_empty",
        "Nothing to download yet for your licenses.",
        "Für Ihre Lizenzen gibt es noch nichts zum Herunterladen.",
    ),
    (
        "downloads_none_for_os",
        "No release for this operating system.",
        "Keine Version für dieses Betriebssystem.",
    ),
    (
        "downloads_older",
        "{count} older releases are not shown.",
        "{count} ältere Versionen werden nicht gezeigt.",
    ),
    (
        "downloads_link_hint",
        "The links work for a few minutes; reload the page for new ones.",
        "Die Links gelten einige Minuten; laden Sie die Seite für neue Links neu.",
    ),
    ("nav_demos", "Try a product", "Produkt testen"),
    ("demos_title", "Try a product", "Ein Produkt testen"),
    (
        "demos_intro",
        "Try a product for a few days: the demo license joins your licenses; activate it like any other.",
        "Testen Sie ein Produkt einige Tage: Die Demolizenz kommt zu Ihren Lizenzen; aktivieren Sie sie wie jede andere.",
    ),
    ("demos_empty", "No product can be tried at the moment.", "Derzeit kann kein Produkt getestet werden."),
    ("demo_button", "Try it", "Testen"),
    (
        "demo_given",
        "Your demo license is ready; it runs until {date}.",
        "Ihre Demolizenz ist bereit; sie läuft bis {date}.",
    ),
    ("profile_title", "Profile", "Profil"),
    ("account_title", "Your account", "Ihr Konto"),
    ("account_language", "Language of mails and pages", "Sprache der E-Mails und Seiten"),
    ("account_button", "Save", "Speichern"),
    ("profile_saved", "Your account is saved.", "Ihr Konto ist gespeichert."),
    ("change_password_title", "Change password", "Passwort ändern"),
    ("old_password", "Current password", "Aktuelles Passwort"),
    ("change_password_button", "Change password", "Passwort ändern"),
    ("password_changed", "Your password is changed.", "Ihr Passwort ist geändert."),
    ("newsletter_title", "Newsletter", "Newsletter"),
    ("newsletter_subscribed", "You receive our newsletter.", "Sie erhalten unseren Newsletter."),
    (
        "newsletter_pending",
        "We sent you a mail: follow its link to confirm.",
        "Wir haben Ihnen eine E-Mail geschickt: Folgen Sie dem Link darin zur Bestätigung.",
    ),
    ("newsletter_none", "You do not receive our newsletter.", "Sie erhalten unseren Newsletter nicht."),
    ("newsletter_subscribe", "Subscribe", "Abonnieren"),
    ("newsletter_unsubscribe", "Unsubscribe", "Abbestellen"),
    ("newsletter_confirm_title", "Confirm your subscription", "Abonnement bestätigen"),
    (
        "newsletter_confirm_intro",
        "Confirm that you want to receive our newsletter. You can unsubscribe at any time.",
        "Bestätigen Sie, dass Sie unseren Newsletter erhalten möchten. Sie können ihn jederzeit abbestellen.",
    ),
    ("newsletter_confirm_button", "Yes, send me the newsletter", "Ja, Newsletter zusenden"),
    ("newsletter_confirmed", "Thank you: you are subscribed.", "Vielen Dank: Sie sind angemeldet."),
    ("error_title", "That did not work", "Das hat nicht geklappt"),
    ("not_found_title", "Page not found", "Seite nicht gefunden"),
    ("not_found_text", "There is no page at this address.", "Unter dieser Adresse gibt es keine Seite."),
    (
        "form_expired",
        "This form has expired. Please try again.",
        "Dieses Formular ist abgelaufen. Bitte versuchen Sie es noch einmal.",
    ),
    (
        "internal_error",
        "Something went wrong on our side. Please try again later.",
        "Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es später noch einmal.",
    ),
    ("file_missing", "Please choose a file.", "Bitte wählen Sie eine Datei."),
    ("file_too_large", "The file is too large (at most 64 KB).", "Die Datei ist zu groß (höchstens 64 KB)."),
    ("logged_out", "You are logged out.", "Sie sind abgemeldet."),
];

/// The words for one language, with a theme's overrides on top.
pub(crate) fn table(lang: Lang, overrides: &BTreeMap<String, String>) -> BTreeMap<&'static str, String> {
    TEXTS
        .iter()
        .map(|(key, en, de)| {
            let base = match lang {
                Lang::En => *en,
                Lang::De => *de,
            };
            (*key, overrides.get(*key).cloned().unwrap_or_else(|| base.to_owned()))
        })
        .collect()
}

/// The first key in `overrides` that the depot does not know (a typo in a theme).
pub(crate) fn unknown_key(overrides: &BTreeMap<String, String>) -> Option<&str> {
    overrides.keys().map(String::as_str).find(|k| !TEXTS.iter().any(|(key, _, _)| key == k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_has_both_languages() {
        let mut keys: Vec<&str> = TEXTS.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let count = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), count, "a key appears twice");
        assert!(TEXTS.iter().all(|(_, en, de)| !en.is_empty() && !de.is_empty()));
    }

    #[test]
    fn every_word_a_template_names_exists() {
        for (name, source) in crate::render::TEMPLATES {
            for (at, _) in source.match_indices("t.") {
                let before = source[..at].chars().last().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' {
                    continue;
                }
                let key: String =
                    source[at + 2..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                assert!(TEXTS.iter().any(|(k, _, _)| *k == key), "{name}: t.{key} is not a text");
            }
        }
    }

    #[test]
    fn every_word_is_used_somewhere() {
        let code = [
            include_str!("account.rs"),
            include_str!("demos.rs"),
            include_str!("downloads.rs"),
            include_str!("licenses.rs"),
            include_str!("offers.rs"),
            include_str!("profile.rs"),
            include_str!("render.rs"),
        ];
        let templates = crate::render::TEMPLATES.iter().map(|(_, source)| *source);
        let everything: String = code.into_iter().chain(templates).collect();
        for (key, _, _) in TEXTS {
            // License and activation states are looked up by name (`t["state_" ~ state]`).
            assert!(key.starts_with("state_") || everything.contains(key), "'{key}' is shown nowhere");
        }
    }

    #[test]
    fn overrides_win_and_unknown_keys_are_named() {
        let overrides = BTreeMap::from([("login_title".to_owned(), "Sign in".to_owned())]);
        assert_eq!(table(Lang::En, &overrides)["login_title"], "Sign in");
        assert_eq!(table(Lang::De, &BTreeMap::new())["login_title"], "Anmelden");
        assert_eq!(unknown_key(&overrides), None);
        let typo = BTreeMap::from([("login_titel".to_owned(), "x".to_owned())]);
        assert_eq!(unknown_key(&typo), Some("login_titel"));
    }
}
