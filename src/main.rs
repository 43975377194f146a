//! `dualwan`: the command line, and the one poll loop that connects the adapters in
//! `sys` to the pure core in `daemon`.

mod import_mwan3;

use argh::FromArgs;
use dualwan::config::{self, Config, LogLevel, Report, MAX_WANS};
use dualwan::daemon::{Action, Daemon, Event};
use dualwan::health::Reason;
use dualwan::netifd;
use dualwan::options;
use dualwan::route::Family;
use dualwan::status::{self, family_word, StatusError};
use dualwan::summary;
use dualwan::sys::clock;
use dualwan::sys::config_file;
use dualwan::sys::conntrack::Conntrack;
use dualwan::sys::hotplug::{Hotplug, HOTPLUG_DIR, RUN_LIMIT};
use dualwan::sys::icmp::ProbeSocket;
use dualwan::sys::log::{Log, Target};
use dualwan::sys::netlink::Netlink;
use dualwan::sys::signals::{Request, Signals};
use dualwan::sys::ubus::{status_name, Input, Provider, Ubus, DUALWAN};
use dualwan::sys::ubus_client::{Client, CALL_TIMEOUT};
use dualwan::time::Instant;
use dualwan::wire::blob::{self, Attrs, Writer};
use dualwan::wire::blob_json;
use dualwan::wire::icmp::Icmp;
use dualwan::wire::ubus;
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
    Status(StatusArgs),
    ImportMwan3(import_mwan3::Args),
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
    ubus_socket: String,
    /// hotplug scripts directory (tests only; default /etc/hotplug.d/dualwan)
    #[argh(option, default = "HOTPLUG_DIR.to_string()", hidden_help)]
    hotplug_dir: String,
}

/// Show the running daemon's status (asks it over ubus).
#[derive(FromArgs)]
#[argh(subcommand, name = "status")]
struct StatusArgs {
    /// print the reply as `ubus call dualwan status` prints it
    #[argh(switch)]
    json: bool,
    /// ubusd socket (default /var/run/ubus/ubus.sock)
    #[argh(option, default = "String::from(\"/var/run/ubus/ubus.sock\")")]
    ubus_socket: String,
    /// only this interface
    #[argh(positional)]
    interface: Option<String>,
}

