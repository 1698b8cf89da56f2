//! The `vigil-collector` binary: parse flags, set up logging, run, map the outcome to an exit code
//! (0 clean shutdown, 2 bad flag or config, 1 anything else).

use clap::Parser;
use std::process::ExitCode;
use vigil_collector::{Args, Config};
use vigil_shared::cli::{clap_exit, init_tracing};

#[derive(Debug, Parser)]
#[command(
    name = "vigil-collector",
    version,
    about = "Vigil collector: ingest, host state, incidents and /metrics"
)]
struct Cli {
    #[command(flatten)]
    args: Args,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List, show, acknowledge, resolve, close or annotate incidents on a running collector.
    Incidents {
        #[command(flatten)]
        remote: vigil_collector::cli::Remote,
        #[command(subcommand)]
        command: vigil_collector::cli::IncidentsCommand,
    },
    /// Forecast one series read as CSV (`timestamp,value`) on stdin; prints JSON.
    Forecast(vigil_collector::forecast::cli::ForecastArgs),
    /// Backtest a config: replay generic events (JSON lines with `time`) read on stdin through
    /// the whole pipeline on their own clock; prints one JSON line per notification a sink
    /// would have received, then a summary.
    Replay(vigil_collector::replay::ReplayArgs),
    /// Send a test notification to a configured sink and print its answer.
    Notify {
        #[command(subcommand)]
        command: vigil_collector::notify::cli::NotifyCommand,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return clap_exit("vigil-collector", &error),
    };
    if let Some(Command::Forecast(args)) = &cli.command {
        return forecast(args);
    }
    if let Some(Command::Replay(args)) = &cli.command {
        let stdin = std::io::stdin().lock();
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        return match vigil_collector::replay::run(args, stdin, &mut stdout) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                let _ = std::io::Write::flush(&mut stdout);
                eprintln!("vigil-collector: {error}");
                ExitCode::from(error.exit_code())
            }
        };
    }
    if let Some(Command::Incidents { remote, command }) = &cli.command {
        let runtime = match runtime(tokio::runtime::Builder::new_current_thread()) {
            Ok(runtime) => runtime,
            Err(code) => return code,
        };
        return match runtime.block_on(vigil_collector::cli::run(remote, command)) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("vigil-collector: {error}");
                ExitCode::from(1)
            }
        };
    }
    if let Some(Command::Notify { command }) = cli.command {
        return notify(cli.args, command);
    }
    let config = match Config::load(&cli.args) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("vigil-collector: {errors}");
            return ExitCode::from(2);
        }
    };
    if cli.args.check_config {
        println!("configuration is valid: {config:?}");
        return ExitCode::SUCCESS;
    }
    init_tracing(config.log_format);
    let runtime = match runtime(tokio::runtime::Builder::new_multi_thread()) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(vigil_collector::run(config, shutdown_signal(), |_| {})) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{:#}", anyhow::Error::from(error)), "vigil-collector failed");
            ExitCode::from(1)
        }
    }
}

/// `vigil-collector forecast`: stdin in, one JSON line out; bad input is exit status 2.
fn forecast(args: &vigil_collector::forecast::cli::ForecastArgs) -> ExitCode {
    let mut input = Vec::new();
    if let Err(error) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut input) {
        eprintln!("vigil-collector: cannot read stdin: {error}");
        return ExitCode::from(1);
    }
    // Bytes that are not UTF-8 become U+FFFD, so the bad line is named like any other.
    match vigil_collector::forecast::cli::run(args, &String::from_utf8_lossy(&input)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vigil-collector: {error}");
            ExitCode::from(2)
        }
    }
}

/// `vigil-collector notify test SINK`: 0 accepted, 1 refused or unreachable, 2 unknown sink or
/// bad config.
fn notify(mut args: Args, command: vigil_collector::notify::cli::NotifyCommand) -> ExitCode {
    let vigil_collector::notify::cli::NotifyCommand::Test { sink, config, step } = command;
    if config.is_some() {
        args.config = config;
    }
    let config = match Config::load(&args) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("vigil-collector: {errors}");
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime(tokio::runtime::Builder::new_current_thread()) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(vigil_collector::notify::cli::run(&config, &sink, step)) {
        Ok((receipt, sent)) => {
            println!("sent {sent}");
            println!("accepted: HTTP {}: {}", receipt.status, receipt.body);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vigil-collector: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Builds a runtime; on failure says why on stderr and gives exit status 1.
fn runtime(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, ExitCode> {
    builder.enable_all().build().map_err(|error| {
        eprintln!("vigil-collector: cannot start the async runtime: {error}");
        ExitCode::from(1)
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = terminate.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown requested");
}
