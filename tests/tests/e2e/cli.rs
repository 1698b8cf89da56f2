//! The command lines of both binaries: `--once`, exit codes and one-line errors naming the key,
//! flag > environment > file precedence.

use std::process::Command;
use vigil_e2e::bin;

fn run(command: &mut Command) -> (Option<i32>, String, String) {
    let output = command.output().expect("run binary");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn agent_once_prints_one_json_sample_of_the_host() {
    let (code, stdout, stderr) = run(Command::new(bin("vigil-agent"))
        .args(["--once", "--host-id", "once-host"])
        .env_remove("VIGIL_COLLECTOR"));
    assert_eq!(code, Some(0), "{stderr}");
    let batch: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!("--once output is not one JSON document ({error}): {stdout}")
    });
    assert_eq!(batch["agent"]["host_id"], "once-host");
    let names: Vec<&str> = batch["samples"]
        .as_array()
        .expect("samples array")
        .iter()
        .filter_map(|sample| sample["name"].as_str())
        .collect();
    for wanted in [
        "cpu_usage_ratio",
        "cpu_core_usage_ratio",
        "memory_used_bytes",
        "memory_total_bytes",
        "filesystem_used_bytes",
        "filesystem_size_bytes",
        "network_receive_bytes_total",
        "load1",
        "uptime_seconds",
    ] {
        assert!(names.contains(&wanted), "--once lacks {wanted}: {names:?}");
    }
    assert!(
        batch["inventory"]["kernel"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "{}",
        batch["inventory"]
    );
}

#[test]
fn bad_flags_and_config_exit_2_with_one_line_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Command, &str)> = vec![
        (
            "collector unknown flag",
            {
                let mut c = Command::new(bin("vigil-collector"));
                c.arg("--no-such-flag");
                c
            },
            "--no-such-flag",
        ),
        (
            "collector bad duration",
            {
                let mut c = Command::new(bin("vigil-collector"));
                c.args(["--host-down-after", "10x", "--data-dir"])
                    .arg(tmp.path());
                c
            },
            "host_down_after",
        ),
        (
            "collector bad env",
            {
                let mut c = Command::new(bin("vigil-collector"));
                c.env("VIGIL_LOG_FORMAT", "xml")
                    .arg("--data-dir")
                    .arg(tmp.path());
                c
            },
            "log_format",
        ),
        (
            "collector public listen",
            {
                let mut c = Command::new(bin("vigil-collector"));
                c.args(["--listen", "0.0.0.0:1", "--data-dir"])
                    .arg(tmp.path());
                c
            },
            "--insecure",
        ),
        (
            "agent bad interval",
            {
                let mut c = Command::new(bin("vigil-agent"));
                c.args(["--interval", "soon", "--state-dir"])
                    .arg(tmp.path().join("s"));
                c
            },
            "interval",
        ),
    ];
    for (what, mut command, key) in cases {
        let (code, _, stderr) = run(&mut command);
        assert_eq!(code, Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(key),
            "{what}: stderr lacks {key:?}: {stderr}"
        );
    }
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nhost_down_afte = \"5s\"\n",
    )
    .unwrap();
    let (code, _, stderr) = run(Command::new(bin("vigil-collector"))
        .arg("--config")
        .arg(&config));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("host_down_afte") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "not one line: {stderr}");
}

#[test]
fn a_flag_overrides_a_bad_environment_value() {
    // The environment says something invalid, but the flag wins, so the collector gets past config
    // validation and fails later only because the data dir is a file (exit 1, not 2).
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let (code, _, stderr) = run(Command::new(bin("vigil-collector"))
        .env("VIGIL_HOST_DOWN_AFTER", "bogus")
        .args([
            "--host-down-after",
            "5s",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&file));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot open the store"), "{stderr}");
}

#[test]
fn example_configs_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let (code, stdout, stderr) = run(Command::new(bin("vigil-collector"))
        .arg("--config")
        .arg(root.join("deploy/config/collector.example.toml"))
        .env("VIGIL_PROMETHEUS_TOKEN", "example-read-token")
        .arg("--check-config"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("host_down_after: 60s"), "{stdout}");
    let (code, stdout, stderr) = run(Command::new(bin("vigil-agent"))
        .arg("--config")
        .arg(root.join("deploy/config/agent.example.toml"))
        .arg("--check-config"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("checkout"), "{stdout}");
}
