//! The `vigil-agent` binary: parse the configuration, set up logging, run, and map the outcome to
//! the SPEC exit codes (0 clean shutdown, 2 bad flag or config with one stderr line, 1 anything
//! else with the `{:#}` error chain). All logic lives in the library.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use vigil_agent::Config;
use vigil_agent::config::{Args, LogFormat};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => return clap_exit(&error),
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

/// Help and version go to stdout with status 0; any other clap error is one stderr line, status 2.
fn clap_exit(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            print!("{error}");
            ExitCode::SUCCESS
        }
        _ => {
            let text = error.to_string();
            let line = text
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .unwrap_or("invalid arguments");
            let line = line.strip_prefix("error: ").unwrap_or(line);
            eprintln!("vigil-agent: {line}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(format: LogFormat) {
    let (filter, filter_error) = match EnvFilter::try_from_default_env() {
        Ok(filter) => (filter, None),
        Err(error) => (
            EnvFilter::new("info"),
            std::env::var("RUST_LOG").ok().map(|value| (value, error)),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    if let Some((value, error)) = filter_error {
        tracing::warn!(rust_log = %value, error = %error, "invalid RUST_LOG: using info");
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
