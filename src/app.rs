//! The daemon's start-up, main loop and shutdown, in upstream's order.
//!
//! Layer: shell. Mirrors upstream `siproxd.c:main` (inventory §2.2):
//! command line → config → silence/debug → debug_port → daemonize → plugins →
//! pid file → chroot → privilege drop → relay and sockets → main loop.
//! Differences, each deliberate: the pid file is checked before forking so a
//! second start is refused on the terminal; the first parent exits with the
//! daemon's start-up result; SIGHUP reloads; SIGUSR1 logs a status line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::io::{Read, Seek};
use std::net::IpAddr;

use crate::cli::{self, Action, Options};
use crate::config::{self, AclEntry, Config, Loaded};
use crate::daemon::{self, Account, Event, PidFile, ReadyNotifier, SignalPipe};
use crate::net::dns::ResolverConfig;
use crate::net::event_loop::{self, EventLoop, InterfaceWatch, SipSockets};
use crate::net::iface;
use crate::plugin::chain::{PluginChain, SharedChain};
use crate::plugin::state::Snapshot;
use crate::proxy::{Proxy, Secrets};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// Exit status for an unknown option or a missing argument (as getopt users expect).
pub const EXIT_USAGE: i32 = 2;

/// Parses the command line; prints help, version or a usage error itself.
/// `Err` carries the exit status when there is nothing more to do.
pub fn parse_args<I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> Result<Options, i32> {
    match cli::parse(args) {
        Ok(Action::Run(opts)) => Ok(opts),
        Ok(Action::Help) => {
            eprint!("{}", cli::usage());
            Err(0)
        }
        Ok(Action::Version) => {
            println!("siproxd-rs {}", env!("CARGO_PKG_VERSION"));
            Err(0)
        }
        Err(err) => {
            eprintln!("siproxd: {err}");
            eprint!("{}", cli::usage());
            Err(EXIT_USAGE)
        }
    }
}

/// Finds and reads siproxd.conf (the `-c` file, or the search path), logs
/// its warnings and applies the command line. `Err(1)` after printing why.
pub fn load_config(opts: &Options) -> Result<(PathBuf, Loaded), i32> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let located = config::locate(
        opts.config.as_deref(),
        home.as_deref(),
        config::default_sysconfdir(),
    );
    let path = located.map_err(|err| {
        log::error!("{err}");
        1
    })?;
    let mut loaded = config::load(&path).map_err(|err| {
        for line in err.to_string().lines() {
            log::error!("{line}");
        }
        if let config::ConfigError::Invalid { warnings, .. } = &err {
            for warning in warnings {
                log::warn!("{warning}");
            }
        }
        1
    })?;
    loaded.apply_cli(opts);
    Ok((path, loaded))
}

/// `siproxd -t`: prints the effective configuration with every value's
/// origin, then what the host says about the interfaces and paths.
/// Returns 0 when the configuration is usable, 1 when it is not.
pub fn check(path: &Path, loaded: &Loaded) -> i32 {
    println!("# configuration file: {}", path.display());
    print!("{}", loaded.render_effective());
    let mut host = HostCheck::default();
    check_host(&loaded.config, &mut host);
    for note in &host.notes {
        println!("# note: {note}");
    }
    let warnings: Vec<String> = loaded
        .warnings
        .iter()
        .map(ToString::to_string)
        .chain(host.warnings)
        .collect();
    for warning in &warnings {
        println!("warning: {warning}");
    }
    for problem in &host.problems {
        println!("error: {problem}");
    }
    let verdict = if host.problems.is_empty() {
        "usable"
    } else {
        "NOT usable"
    };
    println!(
        "# {} warning(s), {} error(s): configuration is {verdict}",
        warnings.len(),
        host.problems.len()
    );
    i32::from(!host.problems.is_empty())
}

/// What `-t` learns from the running host.
#[derive(Default)]
struct HostCheck {
    notes: Vec<String>,
    warnings: Vec<String>,
    problems: Vec<String>,
}

