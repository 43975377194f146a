//! A scripted ubusd (with netifd behind it) for timelines that drive the daemon's real
//! `dualwan::ubus::Session` in simulated time. It speaks the recorded bytes of
//! `tests/vectors/ubus/` with its own ids patched in (HELLO, ADD_OBJECT answers, STATUS
//! replies) and builds the rest (lookup results, netifd's `status` replies, its events) with
//! the crate's emitters. Faults: a restart (EOF, then no socket until [`FakeUbusd::start`]),
//! netifd answering late ([`FakeUbusd::netifd_delay`]), an oversized message.

use dualwan::netifd::NetifdStatus;
use dualwan::time::{Duration, Instant};
use dualwan::ubus::{Answer, Cause, Session, UbusError, UbusOp};
use dualwan::wire::blob::{Full, Writer};
use dualwan::wire::blob_json;
use dualwan::wire::ubus::{self as wire, MsgType};

pub use super::capture::vector;

/// `bytes` with `seq` in the header and the big-endian u32s of `at` replaced.
fn patched(mut bytes: Vec<u8>, seq: u16, at: &[(usize, u32)]) -> Vec<u8> {
    bytes[2..4].copy_from_slice(&seq.to_be_bytes());
    for &(at, value) in at {
        bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }
    bytes
}

/// One message built with the crate's emitters.
fn build(emit: impl FnOnce(&mut [u8]) -> Result<usize, Full>) -> Vec<u8> {
    let mut buf = vec![0u8; wire::MAX_MESSAGE];
    let len = emit(&mut buf).expect("fits");
    buf.truncate(len);
    buf
}

/// Client, object and type ids of this ubusd.
const CLIENT: u32 = 0x2468_ace0;
const OBJECT: u32 = 0x7e00_1001;
const LISTENER: u32 = 0x0a2b_0001;
/// netifd's interface objects are this plus their index in the netifd table.
const NETIFD_OBJECTS: u32 = 0x5100_0000;

/// The scripted ubusd. See the module doc.
#[derive(Debug)]
pub struct FakeUbusd {
    /// Its socket accepts connections.
    pub running: bool,
    /// How long netifd takes to answer `status`.
    pub netifd_delay: Duration,
    /// The daemon's connection is up.
    connected: bool,
    /// ubusd closed the connection and the daemon has not seen the EOF yet.
    eof_pending: bool,
    /// Bytes for the daemon, each due at its time, oldest first.
    outbox: Vec<(Instant, Vec<u8>)>,
    /// Bytes from the daemon not yet a whole message.
    partial: Vec<u8>,
    /// The listener object, once the daemon subscribed to `network.interface`.
    subscribed: bool,
    /// What the daemon did, in order, besides events and replies: `HELLO` (it connected),
    /// `ADD_OBJECT dualwan`, `LOOKUP PATH`, `status NAME`, `listen PATTERN`, `closed`...
    pub log: Vec<String>,
    /// When the daemon's object was registered, each time.
    pub registered_at: Vec<Instant>,
    /// The events the daemon sent: (name, data as JSON).
    pub events: Vec<(String, String)>,
    /// The replies to calls made with [`FakeUbusd::call_status`]: (status, data as JSON).
    pub replies: Vec<(u32, String)>,
    /// When each of [`FakeUbusd::replies`] arrived.
    pub replied_at: Vec<Instant>,
    /// Reply data of a call in progress.
    reply_data: String,
}

impl FakeUbusd {
    /// A ubusd that is running, nobody connected.
    pub fn new() -> FakeUbusd {
        FakeUbusd {
            running: true,
            netifd_delay: Duration::ZERO,
            connected: false,
            eof_pending: false,
            outbox: Vec::new(),
            partial: Vec::new(),
            subscribed: false,
            log: Vec::new(),
            registered_at: Vec::new(),
            events: Vec::new(),
            replies: Vec::new(),
            replied_at: Vec::new(),
            reply_data: String::new(),
        }
    }

    /// ubusd exits: its clients see EOF, its socket is gone until [`FakeUbusd::start`].
    pub fn stop(&mut self) {
        self.running = false;
        if self.connected {
            self.eof_pending = true;
        }
        self.drop_connection();
    }

    /// ubusd runs again.
    pub fn start(&mut self) {
        self.running = true;
    }

    /// Sends a header announcing a message larger than ubus allows.
    pub fn send_oversized(&mut self, now: Instant) {
        self.outbox.push((now, vec![0, 5, 0, 9, 0, 0, 0, 1, 0, 0x01, 0, 0]));
    }

    /// netifd's `network.interface` event about `interface`, to the daemon's listener if it
    /// subscribed; false if it did not.
    pub fn announce(&mut self, now: Instant, action: &str, interface: &str) -> bool {
        if !self.connected || !self.subscribed {
            return false;
        }
        let msg = build(|buf| {
            wire::emit_message(buf, MsgType::Invoke, 0, 0, |w| {
                w.blob_u32(wire::ATTR_OBJID, LISTENER)?;
                w.blob_string(wire::ATTR_METHOD, dualwan::netifd::EVENT)?;
                let data = w.begin_blob(wire::ATTR_DATA)?;
                w.string("action", action)?;
                w.string("interface", interface)?;
                w.end(data);
                Ok(())
            })
        });
        self.outbox.push((now, msg));
        true
    }

