//! A minimal ubusd for tests: enough of openwrt/ubus `ubusd` for a provider (the daemon)
//! and callers (`dualwan status`) to meet, speaking the bytes of
//! `tests/vectors/ubus/README.md` through the crate's `wire::ubus` emitters and parser.
//!
//! ```ignore
//! let mut ubusd = MiniUbusd::start(dir.join("ubus.sock"));
//! assert!(ubusd.wait_for_object("dualwan", Duration::from_secs(3)));
//! let events = ubusd.events();      // every `ubus send` so far, oldest first
//! ubusd.stop();                     // clients see EOF, the socket file goes
//! ubusd.restart();                  // listens again on the same path, new ids
//! ```
//!
//! What it does, as ubusd does (`ubusd_proto.c`, `ubusd_event.c`):
//! - HELLO on accept, `peer` = the new client's id (ids are never 0 or 1).
//! - ADD_OBJECT: DATA {OBJID, OBJTYPE} then STATUS 0, both with the request's seq and peer;
//!   a path already taken is STATUS 2 (INVALID_ARGUMENT). A client's objects go with it.
//! - LOOKUP: one DATA {OBJPATH, OBJID, OBJTYPE, SIGNATURE} per match (exact path, a path
//!   ending in `*` as a prefix, no path = all), then STATUS 0; no match is STATUS 4 alone.
//! - INVOKE of an object: forwarded to its owner with `peer` = the caller's id, the caller's
//!   seq, and OBJID, METHOD, USER "root", GROUP "root", DATA; no METHOD or OBJID is STATUS 2,
//!   an unknown object STATUS 4. The owner's DATA and STATUS (`peer` = the caller) go back to
//!   the caller with `peer` rewritten to the object id and the payload unchanged; replies
//!   without OBJID (or DATA/STATUS), for another client's object or an unknown caller are
//!   dropped.
//! - INVOKE `send` to object 1 (an event, `DATA {id: STRING, data: TABLE}`): recorded for
//!   [`MiniUbusd::events`], answered STATUS 0 (2 when malformed) and delivered to every
//!   listener whose pattern matches (exactly, or as a prefix when it ended in `*`), once per
//!   listening object and never to the sender's own objects: an INVOKE with `peer` 0, a
//!   sequence number of the server's, OBJID = the listener, METHOD = the event's name and
//!   DATA = its data table (`ubusd_event.c`). The listener's STATUS for it is recorded for
//!   [`MiniUbusd::event_acks`].
//! - INVOKE `register` to object 1 (`DATA {object: INT32, pattern: STRING}`): the object
//!   must exist and belong to the caller (else STATUS 4 / 6); no pattern or object is 2.
//! - A malformed message closes its connection; other message types get STATUS 1
//!   (INVALID_COMMAND), except HELLO/PING/NOTIFY, which are ignored.
//!
//! One background thread serves every client with non-blocking sockets, sleeping 1 ms when
//! nothing moved. Allocation and a little latency are fine here: it is test code.
#![allow(dead_code)]

use dualwan::wire::blob::{Attrs, Writer};
use dualwan::wire::blob_json;
use dualwan::wire::ubus::{self as wire, Message, MsgType, MAX_MESSAGE};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// An event a client sent (`ubus send ID DATA`).
#[derive(Clone, Debug)]
pub struct Event {
    /// Its name (`dualwan.interface`).
    pub id: String,
    /// The members of its `data` table, as blobmsg.
    pub data: Vec<u8>,
}

impl Event {
    /// `data` as JSON (through the crate's printer, as `ubus listen` would show it).
    pub fn json(&self) -> serde_json::Value {
        let text = blob_json::table_to_string(&self.data, false);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("event {}: {e}: {text}", self.id))
    }
}

/// What the test thread can see of the server's state; survives restarts.
#[derive(Default)]
struct Shared {
    events: Mutex<Vec<Event>>,
    /// Paths of the objects registered now.
    objects: Mutex<Vec<String>>,
    /// ADD_OBJECTs accepted since start, restarts included.
    registrations: AtomicU32,
    /// The next id handed out (clients, objects, types alike), so a restart gives new ids.
    next_id: AtomicU32,
    /// Event patterns registered now, as given (`network.interface`, `dualwan.*`).
    patterns: Mutex<Vec<String>>,
    /// Listeners' STATUS answers to delivered events: (listener object, status).
    event_acks: Mutex<Vec<(u32, u32)>>,
}