/// Checks what only the running host can tell: interfaces, the user, paths.
fn check_host(cfg: &Config, host: &mut HostCheck) {
    for (directive, value) in [
        ("if_inbound", &cfg.if_inbound),
        ("if_outbound", &cfg.if_outbound),
    ] {
        let Some(name) = value.as_deref() else {
            host.problems.push(format!(
                "{directive} is not set: siproxd cannot tell LAN from WAN"
            ));
            continue;
        };
        match iface::lookup(name) {
            Ok(ip) => host
                .notes
                .push(format!("{directive} {name} has address {ip}")),
            // ppp0 may come up after boot: not fatal.
            Err(err) => host.warnings.push(format!("{directive}: {err} (yet)")),
        }
    }
    if let Some(name) = cfg.user.as_deref() {
        if let Err(err) = daemon::lookup_user(name) {
            host.problems.push(err.to_string());
        }
    }
    if let Some(jail) = cfg.chrootjail.as_deref() {
        if !jail.is_dir() {
            host.problems
                .push(format!("chrootjail {} is not a directory", jail.display()));
        }
    }
}

/// A file read at start-up that must stay readable for SIGHUP after the
/// chroot and the privilege drop: the path is tried first (an editor may
/// have replaced the file), then the descriptor opened before the jail.
struct Rereadable {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl Rereadable {
    fn open(path: &Path) -> Rereadable {
        Rereadable {
            path: path.to_path_buf(),
            file: std::fs::File::open(path).ok(),
        }
    }

    fn read(&mut self) -> std::io::Result<Vec<u8>> {
        if let Ok(bytes) = std::fs::read(&self.path) {
            return Ok(bytes);
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("not readable and no descriptor kept"))?;
        file.rewind()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

/// What start-up must read while it still can (before the chroot).
struct PreJail {
    sockets: SipSockets,
    secrets: Secrets,
    host_outbound: Option<IpAddr>,
    resolver: ResolverConfig,
    config_file: Rereadable,
    pwfile: Option<Rereadable>,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut buf);
    }
    buf
}

/// The password file's text; a configured but unreadable file is an error.
fn read_pwfile(file: &mut Option<Rereadable>) -> Result<Option<String>, String> {
    let Some(file) = file else { return Ok(None) };
    match file.read() {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) => Err(format!("proxy_auth_pwfile {}: {e}", file.path.display())),
    }
}

/// Addresses of the host names in the access lists (resolved before the jail).
fn resolve_acl_hosts(cfg: &Config) -> Vec<(String, Vec<IpAddr>)> {
    let lists = [
        &cfg.hosts_allow_reg,
        &cfg.hosts_allow_sip,
        &cfg.hosts_deny_sip,
    ];
    let names = lists.into_iter().flatten().filter_map(|e| match e {
        AclEntry::Host { name, .. } => Some(name.clone()),
        AclEntry::Net(_) => None,
    });
    names
        .map(|name| {
            let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), 0))
                .map(|a| a.map(|s| s.ip()).collect())
                .unwrap_or_default();
            (name, addrs)
        })
        .collect()
}

/// `host_outbound`: an address, or a name resolved now (dynamic DNS). A name that does not
/// resolve yet is not fatal — a router often starts before its WAN link and DNS are up, and
/// upstream starts too (it resolves the name per message). The event loop looks the name up
/// again every few seconds; until it answers, requests that need the WAN address get 408.
fn resolve_host_outbound(cfg: &Config) -> Option<IpAddr> {
    let host = cfg.host_outbound.as_deref()?;
    if let Ok(ip) = host.parse() {
        return Some(ip);
    }
    let ip = std::net::ToSocketAddrs::to_socket_addrs(&(host, 0))
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip());
    if ip.is_none() {
        log::warn!(
            "host_outbound {host}: does not resolve yet; nothing is sent to the WAN side (requests are answered 408) until it does — looked up again every few seconds"
        );
    }
    ip
}

fn prepare(cfg: &Config, config_path: &Path) -> Result<PreJail, i32> {
    let sockets = SipSockets::bind(cfg).map_err(|e| {
        log::error!(
            "cannot listen on UDP/TCP port {} (sip_listen_port): {e}",
            cfg.sip_listen_port
        );
        1
    })?;
    let mut pwfile = cfg.proxy_auth_pwfile.as_deref().map(Rereadable::open);
    let pwfile_text = read_pwfile(&mut pwfile).map_err(|e| {
        log::error!("{e}");
        1
    })?;
    let host_outbound = resolve_host_outbound(cfg);
    Ok(PreJail {
        sockets,
        secrets: Secrets {
            nonce_key: random_bytes(),
            pwfile_text,
            tag_seed: u64::from_ne_bytes(random_bytes()),
            acl_hosts: resolve_acl_hosts(cfg),
        },
        host_outbound,
        resolver: ResolverConfig::from_system(),
        config_file: Rereadable::open(config_path),
        pwfile,
    })
}