    /// `ubus call dualwan status`, as ubusd forwards it (b05's layout); the reply ends up in
    /// [`FakeUbusd::replies`].
    pub fn call_status(&mut self, now: Instant, seq: u16) {
        let mut b05 = patched(vector("b05"), seq, &[]);
        b05[16..20].copy_from_slice(&OBJECT.to_be_bytes());
        self.outbox.push((now, b05));
    }

    /// `ubus call dualwan METHOD` with `{"interface": interface}` (or `{}`), built with the
    /// crate's emitters as ubusd forwards a call; the reply ends up in
    /// [`FakeUbusd::replies`].
    pub fn call(&mut self, now: Instant, seq: u16, method: &str, interface: Option<&str>) {
        let msg = build(|buf| {
            wire::emit_message(buf, MsgType::Invoke, seq, CLIENT + 1, |w| {
                w.blob_u32(wire::ATTR_OBJID, OBJECT)?;
                w.blob_string(wire::ATTR_METHOD, method)?;
                let data = w.begin_blob(wire::ATTR_DATA)?;
                if let Some(name) = interface {
                    w.string("interface", name)?;
                }
                w.end(data);
                Ok(())
            })
        });
        self.outbox.push((now, msg));
    }

    /// When the next bytes for the daemon are due.
    pub fn next_due(&self) -> Option<Instant> {
        self.outbox.iter().map(|(at, _)| *at).min()
    }

    fn drop_connection(&mut self) {
        self.connected = false;
        self.subscribed = false;
        self.outbox.clear();
        self.partial.clear();
    }

    /// The daemon connects: accepted (and greeted) if ubusd runs.
    fn accept(&mut self, now: Instant) -> bool {
        if !self.running {
            return false;
        }
        self.connected = true;
        self.outbox.push((now, patched(vector("a01"), 0, &[(4, CLIENT)])));
        self.log.push("HELLO".into());
        true
    }

    /// Bytes the daemon wrote.
    fn receive(&mut self, now: Instant, bytes: &[u8], netifd: &[(&str, NetifdStatus)]) {
        self.partial.extend_from_slice(bytes);
        while let Ok(Some(len)) = wire::message_len(&self.partial) {
            if len > self.partial.len() {
                break;
            }
            let msg: Vec<u8> = self.partial.drain(..len).collect();
            self.handle(now, &msg, netifd);
        }
    }

    fn handle(&mut self, now: Instant, bytes: &[u8], netifd: &[(&str, NetifdStatus)]) {
        let msg = wire::parse(bytes).expect("the daemon sends well-formed messages");
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        let seq = msg.seq;
        match msg.ty {
            MsgType::AddObject if msg.objpath().is_some() => {
                self.log.push(format!("ADD_OBJECT {}", text(msg.objpath())));
                self.outbox.push((now, patched(vector("b02"), seq, &[(16, OBJECT)])));
                self.outbox.push((now, patched(vector("b03"), seq, &[])));
                self.registered_at.push(now);
            }
            MsgType::AddObject => {
                self.log.push("ADD_OBJECT anonymous".into());
                self.outbox.push((now, patched(vector("a06"), seq, &[(16, LISTENER)])));
                self.outbox.push((now, patched(vector("a04"), seq, &[])));
            }
            MsgType::Lookup => {
                let path = text(msg.objpath());
                self.log.push(format!("LOOKUP {path}"));
                let found = netifd.iter().position(|(n, _)| path == format!("network.interface.{n}"));
                match found {
                    Some(i) => {
                        let data = build(|buf| {
                            wire::emit_message(buf, MsgType::Data, seq, 0, |w| {
                                w.blob_string(wire::ATTR_OBJPATH, &path)?;
                                w.blob_u32(wire::ATTR_OBJID, NETIFD_OBJECTS + i as u32)?;
                                w.blob_u32(wire::ATTR_OBJTYPE, 0x1d00_0001)
                            })
                        });
                        self.outbox.push((now, data));
                        self.outbox.push((now, patched(vector("a09"), seq, &[])));
                    }
                    None => self.outbox.push((now, patched(vector("a25"), seq, &[]))),
                }
            }
            MsgType::Invoke if msg.objid() == Some(wire::SYSTEM_OBJECT_EVENT) => {
                let data = msg.data().unwrap_or_default();
                let table: Vec<_> = dualwan::wire::blob::Attrs::new(data).flatten().collect();
                match msg.method() {
                    Some(b"register") => {
                        let pattern = table.iter().find(|a| a.name == "pattern").and_then(|a| a.as_str());
                        self.log.push(format!("listen {}", pattern.unwrap_or_default()));
                        self.subscribed = true;
                        self.outbox.push((now, patched(vector("a04"), seq, &[])));
                    }
                    Some(b"send") => {
                        let name = table.iter().find(|a| a.name == "id").and_then(|a| a.as_str()).unwrap_or_default();
                        let fields = table.iter().find(|a| a.name == "data").map(|a| a.value).unwrap_or_default();
                        self.events.push((name.to_string(), blob_json::table_to_string(fields, false)));
                        // ubusd's answer comes from the event object.
                        self.outbox.push((now, patched(vector("a04"), seq, &[(4, wire::SYSTEM_OBJECT_EVENT)])));
                    }
                    other => panic!("unexpected INVOKE of the event object: {other:?}"),
                }
            }
            MsgType::Invoke => {
                let objid = msg.objid().expect("an object id");
                let i = objid.checked_sub(NETIFD_OBJECTS).map(|i| i as usize);
                let (name, status) = netifd.get(i.unwrap_or(usize::MAX)).expect("one of netifd's objects");
                self.log.push(format!("status {name}"));
                let at = now + self.netifd_delay;
                self.outbox
                    .push((at, build(|buf| wire::emit_data(buf, seq, CLIENT, objid, |w| write_status(w, status)))));
                self.outbox.push((at, build(|buf| wire::emit_status(buf, seq, CLIENT, wire::STATUS_OK, objid))));
            }
            // The daemon's answers to calls and events delivered to it.
            MsgType::Data => {
                self.reply_data = blob_json::table_to_string(msg.data().unwrap_or_default(), false);
            }
            MsgType::Status if msg.objid() == Some(OBJECT) => {
                let data = std::mem::take(&mut self.reply_data);
                self.replies.push((msg.status().expect("a status"), data));
                self.replied_at.push(now);
            }
            MsgType::Status => {}
            other => panic!("unexpected {other:?} from the daemon"),
        }
    }
}

