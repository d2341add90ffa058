//! The chat's state, sans I/O: conversations, cached messages, the input line (with a cursor),
//! the scroll position and the status, updated by key presses, client events and request
//! results. Also the pure text helpers the screen needs: the `/` command parser and measuring,
//! truncating and wrapping text by display width. Tested without a terminal.

use chapar_sdk::ClientEvent;
use chapar_sdk::proto::{
    ConversationId, ConversationInfo, Event, Message, MessageKind, PresenceInfo, ReactionCount,
    Seq, UserId,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Messages kept per conversation (older ones are dropped from the view's cache).
const KEEP_MESSAGES: usize = 500;
/// How long a typing notice stays up.
const TYPING_SHOWN: Duration = Duration::from_secs(4);
/// Log entries asked for per history page.
pub const PAGE: u32 = 100;

/// The keys and commands, as `/help` shows them.
pub const HELP: &[&str] = &[
    "Keys",
    "  Enter              send the message, or run the /command",
    "  Left/Right         move the cursor (Home/End or Ctrl-A/Ctrl-E: start/end)",
    "  Backspace/Delete   delete before/at the cursor",
    "  PageUp/PageDown    scroll the messages (older ones load from the server)",
    "  Up/Down, Tab       switch conversation",
    "  F1                 this help",
    "  Esc                close this help; otherwise quit (also Ctrl-C)",
    "Commands",
    "  /help              this help",
    "  /reply SEQ TEXT    reply to message #SEQ",
    "  /edit SEQ TEXT     edit your message #SEQ",
    "  /react SEQ EMOJI   react to message #SEQ",
    "  /chat @handle      open or start a direct chat",
    "  /other             sent as it is (a bot's commands: /start)",
    "  //help             send \"/help\" as a message",
];

/// Something the event loop must do for the state.
#[derive(Debug, PartialEq)]
pub enum Action {
    Quit,
    Send(ConversationId, String),
    /// Send a reply to message `Seq`.
    Reply(ConversationId, Seq, String),
    Edit(ConversationId, Seq, String),
    React(ConversationId, Seq, String),
    /// Send the first message of a new direct chat with a handle.
    SendToPeer(String, String),
    /// Check that a handle exists before starting a chat with it.
    LookupUser(String),
    /// Load the history of a conversation (first time it is shown).
    LoadHistory(ConversationId),
    /// Load the page of a conversation's history before this seq.
    LoadOlder(ConversationId, Seq),
    /// Refetch the conversation list.
    Refresh,
    /// Mark a conversation read up to seq.
    MarkRead(ConversationId, Seq),
    /// Tell the others we are typing.
    Typing(ConversationId),
    /// Watch whether this person (the open direct chat's) is online.
    WatchPresence(UserId),
}

/// What a line typed in the input asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// A message to send (`//text` sends `/text`).
    Text(String),
    Help,
    Reply(Seq, String),
    Edit(Seq, String),
    React(Seq, String),
    /// Open or start the direct chat with this handle (no `@`).
    Chat(String),
}

/// Parse one (trimmed) input line. An error is the status message to show; nothing is sent.
pub fn parse_command(line: &str) -> Result<Command, String> {
    if let Some(rest) = line.strip_prefix("//") {
        return Ok(Command::Text(format!("/{rest}")));
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Command::Text(line.to_string()));
    };
    let (name, args) = split_word(rest);
    let seq_and = |usage: &str| -> Result<(Seq, String), String> {
        let (seq, text) = split_word(args);
        let seq = seq
            .trim_start_matches('#')
            .parse::<Seq>()
            .ok()
            .filter(|s| *s > 0);
        match seq {
            Some(seq) if !text.is_empty() => Ok((seq, text.to_string())),
            _ => Err(format!("usage: {usage}")),
        }
    };
    match name {
        "help" | "?" => Ok(Command::Help),
        "reply" => seq_and("/reply SEQ TEXT").map(|(s, t)| Command::Reply(s, t)),
        "edit" => seq_and("/edit SEQ TEXT").map(|(s, t)| Command::Edit(s, t)),
        "react" => seq_and("/react SEQ EMOJI").map(|(s, t)| Command::React(s, t)),
        "chat" => {
            let (handle, extra) = split_word(args);
            let handle = handle.trim_start_matches('@');
            if handle.is_empty() || !extra.is_empty() {
                return Err("usage: /chat @handle".into());
            }
            Ok(Command::Chat(handle.to_string()))
        }
        // Anything else is text: a bot's commands (`/start`) go to the bot as they are.
        _ => Ok(Command::Text(line.to_string())),
    }
}