/// A started daemon: what the main loop needs.
pub struct Running {
    opts: Options,
    config_path: PathBuf,
    loaded: Loaded,
    pid_file: Option<PidFile>,
    signals: SignalPipe,
    event_loop: EventLoop,
    config_file: Rereadable,
    pwfile: Option<Rereadable>,
    secrets: Secrets,
    /// The plugins' host context, which counts SIGUSR1 for plugin_stats.
    plugin_host: Option<crate::plugin::HostContext>,
    started: Instant,
}

/// Brings the daemon up in upstream's order. `Err` carries the exit status
/// after the reason was logged.
pub fn start(opts: Options, config_path: PathBuf, loaded: Loaded) -> Result<Running, i32> {
    let cfg = &loaded.config;
    apply_log_settings(cfg);
    let pid_paths = cfg
        .pid_file
        .as_deref()
        .map(|p| daemon::pid_paths(p, cfg.chrootjail.as_deref()));
    if let Some((outside, _)) = &pid_paths {
        // Refuse a second instance while we still have the terminal.
        daemon::PidFile::check_not_running(outside).map_err(fail)?;
    }
    let debug_port = bind_debug_port(cfg);
    let pre = prepare(cfg, &config_path)?;
    let mut ready = if cfg.daemonize {
        let ready = daemon::daemonize().map_err(fail)?;
        crate::log::switch_to_syslog();
        ready
    } else {
        ReadyNotifier::none()
    };
    // Upstream loads plugins here: after daemonizing (their threads must
    // be the daemon's), before the jail (their files are outside it).
    let plugins = load_plugins(cfg);
    let account = lookup_account(cfg).map_err(fail)?;
    let owner = account.as_ref().map(|a| (a.uid, a.gid));
    let pid_file = match &pid_paths {
        Some((outside, inside)) => Some(PidFile::create(outside, inside, owner).map_err(fail)?),
        None => None,
    };
    secure_environment(cfg, account.as_ref()).map_err(fail)?;
    let signals = SignalPipe::install().map_err(fail)?;
    let mut event_loop = build_event_loop(
        cfg,
        pre.sockets,
        &signals,
        pre.secrets.clone(),
        pre.host_outbound,
        pre.resolver,
    )?;
    let plugin_host = plugins.as_ref().map(|p| p.host.clone());
    if let Some(p) = plugins {
        event_loop.set_plugins(p.chain, p.state);
    }
    if let Some(port) = debug_port {
        port.serve();
    }
    log::info!(
        "siproxd-rs {} started (pid {}, configuration {}, SIP port {})",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        config_path.display(),
        cfg.sip_listen_port
    );
    ready.started();
    Ok(Running {
        opts,
        config_path,
        loaded,
        pid_file,
        signals,
        event_loop,
        config_file: pre.config_file,
        pwfile: pre.pwfile,
        secrets: pre.secrets,
        plugin_host,
        started: Instant::now(),
    })
}

/// The proxy core (with the registrations saved last time) inside the
/// event loop. Runs inside the jail, as upstream's `register_init`.
fn build_event_loop(
    cfg: &Config,
    sockets: SipSockets,
    signals: &SignalPipe,
    secrets: Secrets,
    host_outbound: Option<IpAddr>,
    resolver: ResolverConfig,
) -> Result<EventLoop, i32> {
    let ifaces = InterfaceWatch::new(cfg, host_outbound);
    let mut proxy =
        Proxy::new(cfg, ifaces.interfaces(), secrets, event_loop::now()).map_err(|e| {
            log::error!("{e}");
            1
        })?;
    load_registrations(cfg, &mut proxy);
    EventLoop::new(cfg, sockets, signals.fd(), proxy, ifaces, resolver).map_err(|e| {
        log::error!("cannot start the event loop: {e}");
        1
    })
}

