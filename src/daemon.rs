//! Process lifecycle: daemonizing, the pid file, the chroot jail, the
//! privilege drop and signal delivery.
//!
//! Layer: shell (syscalls). Mirrors upstream `siproxd.c:main` start-up order
//! and `utils.c:secure_enviroment`, with its flaws fixed:
//! - the double fork also does `chdir("/")`, `umask(022)`, and the first
//!   parent waits until the daemon reports that it started (so `siproxd`
//!   exits non-zero when the daemon could not start, instead of always 0);
//! - the pid file is written atomically and locked, so a second instance is
//!   refused and a stale file is recognised;
//! - `user` is a full drop (`setgroups`, `setgid`, `setuid`): the real uid
//!   is no longer 0 afterwards. Upstream only sets the effective uid and
//!   relies on regaining root for DSCP; IP_TOS needs no privilege.
//! - a failing chroot is an error, not a debug line.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{self, SigHandler, Signal};
use nix::unistd::{ForkResult, Gid, Uid, User};

/// What went wrong bringing the process up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    #[error("cannot fork: {0}")]
    Fork(nix::Error),
    #[error("setsid failed: {0}")]
    Setsid(nix::Error),
    #[error("siproxd is already running with pid {pid} (pid file {path} is locked)")]
    AlreadyRunning { pid: String, path: PathBuf },
    #[error("pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("user \"{0}\" (directive user) does not exist")]
    NoSuchUser(String),
    #[error("cannot look up user \"{name}\": {source}")]
    UserLookup { name: String, source: nix::Error },
    #[error("chrootjail {path}: chroot failed: {source}")]
    Chroot {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("dropping privileges to user \"{name}\" failed at {step}: {source}")]
    Drop {
        name: String,
        step: &'static str,
        source: nix::Error,
    },
    #[error("still running with real uid 0 after dropping to user \"{0}\"; refusing to go on")]
    StillRoot(String),
    #[error("cannot install signal handlers: {0}")]
    Signals(nix::Error),
}

/// The write end of the pipe through which the daemon tells the waiting
/// first parent that it is up (one byte 0) or failed (EOF without a byte).
pub struct ReadyNotifier {
    fd: Option<OwnedFd>,
}

impl ReadyNotifier {
    /// For a process that did not fork: nothing to notify.
    pub fn none() -> ReadyNotifier {
        ReadyNotifier { fd: None }
    }

    /// Tells the original parent that start-up succeeded; it exits 0.
    pub fn started(&mut self) {
        if let Some(fd) = self.fd.take() {
            let mut pipe = File::from(fd);
            let _ = pipe.write_all(&[0]);
        }
    }
}

/// Detaches from the terminal the classic way: fork (the parent waits for
/// the daemon's start-up report and exits with it), setsid, fork again,
/// chdir to `/`, umask 022, stdin/stdout/stderr to /dev/null.
///
/// Must run before any thread is started. Mirrors upstream `siproxd.c`
/// (`daemonize` block), which has no chdir, no umask and no start-up report.
pub fn daemonize() -> Result<ReadyNotifier, DaemonError> {
    let (read_end, write_end) = nix::unistd::pipe().map_err(DaemonError::Fork)?;
    // SAFETY: called while the process is single-threaded (documented
    // precondition), so the child may run arbitrary code after fork.
    match unsafe { nix::unistd::fork() }.map_err(DaemonError::Fork)? {
        ForkResult::Parent { .. } => {
            drop(write_end);
            std::process::exit(wait_for_start(read_end));
        }
        ForkResult::Child => drop(read_end),
    }
    nix::unistd::setsid().map_err(DaemonError::Setsid)?;
    // SAFETY: still single-threaded, see above.
    if let ForkResult::Parent { .. } = unsafe { nix::unistd::fork() }.map_err(DaemonError::Fork)? {
        // SAFETY: _exit skips atexit handlers and stdio flushing, which
        // belong to the grandchild that carries on.
        unsafe { libc::_exit(0) };
    }
    let _ = std::env::set_current_dir("/");
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    redirect_stdio_to_null();
    Ok(ReadyNotifier {
        fd: Some(write_end),
    })
}

/// The first parent's exit status: 0 once the daemon wrote its byte, 1 if
/// the pipe closed without it (the daemon died or gave up during start-up).
fn wait_for_start(read_end: OwnedFd) -> i32 {
    let mut pipe = File::from(read_end);
    let mut byte = [1u8];
    match pipe.read(&mut byte) {
        Ok(1) if byte[0] == 0 => 0,
        _ => 1,
    }
}

