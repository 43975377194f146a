//! libubox `blob` and `blobmsg`: the attribute encoding inside every ubus message.
//!
//! Layout (libubox `blob.h`, `blobmsg.h`; all numbers big-endian):
//! ```text
//! blob_attr:  u32 id_len = extended << 31 | id << 24 | len, then the payload
//!             len counts the 4-byte header and the payload, NOT the zero padding to the
//!             next multiple of 4 that follows; a nested attribute's len covers its
//!             children with all their padding, the last child's included
//! blobmsg:    a blob_attr with the extended bit set and id = blobmsg type; its payload is
//!             u16 namelen, the name, NUL, zeros up to a multiple of 4 (counted from the
//!             attribute's start), then the value. Array elements have an empty name.
//! ```
//!
//! Contract:
//! - [`Writer`] encodes into a buffer the caller lends; it never allocates and never panics.
//!   A write that does not fit returns [`Full`] and leaves the buffer as it was (the
//!   attribute is not half-written), and [`Writer::overflowed`] remembers it.
//! - [`BlobAttrs`] (plain `blob_attr`s, the ubus level) and [`Attrs`] (blobmsg) walk a payload
//!   without copying. Every length is checked before the bytes behind it are read; the first
//!   bad attribute ends the walk with one `Err`. [`check_table`] validates a whole blobmsg
//!   tree once, so a consumer that iterates afterwards sees no errors.
//! - Unknown blobmsg types are kept as [`Kind::Other`], not rejected.

use core::fmt;

/// Size of a `blob_attr` header.
pub const ATTR_HEADER_LEN: usize = 4;

/// The largest `len` a `blob_attr` can carry (24 bits).
pub const MAX_ATTR_LEN: usize = LEN_MASK as usize;

/// How deep [`check_table`] follows nested tables and arrays.
pub const MAX_DEPTH: usize = 16;

const EXTENDED: u32 = 0x8000_0000;
const ID_SHIFT: u32 = 24;
const ID_MASK: u32 = 0x7f;
const LEN_MASK: u32 = 0x00ff_ffff;

/// The buffer lent to a [`Writer`] is too small (or a name is longer than 65535 bytes).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("blob buffer full")
    }
}

/// An attribute failed a length or value check; the text says which.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A blobmsg type (`enum blobmsg_type`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 0, `BLOBMSG_TYPE_UNSPEC`: raw bytes.
    Unspec,
    /// 1: elements with empty names.
    Array,
    /// 2: named members.
    Table,
    /// 3: UTF-8 text with its terminating NUL.
    String,
    /// 4: 8 bytes.
    Int64,
    /// 5: 4 bytes.
    Int32,
    /// 6: 2 bytes.
    Int16,
    /// 7: 1 byte; also `BLOBMSG_TYPE_BOOL`.
    Int8,
    /// 8: an IEEE 754 double, its bits as a big-endian u64.
    Double,
    /// Any other id (kept, not rejected).
    Other(u8),
}

impl Kind {
    /// `BLOBMSG_TYPE_BOOL` is an alias of `INT8`.
    pub const BOOL: Kind = Kind::Int8;

    /// The type for a 7-bit attribute id.
    pub const fn from_id(id: u8) -> Kind {
        match id {
            0 => Kind::Unspec,
            1 => Kind::Array,
            2 => Kind::Table,
            3 => Kind::String,
            4 => Kind::Int64,
            5 => Kind::Int32,
            6 => Kind::Int16,
            7 => Kind::Int8,
            8 => Kind::Double,
            n => Kind::Other(n),
        }
    }

    /// The attribute id of this type.
    pub const fn id(self) -> u8 {
        match self {
            Kind::Unspec => 0,
            Kind::Array => 1,
            Kind::Table => 2,
            Kind::String => 3,
            Kind::Int64 => 4,
            Kind::Int32 => 5,
            Kind::Int16 => 6,
            Kind::Int8 => 7,
            Kind::Double => 8,
            Kind::Other(n) => n & ID_MASK as u8,
        }
    }
}

