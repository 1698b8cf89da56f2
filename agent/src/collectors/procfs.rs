//! Root-relative access to `/proc` (node_exporter `paths.go`): every procfs path a collector reads
//! is joined onto an injectable root (`/` in production), so tests point the collectors at the
//! fixture tree under `agent/tests/fixtures/proc`.

use std::io;
use std::path::{Path, PathBuf};

use super::CollectorError;

/// Reads files under `<root>/proc`.
#[derive(Debug, Clone)]
pub struct Procfs {
    root: PathBuf,
}

impl Procfs {
    /// Files are read from `<root>/proc/...`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Procfs { root: root.into() }
    }

    /// The full path of `proc/<relative>`.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join("proc").join(relative)
    }

    /// The root given at construction.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads `proc/<relative>` as text.
    pub fn read(&self, relative: &str) -> Result<String, CollectorError> {
        let path = self.path(relative);
        std::fs::read_to_string(&path).map_err(|source| CollectorError::Read { path, source })
    }

    /// Reads `proc/<relative>`, or `None` when the file does not exist or the kernel does not
    /// support it (e.g. PSI disabled with `psi=0`, which answers `EOPNOTSUPP`).
    pub fn read_optional(&self, relative: &str) -> Result<Option<String>, CollectorError> {
        let path = self.path(relative);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(error)
                if error.kind() == io::ErrorKind::NotFound
                    || error.kind() == io::ErrorKind::Unsupported
                    || error.raw_os_error() == Some(libc::EOPNOTSUPP) =>
            {
                Ok(None)
            }
            Err(source) => Err(CollectorError::Read { path, source }),
        }
    }
}
