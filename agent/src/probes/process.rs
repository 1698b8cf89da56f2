//! The `process` probe: counts processes whose command line matches a regex, by reading
//! `/proc/<pid>/cmdline` (arguments joined with spaces) for every PID under the procfs root. The
//! agent's own process and kernel threads (empty command line) never match. Nothing else of the
//! process table is read, so the cost is one `readdir` of `/proc` and one small read per process,
//! and only when a process probe is due. The sorted PIDs go with the outcome so the sampler can
//! detect restarts.
//!
//! Between full scans (at least every [`MAX_SKIP`]) a scan reads the command line only of PIDs
//! it has not seen before; the verdict for a known PID is kept. So a process that `exec`s
//! another command line under the same PID is noticed within [`MAX_SKIP`], a new process at once.
//!
//! Whole scans are skipped when nothing can have changed: `/proc/loadavg` ends with the number of
//! scheduling entities and the last PID the kernel handed out; while both stay the same no task
//! was created (the last PID would move) and none exited (the count would drop), so the previous
//! outcome still holds.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use regex::Regex;

use super::Outcome;

/// Longest time a previous outcome is reused without a scan.
pub const MAX_SKIP: Duration = Duration::from_secs(60);

/// Buffers reused between runs of one probe (one pattern: the cache is per pattern), so a run allocates nothing new once warm, and the
/// previous outcome with the `/proc/loadavg` key it was taken under.
#[derive(Debug, Default)]
pub struct Scratch {
    raw: Vec<u8>,
    line: String,
    previous: Option<(String, Instant, Outcome)>,
    /// PID → (matches, generation last seen), since `full_scan`.
    known: HashMap<u32, (bool, u64)>,
    generation: u64,
    full_scan: Option<Instant>,
}

/// The `running/total last_pid` tail of `/proc/loadavg` without the running count, e.g.
/// `81 11023` for `0.24 0.38 0.23 1/81 11023`.
pub fn loadavg_key(text: &str, out: &mut String) -> bool {
    out.clear();
    let mut fields = text.split_whitespace().skip(3);
    let (Some(entities), Some(last_pid)) = (fields.next(), fields.next()) else {
        return false;
    };
    let Some((_, total)) = entities.split_once('/') else {
        return false;
    };
    out.push_str(total);
    out.push(' ');
    out.push_str(last_pid);
    true
}

/// The command line as matched: NUL separators become spaces, the trailing NUL goes.
pub fn command_line(raw: &[u8], out: &mut String) {
    out.clear();
    let trimmed = raw.strip_suffix(&[0]).unwrap_or(raw);
    for chunk in trimmed.utf8_chunks() {
        for c in chunk.valid().chars() {
            out.push(if c == '\0' { ' ' } else { c });
        }
        if !chunk.invalid().is_empty() {
            out.push('\u{FFFD}');
        }
    }
}

/// Scans `<root>/proc` (or reuses the last outcome, see the module doc); up when at least one
/// process matches.
pub fn probe(root: &Path, pattern: &Regex, scratch: &mut Scratch) -> Outcome {
    let mut key = String::new();
    let keyed = std::fs::read_to_string(root.join("proc/loadavg"))
        .is_ok_and(|text| loadavg_key(&text, &mut key));
    if keyed
        && let Some((previous_key, scanned, outcome)) = &scratch.previous
        && *previous_key == key
        && scanned.elapsed() < MAX_SKIP
    {
        return outcome.clone();
    }
    let outcome = scan(root, pattern, scratch);
    scratch.previous = keyed.then(|| (key, Instant::now(), outcome.clone()));
    outcome
}

