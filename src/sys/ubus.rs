//! The socket under a [`Session`]: connects to ubusd when the session asks, reads into it,
//! writes what it queued, and reports EOF and errors to it. Everything else (the protocol,
//! registration, calls, events, backoff) is the session's.
//!
//! Contract:
//! - A non-blocking `AF_UNIX`/`SOCK_STREAM` socket, opened when [`Session::poll_connect`]
//!   says so and closed when the session no longer has a connection.
//! - The poll loop polls [`UbusSocket::fd`] for [`UbusSocket::interest`], calls
//!   [`UbusSocket::handle_ready`] when it is ready, [`UbusSocket::handle_timeout`] at the
//!   session's deadline and [`UbusSocket::flush`] after queuing something (an ask, an
//!   event). No call blocks. `POLLOUT` is in the interest only while output is pending (or
//!   the connect is in progress), `POLLIN` only while the session wants input.
//! - At most [`READS_PER_WAKE`] reads per readiness, so a flood of calls cannot hold the
//!   loop; the socket then still polls readable.
//! - Writes use `MSG_NOSIGNAL`: a vanished ubusd is `EPIPE`, reported to the session, not
//!   `SIGPIPE`. Reads ask for no control data, so file descriptors a caller passes along
//!   (SCM_RIGHTS) are closed by the kernel.

