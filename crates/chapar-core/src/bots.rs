//! Bots and service accounts: their state, the store actions that only they (or a person
//! pressing their buttons) take, and the pure rules that judge them.
//!
//! A bot is a user of kind `bot`, owned by a person, that acts through the Bot API with a token
//! (`<bot id>:<secret>`, stored hashed). A service account is the same with kind `service`: it
//! uses the service HTTP API and may message a person only after that person allowed it. Both
//! are ordinary members of the conversations they are in; their feed (the same per-user feed
//! people have) is their queue of updates, so an update is written in the transaction that
//! appends the message it reports.

use crate::Limits;
use crate::error::{Error, Result};
use crate::store::{Principal, SecretHash, Target};
use chapar_proto::{
    BotKind, ConversationId, ConversationKind, Entity, Pts, ReplyMarkup, Seq, UserId,
};
use serde::{Deserialize, Serialize};

/// Updates older than this are not delivered (Telegram keeps them 24 hours).
pub const UPDATE_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// Most buttons under one message.
pub const MAX_BUTTONS: usize = 100;
/// Most buttons in one row.
pub const MAX_ROW: usize = 8;
/// Longest button label, in characters.
pub const MAX_BUTTON_TEXT: usize = 64;
/// Longest `callback_data`, in bytes (as Telegram).
pub const MAX_CALLBACK_DATA: usize = 64;
/// Longest button URL, in bytes.
pub const MAX_URL: usize = 2048;
/// Most entities in one message.
pub const MAX_ENTITIES: usize = 100;
/// Most menu commands a bot may list.
pub const MAX_COMMANDS: usize = 100;

/// A bot or service account to create. The caller made the token and a random device key
/// (no one holds its private half: bots never sign in over WebSocket).
#[derive(Clone, Debug)]
pub struct NewBot {
    pub kind: BotKind,
    /// Already normalised with [`crate::rules::handle`].
    pub handle: String,
    pub display_name: String,
    pub public_key: Vec<u8>,
    pub token_hash: SecretHash,
}

/// What an owner does to their bots.
#[derive(Clone, Debug)]
pub enum BotOp {
    Create(NewBot),
    /// Replace the token (`Some`: re-issue) or remove it (`None`: revoke). Takes effect at once.
    Token {
        handle: String,
        token_hash: Option<SecretHash>,
    },
    /// Privacy mode off (`true`: the bot sees every group message) or on.
    ReadAll {
        handle: String,
        read_all: bool,
    },
}

/// An entry of a bot's command menu (`setMyCommands`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuCommand {
    pub command: String,
    pub description: String,
}

/// Where and how updates are pushed instead of polled. The secret is sent back to the bot's
/// own server in a header, so it is kept as given (it is the bot's credential, not ours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_token: Option<String>,
    pub max_connections: u32,
    pub set_at: i64,
}

/// A bot's state, as the Bot API and the webhook sender need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bot {
    /// The bot's user and its one device (sender of its messages).
    pub principal: Principal,
    pub kind: BotKind,
    pub owner: UserId,
    pub read_all: bool,
    pub commands: Vec<MenuCommand>,
    pub webhook: Option<Webhook>,
    /// Update types to deliver (empty: all).
    pub allowed_updates: Vec<String>,
    /// Updates (feed pts) below this are confirmed and never delivered again.
    pub offset: Pts,
    pub created_at: i64,
}

impl Bot {
    pub fn id(&self) -> UserId {
        self.principal.user.id
    }
}

/// A change a bot makes to its own state.
#[derive(Clone, Debug)]
pub enum BotChange {
    Webhook(Option<Webhook>),
    Commands(Vec<MenuCommand>),
    AllowedUpdates(Vec<String>),
    /// Confirm every update below this pts (the offset only moves forward).
    Offset(Pts),
}

/// Log changes of the bot platform, executed atomically by `Store::execute_bot` like
/// `Store::execute` runs commands (same idempotency, same fan-out, same commit announcement).
#[derive(Clone, Debug)]
pub enum BotAction {
    /// A text message with formatting and buttons (bots and service accounts). To a `Peer`, a
    /// bot may only write in an existing direct conversation (the person starts it); a service
    /// account only to a person who allowed it.
    Send {
        target: Target,
        client_id: String,
        text: String,
        entities: Vec<Entity>,
        reply_markup: Option<ReplyMarkup>,
        reply_to: Option<Seq>,
    },
    /// Edit one of the actor's messages. `text: None` keeps the text and its entities; the
    /// buttons are always replaced (`None` removes them), as Telegram does. An edit that changes
    /// nothing is `Invalid` ("message is not modified").
    Edit {
        conversation: ConversationId,
        seq: Seq,
        client_id: String,
        text: Option<String>,
        entities: Vec<Entity>,
        reply_markup: Option<ReplyMarkup>,
    },
    /// A member presses the callback button carrying `data` under message `seq`: the message's
    /// sender gets a [`chapar_proto::CallbackQuery`] in its feed, whose id is that feed pts.
    PressButton {
        conversation: ConversationId,
        seq: Seq,
        data: String,
    },
}

