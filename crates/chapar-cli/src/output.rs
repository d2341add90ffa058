//! How results are printed: short human-readable lines by default, or with `--json` one JSON
//! object per line (each with a `type`), so scripts and tests can read the output.

use chapar_sdk::proto::{
    BotInfo, CallbackAnswer, CallbackQuery, ConversationInfo, DeviceInfo, FeedEvent, Invitation,
    MemberInfo, Message, MessageKind, Receipt, Report, Sent, Typing,
};
use serde_json::{Value, json};
use std::borrow::Cow;

/// `println!` for human output: every control character other than newline and tab is shown
/// visibly (see [`visible`]), so nothing a server or another person sent can command the
/// terminal (set its title, write the clipboard, move the cursor, colour it).
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", visible(&format!($($arg)*)))
    };
}

/// Text as shown to people: C0 controls as caret notation (`ESC` → `^[`, `BEL` → `^G`, `CR` →
/// `^M`), `DEL` as `^?`, C1 controls as `<U+009B>`; newline and tab are kept.
pub fn visible(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// [`visible`] for one line of a screen (the chat): newlines and tabs are shown too (`⏎`, a
/// space), so a message cannot break the layout.
pub fn visible_inline(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, inline: bool) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && (inline || !matches!(c, '\n' | '\t'));
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if !bad(c) => out.push(c),
            '\n' => out.push_str(" ⏎ "),
            '\t' => out.push(' '),
            '\u{7f}' => out.push_str("^?"),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(c as u8 + 0x40));
            }
            c => out.push_str(&format!("<U+{:04X}>", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// A `--json` line with DEL and the C1 controls escaped too (serde_json escapes only C0; they
/// can only appear inside strings, where `\u` escapes are valid JSON).
fn json_line(v: &Value) -> String {
    let text = v.to_string();
    if !text.chars().any(|c| c.is_control()) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Prints results in the chosen format.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    pub json: bool,
}

impl Printer {
    fn line(&self, v: Value) {
        println!("{}", json_line(&v));
    }

    pub fn message(&self, m: &Message) {
        if self.json {
            self.line(message_json(m));
        } else {
            say!("{}", message_text(m));
        }
    }

    /// A history page: with `--json` every log entry as it is; for people, edits, deletions
    /// and reactions folded into the messages they change (see [`fold_history`]).
    pub fn history(&self, page: Vec<Message>) {
        if self.json {
            page.iter().for_each(|m| self.message(m));
        } else {
            fold_history(page).iter().for_each(|m| self.message(m));
        }
    }

    pub fn receipt(&self, r: &Receipt) {
        if self.json {
            self.line(json!({
                "type": "receipt", "conversation": r.conversation, "user": r.user,
                "sender": r.handle, "delivered_seq": r.delivered_seq, "read_seq": r.read_seq,
            }));
        } else {
            say!(
                "[{}] @{} delivered up to #{}, read up to #{}",
                r.conversation,
                r.handle,
                r.delivered_seq,
                r.read_seq
            );
        }
    }

    pub fn typing(&self, t: &Typing) {
        if self.json {
            self.line(
                json!({"type": "typing", "conversation": t.conversation, "sender": t.handle}),
            );
        } else {
            say!("[{}] @{} is typing…", t.conversation, t.handle);
        }
    }

    pub fn feed(&self, ev: &FeedEvent) {
        use chapar_sdk::proto::Event;
        match &ev.event {
            Event::Message(m) => self.message(m),
            Event::Receipt(r) => self.receipt(r),
            Event::Typing(t) => self.typing(t),
            Event::CallbackQuery(q) => self.callback_query(q),
            Event::CallbackAnswer(a) => self.callback_answer(a),
            Event::Invitation(i) => self.invitation(i),
            Event::SettingsChanged(_) => {}
            Event::Presence(p) => self.presence(None, p),
        }
    }

    /// Whether someone is online, or when they were last seen.
    pub fn presence(&self, handle: Option<&str>, p: &chapar_sdk::proto::PresenceInfo) {
        let who = handle.map_or_else(|| format!("user {}", p.user), |h| format!("@{h}"));
        if self.json {
            self.line(json!({
                "type": "presence", "user": p.user, "handle": handle,
                "online": p.online, "last_seen": p.last_seen,
            }));
        } else if p.online {
            say!("{who}  online");
        } else if let Some(at) = p.last_seen {
            say!("{who}  last seen {} UTC", format_time(at));
        } else {
            say!("{who}  hidden");
        }
    }

    /// One of my settings or lists changed, from this or another of my devices.
    pub fn settings_changed(&self, what: chapar_sdk::proto::Setting) {
        use chapar_sdk::proto::Setting;
        let (name, text) = match what {
            Setting::Blocked => ("blocked", "the people you block changed (see `blocked`)"),
            Setting::Contacts => ("contacts", "your contacts changed (see `contact list`)"),
            Setting::Privacy => ("privacy", "your privacy settings changed (see `privacy`)"),
            Setting::Invitations => (
                "invitations",
                "your invitations changed (see `invitations`)",
            ),
            Setting::Profile => ("profile", "your profile changed (see `me`)"),
            Setting::Devices => ("devices", "your devices changed (see `devices`)"),
            Setting::Chats => (
                "chats",
                "your conversation list changed (see `conversations`)",
            ),
        };
        if self.json {
            self.line(json!({"type": "settings_changed", "what": name}));
        } else {
            say!("{text}");
        }
    }

    /// An invitation to a group, waiting for `accept` or `decline`.
    pub fn invitation(&self, i: &Invitation) {
        if self.json {
            self.line(json!({
                "type": "invitation", "conversation": i.conversation, "title": i.title,
                "inviter": i.inviter.handle, "created_at": i.created_at,
            }));
        } else {
            say!(
                "[{}] @{} invites you to {:?} (chapar accept {} / chapar decline {})",
                i.conversation,
                i.inviter.handle,
                i.title,
                i.conversation,
                i.conversation
            );
        }
    }

    /// A report, as operators see it.
    pub fn report(&self, r: &Report) {
        if self.json {
            self.line(json!({
                "type": "report", "id": r.id, "reporter": r.reporter.handle,
                "user": r.user.handle, "conversation": r.conversation, "seq": r.seq,
                "text": r.text, "reason": r.reason.as_str(), "comment": r.comment,
                "created_at": r.created_at, "resolved_at": r.resolved_at,
                "resolution": r.resolution,
            }));
        } else {
            let what = match (r.conversation, r.seq) {
                (Some(c), Some(s)) => format!("message {c} #{s} by @{}", r.user.handle),
                _ => format!("user @{}", r.user.handle),
            };
            let mut line = format!(
                "report {}  {}  @{} reports {what}: {}",
                r.id,
                format_time(r.created_at),
                r.reporter.handle,
                r.reason.as_str()
            );
            if let Some(t) = &r.text {
                line.push_str(&format!("\n    {:?}", t));
            }
            if let Some(c) = &r.comment {
                line.push_str(&format!("\n    comment: {c}"));
            }
            if let Some(res) = &r.resolution {
                line.push_str(&format!("\n    resolved: {res}"));
            }
            say!("{line}");
        }
    }

    /// A bot's answer to a button press.
    pub fn callback_answer(&self, a: &CallbackAnswer) {
        if self.json {
            self.line(json!({
                "type": "callback_answer", "query_id": a.query_id, "conversation": a.conversation,
                "seq": a.seq, "text": a.text, "show_alert": a.show_alert, "url": a.url,
            }));
        } else {
            let mut line = format!("[{} #{}] bot answered", a.conversation, a.seq);
            if let Some(t) = &a.text {
                line.push_str(&format!(": {t}"));
            }
            if let Some(u) = &a.url {
                line.push_str(&format!("  (open {u})"));
            }
            say!("{line}");
        }
    }

    /// A press of one of this account's buttons (only bots receive these).
    pub fn callback_query(&self, q: &CallbackQuery) {
        if self.json {
            self.line(json!({
                "type": "callback_query", "id": q.id, "conversation": q.conversation,
                "seq": q.seq, "from": q.from.handle, "data": q.data,
            }));
        } else {
            say!(
                "[{} #{}] @{} pressed {:?}",
                q.conversation,
                q.seq,
                q.from.handle,
                q.data
            );
        }
    }

    /// A bot or service account, with its token when one was just issued.
    pub fn bot(&self, b: &BotInfo, token: Option<&str>) {
        if self.json {
            self.line(json!({
                "type": "bot", "id": b.user.id, "handle": b.user.handle,
                "display_name": b.user.display_name, "kind": b.kind.as_str(),
                "read_all": b.read_all, "has_token": b.has_token, "webhook": b.webhook,
                "created_at": b.created_at, "token": token,
            }));
        } else if let Some(t) = token {
            say!("{t}");
        } else {
            let mut flags = vec![b.kind.as_str()];
            if b.read_all {
                flags.push("reads all group messages");
            }
            if !b.has_token {
                flags.push("token revoked");
            }
            if b.webhook {
                flags.push("webhook");
            }
            say!(
                "{:>5}  @{:<20} {}  ({})",
                b.user.id.0,
                b.user.handle,
                b.user.display_name,
                flags.join(", ")
            );
        }
    }

    pub fn sent(&self, s: &Sent) {
        if self.json {
            self.line(json!({
                "type": "sent", "conversation": s.conversation, "seq": s.seq,
                "server_time": s.server_time, "duplicate": s.duplicate,
            }));
        } else {
            say!("conversation {} seq {}", s.conversation, s.seq);
        }
    }

    pub fn conversation(&self, c: &ConversationInfo) {
        if self.json {
            self.line(json!({
                "type": "conversation", "conversation": c.id, "kind": c.kind, "title": c.title,
                "peer": c.peer.as_ref().map(|p| p.handle.clone()), "role": c.role,
                "members": c.member_count, "last_seq": c.last_seq, "read_seq": c.read_seq,
                "unread": c.unread, "updated_at": c.updated_at,
                "archived": c.archived, "pinned": c.pinned,
            }));
        } else {
            let name = match &c.peer {
                Some(p) => format!("@{} ({})", p.handle, p.display_name),
                None => c.title.clone(),
            };
            let mut unread = if c.unread > 0 {
                format!("  [{} unread]", c.unread)
            } else {
                String::new()
            };
            if c.archived {
                unread.push_str("  (archived)");
            }
            let last = c
                .last_message
                .as_ref()
                .map(|m| format!("  — @{}: {}", m.sender_handle, snippet(m)))
                .unwrap_or_default();
            say!(
                "{:>5}  {:<6} {}{}{}",
                c.id.0,
                kind_name(c),
                name,
                unread,
                last
            );
        }
    }

    pub fn member(&self, m: &MemberInfo) {
        if self.json {
            self.line(json!({
                "type": "member", "user": m.user.id, "handle": m.user.handle,
                "display_name": m.user.display_name, "role": m.role,
                "delivered_seq": m.delivered_seq, "read_seq": m.read_seq,
            }));
        } else {
            say!(
                "@{:<20} {:<7} {}  (delivered #{}, read #{})",
                m.user.handle,
                m.role.as_str(),
                m.user.display_name,
                m.delivered_seq,
                m.read_seq
            );
        }
    }

    pub fn device(&self, d: &DeviceInfo) {
        if self.json {
            self.line(json!({
                "type": "device", "id": d.id, "name": d.name, "created_at": d.created_at,
                "last_seen": d.last_seen, "revoked": d.revoked, "current": d.current,
                "session_expires_at": d.session_expires_at,
            }));
        } else {
            let mut flags = vec![];
            if d.current {
                flags.push("this device");
            }
            if d.revoked {
                flags.push("revoked");
            }
            say!(
                "{:>5}  {:<20} created {}  last seen {}{}{}",
                d.id.0,
                d.name,
                format_time(d.created_at),
                d.last_seen.map(format_time).unwrap_or_else(|| "-".into()),
                d.session_expires_at
                    .map(|at| format!("  signed in until {} unless used", format_time(at)))
                    .unwrap_or_default(),
                if flags.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", flags.join(", "))
                }
            );
        }
    }

    /// A free-form result: `text` for people, `value` (with `type` added) for `--json`.
    pub fn info(&self, kind: &str, text: &str, mut value: Value) {
        if self.json {
            if let Value::Object(map) = &mut value {
                map.insert("type".into(), Value::String(kind.into()));
            }
            self.line(value);
        } else {
            say!("{text}");
        }
    }
}

fn kind_name(c: &ConversationInfo) -> &'static str {
    match c.kind {
        chapar_sdk::proto::ConversationKind::Direct => "direct",
        chapar_sdk::proto::ConversationKind::Group => "group",
        chapar_sdk::proto::ConversationKind::Channel => "channel",
        chapar_sdk::proto::ConversationKind::Unknown => "?",
    }
}

