//! chapar's objects as Telegram's: users, chats, messages, chat members.
//!
//! Numeric ids, as Telegram: a user's id is the chapar user id; a private chat's id is the other
//! person's user id (so `send_message(chat_id=user.id)` works, as bots expect); a group's id is
//! the negative conversation id; `message_id` is the message's seq in its conversation; dates
//! are Unix seconds. A [`View`] reads what a bot may see (always as the bot, so the store's
//! membership rules apply) and caches it for one request.

use super::format;
use super::reply::ApiError;
use crate::state::App;
use chapar_core::bots::Bot;
use chapar_core::store::Target;
use chapar_proto::{
    ConversationId, ConversationInfo, ConversationKind, Message, Role, Seq, UserId, UserInfo,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The Telegram chat id of a conversation as `info` describes it.
pub fn chat_id(info: &ConversationInfo) -> i64 {
    match (&info.kind, &info.peer) {
        (ConversationKind::Direct, Some(peer)) => peer.id.0,
        _ => -info.id.0,
    }
}

/// A Telegram `User`.
pub fn user(u: &UserInfo, is_bot: bool) -> Value {
    let first = if u.display_name.trim().is_empty() {
        u.handle.clone()
    } else {
        u.display_name.clone()
    };
    json!({"id": u.id.0, "is_bot": is_bot, "first_name": first, "username": u.handle})
}

/// A Telegram `Chat`.
pub fn chat(info: &ConversationInfo) -> Value {
    match (&info.kind, &info.peer) {
        (ConversationKind::Direct, Some(peer)) => {
            let mut v = user(peer, false);
            if let Some(o) = v.as_object_mut() {
                o.remove("is_bot");
                o.insert("type".into(), json!("private"));
            }
            v
        }
        _ => json!({"id": -info.id.0, "type": "group", "title": info.title}),
    }
}

/// A Telegram `ChatMember` for a member with `role` (`None`: not a member).
pub fn chat_member(user: Value, role: Option<Role>, kicked: bool) -> Value {
    match role {
        None if kicked => json!({"status": "kicked", "user": user, "until_date": 0}),
        None => json!({"status": "left", "user": user}),
        Some(Role::Owner) => json!({"status": "creator", "user": user, "is_anonymous": false}),
        Some(Role::Admin) => json!({
            "status": "administrator", "user": user, "can_be_edited": false,
            "is_anonymous": false, "can_manage_chat": true, "can_delete_messages": true,
            "can_manage_video_chats": false, "can_restrict_members": true,
            "can_promote_members": false, "can_change_info": true, "can_invite_users": true,
            "can_post_stories": false, "can_edit_stories": false, "can_delete_stories": false,
        }),
        Some(_) => json!({"status": "member", "user": user}),
    }
}

pub fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// What a bot sees, read as the bot and cached for one request or one delivery.
pub struct View<'a> {
    pub app: &'a Arc<App>,
    pub bot: &'a Bot,
    chats: HashMap<ConversationId, Option<ConversationInfo>>,
    names: HashMap<ConversationId, HashMap<UserId, UserInfo>>,
    bots: HashMap<UserId, bool>,
}

