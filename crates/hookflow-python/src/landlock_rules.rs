//! The Landlock ruleset of one script run: read and execute on the system's and the
//! interpreter's directories, read and write on the run's own temporary directory and a few
//! devices, nothing else (so no data directory, key file or database file); signals and
//! abstract Unix sockets scoped to the script's own processes where the kernel can (ABI 6).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, Scope, path_beneath_rules,
};

/// Directories every interpreter needs to read and execute (binaries, libraries). Missing ones
/// are skipped; the few files of /etc needed are in `probe`.
pub const SYSTEM_READ: [&str; 6] = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"];

/// Devices the script may read (`/dev/null` may be written too).
const DEVICES_READ: [&str; 3] = ["/dev/urandom", "/dev/random", "/dev/zero"];

/// The Landlock ABI this kernel offers (`None`: Landlock not available).
pub fn kernel_abi() -> Option<(ABI, i32)> {
    let n = crate::child::landlock_abi();
    (n > 0).then(|| (ABI::from(n), n))
}

/// Builds the ruleset for a run whose only writable directory is `workdir`.
pub fn ruleset(abi: ABI, read: &[PathBuf], workdir: &Path) -> Result<OwnedFd, String> {
    let fail = |e: landlock::RulesetError| format!("cannot build the Landlock ruleset: {e}");
    let mut rs = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(fail)?;
    if abi as i32 >= 6 {
        rs = rs
            .scope(Scope::AbstractUnixSocket | Scope::Signal)
            .map_err(fail)?;
    }
    let created = rs
        .create()
        .map_err(fail)?
        .add_rules(path_beneath_rules(read, AccessFs::from_read(abi)))
        .map_err(fail)?
        .add_rules(path_beneath_rules(DEVICES_READ, AccessFs::ReadFile))
        .map_err(fail)?
        .add_rules(path_beneath_rules(
            ["/dev/null"],
            AccessFs::ReadFile | AccessFs::WriteFile,
        ))
        .map_err(fail)?
        .add_rules(path_beneath_rules([workdir], AccessFs::from_all(abi)))
        .map_err(fail)?;
    let fd: Option<OwnedFd> = created.into();
    fd.ok_or_else(|| "this kernel does not enforce Landlock".to_string())
}

/// The first allowed directory that holds `protected` (or lies inside it), if any.
pub fn overlap<'a>(allowed: &'a [PathBuf], protected: &Path) -> Option<&'a PathBuf> {
    allowed
        .iter()
        .find(|a| protected.starts_with(a) || a.starts_with(protected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_finds_a_data_dir_inside_an_allowed_dir_and_the_reverse() {
        let allowed = vec![PathBuf::from("/usr"), PathBuf::from("/opt/venv")];
        assert_eq!(
            overlap(&allowed, Path::new("/usr/local/hookflow")),
            Some(&PathBuf::from("/usr"))
        );
        assert_eq!(
            overlap(&allowed, Path::new("/opt")),
            Some(&PathBuf::from("/opt/venv"))
        );
        assert_eq!(overlap(&allowed, Path::new("/var/lib/hookflow")), None);
        assert_eq!(overlap(&allowed, Path::new("/usrx")), None);
    }
}
