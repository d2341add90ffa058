//! chapar-cli: the terminal client, as a library the `chapar` binary composes with `serve`.
//!
//! * [`args`]: [`GlobalArgs`] and [`Command`] (clap derive).
//! * [`profile`]: the profile directory (device key, token, sync cursor), written atomically.
//! * [`output`]: human-readable or `--json` lines.
//! * [`commands`]: one module per family of commands, all on `chapar-sdk`.
//! * [`chat`]: the interactive terminal UI (ratatui).

pub mod args;
pub mod chat;
pub mod commands;
pub mod output;
pub mod profile;

pub use args::{
    AdminCmd, BotCmd, Command, ContactCmd, DeviceCmd, GlobalArgs, GroupCmd, ServiceCmd,
};

use output::Printer;

/// Run one client command. Errors carry a clear message for stderr (the binary exits non-zero).
pub async fn run(global: GlobalArgs, command: Command) -> anyhow::Result<()> {
    use commands::{account, bots, feed, groups, messages, safety};
    let out = Printer { json: global.json };
    let g = &global;
    match command {
        Command::Register {
            handle,
            name,
            invite,
        } => account::register(g, out, handle, name, invite).await,
        Command::Recover {
            handle,
            code,
            revoke_others,
        } => account::recover(g, out, handle, code, revoke_others).await,
        Command::RecoveryKey => account::recovery_key(g, out).await,
        Command::Me => account::me(g, out).await,
        Command::Profile { handle } => account::profile(g, out, handle).await,
        Command::SetProfile { name, bio } => account::set_profile(g, out, name, bio).await,
        Command::Send {
            target,
            text,
            reply_to,
        } => messages::send(g, out, target, text, reply_to).await,
        Command::Group(cmd) => groups::group(g, out, cmd).await,
        Command::Conversations => feed::conversations(g, out).await,
        Command::History {
            target,
            limit,
            before,
        } => messages::history(g, out, target, limit, before).await,
        Command::Sync => feed::sync(g, out).await,
        Command::Follow => feed::follow(g, out).await,
        Command::Devices => account::devices(g, out).await,
        Command::Device(cmd) => account::device(g, out, cmd).await,
        Command::Chat => chat::run(g).await,
        Command::Members { conversation } => messages::members(g, out, conversation).await,
        Command::Forward {
            conversation,
            seq,
            target,
        } => messages::forward(g, out, conversation, seq, target).await,
        Command::Pin { conversation, seq } => messages::pin(g, out, conversation, seq).await,
        Command::Archive { conversation, undo } => {
            messages::archive(g, out, conversation, !undo).await
        }
        Command::Clear { conversation } => messages::clear(g, out, conversation).await,
        Command::React {
            conversation,
            seq,
            emoji,
            remove,
        } => messages::react(g, out, conversation, seq, emoji, remove).await,
        Command::Edit {
            conversation,
            seq,
            text,
        } => messages::edit(g, out, conversation, seq, text).await,
        Command::Delete {
            conversation,
            seq,
            for_me,
        } => messages::delete(g, out, conversation, seq, for_me).await,
        Command::Read { conversation, seq } => messages::read(g, out, conversation, seq).await,
        Command::Bot(cmd) => bots::bot(g, out, cmd).await,
        Command::Service(cmd) => bots::service(g, out, cmd).await,
        Command::Press {
            conversation,
            seq,
            button,
            wait,
        } => bots::press(g, out, conversation, seq, button, wait).await,
        Command::Block { handle } => safety::block(g, out, handle, true).await,
        Command::Unblock { handle } => safety::block(g, out, handle, false).await,
        Command::Blocked => safety::blocked(g, out).await,
        Command::Contact(cmd) => safety::contact(g, out, cmd).await,
        Command::Privacy {
            messages,
            groups,
            last_seen,
            findable,
        } => safety::privacy(g, out, messages, groups, last_seen, findable).await,
        Command::Find { query } => safety::find(g, out, query).await,
        Command::Search {
            query,
            conversation,
            before,
        } => messages::search(g, out, query, conversation, before).await,
        Command::Presence { handles, follow } => safety::presence(g, out, handles, follow).await,
        Command::Invitations => safety::invitations(g, out).await,
        Command::Accept { conversation } => safety::answer(g, out, conversation, true).await,
        Command::Decline { conversation } => safety::answer(g, out, conversation, false).await,
        Command::Report {
            target,
            seq,
            reason,
            comment,
        } => safety::report(g, out, target, seq, reason, comment).await,
    }
}

/// Run an operator command (`chapar admin …`) over the protocol.
pub async fn admin(global: GlobalArgs, cmd: AdminCmd) -> anyhow::Result<()> {
    let out = Printer { json: global.json };
    commands::safety::admin(&global, out, cmd).await
}
