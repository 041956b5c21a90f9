//! Generates the contract's types from `wsdl/keyport.wsdl` into `OUT_DIR/contract.rs`.

use std::path::PathBuf;

fn main() {
    let wsdl = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../wsdl/keyport.wsdl");
    println!("cargo::rerun-if-changed={}", wsdl.display());
    let text = match std::fs::read_to_string(&wsdl) {
        Ok(text) => text,
        Err(e) => {
            println!("cargo::error=cannot read {}: {e}", wsdl.display());
            return;
        }
    };
    match keyport_wsdl_gen::generate(&text, "wsdl/keyport.wsdl") {
        Ok(code) => {
            let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("contract.rs");
            if let Err(e) = std::fs::write(&out, code) {
                println!("cargo::error=cannot write {}: {e}", out.display());
            }
        }
        Err(e) => println!("cargo::error=wsdl/keyport.wsdl: {e}"),
    }
}
