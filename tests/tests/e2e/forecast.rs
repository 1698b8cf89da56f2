//! `vigil-collector forecast` on the real binary: a filling disk written as messy CSV (header,
//! both stamp forms, unsorted and repeated rows, a gap) gets the SPEC JSON with an
//! `exhaustion_at` near the truth; a real trace from the fixtures is forecast as it is; bad input
//! is exit status 2 with one stderr line naming the input line.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use vigil_e2e::bin;
use vigil_shared::time::rfc3339;

/// Runs `vigil-collector forecast ARGS` with `input` on stdin: (status, stdout, stderr).
fn forecast(args: &[&str], input: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin("vigil-collector"))
        .arg("forecast")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start vigil-collector forecast");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        // A child that exits early closes the pipe; that is its answer, not a test failure.
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child
        .wait_with_output()
        .expect("vigil-collector forecast did not finish");
    writer.join().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/forecast")
        .join(name)
}

#[test]
fn forecast_command_finds_when_a_filling_disk_runs_out() {
    // 2 GB/h from 100 GB, 1-minute samples for 12 hours; capacity 150 GB is 13 hours after the
    // newest point (124 GB).
    let t0 = 1_790_000_000_000i64;
    let mut rows: Vec<String> = (0..=720)
        .filter(|minute| !(300..360).contains(minute))
        .map(|minute| {
            let stamp = rfc3339(t0 + minute * 60_000);
            let stamp = if minute % 2 == 0 {
                stamp
            } else {
                // The other accepted form: `YYYY-MM-DD HH:MM:SS`.
                stamp[..19].replace('T', " ")
            };
            format!("{stamp},{}", 100.0 + 2.0 * minute as f64 / 60.0)
        })
        .collect();
    rows.reverse();
    let repeated: Vec<String> = rows.iter().step_by(10).cloned().collect();
    rows.extend(repeated);
    let input = format!("timestamp,value\n{}\n", rows.join("\n"));
    let (code, stdout, stderr) =
        forecast(&["--horizons", "1h,6h,24h", "--capacity", "150"], &input);
    assert_eq!(code, Some(0), "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout).expect("stdout is one JSON document");
    for (horizon, hours) in [("1h", 1.0), ("6h", 6.0), ("24h", 24.0)] {
        let value = json["forecast"][horizon].as_f64().unwrap();
        let expected = 124.0 + 2.0 * hours;
        assert!(
            (value - expected).abs() < 0.05 * hours,
            "{horizon}: {value} vs {expected}"
        );
        let band = json["band"][horizon].as_array().unwrap();
        let (low, high) = (band[0].as_f64().unwrap(), band[1].as_f64().unwrap());
        assert!(low <= value && value <= high, "{horizon}: {band:?}");
    }
    assert_eq!(json["model"], "theil_sen");
    let exhaustion = json["exhaustion_at"].as_str().expect("an exhaustion time");
    let expected = t0 + (720 + 13 * 60) * 60_000;
    let at = vigil_shared::time::parse_rfc3339(exhaustion).unwrap();
    assert!(
        (at - expected).abs() <= 15 * 60_000,
        "{exhaustion} vs {}",
        rfc3339(expected)
    );
    let earliest =
        vigil_shared::time::parse_rfc3339(json["band_exhaustion_at"].as_str().unwrap()).unwrap();
    assert!(earliest <= at);
}

#[test]
fn forecast_command_reads_a_real_trace_as_it_is() {
    let input = std::fs::read_to_string(fixture("nab_ec2_cpu_utilization_825cc2.csv")).unwrap();
    let (code, stdout, stderr) = forecast(&["--horizons", "1h,24h", "--capacity", "100"], &input);
    assert_eq!(code, Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let value = json["forecast"]["24h"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&value), "{stdout}");
    assert!(
        json["model"].is_string() && json.get("exhaustion_at").is_some(),
        "{stdout}"
    );
}

#[test]
fn forecast_command_bad_input_is_one_line_naming_the_input_line_with_status_2() {
    let cases = [
        (
            "timestamp,value\n2026-11-21T10:00:00Z,1\nlast tuesday,2\n",
            "stdin line 3",
        ),
        (
            "2026-11-21T10:00:00Z,1\n2026-11-21T10:01:00Z,lots\n",
            "stdin line 2",
        ),
        (
            "2026-11-21T10:00:00Z,1\n2026-11-21T10:01:00Z,2\n",
            "2 usable point(s)",
        ),
    ];
    for (input, named) in cases {
        let (code, stdout, stderr) = forecast(&["--horizons", "1h"], input);
        assert_eq!(code, Some(2), "{input:?}: {stderr}");
        assert_eq!(stdout, "", "{input:?}");
        assert_eq!(stderr.lines().count(), 1, "{input:?}: {stderr}");
        assert!(
            stderr.starts_with("vigil-collector: ") && stderr.contains(named),
            "{input:?}: {stderr}"
        );
    }
}
