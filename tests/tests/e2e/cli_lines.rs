//! One line per mistake (issue 12 item 6), on the real binaries: a bad flag, a bad environment
//! value or a bad config key exits 2 with exactly one stderr line that names it and nothing on
//! stdout; `--help` still prints the full help and `--version` the version, both with status 0.

use std::path::Path;
use std::process::Command;
use vigil_e2e::bin;

/// What a finished run left behind.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `binary` with `args` and `env`, without any `VIGIL_*` variable of the caller's.
fn run(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut command = Command::new(bin(binary));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("VIGIL_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {binary}: {error}"));
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Asserts the SPEC answer to a mistake: status 2, stdout empty, stderr exactly one line
/// `BINARY: ...` that contains every one of `names`. Returns that line.
fn assert_one_line(binary: &str, what: &str, outcome: &Outcome, names: &[&str]) -> String {
    assert_eq!(outcome.code, Some(2), "{what}: {}", outcome.stderr);
    assert_eq!(outcome.stdout, "", "{what}: stdout is not empty");
    let line = outcome
        .stderr
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{what}: stderr does not end a line: {:?}", outcome.stderr));
    assert!(
        !line.contains('\n'),
        "{what}: stderr is not one line:\n{}",
        outcome.stderr
    );
    assert!(
        line.starts_with(&format!("{binary}: ")),
        "{what}: stderr does not start with the binary's name: {line}"
    );
    for name in names {
        assert!(
            line.contains(name),
            "{what}: {name:?} is not named in: {line}"
        );
    }
    line.to_owned()
}

#[test]
fn cli_bad_flag_of_either_binary_is_one_line_naming_it_with_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().to_str().unwrap();
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "vigil-collector",
            &["--no-such-flag"],
            &["'--no-such-flag'"],
        ),
        (
            "vigil-collector",
            &["--lisen", "127.0.0.1:1"],
            &["'--lisen'", "'--listen'"],
        ),
        ("vigil-collector", &["--listen"], &["--listen"]),
        ("vigil-collector", &["--insecure=maybe"], &["--insecure"]),
        (
            "vigil-collector",
            &["--data-dir", data_dir, "incidents", "--bogus"],
            &["'--bogus'"],
        ),
        ("vigil-collector", &["frobnicate"], &["'frobnicate'"]),
        (
            "vigil-collector",
            &["incidents", "show"],
            &["required arguments were not provided: <ID>"],
        ),
        (
            "vigil-collector",
            &["incidents"],
            &["a subcommand is missing", "vigil-collector incidents"],
        ),
        (
            "vigil-collector",
            &["forecast", "--capacity", "lots"],
            &["'lots'", "--capacity"],
        ),
        (
            "vigil-collector",
            &["forecast", "--horizons", "1h,soon"],
            &["--horizons", "\"soon\""],
        ),
        (
            "vigil-collector",
            &["forecast", "--capacity", "inf"],
            &["--capacity", "finite"],
        ),
        // No stdin at all: the series is empty.
        ("vigil-collector", &["forecast"], &["0 usable point(s)"]),
        ("vigil-agent", &["--no-such-flag"], &["'--no-such-flag'"]),
        ("vigil-agent", &["--interval"], &["--interval"]),
        ("vigil-agent", &["--once=sometimes"], &["--once"]),
        ("vigil-agent", &["stray-argument"], &["'stray-argument'"]),
    ];
    for (binary, args, names) in cases {
        let what = format!("{binary} {}", args.join(" "));
        let outcome = run(binary, args, &[]);
        let line = assert_one_line(binary, &what, &outcome, names);
        assert!(!line.contains("Usage:"), "{what}: usage block in {line}");
    }
}

