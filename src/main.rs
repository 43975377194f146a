//! `dualwan`: the command line, and the one poll loop of `run` that connects the adapters
//! in `sys` to the pure core in `daemon` through the `interpreter`.

mod cli;

use argh::FromArgs;
use dualwan::calls::CallAnswer;
use dualwan::config::{self, LogLevel};
use dualwan::daemon::Daemon;
use dualwan::interpreter;
use dualwan::sys::adapters::SysAdapters;
use dualwan::sys::clock;
use dualwan::sys::conntrack::Conntrack;
use dualwan::sys::hotplug::{Hotplug, HOTPLUG_DIR, RUN_LIMIT};
use dualwan::sys::icmp::ProbeSocket;
use dualwan::sys::log::{Log, Target};
use dualwan::sys::netlink::Netlink;
use dualwan::sys::signals::{Request, Signals};
use dualwan::sys::tcp_probe::TcpOutcome;
use dualwan::sys::ubus::{UbusSocket, DEFAULT_SOCKET};
use dualwan::ubus::{Session, DUALWAN};
use std::process::ExitCode;

const DEFAULT_CONFIG: &str = "/etc/config/dualwan";

/// Multi-WAN failover daemon for OpenWrt.
#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help", "help"))]
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
    ImportMwan3(cli::import_mwan3::Args),
}

/// Run the daemon in the foreground (as procd starts it).
#[derive(FromArgs)]
#[argh(subcommand, name = "run", help_triggers("-h", "--help", "help"))]
struct RunArgs {
    /// config file (default /etc/config/dualwan)
    #[argh(option, short = 'c', default = "DEFAULT_CONFIG.to_string()")]
    config: String,
    /// where logs go: syslog (default) or stderr
    #[argh(option, default = "String::from(\"syslog\")")]
    log: String,
    /// ubusd socket (default /var/run/ubus/ubus.sock)
    #[argh(option, default = "DEFAULT_SOCKET.to_string()")]
    ubus_socket: String,
    /// hotplug scripts directory (tests only; default /etc/hotplug.d/dualwan)
    #[argh(option, default = "HOTPLUG_DIR.to_string()", hidden_help)]
    hotplug_dir: String,
}

/// Show the running daemon's status (asks it over ubus).
#[derive(FromArgs)]
#[argh(subcommand, name = "status", help_triggers("-h", "--help", "help"))]
struct StatusArgs {
    /// print the reply as `ubus call dualwan status` prints it
    #[argh(switch)]
    json: bool,
    /// ubusd socket (default /var/run/ubus/ubus.sock)
    #[argh(option, default = "DEFAULT_SOCKET.to_string()")]
    ubus_socket: String,
    /// only this interface
    #[argh(positional)]
    interface: Option<String>,
}

/// Validate the config and print it with every default; changes nothing.
#[derive(FromArgs)]
#[argh(subcommand, name = "check", help_triggers("-h", "--help", "help"))]
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
        Err(early) if early.status.is_ok() => {
            print!("{}", early.output);
            return ExitCode::SUCCESS;
        }
        Err(early) => {
            eprint!("dualwan: {}", early.output);
            if !early.output.ends_with('\n') {
                eprintln!();
            }
            return ExitCode::from(2);
        }
    };
    if args.version {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    match args.command {
        Some(Command::Check(c)) if c.schema => cli::check::schema(),
        Some(Command::Check(c)) => cli::check::check(&c.config),
        Some(Command::Run(r)) => run(&r),
        Some(Command::Status(s)) => cli::status::show_status(&s.ubus_socket, s.interface.as_deref(), s.json),
        Some(Command::ImportMwan3(i)) => cli::import_mwan3::run(&i),
        None => {
            eprintln!("dualwan: a command is needed: run, check, status, import-mwan3 (see dualwan --help)");
            ExitCode::from(2)
        }
    }
}

