//! The netlink layer every netlink protocol shares (netlink(7), include/uapi/linux/netlink.h):
//! the message header, the attribute layout, the control messages that answer a request
//! (`NLMSG_ERROR` with the kernel's extended ACK, `NLMSG_DONE`), and the constants for them,
//! defined here once. `wire::rtnl` and `wire::ctnetlink` read and write their own payloads on
//! top of it.
//!
//! Contract: [`Messages`] walks one received datagram and [`Attrs`] the attributes of one
//! payload; [`parse_control`] reads an `NLMSG_ERROR` / `NLMSG_DONE`; [`Reply`] follows the
//! answer to one request across datagrams (sequence match, ACK or error, multipart dump up to
//! `NLMSG_DONE`). None of them allocates or panics: every length is checked before it is
//! read and what fails a check is [`Malformed`]. [`Writer`] emits a message into a buffer
//! the caller lends, or says [`Full`]. Header fields and attribute headers are host-endian.

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;

/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an ACK (error 0) or a refused request.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a multipart (dump) reply.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_MIN_TYPE`: types below it are the control messages above (and reserved ones).
pub const NLMSG_MIN_TYPE: u16 = 0x10;

/// `NLM_F_REQUEST`: every message sent to the kernel.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: part of a multipart reply, which `NLMSG_DONE` ends.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`: answer with `NLMSG_ERROR` (error 0 on success).
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_DUMP_INTR`: the dump was interrupted by a change and may be inconsistent.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// `NLM_F_DUMP_FILTERED`: the dump was filtered as the request asked.
pub const NLM_F_DUMP_FILTERED: u16 = 0x20;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`) on a get request: every entry.
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_REPLACE` on a new request or notification: it replaced what was in its slot.
pub const NLM_F_REPLACE: u16 = 0x100;
/// `NLM_F_EXCL` on a new request: fail if the slot is taken.
pub const NLM_F_EXCL: u16 = 0x200;
/// `NLM_F_CREATE` on a new request: create if absent.
pub const NLM_F_CREATE: u16 = 0x400;
/// `NLM_F_CAPPED` on `NLMSG_ERROR`: only the request's header is echoed.
pub const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS` on `NLMSG_ERROR` / `NLMSG_DONE`: extended-ACK attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;

/// `NLA_F_NESTED` in an attribute's type: its payload is attributes.
pub const NLA_F_NESTED: u16 = 0x8000;
/// `NLA_TYPE_MASK`: the type without `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER`.
pub const NLA_TYPE_MASK: u16 = 0x3fff;
/// `NLMSGERR_ATTR_MSG`: the extended ACK's text.
pub const NLMSGERR_ATTR_MSG: u16 = 1;

/// `AF_UNSPEC`: the family byte of ordinary link messages and unfiltered dumps.
pub const AF_UNSPEC: u8 = 0;
/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;

/// A message or attribute failed a length or value check; the text says which.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// One netlink message inside a received datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`: the request it answers (0 for most notifications).
    pub seq: u32,
    /// `nlmsg_pid`.
    pub pid: u32,
    /// Everything after the header, without trailing padding.
    pub payload: &'a [u8],
}

/// Iterator over the messages of one datagram. A header that does not fit ends the walk
/// with one `Err`: nothing after it can be located.
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Messages<'a> {
    /// Walk `datagram`, the bytes one `recv` returned.
    pub fn new(datagram: &'a [u8]) -> Self {
        Messages { rest: datagram }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = core::mem::take(&mut self.rest);
        if rest.len() < NLMSG_HDRLEN {
            return Some(Err(Malformed("datagram ends inside a message header")));
        }
        let len = u32_at(rest, 0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Some(Err(Malformed("nlmsg_len outside the datagram")));
        }
        let msg = Message {
            ty: u16_at(rest, 4),
            flags: u16_at(rest, 6),
            seq: u32_at(rest, 8),
            pid: u32_at(rest, 12),
            payload: &rest[NLMSG_HDRLEN..len],
        };
        // Messages are 4-byte aligned (NLMSG_ALIGN); the last one may lack its padding.
        self.rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some(Ok(msg))
    }
}

