//! Hotplug scripts run with the documented environment, in name order, without blocking,
//! and are killed at their time limit.

use dualwan::sys::hotplug::Hotplug;
use dualwan::time::{Duration, Instant};
use std::path::PathBuf;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dualwan-hotplug-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("hotplug.d")).unwrap();
    d
}

fn wait_for(path: &std::path::Path) -> String {
    for _ in 0..300 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with("end\n") {
                return s;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} never completed", path.display());
}

#[test]
fn scripts_see_action_interface_device_family_in_name_order() {
    let d = dir("env");
    let out = d.join("out");
    let script = |body: &str| format!("echo \"{body}\" >> {}\n", out.display());
    std::fs::write(d.join("hotplug.d/10-first"), script("first $ACTION $INTERFACE $DEVICE $FAMILY")).unwrap();
    // Not executable on purpose: hotplug-call sources scripts.
    std::fs::write(d.join("hotplug.d/20-second"), script("second $ACTION") + &script("end")).unwrap();
    std::fs::create_dir(d.join("hotplug.d/30-a-directory")).unwrap();
    let mut h = Hotplug::new(d.join("hotplug.d").to_str().unwrap(), Duration::from_secs(30));
    let started = std::time::Instant::now();
    h.run(Instant::ZERO, "disconnected", "wan", "eth1", "ipv6").unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(200), "run() must not wait for the scripts");
    assert_eq!(wait_for(&out), "first disconnected wan eth1 ipv6\nsecond disconnected\nend\n");
    std::thread::sleep(std::time::Duration::from_millis(50));
    h.reap(Instant::from_millis(1000));
    assert_eq!(h.running(), 0, "reaped");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_script_past_its_limit_is_killed_with_its_children() {
    let d = dir("kill");
    let pidfile = d.join("pid");
    // The script's own child must die too (process group).
    std::fs::write(d.join("hotplug.d/10-slow"), format!("sleep 30 & echo $! > {}\nwait\n", pidfile.display())).unwrap();
    let mut h = Hotplug::new(d.join("hotplug.d").to_str().unwrap(), Duration::from_millis(200));
    h.run(Instant::ZERO, "connected", "wanb", "wwan0", "ipv4").unwrap();
    let mut pid = String::new();
    for _ in 0..200 {
        pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
        if pid.ends_with('\n') {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    assert!(proc_dir.exists(), "the script's sleep runs");
    h.reap(Instant::from_millis(100));
    assert_eq!(h.running(), 1);
    assert_eq!(h.next_deadline(Instant::from_millis(100)), Some(Instant::from_millis(200)));
    h.reap(Instant::from_millis(250));
    assert_eq!((h.running(), h.killed()), (0, 1));
    let mut gone = false;
    for _ in 0..100 {
        // Killed and reaped by init, or at least a zombie no longer running.
        let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
        if state.is_empty() || state.contains(") Z ") {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(gone, "the script's child survived the kill");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn no_directory_means_nothing_runs() {
    let mut h = Hotplug::new("/nonexistent/hotplug.d/dualwan", Duration::from_secs(30));
    h.run(Instant::ZERO, "connected", "wan", "eth1", "ipv4").unwrap();
    assert_eq!(h.running(), 0);
}

/// Bounds audit: at most RUNS_MAX runs at once; one more is skipped with an error the
/// daemon logs (it was skipped silently before).
#[test]
fn runs_beyond_the_limit_are_refused_with_a_reason() {
    use dualwan::sys::hotplug::RUNS_MAX;
    let d = dir("full");
    std::fs::write(d.join("hotplug.d/10-slow"), "sleep 30\n").unwrap();
    let mut h = Hotplug::new(d.join("hotplug.d").to_str().unwrap(), Duration::from_millis(500));
    for _ in 0..RUNS_MAX {
        h.run(Instant::ZERO, "connected", "wan", "eth1", "ipv4").unwrap();
    }
    let e = h.run(Instant::ZERO, "disconnected", "wanb", "wwan0", "ipv4").unwrap_err();
    assert_eq!(e.to_string(), "8 runs still going; disconnected of wanb skipped");
    assert_eq!((h.running(), h.skipped()), (RUNS_MAX, 1));
    h.reap(Instant::from_millis(600));
    assert_eq!(h.running(), 0, "all killed at their limit");
    let _ = std::fs::remove_dir_all(&d);
}

/// A rule's WANs changed: `ACTION=rule` with `RULE`, `FAMILY`, `VIA` and `PREVIOUS`, and no
/// `INTERFACE` or `DEVICE`.
#[test]
fn rule_runs_see_rule_family_via_and_previous() {
    let d = dir("rule");
    let out = d.join("out");
    let body = "echo \"$ACTION $RULE $FAMILY [$VIA] [$PREVIOUS] [${INTERFACE-unset}]\"; echo end";
    std::fs::write(d.join("hotplug.d/10-rule"), format!("{{ {body}; }} >> {}\n", out.display())).unwrap();
    let mut h = Hotplug::new(d.join("hotplug.d").to_str().unwrap(), Duration::from_secs(30));
    h.run_rule(Instant::ZERO, "voip", "ipv4", "wan lte", "unreachable").unwrap();
    assert_eq!(wait_for(&out), "rule voip ipv4 [wan lte] [unreachable] [unset]\nend\n");
    std::thread::sleep(std::time::Duration::from_millis(50));
    h.reap(Instant::from_millis(1000));
    assert_eq!(h.running(), 0);
    let _ = std::fs::remove_dir_all(&d);
}
