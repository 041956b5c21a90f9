#![doc = include_str!("../README.md")]

pub mod envelope;
pub mod operations;
pub mod schema;
pub mod service;
pub mod xml;

/// The types, schema descriptors and operation table generated from `wsdl/keyport.wsdl` by
/// keyport-wsdl-gen at build time. Never edited by hand: change the WSDL.
pub mod contract {
    include!(concat!(env!("OUT_DIR"), "/contract.rs"));
}

pub use service::{SoapState, configure};

/// Serializes a generated type without an XML declaration.
pub fn to_xml<T: yaserde::YaSerialize>(value: &T) -> Result<String, String> {
    let config = yaserde::ser::Config {
        perform_indent: false,
        write_document_declaration: false,
        indent_string: None,
    };
    yaserde::ser::to_string_with_config(value, &config).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::contract::{LicenseState, OPERATIONS, TYPES};

    #[test]
    fn every_operation_of_the_wsdl_has_its_request_and_response_types() {
        assert_eq!(OPERATIONS.len(), 15);
        for op in OPERATIONS {
            assert!(TYPES.iter().any(|t| t.name == op.input), "{}", op.input);
            assert!(TYPES.iter().any(|t| t.name == op.output), "{}", op.output);
            assert_eq!(op.soap_action, format!("urn:keyport:soap:v1#{}", op.name));
        }
    }

    #[test]
    fn enumerations_know_their_values() {
        assert_eq!(LicenseState::parse("revoked"), Some(LicenseState::Revoked));
        assert_eq!(LicenseState::parse("borrowed"), None);
        assert_eq!(LicenseState::Revoked.as_str(), "revoked");
    }
}
