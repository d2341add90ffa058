//! The chat's state, sans I/O: conversations, cached messages, the input line and the status,
//! updated by key presses, client events and request results. Tested without a terminal.

use chapar_sdk::ClientEvent;
use chapar_sdk::proto::{
    ConversationId, ConversationInfo, Event, Message, MessageKind, ReactionCount, Seq, UserId,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Messages kept per conversation (older ones are dropped from the view's cache).
const KEEP_MESSAGES: usize = 500;
/// How long a typing notice stays up.
const TYPING_SHOWN: Duration = Duration::from_secs(4);

/// Something the event loop must do for the state.
#[derive(Debug, PartialEq)]
pub enum Action {
    Quit,
    Send(ConversationId, String),
    /// Load the history of a conversation (first time it is shown).
    LoadHistory(ConversationId),
    /// Refetch the conversation list.
    Refresh,
    /// Mark a conversation read up to seq.
    MarkRead(ConversationId, Seq),
    /// Tell the others we are typing.
    Typing(ConversationId),
}

/// Everything on screen.
pub struct App {
    pub me: UserId,
    pub my_handle: String,
    pub conversations: Vec<ConversationInfo>,
    pub selected: Option<ConversationId>,
    pub messages: HashMap<ConversationId, Vec<Message>>,
    pub input: String,
    pub status: String,
    pub typing: Option<(ConversationId, String, Instant)>,
    last_typing_sent: Option<Instant>,
}

impl App {
    pub fn new(me: UserId, my_handle: String) -> Self {
        App {
            me,
            my_handle,
            conversations: vec![],
            selected: None,
            messages: HashMap::new(),
            input: String::new(),
            status: "connecting…".into(),
            typing: None,
            last_typing_sent: None,
        }
    }

    pub fn selected_info(&self) -> Option<&ConversationInfo> {
        let id = self.selected?;
        self.conversations.iter().find(|c| c.id == id)
    }

    /// A fresh conversation list from the server.
    pub fn set_conversations(&mut self, list: Vec<ConversationInfo>, out: &mut Vec<Action>) {
        self.conversations = list;
        let still_there = self
            .selected
            .is_some_and(|s| self.conversations.iter().any(|c| c.id == s));
        if !still_there {
            self.selected = self.conversations.first().map(|c| c.id);
            self.on_selected(out);
        }
    }

    /// A history page loaded for a conversation.
    pub fn set_history(&mut self, conv: ConversationId, page: Vec<Message>) {
        let cache = self.messages.entry(conv).or_default();
        // Keep live messages that arrived while the page was loading.
        let newest = page.last().map(|m| m.seq).unwrap_or(0);
        let mut merged: Vec<Message> = page;
        merged.extend(cache.drain(..).filter(|m| m.seq > newest));
        trim(&mut merged);
        *cache = merged;
    }

    fn on_selected(&mut self, out: &mut Vec<Action>) {
        let Some(id) = self.selected else { return };
        if let std::collections::hash_map::Entry::Vacant(e) = self.messages.entry(id) {
            e.insert(vec![]);
            out.push(Action::LoadHistory(id));
        }
        if let Some(c) = self.conversations.iter_mut().find(|c| c.id == id)
            && c.unread > 0
        {
            c.unread = 0;
            c.read_seq = c.last_seq;
            out.push(Action::MarkRead(id, c.last_seq));
        }
    }

    fn move_selection(&mut self, delta: isize, out: &mut Vec<Action>) {
        if self.conversations.is_empty() {
            return;
        }
        let n = self.conversations.len() as isize;
        let cur = self
            .selected
            .and_then(|s| self.conversations.iter().position(|c| c.id == s))
            .unwrap_or(0) as isize;
        let next = (cur + delta).rem_euclid(n) as usize;
        self.selected = Some(self.conversations[next].id);
        self.on_selected(out);
    }

    pub fn on_key(&mut self, key: KeyEvent, out: &mut Vec<Action>) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => out.push(Action::Quit),
            KeyCode::Char('c') | KeyCode::Char('d') if ctrl => out.push(Action::Quit),
            KeyCode::Up | KeyCode::BackTab => self.move_selection(-1, out),
            KeyCode::Down | KeyCode::Tab => self.move_selection(1, out),
            KeyCode::Enter => {
                let text = self.input.trim().to_string();
                if text.is_empty() {
                    return;
                }
                match self.selected {
                    Some(c) => {
                        self.input.clear();
                        out.push(Action::Send(c, text));
                    }
                    None => self.status = "no conversation selected".into(),
                }
            }
            KeyCode::Backspace => {
                self.input.pop();
            }
            KeyCode::Char(ch) if !ctrl => {
                self.input.push(ch);
                if let Some(c) = self.selected {
                    let due = self
                        .last_typing_sent
                        .is_none_or(|t| t.elapsed() > Duration::from_secs(3));
                    if due {
                        self.last_typing_sent = Some(Instant::now());
                        out.push(Action::Typing(c));
                    }
                }
            }
            _ => {}
        }
    }

    pub fn on_client_event(&mut self, ev: ClientEvent, out: &mut Vec<Action>) {
        match ev {
            ClientEvent::Connected(s) => {
                self.me = s.user.id;
                self.my_handle = s.user.handle;
                self.status = "connected, catching up…".into();
            }
            ClientEvent::Synced { .. } => self.status = format!("connected as @{}", self.my_handle),
            ClientEvent::Disconnected { reason } => self.status = format!("disconnected: {reason}"),
            ClientEvent::Reconnecting {
                attempt,
                delay,
                busy,
            } => {
                self.status = if busy {
                    format!("busy, retrying in {:.0} s", delay.as_secs_f64().ceil())
                } else {
                    format!("reconnecting… (attempt {attempt})")
                }
            }
            ClientEvent::Reset => {
                self.messages.clear();
                out.push(Action::Refresh);
                self.on_selected(out);
            }
            ClientEvent::Revoked => {
                self.status = "this device was revoked; press Esc to quit".into();
            }
            ClientEvent::Suspended { message } => {
                self.status = format!("{message}; press Esc to quit");
            }
            ClientEvent::Typing(t) => {
                if t.user != self.me {
                    self.typing = Some((t.conversation, t.handle, Instant::now()));
                }
            }
            ClientEvent::Feed(f) => match f.event {
                Event::Message(m) => self.on_message(m, out),
                Event::Invitation(i) => {
                    self.status = format!(
                        "@{} invites you to {:?}: run `chapar accept {}` to join",
                        i.inviter.handle, i.title, i.conversation
                    );
                }
                Event::Receipt(_)
                | Event::Typing(_)
                | Event::CallbackQuery(_)
                | Event::CallbackAnswer(_)
                | Event::SettingsChanged(_) => {}
            },
            ClientEvent::SettingsChanged(_) => {}
            ClientEvent::CallbackAnswer(a) => {
                if let Some(text) = a.text {
                    self.status = format!("bot: {text}");
                }
            }
        }
    }

    fn on_message(&mut self, m: Message, out: &mut Vec<Action>) {
        let conv = m.conversation;
        if self.typing.as_ref().is_some_and(|(c, _, _)| *c == conv) {
            self.typing = None;
        }
        let shown = self.selected == Some(conv);
        let from_other = m.sender != self.me;
        match self.conversations.iter_mut().find(|c| c.id == conv) {
            Some(c) => {
                c.last_seq = c.last_seq.max(m.seq);
                c.updated_at = m.server_time;
                if matches!(m.kind, MessageKind::Text | MessageKind::System) {
                    c.last_message = Some(m.clone());
                }
                if from_other && !shown {
                    c.unread += 1;
                } else if from_other && shown {
                    c.read_seq = m.seq;
                    out.push(Action::MarkRead(conv, m.seq));
                }
            }
            None => out.push(Action::Refresh),
        }
        if m.kind == MessageKind::System {
            // Titles and membership may have changed.
            out.push(Action::Refresh);
        }
        if let Some(cache) = self.messages.get_mut(&conv) {
            apply(cache, m);
        }
    }

    /// Drop a typing notice that has been up long enough.
    pub fn tick(&mut self) {
        if self
            .typing
            .as_ref()
            .is_some_and(|(_, _, at)| at.elapsed() > TYPING_SHOWN)
        {
            self.typing = None;
        }
    }
}

