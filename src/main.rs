//! `doorstep`: tells communities whether the service rooms they built are used.

use clap::Parser;
use doorstep::{cli, commands};

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        // rumqttd sits behind the gate: its errors are about the gate's own
        // connections (one for every ordinary client disconnect); what matters is
        // logged by doorstep itself.
        0 => "info,rumqttd=off,rumqttc=warn",
        1 => "debug,rumqttd=info,rumqttc=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOORSTEP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