/// Validate the config and print it with every default; changes nothing.
#[derive(FromArgs)]
#[argh(subcommand, name = "check")]
struct CheckArgs {
    /// config file (default /etc/config/dualwan)
    #[argh(option, short = 'c', default = "DEFAULT_CONFIG.to_string()")]
    config: String,
    /// print every option (type, range, default) as JSON instead; reads no config
    #[argh(switch)]
    schema: bool,
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
        Some(Command::Check(c)) if c.schema => schema(),
        Some(Command::Check(c)) => check(&c.config),
        Some(Command::Run(r)) => run(&r),
        Some(Command::Status(s)) => show_status(&s),
        Some(Command::ImportMwan3(i)) => import_mwan3::run(&i),
        None => {
            eprintln!("dualwan: a command is needed: run, check, status, import-mwan3 (see dualwan --help)");
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
    let (config, report) = config_file::load(file);
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

/// `dualwan check --schema`: the option tables, which the LuCI app ships as its schema.json.
fn schema() -> ExitCode {
    let mut out = String::new();
    let _ = options::write_schema(&mut out);
    print!("{out}");
    ExitCode::SUCCESS
}

/// `dualwan status`: one call to the daemon's ubus object; exit 1 when it cannot answer.
fn show_status(args: &StatusArgs) -> ExitCode {
    let fail = |message: &dyn std::fmt::Display| {
        eprintln!("dualwan: {message}");
        ExitCode::from(1)
    };
    let path = std::path::Path::new(&args.ubus_socket);
    let mut client = match Client::connect(path, CALL_TIMEOUT) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let object = match client.lookup(DUALWAN.path) {
        Ok(Some(id)) => id,
        Ok(None) => return fail(&"dualwan is not running (no 'dualwan' object on ubus)"),
        Err(e) => return fail(&e),
    };
    let only = args.interface.as_deref();
    let mut replies: Vec<Vec<u8>> = Vec::new();
    let status = client.invoke(
        object,
        "status",
        |w| match only {
            Some(name) => w.string("interface", name),
            None => Ok(()),
        },
        &mut |data| replies.push(data.to_vec()),
    );
    match status {
        Ok(ubus::STATUS_OK) => {}
        Ok(ubus::STATUS_NOT_FOUND) if only.is_some() => {
            return fail(&format_args!("no interface '{}'", only.unwrap_or_default()))
        }
        Ok(s) => return fail(&format_args!("ubus call dualwan status: {} (status {s})", status_name(s))),
        Err(e) => return fail(&e),
    }
    for data in &replies {
        if let Err(e) = blob::check_table(data) {
            return fail(&format_args!("ubus: malformed status reply ({e})"));
        }
        let mut text = String::new();
        if args.json {
            let _ = blob_json::write_table(data, true, &mut text);
            text.push('\n');
        } else {
            let _ = summary::write_summary(data, &mut text);
        }
        print!("{text}");
    }
    ExitCode::SUCCESS
}

fn load_for_run(file: &str, log: &Log) -> Option<Config> {
    let (config, report) = config_file::load(file);
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
    // A missing capability never fixes itself: say which one at start and exit non-zero,
    // rather than run without routing or probing. procd logs each attempt and stops
    // respawning after its retry limit, and `service dualwan status` shows it is not running.
    let never = config.globals.rule_priority + dualwan::plan::RULE_NEVER;
    if let Err(e) = netlink.check_admin(never) {
        log.write(LogLevel::Err, &format!("{e}: cannot change routing rules, not starting"));
        return ExitCode::from(1);
    }
    if let Err(e) = ProbeSocket::check_raw() {
        log.write(LogLevel::Err, &format!("{e}: cannot probe, not starting"));
        return ExitCode::from(1);
    }
    let mut ubus = match Ubus::new(&args.ubus_socket, DUALWAN) {
        Ok(u) => u,
        Err(e) => {
            log.write(LogLevel::Err, &e.to_string());
            return ExitCode::from(1);
        }
    };
    if follows_netifd(&config) {
        ubus.listen(clock::now(), netifd::EVENT);
    }
    // Opened now so that its buffers are allocated at start and a kernel without ctnetlink
    // is reported at once; a failed open is retried at the first flush.
    let conntrack = if flushes_conntrack(&config) {
        Conntrack::open().map_err(|e| log.write(LogLevel::Warning, &e.to_string())).ok()
    } else {
        None
    };
    let mut io = Io {
        netlink,
        sockets: Default::default(),
        hotplug: Hotplug::new(&args.hotplug_dir, RUN_LIMIT),
        log,
        conntrack,
    };
    let mut core = Daemon::new(clock::now(), config, std::process::id() as u16 & 0xfff0);
    io.log.write(LogLevel::Info, &format!("dualwan {} started", env!("CARGO_PKG_VERSION")));

    let mut stop_requested = false;
    loop {
        let now = clock::now();
        ubus.handle_timeout(now);
        feed_ubus_inputs(&mut core, &mut ubus, now);
        io.carry_out(&mut core, &mut ubus, now);
        io.hotplug.reap(now);
        while let Some(notice) = ubus.poll_notice() {
            io.log.write(LogLevel::Notice, &notice.to_string());
        }
        if core.is_stopped() {
            io.log.write(LogLevel::Info, "stopped; our rules and routes are removed");
            return ExitCode::SUCCESS;
        }

        // Wait until the earliest deadline, or for input.
        let deadline =
            [core.poll_timeout(), io.hotplug.next_deadline(now), ubus.poll_timeout()].into_iter().flatten().min();
        let timeout = match deadline {
            Some(deadline) => {
                let us = deadline.saturating_since(clock::now()).as_micros();
                PollTimeout::try_from(us.div_ceil(1000).min(60_000) as i32).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::try_from(60_000).unwrap_or(PollTimeout::MAX),
        };
        // Fixed slots: signals, netlink, ubus, then one per open probe socket.
        let mut fds: heapless::Vec<PollFd, { 2 * MAX_WANS + 3 }> = heapless::Vec::new();
        let _ = fds.push(PollFd::new(signals.fd(), PollFlags::POLLIN));
        let _ = fds.push(PollFd::new(io.netlink.event_fd(), PollFlags::POLLIN));
        let _ = fds.push(match ubus.fd() {
            Some(fd) => PollFd::new(fd, ubus.interest()),
            // Nothing to watch: a closed slot that poll(2) ignores.
            None => PollFd::new(signals.fd(), PollFlags::empty()),
        });
        let mut slots: heapless::Vec<(usize, Family), { 2 * MAX_WANS }> = heapless::Vec::new();
        for (slot, pair) in io.sockets.iter().enumerate() {
            for (family, s) in Family::ALL.into_iter().zip(pair) {
                if let Some(s) = s {
                    let _ = fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
                    let _ = slots.push((slot, family));
                }
            }
        }
        let revents: heapless::Vec<PollFlags, { 2 * MAX_WANS + 3 }> = match poll(&mut fds, timeout) {
            Ok(_) => fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect(),
            Err(nix::errno::Errno::EINTR) => heapless::Vec::new(),
            Err(e) => {
                io.log.write(LogLevel::Err, &format!("poll: {e}"));
                return ExitCode::from(1);
            }
        };
        drop(fds);
        let now = clock::now();
        let ready = |i: usize| revents.get(i).copied().unwrap_or(PollFlags::empty());

        if !ready(0).is_empty() {
            while let Some(request) = signals.read() {
                match request {
                    Request::Stop if stop_requested => {
                        io.log.write(LogLevel::Warning, "second stop request: exiting without cleanup");
                        return ExitCode::from(1);
                    }
                    Request::Stop => {
                        stop_requested = true;
                        core.shutdown(now);
                    }
                    Request::Reload if !stop_requested => match load_for_run(&args.config, &io.log) {
                        Some(c) => {
                            if follows_netifd(&c) {
                                ubus.listen(now, netifd::EVENT);
                            }
                            core.reload(now, c)
                        }
                        None => io.log.write(
                            LogLevel::Err,
                            &format!("{}: invalid configuration, keeping the running one", args.config),
                        ),
                    },
                    Request::Reload => {}
                }
            }
        }
        if !ready(1).is_empty() {
            if let Err(e) = io.netlink.drain_events(&mut |event| core.handle_kernel(now, &event)) {
                io.log.write(LogLevel::Warning, &e.to_string());
            }
        }
        if !ready(2).is_empty() {
            ubus.handle_ready(now, ready(2), &mut StatusProvider { core: &core, now });
            feed_ubus_inputs(&mut core, &mut ubus, now);
        }
        for (i, &(slot, family)) in slots.iter().enumerate() {
            if ready(3 + i).is_empty() {
                continue;
            }
            let Some(socket) = io.sockets[slot][family.index()].as_mut() else { continue };
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
                        core.handle_probe_error(now, slot, family, &e);
                        io.sockets[slot][family.index()] = None;
                        break;
                    }
                }
            }
        }
        core.handle_timeout(now);
    }
}

