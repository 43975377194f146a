//! The core's phase: running or stopping, and how complete its view of the kernel is.
//! Each phase carries the data only it needs: the dumps still outstanding while the kernel
//! is being read, whether anything changed once it is known.
//!
//! Contract: nothing is written to the kernel unless the view is [`KernelSync::Synced`]
//! (without a complete read we would not know what is already ours). A read starts at
//! start-up and at every resync, and ends with the last outstanding dump; its end marks the
//! view changed. Stopping keeps the read going: everything of ours is removed once known.

use crate::kernel::DumpKind;

/// Where the core is in its life. Each phase carries how complete its view of the kernel is.
#[derive(Clone, Debug)]
pub enum Phase {
    /// Routing traffic.
    Running(KernelSync),
    /// Removing everything of ours (SIGTERM); done once the kernel holds nothing of ours.
    Stopping(KernelSync),
}

/// How complete the core's view of the kernel is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelSync {
    /// Reading the kernel's state: nothing is written until every dump in `pending` is
    /// done. A dump that could not be queued or read leaves `pending` without completing
    /// the read (the core then reads everything again a little later).
    Reading {
        /// The dumps asked for and not done yet.
        pending: heapless::Vec<DumpKind, 5>,
        /// No read has completed since start (the first is worth an info line, later ones
        /// a debug line).
        first: bool,
    },
    /// The view is complete and kept current from notifications.
    Synced {
        /// Something changed since the last update.
        dirty: bool,
    },
}

impl Phase {
    /// At start: running, and nothing read yet.
    pub fn new() -> Phase {
        Phase::Running(KernelSync::Reading { pending: heapless::Vec::new(), first: true })
    }

    /// How complete the view of the kernel is.
    pub fn sync(&self) -> &KernelSync {
        match self {
            Phase::Running(sync) | Phase::Stopping(sync) => sync,
        }
    }

    /// How complete the view of the kernel is, to change it.
    pub fn sync_mut(&mut self) -> &mut KernelSync {
        match self {
            Phase::Running(sync) | Phase::Stopping(sync) => sync,
        }
    }

    /// True once a stop was requested.
    pub fn is_stopping(&self) -> bool {
        matches!(self, Phase::Stopping(_))
    }

    /// A stop was requested; the view of the kernel stays as it is.
    pub fn stop(&mut self) {
        if let Phase::Running(sync) = self {
            *self = Phase::Stopping(core::mem::replace(sync, KernelSync::Synced { dirty: false }));
        }
    }
}

impl Default for Phase {
    fn default() -> Self {
        Phase::new()
    }
}

impl KernelSync {
    /// True once the view is complete.
    pub fn is_synced(&self) -> bool {
        matches!(self, KernelSync::Synced { .. })
    }

    /// Something changed: the next update has work. While reading this is implied, since
    /// the end of the read marks the view changed.
    pub fn mark_dirty(&mut self) {
        if let KernelSync::Synced { dirty } = self {
            *dirty = true;
        }
    }

    /// True if the view is complete and changed since the last call.
    pub fn take_dirty(&mut self) -> bool {
        match self {
            KernelSync::Synced { dirty } => core::mem::take(dirty),
            KernelSync::Reading { .. } => false,
        }
    }

    /// A dump of `kind` is to be read (a complete view starts a new read): returns true if
    /// it must be asked for, false if it is outstanding already.
    pub fn await_dump(&mut self, kind: DumpKind) -> bool {
        if self.is_synced() {
            *self = KernelSync::Reading { pending: heapless::Vec::new(), first: false };
        }
        let KernelSync::Reading { pending, .. } = self else { return false };
        // Room for every kind: each is outstanding at most once.
        !pending.contains(&kind) && pending.push(kind).is_ok()
    }

    /// The dump of `kind` will not come (dropped from the queue, or it failed).
    pub fn give_up_dump(&mut self, kind: DumpKind) {
        if let KernelSync::Reading { pending, .. } = self {
            pending.retain(|k| *k != kind);
        }
    }

    /// A dump of `kind` is done. Returns `Some(first)` if that completed the read (`first`:
    /// the first read since start).
    pub fn dump_done(&mut self, kind: DumpKind) -> Option<bool> {
        let KernelSync::Reading { pending, first } = self else { return None };
        pending.retain(|k| *k != kind);
        let first = *first;
        pending.is_empty().then(|| {
            *self = KernelSync::Synced { dirty: true };
            first
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_completes_with_its_last_dump_and_marks_the_view_changed() {
        let mut phase = Phase::new();
        let sync = phase.sync_mut();
        assert!(sync.await_dump(DumpKind::Links) && sync.await_dump(DumpKind::Rules));
        assert!(!sync.await_dump(DumpKind::Links), "outstanding already");
        sync.mark_dirty();
        assert!(!sync.take_dirty(), "nothing is written while reading");
        assert_eq!(sync.dump_done(DumpKind::Links), None);
        assert_eq!(sync.dump_done(DumpKind::Rules), Some(true), "the first read");
        assert!(sync.take_dirty() && !sync.take_dirty());
        // A resync starts another read; a dump given up leaves it incomplete until a
        // later dump ends it.
        assert!(sync.await_dump(DumpKind::Routes) && sync.await_dump(DumpKind::Addrs));
        sync.give_up_dump(DumpKind::Routes);
        assert_eq!(sync.dump_done(DumpKind::Addrs), Some(false));
        assert!(!phase.is_stopping());
        phase.stop();
        assert!(phase.is_stopping() && phase.sync().is_synced(), "stopping keeps the view");
    }
}
