//! SIGTERM, SIGINT and SIGHUP as readable events on a signalfd, so the one poll loop sees
//! them like any other input and no handler runs at an arbitrary point.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsFd, BorrowedFd};

/// What a signal asks of the daemon.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM or SIGINT: remove our state and exit.
    Stop,
    /// SIGHUP: reload the config.
    Reload,
}

/// The blocked signals and the fd they arrive on.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks SIGTERM, SIGINT and SIGHUP for this thread and opens a signalfd for them.
    /// SIGPIPE is ignored: a closed peer is an error return, not a death.
    pub fn open() -> nix::Result<Signals> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGTERM);
        set.add(Signal::SIGINT);
        set.add(Signal::SIGHUP);
        set.thread_block()?;
        // SAFETY: SIG_IGN installs no Rust code as a handler.
        unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) }?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    /// The fd to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The next pending request, `None` when there is none.
    pub fn read(&mut self) -> Option<Request> {
        while let Ok(Some(info)) = self.fd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM | Signal::SIGINT) => return Some(Request::Stop),
                Ok(Signal::SIGHUP) => return Some(Request::Reload),
                _ => continue,
            }
        }
        None
    }
}
