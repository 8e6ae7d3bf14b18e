//! A profile directory: where one person's public identity metadata, claim records and wallet
//! live (never the secret key, which is in the OS credential store). Every write is atomic
//! (temporary file, fsync, rename, fsync of the directory) so a crash leaves the old or the
//! new content, never a torn file.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Errors reading or writing profile files.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is not valid: {source}")]
    Format { path: PathBuf, source: serde_json::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ProfileError + '_ {
    move |source| ProfileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The layout of a profile directory.
#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
}

impl Profile {
    /// Opens (and creates if needed) the profile at `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ProfileError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Profile { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Public identity metadata (`identity.json`).
    pub fn identity_path(&self) -> PathBuf {
        self.dir.join("identity.json")
    }

    /// Claim records, one per campaign.
    pub fn claims_dir(&self) -> PathBuf {
        self.dir.join("claims")
    }

    /// Wallet vouchers and issuer keys.
    pub fn wallet_dir(&self) -> PathBuf {
        self.dir.join("wallet")
    }
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ProfileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename itself is durable only once the directory is synced.
        #[cfg(unix)]
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

/// Serialises `value` as pretty JSON to `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ProfileError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| ProfileError::Format {
        path: path.to_owned(),
        source,
    })?;
    write_atomic(path, &bytes)
}

/// Reads JSON from `path`; `None` when the file does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ProfileError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ProfileError::Format {
                path: path.to_owned(),
                source,
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_json_roundtrip_and_missing_file() {
        let d = tempfile::tempdir().unwrap();
        let p = Profile::open(d.path().join("p")).unwrap();
        let path = p.claims_dir().join("demo.json");
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), None);
        write_json(&path, &vec![1u32, 2]).unwrap();
        write_json(&path, &vec![3u32]).unwrap();
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), Some(vec![3]));
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(p.claims_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("demo.json")]);
        fs::write(&path, b"{not json").unwrap();
        assert!(matches!(read_json::<Vec<u32>>(&path), Err(ProfileError::Format { .. })));
    }
}
