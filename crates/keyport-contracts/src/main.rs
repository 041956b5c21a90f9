//! `keyport-contracts RELEASED.wsdl CURRENT.wsdl`: the breaking changes between the two.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [released, current] = args.as_slice() else {
        eprintln!("usage: keyport-contracts RELEASED.wsdl CURRENT.wsdl");
        return ExitCode::from(2);
    };
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|text| keyport_wsdl_gen::model::read(&text).map_err(|e| format!("{path}: {e}")))
    };
    let (old, new) = match (read(released), read(current)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let report = keyport_contracts::compare(&old, &new);
    print!("{report}");
    if report.passes() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