/// The JSON object of one message.
pub fn message_json(m: &Message) -> Value {
    let mut v = json!({
        "type": "message",
        "conversation": m.conversation,
        "seq": m.seq,
        "sender": m.sender_handle,
        "sender_id": m.sender,
        "kind": m.kind.as_str(),
        "text": m.text,
        "server_time": m.server_time,
        "client_id": m.client_id,
        "content_type": m.content_type,
    });
    if let Value::Object(map) = &mut v {
        if let Some(r) = m.reply_to {
            map.insert("reply_to".into(), json!(r));
        }
        if let Some(t) = m.target {
            map.insert("target".into(), json!(t));
        }
        if m.hidden {
            map.insert("hidden".into(), json!(true));
        }
        if let Some(f) = &m.forward {
            map.insert(
                "forwarded_from".into(),
                json!({"handle": f.from.handle, "display_name": f.from.display_name,
                       "server_time": f.server_time}),
            );
        }
        if m.remove {
            map.insert("remove".into(), json!(true));
        }
        if let Some(e) = m.edited_at {
            map.insert("edited".into(), json!(true));
            map.insert("edited_at".into(), json!(e));
        }
        if m.deleted {
            map.insert("deleted".into(), json!(true));
        }
        if let Some(s) = &m.system {
            map.insert("system".into(), json!(s));
        }
        if !m.reactions.is_empty() {
            map.insert("reactions".into(), json!(m.reactions));
        }
        if let Some(d) = &m.data {
            map.insert("data_bytes".into(), json!(d.len()));
        }
        if !m.entities.is_empty() {
            map.insert("entities".into(), json!(m.entities));
        }
        if let Some(k) = &m.reply_markup {
            map.insert("reply_markup".into(), json!(k));
        }
    }
    v
}

