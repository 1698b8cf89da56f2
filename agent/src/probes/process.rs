//! The `process` probe: counts processes whose command line matches a regex, by reading
//! `/proc/<pid>/cmdline` (arguments joined with spaces) for every PID under the procfs root. The
//! agent's own process and kernel threads (empty command line) never match. Nothing else of the
//! process table is read, so the cost is one `readdir` of `/proc` and one small read per process,
//! and only when a process probe is due. The sorted PIDs go with the outcome so the sampler can
//! detect restarts.

use std::io::Read;
use std::path::Path;

use regex::Regex;

use super::Outcome;

/// Buffers reused between runs of one probe, so a run allocates nothing new once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    raw: Vec<u8>,
    line: String,
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

/// Scans `<root>/proc`; up when at least one process matches.
pub fn probe(root: &Path, pattern: &Regex, scratch: &mut Scratch) -> Outcome {
    let proc_dir = root.join("proc");
    let entries = match std::fs::read_dir(&proc_dir) {
        Ok(entries) => entries,
        Err(error) => return Outcome::down(format!("cannot list {}: {error}", proc_dir.display())),
    };
    let own_pid = std::process::id();
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
        scratch.raw.clear();
        // The process may be gone by now: skip it.
        let Ok(file) = std::fs::File::open(entry.path().join("cmdline")) else {
            continue;
        };
        if file.take(64 * 1024).read_to_end(&mut scratch.raw).is_err() || scratch.raw.is_empty() {
            continue;
        }
        command_line(&scratch.raw, &mut scratch.line);
        if pattern.is_match(&scratch.line) {
            pids.push(pid);
        }
    }
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
        let outcome = probe(dir.path(), &Regex::new("nginx").unwrap(), &mut scratch);
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
        let mut scratch = Scratch::default();
        let pattern = Regex::new(r"^sleep 30$").unwrap();
        let outcome = probe(Path::new("/"), &pattern, &mut scratch);
        let pid = child.id();
        let _ = child.kill();
        let _ = child.wait();
        assert!(outcome.pids.contains(&pid), "{outcome:?}");
        // This test process's own command line never counts.
        let own = Regex::new(&regex::escape(&std::env::args().next().unwrap())).unwrap();
        let outcome = probe(Path::new("/"), &own, &mut scratch);
        assert!(!outcome.pids.contains(&std::process::id()));
    }
}
