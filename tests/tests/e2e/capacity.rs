//! Live capacity forecasts with real parts: a real ext4 filesystem on a loop device, filled by
//! the test at about 1 MB/s while a real agent reports it every second to a real collector. The
//! collector must forecast its exhaustion (`GET /v1/capacity`, `vigil_capacity_exhaustion_seconds`)
//! and open a capacity incident before the filesystem is 90 % full; after a restart (the disk
//! still filling) the history carries on (more points than before), the forecast is still
//! listed and the incident is the same one.
//!
//! Loop devices need root: as another user the test says so and passes; under CI (`CI` set) it
//! fails instead, so it never skips silently there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use vigil_e2e::{Agent, Collector, eventually};

/// A loop-mounted ext4 image; unmounted (lazily) on drop.
struct LoopMount {
    mountpoint: PathBuf,
}

impl LoopMount {
    fn create(dir: &Path, megabytes: u64) -> Result<LoopMount, String> {
        let image = dir.join("fs.img");
        let mountpoint = dir.join("mnt");
        std::fs::create_dir_all(&mountpoint).map_err(|e| e.to_string())?;
        let file = std::fs::File::create(&image).map_err(|e| e.to_string())?;
        file.set_len(megabytes << 20).map_err(|e| e.to_string())?;
        let run = |program: &str, args: &[&str]| -> Result<(), String> {
            let output = Command::new(program)
                .args(args)
                .output()
                .map_err(|e| format!("{program}: {e}"))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{program} {args:?}: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ))
            }
        };
        let image_text = image.to_str().unwrap();
        // No blocks reserved for root: the agent's `avail` is then the free space.
        run("mkfs.ext4", &["-q", "-F", "-m", "0", image_text])?;
        run(
            "mount",
            &["-o", "loop", image_text, mountpoint.to_str().unwrap()],
        )?;
        Ok(LoopMount { mountpoint })
    }

    /// Used share of the filesystem, 0..1, as `df` computes it.
    fn used_ratio(&self) -> f64 {
        let output = Command::new("df")
            .args(["--output=used,avail", "-B1"])
            .arg(&self.mountpoint)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        let numbers: Vec<f64> = text
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        numbers[0] / (numbers[0] + numbers[1])
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mountpoint)
            .status();
    }
}

/// Writes 256 KiB every 250 ms (1 MiB/s) into `dir/fill` until `stop` or the disk is full.
fn start_filling(dir: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(dir.join("fill")).unwrap();
        let chunk = vec![0x5au8; 256 << 10];
        // Bounded: a 64 MB filesystem is full long before 600 chunks.
        for _ in 0..600 {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            if file
                .write_all(&chunk)
                .and_then(|()| file.sync_data())
                .is_err()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    })
}

const COLLECTOR_CONFIG: &str = r#"
[capacity]
forecast_every = "2s"
persist_every = "1s"
min_history = "15s"
"#;

