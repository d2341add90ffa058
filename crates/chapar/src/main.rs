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
    /// For the server's operators: reports, suspensions, deleting messages, the audit log; and
    /// (on the server's machine) making an account an operator.
    #[command(subcommand)]
    Admin(AdminCmd),
    #[command(flatten)]
    Client(chapar_cli::Command),
}

#[derive(Subcommand)]
enum InviteCmd {
    /// Create an invite code for the `invite` sign-up policy (prints the code).
    Create(chapar_server::InviteArgs),
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Make an account an operator (run on the server's machine, on its store): it may then
    /// read reports, suspend accounts and delete messages with the commands below.
    Grant(chapar_server::OperatorArgs),
    /// Take an account's operator rights away (on the server's machine).
    Revoke(chapar_server::OperatorArgs),
    #[command(flatten)]
    Protocol(chapar_cli::AdminCmd),
}

/// `chapar admin grant|revoke`: on the server's store directly.
async fn operator(args: chapar_server::OperatorArgs, on: bool) -> anyhow::Result<()> {
    let user = chapar_server::set_operator(args, on).await?;
    let verb = if on {
        "is now an operator"
    } else {
        "is no longer an operator"
    };
    println!("@{} {verb}", user.handle);
    Ok(())
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
            Top::Admin(AdminCmd::Protocol(cmd)) => chapar_cli::admin(cli.global, cmd).await,
            Top::Admin(AdminCmd::Grant(args)) => operator(args, true).await,
            Top::Admin(AdminCmd::Revoke(args)) => operator(args, false).await,
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
