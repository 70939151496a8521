//! Reading the pseudonym key file, refusing one that does not keep the
//! key secret.
//!
//! Owner: `findings`. Whoever reads the key can reverse every pseudonym
//! by hashing candidate numbers and addresses, so, like OpenSSH with a
//! private key, the sensor refuses a key file that group or others may
//! access, that is not a regular file (a FIFO or a device would block the
//! start or feed an endless key), or that is larger than [`MAX_KEY_FILE`]
//! (no key is that long; a wrong path is more likely). Every refusal names
//! the file and the fix. Paths come from the configuration, never from
//! traffic, so they may appear in errors.

use super::{FindingsError, KEY_LEN};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Largest key file accepted, in bytes.
pub const MAX_KEY_FILE: u64 = 4096;

/// The key bytes of `path`: all of the file, at least [`KEY_LEN`].
pub fn read_key_file(path: &Path) -> Result<Vec<u8>, FindingsError> {
    let shown = path.display().to_string();
    let refuse = |why: String| FindingsError::KeyFileUnsafe {
        path: shown.clone(),
        why,
    };
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
    // writer; the type check below then refuses it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| FindingsError::KeyFile {
            path: shown.clone(),
            source,
        })?;
    // The opened file's own metadata (fstat), not the path's: what is
    // checked is what is read.
    let meta = file.metadata().map_err(|source| FindingsError::KeyFile {
        path: shown.clone(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(refuse(
            "not a regular file; point findings.key_file at a file of random bytes".into(),
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(refuse(format!(
            "mode {mode:04o} lets group or others access the key; run `chmod 600 {shown}`"
        )));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(refuse(format!(
            "{} bytes, at most {MAX_KEY_FILE} accepted; a key is {KEY_LEN} to {MAX_KEY_FILE} random bytes",
            meta.len()
        )));
    }
    let mut key = Vec::with_capacity(KEY_LEN);
    // Bounded even if the file grows after the check.
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut key)
        .map_err(|source| FindingsError::KeyFile {
            path: shown.clone(),
            source,
        })?;
    if key.len() as u64 > MAX_KEY_FILE {
        return Err(refuse(format!(
            "more than {MAX_KEY_FILE} bytes, at most {MAX_KEY_FILE} accepted"
        )));
    }
    if key.len() < KEY_LEN {
        return Err(FindingsError::KeyTooShort {
            path: shown,
            len: key.len(),
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sipsentinel-keyfile-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(p: &Path, bytes: &[u8], mode: u32) {
        std::fs::write(p, bytes).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn refuses_unsafe_key_files_with_the_fix() {
        let d = dir();
        let good = d.join("good.key");
        write(&good, &[7u8; 32], 0o600);
        assert_eq!(read_key_file(&good).unwrap(), vec![7u8; 32]);
        // Owner read-only is fine too.
        write(&good, &[7u8; 64], 0o400);
        assert_eq!(read_key_file(&good).unwrap().len(), 64);

        for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
            let p = d.join(format!("open-{mode:o}.key"));
            write(&p, &[7u8; 32], mode);
            let e = read_key_file(&p).unwrap_err().to_string();
            assert!(
                e.contains("chmod 600") && e.contains(&p.display().to_string()),
                "{e}"
            );
        }

        let big = d.join("big.key");
        write(&big, &[7u8; 4097], 0o600);
        let e = read_key_file(&big).unwrap_err().to_string();
        assert!(e.contains("4097 bytes, at most 4096"), "{e}");
        write(&big, &[7u8; 4096], 0o600);
        assert_eq!(read_key_file(&big).unwrap().len(), 4096);

        // A directory, a FIFO (must not block) and a device are refused.
        let e = read_key_file(&d).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let fifo = d.join("fifo.key");
        let made = std::process::Command::new("mkfifo")
            .args(["-m", "600"])
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = read_key_file(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_key_file(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");

        // A symlink to a good file is followed (the target is checked).
        let link = d.join("link.key");
        write(&good, &[9u8; 32], 0o600);
        std::os::unix::fs::symlink(&good, &link).unwrap();
        assert_eq!(read_key_file(&link).unwrap(), vec![9u8; 32]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