/// netifd's `status` table for `status` (abridged `netifd_dump_status`).
fn write_status(w: &mut Writer<'_>, status: &NetifdStatus) -> Result<(), Full> {
    w.bool("up", status.up)?;
    if let Some(device) = &status.l3_device {
        w.string("l3_device", device)?;
    }
    w.string("proto", "dhcp")?;
    if let Some(address) = status.address {
        let a = w.begin_array("ipv4-address")?;
        let t = w.begin_table("")?;
        w.string("address", &address.to_string())?;
        w.u32("mask", 29)?;
        w.end(t);
        w.end(a);
    }
    if let Some(gateway) = status.gateway {
        let a = w.begin_array("route")?;
        let t = w.begin_table("")?;
        w.string("target", "0.0.0.0")?;
        w.u32("mask", 0)?;
        w.string("nexthop", &gateway.to_string())?;
        w.end(t);
        w.end(a);
    }
    Ok(())
}

/// The daemon's ubus session and the scripted ubusd at the other end of its socket.
#[derive(Debug)]
pub struct UbusLink {
    /// The daemon's session, as the binary has one.
    pub session: Session,
    /// ubusd.
    pub ubusd: FakeUbusd,
}

impl UbusLink {
    /// When something is due: the session's deadline or bytes from ubusd.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.session.poll_timeout(), self.ubusd.next_due()].into_iter().flatten().min()
    }

    /// Does what the socket shell does until nothing moves: connects when the session asks,
    /// reports EOF, and carries bytes both ways (ubusd's only once due). Calls to the
    /// daemon's object go to `answer`. True if the session got anything.
    pub fn pump(&mut self, now: Instant, netifd: &[(&str, NetifdStatus)], answer: &mut dyn Answer) -> bool {
        let mut got = false;
        loop {
            let mut moved = false;
            if std::mem::take(&mut self.ubusd.eof_pending) {
                self.session.handle_closed(now, UbusError { op: UbusOp::Recv, cause: Cause::Closed });
                got = true;
            }
            if self.ubusd.connected && !self.session.has_connection() {
                // The daemon closed the connection (a bad message).
                self.ubusd.log.push("closed".into());
                self.ubusd.drop_connection();
            }
            if self.session.poll_connect() {
                if self.ubusd.accept(now) {
                    self.session.handle_connected(now);
                } else {
                    let refused = Cause::Sys(nix::errno::Errno::ECONNREFUSED);
                    self.session.handle_closed(now, UbusError { op: UbusOp::Connect, cause: refused });
                }
                moved = true;
            }
            while let Some(out) = self.session.poll_transmit() {
                let out = out.to_vec();
                self.ubusd.receive(now, &out, netifd);
                self.session.handle_transmitted(now, out.len(), answer);
                moved = true;
            }
            if let Some(i) = self.ubusd.outbox.iter().position(|(at, _)| *at <= now) {
                let (due, bytes) = self.ubusd.outbox.remove(i);
                let taken = self.session.handle_bytes(now, &bytes, answer);
                if taken < bytes.len() && self.session.has_connection() {
                    // No room now (replies queued): the rest waits for the next pump.
                    self.ubusd.outbox.insert(i, (due, bytes[taken..].to_vec()));
                }
                moved |= taken > 0;
                got = true;
            }
            if !moved {
                return got;
            }
        }
    }
}
