//! The real adapters of `dualwan run`, as the [`interpreter`](crate::interpreter) carries
//! actions out on them: netlink, one probe socket per WAN and family (and for `track_method
//! tcp` one TCP probe set beside it), conntrack, hotplug, the log and the ubus socket with
//! its session. Also the poll(2) of their descriptors.
//!
//! Contract: opened by the caller at start (so a missing capability is reported at once);
//! nothing here decides anything or allocates per action. A WAN's ICMP socket and TCP
//! probe set of one family open and close together (`OpenProbe` replaces both); the loop
//! drains a ready set, then expires every set, before the core's timeout, and hands each
//! probe's end to the core in its terms ([`TcpEnd`]: SYN-ACK and RST are answers, the
//! kernel's `ETIMEDOUT` a timeout, any other error a loss). An ICMP message on a probe
//! socket other than an echo reply counts as nothing: the probe it concerns times out.
//! (ICMP errors are not taken as early losses: an unreachable quoting our identifier and a
//! live sequence number is as easy to forge as a reply, and would fail probes that
//! `flood_netns` proves junk cannot touch.)

use super::conntrack::{Conntrack, ConntrackError};
use super::hotplug::Hotplug;
use super::icmp::{IcmpError, ProbeSocket};
use super::log::Log;
use super::netlink::{Netlink, NetlinkError};
use super::tcp_probe::{TcpOutcome, TcpProbeError, TcpProbes, TcpResult};
use super::ubus::UbusSocket;
use crate::action::{Event, HotplugAction, TcpEnd};
use crate::config::{LogLevel, NetName, MAX_WANS};
use crate::interpreter::Adapters;
use crate::kernel::{DumpKind, KernelEvent};
use crate::netifd;
use crate::route::{Family, Op};
use crate::status::family_word;
use crate::time::Instant;
use crate::ubus::{Answer, Session};
use crate::wire::icmp::Icmp;
use core::fmt;
use core::net::IpAddr;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::{AsFd, BorrowedFd};

/// Descriptors polled: signals, netlink, ubus, then one per open probe socket and one per
/// TCP probe set (its epoll fd).
const FDS_MAX: usize = 4 * MAX_WANS + 3;

/// An adapter's error, for the core to report.
#[derive(Debug)]
pub enum SysError {
    /// A netlink dump or write.
    Netlink(NetlinkError),
    /// Opening a probe socket.
    Icmp(IcmpError),
    /// Opening a TCP probe set, or starting a probe.
    Tcp(TcpProbeError),
    /// A conntrack flush.
    Conntrack(ConntrackError),
    /// Starting the hotplug scripts.
    Hotplug(std::io::Error),
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysError::Netlink(e) => e.fmt(f),
            SysError::Icmp(e) => e.fmt(f),
            SysError::Tcp(e) => e.fmt(f),
            SysError::Conntrack(e) => e.fmt(f),
            SysError::Hotplug(e) => e.fmt(f),
        }
    }
}

/// The adapters of the running daemon.
pub struct SysAdapters {
    /// Routing: dumps, notifications, rule and route changes.
    pub netlink: Netlink,
    /// Per WAN, its IPv4 and IPv6 probe sockets (by [`Family::index`]).
    pub probes: [[Option<ProbeSocket>; 2]; MAX_WANS],
    /// Per WAN with `track_method tcp`, its IPv4 and IPv6 TCP probe sets.
    pub tcp: [[Option<TcpProbes>; 2]; MAX_WANS],
    /// The hotplug scripts' runs.
    pub hotplug: Hotplug,
    /// Where log lines go.
    pub log: Log,
    /// The ctnetlink socket, once opened.
    pub conntrack: Option<Conntrack>,
    /// The socket to ubusd.
    pub ubus_socket: UbusSocket,
    /// The conversation on it.
    pub ubus: Session,
}