#[test]
fn cli_bad_config_key_or_env_value_is_one_line_naming_the_key_with_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let state_dir = tmp.path().join("state");
    let write = |name: &str, text: &str| {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let collector_unknown = write(
        "collector-unknown.toml",
        "listen = \"127.0.0.1:0\"\nhost_down_afte = \"5s\"\n",
    );
    let collector_values = write(
        "collector-values.toml",
        "log_format = \"xml\"\n[incidents]\nmin_severity = \"fatal\"\n",
    );
    let collector_sinks = write(
        "collector-sinks.toml",
        "[[sink]]\nname = \"pd\"\nkind = \"email\"\nurl = \"https://x\"\n\
         [[sink]]\nname = \"hook\"\nkind = \"webhook\"\n\
         [[sink]]\nname = \"keyed\"\nkind = \"webhook\"\nurl = \"https://x\"\nsecret_env = \"VIGIL_TEST_NO_SUCH_SECRET\"\n\
         [[route]]\nsinks = [\"nowhere\"]\n",
    );
    let collector_slos = write(
        "collector-slos.toml",
        "[[slo]]\nname = \"checkout\"\nservice = \"checkout\"\ntarget = 100\n\
         [[slo]]\nname = \"web\"\nprobe = \"http\"\ntarget = 99.9\n\
         [[slo.burn]]\nlong = \"5m\"\nshort = \"1h\"\nfactor = 14.4\n",
    );
    let agent_unknown = write("agent-unknown.toml", "[[probe]]\nnam = \"web\"\n");
    let agent_values = write(
        "agent-values.toml",
        "interval = \"10x\"\n[[probe]]\nname = \"web\"\nkind = \"tcp\"\ntarget = \"127.0.0.1:1\"\nseverity = \"fatal\"\n",
    );
    let missing = tmp.path().join("missing.toml");
    let missing = missing.to_str().unwrap();
    let data_dir = data_dir.to_str().unwrap();
    let state_dir = state_dir.to_str().unwrap();
    /// (binary, arguments, environment, what the line must name)
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "vigil-collector",
            vec!["--data-dir", data_dir, "--config", &collector_unknown],
            vec![],
            vec![
                "unknown field `host_down_afte`",
                "line 2",
                "collector-unknown.toml",
            ],
        ),
        (
            "vigil-collector",
            vec!["--data-dir", data_dir, "--config", &collector_values],
            vec![],
            vec![
                "config key log_format: unknown format \"xml\"",
                "; config key incidents.min_severity: unknown severity \"fatal\"",
            ],
        ),
        (
            "vigil-collector",
            vec!["--data-dir", data_dir, "--config", &collector_sinks],
            vec![],
            vec![
                "config key sink[0].kind: unknown kind \"email\"",
                "config key sink[1].url: missing",
                "config key sink[2].secret_env: environment variable VIGIL_TEST_NO_SUCH_SECRET",
                "config key route[0].sinks: no [[sink]] is named \"nowhere\"",
            ],
        ),
        (
            "vigil-collector",
            vec!["--data-dir", data_dir, "--config", &collector_slos],
            vec![],
            vec![
                "config key slo[0].target: 100 is not a percentage above 0 and below 100",
                "config key slo[1].probe: a probe needs its host",
                "config key slo[1].burn[0].short: must be longer than 0 and no longer than long",
            ],
        ),
        (
            "vigil-collector",
            vec!["--data-dir", data_dir, "--config", missing],
            vec![],
            vec!["config key config: cannot read", "missing.toml"],
        ),
        (
            "vigil-collector",
            vec!["--data-dir", data_dir],
            vec![("VIGIL_HOST_DOWN_AFTER", "soon")],
            vec!["config key host_down_after: invalid duration \"soon\""],
        ),
        (
            "vigil-agent",
            vec!["--state-dir", state_dir, "--config", &agent_unknown],
            vec![],
            vec!["unknown field `nam`", "line 2", "agent-unknown.toml"],
        ),
        (
            "vigil-agent",
            vec!["--state-dir", state_dir, "--config", &agent_values],
            vec![],
            vec![
                "config key interval: invalid duration \"10x\"",
                "; config key probe[0].severity: unknown severity \"fatal\"",
            ],
        ),
        (
            "vigil-agent",
            vec!["--state-dir", state_dir, "--config", missing],
            vec![],
            vec!["config key config: cannot read", "missing.toml"],
        ),
        (
            "vigil-agent",
            vec!["--state-dir", state_dir],
            vec![("VIGIL_LOG_FORMAT", "xml")],
            vec!["config key log_format: unknown format \"xml\""],
        ),
    ];
    for (binary, args, env, names) in &cases {
        let what = format!("{binary} {} {env:?}", args.join(" "));
        let outcome = run(binary, args, env);
        assert_one_line(binary, &what, &outcome, names);
    }
    // Nothing was started: a refused configuration leaves no state behind.
    assert!(
        !Path::new(data_dir).exists(),
        "the collector made its data dir"
    );
    assert!(
        !Path::new(state_dir).exists(),
        "the agent made its state dir"
    );
}

#[test]
fn cli_version_and_help_print_on_stdout_with_status_0() {
    let version = env!("CARGO_PKG_VERSION");
    for binary in ["vigil-agent", "vigil-collector"] {
        let outcome = run(binary, &["--version"], &[]);
        assert_eq!(
            outcome.code,
            Some(0),
            "{binary} --version: {}",
            outcome.stderr
        );
        assert_eq!(outcome.stdout, format!("{binary} {version}\n"));
        assert_eq!(outcome.stderr, "", "{binary} --version wrote to stderr");

        let outcome = run(binary, &["--help"], &[]);
        assert_eq!(outcome.code, Some(0), "{binary} --help: {}", outcome.stderr);
        assert_eq!(outcome.stderr, "", "{binary} --help wrote to stderr");
        let help = &outcome.stdout;
        assert!(
            help.contains(&format!("Usage: {binary} [OPTIONS]")),
            "{binary} --help: {help}"
        );
        for flag in [
            "--config <FILE>",
            "--log-format <FORMAT>",
            "--check-config",
            "--help",
            "--version",
        ] {
            assert!(help.contains(flag), "{binary} --help lacks {flag}: {help}");
        }
        assert!(
            help.lines().count() > 10,
            "{binary} --help is short: {help}"
        );
    }
    let outcome = run("vigil-collector", &["incidents", "--help"], &[]);
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("Usage: vigil-collector incidents"),
        "{}",
        outcome.stdout
    );
}
