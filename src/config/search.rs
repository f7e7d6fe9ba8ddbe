//! Where siproxd.conf is looked for when `-c` is not given.
//!
//! Mirrors readconf.c's search order: `$HOME/.siproxdrc`, `<sysconfdir>/siproxd.conf`,
//! `/etc/siproxd.conf`, `/etc/siproxd/siproxd.conf`, `/usr/etc/siproxd.conf`,
//! `/usr/local/etc/siproxd.conf`; the first existing file wins.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use super::diag::ConfigError;

/// The fixed candidates after the sysconfdir one, in upstream's order.
const FIXED: [&str; 4] = [
    "/etc/siproxd.conf",
    "/etc/siproxd/siproxd.conf",
    "/usr/etc/siproxd.conf",
    "/usr/local/etc/siproxd.conf",
];

/// The build-time sysconfdir (`SIPROXD_SYSCONFDIR`, as configure's `sysconfdir`), default
/// `/usr/local/etc` as the FreeBSD port installs it.
pub fn default_sysconfdir() -> &'static Path {
    Path::new(option_env!("SIPROXD_SYSCONFDIR").unwrap_or("/usr/local/etc"))
}

/// `$HOME`, when set and not empty.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The candidates in search order, without duplicates (sysconfdir is often /usr/local/etc).
pub fn search_path(home: Option<&Path>, sysconfdir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    let candidates = home
        .map(|h| h.join(".siproxdrc"))
        .into_iter()
        .chain(std::iter::once(sysconfdir.join("siproxd.conf")))
        .chain(FIXED.iter().map(PathBuf::from));
    for p in candidates {
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    paths
}

/// The file to load: `explicit` as given (the load reports it if it is missing), else the
/// first existing file of [`search_path`], else an error listing every path tried.
pub fn locate(
    explicit: Option<&Path>,
    home: Option<&Path>,
    sysconfdir: &Path,
) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let tried = search_path(home, sysconfdir);
    match tried.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(ConfigError::NotFound { tried }),
    }
}