/// Which descriptors poll(2) found ready.
pub struct Ready {
    revents: heapless::Vec<PollFlags, FDS_MAX>,
    /// The (WAN, family) of each probe socket polled, in order after the first three.
    probes: heapless::Vec<(usize, Family), { 2 * MAX_WANS }>,
    /// The (WAN, family) of each TCP probe set polled, in order after the probe sockets.
    tcp: heapless::Vec<(usize, Family), { 2 * MAX_WANS }>,
}

impl Ready {
    fn at(&self, i: usize) -> PollFlags {
        self.revents.get(i).copied().unwrap_or(PollFlags::empty())
    }

    /// A signal arrived.
    pub fn signals(&self) -> bool {
        !self.at(0).is_empty()
    }

    /// Netlink notifications arrived.
    pub fn netlink(&self) -> bool {
        !self.at(1).is_empty()
    }

    /// The ubus socket's events.
    pub fn ubus(&self) -> PollFlags {
        self.at(2)
    }

    /// The probe sockets with something to read, as (WAN, family).
    pub fn probes(&self) -> impl Iterator<Item = (usize, Family)> + '_ {
        self.probes.iter().enumerate().filter(|&(i, _)| !self.at(3 + i).is_empty()).map(|(_, &p)| p)
    }

    /// The TCP probe sets with probes that ended, as (WAN, family).
    pub fn tcp(&self) -> impl Iterator<Item = (usize, Family)> + '_ {
        let first = 3 + self.probes.len();
        self.tcp.iter().enumerate().filter(move |&(i, _)| !self.at(first + i).is_empty()).map(|(_, &p)| p)
    }
}

