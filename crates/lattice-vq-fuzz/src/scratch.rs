//! Scratch folders for the loaders that take paths: each case gets a fresh one, removed
//! when it ends, so cases never see each other's files (the replay test runs them on
//! several threads). Fuzzing is faster with `TMPDIR` on a RAM disk (fuzz/README.md).

use std::path::{Path, PathBuf};

/// A fresh, empty folder, deleted on drop.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// A new folder under the system's temporary directory.
    ///
    /// # Panics
    /// If it cannot be created: the harness is broken then, not the code under test.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("lattice-vq-fuzz")
            .tempdir()
            .expect("a scratch folder under the temporary directory");
        Self { dir }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `bytes` to `name` inside the folder (creating parent folders) and return its
    /// path.
    ///
    /// # Panics
    /// If the file cannot be written.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("scratch subfolder");
        }
        std::fs::write(&path, bytes).expect("scratch file");
        path
    }

    /// Create the folder `name` inside the folder and return its path.
    ///
    /// # Panics
    /// If it cannot be created.
    pub fn mkdir(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).expect("scratch subfolder");
        path
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}
