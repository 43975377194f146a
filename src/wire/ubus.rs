//! ubus messages as they cross the ubusd socket (openwrt/ubus `ubusmsg.h`): parse what
//! ubusd sends; emit a provider's registration, replies and events, and a caller's LOOKUP
//! and INVOKE.
//!
//! ```text
//! ubus_msghdr (8 bytes): u8 version = 0 | u8 type | u16 seq (BE) | u32 peer (BE)
//! then one blob_attr "container" (id 0) whose payload is the ubus attributes
//! (plain blob_attrs, ids 1..13; DATA and SIGNATURE hold blobmsg tables).
//! The message is 8 + the container's len bytes long: ubusd and libubus both read
//! exactly that many (`blob_raw_len`), and every container this crate emits is padded.
//! ```
//!
//! Contract:
//! - [`message_len`] frames a byte stream from its first 12 bytes; [`parse`] reads one whole
//!   message into a borrowing [`Message`]. Neither allocates nor panics. A message longer
//!   than [`MAX_MESSAGE`] is [`Malformed::TooLarge`]; a header, container or ubus attribute
//!   that fails a check is [`Malformed`]. The blobmsg content of DATA is not checked here:
//!   it comes from the caller, and [`crate::wire::blob::check_table`] judges it.
//! - Emitters write one whole message into a lent buffer and return its length, or
//!   [`Full`] when it does not fit. Layouts follow libubus byte for byte (tests rebuild the
//!   captures in `tests/vectors/ubus/`).

use crate::wire::blob::{self, Attrs, BlobAttrs, Full, Kind, Writer};
use core::fmt;

/// Size of `struct ubus_msghdr`.
pub const HEADER_LEN: usize = 8;

/// The shortest message: a header and an empty container.
pub const MIN_MESSAGE: usize = HEADER_LEN + blob::ATTR_HEADER_LEN;

/// The longest message dualwan reads or writes. ubusd and libubus allow 1 MiB
/// (`UBUS_MAX_MSGLEN`), but a provider of a small status table never needs that: calls
/// to it are a few hundred bytes and its reply a few KiB. 64 KiB keeps the adapter's
/// buffers fixed and small; a longer message is refused as [`Malformed::TooLarge`].
pub const MAX_MESSAGE: usize = 64 * 1024;

/// `UBUS_SYSTEM_OBJECT_EVENT`: ubusd's own object that takes `send` (events) and
/// `register` (listeners).
pub const SYSTEM_OBJECT_EVENT: u32 = 1;

/// `UBUS_ATTR_STATUS` (u32).
pub const ATTR_STATUS: u8 = 1;
/// `UBUS_ATTR_OBJPATH` (string).
pub const ATTR_OBJPATH: u8 = 2;
/// `UBUS_ATTR_OBJID` (u32).
pub const ATTR_OBJID: u8 = 3;
/// `UBUS_ATTR_METHOD` (string).
pub const ATTR_METHOD: u8 = 4;
/// `UBUS_ATTR_OBJTYPE` (u32).
pub const ATTR_OBJTYPE: u8 = 5;
/// `UBUS_ATTR_SIGNATURE` (blobmsg: one table per method, argument name -> type).
pub const ATTR_SIGNATURE: u8 = 6;
/// `UBUS_ATTR_DATA` (blobmsg table).
pub const ATTR_DATA: u8 = 7;
/// `UBUS_ATTR_TARGET` (u32).
pub const ATTR_TARGET: u8 = 8;
/// `UBUS_ATTR_ACTIVE` (u8).
pub const ATTR_ACTIVE: u8 = 9;
/// `UBUS_ATTR_NO_REPLY` (u8).
pub const ATTR_NO_REPLY: u8 = 10;
/// `UBUS_ATTR_SUBSCRIBERS` (nested).
pub const ATTR_SUBSCRIBERS: u8 = 11;
/// `UBUS_ATTR_USER` (string): the caller's user, added by ubusd to a forwarded INVOKE.
pub const ATTR_USER: u8 = 12;
/// `UBUS_ATTR_GROUP` (string): the caller's group, added by ubusd.
pub const ATTR_GROUP: u8 = 13;
const ATTR_COUNT: usize = 14;

