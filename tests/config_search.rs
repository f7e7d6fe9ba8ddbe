//! The configuration search path when `-c` is absent (readconf.c's order).

use std::path::{Path, PathBuf};

use siproxd::config::{self, ConfigError};

/// A fresh, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "siproxd-config-search-{}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        TempDir(dir)
    }

    fn write(&self, name: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Err(e) = std::fs::write(&p, "sip_listen_port = 5060\n") {
            panic!("cannot write {}: {e}", p.display());
        }
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn search_order_is_upstreams() {
    let paths = config::search_path(Some(Path::new("/home/u")), Path::new("/opt/etc"));
    let expected: Vec<PathBuf> = [
        "/home/u/.siproxdrc",
        "/opt/etc/siproxd.conf",
        "/etc/siproxd.conf",
        "/etc/siproxd/siproxd.conf",
        "/usr/etc/siproxd.conf",
        "/usr/local/etc/siproxd.conf",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(paths, expected);
}

#[test]
fn search_path_without_home_and_with_default_sysconfdir_has_no_duplicates() {
    let paths = config::search_path(None, Path::new("/usr/local/etc"));
    let expected: Vec<PathBuf> = [
        "/usr/local/etc/siproxd.conf",
        "/etc/siproxd.conf",
        "/etc/siproxd/siproxd.conf",
        "/usr/etc/siproxd.conf",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(paths, expected);
}

#[test]
fn default_sysconfdir_is_usr_local_etc() {
    if option_env!("SIPROXD_SYSCONFDIR").is_none() {
        assert_eq!(config::default_sysconfdir(), Path::new("/usr/local/etc"));
    }
}

#[test]
fn home_file_wins_over_sysconfdir() {
    let home = TempDir::new("home");
    let etc = TempDir::new("etc");
    let rc = home.write(".siproxdrc");
    etc.write("siproxd.conf");
    assert_eq!(config::locate(None, Some(&home.0), &etc.0).ok(), Some(rc));
}

#[test]
fn sysconfdir_is_used_when_home_has_no_rc() {
    let home = TempDir::new("home2");
    let etc = TempDir::new("etc2");
    let conf = etc.write("siproxd.conf");
    assert_eq!(config::locate(None, Some(&home.0), &etc.0).ok(), Some(conf));
}

#[test]
fn explicit_file_is_taken_as_given() {
    let etc = TempDir::new("etc3");
    etc.write("siproxd.conf");
    let explicit = Path::new("/nowhere/my.conf");
    assert_eq!(
        config::locate(Some(explicit), None, &etc.0).ok(),
        Some(explicit.to_path_buf())
    );
}

#[test]
fn nothing_found_lists_every_path_tried() {
    let home = TempDir::new("home4");
    let etc = TempDir::new("etc4");
    let fixed = [
        "/etc/siproxd.conf",
        "/etc/siproxd/siproxd.conf",
        "/usr/etc/siproxd.conf",
        "/usr/local/etc/siproxd.conf",
    ];
    if fixed.iter().any(|p| Path::new(p).exists()) {
        return; // this machine has a system-wide siproxd.conf; the fixed paths are not ours to remove
    }
    match config::locate(None, Some(&home.0), &etc.0) {
        Err(e @ ConfigError::NotFound { .. }) => assert_eq!(
            e.to_string(),
            format!(
                "no configuration file found; tried: {}/.siproxdrc, {}/siproxd.conf, {}",
                home.0.display(),
                etc.0.display(),
                fixed.join(", ")
            )
        ),
        other => panic!("unexpected {other:?}"),
    }
}
