//! One `syncfs(2)` for a whole filesystem, used by group commit when many partitions
//! wait at once (see `sync_batch`).
//!
//! Linux reports a writeback error to `syncfs` only from 5.8 on (the per-superblock
//! error sequence); before that `syncfs` returns 0 even when pages were lost, so a
//! broker would acknowledge them. On older kernels, and off Linux, there is no
//! filesystem sync and every partition is fsynced file by file.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::LogError;

/// Oldest kernel whose `syncfs` reports writeback errors (major, minor).
pub const SYNCFS_ERRORS_KERNEL_MIN: (u32, u32) = (5, 8);

/// Where the running kernel's release string is read (no `uname` call needed).
const KERNEL_RELEASE_FILE: &str = "/proc/sys/kernel/osrelease";

/// Syncs every file of one filesystem at once. A trait so tests can make it fail.
pub trait FilesystemSync: Send + Sync {
    /// The filesystem's device id (`st_dev`): files elsewhere are not covered.
    fn device(&self) -> u64;
    /// Writes back every dirty page and inode of the filesystem and waits. An error
    /// means a writeback on the filesystem failed since the last call.
    fn sync(&self) -> Result<(), LogError>;
}

/// True when a kernel of this release (`uname -r`, e.g. "6.1.0-18-amd64") reports
/// writeback errors from `syncfs`. Unparsable releases count as old.
pub fn syncfs_reports_errors(release: &str) -> bool {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= SYNCFS_ERRORS_KERNEL_MIN,
        _ => false,
    }
}

/// `syncfs` on the filesystem of a log directory, through a descriptor of the
/// directory held for the directory's lifetime: the kernel samples the filesystem's
/// error sequence when a descriptor is opened, so this one hears of every writeback
/// error since the broker started, whichever file it hit.
pub struct Syncfs {
    dir: File,
    path: PathBuf,
    device: u64,
}

impl Syncfs {
    /// A filesystem sync for `data_dir`, or `None` (with the reason logged) when this
    /// kernel's `syncfs` would not report errors or the directory cannot be opened.
    pub fn for_dir(data_dir: &Path) -> Option<Box<dyn FilesystemSync>> {
        let release = std::fs::read_to_string(KERNEL_RELEASE_FILE).unwrap_or_default();
        let release = release.trim();
        if !cfg!(target_os = "linux") || !syncfs_reports_errors(release) {
            tracing::info!(
                kernel = release,
                "syncfs does not report writeback errors before Linux 5.8: group commit fsyncs each partition's files"
            );
            return None;
        }
        let opened = File::open(data_dir).and_then(|dir| {
            let device = dir.metadata()?.dev();
            Ok((dir, device))
        });
        match opened {
            Ok((dir, device)) => {
                tracing::info!(
                    data_dir = %data_dir.display(),
                    kernel = release,
                    logs_min = crate::sync_batch::SYNCFS_LOGS_MIN,
                    "group commit: one syncfs makes a round of many partitions durable"
                );
                Some(Box::new(Syncfs {
                    dir,
                    path: data_dir.to_path_buf(),
                    device,
                }))
            }
            Err(e) => {
                tracing::warn!(data_dir = %data_dir.display(), error = %e, "cannot open the log directory for syncfs: group commit fsyncs each partition's files");
                None
            }
        }
    }
}

impl FilesystemSync for Syncfs {
    fn device(&self) -> u64 {
        self.device
    }

    #[cfg(target_os = "linux")]
    fn sync(&self) -> Result<(), LogError> {
        use std::os::fd::AsRawFd;
        // SAFETY: `self.dir` is an open descriptor for as long as `self` lives;
        // syncfs only reads the descriptor number.
        let rc = unsafe { libc::syncfs(self.dir.as_raw_fd()) };
        if rc != 0 {
            return Err(LogError::io(&self.path, std::io::Error::last_os_error()));
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn sync(&self) -> Result<(), LogError> {
        // Never constructed off Linux (see `for_dir`).
        Err(LogError::io(
            &self.path,
            std::io::Error::from(std::io::ErrorKind::Unsupported),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_from_5_8_report_syncfs_errors() {
        assert!(syncfs_reports_errors("5.8.0"));
        assert!(syncfs_reports_errors("5.10.0-28-amd64"));
        assert!(syncfs_reports_errors("6.18.44-fc-v1272"));
        assert!(syncfs_reports_errors("10.0\n"));
        assert!(!syncfs_reports_errors("5.7.19"));
        assert!(!syncfs_reports_errors("4.19.0-25-amd64"));
        assert!(!syncfs_reports_errors("3.10.0-1160.el7.x86_64"));
        assert!(!syncfs_reports_errors(""));
        assert!(!syncfs_reports_errors("linux"));
        assert!(!syncfs_reports_errors("6"));
    }

    #[test]
    fn syncfs_on_a_directory_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        if let Some(sync) = Syncfs::for_dir(dir.path()) {
            std::fs::write(dir.path().join("f"), b"data").unwrap();
            sync.sync().unwrap();
            let dev = std::fs::metadata(dir.path()).unwrap().dev();
            assert_eq!(sync.device(), dev);
        }
    }
}