/// The first word and the rest (leading whitespace removed).
fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// Columns a string takes on a terminal: the sum over its character clusters, as the screen
/// buffer places them (so a Persian lam-alef counts two, like two cells).
pub fn width(s: &str) -> usize {
    s.graphemes(true).map(UnicodeWidthStr::width).sum()
}

/// At most `max` columns of `s`, cut at a character cluster, with `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in s.graphemes(true) {
        let w = width(g);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push_str(g);
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// Split styled pieces of text into lines of at most `max` columns (a character cluster wider
/// than a whole line gets a line of its own). Newlines are not special: show them first.
pub fn wrap<T: Clone + PartialEq>(pieces: &[(String, T)], max: usize) -> Vec<Vec<(String, T)>> {
    let max = max.max(1);
    let mut lines: Vec<Vec<(String, T)>> = vec![vec![]];
    let mut used = 0;
    for (text, style) in pieces {
        for g in text.graphemes(true) {
            let w = width(g);
            if w > 0 && used + w > max && used > 0 {
                lines.push(vec![]);
                used = 0;
            }
            used += w;
            let line = lines.last_mut().expect("a line");
            match line.last_mut() {
                Some((t, s)) if s == style => t.push_str(g),
                _ => line.push((g.to_string(), style.clone())),
            }
        }
    }
    lines
}

/// Is this log entry shown as a line of its own (edits, deletions and reactions change others)?
pub fn shown(m: &Message) -> bool {
    matches!(m.kind, MessageKind::Text | MessageKind::System)
}

/// The message pane as last drawn: its size in rows and how many lines the conversation took.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct View {
    pub rows: usize,
    pub lines: usize,
}

