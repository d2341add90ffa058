//! The command line: global options and subcommands (clap derive), for the `chapar` binary to
//! compose with its own `serve` command.

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Options every client command takes.
#[derive(Args, Clone, Debug)]
pub struct GlobalArgs {
    /// Server address, or a comma-separated list to rotate through (http://, https://, ws://,
    /// wss:// or host:port).
    #[arg(
        long,
        env = "CHAPAR_SERVER",
        global = true,
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// Profile directory: this device's key, session token and sync cursor.
    #[arg(long, env = "CHAPAR_PROFILE", global = true, default_value_os_t = default_profile())]
    pub profile: PathBuf,
    /// Print one JSON object per line instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `$XDG_CONFIG_HOME/chapar`, else `~/.config/chapar`, else `./chapar-profile`.
pub fn default_profile() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("chapar");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => PathBuf::from(h).join(".config").join("chapar"),
        None => PathBuf::from("chapar-profile"),
    }
}

/// The client commands.
#[derive(Subcommand, Clone, Debug)]
pub enum Command {
    /// Create an account with this profile as its first device.
    Register {
        /// The handle others reach you by (with or without a leading @).
        handle: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Invite code, when the server requires one.
        #[arg(long)]
        invite: Option<String>,
    },
    /// Sign in on this new (empty) profile with the account's recovery code, when its devices
    /// are lost.
    Recover {
        handle: String,
        /// The recovery code shown at sign-up (or by `recovery-key`); spaces and dashes optional.
        code: String,
        /// Revoke every other device of the account (a lost or stolen phone).
        #[arg(long)]
        revoke_others: bool,
    },
    /// Make a new recovery code (the old one stops working) and print it.
    RecoveryKey,
    /// Your account: handle, name, bio, devices, whether a recovery code is set.
    Me,
    /// Someone's profile (name and bio).
    Profile { handle: String },
    /// Change your display name and/or bio (`--bio ""` clears it).
    SetProfile {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        bio: Option<String>,
    },
    /// Send a text message. TARGET: @handle (direct) or a conversation id.
    Send {
        target: String,
        text: String,
        /// Seq of the message this replies to.
        #[arg(long)]
        reply_to: Option<u64>,
    },
    /// Manage groups.
    #[command(subcommand)]
    Group(GroupCmd),
    /// List conversations with unread counts.
    Conversations,
    /// Show a conversation's messages. TARGET: @handle or a conversation id. Edits, deletions
    /// and reactions are shown on the message they change (`--json` keeps every log entry).
    History {
        target: String,
        #[arg(long)]
        limit: Option<u32>,
        /// Show messages before this seq.
        #[arg(long)]
        before: Option<u64>,
    },
    /// Search your messages: those with a word starting with each word of QUERY, newest first.
    Search {
        query: String,
        /// Only in this conversation (id, or @handle of a direct chat).
        #[arg(long = "in")]
        conversation: Option<String>,
        /// Older results: messages sent before this server time (Unix ms, from the last result).
        #[arg(long)]
        before: Option<i64>,
    },
    /// Print everything new since the last sync, then exit.
    Sync,
    /// Stream live events until interrupted.
    Follow,
    /// List this account's devices.
    Devices,
    /// Link or revoke devices.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Interactive terminal chat. Type /help in it for the keys and commands: PageUp/PageDown
    /// scroll back (older messages load from the server), Left/Right/Home/End move the cursor,
    /// `/reply SEQ TEXT`, `/edit SEQ TEXT`, `/react SEQ EMOJI`, `/chat @handle`; a message that
    /// starts with `//` is sent with one `/` removed.
    Chat,
    /// List a conversation's members.
    Members { conversation: String },
    /// Forward message SEQ of CONVERSATION to TARGET (a conversation id or @handle), as it is.
    Forward {
        conversation: String,
        seq: u64,
        target: String,
    },
    /// Pin message SEQ at the top of a conversation (without SEQ: unpin).
    Pin {
        conversation: String,
        seq: Option<u64>,
    },
    /// Put a conversation in your archive (`--undo`: take it out); only your list changes.
    Archive {
        conversation: String,
        #[arg(long)]
        undo: bool,
    },
    /// Delete a conversation's history for you; the others keep theirs.
    Clear { conversation: String },
    /// React to a message.
    React {
        conversation: String,
        seq: u64,
        emoji: String,
        /// Take the reaction back.
        #[arg(long)]
        remove: bool,
    },
    /// Edit one of your messages.
    Edit {
        conversation: String,
        seq: u64,
        text: String,
    },
    /// Delete one of your messages.
    Delete {
        conversation: String,
        seq: u64,
        /// Only for you (the others keep it); any message, not only yours.
        #[arg(long)]
        for_me: bool,
    },
    /// Mark a conversation read (up to SEQ, default: everything).
    Read {
        conversation: String,
        seq: Option<u64>,
    },
    /// Create and manage your bots (Telegram-compatible Bot API).
    #[command(subcommand)]
    Bot(BotCmd),
    /// Service accounts: create one, or allow or stop one sending you notifications.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Press a button under a bot's message and show the bot's answer. `history` numbers the
    /// buttons (`1 [Yes]  2 [No]`, counting on across rows).
    Press {
        /// Conversation id or @handle of the direct conversation.
        conversation: String,
        /// The message carrying the button.
        seq: u64,
        /// The button: its label (any case), its number as `history` shows it (1 is the first,
        /// counting row by row), or its callback data.
        button: String,
        /// Seconds to wait for the bot's answer (0: do not wait).
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
    /// Block a user: they cannot message you, add you to groups or see your receipts.
    Block { handle: String },
    /// Unblock a user.
    Unblock { handle: String },
    /// List the users you block.
    Blocked,
    /// Your contacts: add, remove or list (privacy settings can let only contacts reach you).
    #[command(subcommand)]
    Contact(ContactCmd),
    /// Show your privacy settings, or change those given. Each is `everybody`, `contacts` or
    /// `nobody`.
    Privacy {
        /// Who may start a direct chat with you.
        #[arg(long)]
        messages: Option<String>,
        /// Who may add you to a group without asking (others send an invitation).
        #[arg(long)]
        groups: Option<String>,
        /// Who sees when you were last online.
        #[arg(long)]
        last_seen: Option<String>,
        /// Who may find you by the start of your handle or name (`chapar find`).
        #[arg(long)]
        findable: Option<String>,
    },
    /// Find people by the start of their handle or display name (`@` first: handles only).
    Find { query: String },
    /// Whether people are online, or when they were last seen (as their settings allow).
    Presence {
        /// Handles (`@` optional), at most 50.
        #[arg(required = true)]
        handles: Vec<String>,
        /// Keep watching and print each change until interrupted.
        #[arg(long)]
        follow: bool,
    },
    /// List group invitations waiting for your answer.
    Invitations,
    /// Accept a group invitation (join the group).
    Accept { conversation: String },
    /// Decline a group invitation.
    Decline { conversation: String },
    /// Report a message (CONVERSATION SEQ) or a user (@handle) to the server's operators.
    Report {
        /// `@handle`, or a conversation id followed by a message seq.
        target: String,
        seq: Option<u64>,
        /// spam, abuse, illegal, impersonation or other.
        #[arg(long, default_value = "spam")]
        reason: String,
        /// What the operators should know.
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Subcommand, Clone, Debug)]
pub enum ContactCmd {
    Add { handle: String },
    Remove { handle: String },
    List,
}

#[derive(Subcommand, Clone, Debug)]
/// `chapar admin …` for the server's operators, over the protocol (the `chapar` binary adds
/// `admin grant|revoke`, which work on the store directly).
pub enum AdminCmd {
    /// Reports, newest first (open ones; `--all` for resolved ones too).
    Reports {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Close a report, with what was done.
    Resolve {
        report: u64,
        resolution: Option<String>,
    },
    /// Suspend an account: its sessions end, its connections close, it cannot sign in.
    Suspend { handle: String, reason: String },
    /// Lift a suspension.
    Unsuspend { handle: String },
    /// Delete any message for everyone.
    Delete {
        conversation: String,
        seq: u64,
        #[arg(long)]
        reason: Option<String>,
    },
    /// The newest entries of the audit log.
    Audit {
        #[arg(long)]
        limit: Option<u32>,
    },
}

#[derive(Subcommand, Clone, Debug)]
pub enum BotCmd {
    /// Create a bot owned by you; prints its token `<bot id>:<secret>` (shown once).
    Create {
        handle: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List your bots and service accounts.
    List,
    /// Issue a new token (the old one stops working at once); prints it.
    Token { handle: String },
    /// Revoke the token without issuing a new one.
    Revoke { handle: String },
    /// Privacy mode: `on` (default: in groups the bot sees only commands, replies to it and
    /// mentions of it) or `off` (it sees every message).
    Privacy { handle: String, mode: String },
}

#[derive(Subcommand, Clone, Debug)]
pub enum ServiceCmd {
    /// Create a service account owned by you; prints its token (shown once).
    Create {
        handle: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Allow the service account to send you notifications.
    Allow { handle: String },
    /// Stop the service account sending you notifications.
    Deny { handle: String },
}

#[derive(Subcommand, Clone, Debug)]
pub enum GroupCmd {
    /// Create a group: TITLE then the members' @handles. Prints the new conversation id.
    Create { title: String, members: Vec<String> },
    /// Add members to a group.
    Add {
        conversation: String,
        #[arg(required = true)]
        handles: Vec<String>,
    },
    /// Remove a member from a group.
    Remove {
        conversation: String,
        handle: String,
    },
    /// Leave a group.
    Leave { conversation: String },
    /// Rename a group.
    Rename { conversation: String, title: String },
    /// Set a group's description (an empty one clears it).
    Describe {
        conversation: String,
        description: String,
    },
    /// Show a group: title, description, members.
    Info { conversation: String },
}

#[derive(Subcommand, Clone, Debug)]
pub enum DeviceCmd {
    /// Without CODE on a signed-in profile: print a one-time code to link a new device.
    /// With CODE on an empty profile: link this new device to the account.
    Link { code: Option<String> },
    /// Revoke a device (its sessions stop working at once).
    Revoke { id: i64 },
    /// Rename a device (the id `devices` shows).
    Rename { id: i64, name: String },
}
