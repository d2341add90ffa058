//! The feed cursor, sans I/O: decides which feed events reach the application so that it sees
//! each one exactly once and in pts order.
//!
//! Live events arrive pushed; when one skips ahead of the cursor (a gap) or the connection is new,
//! the tracker asks for a sync from the cursor and holds live events back (in a bounded buffer)
//! until the sync has caught up. If the buffer overflows the held events are dropped and another
//! sync round is run instead: nothing is lost, because everything above the cursor is fetched.

use chapar_proto::{FeedEvent, Pts, SyncPage};
use std::collections::BTreeMap;

/// What the driver must do after feeding the tracker.
// Feed events dominate and are moved once through a channel: boxing would only add an
// allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Hand this event to the application (the cursor has moved to its pts).
    Deliver(FeedEvent),
    /// The server said the device is too far behind: the application must refetch its
    /// conversation list; the events that follow continue from the new cursor.
    Reset,
    /// Send `Sync { pts }` and feed the page back with [`PtsTracker::on_sync_page`].
    Sync(Pts),
    /// The sync has caught up; live events flow again.
    Synced(Pts),
}

/// The cursor and the events held back while a sync runs.
#[derive(Debug)]
pub struct PtsTracker {
    last: Pts,
    syncing: bool,
    held: BTreeMap<Pts, FeedEvent>,
    held_cap: usize,
    overflowed: bool,
}

impl PtsTracker {
    /// A cursor at `last` (the pts of the last event the application has), holding at most
    /// `held_cap` live events during a sync.
    pub fn new(last: Pts, held_cap: usize) -> Self {
        PtsTracker {
            last,
            syncing: false,
            held: BTreeMap::new(),
            held_cap: held_cap.max(1),
            overflowed: false,
        }
    }

    /// The pts of the last event delivered.
    pub fn last(&self) -> Pts {
        self.last
    }

    pub fn is_syncing(&self) -> bool {
        self.syncing
    }

    /// A new connection: whatever was in flight is gone; sync from the cursor.
    pub fn on_connected(&mut self) -> Step {
        self.syncing = true;
        self.held.clear();
        self.overflowed = false;
        Step::Sync(self.last)
    }

    /// Skip the backlog: continue from `pts` without delivering what came before.
    pub fn jump_to(&mut self, pts: Pts) {
        self.last = self.last.max(pts);
    }

    /// Move the cursor back to `pts` (the server's feed ends before our cursor).
    pub fn rewind(&mut self, pts: Pts) {
        self.last = pts;
        self.held.clear();
        self.overflowed = false;
    }

    /// A pushed feed event.
    pub fn on_live(&mut self, ev: FeedEvent, out: &mut Vec<Step>) {
        if ev.pts <= self.last {
            return;
        }
        if self.syncing {
            self.hold(ev);
            return;
        }
        if ev.pts == self.last + 1 {
            self.last = ev.pts;
            out.push(Step::Deliver(ev));
        } else {
            // A gap: fetch what is missing first, then this event.
            self.syncing = true;
            out.push(Step::Sync(self.last));
            self.hold(ev);
        }
    }

    /// A page answering the last `Step::Sync`.
    pub fn on_sync_page(&mut self, page: SyncPage, out: &mut Vec<Step>) {
        if page.reset {
            out.push(Step::Reset);
            let restart = page
                .events
                .first()
                .map(|e| e.pts.saturating_sub(1))
                .unwrap_or(page.pts);
            self.last = self.last.max(restart);
            // Held events from before the reset point are stale; those after are kept.
            let last = self.last;
            self.held.retain(|&p, _| p > last);
        }
        for ev in page.events {
            // A sync page is authoritative: pts may skip values the server never used.
            if ev.pts > self.last {
                self.last = ev.pts;
                out.push(Step::Deliver(ev));
            }
        }
        self.last = self.last.max(page.pts);
        if page.more {
            out.push(Step::Sync(self.last));
            return;
        }
        if self.overflowed {
            self.overflowed = false;
            self.held.clear();
            out.push(Step::Sync(self.last));
            return;
        }
        self.syncing = false;
        self.release_held(out);
        if !self.syncing {
            out.push(Step::Synced(self.last));
        }
    }

    fn hold(&mut self, ev: FeedEvent) {
        if self.held.len() >= self.held_cap {
            self.overflowed = true;
            return;
        }
        self.held.insert(ev.pts, ev);
    }

