//! Small validated text values shared by the catalog, orders and customers.

use std::fmt;

use crate::error::CoreError;

/// Declares a newtype over `String` whose constructor trims and checks the text.
macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, field = $field:literal, max = $max:literal, allowed = $allowed:expr, hint = $hint:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks and keeps the value (surrounding whitespace trimmed).
            pub fn parse(value: &str) -> Result<Self, CoreError> {
                let value = value.trim();
                if value.is_empty() {
                    return Err(CoreError::invalid($field, "must not be empty"));
                }
                if value.chars().count() > $max {
                    return Err(CoreError::invalid($field, concat!("must be at most ", $max, " characters")));
                }
                let allowed: fn(char) -> bool = $allowed;
                if !value.chars().all(allowed) {
                    return Err(CoreError::invalid($field, $hint));
                }
                Ok($name(value.to_owned()))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// The most characters any text Keyport takes may have, whatever its field. Each field's
/// own type (below) has a tighter bound; this one holds for text no type checks yet
/// (passwords, tokens, signed files) and for every string an entry point reads.
pub const MAX_TEXT: usize = 16 * 1024;

/// The check every entry point (JSON bodies, SOAP values) makes on every
/// string before anything else sees it: no NUL character (PostgreSQL refuses it in text)
/// and at most [`MAX_TEXT`] characters. `field` names the value in the error.
pub fn check_text(field: &str, value: &str) -> Result<(), CoreError> {
    let refuse = |reason: &str| {
        Err(CoreError::new(crate::ErrorCode::InvalidInput).with("field", field).with("reason", reason))
    };
    if value.contains('\0') {
        return refuse("must not contain the NUL character");
    }
    if value.len() > MAX_TEXT && value.chars().count() > MAX_TEXT {
        return refuse(&format!("must be at most {MAX_TEXT} characters"));
    }
    Ok(())
}

fn code_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn printable(c: char) -> bool {
    !c.is_control()
}

text_value!(
    /// A product's code, e.g. `cad-pro`.
    ProductCode, field = "product_code", max = 64, allowed = code_char,
    hint = "may contain only letters, digits, '-', '_' and '.'"
);
text_value!(
    /// An item's article number (SKU), e.g. `CAD-PRO-5-SUB365`.
    Sku, field = "sku", max = 64, allowed = code_char,
    hint = "may contain only letters, digits, '-', '_' and '.'"
);
text_value!(
    /// A rule set's name, e.g. `standard`.
    RuleSetName, field = "rule_set", max = 64, allowed = code_char,
    hint = "may contain only letters, digits, '-', '_' and '.'"
);
text_value!(
    /// A display name (product, item, customer).
    DisplayName, field = "name", max = 200, allowed = printable,
    hint = "must not contain control characters"
);
text_value!(
    /// The name of the shop an order comes from.
    ShopName, field = "shop", max = 64, allowed = code_char,
    hint = "may contain only letters, digits, '-', '_' and '.'"
);
text_value!(
    /// The shop's own order number.
    ExternalOrderNumber, field = "external_order_number", max = 64, allowed = printable,
    hint = "must not contain control characters"
);
text_value!(
    /// A shop's or ERP's own customer number.
    CustomerNumber, field = "customer_number", max = 64, allowed = printable,
    hint = "must not contain control characters"
);
text_value!(
    /// Why a support action or a revocation was done.
    Reason, field = "reason", max = 500, allowed = printable,
    hint = "must not contain control characters"
);

text_value!(
    /// A user's id at a single sign-on issuer (the `sub` claim; OpenID Connect allows 255
    /// ASCII characters). Stored in a unique index, so it is bounded like every indexed text.
    SsoSubject, field = "sub", max = 255, allowed = printable,
    hint = "must not contain control characters"
);

/// A customer's e-mail address, kept in lower case so that lookups match.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Checks the shape `local@domain.tld` and lower-cases it.
    pub fn parse(value: &str) -> Result<Email, CoreError> {
        let value = value.trim().to_lowercase();
        if value.len() > 254 {
            return Err(CoreError::invalid("email", "must be at most 254 characters"));
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(CoreError::invalid("email", "must contain '@'"));
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@') {
            return Err(CoreError::invalid("email", "the part before '@' is not valid"));
        }
        if !domain_ok {
            return Err(CoreError::invalid("email", "the domain after '@' is not valid"));
        }
        Ok(Email(value))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Common passwords that are long enough to pass the length check.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// A password a customer chose: 10 to 1024 characters. Never logged or shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The shortest password accepted.
    pub const MIN_LENGTH: usize = 10;

    /// Checks the length, and refuses passwords from a shipped list of common ones and
    /// passwords of one repeated character.
    pub fn parse(value: &str) -> Result<Password, CoreError> {
        let length = value.chars().count();
        if length < Password::MIN_LENGTH {
            return Err(CoreError::invalid("password", "must be at least 10 characters"));
        }
        if length > 1024 {
            return Err(CoreError::invalid("password", "must be at most 1024 characters"));
        }
        let lower = value.to_lowercase();
        let common = COMMON_PASSWORDS.lines().filter(|l| !l.starts_with('#')).any(|l| l.trim() == lower);
        let one_char = value.chars().all(|c| value.starts_with(c));
        if common || one_char {
            return Err(CoreError::invalid("password", "is too common; choose another"));
        }
        Ok(Password(value.to_owned()))
    }

    /// The text, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lang;

    #[test]
    fn a_sku_with_a_space_is_refused_naming_the_field() {
        let err = Sku::parse("CAD PRO").err().map(|e| e.message(Lang::En));
        assert_eq!(
            err.as_deref(),
            Some("Invalid value for sku: may contain only letters, digits, '-', '_' and '.'.")
        );
    }

    #[test]
    fn a_short_password_is_refused_and_never_shown() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("Password123").is_err(), "common, whatever the case");
        assert!(Password::parse("zzzzzzzzzzzz").is_err(), "one repeated character");
        let password = Password::parse("correct horse battery").map(|p| format!("{p:?}"));
        assert_eq!(password.as_deref(), Ok("Password(***)"));
    }

    #[test]
    fn text_with_a_nul_or_beyond_the_bound_is_refused_naming_the_field() {
        let err = check_text("lines[0].sku", "a\0b").err().map(|e| e.message(Lang::En));
        assert_eq!(
            err.as_deref(),
            Some("Invalid value for lines[0].sku: must not contain the NUL character.")
        );
        assert!(check_text("name", &"x".repeat(MAX_TEXT)).is_ok());
        assert!(check_text("name", &"x".repeat(MAX_TEXT + 1)).is_err());
        assert!(SsoSubject::parse(&"s".repeat(256)).is_err());
        assert!(SsoSubject::parse("a\0b").is_err());
    }

    #[test]
    fn an_empty_name_is_refused() {
        assert!(DisplayName::parse("   ").is_err());
    }

    #[test]
    fn e_mail_addresses_are_lower_cased_and_checked() {
        assert_eq!(Email::parse(" Anna@Example.COM ").map(|e| e.0), Ok("anna@example.com".to_owned()));
        assert!(Email::parse("anna.example.com").is_err());
        assert!(Email::parse("anna@localhost").is_err());
        assert!(Email::parse("@example.com").is_err());
    }
}