/// Iterator over `struct nlattr`s: `(type, payload)`, the type without the
/// `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER` bits. A bad length ends the walk with one `Err`.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// Walk the attributes in `buf` (what follows a family header, or a nest's payload).
    pub fn new(buf: &'a [u8]) -> Self {
        Attrs { rest: buf }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = core::mem::take(&mut self.rest);
        if rest.len() < 4 {
            return Some(Err(Malformed("message ends inside an attribute header")));
        }
        let len = usize::from(u16_at(rest, 0));
        if len < 4 || len > rest.len() {
            return Some(Err(Malformed("attribute length outside the message")));
        }
        self.rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some(Ok((u16_at(rest, 2) & NLA_TYPE_MASK, &rest[4..len])))
    }
}

/// What a control message (type below [`NLMSG_MIN_TYPE`]) says.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// `NLMSG_ERROR` with error 0: the request succeeded.
    Ack,
    /// `NLMSG_ERROR` with a negative error: the kernel refused with this errno (positive).
    Error(i32),
    /// `NLMSG_DONE`: the end of a dump, with its own result (0, or a negative errno).
    Done {
        /// 0 when the dump completed, else a negative errno.
        error: i32,
    },
    /// `NLMSG_NOOP`, `NLMSG_OVERRUN` or another reserved type: nothing to act on.
    Other,
}

/// Reads a control message; `None` for a message of the protocol itself (a data message).
pub fn parse_control(msg: &Message<'_>) -> Option<Result<Control, Malformed>> {
    Some(match msg.ty {
        NLMSG_ERROR => match i32_at(msg.payload, 0) {
            None => Err(Malformed("short NLMSG_ERROR")),
            Some(0) => Ok(Control::Ack),
            Some(c) if c < 0 => Ok(Control::Error(c.saturating_neg())),
            Some(_) => Err(Malformed("positive error in NLMSG_ERROR")),
        },
        // Older kernels send DONE without the error word; that means success.
        NLMSG_DONE => Ok(Control::Done { error: i32_at(msg.payload, 0).unwrap_or(0) }),
        ty if ty < NLMSG_MIN_TYPE => Ok(Control::Other),
        _ => return None,
    })
}

/// The kernel's explanation attached to an `NLMSG_ERROR` or `NLMSG_DONE` (extended ACK,
/// Linux 4.12+, when the socket enabled `NETLINK_EXT_ACK`), e.g. "Nexthop has invalid
/// gateway".
pub fn ext_ack_msg<'a>(msg: &Message<'a>) -> Option<&'a str> {
    if msg.flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let tlvs = match msg.ty {
        // error code, then the request's header, then the request's payload unless capped.
        NLMSG_ERROR => {
            let echoed = if msg.flags & NLM_F_CAPPED != 0 {
                NLMSG_HDRLEN
            } else {
                align4(u32_at(msg.payload.get(4..8)?, 0) as usize)
            };
            msg.payload.get(4 + echoed..)?
        }
        // error code, then the attributes (netlink_dump_done).
        NLMSG_DONE => msg.payload.get(4..)?,
        _ => return None,
    };
    Attrs::new(tlvs).map_while(Result::ok).find(|&(ty, _)| ty == NLMSGERR_ATTR_MSG).and_then(|(_, text)| {
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        core::str::from_utf8(&text[..end]).ok()
    })
}

/// What a request waits for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Awaits {
    /// The `NLMSG_ERROR` of a request sent with `NLM_F_ACK`.
    Ack,
    /// The data messages of a reply, up to `NLMSG_DONE` (or the only one, if not multipart).
    Data,
}

/// The answer to one request, followed datagram by datagram: messages with another
/// sequence number (a late answer to an earlier request) are skipped; data messages go to
/// the caller; the answer ends with the ACK, the error, `NLMSG_DONE`, or a data message
/// without `NLM_F_MULTI` (a reply of one message).
#[derive(Clone, Debug)]
pub struct Reply {
    seq: u32,
    awaits: Awaits,
    interrupted: bool,
    skipped: u32,
}

/// Where an answer stands after one datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// Not complete: read the next datagram.
    More,
    /// Complete and successful.
    Done {
        /// Some part carried `NLM_F_DUMP_INTR`: entries may be missing or stale.
        interrupted: bool,
    },
    /// The kernel refused: errno (positive) and its extended-ACK text, if any.
    Refused(i32, Option<&'a str>),
    /// The datagram cannot be walked, or the ACK fails its checks.
    Malformed(Malformed),
}

