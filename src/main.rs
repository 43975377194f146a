//! `dualwan`: the command line, and the one poll loop that connects the adapters in
//! `sys` to the pure core in `daemon`.

use argh::FromArgs;
use dualwan::config::{self, Config, LogLevel, Report, MAX_WANS};
use dualwan::daemon::{Action, Daemon, Event};
use dualwan::sys::clock;
use dualwan::sys::hotplug::{Hotplug, HOTPLUG_DIR, RUN_LIMIT};
use dualwan::sys::icmp::ProbeSocket;
use dualwan::sys::log::{Log, Target};
use dualwan::sys::netlink::Netlink;
use dualwan::sys::signals::{Request, Signals};
use dualwan::time::Instant;
use dualwan::wire::icmp::Icmp;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::process::ExitCode;

const DEFAULT_CONFIG: &str = "/etc/config/dualwan";

/// Multi-WAN failover daemon for OpenWrt.
#[derive(FromArgs)]
struct Args {
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Run(RunArgs),
    Check(CheckArgs),
}

/// Run the daemon in the foreground (as procd starts it).
#[derive(FromArgs)]
#[argh(subcommand, name = "run")]
struct RunArgs {
    /// config file (default /etc/config/dualwan)
    #[argh(option, short = 'c', default = "DEFAULT_CONFIG.to_string()")]
    config: String,
    /// where logs go: syslog (default) or stderr
    #[argh(option, default = "String::from(\"syslog\")")]
    log: String,
    /// ubusd socket (default /var/run/ubus/ubus.sock)
    #[argh(option, default = "String::from(\"/var/run/ubus/ubus.sock\")")]
    #[allow(dead_code)] // the ubus connection comes with the ubus issue
    ubus_socket: String,
}

/// Validate the config and print it with every default; changes nothing.
#[derive(FromArgs)]
#[argh(subcommand, name = "check")]
struct CheckArgs {
    /// config file (default /etc/config/dualwan)
    #[argh(option, short = 'c', default = "DEFAULT_CONFIG.to_string()")]
    config: String,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let args = match Args::from_args(&["dualwan"], strs.get(1..).unwrap_or(&[])) {
        Ok(args) => args,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    print!("{}", early.output);
                    ExitCode::SUCCESS
                }
                Err(()) => {
                    eprint!("dualwan: {}", early.output);
                    if !early.output.ends_with('\n') {
                        eprintln!();
                    }
                    ExitCode::from(2)
                }
            };
        }
    };
    if args.version {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    match args.command {
        Some(Command::Check(c)) => check(&c.config),
        Some(Command::Run(r)) => run(&r),
        None => {
            eprintln!("dualwan: a command is needed: run, check (see dualwan --help)");
            ExitCode::from(2)
        }
    }
}

fn print_report(file: &str, report: &Report) {
    for w in &report.warnings {
        eprintln!("{}", WarningIn(file, w));
    }
    for e in &report.errors {
        eprintln!("{}", e.display_in(file));
    }
}

struct WarningIn<'a>(&'a str, &'a config::ConfigError);
impl std::fmt::Display for WarningIn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (warning)", self.1.display_in(self.0))
    }
}

fn check(file: &str) -> ExitCode {
    let (config, report) = config::load_file(file);
    print_report(file, &report);
    match config {
        Some(c) => {
            let mut out = String::new();
            let _ = config::write_effective(&c, &mut out);
            print!("{out}");
            ExitCode::SUCCESS
        }
        None => ExitCode::from(1),
    }
}

fn load_for_run(file: &str, log: &Log) -> Option<Config> {
    let (config, report) = config::load_file(file);
    for w in &report.warnings {
        log.write(LogLevel::Warning, &WarningIn(file, w).to_string());
    }
    for e in &report.errors {
        log.write(LogLevel::Err, &e.display_in(file).to_string());
    }
    config
}