/// An open nested attribute (table, array or plain blob); close it with [`Writer::end`].
#[must_use = "the nested attribute's length is only written by Writer::end"]
#[derive(Debug, PartialEq, Eq)]
pub struct Nest {
    start: usize,
}

/// Encodes blob and blobmsg attributes into a lent buffer. See the module contract.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    overflowed: bool,
}

impl<'a> Writer<'a> {
    /// A writer that starts at the beginning of `buf`. Buffers above 16 MiB are used only up
    /// to [`MAX_ATTR_LEN`] bytes, the most one attribute can hold.
    pub fn new(buf: &'a mut [u8]) -> Self {
        let cap = buf.len().min(MAX_ATTR_LEN);
        let (buf, _) = buf.split_at_mut(cap);
        Writer { buf, pos: 0, overflowed: false }
    }

    /// Bytes written so far, padding included.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// Nothing written yet.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    /// Whether any write returned [`Full`] (sticky: a caller that ignored one error still
    /// learns that the result is incomplete).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// A blobmsg string (`blobmsg_add_string`); the value is stored with a NUL.
    pub fn string(&mut self, name: &str, value: &str) -> Result<(), Full> {
        self.leaf(Kind::String.id(), true, Some(name), &[value.as_bytes(), &[0]])
    }

    /// A blobmsg bool (`blobmsg_add_u8`, type INT8): 1 or 0.
    pub fn bool(&mut self, name: &str, value: bool) -> Result<(), Full> {
        self.leaf(Kind::Int8.id(), true, Some(name), &[&[u8::from(value)]])
    }

    /// A blobmsg INT32 (`blobmsg_add_u32`). `ubus call` prints it as a signed number.
    pub fn u32(&mut self, name: &str, value: u32) -> Result<(), Full> {
        self.leaf(Kind::Int32.id(), true, Some(name), &[&value.to_be_bytes()])
    }

    /// A blobmsg INT64 (`blobmsg_add_u64`). `ubus call` prints it as a signed number.
    pub fn u64(&mut self, name: &str, value: u64) -> Result<(), Full> {
        self.leaf(Kind::Int64.id(), true, Some(name), &[&value.to_be_bytes()])
    }

    /// A blobmsg DOUBLE (`blobmsg_add_double`): the IEEE 754 bits, big-endian.
    pub fn double(&mut self, name: &str, value: f64) -> Result<(), Full> {
        self.leaf(Kind::Double.id(), true, Some(name), &[&value.to_bits().to_be_bytes()])
    }

    /// Opens a blobmsg table (`blobmsg_open_table`). Inside an array, pass `""`.
    pub fn begin_table(&mut self, name: &str) -> Result<Nest, Full> {
        self.open(Kind::Table.id(), true, Some(name))
    }

    /// Opens a blobmsg array (`blobmsg_open_array`); its elements take the name `""`.
    pub fn begin_array(&mut self, name: &str) -> Result<Nest, Full> {
        self.open(Kind::Array.id(), true, Some(name))
    }

    /// Closes a nested attribute: its length becomes everything written since it was opened.
    /// A token from another writer (one that does not fit this one) is ignored.
    pub fn end(&mut self, nest: Nest) {
        let start = nest.start;
        let Some(header) = self.buf.get_mut(start..start + ATTR_HEADER_LEN) else { return };
        let len = self.pos.saturating_sub(start);
        if len < ATTR_HEADER_LEN {
            return;
        }
        let old = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        // pos never exceeds the buffer, which is capped at MAX_ATTR_LEN.
        header.copy_from_slice(&((old & !LEN_MASK) | len as u32).to_be_bytes());
    }

    /// A plain `blob_attr` holding a big-endian u32 (`blob_put_int32`).
    pub fn blob_u32(&mut self, id: u8, value: u32) -> Result<(), Full> {
        self.leaf(id, false, None, &[&value.to_be_bytes()])
    }