/// Loads `load_plugin` from `plugindir` in order and runs their `init` with
/// the `plugin_*` lines. A missing or refused plugin is logged and the
/// daemon runs on, as upstream.
fn load_plugins(cfg: &Config) -> Option<Plugins> {
    if cfg.load_plugin.is_empty() {
        return None;
    }
    let lines = cfg
        .plugins
        .iter()
        .map(|l| (l.key.clone(), l.value.clone()))
        .collect();
    let state = Arc::new(Snapshot::default());
    let host = crate::plugin::HostContext::new(lines).with_state(state.clone());
    let dir = cfg.plugindir.as_deref().unwrap_or("");
    let (loaded, refused) = crate::plugin::load_all(dir, &cfg.load_plugin, &host);
    for refusal in &refused {
        log::error!("{refusal}");
    }
    Some(Plugins {
        chain: SharedChain(Rc::new(RefCell::new(PluginChain::new(loaded)))),
        host,
        state,
    })
}

/// The loaded plugins with what the daemon shares with them.
struct Plugins {
    chain: SharedChain,
    /// Counts SIGUSR1 for plugin_stats (ABI 1.1 `status_requests`).
    host: crate::plugin::HostContext,
    state: Arc<Snapshot>,
}

fn load_registrations(cfg: &Config, proxy: &mut Proxy) {
    let Some(path) = cfg.registration_file.as_deref() else {
        return;
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            for damage in proxy.load_registrations(&text, event_loop::now()) {
                log::warn!(
                    "registration_file {}: {damage}; that entry is lost",
                    path.display()
                );
            }
            log::info!(
                "registration_file {}: {} registrations restored",
                path.display(),
                proxy.status().registrations
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            log::info!(
                "registration_file {} not found, starting with an empty table",
                path.display()
            );
        }
        Err(e) => log::warn!(
            "registration_file {}: {e}; starting with an empty table",
            path.display()
        ),
    }
}

fn fail(err: daemon::DaemonError) -> i32 {
    log::error!("{err}");
    1
}

fn apply_log_settings(cfg: &Config) {
    crate::log::set_silence(cfg.silence_log);
    crate::log::set_debug_mask(cfg.debug_level);
}

/// Binds `debug_port` on loopback and the inbound address only (upstream
/// binds every interface, unauthenticated). Failure is logged, not fatal.
fn bind_debug_port(cfg: &Config) -> Option<crate::log::DebugPort> {
    if cfg.debug_port == 0 {
        return None;
    }
    let mut addrs = vec![std::net::IpAddr::from([127, 0, 0, 1])];
    if let Some(Ok(ip)) = cfg.if_inbound.as_deref().map(iface::lookup) {
        if !addrs.contains(&ip) {
            addrs.push(ip);
        }
    }
    match crate::log::DebugPort::bind(&addrs, cfg.debug_port) {
        Ok(port) => {
            log::info!("debug_port: listening on {:?}", port.local_addrs());
            Some(port)
        }
        Err(err) => {
            log::error!("debug_port {}: cannot listen: {err}", cfg.debug_port);
            None
        }
    }
}

/// The `user` account, when running as root. Upstream applies `user` and
/// `chrootjail` only when started as root; so do we, with a warning.
fn lookup_account(cfg: &Config) -> Result<Option<Account>, daemon::DaemonError> {
    let Some(name) = cfg.user.as_deref() else {
        return Ok(None);
    };
    if !nix::unistd::Uid::effective().is_root() {
        log::warn!("user = {name} ignored: siproxd was not started as root");
        return Ok(None);
    }
    daemon::lookup_user(name).map(Some)
}

/// chroot, then the full privilege drop. Mirrors `utils.c:secure_enviroment`.
fn secure_environment(cfg: &Config, account: Option<&Account>) -> Result<(), daemon::DaemonError> {
    let root = nix::unistd::Uid::effective().is_root();
    match cfg.chrootjail.as_deref() {
        Some(jail) if root => {
            daemon::enter_jail(jail)?;
            log::info!("chrooted to {}", jail.display());
        }
        Some(jail) => log::warn!(
            "chrootjail = {} ignored: siproxd was not started as root",
            jail.display()
        ),
        None => {}
    }
    if let Some(account) = account {
        daemon::drop_privileges(account)?;
        log::info!(
            "running as user {} (uid {}, gid {})",
            account.name,
            account.uid,
            account.gid
        );
    }
    Ok(())
}

impl Running {
    /// The main loop until SIGTERM or SIGINT. Returns the exit status.
    pub fn run(mut self) -> i32 {
        loop {
            match self.event_loop.poll_once() {
                Ok(false) => {}
                Ok(true) => {
                    for event in self.signals.drain() {
                        if self.on_signal(event) {
                            return self.shutdown();
                        }
                    }
                }
                Err(err) => {
                    log::error!("event loop: {err}");
                    self.shutdown();
                    return 1;
                }
            }
        }
    }