/// The server. Stops (and removes its socket) when dropped.
pub struct MiniUbusd {
    path: PathBuf,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MiniUbusd {
    /// Listens on `path` (a stale socket file there is replaced) and serves in a thread.
    pub fn start(path: impl AsRef<Path>) -> MiniUbusd {
        let shared = Arc::new(Shared::default());
        shared.next_id.store(0x5d00_0010, Ordering::Relaxed);
        let mut server = MiniUbusd {
            path: path.as_ref().to_path_buf(),
            shared,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        server.listen();
        server
    }

    fn listen(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).unwrap_or_else(|e| panic!("bind {}: {e}", self.path.display()));
        listener.set_nonblocking(true).expect("non-blocking listener");
        self.stop = Arc::new(AtomicBool::new(false));
        let (stop, shared) = (self.stop.clone(), self.shared.clone());
        self.thread = Some(std::thread::spawn(move || serve(listener, &stop, &shared)));
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection and the listening socket, and removes the socket file, like
    /// a ubusd that exits. Events and counters are kept.
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::Relaxed);
            thread.join().expect("mini ubusd thread panicked");
        }
        let _ = std::fs::remove_file(&self.path);
    }

    /// Stops (if running) and listens again on the same path, with no clients or objects.
    pub fn restart(&mut self) {
        self.stop();
        self.listen();
    }

    /// Every event received so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.shared.events.lock().unwrap().clone()
    }

    /// Events named `id`, oldest first.
    pub fn events_named(&self, id: &str) -> Vec<Event> {
        self.events().into_iter().filter(|e| e.id == id).collect()
    }

    /// Paths of the objects registered now.
    pub fn objects(&self) -> Vec<String> {
        self.shared.objects.lock().unwrap().clone()
    }

    /// ADD_OBJECTs accepted since start.
    pub fn registrations(&self) -> u32 {
        self.shared.registrations.load(Ordering::Relaxed)
    }

    /// Event patterns registered now.
    pub fn patterns(&self) -> Vec<String> {
        self.shared.patterns.lock().unwrap().clone()
    }

    /// Every STATUS a listener sent for an event delivered to it: (object, status).
    pub fn event_acks(&self) -> Vec<(u32, u32)> {
        self.shared.event_acks.lock().unwrap().clone()
    }

    /// Waits until a listener for `pattern` is registered.
    pub fn wait_for_pattern(&self, pattern: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.patterns().iter().any(|p| p == pattern) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// Waits until an object `path` is registered.
    pub fn wait_for_object(&self, path: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.objects().iter().any(|p| p == path) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for MiniUbusd {
    fn drop(&mut self) {
        self.stop();
    }
}

// --- the server thread ------------------------------------------------------------------

struct Conn {
    id: u32,
    stream: UnixStream,
    rx: Vec<u8>,
    tx: Vec<u8>,
    closed: bool,
}

struct Object {
    id: u32,
    type_id: u32,
    /// Empty for an anonymous object (a subscriber).
    path: String,
    owner: u32,
    /// The SIGNATURE payload of its ADD_OBJECT, replayed in LOOKUP answers.
    signature: Vec<u8>,
}

/// One `register`ed event pattern.
struct Listener {
    object: u32,
    /// The pattern without a trailing `*`.
    prefix: String,
    partial: bool,
    pattern: String,
}

struct State<'s> {
    shared: &'s Shared,
    conns: Vec<Conn>,
    objects: Vec<Object>,
    listeners: Vec<Listener>,
    /// Sequence numbers of delivered events (ubusd's `event_seq`).
    event_seq: u16,
    /// Messages to queue: (client id, bytes).
    out: Vec<(u32, Vec<u8>)>,
}

fn serve(listener: UnixListener, stop: &AtomicBool, shared: &Shared) {
    let mut s =
        State { shared, conns: Vec::new(), objects: Vec::new(), listeners: Vec::new(), event_seq: 0, out: Vec::new() };
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        while let Ok((stream, _)) = listener.accept() {
            busy = true;
            stream.set_nonblocking(true).expect("non-blocking client");
            let id = s.new_id();
            s.conns.push(Conn { id, stream, rx: Vec::new(), tx: Vec::new(), closed: false });
            s.send(id, |buf| wire::emit_message(buf, MsgType::Hello, 0, id, |_| Ok(())));
        }
        for i in 0..s.conns.len() {
            busy |= s.read(i);
        }
        for (to, bytes) in std::mem::take(&mut s.out) {
            if let Some(c) = s.conns.iter_mut().find(|c| c.id == to) {
                c.tx.extend_from_slice(&bytes);
            }
        }
        for c in &mut s.conns {
            busy |= flush(c);
        }
        let gone: Vec<u32> = s.conns.iter().filter(|c| c.closed).map(|c| c.id).collect();
        if !gone.is_empty() {
            s.conns.retain(|c| !c.closed);
            s.objects.retain(|o| !gone.contains(&o.owner));
            let objects: Vec<u32> = s.objects.iter().map(|o| o.id).collect();
            s.listeners.retain(|l| objects.contains(&l.object));
            s.publish_objects();
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    s.objects.clear();
    s.listeners.clear();
    s.publish_objects();
    // Dropping the connections and the listener is what clients see as ubusd exiting.
}

/// Writes what the socket takes; true if anything moved.
fn flush(c: &mut Conn) -> bool {
    let mut moved = false;
    while !c.tx.is_empty() && !c.closed {
        match c.stream.write(&c.tx) {
            Ok(0) => c.closed = true,
            Ok(n) => {
                c.tx.drain(..n);
                moved = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => c.closed = true,
        }
    }
    moved
}

impl State<'_> {
    fn new_id(&self) -> u32 {
        self.shared.next_id.fetch_add(0x0101, Ordering::Relaxed)
    }

    fn publish_objects(&self) {
        let paths = self.objects.iter().filter(|o| !o.path.is_empty()).map(|o| o.path.clone()).collect();
        *self.shared.objects.lock().unwrap() = paths;
        *self.shared.patterns.lock().unwrap() = self.listeners.iter().map(|l| l.pattern.clone()).collect();
    }

    /// Queues one message for client `to`.
    fn send(&mut self, to: u32, emit: impl FnOnce(&mut [u8]) -> Result<usize, dualwan::wire::blob::Full>) {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let len = emit(&mut buf).expect("a message the mini ubusd writes fits MAX_MESSAGE");
        buf.truncate(len);
        self.out.push((to, buf));
    }

    /// A STATUS answering request (seq, peer): only the STATUS attribute (a04, a09, a25).
    fn status(&mut self, to: u32, seq: u16, peer: u32, status: u32) {
        self.send(to, |buf| {
            wire::emit_message(buf, MsgType::Status, seq, peer, |w| w.blob_u32(wire::ATTR_STATUS, status))
        });
    }

    /// Reads what client `i` sent and handles every complete message; true if anything
    /// arrived.
    fn read(&mut self, i: usize) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let mut moved = false;
        loop {
            let c = &mut self.conns[i];
            match c.stream.read(&mut chunk) {
                Ok(0) => {
                    c.closed = true;
                    break;
                }
                Ok(n) => {
                    c.rx.extend_from_slice(&chunk[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    c.closed = true;
                    break;
                }
            }
        }
        loop {
            let c = &mut self.conns[i];
            let len = match wire::message_len(&c.rx) {
                Ok(Some(len)) if len <= c.rx.len() => len,
                Ok(_) => break,
                Err(_) => {
                    c.closed = true;
                    break;
                }
            };
            let bytes: Vec<u8> = c.rx.drain(..len).collect();
            let from = c.id;
            match wire::parse(&bytes) {
                Ok(msg) => self.handle(from, &msg, &bytes),
                Err(_) => {
                    self.conns[i].closed = true;
                    break;
                }
            }
        }
        moved
    }

    fn handle(&mut self, from: u32, msg: &Message<'_>, raw: &[u8]) {
        match msg.ty {
            MsgType::Hello | MsgType::Ping | MsgType::Notify => {}
            MsgType::AddObject => self.add_object(from, msg),
            MsgType::Lookup => self.lookup(from, msg),
            MsgType::Invoke => self.invoke(from, msg),
            MsgType::Data | MsgType::Status => self.response(from, msg, raw),
            _ => self.status(from, msg.seq, msg.peer, wire::STATUS_INVALID_COMMAND),
        }
    }

    fn add_object(&mut self, from: u32, msg: &Message<'_>) {
        let path = msg.objpath().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default();
        if !path.is_empty() && self.objects.iter().any(|o| o.path == path) {
            return self.status(from, msg.seq, msg.peer, wire::STATUS_INVALID_ARGUMENT);
        }
        let (id, type_id) = (self.new_id(), self.new_id());
        let signature = msg.signature().unwrap_or_default().to_vec();
        self.objects.push(Object { id, type_id, path, owner: from, signature });
        self.shared.registrations.fetch_add(1, Ordering::Relaxed);
        self.publish_objects();
        self.send(from, |buf| {
            wire::emit_message(buf, MsgType::Data, msg.seq, msg.peer, |w| {
                w.blob_u32(wire::ATTR_OBJID, id)?;
                w.blob_u32(wire::ATTR_OBJTYPE, type_id)
            })
        });
        self.status(from, msg.seq, msg.peer, wire::STATUS_OK);
    }

    fn lookup(&mut self, from: u32, msg: &Message<'_>) {
        let wanted = msg.objpath().map(|p| String::from_utf8_lossy(p).into_owned());
        let found: Vec<(String, u32, u32, Vec<u8>)> = self
            .objects
            .iter()
            .filter(|o| !o.path.is_empty())
            .filter(|o| match wanted.as_deref() {
                None => true,
                Some(p) => match p.strip_suffix('*') {
                    Some(prefix) => o.path.starts_with(prefix),
                    None => o.path == p,
                },
            })
            .map(|o| (o.path.clone(), o.id, o.type_id, o.signature.clone()))
            .collect();
        if found.is_empty() && wanted.is_some() {
            return self.status(from, msg.seq, msg.peer, wire::STATUS_NOT_FOUND);
        }
        for (path, id, type_id, signature) in found {
            self.send(from, |buf| {
                wire::emit_message(buf, MsgType::Data, msg.seq, msg.peer, |w| {
                    w.blob_string(wire::ATTR_OBJPATH, &path)?;
                    w.blob_u32(wire::ATTR_OBJID, id)?;
                    w.blob_u32(wire::ATTR_OBJTYPE, type_id)?;
                    let nest = w.begin_blob(wire::ATTR_SIGNATURE)?;
                    w.encoded(&signature)?;
                    w.end(nest);
                    Ok(())
                })
            });
        }
        self.status(from, msg.seq, msg.peer, wire::STATUS_OK);
    }

    fn invoke(&mut self, from: u32, msg: &Message<'_>) {
        let (Some(objid), Some(method)) = (msg.objid(), msg.method()) else {
            return self.status(from, msg.seq, msg.peer, wire::STATUS_INVALID_ARGUMENT);
        };
        if objid == wire::SYSTEM_OBJECT_EVENT {
            let status = match method {
                b"send" => self.event(from, msg),
                b"register" => self.register(from, msg),
                _ => wire::STATUS_INVALID_COMMAND,
            };
            return self.status(from, msg.seq, msg.peer, status);
        }
        let Some(owner) = self.objects.iter().find(|o| o.id == objid).map(|o| o.owner) else {
            return self.status(from, msg.seq, msg.peer, wire::STATUS_NOT_FOUND);
        };
        let method = String::from_utf8_lossy(method).into_owned();
        let data = msg.data().map(<[u8]>::to_vec);
        // To the provider: peer = the caller, the caller's seq (a13, b05).
        self.send(owner, |buf| {
            wire::emit_message(buf, MsgType::Invoke, msg.seq, from, |w| {
                w.blob_u32(wire::ATTR_OBJID, objid)?;
                w.blob_string(wire::ATTR_METHOD, &method)?;
                w.blob_string(wire::ATTR_USER, "root")?;
                w.blob_string(wire::ATTR_GROUP, "root")?;
                if let Some(data) = &data {
                    let nest = w.begin_blob(wire::ATTR_DATA)?;
                    w.encoded(data)?;
                    w.end(nest);
                }
                Ok(())
            })
        });
    }

    /// Registers a listener (`ubusd_alloc_event_pattern`'s checks); the status for it.
    fn register(&mut self, from: u32, msg: &Message<'_>) -> u32 {
        let Some(args) = msg.args() else { return wire::STATUS_INVALID_ARGUMENT };
        let (mut object, mut pattern) = (None, None);
        for attr in args.flatten() {
            match attr.name {
                "object" => object = attr.as_u32(),
                "pattern" => pattern = attr.as_str().map(str::to_owned),
                _ => {}
            }
        }
        let (Some(object), Some(pattern)) = (object, pattern) else { return wire::STATUS_INVALID_ARGUMENT };
        match self.objects.iter().find(|o| o.id == object) {
            None => return wire::STATUS_NOT_FOUND,
            Some(o) if o.owner != from => return wire::STATUS_PERMISSION_DENIED,
            Some(_) => {}
        }
        let (prefix, partial) = match pattern.strip_suffix('*') {
            Some(p) => (p.to_owned(), true),
            None => (pattern.clone(), false),
        };
        self.listeners.push(Listener { object, prefix, partial, pattern });
        self.publish_objects();
        wire::STATUS_OK
    }

    /// Records an event and delivers it; the status for its sender (`ubusd_forward_event`'s
    /// checks).
    fn event(&mut self, from: u32, msg: &Message<'_>) -> u32 {
        let Some(args) = msg.args() else { return wire::STATUS_INVALID_ARGUMENT };
        let (mut id, mut data) = (None, None);
        for attr in args {
            let Ok(attr) = attr else { return wire::STATUS_INVALID_ARGUMENT };
            match attr.name {
                "id" => id = attr.as_str().map(str::to_owned),
                "data" if attr.as_table().is_some() => data = Some(attr.value.to_vec()),
                _ => {}
            }
        }
        let (Some(id), Some(data)) = (id, data) else { return wire::STATUS_INVALID_ARGUMENT };
        if dualwan::wire::blob::check_table(&data).is_err() || Attrs::new(&data).any(|a| a.is_err()) {
            return wire::STATUS_INVALID_ARGUMENT;
        }
        let mut to: Vec<(u32, u32)> = Vec::new();
        for l in &self.listeners {
            let matches = if l.partial { id.starts_with(&l.prefix) } else { id == l.prefix };
            let owner = self.objects.iter().find(|o| o.id == l.object).map(|o| o.owner);
            if matches && owner.is_some_and(|o| o != from) && !to.iter().any(|(obj, _)| *obj == l.object) {
                to.push((l.object, owner.unwrap_or_default()));
            }
        }
        for (object, owner) in to {
            self.event_seq = self.event_seq.wrapping_add(1);
            let seq = self.event_seq;
            self.send(owner, |buf| {
                wire::emit_message(buf, MsgType::Invoke, seq, 0, |w| {
                    w.blob_u32(wire::ATTR_OBJID, object)?;
                    w.blob_string(wire::ATTR_METHOD, &id)?;
                    let nest = w.begin_blob(wire::ATTR_DATA)?;
                    w.encoded(&data)?;
                    w.end(nest);
                    Ok(())
                })
            });
        }
        self.shared.events.lock().unwrap().push(Event { id, data });
        wire::STATUS_OK
    }

    /// A provider's DATA or STATUS for a caller (`ubusd_handle_response`).
    fn response(&mut self, from: u32, msg: &Message<'_>, raw: &[u8]) {
        let Some(objid) = msg.objid() else { return };
        // A listener's answer to an event (peer 0): nobody waits for it.
        if msg.peer == 0 && msg.ty == MsgType::Status {
            if let Some(status) = msg.status() {
                self.shared.event_acks.lock().unwrap().push((objid, status));
            }
            return;
        }
        let complete = match msg.ty {
            MsgType::Status => msg.status().is_some(),
            _ => msg.data().is_some(),
        };
        let owned = self.objects.iter().any(|o| o.id == objid && o.owner == from);
        let caller = msg.peer;
        if !complete || !owned || !self.conns.iter().any(|c| c.id == caller) {
            return;
        }
        // Forwarded unchanged but for the header's peer (a16, a17).
        let mut bytes = raw.to_vec();
        bytes[4..8].copy_from_slice(&objid.to_be_bytes());
        self.out.push((caller, bytes));
    }
}

/// Writes a blobmsg table with `f` (for tests that build arguments by hand).
pub fn table(f: impl FnOnce(&mut Writer<'_>) -> Result<(), dualwan::wire::blob::Full>) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut w = Writer::new(&mut buf);
    f(&mut w).expect("fits");
    let len = w.len();
    buf.truncate(len);
    buf
}