    /// A plain `blob_attr` holding one byte (`blob_put_int8`).
    pub fn blob_u8(&mut self, id: u8, value: u8) -> Result<(), Full> {
        self.leaf(id, false, None, &[&[value]])
    }

    /// A plain `blob_attr` holding a NUL-terminated string (`blob_put_string`).
    pub fn blob_string(&mut self, id: u8, value: &str) -> Result<(), Full> {
        self.leaf(id, false, None, &[value.as_bytes(), &[0]])
    }

    /// Opens a plain nested `blob_attr` (`blob_nest_start`).
    pub fn begin_blob(&mut self, id: u8) -> Result<Nest, Full> {
        self.open(id, false, None)
    }

    /// Appends attributes that are already encoded (e.g. a payload being forwarded), padded
    /// to a multiple of 4.
    pub fn encoded(&mut self, attrs: &[u8]) -> Result<(), Full> {
        let padded = pad4(attrs.len());
        let end = self.fits(padded)?;
        self.buf[self.pos..self.pos + attrs.len()].copy_from_slice(attrs);
        self.buf[self.pos + attrs.len()..end].fill(0);
        self.pos = end;
        Ok(())
    }

    /// Where `n` more bytes would end, or `Full`.
    fn fits(&mut self, n: usize) -> Result<usize, Full> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.buf.len() => Ok(end),
            _ => {
                self.overflowed = true;
                Err(Full)
            }
        }
    }

    /// Writes an attribute header (and the blobmsg name) for `value_len` bytes of value and
    /// reserves the padded space; returns where the value goes and where the attribute ends.
    fn header(&mut self, id: u8, extended: bool, name: Option<&str>, value_len: usize) -> Result<(usize, usize), Full> {
        let name_len = name.map_or(0, str::len);
        if name_len > usize::from(u16::MAX) {
            self.overflowed = true;
            return Err(Full);
        }
        let hdrlen = if name.is_some() { pad4(2 + name_len + 1) } else { 0 };
        let raw = (ATTR_HEADER_LEN + hdrlen).checked_add(value_len).filter(|&r| r <= MAX_ATTR_LEN).ok_or(Full);
        let raw = raw.inspect_err(|_| self.overflowed = true)?;
        let end = self.fits(pad4(raw))?;
        let start = self.pos;
        let ext = if extended { EXTENDED } else { 0 };
        let id_len = ext | (u32::from(id) & ID_MASK) << ID_SHIFT | raw as u32;
        self.buf[start..start + 4].copy_from_slice(&id_len.to_be_bytes());
        let value_at = start + ATTR_HEADER_LEN + hdrlen;
        if let Some(name) = name {
            let at = start + ATTR_HEADER_LEN;
            self.buf[at..at + 2].copy_from_slice(&(name_len as u16).to_be_bytes());
            self.buf[at + 2..at + 2 + name_len].copy_from_slice(name.as_bytes());
            self.buf[at + 2 + name_len..value_at].fill(0);
        }
        self.buf[start + raw..end].fill(0);
        Ok((value_at, end))
    }

    fn leaf(&mut self, id: u8, extended: bool, name: Option<&str>, parts: &[&[u8]]) -> Result<(), Full> {
        let value_len = parts.iter().map(|p| p.len()).sum();
        let (mut at, end) = self.header(id, extended, name, value_len)?;
        for part in parts {
            self.buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        self.pos = end;
        Ok(())
    }

    fn open(&mut self, id: u8, extended: bool, name: Option<&str>) -> Result<Nest, Full> {
        let start = self.pos;
        let (value_at, _) = self.header(id, extended, name, 0)?;
        // The header is a multiple of 4 long, so children start aligned.
        self.pos = value_at;
        Ok(Nest { start })
    }
}

/// One plain `blob_attr`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BlobAttr<'a> {
    /// The 7-bit id.
    pub id: u8,
    /// The extended bit (set on blobmsg attributes).
    pub extended: bool,
    /// The payload, without padding.
    pub data: &'a [u8],
}

