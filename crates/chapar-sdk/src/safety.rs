//! Typed helpers for safety: blocking, contacts, privacy, group invitations, reports, and the
//! operators' moderation requests.

use crate::client::{Client, unexpected};
use crate::error::SdkError;
use chapar_proto::frame::{ConversationRef, UserQuery};
use chapar_proto::{
    AdminAudit, AdminDelete, AdminReports, AdminResolve, AdminSuspend, AuditEntry, ConversationId,
    ConversationInfo, FileReport, FindPeople, Invitation, PresenceInfo, Privacy, Report, Request,
    Response, Sent, Seq, SetPrivacy, UserId, UserInfo, WatchPresence,
};

fn who(handle: impl Into<String>) -> UserQuery {
    UserQuery {
        handle: handle.into().trim_start_matches('@').to_string(),
    }
}

fn ok(r: Response) -> Result<(), SdkError> {
    match r {
        Response::Ok => Ok(()),
        other => Err(unexpected(other)),
    }
}

fn users(r: Response) -> Result<Vec<UserInfo>, SdkError> {
    match r {
        Response::Users(u) => Ok(u),
        other => Err(unexpected(other)),
    }
}

fn privacy(r: Response) -> Result<Privacy, SdkError> {
    match r {
        Response::Privacy(p) => Ok(p),
        other => Err(unexpected(other)),
    }
}

impl Client {
    /// Block a user: they can no longer message this user, add them to groups, or see their
    /// receipts. Blocking twice is not an error.
    pub async fn block(&self, handle: impl Into<String>) -> Result<(), SdkError> {
        ok(self.request(Request::Block(who(handle))).await?)
    }

    pub async fn unblock(&self, handle: impl Into<String>) -> Result<(), SdkError> {
        ok(self.request(Request::Unblock(who(handle))).await?)
    }

    /// The users this user blocks.
    pub async fn blocked(&self) -> Result<Vec<UserInfo>, SdkError> {
        users(self.request(Request::Blocked).await?)
    }

    pub async fn add_contact(&self, handle: impl Into<String>) -> Result<(), SdkError> {
        ok(self.request(Request::AddContact(who(handle))).await?)
    }

    pub async fn remove_contact(&self, handle: impl Into<String>) -> Result<(), SdkError> {
        ok(self.request(Request::RemoveContact(who(handle))).await?)
    }

    pub async fn contacts(&self) -> Result<Vec<UserInfo>, SdkError> {
        users(self.request(Request::Contacts).await?)
    }

    pub async fn privacy(&self) -> Result<Privacy, SdkError> {
        privacy(self.request(Request::Privacy).await?)
    }

    /// Change the settings given; returns all of them as they are now.
    pub async fn set_privacy(&self, change: SetPrivacy) -> Result<Privacy, SdkError> {
        privacy(self.request(Request::SetPrivacy(change)).await?)
    }

    /// People whose handle or display name starts with `query` (`@` first: handles only).
    pub async fn find_people(&self, query: &str) -> Result<Vec<UserInfo>, SdkError> {
        let q = FindPeople {
            query: query.to_string(),
            limit: None,
        };
        match self.request(Request::FindPeople(q)).await? {
            Response::Users(u) => Ok(u),
            other => Err(unexpected(other)),
        }
    }

    /// Watch whether these people are online, replacing what this client watched (empty:
    /// stop). The answer lists those whose "last seen" setting lets me see it; changes come
    /// as [`crate::ClientEvent::Presence`]. A watch lasts as long as the connection: watch
    /// again after each `Connected`.
    pub async fn watch_presence(&self, users: Vec<UserId>) -> Result<Vec<PresenceInfo>, SdkError> {
        match self
            .request(Request::WatchPresence(WatchPresence { users }))
            .await?
        {
            Response::Presence(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }

    /// My messages with a word starting with each word of `query`, newest first (only in
    /// `conversation` when given); the next page: `before` = the last one's `server_time`.
    pub async fn search_messages(
        &self,
        query: &str,
        conversation: Option<ConversationId>,
        before: Option<i64>,
    ) -> Result<Vec<chapar_proto::Message>, SdkError> {
        let q = chapar_proto::SearchMessages {
            query: query.to_string(),
            conversation,
            before,
            limit: None,
        };
        match self.request(Request::SearchMessages(q)).await? {
            Response::Messages(m) => Ok(m),
            other => Err(unexpected(other)),
        }
    }

    /// Group invitations waiting for an answer.
    pub async fn invitations(&self) -> Result<Vec<Invitation>, SdkError> {
        match self.request(Request::Invitations).await? {
            Response::Invitations(i) => Ok(i),
            other => Err(unexpected(other)),
        }
    }

    /// Join the group the invitation is for.
    pub async fn accept_invitation(
        &self,
        conversation: ConversationId,
    ) -> Result<ConversationInfo, SdkError> {
        let r = Request::AcceptInvitation(ConversationRef { conversation });
        match self.request(r).await? {
            Response::Conversation(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    pub async fn decline_invitation(&self, conversation: ConversationId) -> Result<(), SdkError> {
        ok(self
            .request(Request::DeclineInvitation(ConversationRef { conversation }))
            .await?)
    }

    /// Report a message (conversation and seq) or a user (handle); returns the report's id.
    pub async fn report(&self, report: FileReport) -> Result<u64, SdkError> {
        match self.request(Request::Report(report)).await? {
            Response::Reported { id } => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    /// Operators: reports, newest first (only open ones unless `all`).
    pub async fn admin_reports(
        &self,
        all: bool,
        limit: Option<u32>,
    ) -> Result<Vec<Report>, SdkError> {
        match self
            .request(Request::AdminReports(AdminReports { all, limit }))
            .await?
        {
            Response::Reports(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    pub async fn admin_resolve(
        &self,
        report: u64,
        resolution: Option<String>,
    ) -> Result<(), SdkError> {
        ok(self
            .request(Request::AdminResolve(AdminResolve { report, resolution }))
            .await?)
    }

    /// Operators: suspend an account (its sessions end and its connections close).
    pub async fn admin_suspend(
        &self,
        handle: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<(), SdkError> {
        let r = Request::AdminSuspend(AdminSuspend {
            handle: who(handle).handle,
            reason: reason.into(),
        });
        ok(self.request(r).await?)
    }

    pub async fn admin_unsuspend(&self, handle: impl Into<String>) -> Result<(), SdkError> {
        ok(self.request(Request::AdminUnsuspend(who(handle))).await?)
    }

    /// Operators: delete any message for everyone.
    pub async fn admin_delete(
        &self,
        conversation: ConversationId,
        seq: Seq,
        reason: Option<String>,
    ) -> Result<Sent, SdkError> {
        let r = Request::AdminDelete(AdminDelete {
            conversation,
            seq,
            reason,
        });
        match self.request(r).await? {
            Response::Sent(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    /// Operators: the newest entries of the audit log.
    pub async fn admin_audit(&self, limit: Option<u32>) -> Result<Vec<AuditEntry>, SdkError> {
        match self
            .request(Request::AdminAudit(AdminAudit { limit }))
            .await?
        {
            Response::Audit(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }
}
