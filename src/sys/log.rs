//! Log output: syslog (facility daemon, ident `dualwan`, as procd and logread expect) or
//! stderr with a monotonic timestamp (tests, the demo). No allocation per line.

use crate::config::LogLevel;
use std::io::Write;

/// Where log lines go.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The system log via syslog(3).
    Syslog,
    /// Standard error.
    Stderr,
}

/// The log sink.
pub struct Log {
    target: Target,
}

impl Log {
    /// Opens the sink; for syslog, `openlog("dualwan", LOG_PID, LOG_DAEMON)`.
    pub fn open(target: Target) -> Log {
        if target == Target::Syslog {
            // SAFETY: the ident is a static C string that outlives every syslog call.
            unsafe { libc::openlog(c"dualwan".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        }
        Log { target }
    }

    /// Writes one line.
    pub fn write(&self, level: LogLevel, line: &str) {
        match self.target {
            Target::Stderr => {
                let t = super::clock::now().as_micros();
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{:>5}.{:03} {:<7} {}",
                    t / 1_000_000,
                    (t / 1000) % 1000,
                    level_name(level),
                    line
                );
            }
            Target::Syslog => {
                // A NUL-terminated copy on the stack; interior NULs end the line early.
                let mut buf = [0u8; 256];
                let n = line.len().min(buf.len() - 1);
                buf[..n].copy_from_slice(&line.as_bytes()[..n]);
                let priority = match level {
                    LogLevel::Err => libc::LOG_ERR,
                    LogLevel::Warning => libc::LOG_WARNING,
                    LogLevel::Notice => libc::LOG_NOTICE,
                    LogLevel::Info => libc::LOG_INFO,
                    LogLevel::Debug => libc::LOG_DEBUG,
                };
                // SAFETY: "%s" with a NUL-terminated buffer that lives across the call.
                unsafe { libc::syslog(priority, c"%s".as_ptr(), buf.as_ptr()) };
            }
        }
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Err => "err",
        LogLevel::Warning => "warning",
        LogLevel::Notice => "notice",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    }
}