/// Some interface follows a netifd interface (`option network`): listen for its events.
fn follows_netifd(config: &Config) -> bool {
    config.wans.iter().any(|w| w.network().is_some())
}

/// Some interface's `flush_conntrack` is not `none`: the conntrack socket will be needed.
fn flushes_conntrack(config: &Config) -> bool {
    config.wans.iter().any(|w| w.enabled && w.flush_conntrack != config::FlushConntrack::None)
}

/// Hands what ubus brought (registration, netifd answers and events) to the core.
fn feed_ubus_inputs(core: &mut Daemon, ubus: &mut Ubus, now: Instant) {
    while let Some(input) = ubus.poll_input() {
        match input {
            Input::Ready => core.handle_ubus_ready(now),
            // An answer for the interface the slot follows now, not before a reload.
            Input::Netifd { wan, network, status } => {
                if core.config().wans.get(wan).and_then(|w| w.network()) == Some(&network) {
                    core.handle_netifd(now, wan, status)
                }
            }
            Input::NetifdEvent { interface } => core.handle_netifd_event(now, &interface),
        }
    }
}

/// Answers `ubus call dualwan status ['{"interface": NAME}']` from the core's state.
struct StatusProvider<'a> {
    core: &'a Daemon,
    now: Instant,
}

impl Provider for StatusProvider<'_> {
    fn call(&mut self, method: &str, args: Attrs<'_>, reply: &mut Writer<'_>) -> u32 {
        if method != "status" {
            return ubus::STATUS_METHOD_NOT_FOUND;
        }
        let mut only = None;
        for attr in args.flatten() {
            if attr.name == "interface" {
                match attr.as_str() {
                    Some(name) => only = Some(name),
                    None => return ubus::STATUS_INVALID_ARGUMENT,
                }
            }
        }
        match status::write_status(self.core, self.now, only, &mut status::Blob::new(reply)) {
            Ok(()) => ubus::STATUS_OK,
            Err(StatusError::NotFound) => ubus::STATUS_NOT_FOUND,
            Err(StatusError::Full) => ubus::STATUS_UNKNOWN_ERROR,
        }
    }
}

/// The adapters the core's actions are carried out on.
struct Io {
    netlink: Netlink,
    /// Per WAN slot, its IPv4 and IPv6 probe sockets (by [`Family::index`]).
    sockets: [[Option<ProbeSocket>; 2]; MAX_WANS],
    hotplug: Hotplug,
    log: Log,
    /// The ctnetlink socket, once opened.
    conntrack: Option<Conntrack>,
}

