//! Commit-order announcements for one node.
//!
//! Several transactions of this node commit concurrently, each on its own connection, and the
//! task that sent a COMMIT may see its answer after a later transaction's. The commit listener
//! must still see this node's commits in commit order, so that each user's events leave in pts
//! order: a transaction that bumped a user's pts after another one did could only do so after
//! that one's COMMIT reached PostgreSQL (the user's row was locked until then).
//!
//! So every transaction takes a ticket just before sending COMMIT (tickets are therefore in the
//! order COMMITs were sent, which respects every such dependency), and announcements run strictly
//! in ticket order: the one that completes a run of consecutive tickets runs them all. A ticket
//! whose transaction failed (or whose task was dropped) is skipped. Announcing never blocks: the
//! listener only queues work.

use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::oneshot;

type Announcement = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    next_ticket: u64,
    next_release: u64,
    ready: BTreeMap<u64, Option<Announcement>>,
}

#[derive(Default)]
pub(crate) struct Sequencer {
    state: Mutex<State>,
}

/// A place in the announcement order. Dropping it without announcing skips the place.
pub(crate) struct Ticket<'a> {
    seq: &'a Sequencer,
    n: u64,
    done: bool,
}

impl Sequencer {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ticket(&self) -> Ticket<'_> {
        let mut st = self.lock();
        let n = st.next_ticket;
        st.next_ticket += 1;
        Ticket {
            seq: self,
            n,
            done: false,
        }
    }

    fn finish(&self, n: u64, announcement: Option<Announcement>) {
        let mut st = self.lock();
        st.ready.insert(n, announcement);
        loop {
            let next = st.next_release;
            let Some(item) = st.ready.remove(&next) else {
                break;
            };
            st.next_release += 1;
            if let Some(announce) = item {
                // Under the lock: announcements of this node never interleave.
                announce();
            }
        }
    }
}

impl Ticket<'_> {
    /// Run `announce` in ticket order; returns once it has run.
    pub async fn announce(mut self, announce: impl FnOnce() + Send + 'static) {
        let (tx, rx) = oneshot::channel();
        self.done = true;
        self.seq.finish(
            self.n,
            Some(Box::new(move || {
                announce();
                let _ = tx.send(());
            })),
        );
        let _ = rx.await;
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.seq.finish(self.n, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn announcements_run_in_ticket_order_and_skips_do_not_block() {
        let s = Sequencer::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (t0, t1, t2, t3) = (s.ticket(), s.ticket(), s.ticket(), s.ticket());
        let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
        // t2 finishes first: it must wait for t0 (t1's transaction failed: skipped).
        let early = t2.announce(move || a.lock().unwrap().push(2));
        let late = async {
            tokio::task::yield_now().await;
            assert!(b.lock().unwrap().is_empty(), "nothing runs before ticket 0");
            drop(t1);
            let b2 = b.clone();
            t0.announce(move || b2.lock().unwrap().push(0)).await;
        };
        tokio::join!(early, late);
        t3.announce(move || c.lock().unwrap().push(3)).await;
        assert_eq!(*seen.lock().unwrap(), vec![0, 2, 3]);
    }
}