impl Reply {
    /// The answer to request `seq`, sent with `NLM_F_ACK`: one `NLMSG_ERROR`.
    pub const fn ack(seq: u32) -> Reply {
        Reply { seq, awaits: Awaits::Ack, interrupted: false, skipped: 0 }
    }

    /// The answer to request `seq` that returns data (a dump): data messages, then
    /// `NLMSG_DONE`.
    pub const fn data(seq: u32) -> Reply {
        Reply { seq, awaits: Awaits::Data, interrupted: false, skipped: 0 }
    }

    /// Messages of this answer skipped because they failed a check (a data message the
    /// caller rejected, a broken control message within a dump).
    pub const fn skipped(&self) -> u32 {
        self.skipped
    }

    /// Reads one datagram, handing each data message of this answer to `entry`; an entry
    /// it rejects is skipped and counted. While the answer is a dump, a bad entry does not
    /// spoil the rest.
    pub fn read<'a>(
        &mut self,
        datagram: &'a [u8],
        entry: &mut dyn FnMut(&Message<'_>) -> Result<(), Malformed>,
    ) -> Step<'a> {
        for msg in Messages::new(datagram) {
            let msg = match msg {
                Ok(msg) => msg,
                Err(m) => return Step::Malformed(m),
            };
            if msg.seq != self.seq {
                continue;
            }
            self.interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
            match (parse_control(&msg), self.awaits) {
                (Some(Ok(Control::Error(errno))), _) => return Step::Refused(errno, ext_ack_msg(&msg)),
                (Some(Ok(Control::Ack)), Awaits::Ack) => return Step::Done { interrupted: false },
                (Some(Err(m)), Awaits::Ack) => return Step::Malformed(m),
                (Some(Ok(Control::Done { error: 0 })), Awaits::Data) => {
                    return Step::Done { interrupted: self.interrupted }
                }
                (Some(Ok(Control::Done { error })), Awaits::Data) => {
                    return Step::Refused(error.saturating_abs(), ext_ack_msg(&msg))
                }
                (Some(Err(_)), Awaits::Data) => self.skipped = self.skipped.saturating_add(1),
                (None, Awaits::Data) => {
                    if entry(&msg).is_err() {
                        self.skipped = self.skipped.saturating_add(1);
                    }
                    if msg.flags & NLM_F_MULTI == 0 {
                        return Step::Done { interrupted: self.interrupted };
                    }
                }
                // An ACK does not end a dump, nor does data or DONE end a wait for an ACK.
                _ => {}
            }
        }
        Step::More
    }
}

/// The buffer lent to an emitter is too small.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Full;

/// Writes one netlink message into a lent buffer; lengths are patched when a nest or the
/// message ends.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// Starts writing at the beginning of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    /// Appends raw bytes (a family header).
    pub fn bytes(&mut self, b: &[u8]) -> Result<(), Full> {
        let end = self.len.checked_add(b.len()).ok_or(Full)?;
        self.buf.get_mut(self.len..end).ok_or(Full)?.copy_from_slice(b);
        self.len = end;
        Ok(())
    }

    fn pad(&mut self) -> Result<(), Full> {
        while self.len % 4 != 0 {
            self.bytes(&[0])?;
        }
        Ok(())
    }

    /// The `struct nlmsghdr`, addressed to the kernel (port id 0); [`Writer::finish`]
    /// patches `nlmsg_len`.
    pub fn header(&mut self, ty: u16, flags: u16, seq: u32) -> Result<(), Full> {
        self.bytes(&0u32.to_ne_bytes())?;
        self.bytes(&ty.to_ne_bytes())?;
        self.bytes(&flags.to_ne_bytes())?;
        self.bytes(&seq.to_ne_bytes())?;
        self.bytes(&0u32.to_ne_bytes())
    }

    /// One attribute with its padding.
    pub fn attr(&mut self, ty: u16, value: &[u8]) -> Result<(), Full> {
        let len = u16::try_from(4 + value.len()).map_err(|_| Full)?;
        self.bytes(&len.to_ne_bytes())?;
        self.bytes(&ty.to_ne_bytes())?;
        self.bytes(value)?;
        self.pad()
    }

    /// Opens a nest (`NLA_F_NESTED` set); returns where it starts, for [`Writer::end`].
    pub fn begin(&mut self, ty: u16) -> Result<usize, Full> {
        let at = self.len;
        self.bytes(&[0, 0])?;
        self.bytes(&(ty | NLA_F_NESTED).to_ne_bytes())?;
        Ok(at)
    }

    /// Closes the nest opened at `at`.
    pub fn end(&mut self, at: usize) -> Result<(), Full> {
        let len = u16::try_from(self.len - at).map_err(|_| Full)?;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        Ok(())
    }

    /// Patches `nlmsg_len`; returns the message's length.
    pub fn finish(self) -> Result<usize, Full> {
        let len = u32::try_from(self.len).map_err(|_| Full)?;
        self.buf.get_mut(..4).ok_or(Full)?.copy_from_slice(&len.to_ne_bytes());
        Ok(self.len)
    }
}