#[tokio::test]
async fn a_filling_loop_filesystem_is_forecast_and_alerted_before_it_is_90_percent_full() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = match LoopMount::create(tmp.path(), 64) {
        Ok(mount) => mount,
        Err(reason) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipped: cannot make a loop-mounted filesystem here ({reason}); run as root"
            );
            return;
        }
        Err(reason) => panic!("CI must be able to loop-mount a filesystem (run as root): {reason}"),
    };
    let mountpoint = mount.mountpoint.to_str().unwrap().to_owned();
    let resource = format!("filesystem:{mountpoint}");
    let config = tmp.path().join("collector.toml");
    std::fs::write(&config, COLLECTOR_CONFIG).unwrap();
    let data_dir = tmp.path().join("data");
    let mut collector = Collector::start(&data_dir, &["--config", config.to_str().unwrap()]).await;
    let port = collector.port();
    let mut agent = Agent::start(
        &tmp.path().join("agent-state"),
        &collector.url,
        "disk-host",
        "1s",
        &[],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let filler = start_filling(mount.mountpoint.clone(), Arc::clone(&stop));

    // The capacity incident opens while the filesystem is still below 90 %.
    let incident = eventually(Duration::from_secs(90), Duration::from_millis(250), || {
        let collector = &collector;
        let check = format!("capacity:{resource}");
        async move {
            let (_, incidents) = collector.get_json("/v1/incidents?host=disk-host").await;
            incidents
                .as_array()
                .and_then(|all| all.iter().find(|i| i["check"] == check.as_str()).cloned())
                .ok_or_else(|| format!("no {check} incident yet: {incidents}"))
        }
    })
    .await;
    let used_at_open = mount.used_ratio();
    assert!(
        used_at_open < 0.9,
        "the capacity incident opened only at {:.0} % used",
        used_at_open * 100.0
    );
    assert_eq!(incident["state"], "open");
    assert_eq!(incident["severity"], "major", "{incident}");
    assert_eq!(
        incident["priority"], 2,
        "24 h → major → priority 2: {incident}"
    );
    let summary = incident["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "filesystem {mountpoint} on disk-host is forecast to run out in"
        )),
        "{summary}"
    );

    // The forecast, fleet-wide from the store, and as a metric.
    let query = format!("/v1/capacity?host=disk-host&resource={resource}");
    let (status, listed) = collector.get_json(&query).await;
    assert_eq!(status, 200, "{listed}");
    let record = listed[0].clone();
    assert_eq!(record["resource"], resource.as_str());
    assert_eq!(record["unit"], "bytes");
    assert!(record["exhaustion_at"].is_string(), "{record}");
    assert!(record["capacity"].as_f64().unwrap() > 50e6, "{record}");
    assert!(record["forecast"]["1h"].as_f64().is_some(), "{record}");
    assert_eq!(record["band"]["24h"].as_array().map(Vec::len), Some(2));
    assert_eq!(record["alert"], "major");
    let (_, metrics) = collector.get_text("/metrics").await;
    let line =
        format!("vigil_capacity_exhaustion_seconds{{host=\"disk-host\",resource=\"{resource}\"}}");
    assert!(metrics.contains(&line), "no {line} in /metrics");
    assert!(metrics.contains("vigil_capacity_forecast{horizon=\"1h\",host=\"disk-host\""));
    let (status, _) = collector.get_json("/v1/capacity?exhausting=maybe").await;
    assert_eq!(status, 400);
    let points_before = record["points"].as_u64().unwrap();

    // A clean restart keeps the history: the next forecast has seen more points than the last.
    assert!(
        collector
            .process
            .terminate(Duration::from_secs(20))
            .is_some()
    );
    let collector =
        Collector::start_on(&data_dir, port, &["--config", config.to_str().unwrap()]).await;
    let (_, listed) = collector.get_json(&query).await;
    assert_eq!(
        listed[0]["points"], record["points"],
        "the stored forecast is listed at start"
    );
    eventually(Duration::from_secs(60), Duration::from_millis(500), || {
        let collector = &collector;
        let query = query.clone();
        let computed_before = record["computed_at"].clone();
        async move {
            let (_, listed) = collector.get_json(&query).await;
            let now = &listed[0];
            let points = now["points"].as_u64().unwrap_or(0);
            if now["computed_at"] != computed_before && points > points_before {
                Ok(())
            } else {
                Err(format!(
                    "not carried on yet: {points} points (before: {points_before}): {now}"
                ))
            }
        }
    })
    .await;
    // The kept history, from the store: the agent's samples in time order, filling.
    let history = format!("/v1/capacity/history?host=disk-host&resource={resource}");
    let (status, kept) = collector.get_json(&history).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept["resource"], resource.as_str());
    let points = kept["points"].as_array().unwrap();
    assert!(
        points.len() as u64 >= points_before,
        "{} points",
        points.len()
    );
    let times: Vec<&str> = points.iter().map(|p| p["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "{times:?}");
    let (first, last) = (&points[0]["value"], &points[points.len() - 1]["value"]);
    assert!(
        last.as_f64().unwrap() > first.as_f64().unwrap(),
        "{first} .. {last}"
    );
    let since = format!("{history}&since={}", times[times.len() / 2]);
    let (_, later) = collector.get_json(&since).await;
    assert_eq!(later["points"][0]["at"], times[times.len() / 2]);
    for (query, expected) in [
        ("/v1/capacity/history?host=disk-host&resource=nothing", 404),
        ("/v1/capacity/history?host=disk-host", 400),
        (&format!("{history}&since=yesterday") as &str, 400),
    ] {
        let (status, body) = collector.get_json(query).await;
        assert_eq!(status, expected, "{query}: {body}");
        assert!(body["error"].is_string(), "{query}: {body}");
    }
    // The incident is still the one: a restart neither resolves nor opens it again.
    let (_, incidents) = collector.get_json("/v1/incidents?host=disk-host").await;
    let capacity: Vec<_> = incidents
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["check"] == format!("capacity:{resource}").as_str())
        .collect();
    assert_eq!(capacity.len(), 1, "{incidents}");
    assert_eq!(capacity[0]["id"], incident["id"]);
    assert_eq!(capacity[0]["state"], "open");
    stop.store(true, Ordering::SeqCst);
    filler.join().unwrap();
    agent.process.kill();
}