/// A history page as people read it: an edit, deletion or reaction whose message is in the page
/// is applied to that message (shown once, as it is now, marked "(edited)" or "(deleted)")
/// instead of being an entry of its own. The server already sends messages in their current
/// state; an edit is applied here only when the message does not say it was edited. Entries
/// whose message is older than the page stay, so nothing is hidden.
pub fn fold_history(page: Vec<Message>) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(page.len());
    let mut at: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for m in page {
        let change = matches!(
            m.kind,
            MessageKind::Edit | MessageKind::Delete | MessageKind::Reaction
        );
        let target = m.target.and_then(|t| at.get(&t).copied());
        match (change, target) {
            (true, Some(i)) => {
                let t = &mut out[i];
                match m.kind {
                    MessageKind::Edit if t.edited_at.is_none() && !t.deleted => {
                        t.text = m.text;
                        t.data = m.data;
                        t.entities = m.entities;
                        t.reply_markup = m.reply_markup;
                        t.edited_at = Some(m.server_time);
                    }
                    MessageKind::Delete => {
                        t.deleted = true;
                        t.text = None;
                        t.data = None;
                    }
                    _ => {}
                }
            }
            _ => {
                if !change {
                    at.insert(m.seq, out.len());
                }
                out.push(m);
            }
        }
    }
    out
}