// ---- rules -------------------------------------------------------------------------------

/// Buttons: at most [`MAX_BUTTONS`], [`MAX_ROW`] per row, each with a label and exactly one of
/// `callback_data` (1 to 64 bytes) and an `http(s)` `url`.
pub fn reply_markup(markup: &ReplyMarkup) -> Result<()> {
    let total: usize = markup.inline_keyboard.iter().map(Vec::len).sum();
    if total > MAX_BUTTONS {
        return Err(Error::TooLarge(format!(
            "reply markup has {total} buttons, the limit is {MAX_BUTTONS}"
        )));
    }
    for row in &markup.inline_keyboard {
        if row.len() > MAX_ROW {
            return Err(Error::TooLarge(format!(
                "a keyboard row has {} buttons, the limit is {MAX_ROW}",
                row.len()
            )));
        }
        for b in row {
            let n = b.text.chars().count();
            if b.text.trim().is_empty()
                || n > MAX_BUTTON_TEXT
                || b.text.chars().any(char::is_control)
            {
                return Err(Error::invalid(format!(
                    "button text must be 1 to {MAX_BUTTON_TEXT} characters without control characters"
                )));
            }
            match (&b.callback_data, &b.url) {
                (Some(d), None) => callback_data(d)?,
                (None, Some(u)) => url(u)?,
                _ => {
                    return Err(Error::invalid(
                        "a button needs exactly one of callback_data and url",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Callback data: 1 to 64 bytes.
pub fn callback_data(data: &str) -> Result<()> {
    if data.is_empty() || data.len() > MAX_CALLBACK_DATA {
        Err(Error::invalid(format!(
            "callback_data must be 1 to {MAX_CALLBACK_DATA} bytes"
        )))
    } else {
        Ok(())
    }
}

/// Most bots and service accounts one person may own.
pub const MAX_BOTS_PER_OWNER: i64 = 20;
/// Most update types a bot may list.
pub const MAX_UPDATE_TYPES: usize = 20;
/// Longest name of an update type.
const MAX_UPDATE_TYPE_NAME: usize = 32;
/// Longest webhook secret token.
const MAX_SECRET_TOKEN: usize = 256;

/// A new bot's handle and display name (its handle when none is given), after checking its
/// kind and key. Whether the owner may own one more is the store's to count.
pub fn new_bot(limits: &Limits, new: &NewBot) -> Result<(String, String)> {
    let handle = crate::rules::handle(&new.handle)?;
    let display_name = if new.display_name.trim().is_empty() {
        handle.clone()
    } else {
        crate::rules::label("display name", &new.display_name, limits.max_name_chars)?
    };
    if !matches!(new.kind, BotKind::Bot | BotKind::Service) {
        return Err(Error::invalid("a bot's kind is bot or service"));
    }
    if new.public_key.len() != 32 {
        return Err(Error::invalid("a public key is 32 bytes (Ed25519)"));
    }
    Ok((handle, display_name))
}

/// A webhook: an http(s) URL and a secret token of at most 256 bytes.
pub fn webhook(h: &Webhook) -> Result<()> {
    url(&h.url)?;
    if h.secret_token
        .as_ref()
        .is_some_and(|s| s.len() > MAX_SECRET_TOKEN)
    {
        return Err(Error::invalid(format!(
            "secret_token is at most {MAX_SECRET_TOKEN} bytes"
        )));
    }
    Ok(())
}

/// The update types a bot asks for: at most [`MAX_UPDATE_TYPES`] names.
pub fn allowed_updates(types: &[String]) -> Result<()> {
    if types.len() > MAX_UPDATE_TYPES || types.iter().any(|t| t.len() > MAX_UPDATE_TYPE_NAME) {
        return Err(Error::invalid(format!(
            "allowed_updates lists at most {MAX_UPDATE_TYPES} names"
        )));
    }
    Ok(())
}

/// An `http://` or `https://` URL without spaces or control characters.
pub fn url(u: &str) -> Result<()> {
    let ok_scheme = u.starts_with("https://") || u.starts_with("http://");
    if !ok_scheme || u.len() > MAX_URL || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(format!(
            "a url must be http:// or https://, at most {MAX_URL} bytes, without spaces"
        )));
    }
    Ok(())
}

/// Entity types a message may carry.
const ENTITY_KINDS: &[&str] = &[
    "mention",
    "hashtag",
    "cashtag",
    "bot_command",
    "url",
    "email",
    "phone_number",
    "bold",
    "italic",
    "underline",
    "strikethrough",
    "spoiler",
    "blockquote",
    "expandable_blockquote",
    "code",
    "pre",
    "text_link",
];

/// Length of `text` in UTF-16 code units (the unit of entity offsets).
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Entities: at most [`MAX_ENTITIES`], known types, non-empty spans inside the text, a URL for
/// `text_link`.
pub fn entities(text: &str, entities: &[Entity]) -> Result<()> {
    if entities.len() > MAX_ENTITIES {
        return Err(Error::TooLarge(format!(
            "a message may have at most {MAX_ENTITIES} entities"
        )));
    }
    let len = utf16_len(text);
    for e in entities {
        if !ENTITY_KINDS.contains(&e.kind.as_str()) {
            return Err(Error::invalid(format!(
                "unsupported entity type {:?}",
                e.kind
            )));
        }
        let end = u64::from(e.offset) + u64::from(e.length);
        if e.length == 0 || end > len as u64 {
            return Err(Error::invalid(format!(
                "entity {} at {}+{} is outside the text",
                e.kind, e.offset, e.length
            )));
        }
        match (&e.kind[..], &e.url) {
            ("text_link", Some(u)) => url(u)?,
            ("text_link", None) => return Err(Error::invalid("a text_link entity needs a url")),
            _ => {}
        }
        if e.language.as_ref().is_some_and(|l| l.len() > 64) {
            return Err(Error::invalid("an entity language is at most 64 bytes"));
        }
    }
    Ok(())
}

/// May `kind` (None: a person) write into a direct conversation with a person? A bot only
/// where the person started the conversation (`exists`); a service account only with consent.
pub fn may_message_directly(kind: Option<BotKind>, exists: bool, consent: bool) -> Result<()> {
    match kind {
        None => Ok(()),
        Some(BotKind::Service) if consent => Ok(()),
        Some(BotKind::Service) => Err(Error::forbidden(
            "this person has not allowed the service to message them",
        )),
        Some(_) if exists => Ok(()),
        Some(_) => Err(Error::forbidden(
            "bot can't initiate conversation with a user",
        )),
    }
}

/// Menu commands: at most [`MAX_COMMANDS`], each 1 to 32 of `a-z 0-9 _`, a description of 1 to
/// 256 characters.
pub fn menu_commands(commands: &[MenuCommand]) -> Result<()> {
    if commands.len() > MAX_COMMANDS {
        return Err(Error::TooLarge(format!("at most {MAX_COMMANDS} commands")));
    }
    for c in commands {
        let ok = (1..=32).contains(&c.command.len())
            && c.command
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(Error::invalid(format!(
                "command {:?} must be 1 to 32 characters of a-z, 0-9 and _",
                c.command
            )));
        }
        let n = c.description.chars().count();
        if c.description.trim().is_empty() || n > 256 {
            return Err(Error::invalid(
                "a command description is 1 to 256 characters",
            ));
        }
    }
    Ok(())
}

/// Who a bot is, for the privacy rule.
#[derive(Clone, Copy, Debug)]
pub struct BotView<'a> {
    pub id: UserId,
    pub handle: &'a str,
    pub read_all: bool,
}

/// Privacy mode: does the bot receive this message? Never its own; everything in direct
/// conversations and, with `read_all`, in groups; otherwise only commands (`/cmd`, or
/// `/cmd@this_bot` but not `/cmd@other_bot`), replies to the bot's messages and messages that
/// mention `@this_bot`.
pub fn bot_sees(
    bot: BotView<'_>,
    kind: ConversationKind,
    sender: UserId,
    text: &str,
    reply_to_sender: Option<UserId>,
) -> bool {
    if sender == bot.id {
        return false;
    }
    if kind == ConversationKind::Direct || bot.read_all {
        return true;
    }
    if reply_to_sender == Some(bot.id) {
        return true;
    }
    if let Some(cmd) = text.strip_prefix('/') {
        let word = cmd.split(char::is_whitespace).next().unwrap_or("");
        match word.split_once('@') {
            Some((_, to)) if to.eq_ignore_ascii_case(bot.handle) => return true,
            Some(_) => {}
            None if !word.is_empty() => return true,
            None => {}
        }
    }
    mentions(text, bot.handle)
}

/// `text` contains `@handle` as a whole word (case-insensitive).
pub fn mentions(text: &str, handle: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find('@') {
        let start = from + i + 1;
        let end = start + handle.len();
        if end <= bytes.len()
            && text.is_char_boundary(end)
            && text[start..end].eq_ignore_ascii_case(handle)
            && (end == bytes.len() || !word(bytes[end]))
            && (start < 2 || !word(bytes[start - 2]))
        {
            return true;
        }
        from = start;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use chapar_proto::InlineButton;

    fn button(text: &str, data: Option<&str>, url: Option<&str>) -> InlineButton {
        InlineButton {
            text: text.into(),
            callback_data: data.map(Into::into),
            url: url.map(Into::into),
        }
    }

    #[test]
    fn keyboards_are_checked() {
        let ok = ReplyMarkup {
            inline_keyboard: vec![vec![
                button("Yes", Some("y"), None),
                button("Site", None, Some("https://example.org/x")),
            ]],
        };
        assert!(reply_markup(&ok).is_ok());
        for bad in [
            button("", Some("y"), None),
            button("x", None, None),
            button("x", Some("y"), Some("https://a")),
            button("x", Some(&"d".repeat(65)), None),
            button("x", None, Some("javascript:alert(1)")),
        ] {
            let m = ReplyMarkup {
                inline_keyboard: vec![vec![bad.clone()]],
            };
            assert!(reply_markup(&m).is_err(), "{bad:?} accepted");
        }
        let wide = ReplyMarkup {
            inline_keyboard: vec![vec![button("b", Some("d"), None); 9]],
        };
        assert!(matches!(reply_markup(&wide), Err(Error::TooLarge(_))));
    }

    #[test]
    fn entities_stay_inside_the_text() {
        let e = |kind: &str, offset, length| Entity {
            kind: kind.into(),
            offset,
            length,
            url: None,
            language: None,
        };
        // "😀 hi": the emoji is two UTF-16 units.
        assert!(entities("😀 hi", &[e("bold", 3, 2)]).is_ok());
        assert!(entities("😀 hi", &[e("bold", 3, 3)]).is_err());
        assert!(entities("hi", &[e("blink", 0, 1)]).is_err());
        assert!(entities("hi", &[e("text_link", 0, 1)]).is_err());
        assert!(entities("hi", &[e("bold", 0, 0)]).is_err());
    }

    #[test]
    fn privacy_mode_lets_through_commands_replies_and_mentions() {
        let bot = BotView {
            id: UserId(9),
            handle: "echo_bot",
            read_all: false,
        };
        let g = ConversationKind::Group;
        let u = UserId(1);
        assert!(bot_sees(bot, ConversationKind::Direct, u, "hello", None));
        assert!(!bot_sees(bot, g, u, "hello", None));
        assert!(bot_sees(bot, g, u, "/start", None));
        assert!(bot_sees(bot, g, u, "/start@Echo_Bot now", None));
        assert!(!bot_sees(bot, g, u, "/start@other_bot", None));
        assert!(bot_sees(bot, g, u, "hey @echo_bot!", None));
        assert!(!bot_sees(bot, g, u, "hey @echo_bot2", None));
        assert!(!bot_sees(bot, g, u, "mail a@echo_bot", None));
        assert!(bot_sees(bot, g, u, "sure", Some(UserId(9))));
        assert!(!bot_sees(bot, g, UserId(9), "/start", None));
        let all = BotView {
            read_all: true,
            ..bot
        };
        assert!(bot_sees(all, g, u, "hello", None));
    }

    #[test]
    fn who_may_open_a_direct_conversation() {
        assert!(may_message_directly(None, false, false).is_ok());
        assert!(may_message_directly(Some(BotKind::Bot), true, false).is_ok());
        assert!(may_message_directly(Some(BotKind::Bot), false, true).is_err());
        assert!(may_message_directly(Some(BotKind::Service), true, false).is_err());
        assert!(may_message_directly(Some(BotKind::Service), false, true).is_ok());
    }
}
