//! A process's figures as /proc shows them (pids of this host's PID namespace).
#![allow(dead_code)]

use std::process::Command;

/// CAP_NET_ADMIN is capability 12, CAP_NET_RAW 13 (linux/capability.h): the daemon's whole
/// privilege, as `CapEff` shows it.
pub const NET_ADMIN_AND_RAW: u64 = (1 << 12) | (1 << 13);

/// A field of /proc/PID/status (`Uid`, `CapEff`, ...), trimmed; panics when it is missing.
pub fn status_field(pid: u32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    text.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// utime + stime of a process, in clock ticks (0 once it is gone).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is the 12th, stime the 13th.
    let rest: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    rest.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + rest.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 when that fails).
pub fn clk_tck() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100)
}