/// `UBUS_STATUS_OK`.
pub const STATUS_OK: u32 = 0;
/// `UBUS_STATUS_INVALID_COMMAND`.
pub const STATUS_INVALID_COMMAND: u32 = 1;
/// `UBUS_STATUS_INVALID_ARGUMENT`.
pub const STATUS_INVALID_ARGUMENT: u32 = 2;
/// `UBUS_STATUS_METHOD_NOT_FOUND`.
pub const STATUS_METHOD_NOT_FOUND: u32 = 3;
/// `UBUS_STATUS_NOT_FOUND`.
pub const STATUS_NOT_FOUND: u32 = 4;
/// `UBUS_STATUS_NO_DATA`: the CLI prints "No response".
pub const STATUS_NO_DATA: u32 = 5;
/// `UBUS_STATUS_PERMISSION_DENIED`.
pub const STATUS_PERMISSION_DENIED: u32 = 6;
/// `UBUS_STATUS_TIMEOUT`.
pub const STATUS_TIMEOUT: u32 = 7;
/// `UBUS_STATUS_NOT_SUPPORTED`.
pub const STATUS_NOT_SUPPORTED: u32 = 8;
/// `UBUS_STATUS_UNKNOWN_ERROR`.
pub const STATUS_UNKNOWN_ERROR: u32 = 9;
/// `UBUS_STATUS_CONNECTION_FAILED`.
pub const STATUS_CONNECTION_FAILED: u32 = 10;
/// `UBUS_STATUS_NO_MEMORY`: the CLI prints "Out of memory".
pub const STATUS_NO_MEMORY: u32 = 11;

/// `enum ubus_msg_type`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// 0: ubusd's first message; `peer` is the client's id.
    Hello,
    /// 1: the end of a request, with its status.
    Status,
    /// 2: a reply's data.
    Data,
    /// 3.
    Ping,
    /// 4.
    Lookup,
    /// 5: a method call (to a provider: `peer` is the caller).
    Invoke,
    /// 6.
    AddObject,
    /// 7.
    RemoveObject,
    /// 8.
    Subscribe,
    /// 9.
    Unsubscribe,
    /// 10: to a provider, a change in its subscribers.
    Notify,
    /// 11.
    Monitor,
    /// Any other value (kept, not rejected).
    Other(u8),
}

impl MsgType {
    /// The type for a header's `type` byte.
    pub const fn from_code(code: u8) -> MsgType {
        match code {
            0 => MsgType::Hello,
            1 => MsgType::Status,
            2 => MsgType::Data,
            3 => MsgType::Ping,
            4 => MsgType::Lookup,
            5 => MsgType::Invoke,
            6 => MsgType::AddObject,
            7 => MsgType::RemoveObject,
            8 => MsgType::Subscribe,
            9 => MsgType::Unsubscribe,
            10 => MsgType::Notify,
            11 => MsgType::Monitor,
            n => MsgType::Other(n),
        }
    }

    /// The header's `type` byte.
    pub const fn code(self) -> u8 {
        match self {
            MsgType::Hello => 0,
            MsgType::Status => 1,
            MsgType::Data => 2,
            MsgType::Ping => 3,
            MsgType::Lookup => 4,
            MsgType::Invoke => 5,
            MsgType::AddObject => 6,
            MsgType::RemoveObject => 7,
            MsgType::Subscribe => 8,
            MsgType::Unsubscribe => 9,
            MsgType::Notify => 10,
            MsgType::Monitor => 11,
            MsgType::Other(n) => n,
        }
    }
}

/// Why a message was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Fewer than [`MIN_MESSAGE`] bytes.
    TooShort,
    /// The header's version is not 0.
    Version(u8),
    /// The message would be this many bytes, more than [`MAX_MESSAGE`].
    TooLarge(usize),
    /// The container's length is below its own header or disagrees with the message.
    Length,
    /// A ubus attribute failed a check; the text says which.
    Attr(&'static str),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::TooShort => write!(f, "shorter than {MIN_MESSAGE} bytes"),
            Malformed::Version(v) => write!(f, "version {v}, not 0"),
            Malformed::TooLarge(n) => write!(f, "{n} bytes, more than the {MAX_MESSAGE} accepted"),
            Malformed::Length => f.write_str("container length disagrees with the message"),
            Malformed::Attr(why) => f.write_str(why),
        }
    }
}

/// The length of the message that starts with `prefix`, once its first [`MIN_MESSAGE`]
/// bytes are there (`Ok(None)` before). Checks the version and the size limit, so a
/// stream reader knows early that it must give up.
pub fn message_len(prefix: &[u8]) -> Result<Option<usize>, Malformed> {
    let Some(&[version, _, _, _, _, _, _, _, a, b, c, d]) = prefix.get(..MIN_MESSAGE) else {
        return Ok(None);
    };
    if version != 0 {
        return Err(Malformed::Version(version));
    }
    let container = (u32::from_be_bytes([a, b, c, d]) & blob::MAX_ATTR_LEN as u32) as usize;
    if container < blob::ATTR_HEADER_LEN {
        return Err(Malformed::Length);
    }
    // libubus and ubusd compare the padded length with their limit; so do we.
    let total = HEADER_LEN + blob::pad4(container);
    if total > MAX_MESSAGE {
        return Err(Malformed::TooLarge(total));
    }
    Ok(Some(HEADER_LEN + container))
}

/// One message, borrowing the bytes it was parsed from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Its type.
    pub ty: MsgType,
    /// The request it belongs to (the requester's sequence number).
    pub seq: u16,
    /// Who it is from or for (see the flows in the vectors' README).
    pub peer: u32,
    /// Payload of each known attribute, by id; the last one wins, as in `blob_parse`.
    attrs: [Option<&'a [u8]>; ATTR_COUNT],
}