impl SysAdapters {
    /// Waits until `signals` or one of the adapters' descriptors is ready, or until the
    /// earliest of the core's deadline `core` and the adapters' own (hotplug runs, the ubus
    /// session, TCP probes); at most a minute. An interrupted wait reports nothing ready.
    pub fn wait(&self, signals: BorrowedFd<'_>, core: Option<Instant>) -> nix::Result<Ready> {
        let now = super::clock::now();
        let deadlines = [core, self.hotplug.next_deadline(now), self.ubus.poll_timeout(), self.next_tcp_deadline()];
        let ms = match deadlines.into_iter().flatten().min() {
            Some(deadline) => deadline.saturating_since(now).as_micros().div_ceil(1000).min(60_000),
            None => 60_000,
        };
        let timeout = PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX);
        let mut fds: heapless::Vec<PollFd, FDS_MAX> = heapless::Vec::new();
        let _ = fds.push(PollFd::new(signals, PollFlags::POLLIN));
        let _ = fds.push(PollFd::new(self.netlink.event_fd(), PollFlags::POLLIN));
        let _ = fds.push(match self.ubus_socket.fd() {
            Some(fd) => PollFd::new(fd, self.ubus_socket.interest(&self.ubus)),
            // Nothing to watch: a slot that poll(2) ignores.
            None => PollFd::new(signals, PollFlags::empty()),
        });
        let mut probes = heapless::Vec::new();
        for (wan, pair) in self.probes.iter().enumerate() {
            for (family, socket) in Family::ALL.into_iter().zip(pair) {
                if let Some(socket) = socket {
                    let _ = fds.push(PollFd::new(socket.as_fd(), PollFlags::POLLIN));
                    let _ = probes.push((wan, family));
                }
            }
        }
        let mut tcp = heapless::Vec::new();
        for (wan, pair) in self.tcp.iter().enumerate() {
            for (family, set) in Family::ALL.into_iter().zip(pair) {
                if let Some(set) = set {
                    let _ = fds.push(PollFd::new(set.as_fd(), PollFlags::POLLIN));
                    let _ = tcp.push((wan, family));
                }
            }
        }
        let revents = match poll(&mut fds, timeout) {
            Ok(_) => fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect(),
            Err(nix::errno::Errno::EINTR) => heapless::Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Ready { revents, probes, tcp })
    }

    /// Hands `done` every TCP probe of WAN `wan`'s `family` set that ended (its socket is
    /// closed), as (target, token, end, what came back). An error closes the set and is
    /// returned.
    pub fn drain_tcp(
        &mut self,
        wan: usize,
        family: Family,
        done: &mut dyn FnMut(IpAddr, u16, TcpEnd, TcpOutcome),
    ) -> Result<(), TcpProbeError> {
        let slot = &mut self.tcp[wan][family.index()];
        let Some(set) = slot.as_mut() else { return Ok(()) };
        let drained = set.drain(&mut |r: TcpResult| done(r.dst, r.token, tcp_end(r.outcome), r.outcome));
        if drained.is_err() {
            *slot = None;
        }
        drained
    }

    /// Hands `done` every TCP probe, of any set, whose deadline is at or before `now`.
    pub fn expire_tcp(&mut self, now: Instant, done: &mut dyn FnMut(usize, IpAddr, u16, TcpEnd, TcpOutcome)) {
        for (wan, pair) in self.tcp.iter_mut().enumerate() {
            for set in pair.iter_mut().flatten() {
                set.expire(now, &mut |r: TcpResult| done(wan, r.dst, r.token, tcp_end(r.outcome), r.outcome));
            }
        }
    }

    /// The earliest deadline of a TCP probe in flight.
    pub fn next_tcp_deadline(&self) -> Option<Instant> {
        self.tcp.iter().flatten().flatten().filter_map(TcpProbes::next_deadline).min()
    }

    /// Reads WAN `wan`'s `family` probe socket until it is empty, handing each echo reply
    /// (source, identifier, sequence) to `reply`. A socket error closes the socket and is
    /// returned.
    pub fn read_probe(
        &mut self,
        wan: usize,
        family: Family,
        reply: &mut dyn FnMut(IpAddr, u16, u16),
    ) -> Result<(), IcmpError> {
        let Some(socket) = self.probes[wan][family.index()].as_mut() else { return Ok(()) };
        loop {
            match socket.recv() {
                Ok(None) => return Ok(()),
                Ok(Some(Ok(Icmp::EchoReply { src, ident, seq, .. }))) => reply(src, ident, seq),
                // ICMP errors about our probes and malformed packets count as nothing (see
                // the module contract).
                Ok(Some(_)) => {}
                Err(e) => {
                    self.probes[wan][family.index()] = None;
                    return Err(e);
                }
            }
        }
    }

    /// The ubus session's deadline passed (or may have).
    pub fn handle_ubus_timeout(&mut self, now: Instant) {
        self.ubus_socket.handle_timeout(now, &mut self.ubus);
    }

    /// The ubus socket is ready: exchange bytes; calls go to `answer`.
    pub fn handle_ubus_ready(&mut self, now: Instant, revents: PollFlags, answer: &mut dyn Answer) {
        self.ubus_socket.handle_ready(now, revents, &mut self.ubus, answer);
    }

    /// Writes what the ubus session queued.
    pub fn flush_ubus(&mut self, now: Instant, answer: &mut dyn Answer) {
        self.ubus_socket.flush(now, &mut self.ubus, answer);
    }
}

impl Adapters for SysAdapters {
    type Error = SysError;

    fn dump(&mut self, kind: DumpKind, each: &mut dyn FnMut(&KernelEvent)) -> Result<(), SysError> {
        self.netlink.dump(kind, &mut |event| each(&event)).map_err(SysError::Netlink)
    }

    fn open_probe(&mut self, wan: usize, device: &str, src: IpAddr, ident: u16, tcp: bool) -> Result<(), SysError> {
        let family = Family::of(&src);
        // The old socket and set go first: the new ones replace them, or nothing does.
        self.close_probe(wan, family);
        let socket = ProbeSocket::open(device, src, ident).map_err(SysError::Icmp)?;
        let set = if tcp { Some(TcpProbes::open(device, src).map_err(SysError::Tcp)?) } else { None };
        self.probes[wan][family.index()] = Some(socket);
        self.tcp[wan][family.index()] = set;
        Ok(())
    }

    fn close_probe(&mut self, wan: usize, family: Family) {
        self.probes[wan][family.index()] = None;
        self.tcp[wan][family.index()] = None;
    }