fn redirect_stdio_to_null() {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    for fd in 0..=2 {
        // SAFETY: dup2 onto 0, 1 and 2 replaces the standard streams with
        // /dev/null; both fds are open and owned by this process.
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
}

/// A pid file we wrote and hold locked for the life of the process.
pub struct PidFile {
    lock: Flock<File>,
    /// The path as seen after a chroot, used to remove the file at exit.
    view_path: PathBuf,
}

/// The two names of one pid file: where to create it now (before any
/// chroot) and how it is reached once inside the jail.
pub fn pid_paths(pid_file: &Path, chrootjail: Option<&Path>) -> (PathBuf, PathBuf) {
    match chrootjail {
        // A relative pid_file lives inside the jail, as with pfSense's
        // `pid_file = siproxd.pid` and `chrootjail = /var/siproxd/`.
        Some(jail) if pid_file.is_relative() => {
            (jail.join(pid_file), Path::new("/").join(pid_file))
        }
        _ => (absolute(pid_file), absolute(pid_file)),
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

impl PidFile {
    /// Refuses to go on when `path` is the locked pid file of a running
    /// siproxd. Called before forking, so the refusal reaches the terminal.
    pub fn check_not_running(path: &Path) -> Result<(), DaemonError> {
        refuse_if_locked(path)
    }

    /// Writes `"<pid>\n"` atomically (temporary file, lock, rename) and keeps
    /// it locked. A pid file that is locked by a live process means another
    /// siproxd runs: refused. An unlocked one is stale and replaced.
    /// `owner` is given the file so a daemon that dropped root can empty it.
    pub fn create(
        path: &Path,
        view_path: &Path,
        owner: Option<(Uid, Gid)>,
    ) -> Result<PidFile, DaemonError> {
        refuse_if_locked(path)?;
        let err = |source| DaemonError::PidFile {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(err)?;
        let mut lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| err(std::io::Error::from(e)))?;
        let written = writeln!(lock, "{}", std::process::id())
            .and_then(|_| chown_to(&lock, owner))
            .and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(e));
        }
        Ok(PidFile {
            lock,
            view_path: view_path.to_path_buf(),
        })
    }

    /// Removes the pid file at a clean exit. Where the directory is not
    /// writable any more (root-owned, after the privilege drop) the file is
    /// emptied instead, which the next start treats as stale.
    pub fn remove(self) {
        if std::fs::remove_file(&self.view_path).is_err() {
            let _ = self.lock.set_len(0);
            log::info!(
                "pid file {} could not be removed (directory not writable after the privilege drop); emptied it",
                self.view_path.display()
            );
        }
    }
}

fn chown_to(file: &File, owner: Option<(Uid, Gid)>) -> std::io::Result<()> {
    match owner {
        Some((uid, gid)) => {
            nix::unistd::fchown(file, Some(uid), Some(gid)).map_err(std::io::Error::from)
        }
        None => Ok(()),
    }
}

/// Fails with [`DaemonError::AlreadyRunning`] when `path` is a pid file
/// locked by another process.
fn refuse_if_locked(path: &Path) -> Result<(), DaemonError> {
    let Ok(mut file) = File::open(path) else {
        return Ok(());
    };
    let mut pid = String::new();
    let _ = file.read_to_string(&mut pid);
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_released_on_drop) => {
            if !pid.trim().is_empty() {
                log::info!(
                    "pid file {} is stale (pid {} is gone); replacing it",
                    path.display(),
                    pid.trim()
                );
            }
            Ok(())
        }
        Err(_) => Err(DaemonError::AlreadyRunning {
            pid: pid.trim().to_string(),
            path: path.to_path_buf(),
        }),
    }
}

/// The account named by `user`, looked up before any chroot (the jail
/// usually has no /etc/passwd).
pub struct Account {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
}

/// Looks `name` up in the password database.
pub fn lookup_user(name: &str) -> Result<Account, DaemonError> {
    match User::from_name(name) {
        Ok(Some(user)) => Ok(Account {
            name: name.to_string(),
            uid: user.uid,
            gid: user.gid,
        }),
        Ok(None) => Err(DaemonError::NoSuchUser(name.to_string())),
        Err(source) => Err(DaemonError::UserLookup {
            name: name.to_string(),
            source,
        }),
    }
}

/// Enters the chroot jail (then `chdir("/")`). Mirrors upstream
/// `utils.c:secure_enviroment`, but a failure is an error, not a debug line.
pub fn enter_jail(jail: &Path) -> Result<(), DaemonError> {
    // Resolve names once before the jail hides /etc, as upstream does.
    let _ = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 0));
    std::os::unix::fs::chroot(jail)
        .and_then(|_| std::env::set_current_dir("/"))
        .map_err(|source| DaemonError::Chroot {
            path: jail.to_path_buf(),
            source,
        })
}

/// Drops every privilege for good: supplementary groups, gid, then uid
/// (real, effective and saved). Checks that the real uid is no longer 0.
pub fn drop_privileges(account: &Account) -> Result<(), DaemonError> {
    let step = |step: &'static str| {
        move |source| DaemonError::Drop {
            name: account.name.clone(),
            step,
            source,
        }
    };
    nix::unistd::setgroups(&[account.gid]).map_err(step("setgroups"))?;
    nix::unistd::setgid(account.gid).map_err(step("setgid"))?;
    nix::unistd::setuid(account.uid).map_err(step("setuid"))?;
    if account.uid.is_root() || !(Uid::current().is_root() || Uid::effective().is_root()) {
        return Ok(());
    }
    Err(DaemonError::StillRoot(account.name.clone()))
}