/// Apply a log entry to a conversation's cached messages.
fn apply(cache: &mut Vec<Message>, m: Message) {
    if cache.iter().any(|x| x.seq == m.seq) {
        return;
    }
    let target = m.target.and_then(|t| cache.iter_mut().find(|x| x.seq == t));
    match (m.kind, target) {
        (MessageKind::Edit, Some(t)) => {
            t.text = m.text.clone();
            t.entities = m.entities.clone();
            t.reply_markup = m.reply_markup.clone();
            t.edited_at = Some(m.server_time);
        }
        (MessageKind::Delete, Some(t)) => {
            t.deleted = true;
            t.text = None;
        }
        (MessageKind::Reaction, Some(t)) => {
            let emoji = m.text.clone().unwrap_or_default();
            match t.reactions.iter_mut().position(|r| r.emoji == emoji) {
                Some(i) if m.remove => {
                    t.reactions[i].count = t.reactions[i].count.saturating_sub(1);
                    if t.reactions[i].count == 0 {
                        t.reactions.remove(i);
                    }
                }
                Some(i) => t.reactions[i].count += 1,
                None if !m.remove => t.reactions.push(ReactionCount { emoji, count: 1 }),
                None => {}
            }
        }
        _ => {}
    }
    cache.push(m);
    trim(cache);
}