impl<'a> View<'a> {
    pub fn new(app: &'a Arc<App>, bot: &'a Bot) -> View<'a> {
        View {
            app,
            bot,
            chats: HashMap::new(),
            bots: HashMap::new(),
            names: HashMap::new(),
        }
    }

    /// The conversation as the bot sees it (`None` when the bot is not a member any more).
    pub async fn info(
        &mut self,
        conv: ConversationId,
    ) -> Result<Option<ConversationInfo>, ApiError> {
        if let Some(c) = self.chats.get(&conv) {
            return Ok(c.clone());
        }
        let info = match self.app.store.conversation(&self.bot.principal, conv).await {
            Ok(i) => Some(i),
            Err(chapar_core::Error::Forbidden(_)) => None,
            Err(e) => return Err(e.into()),
        };
        self.chats.insert(conv, info.clone());
        Ok(info)
    }

    /// The Telegram chat of a conversation, with a bare one when the bot left it.
    pub async fn chat(&mut self, conv: ConversationId) -> Result<Value, ApiError> {
        Ok(match self.info(conv).await? {
            Some(info) => chat(&info),
            None => json!({"id": -conv.0, "type": "group"}),
        })
    }

    /// A user as seen in `conv` (display names come from its member list).
    pub async fn user_in(
        &mut self,
        conv: ConversationId,
        id: UserId,
        handle: &str,
    ) -> Result<Value, ApiError> {
        if id == self.bot.id() {
            return Ok(user(&self.bot.principal.user, true));
        }
        if !self.names.contains_key(&conv) {
            let names = match self.app.store.members(&self.bot.principal, conv).await {
                Ok(list) => list.into_iter().map(|m| (m.user.id, m.user)).collect(),
                Err(chapar_core::Error::Forbidden(_)) => HashMap::new(),
                Err(e) => return Err(e.into()),
            };
            self.names.insert(conv, names);
        }
        let known = self.names.get(&conv).and_then(|n| n.get(&id)).cloned();
        let info = known.unwrap_or_else(|| UserInfo {
            id,
            handle: handle.to_string(),
            display_name: handle.to_string(),
        });
        let is_bot = self.is_bot(id).await?;
        Ok(user(&info, is_bot))
    }

    /// Whether `id` is a bot or service account (bots never get each other's messages, as on
    /// Telegram: two bots cannot answer each other forever).
    pub async fn is_bot(&mut self, id: UserId) -> Result<bool, ApiError> {
        if id == self.bot.id() {
            return Ok(true);
        }
        if let Some(b) = self.bots.get(&id) {
            return Ok(*b);
        }
        let b = self.app.store.bot(id).await?.is_some();
        self.bots.insert(id, b);
        Ok(b)
    }

    /// One message of `conv` as the bot may see it, with its current state.
    pub async fn load(
        &mut self,
        conv: ConversationId,
        seq: Seq,
    ) -> Result<Option<Message>, ApiError> {
        match self
            .app
            .store
            .history(
                &self.bot.principal,
                Target::Conversation(conv),
                Some(seq + 1),
                1,
            )
            .await
        {
            Ok(page) => Ok(page.into_iter().find(|m| m.seq == seq)),
            Err(chapar_core::Error::Forbidden(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A Telegram `Message` (without `reply_to_message`).
    pub async fn message(&mut self, m: &Message) -> Result<Value, ApiError> {
        let from = self
            .user_in(m.conversation, m.sender, &m.sender_handle)
            .await?;
        let chat = self.chat(m.conversation).await?;
        let mut v = json!({
            "message_id": m.seq,
            "from": from,
            "date": seconds(m.server_time),
            "chat": chat,
        });
        if let Some(text) = &m.text {
            v["text"] = json!(text);
            let entities = format::with_detected(text, &m.entities);
            if !entities.is_empty() {
                v["entities"] = json!(entities);
            }
        }
        if let Some(markup) = &m.reply_markup {
            v["reply_markup"] = json!(markup);
        }
        if let Some(e) = m.edited_at {
            v["edit_date"] = json!(seconds(e));
        }
        Ok(v)
    }

    /// A message with the one it replies to (`reply_to_message`), as updates carry them.
    pub async fn message_with_reply(&mut self, m: &Message) -> Result<Value, ApiError> {
        let mut v = self.message(m).await?;
        if let Some(r) = m.reply_to
            && let Some(original) = self.load(m.conversation, r).await?
            && !original.deleted
        {
            v["reply_to_message"] = self.message(&original).await?;
        }
        Ok(v)
    }

    /// Resolve a Telegram chat id to the conversation: negative ids are groups; a positive id
    /// is the private chat with that user, which must exist (people start conversations with
    /// bots, not the other way round).
    pub async fn conversation(&mut self, chat_id: i64) -> Result<ConversationId, ApiError> {
        if chat_id < 0 {
            return Ok(ConversationId(chat_id.saturating_neg()));
        }
        if chat_id == 0 {
            return Err(ApiError::bad_request("chat not found"));
        }
        match self
            .app
            .store
            .direct_conversation(&self.bot.principal, UserId(chat_id))
            .await?
        {
            Some(c) => Ok(c),
            None => Err(ApiError::forbidden(
                "bot can't initiate conversation with a user",
            )),
        }
    }
}
