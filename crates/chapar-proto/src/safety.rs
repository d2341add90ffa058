//! Safety: blocking, contacts, privacy settings, group invitations, reports, and the
//! operator's (moderation) requests with their audit log.

use crate::ids::{ConversationId, Seq};
use crate::model::UserInfo;
use serde::{Deserialize, Serialize};

/// Who a privacy setting lets in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    #[default]
    Everybody,
    /// People in my contacts list.
    Contacts,
    Nobody,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Everybody => "everybody",
            Audience::Contacts => "contacts",
            Audience::Nobody => "nobody",
        }
    }

    pub fn parse(s: &str) -> Option<Audience> {
        Some(match s {
            "everybody" => Audience::Everybody,
            "contacts" => Audience::Contacts,
            "nobody" => Audience::Nobody,
            _ => return None,
        })
    }
}

/// A person's privacy settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Privacy {
    /// Who may start a direct conversation with me (those already in one keep it).
    pub messages: Audience,
    /// Who may add me to a group; anyone else sends an invitation I accept or decline
    /// (`nobody`: every group needs my acceptance).
    pub groups: Audience,
    /// Who may see when I was last online.
    pub last_seen: Audience,
    /// Who may find me by a prefix of my handle or name (`find_people`); my exact handle
    /// always works.
    pub findable: Audience,
}

/// A change of some privacy settings (absent ones stay).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetPrivacy {
    pub messages: Option<Audience>,
    pub groups: Option<Audience>,
    pub last_seen: Option<Audience>,
    pub findable: Option<Audience>,
}

/// Find people by the start of their handle or display name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindPeople {
    /// At least 2 characters; a leading `@` means the handle only.
    pub query: String,
    /// At most this many (default 10, at most 20).
    pub limit: Option<u32>,
}

/// One of a person's own settings or lists, changed from one of their devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// The people I block (`blocked`).
    Blocked,
    /// My contacts (`contacts`).
    Contacts,
    /// My privacy settings (`privacy`).
    Privacy,
    /// The group invitations waiting for my answer (`invitations`).
    Invitations,
    /// My display name or bio (`me`).
    Profile,
    /// My devices (`devices`): one was linked, revoked or recovered.
    Devices,
    /// My conversation list (`conversations`): one was archived, taken out or cleared.
    Chats,
}

/// Ephemeral, to every device of the person: `what` changed; read it again. A device that
/// was offline reads everything at its next sign-in, so nothing is lost when this is missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChanged {
    pub what: Setting,
}

/// Someone asked me to join a group my privacy settings do not let them add me to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub conversation: ConversationId,
    pub title: String,
    pub inviter: UserInfo,
    pub created_at: i64,
}

/// Why something is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    Spam,
    /// Harassment, threats, hate.
    Abuse,
    /// Content against the law.
    Illegal,
    /// Pretending to be someone else.
    Impersonation,
    Other,
}

impl ReportReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportReason::Spam => "spam",
            ReportReason::Abuse => "abuse",
            ReportReason::Illegal => "illegal",
            ReportReason::Impersonation => "impersonation",
            ReportReason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<ReportReason> {
        Some(match s {
            "spam" => ReportReason::Spam,
            "abuse" => ReportReason::Abuse,
            "illegal" => ReportReason::Illegal,
            "impersonation" => ReportReason::Impersonation,
            "other" => ReportReason::Other,
            _ => return None,
        })
    }
}

/// Report a message (`conversation` and `seq`) or a user (`handle`) to the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    #[serde(default)]
    pub conversation: Option<ConversationId>,
    #[serde(default)]
    pub seq: Option<Seq>,
    #[serde(default)]
    pub handle: Option<String>,
    pub reason: ReportReason,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A report as the operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub id: u64,
    pub reporter: UserInfo,
    /// The reported user (the message's sender, for a message).
    pub user: UserInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
    /// The message's text when it was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub reason: ReportReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

/// One operator action, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    /// The operator (absent for actions taken on the server's command line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<UserInfo>,
    /// `suspend`, `unsuspend`, `delete_message`, `resolve_report`, `grant_operator`, ...
    pub action: String,
    /// What it was done to, readable (`@handle`, `conversation 3 seq 7`, `report 2`).
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    pub at: i64,
}

/// Operator: the reports, open ones only unless `all`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdminReports {
    pub all: bool,
    pub limit: Option<u32>,
}

/// Operator: close a report, saying what was done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminResolve {
    pub report: u64,
    #[serde(default)]
    pub resolution: Option<String>,
}

/// Operator: suspend an account (every session ends on every node; the handle stays taken).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSuspend {
    pub handle: String,
    pub reason: String,
}

/// Operator: delete a message for everyone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminDelete {
    pub conversation: ConversationId,
    pub seq: Seq,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Operator: the newest audit entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdminAudit {
    pub limit: Option<u32>,
}
