//! Bot API methods on the bot and its chats: getMe, getChat, getChatMember,
//! getChatMemberCount, leaveChat, setMyCommands, getMyCommands, deleteMyCommands.

use super::Ctx;
use super::messages::{chat_id, is_private};
use super::params::Params;
use super::reply::ApiError;
use super::types::{View, chat, chat_member, user};
use chapar_core::Error;
use chapar_core::bots::{BotChange, MenuCommand};
use chapar_core::store::Command;
use chapar_proto::{ConversationInfo, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn get_me(ctx: &Ctx<'_>) -> Value {
    let mut v = user(&ctx.bot.principal.user, true);
    v["can_join_groups"] = json!(true);
    v["can_read_all_group_messages"] = json!(ctx.bot.read_all);
    v["supports_inline_queries"] = json!(false);
    v["can_connect_to_business"] = json!(false);
    v["has_main_web_app"] = json!(false);
    v
}

/// The chat named by `chat_id`, which the bot must be in.
async fn info(view: &mut View<'_>, p: &Params) -> Result<ConversationInfo, ApiError> {
    let conv = view.conversation(chat_id(p, "chat_id")?).await?;
    view.info(conv)
        .await?
        .ok_or_else(|| ApiError::forbidden("bot is not a member of the group chat"))
}

pub async fn get_chat(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let bot = ctx.bot.clone();
    let mut view = View::new(ctx.app, &bot);
    let info = info(&mut view, p).await?;
    let mut v = chat(&info);
    // Fields Telegram's ChatFullInfo always has (libraries require them).
    v["accent_color_id"] = json!(0);
    v["max_reaction_count"] = json!(11);
    v["accepted_gift_types"] = json!({
        "unlimited_gifts": false, "limited_gifts": false, "unique_gifts": false,
        "premium_subscription": false, "gifts_from_channels": false,
    });
    Ok(v)
}

pub async fn get_chat_member(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let bot = ctx.bot.clone();
    let mut view = View::new(ctx.app, &bot);
    let info = info(&mut view, p).await?;
    let who = UserId(p.int("user_id")?);
    let members = ctx.app.store.members(&bot.principal, info.id).await?;
    let m = members
        .into_iter()
        .find(|m| m.user.id == who)
        .ok_or_else(|| ApiError::bad_request("user not found"))?;
    Ok(chat_member(
        user(&m.user, m.user.id == bot.id()),
        Some(m.role),
        false,
    ))
}

pub async fn get_chat_member_count(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let bot = ctx.bot.clone();
    let mut view = View::new(ctx.app, &bot);
    Ok(json!(info(&mut view, p).await?.member_count))
}

pub async fn leave_chat(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let bot = ctx.bot.clone();
    let mut view = View::new(ctx.app, &bot);
    let info = info(&mut view, p).await?;
    if is_private(info.kind) {
        return Err(ApiError::bad_request(
            "chat member status can't be changed in private chats",
        ));
    }
    ctx.app
        .store
        .execute(
            &bot.principal,
            Command::Leave {
                conversation: info.id,
            },
        )
        .await?;
    Ok(json!(true))
}

#[derive(Deserialize)]
struct Scope {
    #[serde(rename = "type")]
    kind: String,
}

/// Whether the call is about the default command list (no scope or `default`, no language).
/// Lists for other scopes and languages are accepted and not kept (see docs/bots.md).
fn default_list(p: &Params) -> Result<bool, ApiError> {
    let scope = p.json::<Scope>("scope")?;
    let language = p.opt_string("language_code")?.unwrap_or_default();
    Ok(scope.is_none_or(|s| s.kind == "default") && language.is_empty())
}

pub async fn set_my_commands(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let commands = p
        .json::<Vec<MenuCommand>>("commands")?
        .ok_or_else(|| ApiError::bad_request("commands is empty"))?;
    chapar_core::bots::menu_commands(&commands).map_err(|e| match e {
        Error::Invalid(m) | Error::TooLarge(m) => ApiError::bad_request(m),
        other => other.into(),
    })?;
    if default_list(p)? {
        ctx.app
            .store
            .update_bot(&ctx.bot.principal, BotChange::Commands(commands.clone()))
            .await?;
        ctx.bot.commands = commands;
    }
    Ok(json!(true))
}

pub async fn get_my_commands(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    if default_list(p)? {
        Ok(json!(ctx.bot.commands))
    } else {
        Ok(json!([]))
    }
}

pub async fn delete_my_commands(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    if default_list(p)? {
        ctx.app
            .store
            .update_bot(&ctx.bot.principal, BotChange::Commands(Vec::new()))
            .await?;
        ctx.bot.commands.clear();
    }
    Ok(json!(true))
}