/// A short description of a message's content.
pub fn snippet(m: &Message) -> String {
    if m.deleted {
        return "(deleted)".into();
    }
    if m.hidden {
        return "(deleted for you)".into();
    }
    match m.kind {
        MessageKind::System => system_text(m),
        MessageKind::Edit => format!(
            "(edited #{}) {}",
            m.target.unwrap_or(0),
            m.text.as_deref().unwrap_or("")
        ),
        MessageKind::Delete => format!("(deleted #{})", m.target.unwrap_or(0)),
        MessageKind::Reaction => format!(
            "{} {} #{}",
            if m.remove { "took back" } else { "reacted" },
            m.text.as_deref().unwrap_or("?"),
            m.target.unwrap_or(0)
        ),
        _ => match (&m.text, &m.data) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => format!("({}, {} bytes)", m.content_type, d.len()),
            (None, None) => String::new(),
        },
    }
}

fn system_text(m: &Message) -> String {
    let Some(s) = &m.system else {
        return "(system)".into();
    };
    let who = s
        .handles
        .iter()
        .map(|h| format!("@{h}"))
        .collect::<Vec<_>>()
        .join(", ");
    match s.action.as_str() {
        "created" => format!("created the group {:?}", s.title.as_deref().unwrap_or("")),
        "added" => format!("added {who}"),
        "removed" => format!("removed {who}"),
        "left" => "left".into(),
        "pinned" => format!("pinned #{}", m.target.unwrap_or(0)),
        "unpinned" => format!("unpinned #{}", m.target.unwrap_or(0)),
        "renamed" => format!(
            "renamed the group to {:?}",
            s.title.as_deref().unwrap_or("")
        ),
        "role_changed" => format!("made {who} {}", s.role.map(|r| r.as_str()).unwrap_or("?")),
        "description_changed" => "changed the group's description".into(),
        other => format!("{other} {who}"),
    }
}

