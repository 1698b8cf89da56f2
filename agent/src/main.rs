//! The `vigil-agent` binary: parse the configuration, set up logging, run, and map the outcome to
//! the SPEC exit codes (0 clean shutdown, 2 bad flag or config with one stderr line, 1 anything
//! else with the `{:#}` error chain). All logic lives in the library.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use vigil_agent::Config;
use vigil_agent::config::Args;
use vigil_shared::cli::{clap_exit, init_tracing};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => return clap_exit("vigil-agent", &error),
    };
    let hostname = sysinfo::System::host_name().ok();
    let config = match Config::load(&args, hostname) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("vigil-agent: {errors}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        print!("{}", config.describe());
        return ExitCode::SUCCESS;
    }
    init_tracing(config.log_format);
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "vigil-agent failed");
            eprintln!("vigil-agent: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    if config.once {
        let batch = vigil_agent::sample_once(&config)?;
        let json = serde_json::to_string_pretty(&batch).context("cannot print the sample")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{json}")
            .and_then(|()| stdout.flush())
            .context("cannot write to stdout")?;
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal().context("cannot install signal handlers")?;
        vigil_agent::run(config, shutdown).await?;
        Ok(())
    })
}

/// Completes on the first SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutdown requested");
    })
}