/// One full scan of `<root>/proc`.
fn scan(root: &Path, pattern: &Regex, scratch: &mut Scratch) -> Outcome {
    let proc_dir = root.join("proc");
    let entries = match std::fs::read_dir(&proc_dir) {
        Ok(entries) => entries,
        Err(error) => return Outcome::down(format!("cannot list {}: {error}", proc_dir.display())),
    };
    let own_pid = std::process::id();
    if scratch
        .full_scan
        .is_none_or(|full_scan| full_scan.elapsed() >= MAX_SKIP)
    {
        scratch.known.clear();
        scratch.full_scan = Some(Instant::now());
    }
    scratch.generation += 1;
    let generation = scratch.generation;
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own_pid {
            continue;
        }
        if let Some((matches, seen)) = scratch.known.get_mut(&pid) {
            *seen = generation;
            if *matches {
                pids.push(pid);
            }
            continue;
        }
        scratch.raw.clear();
        // The process may be gone by now: skip it.
        let Ok(file) = std::fs::File::open(entry.path().join("cmdline")) else {
            continue;
        };
        if file.take(64 * 1024).read_to_end(&mut scratch.raw).is_err() {
            continue;
        }
        if scratch.raw.is_empty() {
            // A kernel thread (or a zombie): never matches.
            scratch.known.insert(pid, (false, generation));
            continue;
        }
        command_line(&scratch.raw, &mut scratch.line);
        let matches = pattern.is_match(&scratch.line);
        scratch.known.insert(pid, (matches, generation));
        if matches {
            pids.push(pid);
        }
    }
    scratch.known.retain(|_, (_, seen)| *seen == generation);
    pids.sort_unstable();
    let count = pids.len() as u64;
    let mut outcome = if count == 0 {
        Outcome::down("0 processes match")
    } else if count == 1 {
        Outcome::up("1 process matches")
    } else {
        Outcome::up(format!("{count} processes match"))
    };
    outcome.process_count = Some(count);
    outcome.pids = pids;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_command_line_joins_arguments() {
        let mut line = String::new();
        command_line(b"sleep\x00300\x00--tag\x00", &mut line);
        assert_eq!(line, "sleep 300 --tag");
        command_line(b"a\xffb", &mut line);
        assert_eq!(line, "a\u{FFFD}b");
        command_line(b"", &mut line);
        assert_eq!(line, "");
    }

    #[test]
    fn process_loadavg_key_takes_total_and_last_pid() {
        let mut key = String::new();
        assert!(loadavg_key("0.24 0.38 0.23 1/81 11023\n", &mut key));
        assert_eq!(key, "81 11023");
        assert!(!loadavg_key("0.24 0.38 0.23 1-81 11023", &mut key));
        assert!(!loadavg_key("", &mut key));
    }

    #[test]
    fn process_probe_reuses_the_outcome_while_loadavg_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let proc_dir = dir.path().join("proc");
        std::fs::create_dir_all(proc_dir.join("10")).unwrap();
        std::fs::write(proc_dir.join("10/cmdline"), b"worker\x00").unwrap();
        std::fs::write(proc_dir.join("loadavg"), "0 0 0 1/50 100\n").unwrap();
        let pattern = Regex::new("^worker$").unwrap();
        let mut scratch = Scratch::default();
        assert_eq!(
            probe(dir.path(), &pattern, &mut scratch).process_count,
            Some(1)
        );
        std::fs::create_dir_all(proc_dir.join("11")).unwrap();
        std::fs::write(proc_dir.join("11/cmdline"), b"worker\x00").unwrap();
        // Same loadavg key: not rescanned.
        assert_eq!(
            probe(dir.path(), &pattern, &mut scratch).process_count,
            Some(1)
        );
        std::fs::write(proc_dir.join("loadavg"), "0 0 0 1/51 101\n").unwrap();
        assert_eq!(
            probe(dir.path(), &pattern, &mut scratch).process_count,
            Some(2)
        );
    }

    #[test]
    fn process_probe_counts_matches_in_a_fake_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        let proc_dir = dir.path().join("proc");
        for (pid, cmdline) in [
            ("10", &b"/usr/bin/worker\x00--queue\x00mail\x00"[..]),
            ("11", b"/usr/bin/worker\x00--queue\x00sms\x00"),
            ("12", b"bash\x00"),
            ("13", b""),
            ("self", b"worker"),
        ] {
            std::fs::create_dir_all(proc_dir.join(pid)).unwrap();
            std::fs::write(proc_dir.join(pid).join("cmdline"), cmdline).unwrap();
        }
        let mut scratch = Scratch::default();
        let outcome = probe(
            dir.path(),
            &Regex::new("worker --queue").unwrap(),
            &mut scratch,
        );
        assert!(outcome.up);
        assert_eq!(outcome.process_count, Some(2));
        assert_eq!(outcome.pids, vec![10, 11]);
        assert_eq!(outcome.reason, "2 processes match");
        let outcome = probe(
            dir.path(),
            &Regex::new("nginx").unwrap(),
            &mut Scratch::default(),
        );
        assert!(!outcome.up);
        assert_eq!(outcome.reason, "0 processes match");
        let outcome = probe(
            &dir.path().join("missing"),
            &Regex::new("x").unwrap(),
            &mut scratch,
        );
        assert!(!outcome.up);
        assert!(outcome.reason.starts_with("cannot list"), "{outcome:?}");
    }

    #[test]
    fn process_probe_finds_a_real_child_but_never_itself() {
        let tag = format!("vigil-probe-test-{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("IGNORED", &tag)
            .spawn()
            .unwrap();
        let pid = child.id();
        // Between fork and exec the child still shows this test's command line: wait (bounded)
        // until it is `sleep`.
        for _ in 0..200 {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.starts_with(b"sleep\0") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let mut scratch = Scratch::default();
        let pattern = Regex::new(r"^sleep 30$").unwrap();
        let outcome = probe(Path::new("/"), &pattern, &mut scratch);
        let _ = child.kill();
        let _ = child.wait();
        assert!(outcome.pids.contains(&pid), "{outcome:?}");
        // This test process's own command line never counts.
        let own = Regex::new(&regex::escape(&std::env::args().next().unwrap())).unwrap();
        let outcome = probe(Path::new("/"), &own, &mut Scratch::default());
        assert!(!outcome.pids.contains(&std::process::id()));
    }
}