fn trim(cache: &mut Vec<Message>) {
    if cache.len() > KEEP_MESSAGES {
        let extra = cache.len() - KEEP_MESSAGES;
        cache.drain(..extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chapar_sdk::proto::{ConversationKind, DeviceId, FeedEvent, Role};

    fn msg(conv: i64, seq: Seq, sender: i64, text: &str) -> Message {
        Message {
            conversation: ConversationId(conv),
            seq,
            sender: UserId(sender),
            sender_handle: format!("u{sender}"),
            sender_name: String::new(),
            sender_device: DeviceId(1),
            client_id: String::new(),
            server_time: 0,
            kind: MessageKind::Text,
            content_type: "text/plain".into(),
            text: Some(text.into()),
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
        }
    }

    fn conv(id: i64) -> ConversationInfo {
        ConversationInfo {
            id: ConversationId(id),
            kind: ConversationKind::Group,
            title: format!("g{id}"),
            peer: None,
            role: Role::Member,
            member_count: 2,
            last_seq: 0,
            read_seq: 0,
            unread: 0,
            last_message: None,
            updated_at: 0,
        }
    }

    fn feed(m: Message) -> ClientEvent {
        ClientEvent::Feed(FeedEvent {
            pts: 1,
            event: Event::Message(m),
        })
    }

    #[test]
    fn unread_counts_and_selection() {
        let mut app = App::new(UserId(1), "me".into());
        let mut out = vec![];
        app.set_conversations(vec![conv(1), conv(2)], &mut out);
        assert_eq!(app.selected, Some(ConversationId(1)));
        assert_eq!(out, vec![Action::LoadHistory(ConversationId(1))]);
        out.clear();
        app.on_client_event(feed(msg(2, 1, 9, "hi")), &mut out);
        assert_eq!(app.conversations[1].unread, 1);
        app.on_key(KeyEvent::from(KeyCode::Down), &mut out);
        assert_eq!(app.selected, Some(ConversationId(2)));
        assert!(out.contains(&Action::MarkRead(ConversationId(2), 1)));
        assert_eq!(app.conversations[1].unread, 0);
    }

    #[test]
    fn edits_and_reactions_apply_to_cached_messages() {
        let mut cache = vec![];
        apply(&mut cache, msg(1, 1, 2, "a"));
        let mut e = msg(1, 2, 2, "b");
        e.kind = MessageKind::Edit;
        e.target = Some(1);
        apply(&mut cache, e);
        let mut r = msg(1, 3, 3, "👍");
        r.kind = MessageKind::Reaction;
        r.target = Some(1);
        apply(&mut cache, r.clone());
        apply(&mut cache, r);
        assert_eq!(cache[0].text.as_deref(), Some("b"));
        assert!(cache[0].edited_at.is_some());
        assert_eq!(cache[0].reactions.len(), 1);
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn enter_sends_to_selected() {
        let mut app = App::new(UserId(1), "me".into());
        let mut out = vec![];
        app.set_conversations(vec![conv(5)], &mut out);
        out.clear();
        for ch in "yo".chars() {
            app.on_key(KeyEvent::from(KeyCode::Char(ch)), &mut out);
        }
        app.on_key(KeyEvent::from(KeyCode::Enter), &mut out);
        assert!(out.contains(&Action::Send(ConversationId(5), "yo".into())));
        assert!(app.input.is_empty());
    }
}