impl<'a> Message<'a> {
    /// `UBUS_ATTR_STATUS`.
    pub fn status(&self) -> Option<u32> {
        self.u32_attr(ATTR_STATUS)
    }

    /// `UBUS_ATTR_OBJPATH`, without its NUL.
    pub fn objpath(&self) -> Option<&'a [u8]> {
        self.str_attr(ATTR_OBJPATH)
    }

    /// `UBUS_ATTR_OBJID`.
    pub fn objid(&self) -> Option<u32> {
        self.u32_attr(ATTR_OBJID)
    }

    /// `UBUS_ATTR_METHOD`, without its NUL. Bytes: ubusd forwards whatever the caller sent.
    pub fn method(&self) -> Option<&'a [u8]> {
        self.str_attr(ATTR_METHOD)
    }

    /// `UBUS_ATTR_OBJTYPE`.
    pub fn objtype(&self) -> Option<u32> {
        self.u32_attr(ATTR_OBJTYPE)
    }

    /// `UBUS_ATTR_SIGNATURE`: blobmsg tables, one per method.
    pub fn signature(&self) -> Option<&'a [u8]> {
        self.attr(ATTR_SIGNATURE)
    }

    /// `UBUS_ATTR_DATA`: the blobmsg payload (a table's members), possibly empty.
    pub fn data(&self) -> Option<&'a [u8]> {
        self.attr(ATTR_DATA)
    }

    /// The members of `UBUS_ATTR_DATA`, unchecked (see [`crate::wire::blob::check_table`]).
    pub fn args(&self) -> Option<Attrs<'a>> {
        self.data().map(Attrs::new)
    }

    /// `UBUS_ATTR_TARGET`.
    pub fn target(&self) -> Option<u32> {
        self.u32_attr(ATTR_TARGET)
    }

    /// `UBUS_ATTR_ACTIVE`.
    pub fn active(&self) -> Option<bool> {
        self.attr(ATTR_ACTIVE).map(|v| v[0] != 0)
    }

    /// `UBUS_ATTR_NO_REPLY`.
    pub fn no_reply(&self) -> Option<bool> {
        self.attr(ATTR_NO_REPLY).map(|v| v[0] != 0)
    }

    /// `UBUS_ATTR_USER`, without its NUL.
    pub fn user(&self) -> Option<&'a [u8]> {
        self.str_attr(ATTR_USER)
    }

    /// `UBUS_ATTR_GROUP`, without its NUL.
    pub fn group(&self) -> Option<&'a [u8]> {
        self.str_attr(ATTR_GROUP)
    }

    /// The raw payload of attribute `id` (1..=13).
    pub fn attr(&self, id: u8) -> Option<&'a [u8]> {
        self.attrs.get(usize::from(id)).copied().flatten()
    }

    /// `parse` checked the size.
    fn u32_attr(&self, id: u8) -> Option<u32> {
        self.attr(id).and_then(|v| v.try_into().ok()).map(u32::from_be_bytes)
    }

    /// `parse` checked the final NUL; C readers stop at the first one.
    fn str_attr(&self, id: u8) -> Option<&'a [u8]> {
        let v = self.attr(id)?;
        Some(&v[..v.iter().position(|&b| b == 0).unwrap_or(v.len())])
    }
}

/// Parses one whole message (exactly [`message_len`] bytes). Checks the header, the
/// container and the ubus attributes: u32 ones are 4 bytes, u8 ones 1 byte, strings end
/// with a NUL (libubox `blob_check_type`). Unknown attribute ids are skipped.
pub fn parse(msg: &[u8]) -> Result<Message<'_>, Malformed> {
    let len = message_len(msg)?.ok_or(Malformed::TooShort)?;
    if len != msg.len() {
        return Err(Malformed::Length);
    }
    let mut attrs = [None; ATTR_COUNT];
    for attr in BlobAttrs::new(&msg[MIN_MESSAGE..]) {
        let attr = attr.map_err(|e| Malformed::Attr(e.0))?;
        let ok = match attr.id {
            ATTR_STATUS | ATTR_OBJID | ATTR_OBJTYPE | ATTR_TARGET => attr.data.len() == 4,
            ATTR_ACTIVE | ATTR_NO_REPLY => attr.data.len() == 1,
            ATTR_OBJPATH | ATTR_METHOD | ATTR_USER | ATTR_GROUP => attr.data.last() == Some(&0),
            _ => true,
        };
        if !ok {
            return Err(Malformed::Attr("ubus attribute of the wrong size for its id"));
        }
        if let Some(slot) = attrs.get_mut(usize::from(attr.id)) {
            *slot = Some(attr.data);
        }
    }
    attrs[0] = None;
    Ok(Message {
        ty: MsgType::from_code(msg[1]),
        seq: u16::from_be_bytes([msg[2], msg[3]]),
        peer: u32_at(msg, 4),
        attrs,
    })
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// A method as ADD_OBJECT announces it: its name and its arguments' names and types
/// (libubus `ubus_method` with its `blobmsg_policy`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Method<'a> {
    /// The method's name.
    pub name: &'a str,
    /// Each argument's name and type; empty for a method without arguments.
    pub args: &'a [(&'a str, Kind)],
}

