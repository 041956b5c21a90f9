//! The words facts are made of, in German: a message's template is translated in the error
//! table, and the facts it names (a resource, a reason) are translated here, so a German
//! message carries no English words. Values that are data (a SKU, a date, a number) stay
//! as they are.

/// `fact` in German, when it is one of the phrases Keyport writes into facts.
pub fn german(fact: &str) -> Option<String> {
    if let Some(word) = WORDS.iter().find(|(en, _)| *en == fact).map(|(_, de)| (*de).to_owned()) {
        return Some(word);
    }
    if let Some(sku) = fact.strip_prefix("item with SKU ") {
        return Some(format!("Artikel mit der SKU {sku}"));
    }
    if let Some((min, max)) = fact.strip_prefix("must be between ").and_then(|r| r.split_once(" and ")) {
        return Some(format!("muss zwischen {min} und {max} liegen"));
    }
    if let Some(n) = fact.strip_prefix("must be at most ").and_then(|r| r.strip_suffix(" characters")) {
        return Some(format!("darf höchstens {n} Zeichen lang sein"));
    }
    if let Some(n) = fact.strip_prefix("must be at least ").and_then(|r| r.strip_suffix(" characters")) {
        return Some(format!("muss mindestens {n} Zeichen lang sein"));
    }
    if let Some(value) = fact.strip_suffix(" is not an event kind") {
        return Some(format!("{value} ist keine Ereignisart"));
    }
    if let Some(value) = fact.strip_suffix(" is not an activation state") {
        return Some(format!("{value} ist kein Aktivierungszustand"));
    }
    None
}