/// Carries out every queued action; results go straight back into the core.
impl Io {
    fn carry_out(&mut self, core: &mut Daemon, ubus: &mut Ubus, now: Instant) {
        let Io { netlink, sockets, hotplug, log, conntrack } = self;
        while let Some(action) = core.poll_action() {
            match action {
                Action::Dump(kind) => {
                    if let Err(e) = netlink.dump(kind, &mut |event| core.handle_kernel(now, &event)) {
                        core.handle_dump_error(now, kind, &e);
                    }
                }
                Action::OpenProbe { wan, device, src, ident } => {
                    let family = Family::of(&src);
                    match ProbeSocket::open(&device, src, ident) {
                        Ok(s) => sockets[wan][family.index()] = Some(s),
                        Err(e) => {
                            sockets[wan][family.index()] = None;
                            core.handle_probe_error(now, wan, family, &e);
                        }
                    }
                }
                Action::CloseProbe { wan, family } => sockets[wan][family.index()] = None,
                Action::SendProbe { wan, dst, seq } => {
                    // A failed send (link just went down, firewall) is a lost probe.
                    if let Some(s) = sockets[wan][Family::of(&dst).index()].as_mut() {
                        let _ = s.send_echo(dst, seq);
                    }
                }
                Action::Apply(op) => match netlink.apply(&op) {
                    Ok(()) => core.handle_op_result(now, &op, Ok(())),
                    Err(e) => core.handle_op_result(now, &op, Err(&e)),
                },
                Action::Log(level, line) => log.write(level, &line),
                Action::FlushConntrack { wan, addr } => {
                    let result = match conntrack {
                        Some(ct) => ct.flush_nat_to(addr),
                        None => Conntrack::open().and_then(|ct| conntrack.insert(ct).flush_nat_to(addr)),
                    };
                    match result {
                        Ok(n) => core.handle_flush_result(now, wan, addr, Ok(n)),
                        Err(e) => core.handle_flush_result(now, wan, addr, Err(&e)),
                    }
                }
                Action::AskNetifd { wan, network } => {
                    // Not registered yet: the registration makes the core ask again.
                    let _ = ubus.ask_netifd(now, wan, &network);
                }
                Action::Event(Event::Interface { wan, family, transition }) => {
                    // Slots are those of the config in force (a reload re-queues nothing).
                    let Some(w) = core.config().wans.get(wan) else { continue };
                    let device = core.device(wan);
                    let family = family_word(family);
                    ubus.send_event("dualwan.interface", &|out| {
                        out.string("interface", &w.name)?;
                        out.string("device", device)?;
                        out.string("family", family)?;
                        out.string("status", transition.to.as_str())?;
                        out.string("previous", transition.from.as_str())?;
                        out.string("reason", &fmt_small(format_args!("{}", transition.reason)))
                    });
                    let action = if transition.went_up() {
                        "connected"
                    } else if transition.went_down() {
                        "disconnected"
                    } else {
                        continue;
                    };
                    if let Err(e) = hotplug.run(now, action, &w.name, device, family) {
                        log.write(LogLevel::Warning, &format!("{}: hotplug scripts: {e}", w.name));
                    }
                }
                Action::Event(Event::Active { family, from, to }) => {
                    let wans = core.config().wans.len();
                    let (from, to) = (from.filter(|&s| s < wans), to.filter(|&s| s < wans));
                    let name =
                        |slot: Option<usize>| slot.map(|s| core.config().wans[s].name.clone()).unwrap_or_default();
                    let (active, previous) = (name(to), name(from));
                    // Why traffic moved: the old WAN's failure, or a recovery.
                    let health = |slot: usize| core.health(slot, family);
                    let reason = match (from, to) {
                        (Some(f), _) if !health(f).is_up() => health(f).reason(),
                        (Some(_), _) => Reason::Recovered,
                        (None, Some(t)) => health(t).reason(),
                        (None, None) => continue,
                    };
                    ubus.send_event("dualwan.active", &|w| {
                        w.string("family", family_word(family))?;
                        w.string("active", &active)?;
                        w.string("previous", &previous)?;
                        w.string("reason", &fmt_small(format_args!("{reason}")))
                    });
                }
            }
        }
    }
}

/// Formats a short value (a reason) without allocating.
fn fmt_small(args: std::fmt::Arguments<'_>) -> heapless::String<128> {
    let mut s = heapless::String::new();
    let _ = std::fmt::Write::write_fmt(&mut s, args);
    s
}
