//! Files only the server's own user may read: the data directory (0700), the issuer key files
//! and the SQLite database with its `-wal` and `-shm` files (0600). SQLite gives its `-wal` and
//! `-shm` files the mode of the database file, so making that file 0600 before SQLite opens it
//! covers all three; files left more open by an older version are tightened at start.

use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) if missing; `dir` itself ends with no group or other access.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if !dir.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    tighten(dir)
}

/// Removes group and other permissions from `path` if it has any (logging the change).
pub fn tighten(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
            tracing::warn!(path = %path.display(), from = format!("{:o}", mode & 0o777), to = format!("{:o}", mode & 0o700), "tightened permissions");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes the SQLite file at `db` (and its directory) private before SQLite opens it: an absent
/// file is created empty with mode 0600 (an empty file is an empty database), an existing one
/// and its `-wal` / `-shm` files are tightened.
pub fn sqlite_files(db: &Path) -> io::Result<()> {
    if db.as_os_str() == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        private_dir(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    drop(opts.open(db)?);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        if p.exists() {
            tighten(&p)?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn dirs_and_database_files_end_private() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let open = t.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        let db = open.join("x.db");
        sqlite_files(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        let wal = open.join("x.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        sqlite_files(&db).unwrap();
        assert_eq!(mode(&wal), 0o600);
    }
}
