//! Limits enforced by the rules and the gateway. All of them are configuration.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest WebSocket frame (message) a client may send, in bytes.
    pub max_frame_bytes: u32,
    /// Longest `text`, in Unicode scalar values.
    pub max_text_chars: u32,
    /// Largest opaque `data` body, in bytes.
    pub max_body_bytes: u32,
    /// Most members a group may have.
    pub max_group_members: u32,
    /// Longest group title, in characters.
    pub max_title_chars: u32,
    /// Longest display name, in characters.
    pub max_name_chars: u32,
    /// Characters of a profile's bio (one line).
    pub max_bio_chars: u32,
    /// Requests per second per connection (token bucket refill rate).
    pub requests_per_second: u32,
    /// Burst of requests a connection may make at once (token bucket size).
    pub request_burst: u32,
    /// Most items in one history page, sync page or conversation list.
    pub max_page: u32,
    /// Most bytes (estimated) of messages in one history or sync page.
    pub max_page_bytes: u32,
    /// Groups up to this size get delivery/read receipts in every member's feed; larger ones
    /// keep the markers (readable with `members`) without fanning them out.
    pub receipts_fanout_max_members: u32,
    /// Most devices one account may have.
    pub max_devices: u32,
    /// A session unused for this many days stops working (0: never).
    pub session_idle_days: u32,
    /// For this many hours after sign-up an account has the lower `new_account_*` limits.
    pub new_account_hours: u32,
    /// New conversations (direct chats and groups) one account may start per day.
    pub new_chats_per_day: u32,
    /// The same, for an account within its first `new_account_hours`.
    pub new_account_new_chats_per_day: u32,
    /// Groups one account may join (by accepting invitations) per day.
    pub groups_joined_per_day: u32,
    /// Reports one account may file per day.
    pub reports_per_day: u32,
    /// Group invitations one person may have waiting; inviting them beyond it is refused until
    /// they accept or decline some.
    pub max_pending_invitations: u32,
}

impl Limits {
    /// True while an account signed up at `since` is within its first `new_account_hours` at
    /// `now` (both Unix ms): the lower `new_account_*` limits apply.
    pub fn is_new_account(&self, since: i64, now: i64) -> bool {
        now - since < i64::from(self.new_account_hours) * 3_600_000
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 128 * 1024,
            max_text_chars: 4096,
            max_body_bytes: 64 * 1024,
            max_group_members: 1000,
            max_title_chars: 128,
            max_name_chars: 64,
            max_bio_chars: 140,
            requests_per_second: 50,
            request_burst: 200,
            max_page: 500,
            max_page_bytes: 1024 * 1024,
            receipts_fanout_max_members: 100,
            max_devices: 10,
            session_idle_days: 180,
            new_account_hours: 24,
            new_chats_per_day: 200,
            new_account_new_chats_per_day: 20,
            groups_joined_per_day: 100,
            reports_per_day: 100,
            max_pending_invitations: 100,
        }
    }
}

impl Limits {
    /// The part of the limits clients are told in `hello`.
    pub fn to_wire(&self) -> chapar_proto::Limits {
        chapar_proto::Limits {
            max_frame_bytes: self.max_frame_bytes,
            max_text_chars: self.max_text_chars,
            max_body_bytes: self.max_body_bytes,
            max_group_members: self.max_group_members,
            requests_per_second: self.requests_per_second,
            max_page: self.max_page,
        }
    }
}