/// Iterator over plain `blob_attr`s. A bad length ends the walk with one `Err`.
#[derive(Clone, Debug)]
pub struct BlobAttrs<'a> {
    rest: &'a [u8],
}

impl<'a> BlobAttrs<'a> {
    /// Walks `payload`, the bytes inside a container attribute.
    pub fn new(payload: &'a [u8]) -> Self {
        BlobAttrs { rest: payload }
    }
}

impl<'a> Iterator for BlobAttrs<'a> {
    type Item = Result<BlobAttr<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = core::mem::take(&mut self.rest);
        let Some(&[a, b, c, d]) = rest.get(..ATTR_HEADER_LEN) else {
            return Some(Err(Malformed("payload ends inside an attribute header")));
        };
        let id_len = u32::from_be_bytes([a, b, c, d]);
        let len = (id_len & LEN_MASK) as usize;
        if len < ATTR_HEADER_LEN || len > rest.len() {
            return Some(Err(Malformed("attribute length outside its container")));
        }
        // The padding of the last attribute may be missing; nothing follows it anyway.
        self.rest = rest.get(pad4(len)..).unwrap_or(&[]);
        Some(Ok(BlobAttr {
            id: (id_len >> ID_SHIFT & ID_MASK) as u8,
            extended: id_len & EXTENDED != 0,
            data: &rest[ATTR_HEADER_LEN..len],
        }))
    }
}

/// One blobmsg attribute.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// Its type.
    pub kind: Kind,
    /// Its name (empty for array elements).
    pub name: &'a str,
    /// Its value bytes, without padding.
    pub value: &'a [u8],
}

impl<'a> Attr<'a> {
    /// A STRING's text, up to its first NUL (where C reads it). `None` for other types, a
    /// value without its NUL, or text that is not UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        if self.kind != Kind::String || self.value.last() != Some(&0) {
            return None;
        }
        let end = self.value.iter().position(|&b| b == 0).unwrap_or(0);
        core::str::from_utf8(&self.value[..end]).ok()
    }

    /// An INT8 (bool) as a bool: any non-zero byte is true.
    pub fn as_bool(&self) -> Option<bool> {
        self.fixed::<1>(Kind::Int8).map(|[b]| b != 0)
    }

    /// An INT16.
    pub fn as_u16(&self) -> Option<u16> {
        self.fixed(Kind::Int16).map(u16::from_be_bytes)
    }

    /// An INT32.
    pub fn as_u32(&self) -> Option<u32> {
        self.fixed(Kind::Int32).map(u32::from_be_bytes)
    }

    /// An INT64.
    pub fn as_u64(&self) -> Option<u64> {
        self.fixed(Kind::Int64).map(u64::from_be_bytes)
    }

    /// A DOUBLE.
    pub fn as_f64(&self) -> Option<f64> {
        self.fixed(Kind::Double).map(|b| f64::from_bits(u64::from_be_bytes(b)))
    }

    /// A TABLE's members.
    pub fn as_table(&self) -> Option<Attrs<'a>> {
        (self.kind == Kind::Table).then(|| Attrs::new(self.value))
    }

    /// An ARRAY's elements.
    pub fn as_array(&self) -> Option<Attrs<'a>> {
        (self.kind == Kind::Array).then(|| Attrs::new(self.value))
    }

    fn fixed<const N: usize>(&self, kind: Kind) -> Option<[u8; N]> {
        if self.kind != kind {
            return None;
        }
        self.value.try_into().ok()
    }
}

/// Iterator over blobmsg attributes (the members of a table or the elements of an array,
/// or the DATA payload of a ubus message). A bad attribute ends the walk with one `Err`.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    inner: BlobAttrs<'a>,
}

impl<'a> Attrs<'a> {
    /// Walks `payload`, a sequence of blobmsg attributes.
    pub fn new(payload: &'a [u8]) -> Self {
        Attrs { inner: BlobAttrs::new(payload) }
    }

