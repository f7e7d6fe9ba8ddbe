//! The orchestrator: starts the relay and sink roles in their namespaces, steps the load,
//! runs the same load through kernel forwarding as the ceiling, and prints the figures and
//! their ratios. Every loop is bounded; a full run takes about two minutes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{LAN_RELAY_IP, SINK_IP, SINK_PORT};

pub struct Namespaces {
    pub lan: String,
    pub router: String,
    pub wan: String,
    pub threads: usize,
    pub quick: bool,
}

/// A role process with a line protocol on stdin/stdout.
struct Role {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Role {
    fn spawn(ns: &str, args: &[&str]) -> Role {
        let exe = std::env::current_exe().expect("own path");
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn role");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Role {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").expect("role alive");
        self.stdin.flush().ok();
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("role answer");
        line.trim().to_string()
    }

    fn quit(mut self) {
        writeln!(self.stdin, "quit").ok();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `key value key value …` → value of `key`.
fn field(line: &str, key: &str) -> u64 {
    let mut w = line.split_whitespace();
    while let Some(k) = w.next() {
        if k == key {
            return w.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    0
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Relay,
    Kernel,
}

#[derive(Default, Clone)]
struct Step {
    streams: usize,
    rate: u64,
    offered_pps: u64,
    target: u64,
    sent: u64,
    recv: u64,
    reordered: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    relay_cpu_pct: f64,
    router_rcvbuf: u64,
    sink_rcvbuf: u64,
    relay_send_errors: u64,
    gen_behind_us: u64,
    /// Planned duration of the generator run.
    millis: u64,
    /// Relay process RSS while the streams were open.
    rss_kb: u64,
    /// CPU of the generator process, % of one core: in kernel mode it includes the
    /// forwarding and delivery work done in softirq on its behalf.
    gen_cpu_pct: f64,
}

impl Step {
    fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            return 100.0;
        }
        100.0 * self.sent.saturating_sub(self.recv) as f64 / self.sent as f64
    }
    /// The generator could not offer the rate (sent < 99 % of the plan).
    fn gen_limited(&self) -> bool {
        self.sent * 100 < self.target * 99
    }
    fn line(&self, mode: Mode) -> String {
        format!(
            "{:6} {:5} str × {:2}/s = {:7} pps | sent {:8} recv {:8} loss {:6.3}% reord {:5} | lat p50 {:5} p99 {:6} max {:6} µs | cpu relay {:5.1}% gen {:5.1}% | rcvbuf drops rtr {} sink {} | {}",
            if mode == Mode::Relay { "relay" } else { "kernel" },
            self.streams, self.rate, self.offered_pps, self.sent, self.recv, self.loss_pct(), self.reordered,
            self.p50_us, self.p99_us, self.max_us, self.relay_cpu_pct, self.gen_cpu_pct, self.router_rcvbuf, self.sink_rcvbuf,
            if self.gen_limited() { format!("GENERATOR-LIMITED (behind {} µs)", self.gen_behind_us) } else { "ok".into() }
        )
    }
}

struct Bench {
    ns: Namespaces,
    relay: Role,
    sink: Role,
}

impl Bench {
    fn forwarding(&self, on: bool) {
        let v = if on {
            "net.ipv4.ip_forward=1"
        } else {
            "net.ipv4.ip_forward=0"
        };
        let ok = Command::new("ip")
            .args(["netns", "exec", &self.ns.router, "sysctl", "-qw", v])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "cannot set {v} in the router namespace");
    }

    fn step(&mut self, mode: Mode, streams: usize, rate: u64, millis: u64) -> Step {
        let (dst, ports) = match mode {
            Mode::Relay => {
                let ans = self.relay.ask(&format!("open {streams}"));
                let ports = ans
                    .strip_prefix("ports ")
                    .unwrap_or_else(|| panic!("relay: {ans}"))
                    .to_string();
                (LAN_RELAY_IP.to_string(), ports)
            }
            Mode::Kernel => (
                SINK_IP.to_string(),
                vec![SINK_PORT.to_string(); streams].join(","),
            ),
        };
        self.sink.ask("reset");
        let before = self.relay.ask("stats");
        let t0 = Instant::now();
        let gen_out = run_gen(&self.ns.lan, &dst, rate, millis, &ports);
        let wall = t0.elapsed();
        let after = self.relay.ask("stats");
        std::thread::sleep(Duration::from_millis(300));
        let sink = self.sink.ask("report");
        if mode == Mode::Relay {
            self.relay.ask("close");
        }
        let cpu_ns = field(&after, "cpu_ns").saturating_sub(field(&before, "cpu_ns"));
        Step {
            streams,
            rate,
            offered_pps: streams as u64 * rate,
            millis,
            target: field(&gen_out, "target"),
            sent: field(&gen_out, "sent"),
            gen_behind_us: field(&gen_out, "behind_max_us"),
            recv: field(&sink, "recv"),
            reordered: field(&sink, "reordered"),
            p50_us: field(&sink, "p50_us"),
            p99_us: field(&sink, "p99_us"),
            max_us: field(&sink, "max_us"),
            sink_rcvbuf: field(&sink, "rcvbuf_errors"),
            router_rcvbuf: field(&after, "rcvbuf_errors")
                .saturating_sub(field(&before, "rcvbuf_errors")),
            relay_send_errors: field(&after, "send_errors"),
            relay_cpu_pct: 100.0 * cpu_ns as f64 / wall.as_nanos().max(1) as f64,
            rss_kb: field(&after, "rss_kb"),
            gen_cpu_pct: 100.0 * field(&gen_out, "cpu_ns") as f64 / wall.as_nanos().max(1) as f64,
        }
    }

    /// Step the load up (stream count at 50 pps, then the per-stream rate once the stream
    /// count reaches what RLIMIT_NOFILE allows) until loss ≥ 0.1 % twice or the generator
    /// cannot offer the rate. Returns all steps.
    fn ramp(&mut self, mode: Mode, plan: &[(usize, u64)], millis: u64) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut lossy = 0;
        for &(n, rate) in plan {
            let s = self.step(mode, n, rate, millis);
            println!("{}", s.line(mode));
            let limited = s.gen_limited();
            lossy = if s.loss_pct() >= 0.1 { lossy + 1 } else { 0 };
            steps.push(s);
            if lossy >= 2 || limited {
                break;
            }
        }
        steps
    }
}

