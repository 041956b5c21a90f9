//! Ticket codes: the license key a buyer types in.
//!
//! 25 characters in five groups of five (`XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`) from a 32-symbol
//! alphabet without look-alikes (no I, L, O, U). 24 symbols carry 120 random bits; the 25th
//! is a Damm check character over the quasigroup `x * y = 2x + y` in GF(32), which catches
//! every single-character error and every swap of neighbours.

use std::fmt;
use std::str::FromStr;

use crate::error::{CoreError, ErrorCode};

/// The 32 symbols, in value order.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols in a code, the check character included.
const LENGTH: usize = 25;
/// Random bytes a new code is made from (120 bits).
pub const TICKET_RANDOM_BYTES: usize = 15;

/// A valid ticket code, kept in its canonical form without dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketCode(String);

impl TicketCode {
    /// Makes a new code from 15 random bytes (the caller supplies the randomness).
    pub fn from_random(bytes: [u8; TICKET_RANDOM_BYTES]) -> TicketCode {
        let mut values = Vec::with_capacity(LENGTH);
        let mut acc: u32 = 0;
        let mut bits = 0;
        for byte in bytes {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                values.push(((acc >> bits) & 31) as u8);
            }
        }
        values.push(check_value(&values));
        TicketCode(values.iter().map(|&v| char::from(ALPHABET[usize::from(v)])).collect())
    }

    /// Reads a typed code, forgiving case, spaces, dashes and look-alikes (O for 0, I and L
    /// for 1).
    pub fn parse(input: &str) -> Result<TicketCode, CoreError> {
        let mut values = Vec::with_capacity(LENGTH);
        for c in input.chars() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            let v = symbol_value(c).ok_or_else(|| {
                CoreError::new(ErrorCode::InvalidTicketCode)
                    .with("reason", format!("'{c}' is not a ticket character"))
            })?;
            values.push(v);
        }
        if values.len() != LENGTH {
            return Err(CoreError::new(ErrorCode::InvalidTicketCode)
                .with("reason", format!("it has {} characters instead of {LENGTH}", values.len())));
        }
        if damm(&values) != 0 {
            return Err(CoreError::new(ErrorCode::InvalidTicketCode)
                .with("reason", "a character is mistyped (the check does not match)"));
        }
        Ok(TicketCode(values.iter().map(|&v| char::from(ALPHABET[usize::from(v)])).collect()))
    }

    /// The canonical form without dashes, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TicketCode {
    /// The grouped form handed to buyers: `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, chunk) in self.0.as_bytes().chunks(5).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(chunk).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl FromStr for TicketCode {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TicketCode::parse(s)
    }
}

fn symbol_value(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET.iter().position(|&a| char::from(a) == c).and_then(|p| u8::try_from(p).ok())
}

/// Multiplication in GF(32) with the primitive polynomial x^5 + x^2 + 1.
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0b10_0000 != 0 {
            a ^= 0b10_0101;
        }
    }
    product
}

/// The Damm quasigroup `x * y = 2x + y`: weakly totally anti-symmetric because 2 + 1 != 0.
fn damm(values: &[u8]) -> u8 {
    values.iter().fold(0, |interim, &v| gf_mul(2, interim) ^ v)
}

/// The check value that brings the Damm interim back to zero.
fn check_value(values: &[u8]) -> u8 {
    gf_mul(2, damm(values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> TicketCode {
        TicketCode::from_random([7, 1, 2, 250, 99, 0, 13, 128, 64, 3, 200, 17, 42, 91, 255])
    }

    #[test]
    fn a_new_code_has_five_groups_of_five() {
        let shown = sample().to_string();
        let groups: Vec<&str> = shown.split('-').collect();
        assert_eq!(groups.len(), 5);
        assert!(groups.iter().all(|g| g.len() == 5));
    }

    #[test]
    fn typed_input_forgives_case_spaces_dashes_and_look_alikes() {
        let code = TicketCode::from_random([0; TICKET_RANDOM_BYTES]);
        // All-zero randomness gives zeros and ones only in look-alike positions to play with.
        let canonical = code.as_str().to_owned();
        let sloppy: String = canonical
            .chars()
            .enumerate()
            .map(|(i, c)| match (c, i % 2) {
                ('0', 0) => 'o',
                ('1', 0) => 'l',
                ('1', 1) => 'I',
                (other, _) => other.to_ascii_lowercase(),
            })
            .collect();
        let spaced = format!(" {} {} ", &sloppy[..12], &sloppy[12..]);
        assert_eq!(TicketCode::parse(&spaced), Ok(code.clone()));
        assert_eq!(TicketCode::parse(&code.to_string()), Ok(code));
    }

    #[test]
    fn a_short_code_is_refused_with_its_length() {
        let err = TicketCode::parse("ABCDE-12345").err();
        assert_eq!(err.map(|e| e.code()), Some(ErrorCode::InvalidTicketCode));
    }

    #[test]
    fn a_foreign_character_is_refused_by_name() {
        let mut text = sample().as_str().to_owned();
        text.replace_range(3..4, "U");
        let err = TicketCode::parse(&text).err().map(|e| e.message(crate::Lang::En));
        assert_eq!(err.as_deref(), Some("This is not a valid ticket code: 'U' is not a ticket character."));
    }

    #[test]
    fn every_single_character_error_is_caught() {
        let code = sample();
        let values: Vec<u8> = code.as_str().chars().filter_map(symbol_value).collect();
        for pos in 0..LENGTH {
            for v in 0..32u8 {
                if v == values[pos] {
                    continue;
                }
                let mut changed = values.clone();
                changed[pos] = v;
                assert_ne!(damm(&changed), 0, "position {pos} value {v}");
            }
        }
    }

    #[test]
    fn every_swap_of_different_neighbours_is_caught_for_every_pair() {
        // Exhaustive over the quasigroup: for any interim c and neighbours x != y,
        // (c*x)*y != (c*y)*x.
        for c in 0..32u8 {
            for x in 0..32u8 {
                for y in 0..32u8 {
                    if x != y {
                        assert_ne!(damm(&[c, x, y]), damm(&[c, y, x]));
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn every_new_code_reads_back(bytes in proptest::array::uniform15(any::<u8>())) {
            let code = TicketCode::from_random(bytes);
            prop_assert_eq!(TicketCode::parse(&code.to_string()), Ok(code.clone()));
            prop_assert_eq!(TicketCode::parse(&code.as_str().to_lowercase()), Ok(code));
        }

        #[test]
        fn different_randomness_gives_different_codes(
            a in proptest::array::uniform15(any::<u8>()),
            b in proptest::array::uniform15(any::<u8>()),
        ) {
            prop_assume!(a != b);
            prop_assert_ne!(TicketCode::from_random(a), TicketCode::from_random(b));
        }
    }
}