    /// An iterator that yields nothing.
    pub fn empty() -> Self {
        Attrs::new(&[])
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?.and_then(|raw| {
            let data = raw.data;
            let Some(&[hi, lo]) = data.get(..2) else {
                return Err(Malformed("blobmsg attribute without a name length"));
            };
            let name_len = usize::from(u16::from_be_bytes([hi, lo]));
            let hdrlen = pad4(2 + name_len + 1);
            if data.len() < hdrlen {
                return Err(Malformed("blobmsg name runs past its attribute"));
            }
            if data[2 + name_len] != 0 {
                return Err(Malformed("blobmsg name without its NUL"));
            }
            let name = core::str::from_utf8(&data[2..2 + name_len]).map_err(|_| Malformed("blobmsg name not UTF-8"))?;
            Ok(Attr { kind: Kind::from_id(raw.id), name, value: &data[hdrlen..] })
        });
        if item.is_err() {
            self.inner.rest = &[];
        }
        Some(item)
    }
}

/// Checks a blobmsg table payload (e.g. the arguments of a call) completely: every length,
/// every name (table members must have one), the size of every number, the NUL of every
/// string, through nested tables and arrays up to [`MAX_DEPTH`] levels.
pub fn check_table(payload: &[u8]) -> Result<(), Malformed> {
    check_list(payload, true, 0)
}

fn check_list(payload: &[u8], named: bool, depth: usize) -> Result<(), Malformed> {
    for attr in Attrs::new(payload) {
        let attr = attr?;
        if named && attr.name.is_empty() {
            return Err(Malformed("table member without a name"));
        }
        let size_ok = match attr.kind {
            Kind::Table | Kind::Array if depth + 1 > MAX_DEPTH => return Err(Malformed("nested too deeply")),
            Kind::Table => check_list(attr.value, true, depth + 1).map(|()| true)?,
            Kind::Array => check_list(attr.value, false, depth + 1).map(|()| true)?,
            Kind::String => attr.value.last() == Some(&0),
            Kind::Int64 | Kind::Double => attr.value.len() == 8,
            Kind::Int32 => attr.value.len() == 4,
            Kind::Int16 => attr.value.len() == 2,
            Kind::Int8 => attr.value.len() == 1,
            Kind::Unspec | Kind::Other(_) => true,
        };
        if !size_ok {
            return Err(Malformed("blobmsg value of the wrong size for its type"));
        }
    }
    Ok(())
}

