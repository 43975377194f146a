//! A blocking ubus caller for the command line (`dualwan status`): connect, wait for
//! ubusd's HELLO, LOOKUP an object by path, INVOKE one of its methods and collect the
//! reply, the way libubus's `ubus_lookup_id` and `ubus_invoke` do it (flows A3 and B2 of
//! `tests/vectors/ubus/README.md`).
//!
//! Contract:
//! - One deadline for the whole exchange, set by [`Client::connect`]: every read waits at
//!   most until then, and a silent ubusd is [`ClientError::Timeout`].
//! - Requests use this client's own increasing `seq`; messages that answer nothing we asked
//!   (another `seq`, another peer) are skipped, as libubus does.
//! - This is not the daemon's loop: it blocks, and allocates per message.

use crate::wire::blob::{Full, Writer};
use crate::wire::ubus::{self as wire, Malformed, MsgType, MAX_MESSAGE, MIN_MESSAGE};
use core::fmt;
use nix::errno::Errno;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long `dualwan status` waits for ubusd and the daemon altogether.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a call did not get an answer.
#[derive(Debug)]
pub enum ClientError {
    /// connect(2) to the socket failed.
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Reading or writing the connection failed.
    Io(std::io::Error),
    /// ubusd closed the connection.
    Closed,
    /// Nothing came back before the deadline.
    Timeout(Duration),
    /// ubusd sent a message that failed a check.
    Malformed(Malformed),
    /// ubusd broke the protocol; the text says how.
    Protocol(&'static str),
    /// The request does not fit in one message.
    TooLarge,
}

/// A system error as `strerror` words it, without Rust's "(os error N)".
struct IoText<'a>(&'a std::io::Error);

impl fmt::Display for IoText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.raw_os_error() {
            Some(code) => f.write_str(Errno::from_raw(code).desc()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { path, error } => {
                write!(f, "ubus: cannot connect to {}: {}", path.display(), IoText(error))
            }
            ClientError::Io(e) => write!(f, "ubus: {}", IoText(e)),
            ClientError::Closed => f.write_str("ubus: ubusd closed the connection"),
            ClientError::Timeout(t) => write!(f, "ubus: no answer within {} s", t.as_secs()),
            ClientError::Malformed(m) => write!(f, "ubus: malformed message from ubusd ({m})"),
            ClientError::Protocol(why) => write!(f, "ubus: {why}"),
            ClientError::TooLarge => write!(f, "ubus: request larger than {MAX_MESSAGE} bytes"),
        }
    }
}

impl std::error::Error for ClientError {}

/// One connection to ubusd, greeted. See the module contract.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    id: u32,
    seq: u16,
    deadline: Instant,
    timeout: Duration,
    /// Received bytes not yet handled.
    rx: Vec<u8>,
}

impl Client {
    /// Connects to ubusd at `path` and waits for its HELLO; everything that follows must
    /// be done within `timeout` of now.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let stream =
            UnixStream::connect(path).map_err(|error| ClientError::Connect { path: path.to_path_buf(), error })?;
        let mut client = Client { stream, id: 0, seq: 0, deadline: Instant::now() + timeout, timeout, rx: Vec::new() };
        let hello = client.next_message()?;
        let msg = wire::parse(&hello).map_err(ClientError::Malformed)?;
        // libubus refuses ids 0 and 1 too.
        if msg.ty != MsgType::Hello || msg.peer <= 1 {
            return Err(ClientError::Protocol("ubusd did not greet with HELLO and a client id"));
        }
        client.id = msg.peer;
        Ok(client)
    }

    /// Our client id, from HELLO.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The object id of `path`, or `None` when ubusd has no such object (STATUS 4).
    pub fn lookup(&mut self, path: &str) -> Result<Option<u32>, ClientError> {
        let seq = self.next_seq();
        self.request(|buf| wire::emit_lookup(buf, seq, Some(path)))?;
        let mut found = None;
        loop {
            let bytes = self.next_message()?;
            let msg = wire::parse(&bytes).map_err(ClientError::Malformed)?;
            if msg.seq != seq {
                continue;
            }
            match msg.ty {
                MsgType::Data if msg.objpath() == Some(path.as_bytes()) => {
                    found = found.or(msg.objid());
                }
                MsgType::Status => {
                    return match msg.status() {
                        Some(wire::STATUS_OK) if found.is_some() => Ok(found),
                        Some(wire::STATUS_OK) => Err(ClientError::Protocol("LOOKUP answered without an object id")),
                        Some(wire::STATUS_NOT_FOUND) => Ok(None),
                        Some(_) => Err(ClientError::Protocol("LOOKUP refused")),
                        None => Err(ClientError::Protocol("STATUS without a status")),
                    };
                }
                _ => {}
            }
        }
    }

    /// Calls `method` of object `objid` with the argument table `args` writes. Hands the
    /// payload of each DATA reply to `on_data` and returns the call's status
    /// (`wire::STATUS_*`).
    pub fn invoke(
        &mut self,
        objid: u32,
        method: &str,
        args: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>,
        on_data: &mut dyn FnMut(&[u8]),
    ) -> Result<u32, ClientError> {
        let seq = self.next_seq();
        self.request(|buf| wire::emit_invoke(buf, seq, objid, method, args))?;
        loop {
            let bytes = self.next_message()?;
            let msg = wire::parse(&bytes).map_err(ClientError::Malformed)?;
            // ubusd puts the object id in `peer` of what it forwards (a16, a17).
            if msg.seq != seq || msg.peer != objid {
                continue;
            }
            match msg.ty {
                MsgType::Data => {
                    if let Some(data) = msg.data() {
                        on_data(data);
                    }
                }
                MsgType::Status => return msg.status().ok_or(ClientError::Protocol("STATUS without a status")),
                _ => {}
            }
        }
    }

    fn next_seq(&mut self) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn request(&mut self, emit: impl FnOnce(&mut [u8]) -> Result<usize, Full>) -> Result<(), ClientError> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let len = emit(&mut buf).map_err(|Full| ClientError::TooLarge)?;
        self.stream.set_write_timeout(Some(self.remaining()?)).map_err(ClientError::Io)?;
        self.stream.write_all(&buf[..len]).map_err(|e| self.io_error(e))
    }

    /// Time left before the deadline, or `Timeout`.
    fn remaining(&self) -> Result<Duration, ClientError> {
        match self.deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(ClientError::Timeout(self.timeout)),
        }
    }

    fn io_error(&self, e: std::io::Error) -> ClientError {
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => ClientError::Timeout(self.timeout),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => ClientError::Closed,
            _ => ClientError::Io(e),
        }
    }

    /// The next whole message.
    fn next_message(&mut self) -> Result<Vec<u8>, ClientError> {
        loop {
            if self.rx.len() >= MIN_MESSAGE {
                if let Some(len) = wire::message_len(&self.rx).map_err(ClientError::Malformed)? {
                    if len <= self.rx.len() {
                        return Ok(self.rx.drain(..len).collect());
                    }
                }
            }
            self.stream.set_read_timeout(Some(self.remaining()?)).map_err(ClientError::Io)?;
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }
}