/// Writes a header and a container; `body` fills the container.
fn emit(
    buf: &mut [u8],
    ty: MsgType,
    seq: u16,
    peer: u32,
    body: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>,
) -> Result<usize, Full> {
    if buf.len() < HEADER_LEN {
        return Err(Full);
    }
    let (header, rest) = buf.split_at_mut(HEADER_LEN);
    header[0] = 0;
    header[1] = ty.code();
    header[2..4].copy_from_slice(&seq.to_be_bytes());
    header[4..8].copy_from_slice(&peer.to_be_bytes());
    let mut w = Writer::new(rest);
    let container = w.begin_blob(0)?;
    body(&mut w)?;
    w.end(container);
    Ok(HEADER_LEN + w.len())
}

/// Any message: a header, then a container whose attributes `body` writes. The typed
/// emitters below are built on it; a test ubusd uses it for what ubusd itself sends.
pub fn emit_message(
    buf: &mut [u8],
    ty: MsgType,
    seq: u16,
    peer: u32,
    body: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>,
) -> Result<usize, Full> {
    emit(buf, ty, seq, peer, body)
}

/// LOOKUP (`ubus_lookup`, `ubus_lookup_id`): with a path, that object (a11); without, every
/// object (a07, an empty container). ubusd answers one DATA per object found (OBJPATH,
/// OBJID, OBJTYPE, SIGNATURE), then STATUS; only STATUS 4 when nothing matches.
pub fn emit_lookup(buf: &mut [u8], seq: u16, path: Option<&str>) -> Result<usize, Full> {
    emit(buf, MsgType::Lookup, seq, 0, |w| match path {
        Some(path) => w.blob_string(ATTR_OBJPATH, path),
        None => Ok(()),
    })
}

/// A caller's INVOKE (`ubus_invoke`): `peer` and OBJID are the object, then METHOD and DATA
/// (a12, b04); `data` writes the argument table's members, and no arguments is an empty
/// DATA, not a missing one (libubus answers a missing DATA with INVALID_ARGUMENT).
pub fn emit_invoke(
    buf: &mut [u8],
    seq: u16,
    objid: u32,
    method: &str,
    data: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>,
) -> Result<usize, Full> {
    emit(buf, MsgType::Invoke, seq, objid, |w| {
        w.blob_u32(ATTR_OBJID, objid)?;
        w.blob_string(ATTR_METHOD, method)?;
        let nest = w.begin_blob(ATTR_DATA)?;
        data(w)?;
        w.end(nest);
        Ok(())
    })
}

