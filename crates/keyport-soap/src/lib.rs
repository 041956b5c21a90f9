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
