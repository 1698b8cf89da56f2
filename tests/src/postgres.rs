//! A throwaway PostgreSQL server for tests and benchmarks: Debian's `postgresql` binaries,
//! `initdb` into a temporary directory, the server on a free loopback port (and a socket in that
//! directory), stopped by PID when dropped. As root the server runs as the `postgres` user
//! (PostgreSQL refuses to run as root).
//!
//! Without the binaries, [`PgServer::start`] fails the test under CI (`CI` set: `.ci/run`
//! installs `postgresql`, so a missing server is a broken CI, never a silent skip) and returns
//! `None` elsewhere, printing why.

use crate::{Process, free_port};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A running PostgreSQL server.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    process: Option<Process>,
    user: Option<(u32, u32)>,
    durable: bool,
    /// Extra `-c` settings (TLS).
    settings: Vec<String>,
}

/// Where Debian puts the server binaries (the newest version installed).
fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists() && bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|path| {
        path.parent()
            .and_then(|version| version.file_name())
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

/// The `postgres` user's ids when running as root.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres") && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

fn chown(path: &Path, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: chown(2) on a path we created; the CString outlives the call.
        unsafe {
            libc::chown(path.as_ptr(), uid, gid);
        }
    }
}

fn as_server_user(command: &mut Command, user: Option<(u32, u32)>) {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
}

impl PgServer {
    /// Initializes and starts a server for tests (no fsync: a crash of this machine is not
    /// what the tests are about); `None` (after saying why) when PostgreSQL is not installed
    /// outside CI.
    pub fn start() -> Option<PgServer> {
        PgServer::start_with(false)
    }

    /// Like [`PgServer::start`]; `durable` keeps PostgreSQL's default fsync settings
    /// (benchmarks).
    pub fn start_with(durable: bool) -> Option<PgServer> {
        PgServer::start_full(durable, None)
    }

    /// Like [`PgServer::start`], serving TLS (`ssl = on`) with this certificate and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Option<PgServer> {
        PgServer::start_full(false, Some((cert_pem, key_pem)))
    }

    fn start_full(durable: bool, tls: Option<(&str, &str)>) -> Option<PgServer> {
        let Some(bin) = find_bin() else {
            let message = "PostgreSQL server binaries not found under /usr/lib/postgresql: \
                           apt-get install postgresql";
            if std::env::var_os("CI").is_some() {
                panic!("{message} (CI must run the PostgreSQL tests)");
            }
            eprintln!("SKIPPED: {message}");
            return None;
        };
        let user = server_user();
        let dir = tempfile::Builder::new()
            .prefix("vigil-pg-")
            .tempdir()
            .expect("temp dir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        chown(dir.path(), user);
        let data = dir.path().join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "vigil", "--no-sync", "-E", "UTF8"])
            .stdout(std::process::Stdio::null());
        as_server_user(&mut initdb, user);
        let status = initdb.status().expect("run initdb");
        assert!(status.success(), "initdb failed: {status}");
        let mut settings = Vec::new();
        if let Some((cert_pem, key_pem)) = tls {
            let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&cert, cert_pem).expect("write server certificate");
            std::fs::write(&key, key_pem).expect("write server key");
            // PostgreSQL refuses a key others can read.
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            chown(&cert, user);
            chown(&key, user);
            settings.push("ssl=on".to_owned());
            settings.push(format!("ssl_cert_file={}", cert.display()));
            settings.push(format!("ssl_key_file={}", key.display()));
        }
        let mut server = PgServer {
            dir,
            bin,
            port: free_port(),
            process: None,
            user,
            durable,
            settings,
        };
        server.resume();
        Some(server)
    }

    /// Starts the server (again, on the same port and data) and waits until it accepts.
    pub fn resume(&mut self) {
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
            ]);
        if !self.durable {
            command.args(["-c", "fsync=off", "-c", "full_page_writes=off"]);
        }
        for setting in &self.settings {
            command.arg("-c").arg(setting);
        }
        as_server_user(&mut command, self.user);
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.dir.path().join(format!("postgres-{n}.log"));
        self.process = Some(Process::spawn("postgres", command, log));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.accepts() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn accepts(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Stops the server (fast shutdown) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.signal(libc::SIGINT);
            if process.wait(Duration::from_secs(30)).is_none() {
                process.kill();
            }
        }
    }

    /// The postmaster's PID while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::pid)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A PostgreSQL client program (`psql`, `createdb`) pointed at this server as `vigil`.
    fn client(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "vigil",
        ]);
        command
    }

    /// Runs one SQL query in database `name` with psql; its unaligned output.
    pub fn query(&self, name: &str, sql: &str) -> String {
        let output = self
            .client("psql")
            .args(["-d", name, "-tAc", sql])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Creates database `name` (idempotent) and returns its URL.
    pub fn database(&self, name: &str) -> String {
        let output = self
            .client("createdb")
            .arg(name)
            .output()
            .expect("run createdb");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() || stderr.contains("already exists"),
            "createdb {name}: {stderr}"
        );
        self.url(name)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://vigil@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