/// Fixed phrases: resources, fields' reasons.
const WORDS: &[(&str, &str)] = &[
    (
        "a file of its artifacts is missing from the storage; delete that artifact and upload it again",
        "eine Datei seiner Artefakte fehlt im Speicher; löschen Sie dieses Artefakt und laden Sie es erneut hoch",
    ),
    ("it is not an update manifest", "es ist kein Update-Manifest"),
    (
        "it is signed by a key the server does not publish",
        "es ist mit einem Schlüssel signiert, den der Server nicht veröffentlicht",
    ),
    ("release", "Release"),
    ("artifact", "Artefakt"),
    ("draft", "Entwurf"),
    ("published", "veröffentlicht"),
    ("yanked", "zurückgezogen"),
    (
        "only a draft can be changed; publish a new release instead",
        "nur ein Entwurf kann geändert werden; veröffentlichen Sie stattdessen ein neues Release",
    ),
    (
        "a release needs at least one artifact before it is published",
        "ein Release braucht mindestens ein Artefakt, bevor es veröffentlicht wird",
    ),
    (
        "a yanked release cannot be published again",
        "ein zurückgezogenes Release kann nicht erneut veröffentlicht werden",
    ),
    ("a draft is deleted, not yanked", "ein Entwurf wird gelöscht, nicht zurückgezogen"),
    ("a yanked release is offered to no one", "ein zurückgezogenes Release wird niemandem angeboten"),
    ("you hold no license of this product", "Sie besitzen keine Lizenz dieses Produkts"),
    ("your license of this product was revoked", "Ihre Lizenz dieses Produkts wurde widerrufen"),
    (
        "your license ended before this release was published; renew it to get it",
        "Ihre Lizenz endete vor der Veröffentlichung dieses Release; verlängern Sie sie, um es zu erhalten",
    ),
    (
        "your licenses cover other versions of this product; an upgrade is needed",
        "Ihre Lizenzen gelten für andere Versionen dieses Produkts; ein Upgrade ist nötig",
    ),
    ("it was not made by this service", "er wurde nicht von diesem Dienst erstellt"),
    ("it was made for another file", "er wurde für eine andere Datei erstellt"),
    ("it has expired", "er ist abgelaufen"),
    ("must be a semantic version such as 5.2.0", "muss eine semantische Version wie 5.2.0 sein"),
    (
        "must be 1 to 32 lower-case letters, digits or '-'",
        "muss aus 1 bis 32 Kleinbuchstaben, Ziffern oder '-' bestehen",
    ),
    ("must be windows, macos or linux", "muss windows, macos oder linux sein"),
    (
        "must be 1 to 16 lower-case letters, digits or '_'",
        "muss aus 1 bis 16 Kleinbuchstaben, Ziffern oder '_' bestehen",
    ),
    (
        "must be 1 to 4 numbers separated by dots, such as 10.0",
        "muss aus 1 bis 4 durch Punkte getrennten Zahlen bestehen, etwa 10.0",
    ),
    (
        "must be 1 to 200 characters, a name Windows, macOS and Linux all accept",
        "muss 1 bis 200 Zeichen lang sein, ein Name, den Windows, macOS und Linux annehmen",
    ),
    ("must be a media type such as application/zip", "muss ein Medientyp wie application/zip sein"),
    ("must be 64 hexadecimal digits", "muss aus 64 hexadezimalen Ziffern bestehen"),
    ("must be draft, published or yanked", "muss draft, published oder yanked sein"),
    ("webhook endpoint", "Webhook-Endpunkt"),
    ("webhook delivery", "Webhook-Zustellung"),
    ("is not a webhook signing secret", "ist kein Signaturgeheimnis für Webhooks"),
    ("is not an absolute URL", "ist keine absolute URL"),
    ("must start with http:// or https://", "muss mit http:// oder https:// beginnen"),
    (
        "must not carry a user name or password; receivers check the signature instead",
        "darf keinen Benutzernamen und kein Passwort enthalten; Empfänger prüfen stattdessen die Signatur",
    ),
    ("must not have a fragment (#...)", "darf keinen Fragmentteil (#...) haben"),
    (
        "points to a private, loopback or link-local address, which this server may not call",
        "zeigt auf eine private, Loopback- oder Link-Local-Adresse, die dieser Server nicht aufrufen darf",
    ),
    ("is not a cursor from this list", "ist keine Position aus dieser Liste"),
    ("must be delivered, failed or pending", "muss delivered, failed oder pending sein"),
    (
        "must be at least 60 and at most 604800 seconds",
        "muss mindestens 60 und höchstens 604800 Sekunden betragen",
    ),
    ("check-in", "Anmeldung der Software"),
    ("session", "Nutzungssitzung"),
    ("emergency license", "Notfall-Lizenz"),
    (
        "only a demo item can be offered for self-service",
        "nur ein Demo-Artikel kann zur Selbstbedienung angeboten werden",
    ),
    ("'keyport-demo' is reserved for demos", "'keyport-demo' ist für Demos reserviert"),
    ("license", "Lizenz"),
    ("activation", "Aktivierung"),
    ("customer", "Kunde"),
    ("ticket", "Ticket"),
    ("product", "Produkt"),
    ("item", "Artikel"),
    ("rule set", "Regelwerk"),
    ("order", "Bestellung"),
    ("API key", "API-Schlüssel"),
    ("route", "Route"),
    ("resource", "Ressource"),
    ("must not be empty", "darf nicht leer sein"),
    ("must not contain control characters", "darf keine Steuerzeichen enthalten"),
    ("must not contain the NUL character", "darf kein NUL-Zeichen enthalten"),
    (
        "may contain only letters, digits, '-', '_' and '.'",
        "darf nur Buchstaben, Ziffern, '-', '_' und '.' enthalten",
    ),
    ("must be 1 or more", "muss 1 oder größer sein"),
    ("the part before '@' is not valid", "der Teil vor dem '@' ist ungültig"),
    ("the domain after '@' is not valid", "die Domain nach dem '@' ist ungültig"),
    ("must contain '@'", "muss ein '@' enthalten"),
    ("names must be unique", "Namen müssen eindeutig sein"),
    ("must not be below version_min", "darf nicht unter version_min liegen"),
    ("must not be below initial_credits", "darf nicht unter initial_credits liegen"),
    ("must be unpadded base64url", "muss base64url ohne Auffüllung sein"),
    ("must be the rule set's name in the path", "muss der Name des Regelwerks im Pfad sein"),
    ("must be perpetual, subscription or demo", "muss perpetual, subscription oder demo sein"),
    ("must be in the future", "muss in der Zukunft liegen"),
    ("must be en or de", "muss en oder de sein"),
    ("must be empty for a perpetual license", "muss bei einer unbefristeten Lizenz leer sein"),
    ("must be admin, support, shop or portal", "muss admin, support, shop oder portal sein"),
    ("must be a 32-byte Ed25519 public key", "muss ein 32 Byte langer öffentlicher Ed25519-Schlüssel sein"),
    ("must be 1 to 200 visible characters", "muss 1 bis 200 sichtbare Zeichen lang sein"),
    (
        "must be 1 to 128 characters, none a control character",
        "muss 1 bis 128 Zeichen lang sein, ohne Steuerzeichen",
    ),
    ("is too large", "ist zu groß"),
    ("it is the key of this request", "es ist der Schlüssel dieser Anfrage"),
    ("it is the last working admin key", "es ist der letzte gültige Admin-Schlüssel"),
    ("is too common; choose another", "ist zu verbreitet; wählen Sie ein anderes"),
    ("is required for this license model", "ist für dieses Lizenzmodell erforderlich"),
    ("is not the current password", "ist nicht das aktuelle Passwort"),
    ("is not an id", "ist keine ID"),
    ("is not a cursor from this log", "ist kein Cursor dieses Protokolls"),
    (
        "give an e-mail address or a customer number",
        "geben Sie eine E-Mail-Adresse oder eine Kundennummer an",
    ),
    ("at most 100 features", "höchstens 100 Funktionen"),
    ("an order needs at least one line", "eine Bestellung braucht mindestens eine Position"),
    ("an order can have at most 500 lines", "eine Bestellung kann höchstens 500 Positionen haben"),
    (
        "was used before with another request; use a new key for a new request",
        "wurde bereits mit einer anderen Anfrage verwendet; verwenden Sie für eine neue Anfrage einen neuen Schlüssel",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_reasons_and_reasons_with_numbers_read_in_german() {
        assert_eq!(german("rule set").as_deref(), Some("Regelwerk"));
        assert_eq!(german("item with SKU CAD-5").as_deref(), Some("Artikel mit der SKU CAD-5"));
        assert_eq!(german("must be between 1 and 500").as_deref(), Some("muss zwischen 1 und 500 liegen"));
        assert_eq!(
            german("must be at most 64 characters").as_deref(),
            Some("darf höchstens 64 Zeichen lang sein")
        );
        assert_eq!(german("CAD-5"), None, "data stays as it is");
    }
}