    fn send_probe(&mut self, wan: usize, dst: IpAddr, seq: u16) {
        // A failed send (link just went down, firewall) is a lost probe.
        if let Some(socket) = self.probes[wan][Family::of(&dst).index()].as_mut() {
            let _ = socket.send_echo(dst, seq);
        }
    }

    fn send_tcp_probe(
        &mut self,
        wan: usize,
        dst: IpAddr,
        port: u16,
        token: u16,
        deadline: Instant,
    ) -> Result<(), SysError> {
        // No set (closed after an error, reopened soon): nothing sent, as for ICMP.
        match self.tcp[wan][Family::of(&dst).index()].as_mut() {
            Some(set) => set.start(dst, port, token, deadline).map_err(SysError::Tcp),
            None => Ok(()),
        }
    }

    fn cancel_tcp_probe(&mut self, wan: usize, family: Family, token: u16) {
        if let Some(set) = self.tcp[wan][family.index()].as_mut() {
            set.cancel(token);
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), SysError> {
        self.netlink.apply(op).map_err(SysError::Netlink)
    }

    fn flush_conntrack(&mut self, _wan: usize, addr: IpAddr) -> Result<u32, SysError> {
        let result = match &mut self.conntrack {
            Some(ct) => ct.flush_nat_to(addr),
            // Not opened at start (or that failed): try now.
            None => Conntrack::open().and_then(|ct| self.conntrack.insert(ct).flush_nat_to(addr)),
        };
        result.map_err(SysError::Conntrack)
    }

    fn run_hotplug(
        &mut self,
        now: Instant,
        action: HotplugAction,
        interface: &str,
        device: &str,
        family: Family,
    ) -> Result<(), SysError> {
        self.hotplug.run(now, action.as_str(), interface, device, family_word(family)).map_err(SysError::Hotplug)
    }

    fn run_hotplug_rule(
        &mut self,
        now: Instant,
        rule: &str,
        family: Family,
        via: &str,
        previous: &str,
    ) -> Result<(), SysError> {
        self.hotplug.run_rule(now, rule, family_word(family), via, previous).map_err(SysError::Hotplug)
    }

    fn log(&mut self, level: LogLevel, line: &str) {
        self.log.write(level, line);
    }

    fn ask_netifd(&mut self, now: Instant, network: &NetName) {
        // Not registered yet: the registration makes the core ask again.
        let _ = self.ubus.ask_netifd(now, network);
    }

    fn listen_netifd(&mut self, now: Instant) {
        self.ubus.listen(now, netifd::EVENT);
    }

    fn send_event(&mut self, event: &Event) {
        self.ubus.send_event(event.name(), &|w| event.write(w));
    }

    fn ubus(&mut self) -> Option<&mut Session> {
        Some(&mut self.ubus)
    }
}

/// A TCP probe's outcome in the core's terms.
fn tcp_end(outcome: TcpOutcome) -> TcpEnd {
    match outcome {
        TcpOutcome::Open | TcpOutcome::Reset => TcpEnd::Answered,
        TcpOutcome::Lost(nix::errno::Errno::ETIMEDOUT) => TcpEnd::TimedOut,
        TcpOutcome::Lost(_) => TcpEnd::Lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    /// A RST is as much an answer as a SYN-ACK; the kernel's own give-up is a timeout,
    /// which the health's deadline judges; any other error is a loss known at once.
    #[test]
    fn tcp_outcomes_in_the_cores_terms() {
        assert_eq!(tcp_end(TcpOutcome::Open), TcpEnd::Answered);
        assert_eq!(tcp_end(TcpOutcome::Reset), TcpEnd::Answered);
        assert_eq!(tcp_end(TcpOutcome::Lost(Errno::ETIMEDOUT)), TcpEnd::TimedOut);
        for errno in [Errno::ECONNREFUSED, Errno::EHOSTUNREACH, Errno::ENETUNREACH, Errno::EACCES] {
            assert_eq!(tcp_end(TcpOutcome::Lost(errno)), TcpEnd::Lost, "{errno}");
        }
    }
}
