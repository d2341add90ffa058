//! Pages are bounded in bytes as well as in items: a page of 500 messages of 64 KiB each would
//! be a 32 MB frame. These cut a page at a byte budget, always keeping at least one item so a
//! client can make progress, and keep the page's paging semantics right.

use chapar_proto::{Event, Message, SyncPage};

/// A generous estimate of a message's encoded size.
pub fn message_bytes(m: &Message) -> usize {
    // Base64 in JSON makes opaque data 4/3 larger; fixed fields and names are under 512 bytes.
    512 + m.text.as_ref().map_or(0, String::len)
        + m.data.as_ref().map_or(0, |d| d.len() * 4 / 3 + 4)
}

fn event_bytes(e: &Event) -> usize {
    match e {
        Event::Message(m) => message_bytes(m),
        _ => 256,
    }
}

/// Keep the oldest events that fit in `budget`; if any were cut, `more` is set and `pts` is the
/// last one kept, so the next sync continues exactly there.
pub fn trim_feed(page: &mut SyncPage, budget: usize) {
    let mut used = 0;
    let keep = page
        .events
        .iter()
        .position(|e| {
            used += event_bytes(&e.event);
            used > budget
        })
        .map_or(page.events.len(), |cut| cut.max(1));
    if keep < page.events.len() {
        page.events.truncate(keep);
        page.more = true;
        if let Some(last) = page.events.last() {
            page.pts = last.pts;
        }
    }
}

/// History pages end at the newest message asked for: keep the newest that fit in `budget`
/// (the client pages back from the first one it got).
pub fn trim_history(messages: &mut Vec<Message>, budget: usize) {
    let mut used = 0;
    let keep_from = messages
        .iter()
        .rposition(|m| {
            used += message_bytes(m);
            used > budget
        })
        .map_or(0, |cut| (cut + 1).min(messages.len() - 1));
    if keep_from > 0 {
        messages.drain(..keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chapar_proto::{ConversationId, DeviceId, FeedEvent, MessageKind, UserId};

    fn msg(seq: u64, len: usize) -> Message {
        Message {
            conversation: ConversationId(1),
            seq,
            sender: UserId(1),
            sender_handle: "a".into(),
            sender_name: String::new(),
            sender_device: DeviceId(1),
            client_id: String::new(),
            server_time: 0,
            kind: MessageKind::Text,
            content_type: "text/plain".into(),
            text: Some("x".repeat(len)),
            data: None,
            reply_to: None,
            target: None,
            remove: false,
            system: None,
            edited_at: None,
            deleted: false,
            reactions: vec![],
            entities: vec![],
            reply_markup: None,
            forward: None,
            hidden: false,
        }
    }

    #[test]
    fn feed_pages_stop_at_the_budget_and_continue_there() {
        let events = (1..=10)
            .map(|i| FeedEvent {
                pts: i,
                event: Event::Message(msg(i, 1000)),
            })
            .collect();
        let mut page = SyncPage {
            events,
            pts: 10,
            more: false,
            reset: false,
        };
        trim_feed(&mut page, 4000);
        assert_eq!(page.events.len(), 2);
        assert_eq!(page.pts, 2);
        assert!(page.more);
        // A single huge event still goes out alone.
        let mut page = SyncPage {
            events: vec![FeedEvent {
                pts: 5,
                event: Event::Message(msg(5, 10_000)),
            }],
            pts: 5,
            more: false,
            reset: false,
        };
        trim_feed(&mut page, 100);
        assert_eq!(page.events.len(), 1);
        assert!(!page.more);
    }

    #[test]
    fn history_pages_keep_the_newest() {
        let mut h: Vec<_> = (1..=10).map(|i| msg(i, 1000)).collect();
        trim_history(&mut h, 4000);
        assert_eq!(h.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![9, 10]);
        let mut one = vec![msg(1, 10_000)];
        trim_history(&mut one, 100);
        assert_eq!(one.len(), 1);
        let mut small: Vec<_> = (1..=3).map(|i| msg(i, 10)).collect();
        trim_history(&mut small, 1 << 20);
        assert_eq!(small.len(), 3);
    }
}
