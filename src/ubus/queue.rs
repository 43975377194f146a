//! The send queue: messages for ubusd, written in place by the session's parts and taken
//! from the front by whoever writes the socket; and the sequence numbers of our requests.
//!
//! Contract: one buffer allocated at start; a message is appended whole or not at all, and
//! a caller can keep room free behind it (the space a call's reply needs). Pending output is
//! `buf[start..end]`; appending first moves it to the front when it does not start there.

use crate::wire::blob::Full;
use crate::wire::ubus::MAX_MESSAGE;

/// Queued output and the request counter of one connection.
pub(super) struct SendQueue {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Our last request's sequence number; restarts with each connection.
    seq: u16,
}

impl SendQueue {
    /// A queue of `len` bytes.
    pub(super) fn new(len: usize) -> SendQueue {
        SendQueue { buf: vec![0; len].into_boxed_slice(), start: 0, end: 0, seq: 0 }
    }

    /// A new connection: nothing queued, requests numbered from 1 again.
    pub(super) fn reset(&mut self) {
        (self.start, self.end, self.seq) = (0, 0, 0);
    }

    /// Drops whatever is queued (the connection is gone).
    pub(super) fn clear(&mut self) {
        (self.start, self.end) = (0, 0);
    }

    /// The bytes waiting to be written, oldest first.
    pub(super) fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// `n` bytes of [`SendQueue::pending`] were written.
    pub(super) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// Free bytes, counting the space before pending output.
    pub(super) fn free(&self) -> usize {
        self.buf.len() - (self.end - self.start)
    }

    /// The free space at the end, after moving pending output to the front.
    fn free_tail(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Appends one message that `emit` writes, keeping `keep` bytes free; false if it does
    /// not fit.
    pub(super) fn push(&mut self, keep: usize, emit: impl FnOnce(&mut [u8]) -> Result<usize, Full>) -> bool {
        let free = self.free_tail();
        let cap = free.len().saturating_sub(keep).min(MAX_MESSAGE);
        match emit(&mut free[..cap]) {
            Ok(len) => {
                self.end += len;
                true
            }
            Err(Full) => false,
        }
    }

    /// Appends a request of ours: `emit` gets the next sequence number, which is used up
    /// only if the request fits. Returns that number.
    pub(super) fn request(
        &mut self,
        keep: usize,
        emit: impl FnOnce(&mut [u8], u16) -> Result<usize, Full>,
    ) -> Option<u16> {
        let seq = self.seq.wrapping_add(1);
        if !self.push(keep, |buf| emit(buf, seq)) {
            return None;
        }
        self.seq = seq;
        Some(seq)
    }

    /// Appends one message written in place into at most `limit` bytes of the free space
    /// (`write` returns its length, or `None` to queue nothing).
    pub(super) fn write_in_place<T>(&mut self, limit: usize, write: impl FnOnce(&mut [u8]) -> (Option<usize>, T)) -> T {
        let free = self.free_tail();
        let cap = free.len().min(limit);
        let (len, result) = write(&mut free[..cap]);
        self.end += len.unwrap_or(0);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_go_in_whole_and_leave_room_when_asked() {
        let mut q = SendQueue::new(16);
        assert!(q.push(0, |buf| {
            buf[..6].copy_from_slice(b"abcdef");
            Ok(6)
        }));
        assert!(!q.push(6, |buf| if buf.len() >= 6 { Ok(6) } else { Err(Full) }), "6 + 6 kept > 10 free");
        assert_eq!(q.request(0, |_, seq| Ok(usize::from(seq))), Some(1));
        assert_eq!(q.request(0, |_, _| Err(Full)), None);
        assert_eq!(q.request(0, |_, seq| Ok(usize::from(seq))), Some(2), "a request that did not fit used no number");
        assert_eq!(q.pending().len(), 9);
        q.consume(4);
        assert_eq!(&q.pending()[..2], b"ef");
        assert_eq!(q.free(), 11);
        q.consume(100);
        assert!(q.pending().is_empty());
        q.reset();
        assert_eq!(q.request(0, |_, seq| Ok(usize::from(seq))), Some(1), "numbered afresh per connection");
    }
}