use crate::time::Instant;
use crate::ubus::{Answer, Cause, Session, State, UbusError, UbusOp};
use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{self, sockopt, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// ubusd's socket on OpenWrt.
pub const DEFAULT_SOCKET: &str = "/var/run/ubus/ubus.sock";

/// Reads per [`UbusSocket::handle_ready`].
pub const READS_PER_WAKE: usize = 16;

/// The socket to ubusd, while there is a connection. See the module contract.
#[derive(Debug)]
pub struct UbusSocket {
    addr: UnixAddr,
    fd: Option<OwnedFd>,
}

impl UbusSocket {
    /// A socket for ubusd at `path` (see [`DEFAULT_SOCKET`]); connects nothing yet. Fails
    /// only for a path that cannot be a socket address.
    pub fn new(path: impl AsRef<Path>) -> Result<UbusSocket, UbusError> {
        let addr = UnixAddr::new(path.as_ref()).map_err(|e| UbusError { op: UbusOp::Socket, cause: Cause::Sys(e) })?;
        Ok(UbusSocket { addr, fd: None })
    }

    /// The socket to poll, while there is one.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }

    /// The events to poll [`UbusSocket::fd`] for.
    pub fn interest(&self, session: &Session) -> PollFlags {
        if self.fd.is_none() {
            return PollFlags::empty();
        }
        match session.state() {
            State::Disconnected { .. } => PollFlags::empty(),
            State::Connecting { .. } => PollFlags::POLLOUT,
            _ => {
                let mut flags = PollFlags::empty();
                if session.wants_input() {
                    flags |= PollFlags::POLLIN;
                }
                if session.poll_transmit().is_some() {
                    flags |= PollFlags::POLLOUT;
                }
                flags
            }
        }
    }

    /// The session's deadline passed: it may start an attempt (then we connect) or give
    /// one up (then we close).
    pub fn handle_timeout(&mut self, now: Instant, session: &mut Session) {
        session.handle_timeout(now);
        self.follow(now, session);
    }

    /// The socket is ready (`revents` from poll): finish connecting, or exchange bytes with
    /// the session until the socket is drained, the session wants no more input or the read
    /// budget is spent. Calls to our object go to `answer`.
    pub fn handle_ready(&mut self, now: Instant, revents: PollFlags, session: &mut Session, answer: &mut dyn Answer) {
        let Some(fd) = &self.fd else { return };
        if let State::Connecting { .. } = session.state() {
            if revents.intersects(PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP) {
                match socket::getsockopt(fd, sockopt::SocketError) {
                    Ok(0) => session.handle_connected(now),
                    Ok(e) => session.handle_closed(now, connect_error(Errno::from_raw(e))),
                    Err(e) => session.handle_closed(now, connect_error(e)),
                }
            }
        } else if let Err(e) = self.exchange(now, session, answer) {
            session.handle_closed(now, e);
        }
        self.follow(now, session);
    }

    /// Writes what the session queued (an ask, an event) until it is gone or the socket is
    /// full.
    pub fn flush(&mut self, now: Instant, session: &mut Session, answer: &mut dyn Answer) {
        if let Err(e) = self.write(now, session, answer) {
            session.handle_closed(now, e);
        }
        self.follow(now, session);
    }

    /// Keeps the socket in step with the session: closed without a connection, opened when
    /// an attempt starts.
    fn follow(&mut self, now: Instant, session: &mut Session) {
        if !session.has_connection() {
            self.fd = None;
        }
        if session.poll_connect() {
            self.fd = None;
            match self.connect() {
                Ok((fd, done)) => {
                    self.fd = Some(fd);
                    if done {
                        session.handle_connected(now);
                    }
                }
                Err(e) => session.handle_closed(now, e),
            }
        }
    }

    /// A new non-blocking socket, connected (`true`) or connecting.
    fn connect(&self) -> Result<(OwnedFd, bool), UbusError> {
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let fd = socket::socket(AddressFamily::Unix, SockType::Stream, flags, None)
            .map_err(|e| UbusError { op: UbusOp::Socket, cause: Cause::Sys(e) })?;
        match socket::connect(fd.as_raw_fd(), &self.addr) {
            Ok(()) => Ok((fd, true)),
            Err(Errno::EINPROGRESS | Errno::EINTR) => Ok((fd, false)),
            // ENOENT (no socket file), ECONNREFUSED (no ubusd behind it), EAGAIN (its
            // backlog is full), EACCES...
            Err(e) => Err(connect_error(e)),
        }
    }

    /// Alternates writing and reading: output first (a write may let the session handle a
    /// message that waited for room), then one read, until there is nothing to read.
    fn exchange(&mut self, now: Instant, session: &mut Session, answer: &mut dyn Answer) -> Result<(), UbusError> {
        for _ in 0..READS_PER_WAKE {
            self.write(now, session, answer)?;
            if !session.wants_input() {
                return Ok(());
            }
            let Some(fd) = &self.fd else { return Ok(()) };
            match socket::recv(fd.as_raw_fd(), session.receive_buffer(), MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return Err(UbusError { op: UbusOp::Recv, cause: Cause::Closed }),
                Ok(n) => session.handle_received(now, n, answer),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => break,
                Err(e) => return Err(UbusError { op: UbusOp::Recv, cause: Cause::Sys(e) }),
            }
        }
        self.write(now, session, answer)
    }

    /// Writes queued output until it is gone or the socket is full.
    fn write(&mut self, now: Instant, session: &mut Session, answer: &mut dyn Answer) -> Result<(), UbusError> {
        let Some(fd) = &self.fd else { return Ok(()) };
        while let Some(out) = session.poll_transmit() {
            // MSG_NOSIGNAL: a vanished ubusd is EPIPE here, not SIGPIPE.
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
            match socket::send(fd.as_raw_fd(), out, flags) {
                Ok(n) => session.handle_transmitted(now, n, answer),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(UbusError { op: UbusOp::Send, cause: Cause::Sys(e) }),
            }
        }
        Ok(())
    }
}

fn connect_error(e: Errno) -> UbusError {
    UbusError { op: UbusOp::Connect, cause: Cause::Sys(e) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ubus::DUALWAN;

    #[test]
    fn a_path_that_cannot_be_a_socket_address_is_refused_at_start() {
        let long = format!("/tmp/{}", "x".repeat(200));
        let err = UbusSocket::new(long).unwrap_err();
        assert_eq!(err, UbusError { op: UbusOp::Socket, cause: Cause::Sys(Errno::ENAMETOOLONG) });
        let socket = UbusSocket::new(DEFAULT_SOCKET).unwrap();
        let session = Session::new(DUALWAN);
        assert_eq!(session.state(), State::Disconnected { retry_at: Instant::ZERO });
        assert!(socket.fd().is_none() && socket.interest(&session).is_empty());
    }
}