fn run_gen(ns: &str, dst: &str, rate: u64, millis: u64, ports: &str) -> String {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(exe)
        .args([
            "gen",
            "--dst",
            dst,
            "--rate",
            &rate.to_string(),
            "--millis",
            &millis.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn generator");
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{ports}").ok();
    }
    let out = child.wait_with_output().expect("generator output");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Highest delivered rate (packets/s actually sent and received) of a lossless step,
/// generator-limited steps included: there the forwarder delivered all the generator could
/// offer, so its own ceiling is at least that.
fn best_delivered(steps: &[Step]) -> u64 {
    steps
        .iter()
        .filter(|s| s.loss_pct() < 0.1)
        .map(|s| s.sent * 1000 / s.millis.max(1))
        .max()
        .unwrap_or(0)
}

pub fn run(ns: Namespaces) {
    let started = Instant::now();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("relay-bench: {cores} cores, loadavg at start {}", loadavg());
    println!(
        "packets: 172 bytes (12 RTP + 160 payload), 20 ms ptime; relay threads: {}",
        ns.threads
    );
    let threads = ns.threads.to_string();
    let relay = Role::spawn(&ns.router, &["relay", "--threads", &threads]);
    let sink = Role::spawn(&ns.wan, &["sink"]);
    let mut b = Bench { ns, relay, sink };
    b.forwarding(false);
    let millis = if b.ns.quick { 2000 } else { 3000 };
    if let Ok(n) = std::env::var("RELAY_BENCH_REPEAT_20K") {
        // Experiment mode: only the 20k pps relay step, n times (for A/B of relay settings).
        for _ in 0..n.parse().unwrap_or(1).min(20) {
            println!("{}", b.step(Mode::Relay, 400, 50, millis).line(Mode::Relay));
        }
        b.relay.quit();
        b.sink.quit();
        return;
    }

    // RSS first, before earlier steps inflate the allocator's high-water mark.
    let idle = b.relay.ask("stats");
    let rss0 = field(&idle, "rss_kb");
    // 4 sockets per stream (RTP + RTCP on each side), as upstream; keep 100 fds spare.
    let max_streams = (field(&idle, "nofile").saturating_sub(100) / 4) as usize;
    let many_n = max_streams.min(5000);
    if many_n < 5000 {
        println!("NOTE: RLIMIT_NOFILE {} allows only {many_n} streams (4 sockets each) in one process here", field(&idle, "nofile"));
    }
    println!(
        "\n== {many_n} concurrent streams at 10 pps ({} pps) through the relay ==",
        many_n * 10
    );
    let many = b.step(Mode::Relay, many_n, 10, millis + 2000);
    let rss_per_1000 = many.rss_kb.saturating_sub(rss0) as f64 * 1000.0 / many_n.max(1) as f64;
    println!("{}", many.line(Mode::Relay));
    println!("relay RSS: {rss0} kB idle, {} kB with {many_n} streams → {:.0} kB per 1,000 streams (user space; socket buffers are kernel memory)", many.rss_kb, rss_per_1000);

    println!("\n== latency and CPU at 20,000 pps (400 streams × 50 pps) ==");
    let lat_relay = b.step(Mode::Relay, 400, 50, millis + 2000);
    println!("{}", lat_relay.line(Mode::Relay));
    b.forwarding(true);
    let lat_kernel = b.step(Mode::Kernel, 400, 50, millis + 2000);
    println!("{}", lat_kernel.line(Mode::Kernel));
    b.forwarding(false);

    let cap = max_streams.min(8000);
    let mut plan: Vec<(usize, u64)> = [200, 400, 800, 1600, 2400, 3200, 4000, 6000, 8000]
        .iter()
        .map(|&n| (n.min(cap), 50))
        .collect();
    plan.dedup();
    // Past the stream cap, raise the per-stream rate (60, 80, 120, 160 pps) to keep probing.
    plan.extend([60, 80, 120, 160].iter().map(|&r| (cap, r)));
    let counts = &plan[..];
    println!("\n== ramp through the relay (IP forwarding off) ==");
    let relay_steps = b.ramp(Mode::Relay, counts, millis);
    println!("\n== ramp through kernel forwarding (no relay) ==");
    b.forwarding(true);
    let kernel_steps = b.ramp(Mode::Kernel, counts, millis);
    b.forwarding(false);

    summary(
        &relay_steps,
        &kernel_steps,
        &lat_relay,
        &lat_kernel,
        &many,
        rss_per_1000,
    );
    println!(
        "loadavg at end {}, total {:.0} s",
        loadavg(),
        started.elapsed().as_secs_f64()
    );
    b.relay.quit();
    b.sink.quit();
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "NOT MET"
    }
}

fn summary(
    relay: &[Step],
    kernel: &[Step],
    lat_r: &Step,
    lat_k: &Step,
    many: &Step,
    rss_per_1000: f64,
) {
    println!("\n== summary (targets from the relay brief) ==");
    let rb = best_delivered(relay);
    let kb = best_delivered(kernel);
    let relay_gen_limited = relay.last().is_some_and(Step::gen_limited);
    let kernel_gen_limited = kernel.last().is_some_and(Step::gen_limited);
    println!(
        "highest delivered rate with < 0.1 % loss: relay {rb} pps, kernel forwarding {kb} pps, ratio {:.2}{}",
        rb as f64 / kb.max(1) as f64,
        if relay_gen_limited || kernel_gen_limited {
            " (the generator, not the forwarder, set a ceiling: see GENERATOR-LIMITED)"
        } else {
            ""
        }
    );
    println!(
        "  target ≥ 0.80 × kernel: {}",
        verdict(rb as f64 >= 0.8 * kb as f64)
    );
    let lossless_all = relay
        .iter()
        .filter(|s| !s.gen_limited())
        .all(|s| s.recv == s.sent);
    println!(
        "  no loss at any rate the generator offered: {}",
        verdict(lossless_all)
    );
    let added_p99 = lat_r.p99_us as i64 - lat_k.p99_us as i64;
    println!("latency at 20k pps: relay p50 {} µs p99 {} µs; kernel p50 {} µs p99 {} µs; added p99 {} µs — target ≤ 1000 µs: {}",
        lat_r.p50_us, lat_r.p99_us, lat_k.p50_us, lat_k.p99_us, added_p99, verdict(added_p99 <= 1000));
    let fwd = lat_k.gen_cpu_pct - lat_r.gen_cpu_pct;
    println!(
        "kernel forwarding at 20k pps costs the sender {fwd:.1} % of a core extra (softirq on its behalf; gen {:.1} % vs {:.1} %); relay thread / kernel forwarding CPU ≈ {:.1}×",
        lat_k.gen_cpu_pct,
        lat_r.gen_cpu_pct,
        lat_r.relay_cpu_pct / fwd.max(0.1)
    );
    let per10k = lat_r.relay_cpu_pct / (lat_r.offered_pps as f64 / 10_000.0);
    println!("relay CPU at 20k pps: {:.1} % of one core ({per10k:.1} % per 10k pps); upstream ~90 % → ratio {:.3} — target ≤ 9 %: {}",
        lat_r.relay_cpu_pct, lat_r.relay_cpu_pct / 90.0, verdict(lat_r.relay_cpu_pct <= 9.0));
    println!(
        "{} streams × 10 pps: loss {:.3} % — target (5,000 streams) < 0.1 %: {}",
        many.streams,
        many.loss_pct(),
        verdict(many.streams >= 5000 && many.loss_pct() < 0.1 && !many.gen_limited())
    );
    println!(
        "RSS per 1,000 streams: {rss_per_1000:.0} kB — target ≤ 4096 kB: {}",
        verdict(rss_per_1000 <= 4096.0)
    );
    println!(
        "relay send errors (ENOBUFS/EAGAIN…) over the run: {}",
        relay.iter().map(|s| s.relay_send_errors).max().unwrap_or(0)
    );
}
