//! Size and free space of the filesystem holding a log directory (statvfs), for
//! DescribeLogDirs' `total_bytes` and `usable_bytes`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Total and usable (free to an unprivileged user) bytes of a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub total_bytes: u64,
    pub usable_bytes: u64,
}

impl DiskSpace {
    /// The filesystem holding `path`.
    pub fn of(path: &Path) -> std::io::Result<DiskSpace> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to
        // writable memory of the right type; statvfs fills it on success.
        let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: statvfs returned 0, so it initialised `stat`.
        let stat = unsafe { stat.assume_init() };
        // The field types differ between platforms (u32 on some 32-bit targets).
        #[allow(clippy::unnecessary_cast)]
        let (fragment, blocks, available) = (
            stat.f_frsize as u64,
            stat.f_blocks as u64,
            stat.f_bavail as u64,
        );
        Ok(DiskSpace {
            total_bytes: blocks.saturating_mul(fragment),
            usable_bytes: available.saturating_mul(fragment),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_has_a_filesystem_with_room_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let space = DiskSpace::of(dir.path()).unwrap();
        assert!(space.total_bytes > 0);
        assert!(space.usable_bytes <= space.total_bytes);
        assert!(DiskSpace::of(&dir.path().join("missing")).is_err());
    }
}