/// ADD_OBJECT (`ubus_add_object`): the object's path and a SIGNATURE with one table per
/// method, each argument as `name: INT32 type` (b01, a02). Requests from a client carry its
/// own increasing `seq`; `peer` is 0.
pub fn emit_add_object(buf: &mut [u8], seq: u16, path: &str, methods: &[Method<'_>]) -> Result<usize, Full> {
    emit(buf, MsgType::AddObject, seq, 0, |w| {
        w.blob_string(ATTR_OBJPATH, path)?;
        let signature = w.begin_blob(ATTR_SIGNATURE)?;
        for method in methods {
            let table = w.begin_table(method.name)?;
            for &(name, kind) in method.args {
                w.u32(name, u32::from(kind.id()))?;
            }
            w.end(table);
        }
        w.end(signature);
        Ok(())
    })
}

/// ADD_OBJECT of an anonymous object (`ubus_register_event_handler`,
/// `ubus_register_subscriber`): an empty container (a05). ubusd answers DATA with OBJID
/// only (a06), then STATUS.
pub fn emit_add_anonymous(buf: &mut [u8], seq: u16) -> Result<usize, Full> {
    emit(buf, MsgType::AddObject, seq, 0, |_| Ok(()))
}

/// Registers anonymous object `object` as a listener for events matching `pattern`
/// (`ubus_register_event_handler`): INVOKE of method `register` on object 1 with
/// `DATA { "object": INT32, "pattern": STRING }`, in that order. A pattern ending in `*`
/// matches as a prefix. Events then arrive as INVOKEs of that object, `peer` 0, the
/// event's name as METHOD and its data table as DATA; libubus answers each with STATUS 0.
pub fn emit_listen(buf: &mut [u8], seq: u16, object: u32, pattern: &str) -> Result<usize, Full> {
    emit_invoke(buf, seq, SYSTEM_OBJECT_EVENT, "register", |w| {
        w.u32("object", object)?;
        w.string("pattern", pattern)
    })
}

/// A DATA reply to an INVOKE (`ubus_send_reply`): `peer` and `seq` are the INVOKE's (the
/// caller and its request), then OBJID and DATA; `data` writes the table's members.
pub fn emit_data(
    buf: &mut [u8],
    seq: u16,
    peer: u32,
    objid: u32,
    data: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>,
) -> Result<usize, Full> {
    emit(buf, MsgType::Data, seq, peer, |w| {
        w.blob_u32(ATTR_OBJID, objid)?;
        let nest = w.begin_blob(ATTR_DATA)?;
        data(w)?;
        w.end(nest);
        Ok(())
    })
}

/// The STATUS that completes an INVOKE (`ubus_complete_deferred_request`): STATUS, then
/// OBJID.
pub fn emit_status(buf: &mut [u8], seq: u16, peer: u32, status: u32, objid: u32) -> Result<usize, Full> {
    emit(buf, MsgType::Status, seq, peer, |w| {
        w.blob_u32(ATTR_STATUS, status)?;
        w.blob_u32(ATTR_OBJID, objid)
    })
}

/// An event (`ubus_send_event`): INVOKE of method `send` on object 1, with
/// `DATA { "id": name, "data": { ... } }`; `data` writes the event table's members.
/// ubusd answers with a STATUS of the same `seq`, and refuses names starting with `ubus.`.
pub fn emit_event(
    buf: &mut [u8],
    seq: u16,
    name: &str,
    data: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>,
) -> Result<usize, Full> {
    emit(buf, MsgType::Invoke, seq, SYSTEM_OBJECT_EVENT, |w| {
        w.blob_u32(ATTR_OBJID, SYSTEM_OBJECT_EVENT)?;
        w.blob_string(ATTR_METHOD, "send")?;
        let nest = w.begin_blob(ATTR_DATA)?;
        w.string("id", name)?;
        let table = w.begin_table("data")?;
        data(w)?;
        w.end(table);
        w.end(nest);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::blob::{check_table, Attr};
    use crate::wire::vectors::{all_vectors, vector};

    fn parsed(bytes: &[u8]) -> Message<'_> {
        parse(bytes).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_vector_parses() {
        for (name, bytes) in all_vectors() {
            assert_eq!(message_len(&bytes), Ok(Some(bytes.len())), "{name}");
            let msg = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            let ty = name.trim_end_matches(".hex").split('-').find_map(|t| match t {
                "HELLO" => Some(0),
                "STATUS" => Some(1),
                "DATA" => Some(2),
                "LOOKUP" => Some(4),
                "INVOKE" => Some(5),
                "ADD_OBJECT" => Some(6),
                _ => None,
            });
            assert_eq!(Some(msg.ty.code()), ty, "{name}");
            if let Some(data) = msg.data() {
                check_table(data).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }

    #[test]
    fn fields_of_the_provider_flow() {
        let hello = vector("a01");
        let hello = parsed(&hello);
        assert_eq!((hello.ty, hello.seq, hello.peer), (MsgType::Hello, 0, 0xc20e_a30b));

        let reply = vector("b02");
        let reply = parsed(&reply);
        assert_eq!((reply.ty, reply.seq), (MsgType::Data, 1));
        assert_eq!((reply.objid(), reply.objtype()), (Some(0xff00_d868), Some(0x557d_ecf9)));
        let done = vector("b03");
        assert_eq!(parsed(&done).status(), Some(STATUS_OK));

        let invoke = vector("b05");
        let invoke = parsed(&invoke);
        assert_eq!((invoke.ty, invoke.seq, invoke.peer), (MsgType::Invoke, 2, 0x9867_e4b6));
        assert_eq!(invoke.objid(), Some(0xff00_d868));
        assert_eq!(invoke.method(), Some(&b"status"[..]));
        assert_eq!((invoke.user(), invoke.group()), (Some(&b"root"[..]), Some(&b"root"[..])));
        assert_eq!(invoke.data(), Some(&[][..]), "an empty DATA, not an absent one");
        assert_eq!(invoke.status(), None);

        let fail = vector("b10");
        let fail = parsed(&fail);
        let args: Vec<Attr<'_>> = fail.args().unwrap().map(Result::unwrap).collect();
        assert_eq!((args[0].name, args[0].as_u32()), ("code", Some(5)));
    }

    /// Re-encodes a parsed blobmsg list with the Writer's typed calls.
    fn reencode(attrs: Attrs<'_>, w: &mut Writer<'_>) -> Result<(), Full> {
        for a in attrs {
            let a = a.expect("valid capture");
            if let Some(s) = a.as_str() {
                w.string(a.name, s)?;
            } else if let Some(b) = a.as_bool() {
                assert!(a.value[0] <= 1);
                w.bool(a.name, b)?;
            } else if let Some(n) = a.as_u32() {
                w.u32(a.name, n)?;
            } else if let Some(n) = a.as_u64() {
                w.u64(a.name, n)?;
            } else if let Some(d) = a.as_f64() {
                w.double(a.name, d)?;
            } else if let Some(inner) = a.as_table() {
                let t = w.begin_table(a.name)?;
                reencode(inner, w)?;
                w.end(t);
            } else if let Some(inner) = a.as_array() {
                let t = w.begin_array(a.name)?;
                reencode(inner, w)?;
                w.end(t);
            } else {
                panic!("type {:?} not in the captures", a.kind);
            }
        }
        Ok(())
    }

    /// Every message a provider sends in the captured run, rebuilt from its parsed fields.
    #[test]
    fn provider_messages_rebuilt_byte_for_byte() {
        let mut buf = [0u8; 512];
        for name in ["b01", "a02", "a14", "a15", "a19", "a20", "a22", "a23", "b06", "b07", "b11"] {
            let want = vector(name);
            let msg = parsed(&want);
            let len = match msg.ty {
                MsgType::AddObject => {
                    let path = core::str::from_utf8(msg.objpath().unwrap()).unwrap();
                    let sig: Vec<(&str, Vec<(&str, Kind)>)> = Attrs::new(msg.signature().unwrap())
                        .map(Result::unwrap)
                        .map(|m| {
                            let args = m.as_table().unwrap().map(Result::unwrap);
                            (m.name, args.map(|a| (a.name, Kind::from_id(a.as_u32().unwrap() as u8))).collect())
                        })
                        .collect();
                    let methods: Vec<Method<'_>> = sig.iter().map(|(n, a)| Method { name: n, args: a }).collect();
                    assert_eq!(msg.seq, 1);
                    emit_add_object(&mut buf, msg.seq, path, &methods)
                }
                MsgType::Data => {
                    emit_data(&mut buf, msg.seq, msg.peer, msg.objid().unwrap(), |w| reencode(msg.args().unwrap(), w))
                }
                MsgType::Status => {
                    emit_status(&mut buf, msg.seq, msg.peer, msg.status().unwrap(), msg.objid().unwrap())
                }
                other => panic!("{name}: {other:?}"),
            };
            assert_eq!(&buf[..len.expect("fits")], &want[..], "{name}");
        }
    }

    /// The caller's side of `ubus list`, `ubus call test hello '{"id":1,"msg":"x"}'`, `ubus
    /// call nosuch x` and `ubus call dualwan status`, rebuilt from their parsed fields.
    #[test]
    fn caller_messages_rebuilt_byte_for_byte() {
        let mut buf = [0u8; 256];
        for name in ["a07", "a11", "a24"] {
            let want = vector(name);
            let msg = parsed(&want);
            let path = msg.objpath().map(|p| core::str::from_utf8(p).unwrap());
            let len = emit_lookup(&mut buf, msg.seq, path).unwrap();
            assert_eq!(&buf[..len], &want[..], "{name}");
        }
        for name in ["a12", "b04"] {
            let want = vector(name);
            let msg = parsed(&want);
            assert_eq!(msg.peer, msg.objid().unwrap(), "{name}: a caller addresses the object");
            let method = core::str::from_utf8(msg.method().unwrap()).unwrap();
            let len = emit_invoke(&mut buf, msg.seq, msg.peer, method, |w| reencode(msg.args().unwrap(), w)).unwrap();
            assert_eq!(&buf[..len], &want[..], "{name}");
        }
        // a12 spelled out as the CLI builds it.
        let len = emit_invoke(&mut buf, 2, 0x2610_be44, "hello", |w| {
            w.u32("id", 1)?;
            w.string("msg", "x")
        })
        .unwrap();
        assert_eq!(&buf[..len], &vector("a12")[..]);
        for cap in 0..36 {
            assert_eq!(emit_invoke(&mut buf[..cap], 2, 1, "status", |_| Ok(())), Err(Full), "cap {cap}");
        }
    }

    /// What ubusd itself sends, through `emit_message` (the test ubusd's way).
    #[test]
    fn ubusd_messages_rebuilt_byte_for_byte() {
        let mut buf = [0u8; 256];
        for name in ["a01", "a03", "a04", "a08", "a09", "a10", "a16", "a17", "a25", "b12"] {
            let want = vector(name);
            let msg = parsed(&want);
            let len = emit_message(&mut buf, msg.ty, msg.seq, msg.peer, |w| {
                // The order ubusd writes them in.
                for id in [ATTR_STATUS, ATTR_OBJPATH, ATTR_OBJID, ATTR_OBJTYPE] {
                    if let Some(v) = msg.attr(id) {
                        if id == ATTR_OBJPATH {
                            w.blob_string(id, core::str::from_utf8(msg.objpath().unwrap()).unwrap())?;
                        } else {
                            w.blob_u32(id, u32::from_be_bytes(v.try_into().unwrap()))?;
                        }
                    }
                }
                for id in [ATTR_SIGNATURE, ATTR_DATA] {
                    if let Some(v) = msg.attr(id) {
                        let nest = w.begin_blob(id)?;
                        w.encoded(v)?;
                        w.end(nest);
                    }
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(&buf[..len], &want[..], "{name}");
        }
    }

    #[test]
    fn our_registration_has_the_layout_of_b01() {
        // `status` with one string argument, in the layout of a02's typed arguments.
        const METHODS: &[Method<'_>] = &[Method { name: "status", args: &[("interface", Kind::String)] }];
        let mut buf = [0u8; 128];
        let len = emit_add_object(&mut buf, 1, "dualwan", METHODS).unwrap();
        #[rustfmt::skip]
        let want = [
            0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x38,
            0x02, 0x00, 0x00, 0x0c, b'd', b'u', b'a', b'l', b'w', b'a', b'n', 0x00,
            0x06, 0x00, 0x00, 0x28,
            0x82, 0x00, 0x00, 0x24, 0x00, 0x06, b's', b't', b'a', b't', b'u', b's', 0x00, 0x00, 0x00, 0x00,
            0x85, 0x00, 0x00, 0x14, 0x00, 0x09, b'i', b'n', b't', b'e', b'r', b'f', b'a', b'c', b'e', 0x00,
            0x00, 0x00, 0x00, 0x03,
        ];
        assert_eq!(&buf[..len], &want[..]);
        // b01's first method has no arguments: an empty table.
        let b01 = vector("b01");
        let methods = [Method { name: "status", args: &[] }, Method { name: "fail", args: &[("code", Kind::Int32)] }];
        let len = emit_add_object(&mut buf, 1, "dualwan", &methods).unwrap();
        assert_eq!(&buf[..len], &b01[..]);
    }

    /// The listener's side of `ubus_register_event_handler`: the anonymous ADD_OBJECT is
    /// a05 byte for byte, ubusd's answer a06 names the object, and the `register` call has
    /// the layout of libubus (`blobmsg_add_u32 object`, `blobmsg_add_string pattern`).
    #[test]
    fn listener_registration() {
        let mut buf = [0u8; 128];
        let a05 = vector("a05");
        let len = emit_add_anonymous(&mut buf, parsed(&a05).seq).unwrap();
        assert_eq!(&buf[..len], &a05[..]);
        let a06 = vector("a06");
        let reply = parsed(&a06);
        assert_eq!((reply.ty, reply.seq, reply.objid(), reply.objtype()), (MsgType::Data, 2, Some(0x0a2b_68aa), None));

        let len = emit_listen(&mut buf, 3, 0x0a2b_68aa, "network.interface").unwrap();
        #[rustfmt::skip]
        let want = [
            // INVOKE, seq 3, peer 1; container of 88 bytes
            0x00, 0x05, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x58,
            // OBJID 1, METHOD "register"
            0x03, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01,
            0x04, 0x00, 0x00, 0x0d, b'r', b'e', b'g', b'i', b's', b't', b'e', b'r', 0x00, 0x00, 0x00, 0x00,
            // DATA (60)
            0x07, 0x00, 0x00, 0x3c,
            // "object": INT32 0x0a2b68aa (20)
            0x85, 0x00, 0x00, 0x14, 0x00, 0x06, b'o', b'b', b'j', b'e', b'c', b't', 0x00, 0x00, 0x00, 0x00,
            0x0a, 0x2b, 0x68, 0xaa,
            // "pattern": STRING "network.interface" (raw 34, padded 36)
            0x83, 0x00, 0x00, 0x22, 0x00, 0x07, b'p', b'a', b't', b't', b'e', b'r', b'n', 0x00, 0x00, 0x00,
            b'n', b'e', b't', b'w', b'o', b'r', b'k', b'.', b'i', b'n', b't', b'e', b'r', b'f', b'a', b'c',
            b'e', 0x00, 0x00, 0x00,
        ];
        assert_eq!(&buf[..len], &want[..]);
        let msg = parsed(&want);
        assert_eq!((msg.peer, msg.objid(), msg.method()), (1, Some(1), Some(&b"register"[..])));
        check_table(msg.data().unwrap()).unwrap();
        for cap in 0..want.len() {
            assert_eq!(emit_listen(&mut buf[..cap], 3, 1, "network.interface"), Err(Full), "cap {cap}");
        }
    }

    /// The layout of libubus `ubus_send_event` (libubus.c) as ubusd's `ubusd_forward_event`
    /// parses it (ubusd_event.c: policy `id` STRING, `data` TABLE): no capture has one.
    #[test]
    fn event_layout() {
        let mut buf = [0u8; 128];
        let len = emit_event(&mut buf, 2, "dualwan.active", |w| w.string("interface", "wan")).unwrap();
        #[rustfmt::skip]
        let want = [
            // INVOKE, seq 2, peer 1 (UBUS_SYSTEM_OBJECT_EVENT); container of 88 bytes
            0x00, 0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x58,
            // OBJID 1, METHOD "send"
            0x03, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01,
            0x04, 0x00, 0x00, 0x09, b's', b'e', b'n', b'd', 0x00, 0x00, 0x00, 0x00,
            // DATA (64)
            0x07, 0x00, 0x00, 0x40,
            // "id": STRING "dualwan.active" (raw 27, padded 28)
            0x83, 0x00, 0x00, 0x1b, 0x00, 0x02, b'i', b'd', 0x00, 0x00, 0x00, 0x00,
            b'd', b'u', b'a', b'l', b'w', b'a', b'n', b'.', b'a', b'c', b't', b'i', b'v', b'e', 0x00, 0x00,
            // "data": TABLE (32) { "interface": STRING "wan" (20) }
            0x82, 0x00, 0x00, 0x20, 0x00, 0x04, b'd', b'a', b't', b'a', 0x00, 0x00,
            0x83, 0x00, 0x00, 0x14, 0x00, 0x09, b'i', b'n', b't', b'e', b'r', b'f', b'a', b'c', b'e', 0x00,
            b'w', b'a', b'n', 0x00,
        ];
        assert_eq!(&buf[..len], &want[..]);
        let msg = parsed(&want);
        assert_eq!((msg.ty, msg.peer, msg.objid(), msg.method()), (MsgType::Invoke, 1, Some(1), Some(&b"send"[..])));
        check_table(msg.data().unwrap()).unwrap();
    }

    #[test]
    fn emitters_report_full() {
        let b06 = vector("b06");
        let msg = parsed(&b06);
        for cap in 0..b06.len() {
            let mut buf = vec![0; cap];
            let r = emit_data(&mut buf, 2, msg.peer, 1, |w| reencode(msg.args().unwrap(), w));
            assert_eq!(r, Err(Full), "cap {cap}");
            assert_eq!(emit_status(&mut buf, 2, 1, 0, 1).is_ok(), cap >= 28);
        }
    }

    #[test]
    fn limits_and_bad_headers() {
        let mut big = [0u8; 12];
        big[8..12].copy_from_slice(&((MAX_MESSAGE - HEADER_LEN) as u32).to_be_bytes());
        assert_eq!(message_len(&big), Ok(Some(MAX_MESSAGE)));
        big[8..12].copy_from_slice(&((MAX_MESSAGE - HEADER_LEN + 1) as u32).to_be_bytes());
        assert_eq!(message_len(&big), Err(Malformed::TooLarge(MAX_MESSAGE + 4)));
        big[8..12].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
        assert!(matches!(message_len(&big), Err(Malformed::TooLarge(_))));
        big[8..12].copy_from_slice(&3u32.to_be_bytes());
        assert_eq!(message_len(&big), Err(Malformed::Length));
        let mut hello = vector("a01");
        assert_eq!(message_len(&hello[..11]), Ok(None));
        assert_eq!(parse(&hello[..11]), Err(Malformed::TooShort));
        hello[0] = 1;
        assert_eq!(parse(&hello), Err(Malformed::Version(1)));
        let mut status = vector("b07");
        status.push(0);
        assert_eq!(parse(&status), Err(Malformed::Length), "a byte past the container");
        // A STATUS attribute of 3 bytes; a METHOD without its NUL.
        let bad = [0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x0c, 0x01, 0, 0, 0x07, 0, 0, 0, 0];
        assert!(matches!(parse(&bad), Err(Malformed::Attr(_))));
        let bad = [0, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x0c, 0x04, 0, 0, 0x08, b'a', b'b', b'c', b'd'];
        assert!(matches!(parse(&bad), Err(Malformed::Attr(_))));
        // Unknown attribute ids are skipped.
        let odd = [0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x0c, 0x63, 0, 0, 0x08, 1, 2, 3, 4];
        assert_eq!(parse(&odd).unwrap().objid(), None);
    }

    #[test]
    fn truncated_and_corrupted_vectors_never_panic() {
        let look = |m: &Message<'_>| {
            let _ = (m.status(), m.objpath(), m.objid(), m.method(), m.objtype(), m.signature());
            let _ = (m.target(), m.active(), m.no_reply(), m.user(), m.group());
            if let Some(d) = m.data() {
                let _ = check_table(d);
            }
        };
        for (_, bytes) in all_vectors() {
            for end in 0..=bytes.len() {
                let _ = message_len(&bytes[..end]);
                if let Ok(m) = parse(&bytes[..end]) {
                    look(&m);
                }
                // A truncated body behind a header that agrees with it.
                if end >= MIN_MESSAGE {
                    let mut cut = bytes[..end].to_vec();
                    cut[8..12].copy_from_slice(&((end - HEADER_LEN) as u32).to_be_bytes());
                    if let Ok(m) = parse(&cut) {
                        look(&m);
                    }
                }
            }
            for at in 0..bytes.len() {
                for flip in [0x01, 0x04, 0x80, 0xff] {
                    let mut bad = bytes.clone();
                    bad[at] ^= flip;
                    let _ = message_len(&bad);
                    if let Ok(m) = parse(&bad) {
                        look(&m);
                    }
                }
            }
        }
    }
}