/// A signal the main loop acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGTERM or SIGINT: save state, remove the pid file, exit 0.
    Shutdown,
    /// SIGHUP: reload what can change without dropping calls.
    Reload,
    /// SIGUSR1: log a one-line status summary.
    Status,
    /// SIGUSR2: upstream dumps allocator statistics; we log the summary too.
    Dump,
}

static SIGNAL_PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE_WRITE.load(Ordering::Relaxed);
    let byte = u8::try_from(sig).unwrap_or(0);
    // SAFETY: write(2) is async-signal-safe; the buffer is a local byte and
    // `fd` is the non-blocking write end of our own pipe (a full pipe just
    // loses a duplicate signal).
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

/// The read end of the signal self-pipe: register it with the event loop
/// and call [`SignalPipe::drain`] when it is readable.
pub struct SignalPipe {
    read: OwnedFd,
    _write: OwnedFd,
}

impl SignalPipe {
    /// Installs handlers for TERM, INT, HUP, USR1 and USR2 (with SA_RESTART)
    /// that write the signal number to a non-blocking pipe, and ignores
    /// SIGPIPE. Install after daemonizing.
    pub fn install() -> Result<SignalPipe, DaemonError> {
        let flags = nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC;
        let (read, write) = nix::unistd::pipe2(flags).map_err(DaemonError::Signals)?;
        SIGNAL_PIPE_WRITE.store(write.as_raw_fd(), Ordering::Relaxed);
        let action = signal::SigAction::new(
            SigHandler::Handler(on_signal),
            signal::SaFlags::SA_RESTART,
            signal::SigSet::empty(),
        );
        for sig in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
        ] {
            // SAFETY: `on_signal` only calls write(2), which is
            // async-signal-safe, and reads an atomic.
            unsafe { signal::sigaction(sig, &action) }.map_err(DaemonError::Signals)?;
        }
        // SAFETY: SIG_IGN installs no code of ours.
        unsafe { signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) }
            .map_err(DaemonError::Signals)?;
        Ok(SignalPipe {
            read,
            _write: write,
        })
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// The events that arrived since the last call, in order.
    pub fn drain(&self) -> Vec<Event> {
        let mut buf = [0u8; 64];
        let mut events = Vec::new();
        // SAFETY: a borrowed view of our own open fd; ManuallyDrop keeps
        // the File from closing it.
        let mut pipe =
            std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(self.read.as_raw_fd()) });
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            events.extend(buf.iter().take(n).filter_map(|&b| event_of(i32::from(b))));
        }
        events
    }
}

fn event_of(sig: i32) -> Option<Event> {
    match Signal::try_from(sig).ok()? {
        Signal::SIGTERM | Signal::SIGINT => Some(Event::Shutdown),
        Signal::SIGHUP => Some(Event::Reload),
        Signal::SIGUSR1 => Some(Event::Status),
        Signal::SIGUSR2 => Some(Event::Dump),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_pid_file_lives_inside_the_jail() {
        let (outside, inside) =
            pid_paths(Path::new("siproxd.pid"), Some(Path::new("/var/siproxd/")));
        assert_eq!(outside, Path::new("/var/siproxd/siproxd.pid"));
        assert_eq!(inside, Path::new("/siproxd.pid"));
    }

    #[test]
    fn absolute_pid_file_is_taken_as_is() {
        let (outside, inside) = pid_paths(
            Path::new("/run/siproxd.pid"),
            Some(Path::new("/var/siproxd")),
        );
        assert_eq!(outside, Path::new("/run/siproxd.pid"));
        assert_eq!(inside, Path::new("/run/siproxd.pid"));
    }

    #[test]
    fn pid_file_is_written_locked_and_a_second_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("spx-pid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("siproxd.pid");
        let pid = PidFile::create(&path, &path, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        let second = PidFile::create(&path, &path, None);
        let msg = second.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            msg,
            format!(
                "siproxd is already running with pid {} (pid file {} is locked)",
                std::process::id(),
                path.display()
            )
        );
        pid.remove();
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stale_pid_file_is_replaced() {
        let dir = std::env::temp_dir().join(format!("spx-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("siproxd.pid");
        std::fs::write(&path, "999999\n").unwrap();
        let pid = PidFile::create(&path, &path, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        pid.remove();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn signal_numbers_map_to_events() {
        assert_eq!(event_of(libc::SIGTERM), Some(Event::Shutdown));
        assert_eq!(event_of(libc::SIGINT), Some(Event::Shutdown));
        assert_eq!(event_of(libc::SIGHUP), Some(Event::Reload));
        assert_eq!(event_of(libc::SIGUSR1), Some(Event::Status));
        assert_eq!(event_of(libc::SIGALRM), None);
    }
}