fn run(args: &RunArgs) -> ExitCode {
    let target = match args.log.as_str() {
        "syslog" => Target::Syslog,
        "stderr" => Target::Stderr,
        other => {
            eprintln!("dualwan: --log takes syslog or stderr, not '{other}'");
            return ExitCode::from(2);
        }
    };
    let log = Log::open(target);
    let Some(config) = load_for_run(&args.config, &log) else {
        log.write(LogLevel::Err, &format!("{}: invalid configuration, not starting", args.config));
        return ExitCode::from(1);
    };
    let mut signals = match Signals::open() {
        Ok(s) => s,
        Err(e) => {
            log.write(LogLevel::Err, &format!("signalfd: {e}"));
            return ExitCode::from(1);
        }
    };
    let mut netlink = match Netlink::open() {
        Ok(n) => n,
        Err(e) => {
            log.write(LogLevel::Err, &e.to_string());
            return ExitCode::from(1);
        }
    };
    let mut sockets: [Option<ProbeSocket>; MAX_WANS] = Default::default();
    let mut core = Daemon::new(clock::now(), config, std::process::id() as u16 & 0xfff0);
    log.write(LogLevel::Info, &format!("dualwan {} started", env!("CARGO_PKG_VERSION")));

    let mut hotplug = Hotplug::new(HOTPLUG_DIR, RUN_LIMIT);
    let mut stop_requested = false;
    loop {
        let now = clock::now();
        carry_out(&mut core, now, &mut netlink, &mut sockets, &mut hotplug, &log);
        hotplug.reap(now);
        if core.is_stopped() {
            log.write(LogLevel::Info, "stopped; our rules and routes are removed");
            return ExitCode::SUCCESS;
        }

        // Wait until the core's next deadline, or for input.
        let deadline = match (core.poll_timeout(), hotplug.next_deadline(now)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = match deadline {
            Some(deadline) => {
                let us = deadline.saturating_since(clock::now()).as_micros();
                PollTimeout::try_from(us.div_ceil(1000).min(60_000) as i32).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::try_from(60_000).unwrap_or(PollTimeout::MAX),
        };
        let mut fds: heapless::Vec<PollFd, { MAX_WANS + 2 }> = heapless::Vec::new();
        let _ = fds.push(PollFd::new(signals.fd(), PollFlags::POLLIN));
        let _ = fds.push(PollFd::new(netlink.event_fd(), PollFlags::POLLIN));
        let mut slots: heapless::Vec<usize, MAX_WANS> = heapless::Vec::new();
        for (slot, s) in sockets.iter().enumerate() {
            if let Some(s) = s {
                let _ = fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
                let _ = slots.push(slot);
            }
        }
        let ready = match poll(&mut fds, timeout) {
            Ok(_) => fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect(),
            Err(nix::errno::Errno::EINTR) => heapless::Vec::<bool, { MAX_WANS + 2 }>::new(),
            Err(e) => {
                log.write(LogLevel::Err, &format!("poll: {e}"));
                return ExitCode::from(1);
            }
        };
        drop(fds);
        let now = clock::now();
        let is_ready = |i: usize| ready.get(i).copied().unwrap_or(false);

        if is_ready(0) {
            while let Some(request) = signals.read() {
                match request {
                    Request::Stop if stop_requested => {
                        log.write(LogLevel::Warning, "second stop request: exiting without cleanup");
                        return ExitCode::from(1);
                    }
                    Request::Stop => {
                        stop_requested = true;
                        core.shutdown(now);
                    }
                    Request::Reload if !stop_requested => match load_for_run(&args.config, &log) {
                        Some(c) => core.reload(now, c),
                        None => log.write(
                            LogLevel::Err,
                            &format!("{}: invalid configuration, keeping the running one", args.config),
                        ),
                    },
                    Request::Reload => {}
                }
            }
        }
        if is_ready(1) {
            if let Err(e) = netlink.drain_events(&mut |event| core.handle_kernel(now, &event)) {
                log.write(LogLevel::Warning, &e.to_string());
            }
        }
        for (i, &slot) in slots.iter().enumerate() {
            if !is_ready(2 + i) {
                continue;
            }
            let Some(socket) = sockets[slot].as_mut() else { continue };
            loop {
                match socket.recv() {
                    Ok(None) => break,
                    Ok(Some(Ok(Icmp::EchoReply { src, ident, seq, .. }))) => {
                        core.handle_reply(now, slot, src, ident, seq)
                    }
                    // ICMP errors about our probes and malformed packets count as nothing:
                    // the probe times out.
                    Ok(Some(_)) => {}
                    Err(e) => {
                        core.handle_probe_error(now, slot, &e);
                        sockets[slot] = None;
                        break;
                    }
                }
            }
        }
        core.handle_timeout(now);
    }
}

/// Carries out every queued action; results go straight back into the core.
fn carry_out(
    core: &mut Daemon,
    now: Instant,
    netlink: &mut Netlink,
    sockets: &mut [Option<ProbeSocket>; MAX_WANS],
    hotplug: &mut Hotplug,
    log: &Log,
) {
    while let Some(action) = core.poll_action() {
        match action {
            Action::Dump(kind) => {
                if let Err(e) = netlink.dump(kind, &mut |event| core.handle_kernel(now, &event)) {
                    core.handle_dump_error(now, kind, &e);
                }
            }
            Action::OpenProbe { wan, device, src, ident } => match ProbeSocket::open(&device, src, ident) {
                Ok(s) => sockets[wan] = Some(s),
                Err(e) => {
                    sockets[wan] = None;
                    core.handle_probe_error(now, wan, &e);
                }
            },
            Action::CloseProbe { wan } => sockets[wan] = None,
            Action::SendProbe { wan, dst, seq } => {
                // A failed send (link just went down, firewall) is a lost probe.
                if let Some(s) = sockets[wan].as_mut() {
                    let _ = s.send_echo(dst, seq);
                }
            }
            Action::Apply(op) => match netlink.apply(&op) {
                Ok(()) => core.handle_op_result(now, &op, Ok(())),
                Err(e) => core.handle_op_result(now, &op, Err(&e)),
            },
            Action::Log(level, line) => log.write(level, &line),
            Action::Event(Event::Interface { wan, transition }) => {
                let action = if transition.went_up() {
                    "connected"
                } else if transition.went_down() {
                    "disconnected"
                } else {
                    continue;
                };
                let w = &core.config().wans[wan];
                if let Err(e) = hotplug.run(now, action, &w.name, &w.device) {
                    log.write(LogLevel::Warning, &format!("{}: hotplug scripts: {e}", w.name));
                }
            }
            // ubus events come with the ubus connection.
            Action::Event(Event::Active { .. }) => {}
        }
    }
}
