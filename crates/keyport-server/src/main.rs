//! The `keyport` binary: a shim over [`keyport_server::cli::run`].

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = keyport_server::cli::Cli::parse();
    match keyport_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyport: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
