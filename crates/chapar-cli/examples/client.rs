//! The client commands without the server, for trying chapar-cli by hand:
//! `cargo run -p chapar-cli --example client -- --server URL --profile DIR COMMAND ...`.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    global: chapar_cli::GlobalArgs,
    #[command(subcommand)]
    command: chapar_cli::Command,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match chapar_cli::run(cli.global, cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
