//! What both binaries' `main.rs` do the same way at their edge (behind the `cli` cargo feature,
//! so the wire's users do not pay for clap and tracing-subscriber): the tracing subscriber for
//! `--log-format text|json` and `RUST_LOG`, and turning a clap error into the SPEC exit: help and
//! version on stdout with status 0, any mistake as one stderr line naming it with status 2.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global tracing subscriber: stderr, `RUST_LOG` filter (default `info`; an invalid
/// value falls back to `info` with a warning), colours only on a terminal, text or JSON lines.
pub fn init_tracing(format: LogFormat) {
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

/// Whether a clap "error" is really `--help` or `--version` output (stdout, status 0).
pub fn is_help_or_version(error: &clap::Error) -> bool {
    use clap::error::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    )
}

/// A clap error as one line without the `error: ` prefix: its first paragraph (so `the
/// following required arguments were not provided: <ID>` keeps the argument), plus clap's
/// `tip:` lines in parentheses (`unexpected argument '--lisen' found (tip: a similar argument
/// exists: '--listen')`). The usage block and the `--help` hint are left out. A command left
/// without its subcommand (clap renders its help) becomes `a subcommand is missing: ...` with
/// the usage.
pub fn one_line_error(rendered: &str) -> String {
    let paragraphs: Vec<String> = rendered
        .split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|paragraph| !paragraph.is_empty())
        .collect();
    let Some(first) = paragraphs.first() else {
        return "invalid arguments".to_owned();
    };
    let Some(message) = first.strip_prefix("error: ") else {
        // No `error:` line: clap printed a help page for a missing subcommand.
        return match paragraphs.iter().find_map(|p| p.strip_prefix("Usage: ")) {
            Some(usage) => format!("a subcommand is missing: {usage} (see --help)"),
            None => "a subcommand is missing (see --help)".to_owned(),
        };
    };
    let tips: Vec<&str> = paragraphs
        .iter()
        .filter(|paragraph| paragraph.starts_with("tip: "))
        .map(String::as_str)
        .collect();
    if tips.is_empty() {
        message.to_owned()
    } else {
        format!("{message} ({})", tips.join("; "))
    }
}

/// Reports a clap error the SPEC way and gives the exit code: help and version print in full on
/// stdout (status 0); anything else, a missing subcommand included, is `BINARY: <one line>` on
/// stderr (status 2).
pub fn clap_exit(binary: &str, error: &clap::Error) -> ExitCode {
    if is_help_or_version(error) {
        print!("{error}");
        ExitCode::SUCCESS
    } else {
        eprintln!("{binary}: {}", one_line_error(&error.to_string()));
        ExitCode::from(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// A small command line like the binaries' (a flag with a value, a switch, a subcommand).
    #[derive(Debug, Parser)]
    #[command(name = "vigil-test", version)]
    struct Cli {
        /// Address.
        #[arg(long)]
        listen: Option<String>,
        /// A switch.
        #[arg(long)]
        insecure: bool,
        #[command(subcommand)]
        command: Option<Sub>,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        /// Incidents.
        Incidents {
            /// An id.
            id: u64,
        },
        /// Has verbs of its own.
        Remote {
            #[command(subcommand)]
            verb: Verb,
        },
    }

    #[derive(Debug, clap::Subcommand)]
    enum Verb {
        /// One verb.
        List,
    }

    fn error(args: &[&str]) -> clap::Error {
        Cli::try_parse_from(args).unwrap_err()
    }

    #[test]
    fn clap_mistakes_become_one_line_naming_the_flag() {
        let line = one_line_error(&error(&["vigil-test", "--lisen", "x"]).to_string());
        assert_eq!(
            line,
            "unexpected argument '--lisen' found (tip: a similar argument exists: '--listen')"
        );
        let line = one_line_error(&error(&["vigil-test", "--no-such-flag"]).to_string());
        assert_eq!(line, "unexpected argument '--no-such-flag' found");
        let line = one_line_error(&error(&["vigil-test", "--listen"]).to_string());
        assert!(line.contains("'--listen <LISTEN>'"), "{line}");
        assert!(!line.contains('\n'));
        let line = one_line_error(&error(&["vigil-test", "--insecure=yes"]).to_string());
        assert!(line.contains("--insecure"), "{line}");
        let line = one_line_error(&error(&["vigil-test", "incidents", "seven"]).to_string());
        assert!(line.contains("'seven'"), "{line}");
        let line = one_line_error(&error(&["vigil-test", "incidents"]).to_string());
        assert_eq!(
            line,
            "the following required arguments were not provided: <ID>"
        );
        let missing = error(&["vigil-test", "remote"]);
        assert!(!is_help_or_version(&missing));
        let line = one_line_error(&missing.to_string());
        assert_eq!(
            line,
            "a subcommand is missing: vigil-test remote <COMMAND> (see --help)"
        );
        assert_eq!(one_line_error(""), "invalid arguments");
    }

    #[test]
    fn help_and_version_are_not_mistakes() {
        assert!(is_help_or_version(&error(&["vigil-test", "--help"])));
        assert!(is_help_or_version(&error(&["vigil-test", "--version"])));
        assert!(!is_help_or_version(&error(&["vigil-test", "--bogus"])));
        let version = error(&["vigil-test", "--version"]).to_string();
        assert_eq!(
            version,
            format!("vigil-test {}\n", env!("CARGO_PKG_VERSION"))
        );
        let help = error(&["vigil-test", "--help"]).to_string();
        assert!(
            help.contains("--listen <LISTEN>") && help.contains("Usage:"),
            "{help}"
        );
        Cli::command().debug_assert();
    }
}