    /// Handles one signal; true means shut down.
    fn on_signal(&mut self, event: Event) -> bool {
        match event {
            Event::Shutdown => true,
            Event::Reload => {
                self.reload();
                false
            }
            Event::Status | Event::Dump => {
                log::info!("{}", self.status_line());
                if let Some(host) = &self.plugin_host {
                    // plugin_stats dumps on SIGUSR1 (upstream installs its own handler).
                    host.note_status_request();
                }
                false
            }
        }
    }

    /// One line for SIGUSR1: what an admin asks first.
    pub fn status_line(&mut self) -> String {
        let tcp = self.event_loop.tcp_connections();
        let shell = self.event_loop.counters();
        let status = self.event_loop.proxy().status();
        format!(
            "status: siproxd-rs {} up {} s, pid {}, {} registrations, {} active calls, {} RTP streams, \
             {} TCP connections, {} UDP datagrams in, {} sends failed, {} next hops unresolved; {:?}",
            env!("CARGO_PKG_VERSION"),
            self.started.elapsed().as_secs(),
            std::process::id(),
            status.registrations,
            status.calls,
            status.rtp_streams,
            tcp,
            shell.udp_received,
            shell.send_failures,
            shell.unresolved,
            status.counters,
        )
    }

    /// SIGHUP: re-reads the configuration. What can change while calls run
    /// (log levels, ACLs, password file, per-message settings) takes effect
    /// now; what cannot (sockets, ports, jail, user) is named in the log.
    fn reload(&mut self) {
        let path = self.config_path.clone();
        let fresh = self
            .config_file
            .read()
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|bytes| config::parse_bytes(&bytes, &path).map_err(|e| e.to_string()));
        let mut fresh = match fresh {
            Ok(fresh) => fresh,
            Err(err) => {
                log::error!(
                    "reload of {} failed; keeping the running configuration:",
                    path.display()
                );
                for line in err.lines() {
                    log::error!("{line}");
                }
                return;
            }
        };
        fresh.apply_cli(&self.opts);
        for warning in &fresh.warnings {
            log::warn!("{warning}");
        }
        self.reload_core(&fresh.config);
        let pending = restart_only_changes(&self.loaded.config, &fresh.config);
        apply_log_settings(&fresh.config);
        self.loaded = fresh;
        log::info!("reload: configuration re-read from {}", path.display());
        if !pending.is_empty() {
            log::warn!(
                "reload: changed, takes effect after a restart: {}",
                pending.join(", ")
            );
        }
    }

    /// Passwords and ACL names re-read, then the core and the shell reconfigured.
    fn reload_core(&mut self, cfg: &Config) {
        if cfg.proxy_auth_pwfile != self.loaded.config.proxy_auth_pwfile {
            self.pwfile = cfg.proxy_auth_pwfile.as_deref().map(Rereadable::open);
        }
        match read_pwfile(&mut self.pwfile) {
            Ok(text) => self.secrets.pwfile_text = text,
            Err(e) => log::error!("reload: {e}; keeping the passwords read before"),
        }
        self.secrets.acl_hosts = resolve_acl_hosts(cfg);
        self.event_loop
            .proxy()
            .reconfigure(cfg, self.secrets.clone());
        self.event_loop.reconfigure_shell(cfg);
    }

    fn shutdown(self) -> i32 {
        log::info!("siproxd-rs shutting down (signal)");
        self.event_loop.save_registrations();
        self.event_loop.shutdown();
        if let Some(pid_file) = self.pid_file {
            pid_file.remove();
        }
        log::info!("siproxd-rs exiting with status 0");
        0
    }
}

/// The directives a reload cannot apply to a running daemon.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! compare {
        ($($field:ident),* $(,)?) => {
            $( if old.$field != new.$field { changed.push(stringify!($field)); } )*
        };
    }
    compare!(
        sip_listen_port,
        if_inbound,
        if_outbound,
        host_outbound,
        rtp_port_low,
        rtp_port_high,
        rtp_proxy_enable,
        rtp_dscp,
        rtp_relay_threads,
        sip_dscp,
        user,
        chrootjail,
        pid_file,
        daemonize,
        debug_port,
        plugindir,
        load_plugin,
        registration_file,
        thread_stack_size,
    );
    changed
}