/// One human-readable line for a message.
pub fn message_text(m: &Message) -> String {
    let mut line = format!(
        "[{} #{} {}] @{}",
        m.conversation,
        m.seq,
        format_time(m.server_time),
        m.sender_handle
    );
    if m.kind == MessageKind::System {
        line.push(' ');
    } else {
        line.push_str(": ");
    }
    if let Some(f) = &m.forward {
        line.push_str(&format!("(forwarded from @{}) ", f.from.handle));
    }
    line.push_str(&snippet(m));
    if let Some(r) = m.reply_to {
        line.push_str(&format!("  (reply to #{r})"));
    }
    if m.edited_at.is_some() && !m.deleted {
        line.push_str("  (edited)");
    }
    if !m.reactions.is_empty() {
        let r: Vec<String> = m
            .reactions
            .iter()
            .map(|r| format!("{}×{}", r.emoji, r.count))
            .collect();
        line.push_str(&format!("  [{}]", r.join(" ")));
    }
    // Buttons, numbered on across rows (`chapar press CONV SEQ N` takes the number).
    if let Some(k) = &m.reply_markup
        && !m.deleted
    {
        let mut n = 0;
        for row in &k.inline_keyboard {
            let buttons: Vec<String> = row
                .iter()
                .map(|b| {
                    n += 1;
                    match &b.url {
                        Some(u) => format!("{n} [{} ↗ {u}]", b.text),
                        None => format!("{n} [{}]", b.text),
                    }
                })
                .collect();
            line.push_str(&format!("\n    {}", buttons.join("  ")));
        }
    }
    line
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(visible("سلام\nدنیا\t!"), "سلام\nدنیا\t!");
        assert!(matches!(visible("plain"), Cow::Borrowed(_)));
        assert_eq!(visible("\u{1b}]0;owned\u{7}"), "^[]0;owned^G");
        assert_eq!(visible("\u{1b}]52;c;aGk=\u{1b}\\"), "^[]52;c;aGk=^[\\");
        assert_eq!(visible("\u{1b}[31mred\u{1b}[0m"), "^[[31mred^[[0m");
        assert_eq!(visible("over\rwrite\u{8}\u{7f}\0"), "over^Mwrite^H^?^@");
        assert_eq!(visible("\u{9b}31m\u{9d}"), "<U+009B>31m<U+009D>");
        assert_eq!(visible_inline("a\nb\tc\u{1b}"), "a ⏎ b c^[");
        for s in ["\u{1b}]0;x\u{7}", "\u{9b}2J", "a\rb", "\u{7f}"] {
            assert!(!visible(s).chars().any(|c| c.is_control()), "{s:?}");
        }
    }

    #[test]
    fn human_lines_of_messages_show_escapes() {
        let m: Message = serde_json::from_value(json!({
            "conversation": 3, "seq": 7, "sender": 1, "sender_handle": "eve",
            "sender_device": 1, "client_id": "c", "server_time": 0, "kind": "text",
            "content_type": "text/plain", "text": "hi\u{1b}]0;pwned\u{7}\u{1b}[2J",
        }))
        .unwrap();
        let line = visible(&message_text(&m)).to_string();
        assert!(line.ends_with("@eve: hi^[]0;pwned^G^[[2J"), "{line}");
        assert!(!line.contains('\u{1b}'));
        // --json keeps the text exactly, escaped as JSON.
        let j = json_line(&message_json(&m));
        assert!(j.contains("\\u001b]0;pwned\\u0007"), "{j}");
        let back: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(back["text"], m.text.clone().unwrap());
        let c1 = json_line(&json!({"text": "\u{9b}x\u{7f}"}));
        assert_eq!(c1, r#"{"text":"\u009bx\u007f"}"#);
        assert_eq!(
            serde_json::from_str::<Value>(&c1).unwrap()["text"],
            "\u{9b}x\u{7f}"
        );
    }

    #[test]
    fn times_format_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_764_352_000_000), "2025-11-28 17:46:40");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn history_folds_edits_deletions_and_reactions_into_their_messages() {
        let entry = |seq: u64, kind: &str, text: Option<&str>, target: Option<u64>| -> Message {
            serde_json::from_value(json!({
                "conversation": 3, "seq": seq, "sender": 1, "sender_handle": "bot",
                "sender_device": 1, "client_id": "c", "server_time": seq * 1000, "kind": kind,
                "content_type": "text/plain", "text": text, "target": target,
            }))
            .unwrap()
        };
        // As the server sends it: the message in its current state, and the entries.
        let mut first = entry(1, "text", Some("HELLO"), None);
        first.edited_at = Some(3000);
        let page = vec![
            first,
            entry(2, "text", Some("two"), None),
            entry(3, "edit", Some("HELLO"), Some(1)),
            entry(4, "reaction", Some("👍"), Some(2)),
            entry(5, "text", Some("gone soon"), None),
            entry(6, "delete", None, Some(5)),
            // The original is older than the page: the entry stays.
            entry(7, "edit", Some("older"), Some(0)),
        ];
        let folded = fold_history(page.clone());
        let seqs: Vec<u64> = folded.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![1, 2, 5, 7]);
        let lines: Vec<String> = folded.iter().map(message_text).collect();
        assert!(lines[0].ends_with("@bot: HELLO  (edited)"), "{}", lines[0]);
        assert!(lines[2].ends_with("@bot: (deleted)"), "{}", lines[2]);
        assert!(lines[3].contains("(edited #0) older"), "{}", lines[3]);
        // An edit the message does not show yet (an older server) is applied here.
        let mut page = page;
        page[0].edited_at = None;
        page[0].text = Some("hello".into());
        let folded = fold_history(page);
        assert_eq!(folded[0].text.as_deref(), Some("HELLO"));
        assert_eq!(folded[0].edited_at, Some(3000));
    }
}