    fn release_held(&mut self, out: &mut Vec<Step>) {
        let held = std::mem::take(&mut self.held);
        let mut rest = held.into_values();
        while let Some(ev) = rest.next() {
            self.on_live(ev, out);
            if self.syncing {
                // Another gap: keep the remainder for after that sync.
                for ev in rest.by_ref() {
                    self.hold(ev);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chapar_proto::{ConversationId, Event, Typing, UserId};

    fn ev(pts: Pts) -> FeedEvent {
        FeedEvent {
            pts,
            event: Event::Typing(Typing {
                conversation: ConversationId(1),
                user: UserId(1),
                handle: "a".into(),
            }),
        }
    }

    fn page(pts: &[Pts], last: Pts, more: bool) -> SyncPage {
        SyncPage {
            events: pts.iter().map(|&p| ev(p)).collect(),
            pts: last,
            more,
            reset: false,
        }
    }

    fn delivered(steps: &[Step]) -> Vec<Pts> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Deliver(e) => Some(e.pts),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn consecutive_live_events_are_delivered_duplicates_ignored() {
        let mut t = PtsTracker::new(5, 16);
        let mut out = vec![];
        t.on_live(ev(6), &mut out);
        t.on_live(ev(6), &mut out);
        t.on_live(ev(4), &mut out);
        t.on_live(ev(7), &mut out);
        assert_eq!(delivered(&out), vec![6, 7]);
        assert_eq!(t.last(), 7);
    }

    #[test]
    fn gap_triggers_sync_and_holds_live_events() {
        let mut t = PtsTracker::new(5, 16);
        let mut out = vec![];
        t.on_live(ev(8), &mut out);
        assert_eq!(out, vec![Step::Sync(5)]);
        out.clear();
        t.on_live(ev(9), &mut out);
        assert!(out.is_empty());
        t.on_sync_page(page(&[6, 7, 8], 8, false), &mut out);
        assert_eq!(delivered(&out), vec![6, 7, 8, 9]);
        assert_eq!(out.last(), Some(&Step::Synced(9)));
        assert_eq!(t.last(), 9);
        assert!(!t.is_syncing());
    }

    #[test]
    fn multi_page_sync_then_live() {
        let mut t = PtsTracker::new(0, 16);
        let mut out = vec![];
        assert_eq!(t.on_connected(), Step::Sync(0));
        t.on_live(ev(5), &mut out);
        t.on_sync_page(page(&[1, 2], 2, true), &mut out);
        assert_eq!(out.last(), Some(&Step::Sync(2)));
        out.clear();
        t.on_sync_page(page(&[3, 4, 5], 5, false), &mut out);
        assert_eq!(delivered(&out), vec![3, 4, 5]);
        assert_eq!(out.last(), Some(&Step::Synced(5)));
    }

    #[test]
    fn held_gap_after_sync_syncs_again() {
        let mut t = PtsTracker::new(0, 16);
        let mut out = vec![];
        t.on_connected();
        t.on_live(ev(4), &mut out);
        t.on_live(ev(6), &mut out);
        t.on_sync_page(page(&[1, 2], 2, false), &mut out);
        // 3 is missing before the held 4: another sync from 2, nothing delivered out of order.
        assert_eq!(delivered(&out), vec![1, 2]);
        assert_eq!(out.last(), Some(&Step::Sync(2)));
        out.clear();
        t.on_sync_page(page(&[3, 4, 5], 5, false), &mut out);
        assert_eq!(delivered(&out), vec![3, 4, 5, 6]);
    }

    #[test]
    fn overflow_drops_held_and_syncs_again() {
        let mut t = PtsTracker::new(0, 2);
        let mut out = vec![];
        t.on_connected();
        for p in 3..10 {
            t.on_live(ev(p), &mut out);
        }
        t.on_sync_page(page(&[1, 2], 2, false), &mut out);
        assert_eq!(out.last(), Some(&Step::Sync(2)));
        out.clear();
        t.on_sync_page(page(&[3, 4, 5, 6, 7, 8, 9], 9, false), &mut out);
        assert_eq!(delivered(&out), (3..10).collect::<Vec<_>>());
    }

    #[test]
    fn reset_jumps_forward() {
        let mut t = PtsTracker::new(3, 16);
        let mut out = vec![];
        t.on_connected();
        let p = SyncPage {
            events: vec![ev(100), ev(101)],
            pts: 101,
            more: false,
            reset: true,
        };
        t.on_sync_page(p, &mut out);
        assert_eq!(out[0], Step::Reset);
        assert_eq!(delivered(&out), vec![100, 101]);
        assert_eq!(t.last(), 101);
    }

    #[test]
    fn empty_sync_page_advances_to_page_pts() {
        let mut t = PtsTracker::new(3, 16);
        let mut out = vec![];
        t.on_connected();
        t.on_sync_page(page(&[], 3, false), &mut out);
        assert_eq!(out, vec![Step::Synced(3)]);
    }

    #[test]
    fn rewind_redelivers_from_the_servers_pts() {
        let mut t = PtsTracker::new(50, 16);
        let mut out = vec![];
        t.rewind(2);
        t.on_connected();
        t.on_sync_page(page(&[3, 4], 4, false), &mut out);
        assert_eq!(delivered(&out), vec![3, 4]);
    }
}
