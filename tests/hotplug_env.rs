//! A run's environment and signal state, in a process of its own (it changes the
//! environment and the signal mask): the daemon's variables pass on, its own ACTION does
//! not, and the shell starts with no blocked signals and SIGPIPE at its default although the
//! daemon blocks SIGTERM/SIGINT/SIGHUP for its signalfd and ignores SIGPIPE.

use dualwan::sys::hotplug::Hotplug;
use dualwan::time::{Duration, Instant};
use nix::sys::signal::{SigHandler, SigSet, Signal};

#[test]
fn a_run_inherits_the_environment_and_a_clean_signal_state() {
    // SAFETY (test): the only thread that touches the environment, before any spawn.
    std::env::set_var("DUALWAN_TEST_KEEP", "kept");
    std::env::set_var("ACTION", "stale");
    let mut blocked = SigSet::empty();
    blocked.add(Signal::SIGHUP);
    blocked.add(Signal::SIGTERM);
    blocked.thread_block().unwrap();
    // SAFETY (test): SIG_IGN installs no handler code.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) }.unwrap();

    let d = std::env::temp_dir().join(format!("dualwan-hotplug-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("hotplug.d")).unwrap();
    let out = d.join("out");
    let script = format!(
        "{{ echo \"$ACTION $DUALWAN_TEST_KEEP\"; env | grep -c '^ACTION='; grep -E '^Sig(Blk|Ign)' /proc/$$/status; \
         echo end; }} > {}\n",
        out.display()
    );
    std::fs::write(d.join("hotplug.d/10-env"), script).unwrap();
    let mut h = Hotplug::new(d.join("hotplug.d").to_str().unwrap(), Duration::from_secs(30));
    h.run(Instant::ZERO, "connected", "wan", "eth1", "ipv4").unwrap();

    let mut got = String::new();
    for _ in 0..300 {
        got = std::fs::read_to_string(&out).unwrap_or_default();
        if got.ends_with("end\n") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(&lines[..2], ["connected kept", "1"], "{got}");
    let mask = |name: &str| {
        let line = lines.iter().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {got}"));
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_eq!(mask("SigBlk:"), 0, "signals blocked in the script");
    assert_eq!(mask("SigIgn:") & (1 << (Signal::SIGPIPE as u64 - 1)), 0, "SIGPIPE ignored in the script");
    std::thread::sleep(std::time::Duration::from_millis(50));
    h.reap(Instant::from_millis(1000));
    assert_eq!(h.running(), 0);
    let _ = std::fs::remove_dir_all(&d);
}
