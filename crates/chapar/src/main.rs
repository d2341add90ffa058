//! The `chapar` binary: `chapar serve` runs a node; every other command is the terminal client.

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: glibc's allocator was ~8% of the server's CPU under the
/// direct-message benchmark (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "chapar",
    version,
    about = "chapar: a messenger that holds under a rush"
)]
struct Cli {
    #[command(flatten)]
    global: chapar_cli::GlobalArgs,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Run a chapar node (embedded store in --data, HTTP and WebSocket on --listen).
    Serve(chapar_server::config::ServeArgs),
    /// Operator commands for invite codes.
    #[command(subcommand)]
    Invite(InviteCmd),
    /// Operator commands for the server's operators (moderators).
    #[command(subcommand)]
    Operator(OperatorCmd),
    #[command(flatten)]
    Client(chapar_cli::Command),
}

#[derive(Subcommand)]
enum InviteCmd {
    /// Create an invite code for the `invite` sign-up policy (prints the code).
    Create(chapar_server::InviteArgs),
}

#[derive(Subcommand)]
enum OperatorCmd {
    /// Make an account an operator: it may then read reports, suspend accounts and delete
    /// messages (`chapar moderate`).
    Grant(chapar_server::OperatorArgs),
    /// Take an account's operator rights away.
    Revoke(chapar_server::OperatorArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHAPAR_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if matches!(cli.command, Top::Serve(_)) {
            "info"
        } else {
            "warn"
        })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Top::Serve(args) => chapar_server::serve(args).await,
            Top::Invite(InviteCmd::Create(args)) => {
                let code = chapar_server::create_invite(args).await?;
                println!("{code}");
                Ok(())
            }
            Top::Operator(cmd) => {
                let (args, on) = match cmd {
                    OperatorCmd::Grant(a) => (a, true),
                    OperatorCmd::Revoke(a) => (a, false),
                };
                let user = chapar_server::set_operator(args, on).await?;
                let verb = if on {
                    "is now an operator"
                } else {
                    "is no longer an operator"
                };
                println!("@{} {verb}", user.handle);
                Ok(())
            }
            Top::Client(command) => chapar_cli::run(cli.global, command).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Server messages may quote what others sent: shown, never obeyed.
            eprintln!("error: {}", chapar_cli::output::visible(&format!("{e:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}