/// `NLMSG_ALIGN` / `NLA_ALIGN`.
pub(crate) const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Callers check `buf.len() >= at + 2` first.
pub(crate) fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([buf[at], buf[at + 1]])
}

/// Callers check `buf.len() >= at + 4` first.
pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// A host-endian `i32` at `at`, if the buffer holds one.
pub(crate) fn i32_at(buf: &[u8], at: usize) -> Option<i32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The datagrams of a capture in `tests/vectors/{dir}/` (see the READMEs there): one per
    /// line; a capture of one message is one datagram.
    fn capture(dir: &str, name: &str) -> Vec<Vec<u8>> {
        let path = format!("{}/tests/vectors/{dir}/{name}.hex", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let hex = |line: &str| -> Vec<u8> {
            (0..line.len()).step_by(2).map(|i| u8::from_str_radix(&line[i..i + 2], 16).expect("hex")).collect()
        };
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(hex).collect()
    }

    /// A capture that holds one datagram.
    fn datagram(dir: &str, name: &str) -> Vec<u8> {
        let mut all = capture(dir, name);
        assert_eq!(all.len(), 1, "{name}");
        all.remove(0)
    }

    /// ctnetlink messages of one real dump (seq 1) or one real delete (seq 7), in a row.
    fn ct(names: &[&str]) -> Vec<u8> {
        names.iter().flat_map(|n| datagram("ctnetlink", n)).collect()
    }

    /// Reads `datagrams` as the answer `reply`; returns the last step and the entries' types.
    fn read_all(reply: &mut Reply, datagrams: &[&[u8]]) -> (Vec<Step<'static>>, Vec<u16>) {
        let mut types = Vec::new();
        let steps = datagrams
            .iter()
            .map(|d| {
                let step = reply.read(d, &mut |m| {
                    types.push(m.ty);
                    Ok(())
                });
                // The extended-ACK text borrows the datagram; keep the step without it.
                match step {
                    Step::Refused(errno, why) => Step::Refused(errno, why.map(|_| "(text)")),
                    Step::More => Step::More,
                    Step::Done { interrupted } => Step::Done { interrupted },
                    Step::Malformed(m) => Step::Malformed(m),
                }
            })
            .collect();
        (steps, types)
    }

    const CT_NEW: u16 = 0x100;
    const RTM_NEWRULE: u16 = 32;
    const ENOENT: i32 = 2;
    const ENETUNREACH: i32 = 101;

    #[test]
    fn a_multipart_dump_over_two_datagrams() {
        // The four entries and the NLMSG_DONE of one real ctnetlink dump (seq 1).
        let first = ct(&["entry-tcp-masq", "entry-udp-masq"]);
        let second = ct(&["entry-icmp-masq", "entry-tcp-local", "done"]);
        let mut reply = Reply::data(1);
        let (steps, types) = read_all(&mut reply, &[&first, &second]);
        assert_eq!(steps, [Step::More, Step::Done { interrupted: false }]);
        assert_eq!(types, [CT_NEW; 4]);
        assert_eq!(reply.skipped(), 0);
    }

    #[test]
    fn a_whole_rtnetlink_dump_reply() {
        // One datagram: eight rules (NLM_F_MULTI) and the NLMSG_DONE, seq 41.
        let dump = datagram("rtnl", "reply-dump-rules");
        let mut multi = 0;
        let step = Reply::data(41).read(&dump, &mut |m| {
            assert_eq!((m.ty, m.flags & NLM_F_MULTI), (RTM_NEWRULE, NLM_F_MULTI));
            multi += 1;
            Ok(())
        });
        assert_eq!(step, Step::Done { interrupted: false });
        assert_eq!(multi, 8);
    }

    #[test]
    fn an_ack_and_an_error_reply() {
        // The kernel's answers to one ctnetlink delete (seq 7): done, then "already gone".
        let ack = datagram("ctnetlink", "ack-delete-tcp-masq");
        let again = datagram("ctnetlink", "ack-delete-tcp-masq-again");
        assert_eq!(Reply::ack(7).read(&ack, &mut |_| Ok(())), Step::Done { interrupted: false });
        assert_eq!(Reply::ack(7).read(&again, &mut |_| Ok(())), Step::Refused(ENOENT, None));
        // A dump the kernel refuses outright answers with NLMSG_ERROR as well.
        assert_eq!(Reply::data(7).read(&again, &mut |_| Ok(())), Step::Refused(ENOENT, None));
    }

    #[test]
    fn an_error_reply_with_the_kernels_explanation() {
        // RTM_NEWROUTE via a gateway on no link, extended ACKs on: ENETUNREACH and why.
        let refused = datagram("rtnl", "reply-route-add-refused");
        let step = Reply::ack(42).read(&refused, &mut |_| Ok(()));
        assert_eq!(step, Step::Refused(ENETUNREACH, Some("Nexthop has invalid gateway")));
    }

    #[test]
    fn answers_to_other_requests_are_skipped() {
        let ack7 = datagram("ctnetlink", "ack-delete-tcp-masq");
        let error7 = datagram("ctnetlink", "ack-delete-tcp-masq-again");
        let dump41 = datagram("rtnl", "reply-dump-rules");
        let refused42 = datagram("rtnl", "reply-route-add-refused");
        // Late answers to requests 7 and 41 while request 42 waits: neither is taken for its
        // answer, and the dump's entries are not handed on.
        let mut reply = Reply::ack(42);
        let (steps, types) = read_all(&mut reply, &[&ack7, &error7, &dump41]);
        assert_eq!(steps, [Step::More, Step::More, Step::More]);
        assert!(types.is_empty());
        let mut reply = Reply::data(42);
        let (steps, types) = read_all(&mut reply, &[&dump41]);
        assert_eq!((steps, types), (vec![Step::More], vec![]));
        // The stale dump and request 42's own answer in one datagram.
        let both = [dump41, refused42].concat();
        assert_eq!(
            Reply::ack(42).read(&both, &mut |_| Ok(())),
            Step::Refused(ENETUNREACH, Some("Nexthop has invalid gateway"))
        );
    }

    #[test]
    fn an_ack_wait_ignores_data_and_a_dump_ignores_acks() {
        let mut entries_and_ack = ct(&["entry-tcp-masq"]);
        entries_and_ack[8..12].copy_from_slice(&7u32.to_ne_bytes());
        entries_and_ack.extend(datagram("ctnetlink", "ack-delete-tcp-masq"));
        let mut handed = 0;
        let step = Reply::ack(7).read(&entries_and_ack, &mut |_| {
            handed += 1;
            Ok(())
        });
        assert_eq!((step, handed), (Step::Done { interrupted: false }, 0));
        let mut dump = Reply::data(7);
        let (steps, types) = read_all(&mut dump, &[&entries_and_ack]);
        assert_eq!((steps, types), (vec![Step::More], vec![CT_NEW]));
    }

    #[test]
    fn a_reply_of_one_message_needs_no_done() {
        // A get of one object is answered by one message without NLM_F_MULTI.
        let mut one = ct(&["entry-tcp-masq"]);
        one[6] &= !(NLM_F_MULTI as u8);
        let (steps, types) = read_all(&mut Reply::data(1), &[&one]);
        assert_eq!((steps, types), (vec![Step::Done { interrupted: false }], vec![CT_NEW]));
    }

    #[test]
    fn bad_entries_are_skipped_and_interruptions_and_failures_reported() {
        let dump = datagram("rtnl", "reply-dump-rules");
        // The caller rejects one entry: it is counted, the rest of the dump goes on.
        let mut reply = Reply::data(41);
        let mut seen = 0;
        let step = reply.read(&dump, &mut |_| {
            seen += 1;
            if seen == 3 {
                Err(Malformed("bad rule"))
            } else {
                Ok(())
            }
        });
        assert_eq!((step, seen, reply.skipped()), (Step::Done { interrupted: false }, 8, 1));

        // One part flagged NLM_F_DUMP_INTR: the whole dump is reported interrupted.
        let mut intr = dump.clone();
        intr[6] |= NLM_F_DUMP_INTR as u8;
        assert_eq!(Reply::data(41).read(&intr, &mut |_| Ok(())), Step::Done { interrupted: true });

        // NLMSG_DONE carrying the dump's own error (its last word).
        let mut failed = dump.clone();
        let end = failed.len();
        failed[end - 4..].copy_from_slice(&(-16i32).to_ne_bytes());
        assert_eq!(Reply::data(41).read(&failed, &mut |_| Ok(())), Step::Refused(16, None));

        // ...with the kernel's explanation after it (netlink_dump_done).
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        w.header(NLMSG_DONE, NLM_F_MULTI | NLM_F_ACK_TLVS, 5).unwrap();
        w.bytes(&(-22i32).to_ne_bytes()).unwrap();
        w.attr(NLMSGERR_ATTR_MSG, b"bad filter\0").unwrap();
        let n = w.finish().unwrap();
        assert_eq!(Reply::data(5).read(&buf[..n], &mut |_| Ok(())), Step::Refused(22, Some("bad filter")));
    }

    #[test]
    fn broken_datagrams_and_acks_are_malformed() {
        let ack = datagram("ctnetlink", "ack-delete-tcp-masq");
        let cut = Reply::ack(7).read(&ack[..10], &mut |_| Ok(()));
        assert_eq!(cut, Step::Malformed(Malformed("datagram ends inside a message header")));
        // An NLMSG_ERROR too short for its error word: an ACK wait cannot go on; a dump
        // skips it and waits for its NLMSG_DONE.
        let mut short = ack[..18].to_vec();
        short[..4].copy_from_slice(&18u32.to_ne_bytes());
        assert_eq!(Reply::ack(7).read(&short, &mut |_| Ok(())), Step::Malformed(Malformed("short NLMSG_ERROR")));
        let mut dump = Reply::data(7);
        assert_eq!((dump.read(&short, &mut |_| Ok(())), dump.skipped()), (Step::More, 1));
    }

    #[test]
    fn truncated_and_corrupted_replies_never_panic() {
        for bytes in [datagram("rtnl", "reply-dump-rules"), datagram("rtnl", "reply-route-add-refused")] {
            let read = |d: &[u8]| {
                for seq in [41, 42] {
                    let _ = Reply::ack(seq).read(d, &mut |_| Ok(()));
                    let _ = Reply::data(seq).read(d, &mut |_| Ok(()));
                }
            };
            for end in 0..=bytes.len() {
                read(&bytes[..end]);
            }
            for at in 0..bytes.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut bad = bytes.clone();
                    bad[at] ^= flip;
                    read(&bad);
                }
            }
        }
    }

    #[test]
    fn the_writer_emits_what_the_walkers_read() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        w.header(0x101, NLM_F_REQUEST | NLM_F_ACK, 9).unwrap();
        w.bytes(&[AF_INET, 0, 0, 0]).unwrap();
        let nest = w.begin(1).unwrap();
        w.attr(2, &[192, 0, 2, 1]).unwrap();
        w.attr(3, &[6]).unwrap();
        w.end(nest).unwrap();
        let n = w.finish().unwrap();
        let msg = Messages::new(&buf[..n]).next().unwrap().unwrap();
        assert_eq!((msg.ty, msg.flags, msg.seq, msg.pid), (0x101, 0x5, 9, 0));
        let (ty, nested) = Attrs::new(&msg.payload[4..]).next().unwrap().unwrap();
        assert_eq!(ty, 1, "the type without NLA_F_NESTED");
        let inner: Vec<_> = Attrs::new(nested).map(Result::unwrap).collect();
        assert_eq!(inner, [(2, &[192, 0, 2, 1][..]), (3, &[6][..])]);
        let mut small = [0u8; 20];
        let mut w = Writer::new(&mut small);
        w.header(0x101, 0, 1).unwrap();
        assert_eq!(w.attr(2, &[0; 8]), Err(Full));
    }
}