/// Everything on screen.
pub struct App {
    pub me: UserId,
    pub my_handle: String,
    pub conversations: Vec<ConversationInfo>,
    pub selected: Option<ConversationId>,
    pub messages: HashMap<ConversationId, Vec<Message>>,
    pub input: String,
    /// Byte offset of the cursor in `input`, always between two characters.
    pub cursor: usize,
    /// Lines of the conversation hidden below the message pane (0: the newest are shown).
    pub scroll: usize,
    pub view: View,
    pub show_help: bool,
    /// A direct chat being started (`/chat @handle` with no conversation yet): the next message
    /// goes to this handle.
    pub new_chat: Option<String>,
    pub status: String,
    /// The connection's state, which the status goes back to after a notice.
    connection: String,
    pub typing: Option<(ConversationId, String, Instant)>,
    last_typing_sent: Option<Instant>,
    /// Conversations whose oldest message is loaded.
    complete: HashSet<ConversationId>,
    loading_older: Option<ConversationId>,
    /// Whether people are online, as far as this connection watches them.
    pub presence: HashMap<UserId, PresenceInfo>,
    /// The person watched on this connection.
    watched: Option<UserId>,
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
            cursor: 0,
            scroll: 0,
            view: View::default(),
            show_help: false,
            new_chat: None,
            status: "connecting… (type /help for the keys and commands)".into(),
            connection: "connecting…".into(),
            typing: None,
            last_typing_sent: None,
            complete: HashSet::new(),
            loading_older: None,
            presence: HashMap::new(),
            watched: None,
        }
    }

    /// What the watch answered: the people shown (absent ones hide it).
    pub fn set_presence(&mut self, user: UserId, shown: Vec<PresenceInfo>) {
        self.presence.remove(&user);
        for p in shown {
            self.presence.insert(p.user, p);
        }
    }

    /// "online" or "last seen … ago" for a person, when they let me see it.
    pub fn presence_label(&self, user: UserId, now_ms: i64) -> Option<String> {
        let p = self.presence.get(&user)?;
        if p.online {
            return Some("online".into());
        }
        let mins = (now_ms - p.last_seen?).max(0) / 60_000;
        Some(match mins {
            0 => "last seen just now".into(),
            1..=59 => format!("last seen {mins} min ago"),
            60..=1439 => format!("last seen {} h ago", mins / 60),
            _ => format!("last seen {} days ago", mins / 1440),
        })
    }

    pub fn selected_info(&self) -> Option<&ConversationInfo> {
        let id = self.selected?;
        self.conversations.iter().find(|c| c.id == id)
    }

    /// A fresh conversation list from the server.
    pub fn set_conversations(&mut self, list: Vec<ConversationInfo>, out: &mut Vec<Action>) {
        self.conversations = list;
        if let Some(h) = self.new_chat.clone() {
            if let Some(id) = self.direct_with(&h) {
                self.new_chat = None;
                self.select(id, out);
            }
            return;
        }
        let still_there = self
            .selected
            .is_some_and(|s| self.conversations.iter().any(|c| c.id == s));
        if !still_there {
            self.selected = self.conversations.first().map(|c| c.id);
            self.scroll = 0;
        }
        // The conversation on screen is read, even when the list counted it unread.
        self.on_selected(out);
    }

    fn direct_with(&self, handle: &str) -> Option<ConversationId> {
        self.conversations
            .iter()
            .find(|c| {
                c.peer
                    .as_ref()
                    .is_some_and(|p| p.handle.eq_ignore_ascii_case(handle))
            })
            .map(|c| c.id)
    }

    fn select(&mut self, id: ConversationId, out: &mut Vec<Action>) {
        self.selected = Some(id);
        self.scroll = 0;
        self.on_selected(out);
    }

    /// A history page loaded for a conversation.
    pub fn set_history(&mut self, conv: ConversationId, page: Vec<Message>) {
        if page.len() < PAGE as usize || page.first().is_some_and(|m| m.seq <= 1) {
            self.complete.insert(conv);
        }
        let cache = self.messages.entry(conv).or_default();
        // Keep live messages that arrived while the page was loading.
        let newest = page.last().map(|m| m.seq).unwrap_or(0);
        let mut merged: Vec<Message> = page;
        merged.extend(cache.drain(..).filter(|m| m.seq > newest));
        if trim(&mut merged, KEEP_MESSAGES) {
            self.complete.remove(&conv);
        }
        *cache = merged;
    }

    /// An older page (asked for by scrolling back) loaded for a conversation.
    pub fn set_older(&mut self, conv: ConversationId, page: Vec<Message>) {
        if self.loading_older == Some(conv) {
            self.loading_older = None;
        }
        if page.len() < PAGE as usize || page.first().is_some_and(|m| m.seq <= 1) {
            self.complete.insert(conv);
        }
        let cache = self.messages.entry(conv).or_default();
        let first = cache.first().map(|m| m.seq).unwrap_or(Seq::MAX);
        let mut merged: Vec<Message> = page.into_iter().filter(|m| m.seq < first).collect();
        if self.selected == Some(conv) {
            self.status = match merged.len() {
                0 => "this is the start of the conversation".into(),
                n => format!("{n} older entries loaded"),
            };
        }
        merged.append(cache);
        *cache = merged;
    }

    /// A handle `/chat` asked for exists: the next message starts the chat.
    pub fn user_found(&mut self, handle: String, out: &mut Vec<Action>) {
        if let Some(id) = self.direct_with(&handle) {
            self.select(id, out);
            return;
        }
        self.status = format!("new chat with @{handle}: type the first message");
        self.new_chat = Some(handle);
        self.selected = None;
        self.scroll = 0;
    }

    /// The message pane was drawn this big.
    pub fn set_view(&mut self, view: View) {
        self.view = view;
        self.scroll = self.scroll.min(self.max_scroll());
    }

    fn max_scroll(&self) -> usize {
        self.view.lines.saturating_sub(self.view.rows)
    }

    fn page_up(&mut self, out: &mut Vec<Action>) {
        let step = self.view.rows.saturating_sub(1).max(1);
        let wanted = self.scroll + step;
        self.scroll = wanted.min(self.max_scroll());
        if wanted <= self.max_scroll() {
            return;
        }
        // Past the oldest loaded line: ask the server for the page before it.
        let Some(conv) = self.selected else { return };
        if self.complete.contains(&conv) || self.loading_older == Some(conv) {
            return;
        }
        let first = self
            .messages
            .get(&conv)
            .and_then(|c| c.first())
            .map(|m| m.seq);
        match first {
            Some(seq) if seq > 1 => {
                self.loading_older = Some(conv);
                self.status = "loading older messages…".into();
                out.push(Action::LoadOlder(conv, seq));
            }
            Some(_) => {
                self.complete.insert(conv);
            }
            None => {}
        }
    }

    fn page_down(&mut self) {
        let step = self.view.rows.saturating_sub(1).max(1);
        self.scroll = self.scroll.saturating_sub(step);
    }

    fn on_selected(&mut self, out: &mut Vec<Action>) {
        let Some(id) = self.selected else { return };
        let peer = self
            .conversations
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.peer.as_ref().map(|p| p.id));
        if let Some(peer) = peer
            && self.watched != Some(peer)
        {
            self.watched = Some(peer);
            out.push(Action::WatchPresence(peer));
        }
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
        self.new_chat = None;
        let n = self.conversations.len() as isize;
        let cur = self
            .selected
            .and_then(|s| self.conversations.iter().position(|c| c.id == s))
            .unwrap_or(0) as isize;
        let next = (cur + delta).rem_euclid(n) as usize;
        self.select(self.conversations[next].id, out);
    }

    /// Where the character cluster before the cursor starts.
    fn prev_boundary(&self) -> usize {
        self.input[..self.cursor]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    /// Where the character cluster after the cursor ends.
    fn next_boundary(&self) -> usize {
        self.input[self.cursor..]
            .graphemes(true)
            .next()
            .map_or(self.cursor, |g| self.cursor + g.len())
    }

    fn clear_input(&mut self) {
        self.input.clear();
        self.cursor = 0;
    }

    /// The part of the input that fits `cols` columns with the cursor in view, and the cursor's
    /// column within it.
    pub fn input_view(&self, cols: usize) -> (String, usize) {
        if cols == 0 {
            return (String::new(), 0);
        }
        // Start as far left as possible, keeping one column for the cursor.
        let mut start = 0;
        for (i, _) in self.input[..self.cursor].grapheme_indices(true) {
            start = i;
            if width(&self.input[i..self.cursor]) < cols {
                break;
            }
        }
        if width(&self.input[..self.cursor]) < cols {
            start = 0;
        }
        let mut shown = String::new();
        let mut used = 0;
        for g in self.input[start..].graphemes(true) {
            used += width(g);
            if used > cols {
                break;
            }
            shown.push_str(g);
        }
        (shown, width(&self.input[start..self.cursor]))
    }

    pub fn on_key(&mut self, key: KeyEvent, out: &mut Vec<Action>) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if self.show_help {
            self.show_help = false;
            if matches!(key.code, KeyCode::Esc | KeyCode::F(1)) {
                return;
            }
        }
        match key.code {
            KeyCode::Esc => out.push(Action::Quit),
            KeyCode::Char('c') | KeyCode::Char('d') if ctrl => out.push(Action::Quit),
            KeyCode::F(1) => self.show_help = true,
            KeyCode::Up | KeyCode::BackTab => self.move_selection(-1, out),
            KeyCode::Down | KeyCode::Tab => self.move_selection(1, out),
            KeyCode::PageUp => self.page_up(out),
            KeyCode::PageDown => self.page_down(),
            KeyCode::Left => self.cursor = self.prev_boundary(),
            KeyCode::Right => self.cursor = self.next_boundary(),
            KeyCode::Home => self.cursor = 0,
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::End => self.cursor = self.input.len(),
            KeyCode::Char('e') if ctrl => self.cursor = self.input.len(),
            KeyCode::Backspace => {
                let from = self.prev_boundary();
                self.input.replace_range(from..self.cursor, "");
                self.cursor = from;
            }
            KeyCode::Delete => {
                let to = self.next_boundary();
                self.input.replace_range(self.cursor..to, "");
            }
            KeyCode::Enter => self.submit(out),
            KeyCode::Char(ch) if !ctrl => {
                self.input.insert(self.cursor, ch);
                self.cursor += ch.len_utf8();
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

    /// Enter: send the line, or run the command it holds.
    fn submit(&mut self, out: &mut Vec<Action>) {
        let line = self.input.trim();
        if line.is_empty() {
            return;
        }
        let command = match parse_command(line) {
            Ok(c) => c,
            Err(msg) => {
                // Kept in the input, to be fixed.
                self.status = msg;
                return;
            }
        };
        if let Command::Help = command {
            self.clear_input();
            self.show_help = true;
            return;
        }
        if let Command::Chat(h) = command {
            self.clear_input();
            if h.eq_ignore_ascii_case(&self.my_handle) {
                self.status = "that is you: /chat @handle opens a chat with someone else".into();
                return;
            }
            match self.direct_with(&h) {
                Some(id) => {
                    self.new_chat = None;
                    self.select(id, out);
                }
                None => {
                    self.status = format!("looking up @{h}…");
                    out.push(Action::LookupUser(h));
                }
            }
            return;
        }
        if let (Command::Text(text), Some(h)) = (&command, &self.new_chat) {
            out.push(Action::SendToPeer(h.clone(), text.clone()));
            self.status = format!("starting the chat with @{h}…");
            self.clear_input();
            return;
        }
        let Some(c) = self.selected else {
            self.status = "no conversation selected: /chat @handle starts one".into();
            return;
        };
        out.push(match command {
            Command::Text(t) => Action::Send(c, t),
            Command::Reply(s, t) => Action::Reply(c, s, t),
            Command::Edit(s, t) => Action::Edit(c, s, t),
            Command::React(s, e) => Action::React(c, s, e),
            Command::Help | Command::Chat(_) => return,
        });
        self.scroll = 0;
        self.clear_input();
        self.status = self.connection.clone();
    }

    fn set_connection(&mut self, status: String) {
        self.connection = status.clone();
        self.status = status;
    }

    pub fn on_client_event(&mut self, ev: ClientEvent, out: &mut Vec<Action>) {
        match ev {
            ClientEvent::Connected(s) => {
                self.me = s.user.id;
                self.my_handle = s.user.handle;
                self.set_connection("connected, catching up…".into());
                // Watches end with their connection: watch the open chat's person again.
                self.watched = None;
                self.on_selected(out);
            }
            ClientEvent::Synced { .. } => {
                self.set_connection(format!("connected as @{}", self.my_handle))
            }
            ClientEvent::Disconnected { reason } => {
                self.set_connection(format!("disconnected: {reason}"))
            }
            ClientEvent::Reconnecting {
                attempt,
                delay,
                busy,
            } => self.set_connection(if busy {
                format!("busy, retrying in {:.0} s", delay.as_secs_f64().ceil())
            } else {
                format!("reconnecting… (attempt {attempt})")
            }),
            ClientEvent::Reset => {
                self.messages.clear();
                self.complete.clear();
                self.loading_older = None;
                self.scroll = 0;
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
                | Event::SettingsChanged(_)
                | Event::Presence(_) => {}
            },
            ClientEvent::SettingsChanged(_) => {}
            ClientEvent::Presence(p) => {
                self.presence.insert(p.user, p);
            }
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
        // While scrolled back, the oldest lines stay (they are being read).
        let keep = if shown && self.scroll > 0 {
            usize::MAX
        } else {
            KEEP_MESSAGES
        };
        if let Some(cache) = self.messages.get_mut(&conv)
            && apply(cache, m, keep)
        {
            self.complete.remove(&conv);
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

/// Apply a log entry to a conversation's cached messages, keeping at most `keep`; true when
/// older ones were dropped.
fn apply(cache: &mut Vec<Message>, m: Message, keep: usize) -> bool {
    if cache.iter().any(|x| x.seq == m.seq) {
        return false;
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
    trim(cache, keep)
}

fn trim(cache: &mut Vec<Message>, keep: usize) -> bool {
    if cache.len() > keep {
        let extra = cache.len() - keep;
        cache.drain(..extra);
        return true;
    }
    false
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
            forward: None,
            hidden: false,
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
            pinned: None,
            archived: false,
            description: String::new(),
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
        // A later list that still counts the shown conversation unread: it is read.
        out.clear();
        let mut again = conv(2);
        again.unread = 3;
        again.last_seq = 4;
        app.set_conversations(vec![conv(1), again], &mut out);
        assert_eq!(app.conversations[1].unread, 0);
        assert_eq!(out, vec![Action::MarkRead(ConversationId(2), 4)]);
    }

    #[test]
    fn edits_and_reactions_apply_to_cached_messages() {
        let mut cache = vec![];
        apply(&mut cache, msg(1, 1, 2, "a"), KEEP_MESSAGES);
        let mut e = msg(1, 2, 2, "b");
        e.kind = MessageKind::Edit;
        e.target = Some(1);
        apply(&mut cache, e, KEEP_MESSAGES);
        let mut r = msg(1, 3, 3, "👍");
        r.kind = MessageKind::Reaction;
        r.target = Some(1);
        apply(&mut cache, r.clone(), KEEP_MESSAGES);
        apply(&mut cache, r, KEEP_MESSAGES);
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

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::from(code)
    }

    fn type_in(app: &mut App, text: &str, out: &mut Vec<Action>) {
        for ch in text.chars() {
            app.on_key(key(KeyCode::Char(ch)), out);
        }
    }

    #[test]
    fn the_cursor_moves_by_character_in_persian_and_emoji() {
        let mut app = App::new(UserId(1), "me".into());
        let mut out = vec![];
        type_in(&mut app, "سلام", &mut out);
        assert_eq!(app.cursor, app.input.len());
        app.on_key(key(KeyCode::Left), &mut out);
        app.on_key(key(KeyCode::Left), &mut out);
        assert_eq!(&app.input[..app.cursor], "سل");
        app.on_key(key(KeyCode::Backspace), &mut out);
        assert_eq!(app.input, "سام");
        assert_eq!(&app.input[..app.cursor], "س");
        app.on_key(key(KeyCode::Delete), &mut out);
        assert_eq!(app.input, "سم");
        type_in(&mut app, "👍🏽", &mut out);
        assert_eq!(app.input, "س👍🏽م");
        // The thumb with its skin tone is one step and one deletion.
        app.on_key(key(KeyCode::Left), &mut out);
        assert_eq!(&app.input[..app.cursor], "س");
        app.on_key(key(KeyCode::Right), &mut out);
        assert_eq!(&app.input[..app.cursor], "س👍🏽");
        app.on_key(key(KeyCode::Backspace), &mut out);
        assert_eq!(app.input, "سم");
        app.on_key(key(KeyCode::Home), &mut out);
        assert_eq!(app.cursor, 0);
        app.on_key(key(KeyCode::Left), &mut out);
        app.on_key(key(KeyCode::Backspace), &mut out);
        assert_eq!((app.input.as_str(), app.cursor), ("سم", 0));
        type_in(&mut app, "❤️", &mut out);
        assert_eq!(app.input, "❤️سم");
        app.on_key(key(KeyCode::End), &mut out);
        assert_eq!(app.cursor, app.input.len());
        app.on_key(key(KeyCode::Right), &mut out);
        app.on_key(key(KeyCode::Delete), &mut out);
        assert_eq!(app.input, "❤️سم");
        app.on_key(key(KeyCode::Home), &mut out);
        app.on_key(key(KeyCode::Right), &mut out);
        assert_eq!(&app.input[..app.cursor], "❤️");
        // Every position stayed on a character boundary (slicing above would have panicked).
    }

    #[test]
    fn the_input_scrolls_sideways_by_display_width() {
        let mut app = App::new(UserId(1), "me".into());
        let mut out = vec![];
        type_in(&mut app, "ab😀😀😀", &mut out);
        // 8 columns; 6 fit with the cursor after the last: the start is cut.
        let (shown, col) = app.input_view(6);
        assert_eq!((shown.as_str(), col), ("😀😀", 4));
        assert!(width(&shown) < 6);
        app.on_key(key(KeyCode::Home), &mut out);
        let (shown, col) = app.input_view(6);
        assert_eq!((shown.as_str(), col), ("ab😀😀", 0));
        let (shown, col) = app.input_view(20);
        assert_eq!((shown.as_str(), col), ("ab😀😀😀", 0));
    }

    #[test]
    fn commands_are_parsed_not_sent() {
        assert_eq!(parse_command("/help"), Ok(Command::Help));
        assert_eq!(
            parse_command("/reply 12 باشه"),
            Ok(Command::Reply(12, "باشه".into()))
        );
        assert_eq!(
            parse_command("/reply #3  two  words"),
            Ok(Command::Reply(3, "two  words".into()))
        );
        assert_eq!(
            parse_command("/edit 4 fixed"),
            Ok(Command::Edit(4, "fixed".into()))
        );
        assert_eq!(
            parse_command("/react 5 👍"),
            Ok(Command::React(5, "👍".into()))
        );
        assert_eq!(parse_command("/chat @bob"), Ok(Command::Chat("bob".into())));
        assert_eq!(
            parse_command("/chat sara"),
            Ok(Command::Chat("sara".into()))
        );
        assert_eq!(parse_command("//start"), Ok(Command::Text("/start".into())));
        assert_eq!(parse_command("// x"), Ok(Command::Text("/ x".into())));
        assert_eq!(
            parse_command("salam /help"),
            Ok(Command::Text("salam /help".into()))
        );
        for bad in [
            "/reply",
            "/reply x hi",
            "/reply 0 hi",
            "/reply 3",
            "/edit 3",
            "/react 3",
        ] {
            assert!(
                parse_command(bad).unwrap_err().starts_with("usage: "),
                "{bad}"
            );
        }
        assert!(parse_command("/chat").is_err());
        assert!(parse_command("/chat @a @b").is_err());
        // Other slash words are messages: bots take their commands so.
        assert_eq!(parse_command("/start"), Ok(Command::Text("/start".into())));
        assert_eq!(parse_command("/"), Ok(Command::Text("/".into())));
    }

    #[test]
    fn enter_runs_commands() {
        let mut app = App::new(UserId(1), "me".into());
        let mut out = vec![];
        let mut c = conv(5);
        c.kind = ConversationKind::Direct;
        c.peer = Some(chapar_sdk::proto::UserInfo {
            id: UserId(2),
            handle: "bob".into(),
            display_name: "Bob".into(),
        });
        app.set_conversations(vec![conv(4), c], &mut out);
        out.clear();
        let enter = |app: &mut App, text: &str, out: &mut Vec<Action>| {
            type_in(app, text, out);
            app.on_key(key(KeyCode::Enter), out);
            out.retain(|a| !matches!(a, Action::Typing(_)));
        };
        enter(&mut app, "/help", &mut out);
        assert!(app.show_help && out.is_empty() && app.input.is_empty());
        app.on_key(key(KeyCode::Esc), &mut out);
        assert!(
            !app.show_help && out.is_empty(),
            "Esc closes the help first"
        );
        enter(&mut app, "/reply nope", &mut out);
        assert!(out.is_empty() && app.status.contains("usage: /reply SEQ TEXT"));
        assert_eq!(app.input, "/reply nope", "kept to be fixed");
        app.clear_input();
        enter(&mut app, "/reply 2 ok", &mut out);
        enter(&mut app, "/edit 3 better", &mut out);
        enter(&mut app, "/react 2 🎉", &mut out);
        enter(&mut app, "//me waves", &mut out);
        let g = ConversationId(4);
        assert_eq!(
            std::mem::take(&mut out),
            vec![
                Action::Reply(g, 2, "ok".into()),
                Action::Edit(g, 3, "better".into()),
                Action::React(g, 2, "🎉".into()),
                Action::Send(g, "/me waves".into()),
            ]
        );
        // An existing direct chat opens at once (and its person's presence is watched); a new
        // one is looked up, then started.
        enter(&mut app, "/chat @Bob", &mut out);
        assert_eq!(app.selected, Some(ConversationId(5)));
        assert_eq!(
            std::mem::take(&mut out),
            vec![
                Action::WatchPresence(UserId(2)),
                Action::LoadHistory(ConversationId(5))
            ]
        );
        let now = 10_000_000;
        assert_eq!(app.presence_label(UserId(2), now), None, "not known yet");
        app.set_presence(
            UserId(2),
            vec![PresenceInfo {
                user: UserId(2),
                online: false,
                last_seen: Some(now - 5 * 60_000),
            }],
        );
        assert_eq!(
            app.presence_label(UserId(2), now).as_deref(),
            Some("last seen 5 min ago")
        );
        app.on_client_event(
            ClientEvent::Presence(PresenceInfo {
                user: UserId(2),
                online: true,
                last_seen: Some(now),
            }),
            &mut out,
        );
        assert_eq!(
            app.presence_label(UserId(2), now).as_deref(),
            Some("online")
        );
        // Hidden: the watch's answer leaves them out.
        app.set_presence(UserId(2), vec![]);
        assert_eq!(app.presence_label(UserId(2), now), None);
        enter(&mut app, "/chat @sara", &mut out);
        assert_eq!(
            std::mem::take(&mut out),
            vec![Action::LookupUser("sara".into())]
        );
        app.user_found("sara".into(), &mut out);
        assert_eq!(
            (app.new_chat.as_deref(), app.selected),
            (Some("sara"), None)
        );
        enter(&mut app, "salam", &mut out);
        assert_eq!(
            std::mem::take(&mut out),
            vec![Action::SendToPeer("sara".into(), "salam".into())]
        );
        // The new conversation shows up in the list and is selected.
        let mut d = conv(9);
        d.peer = Some(chapar_sdk::proto::UserInfo {
            id: UserId(3),
            handle: "sara".into(),
            display_name: "Sara".into(),
        });
        app.set_conversations(vec![conv(4), d], &mut out);
        assert_eq!(
            (app.new_chat.as_deref(), app.selected),
            (None, Some(ConversationId(9)))
        );
    }

    #[test]
    fn truncation_and_wrapping_count_display_columns() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("😀"), 2);
        assert_eq!(width("中文"), 4);
        assert_eq!(width("سلام"), 4);
        assert_eq!(width("❤️"), 2);
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello!", 5), "hell…");
        assert_eq!(truncate("😀😀😀", 5), "😀😀…");
        assert_eq!(truncate("😀😀😀", 4), "😀…");
        assert_eq!(truncate("中文字", 4), "中…");
        assert_eq!(truncate("سلام دنیا", 6), "سلام …");
        assert_eq!(truncate("👍🏽👍🏽", 3), "👍🏽…");
        for s in ["😀😀😀", "中文字", "سلام دنیا", "a👍🏽b❤️c"] {
            for max in 1..8 {
                assert!(width(&truncate(s, max)) <= max, "{s} {max}");
            }
        }
        let lines = wrap(&[("ab".to_string(), 1), ("😀😀c中".to_string(), 2)], 4);
        let text: Vec<String> = lines
            .iter()
            .map(|l| l.iter().map(|(t, _)| t.as_str()).collect())
            .collect();
        assert_eq!(text, vec!["ab😀", "😀c", "中"]);
        assert_eq!(lines[0], vec![("ab".to_string(), 1), ("😀".to_string(), 2)]);
        for s in [
            "😀😀😀😀😀",
            "سلام دنیا، چطوری؟",
            "中文字中文字",
            "x👍🏽y❤️z👨‍👩‍👧",
        ] {
            for max in 2..9 {
                for line in wrap(&[(s.to_string(), ())], max) {
                    let w: usize = line.iter().map(|(t, _)| width(t)).sum();
                    assert!(w <= max, "{s} {max} {line:?}");
                }
            }
        }
    }

    #[test]
    fn paging_scrolls_by_screen_and_loads_older_pages() {
        let mut app = App::new(UserId(1), "me".into());
        let mut out = vec![];
        app.set_conversations(vec![conv(1)], &mut out);
        out.clear();
        let page: Vec<Message> = (101..=200).map(|s| msg(1, s, 2, "m")).collect();
        app.set_history(ConversationId(1), page);
        app.set_view(View {
            rows: 10,
            lines: 100,
        });
        app.on_key(key(KeyCode::PageUp), &mut out);
        assert_eq!(app.scroll, 9);
        app.on_key(key(KeyCode::PageDown), &mut out);
        app.on_key(key(KeyCode::PageDown), &mut out);
        assert_eq!(app.scroll, 0);
        for _ in 0..12 {
            app.on_key(key(KeyCode::PageUp), &mut out);
        }
        assert_eq!(app.scroll, 90, "stops at the oldest loaded line");
        // Past the start: one request for the page before the oldest loaded message.
        assert_eq!(out, vec![Action::LoadOlder(ConversationId(1), 101)]);
        app.set_older(
            ConversationId(1),
            (1..=100).map(|s| msg(1, s, 2, "o")).collect(),
        );
        assert_eq!(app.messages[&ConversationId(1)].len(), 200);
        assert_eq!(app.messages[&ConversationId(1)][0].seq, 1);
        app.set_view(View {
            rows: 10,
            lines: 200,
        });
        assert_eq!(app.scroll, 90, "the same lines stay in view");
        out.clear();
        for _ in 0..20 {
            app.on_key(key(KeyCode::PageUp), &mut out);
        }
        assert_eq!(app.scroll, 190);
        assert!(out.is_empty(), "seq 1 is loaded: nothing older");
        // A live message while scrolled back drops nothing.
        app.on_client_event(feed(msg(1, 201, 2, "new")), &mut out);
        assert_eq!(app.messages[&ConversationId(1)].len(), 201);
        // The view shrinking clamps the scroll.
        app.set_view(View {
            rows: 10,
            lines: 50,
        });
        assert_eq!(app.scroll, 40);
        // Switching conversation goes back to the newest.
        app.set_conversations(vec![conv(1), conv(2)], &mut out);
        app.on_key(key(KeyCode::Down), &mut out);
        assert_eq!(app.scroll, 0);
    }

    #[test]
    fn a_short_first_page_is_the_whole_history() {
        let mut app = App::new(UserId(1), "me".into());
        let mut out = vec![];
        app.set_conversations(vec![conv(1)], &mut out);
        out.clear();
        app.set_history(
            ConversationId(1),
            (5..=20).map(|s| msg(1, s, 2, "m")).collect(),
        );
        app.set_view(View {
            rows: 10,
            lines: 16,
        });
        app.on_key(key(KeyCode::PageUp), &mut out);
        app.on_key(key(KeyCode::PageUp), &mut out);
        assert_eq!(app.scroll, 6);
        assert!(out.is_empty(), "{out:?}");
    }
}