/// Rounds up to the blob alignment, 4 bytes.
pub const fn pad4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::vectors::{all_vectors, vector};

    /// The payload of the ubus attribute `id` of a captured message (header 8 + container 4).
    fn ubus_attr(msg: &[u8], id: u8) -> &[u8] {
        BlobAttrs::new(&msg[12..]).map(Result::unwrap).find(|a| a.id == id).expect("attribute present").data
    }

    const DATA: u8 = 7;

    fn build(f: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>) -> Vec<u8> {
        let mut buf = [0xAA; 1024];
        let mut w = Writer::new(&mut buf);
        f(&mut w).expect("fits");
        assert!(!w.overflowed());
        w.written().to_vec()
    }

    #[test]
    fn status_reply_of_the_mock_rebuilt_byte_for_byte() {
        let b06 = vector("b06");
        let ours = build(|w| {
            w.string("mode", "failover")?;
            w.string("active", "wan")?;
            w.bool("healthy", true)?;
            w.u32("uptime", 42)?;
            let members = w.begin_array("members")?;
            for (name, up) in [("wan", true), ("wanb", false)] {
                let t = w.begin_table("")?;
                w.string("name", name)?;
                w.bool("up", up)?;
                w.end(t);
            }
            w.end(members);
            Ok(())
        });
        assert_eq!(ours, ubus_attr(&b06, DATA));
    }

    #[test]
    fn examples_server_replies_rebuilt_byte_for_byte() {
        let ours = build(|w| w.string("message", "test received a message: x"));
        assert_eq!(ours, ubus_attr(&vector("a14"), DATA));
        let ours = build(|w| w.u32("rc", 0));
        assert_eq!(ours, ubus_attr(&vector("a19"), DATA));
    }

    #[test]
    fn signatures_rebuilt_byte_for_byte() {
        const SIGNATURE: u8 = 6;
        let ours = build(|w| {
            let t = w.begin_table("status")?;
            w.end(t);
            let t = w.begin_table("fail")?;
            w.u32("code", 5)?;
            w.end(t);
            Ok(())
        });
        assert_eq!(ours, ubus_attr(&vector("b01"), SIGNATURE));
    }

    #[test]
    fn numbers_and_padding() {
        let ours = build(|w| {
            w.u64("n", 0x0102_0304_0506_0708)?;
            w.double("d", 1.5)?;
            let outer = w.begin_blob(7)?;
            w.blob_u8(9, 1)?;
            w.end(outer);
            w.blob_string(2, "ab")
        });
        #[rustfmt::skip]
        let want = [
            0x84, 0, 0, 0x10, 0, 1, b'n', 0, 1, 2, 3, 4, 5, 6, 7, 8,
            0x88, 0, 0, 0x10, 0, 1, b'd', 0, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
            // The nest's len (12) covers its child's padding; the child's len (5) does not.
            0x07, 0, 0, 0x0c, 0x09, 0, 0, 0x05, 1, 0, 0, 0,
            0x02, 0, 0, 0x07, b'a', b'b', 0, 0,
        ];
        assert_eq!(ours, want);
        let attrs: Vec<_> = Attrs::new(&ours[..32]).map(Result::unwrap).collect();
        assert_eq!(attrs[0].as_u64(), Some(0x0102_0304_0506_0708));
        assert_eq!(attrs[1].as_f64(), Some(1.5));
        assert_eq!(attrs[0].as_u32(), None, "wrong type");
    }

    #[test]
    fn full_never_half_writes_and_is_sticky() {
        for cap in 0..64 {
            let mut buf = vec![0x55; cap];
            let mut w = Writer::new(&mut buf);
            let r = (|| {
                let t = w.begin_table("t")?;
                w.string("key", "value")?;
                w.u32("n", 7)?;
                w.end(t);
                Ok::<(), Full>(())
            })();
            let complete = r.is_ok();
            assert_eq!(w.overflowed(), !complete, "cap {cap}");
            let len = w.len();
            assert!(len <= cap && len % 4 == 0);
            // The write that did not fit left its bytes untouched.
            assert!(buf[len..].iter().all(|&b| b == 0x55), "cap {cap}");
            assert_eq!(complete, cap >= 40, "cap {cap}");
        }
        let mut buf = [0; 8];
        let long = "x".repeat(70_000);
        assert_eq!(Writer::new(&mut buf).string(&long, ""), Err(Full));
    }

    #[test]
    fn reader_walks_a_nested_reply() {
        let b06 = vector("b06");
        let data = ubus_attr(&b06, DATA);
        check_table(data).expect("valid");
        let top: Vec<_> = Attrs::new(data).map(Result::unwrap).collect();
        let names: Vec<_> = top.iter().map(|a| a.name).collect();
        assert_eq!(names, ["mode", "active", "healthy", "uptime", "members"]);
        assert_eq!(top[0].as_str(), Some("failover"));
        assert_eq!(top[2].as_bool(), Some(true));
        assert_eq!(top[3].as_u32(), Some(42));
        let members: Vec<_> = top[4].as_array().expect("array").map(Result::unwrap).collect();
        assert_eq!(members.len(), 2);
        let second: Vec<_> = members[1].as_table().expect("table").map(Result::unwrap).collect();
        assert_eq!((second[0].name, second[0].as_str()), ("name", Some("wanb")));
        assert_eq!(second[1].as_bool(), Some(false));
    }

    /// Every message of the run: the ubus level walks cleanly, and every DATA and SIGNATURE
    /// payload is a valid blobmsg table.
    #[test]
    fn every_vector_payload_parses() {
        for (name, msg) in all_vectors() {
            let container = u32::from_be_bytes(msg[8..12].try_into().unwrap()) as usize & MAX_ATTR_LEN;
            assert_eq!(8 + container, msg.len(), "{name}");
            for attr in BlobAttrs::new(&msg[12..]) {
                let attr = attr.unwrap_or_else(|e| panic!("{name}: {e}"));
                if attr.id == 6 || attr.id == 7 {
                    check_table(attr.data).unwrap_or_else(|e| panic!("{name}: {e}"));
                }
            }
        }
    }

    fn walk(buf: &[u8]) {
        fn deep(attrs: Attrs<'_>) {
            for a in attrs.flatten() {
                let _ = (a.as_str(), a.as_bool(), a.as_u16(), a.as_u32(), a.as_u64(), a.as_f64());
                if let Some(inner) = a.as_table().or_else(|| a.as_array()) {
                    deep(inner);
                }
            }
        }
        for attr in BlobAttrs::new(buf).flatten() {
            let _ = check_table(attr.data);
            deep(Attrs::new(attr.data));
        }
        let _ = check_table(buf);
        deep(Attrs::new(buf));
    }

    #[test]
    fn truncated_and_corrupted_vectors_never_panic() {
        for (_, msg) in all_vectors() {
            let body = &msg[12..];
            for end in 0..=body.len() {
                walk(&body[..end]);
            }
            for at in 0..body.len() {
                for flip in [0x01, 0x04, 0x80, 0xff] {
                    let mut bad = body.to_vec();
                    bad[at] ^= flip;
                    walk(&bad);
                }
            }
        }
    }

    #[test]
    fn bad_attributes_are_reported_once() {
        let mut items = Attrs::new(&[0x83, 0, 0, 0x08, 0, 9, b'x', 0]);
        assert_eq!(items.next(), Some(Err(Malformed("blobmsg name runs past its attribute"))));
        assert_eq!(items.next(), None);
        assert!(BlobAttrs::new(&[0, 0, 0, 3]).next().unwrap().is_err());
        assert!(BlobAttrs::new(&[0, 0, 0, 9, 1, 2, 3, 4]).next().unwrap().is_err());
        assert!(BlobAttrs::new(&[0, 0]).next().unwrap().is_err());
        // A string without its NUL, an INT32 of 3 bytes, a member without a name.
        assert!(check_table(&[0x83, 0, 0, 0x09, 0, 1, b'a', 0, b'x', 0, 0, 0]).is_err());
        assert!(check_table(&[0x85, 0, 0, 0x0b, 0, 1, b'a', 0, 1, 2, 3, 0]).is_err());
        assert!(check_table(&[0x87, 0, 0, 0x09, 0, 0, 0, 0, 1, 0, 0, 0]).is_err());
        // The same bool with a name passes.
        assert!(check_table(&[0x87, 0, 0, 0x09, 0, 1, b'b', 0, 1, 0, 0, 0]).is_ok());
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let mut buf = [0; 1024];
        let mut w = Writer::new(&mut buf);
        let mut nests = Vec::new();
        for _ in 0..MAX_DEPTH {
            nests.push(w.begin_table("t").unwrap());
        }
        let innermost = w.len();
        while let Some(n) = nests.pop() {
            w.end(n);
        }
        let len = w.len();
        assert_eq!(check_table(&buf[..len]), Ok(()));
        // One level more.
        let mut buf = [0; 1024];
        let mut w = Writer::new(&mut buf);
        for _ in 0..=MAX_DEPTH {
            nests.push(w.begin_table("t").unwrap());
        }
        assert_eq!(w.len(), innermost + 8);
        while let Some(n) = nests.pop() {
            w.end(n);
        }
        let len = w.len();
        assert_eq!(check_table(&buf[..len]), Err(Malformed("nested too deeply")));
    }
}