/// `dualwan run`: opens the adapters (a missing capability or an invalid config is one
/// clear line and exit 1), then runs the loop until a stop has removed our rules and routes.
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
    let fatal = |log: &Log, line: &dyn std::fmt::Display| {
        log.write(LogLevel::Err, &line.to_string());
        ExitCode::from(1)
    };
    let Some(config) = cli::check::load_for_run(&args.config, &log) else {
        return fatal(&log, &format_args!("{}: invalid configuration, not starting", args.config));
    };
    let mut signals = match Signals::open() {
        Ok(s) => s,
        Err(e) => return fatal(&log, &format_args!("signalfd: {e}")),
    };
    let mut netlink = match Netlink::open() {
        Ok(n) => n,
        Err(e) => return fatal(&log, &e),
    };
    // A missing capability never fixes itself: say which one at start and exit non-zero,
    // rather than run without routing or probing. procd logs each attempt and stops
    // respawning after its retry limit, and `service dualwan status` shows it is not running.
    let never = config.globals.rule_priority + dualwan::plan::RULE_NEVER;
    if let Err(e) = netlink.check_admin(never) {
        return fatal(&log, &format_args!("{e}: cannot change routing rules, not starting"));
    }
    if let Err(e) = ProbeSocket::check_raw() {
        return fatal(&log, &format_args!("{e}: cannot probe, not starting"));
    }
    let ubus_socket = match UbusSocket::new(&args.ubus_socket) {
        Ok(u) => u,
        Err(e) => return fatal(&log, &e),
    };
    // Opened now so that its buffers are allocated at start and a kernel without ctnetlink
    // is reported at once; a failed open is retried at the first flush.
    let flushes = config.wans.iter().any(|w| w.enabled && w.flush_conntrack != config::FlushConntrack::None);
    let conntrack =
        if flushes { Conntrack::open().map_err(|e| log.write(LogLevel::Warning, &e.to_string())).ok() } else { None };
    let mut sys = SysAdapters {
        netlink,
        probes: Default::default(),
        tcp: Default::default(),
        hotplug: Hotplug::new(&args.hotplug_dir, RUN_LIMIT),
        log,
        conntrack,
        ubus_socket,
        ubus: Session::new(DUALWAN),
    };
    let mut core = Daemon::new(clock::now(), config, std::process::id() as u16 & 0xfff0);
    sys.log.write(LogLevel::Info, &format!("dualwan {} started", env!("CARGO_PKG_VERSION")));

    let mut stop_requested = false;
    loop {
        let now = clock::now();
        sys.handle_ubus_timeout(now);
        interpreter::perform(&mut core, &mut sys, now);
        sys.flush_ubus(now, &mut CallAnswer { core: &mut core, now });
        sys.hotplug.reap(now);
        if core.is_stopped() {
            sys.log.write(LogLevel::Info, "stopped; our rules and routes are removed");
            return ExitCode::SUCCESS;
        }

        // Wait until the earliest deadline, or for input.
        let ready = match sys.wait(signals.fd(), core.poll_timeout()) {
            Ok(ready) => ready,
            Err(e) => return fatal(&sys.log, &format_args!("poll: {e}")),
        };
        let now = clock::now();

        if ready.signals() {
            while let Some(request) = signals.read() {
                match request {
                    Request::Stop if stop_requested => {
                        sys.log.write(LogLevel::Warning, "second stop request: exiting without cleanup");
                        return ExitCode::from(1);
                    }
                    Request::Stop => {
                        stop_requested = true;
                        core.shutdown(now);
                    }
                    Request::Reload if !stop_requested => match cli::check::load_for_run(&args.config, &sys.log) {
                        Some(c) => core.reload(now, c),
                        None => sys.log.write(
                            LogLevel::Err,
                            &format!("{}: invalid configuration, keeping the running one", args.config),
                        ),
                    },
                    Request::Reload => {}
                }
            }
        }
        if ready.netlink() {
            if let Err(e) = sys.netlink.drain_events(&mut |event| core.handle_kernel(now, &event)) {
                sys.log.write(LogLevel::Warning, &e.to_string());
            }
        }
        if !ready.ubus().is_empty() {
            sys.handle_ubus_ready(now, ready.ubus(), &mut CallAnswer { core: &mut core, now });
        }
        for (wan, family) in ready.probes() {
            if let Err(e) =
                sys.read_probe(wan, family, &mut |src, ident, seq| core.handle_reply(now, wan, src, ident, seq))
            {
                core.handle_probe_error(now, wan, family, &e);
            }
        }
        for (wan, family) in ready.tcp() {
            let mut result = |dst, token, end, why: TcpOutcome| core.handle_tcp_result(now, wan, dst, token, end, &why);
            if let Err(e) = sys.drain_tcp(wan, family, &mut result) {
                core.handle_probe_error(now, wan, family, &e);
            }
        }
        sys.expire_tcp(now, &mut |wan, dst, token, end, why| core.handle_tcp_result(now, wan, dst, token, end, &why));
        core.handle_timeout(now);
    }
}
