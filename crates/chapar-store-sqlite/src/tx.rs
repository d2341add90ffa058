//! The storage interface ([`Tx`]) on one SQLite connection: inside the writer's batch
//! transaction and the job's savepoint for writes, inside one read transaction for reads.
//!
//! Statements are cached prepared statements. A message's fan-out to its members' feeds is two
//! set-based statements whatever the conversation's size (a statement per member cost ~50 µs
//! each in a group of 10,000, most of it SQLite opening and closing a statement journal).
//! SQLite has one writer, so "locking" a conversation is reading it: nothing else writes.

use crate::Db;
use chapar_core::bots::{Bot, MenuCommand, Webhook};
use chapar_core::columns::{
    encode, json, kind_str, num, parse_kind, parse_role, rich_columns, sql,
};
use chapar_core::storage::{
    Account, AccountUpdate, Appended, BotKey, BotUpdate, ChatState, ConvLock, ConvRow, Entry,
    FeedItem, FeedRow, LockRow, MemberRow, MessageChange, NewAudit, NewConversation, NewReport,
    NewUser, Recipients, Relation, RelationKind, SessionRow, Summary, Tx,
};
use chapar_core::store::{Principal, SecretHash};
use chapar_core::{Error, Limits, Result};
use chapar_proto::{
    AuditEntry, BotKind, Bytes, CallbackQuery, ConversationId, ConversationKind, DeviceId,
    DeviceInfo, Entity, Event, Forwarded, Invitation, MemberInfo, Message, MessageKind, Privacy,
    Pts, ReactionCount, Receipt, ReplyMarkup, Report, ReportReason, Role, Seq, SystemEvent, UserId,
    UserInfo,
};
use rusqlite::{Connection, OptionalExtension, Row, ToSql};

/// Columns read by [`message_row`]; the query aliases messages as `m` and joins users as `u`.
macro_rules! message_columns {
    () => {
        "m.conversation_id, m.seq, m.sender_id, u.handle, m.sender_device, m.client_id, \
         m.server_time, m.kind, m.content_type, m.text, m.data, m.reply_to, m.target, m.remove, \
         m.system, m.edited_at, m.deleted, m.entities, m.reply_markup, u.display_name, m.forward"
    };
}

/// One transaction's view of the database.
pub(crate) struct SqliteTx<'a> {
    conn: &'a Connection,
    now: i64,
    limits: &'a Limits,
}

impl<'a> SqliteTx<'a> {
    pub fn new(conn: &'a Connection, now: i64, limits: &'a Limits) -> Self {
        SqliteTx { conn, now, limits }
    }

    fn exec(&self, sql: &str, p: &[&dyn ToSql]) -> Result<usize> {
        self.conn.prepare_cached(sql).db()?.execute(p).db()
    }

    fn opt<T>(
        &self,
        sql: &str,
        p: &[&dyn ToSql],
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        self.conn
            .prepare_cached(sql)
            .db()?
            .query_row(p, f)
            .optional()
            .db()
    }

    fn all<T>(
        &self,
        sql: &str,
        p: &[&dyn ToSql],
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).db()?;
        let rows = stmt.query_map(p, f).db()?;
        rows.collect::<rusqlite::Result<Vec<_>>>().db()
    }

    fn conv_row(&self, id: ConversationId) -> Result<Option<ConvRow>> {
        self.opt(
            "SELECT id, kind, title, last_seq, updated_at, blocked, pinned_seq FROM conversations
             WHERE id = ?1",
            &[&id.0],
            |r| conv_row(r, 0),
        )
    }

    fn member_row(&self, conv: ConversationId, user: UserId) -> Result<Option<MemberRow>> {
        self.opt(
            "SELECT role, joined_seq, delivered_seq, read_seq FROM members
             WHERE conversation_id = ?1 AND user_id = ?2",
            &[&conv.0, &user.0],
            |r| member_row(r, 0),
        )
    }

    fn reactions(&self, conv: ConversationId, seq: Seq) -> Result<Vec<ReactionCount>> {
        self.all(
            "SELECT emoji, COUNT(*) AS n FROM reactions WHERE conversation_id = ?1 AND seq = ?2
             GROUP BY emoji ORDER BY n DESC, emoji",
            &[&conv.0, &sql(seq)],
            |r| {
                Ok(ReactionCount {
                    emoji: r.get(0)?,
                    count: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
                })
            },
        )
    }

    fn with_reactions(&self, mut m: Message) -> Result<Message> {
        if m.kind == MessageKind::Text {
            m.reactions = self.reactions(m.conversation, m.seq)?;
        }
        Ok(m)
    }

    fn load_message(&self, conv: ConversationId, seq: Seq) -> Result<Option<Message>> {
        let found = self.opt(
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m LEFT JOIN users u ON u.id = m.sender_id
                 WHERE m.conversation_id = ?1 AND m.seq = ?2"
            ),
            &[&conv.0, &sql(seq)],
            message_row,
        )?;
        found.map(|m| self.with_reactions(m)).transpose()
    }

    fn principal_of(&self, device: DeviceId) -> Result<Option<Principal>> {
        self.opt(
            "SELECT u.id, u.handle, u.display_name, u.created_at
             FROM devices d JOIN users u ON u.id = d.user_id
             WHERE d.id = ?1 AND d.revoked = 0",
            &[&device.0],
            |r| {
                Ok(Principal {
                    user: user_row(r, 0)?,
                    device,
                    since: r.get(3)?,
                })
            },
        )
    }

    fn bot_where(&self, condition: &str, value: &dyn ToSql) -> Result<Option<(Bot, bool)>> {
        let query = format!(
            "SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.user_id WHERE {condition}"
        );
        self.opt(&query, &[value], bot_row)
    }
}

const BOT_COLUMNS: &str = "u.id, u.handle, u.display_name, b.device_id, b.kind, b.owner_id, \
    b.read_all, b.commands, b.webhook, b.allowed_updates, b.confirmed_pts, b.created_at, \
    b.token_hash IS NOT NULL";

fn user_row(r: &Row<'_>, at: usize) -> rusqlite::Result<UserInfo> {
    Ok(UserInfo {
        id: UserId(r.get(at)?),
        handle: r.get(at + 1)?,
        display_name: r.get(at + 2)?,
    })
}

fn conv_row(r: &Row<'_>, at: usize) -> rusqlite::Result<ConvRow> {
    Ok(ConvRow {
        id: ConversationId(r.get(at)?),
        kind: parse_kind(&r.get::<_, String>(at + 1)?),
        title: r.get(at + 2)?,
        last_seq: num(r.get(at + 3)?),
        updated_at: r.get(at + 4)?,
        blocked: r.get(at + 5)?,
        pinned: r.get::<_, Option<i64>>(at + 6)?.map(num),
    })
}

/// A member row at `at`, `None` when its role column is NULL (an outer join found no member).
fn opt_member_row(r: &Row<'_>, at: usize) -> rusqlite::Result<Option<MemberRow>> {
    match r.get::<_, Option<String>>(at)? {
        Some(_) => member_row(r, at).map(Some),
        None => Ok(None),
    }
}

fn member_row(r: &Row<'_>, at: usize) -> rusqlite::Result<MemberRow> {
    Ok(MemberRow {
        role: parse_role(&r.get::<_, String>(at)?),
        joined_seq: num(r.get(at + 1)?),
        delivered_seq: num(r.get(at + 2)?),
        read_seq: num(r.get(at + 3)?),
    })
}

/// A message row with its current state (edit, deletion); reactions are added separately.
fn message_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        conversation: ConversationId(r.get(0)?),
        seq: num(r.get(1)?),
        sender: UserId(r.get(2)?),
        sender_handle: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        sender_device: DeviceId(r.get(4)?),
        client_id: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
        server_time: r.get(6)?,
        kind: MessageKind::parse(&r.get::<_, String>(7)?),
        content_type: r.get(8)?,
        text: r.get(9)?,
        data: r.get::<_, Option<Vec<u8>>>(10)?.map(Bytes),
        reply_to: r.get::<_, Option<i64>>(11)?.map(num),
        target: r.get::<_, Option<i64>>(12)?.map(num),
        remove: r.get(13)?,
        system: json::<SystemEvent>(r.get(14)?),
        edited_at: r.get(15)?,
        deleted: r.get(16)?,
        reactions: Vec::new(),
        entities: json::<Vec<Entity>>(r.get(17)?).unwrap_or_default(),
        reply_markup: json::<ReplyMarkup>(r.get(18)?),
        sender_name: r.get::<_, Option<String>>(19)?.unwrap_or_default(),
        forward: json::<Forwarded>(r.get(20)?),
        hidden: false,
    })
}

fn invitation_row(r: &Row<'_>) -> rusqlite::Result<Invitation> {
    Ok(Invitation {
        conversation: ConversationId(r.get(0)?),
        title: r.get(1)?,
        inviter: user_row(r, 2)?,
        created_at: r.get(5)?,
    })
}

/// A bot row (with its user) read with [`BOT_COLUMNS`].
fn bot_row(r: &Row<'_>) -> rusqlite::Result<(Bot, bool)> {
    let bot = Bot {
        principal: Principal {
            user: user_row(r, 0)?,
            device: DeviceId(r.get(3)?),
            since: r.get(11)?,
        },
        kind: BotKind::parse(&r.get::<_, String>(4)?),
        owner: UserId(r.get(5)?),
        read_all: r.get(6)?,
        commands: json::<Vec<MenuCommand>>(r.get(7)?).unwrap_or_default(),
        webhook: json::<Webhook>(r.get(8)?),
        allowed_updates: json::<Vec<String>>(r.get(9)?).unwrap_or_default(),
        offset: num(r.get(10)?),
        created_at: r.get(11)?,
    };
    Ok((bot, r.get(12)?))
}

impl Tx for SqliteTx<'_> {
    fn now(&self) -> i64 {
        self.now
    }

    fn limits(&self) -> &Limits {
        self.limits
    }

    async fn user_by_handle(&mut self, handle: &str) -> Result<Option<UserInfo>> {
        self.opt(
            "SELECT id, handle, display_name FROM users WHERE handle = ?1",
            &[&handle],
            |r| user_row(r, 0),
        )
    }

    async fn find_users(
        &mut self,
        handle: &str,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserInfo>> {
        // Prefix ranges read the indexes (text compares bytewise): every string that starts
        // with `p` sorts at or after `p` and before `p` followed by the highest character.
        let upper = |p: &str| format!("{p}\u{10FFFF}");
        let (h_hi, n) = (upper(handle), name.unwrap_or(""));
        let n_hi = upper(n);
        self.all(
            "SELECT id, handle, display_name FROM users
             WHERE (handle >= ?1 AND handle < ?2)
                OR (?3 <> '' AND lower(display_name) >= ?3 AND lower(display_name) < ?4)
             ORDER BY handle LIMIT ?5",
            &[&handle, &h_hi, &n, &n_hi, &limit],
            |r| user_row(r, 0),
        )
    }

    async fn insert_user(&mut self, user: &NewUser) -> Result<UserId> {
        let kind = user.bot.map_or("person", |k| k.as_str());
        self.exec(
            "INSERT INTO users (handle, display_name, kind, pts, created_at)
             VALUES (?1, ?2, ?3, 0, ?4)",
            &[&user.handle, &user.display_name, &kind, &self.now],
        )?;
        Ok(UserId(self.conn.last_insert_rowid()))
    }

    async fn head_pts(&mut self, user: UserId) -> Result<Pts> {
        let pts = self.opt("SELECT pts FROM users WHERE id = ?1", &[&user.0], |r| {
            r.get::<_, i64>(0)
        })?;
        Ok(pts.map_or(0, num))
    }

    async fn key_taken(&mut self, public_key: &[u8]) -> Result<bool> {
        let found = self.opt(
            "SELECT 1 FROM devices WHERE public_key = ?1",
            &[&public_key],
            |r| r.get::<_, i64>(0),
        )?;
        Ok(found.is_some())
    }

    async fn device_by_key(&mut self, public_key: &[u8]) -> Result<Option<DeviceId>> {
        self.opt(
            "SELECT id FROM devices WHERE public_key = ?1 AND revoked = 0",
            &[&public_key],
            |r| r.get(0).map(DeviceId),
        )
    }

    async fn principal(&mut self, device: DeviceId) -> Result<Option<Principal>> {
        self.principal_of(device)
    }

    async fn insert_device(
        &mut self,
        user: UserId,
        public_key: &[u8],
        name: &str,
        last_seen: Option<i64>,
    ) -> Result<DeviceId> {
        self.exec(
            "INSERT INTO devices (user_id, public_key, name, created_at, last_seen, revoked)
             VALUES (?1, ?2, ?3, ?4, ?5, 0)",
            &[&user.0, &public_key, &name, &self.now, &last_seen],
        )?;
        Ok(DeviceId(self.conn.last_insert_rowid()))
    }

    async fn touch_device(&mut self, device: DeviceId) -> Result<()> {
        self.exec(
            "UPDATE devices SET last_seen = ?2 WHERE id = ?1",
            &[&device.0, &self.now],
        )?;
        Ok(())
    }

    async fn touch_devices(&mut self, devices: &[DeviceId]) -> Result<()> {
        // One cached statement, run per device: SQLite has no round trips to save.
        for d in devices {
            self.exec(
                "UPDATE devices SET last_seen = ?2 WHERE id = ?1",
                &[&d.0, &self.now],
            )?;
        }
        Ok(())
    }

    async fn active_devices(&mut self, user: UserId) -> Result<u32> {
        let n = self.opt(
            "SELECT COUNT(*) FROM devices WHERE user_id = ?1 AND revoked = 0",
            &[&user.0],
            |r| r.get::<_, i64>(0),
        )?;
        Ok(u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX))
    }

    async fn devices(&mut self, user: UserId) -> Result<Vec<DeviceInfo>> {
        self.all(
            "SELECT id, name, public_key, created_at, last_seen, revoked FROM devices
             WHERE user_id = ?1 ORDER BY id",
            &[&user.0],
            |r| {
                Ok(DeviceInfo {
                    id: DeviceId(r.get(0)?),
                    name: r.get(1)?,
                    public_key: Bytes(r.get(2)?),
                    created_at: r.get(3)?,
                    last_seen: r.get(4)?,
                    revoked: r.get(5)?,
                    session_expires_at: None,
                    current: false,
                })
            },
        )
    }

    async fn rename_device(&mut self, user: UserId, device: DeviceId, name: &str) -> Result<bool> {
        let n = self.exec(
            "UPDATE devices SET name = ?3 WHERE id = ?1 AND user_id = ?2",
            &[&device.0, &user.0, &name],
        )?;
        Ok(n > 0)
    }

    async fn revoke_device(&mut self, user: UserId, device: DeviceId) -> Result<bool> {
        let n = self.exec(
            "UPDATE devices SET revoked = 1 WHERE id = ?1 AND user_id = ?2",
            &[&device.0, &user.0],
        )?;
        if n == 0 {
            return Ok(false);
        }
        self.exec("DELETE FROM sessions WHERE device_id = ?1", &[&device.0])?;
        Ok(true)
    }

    async fn session(&mut self, token: &SecretHash) -> Result<Option<SessionRow>> {
        self.opt(
            "SELECT u.id, u.handle, u.display_name, u.created_at, d.id,
                    COALESCE(s.last_used_at, s.created_at)
             FROM sessions s JOIN devices d ON d.id = s.device_id JOIN users u ON u.id = d.user_id
             WHERE s.token_hash = ?1 AND d.revoked = 0",
            &[&&token[..]],
            |r| {
                Ok(SessionRow {
                    principal: Principal {
                        user: user_row(r, 0)?,
                        since: r.get(3)?,
                        device: DeviceId(r.get(4)?),
                    },
                    last_used: r.get(5)?,
                })
            },
        )
    }

    async fn touch_session(&mut self, token: &SecretHash) -> Result<()> {
        self.exec(
            "UPDATE sessions SET last_used_at = ?2 WHERE token_hash = ?1",
            &[&&token[..], &self.now],
        )?;
        self.exec(
            "UPDATE devices SET last_seen = ?2
             WHERE id = (SELECT device_id FROM sessions WHERE token_hash = ?1)",
            &[&&token[..], &self.now],
        )?;
        Ok(())
    }

    async fn delete_sessions(&mut self, user: UserId) -> Result<u32> {
        let n = self.exec(
            "DELETE FROM sessions WHERE device_id IN (SELECT id FROM devices WHERE user_id = ?1)",
            &[&user.0],
        )?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn insert_session(&mut self, token: &SecretHash, device: DeviceId) -> Result<()> {
        self.exec(
            "INSERT INTO sessions (token_hash, device_id, created_at, last_used_at)
             VALUES (?1, ?2, ?3, ?3)",
            &[&&token[..], &device.0, &self.now],
        )?;
        Ok(())
    }

    async fn account(&mut self, user: UserId) -> Result<Option<Account>> {
        self.opt(
            "SELECT created_at, operator, suspended_at, suspend_reason, privacy, recovery_key, bio
             FROM users WHERE id = ?1",
            &[&user.0],
            |r| {
                let suspended = match r.get::<_, Option<i64>>(2)? {
                    Some(at) => Some((at, r.get::<_, Option<String>>(3)?.unwrap_or_default())),
                    None => None,
                };
                Ok(Account {
                    created_at: r.get(0)?,
                    operator: r.get(1)?,
                    suspended,
                    privacy: json::<Privacy>(r.get(4)?).unwrap_or_default(),
                    recovery_key: r.get(5)?,
                    bio: r.get(6)?,
                })
            },
        )
    }

    async fn update_account(&mut self, user: UserId, update: &AccountUpdate) -> Result<()> {
        let id = user.0;
        match update {
            AccountUpdate::Privacy(p) => self.exec(
                "UPDATE users SET privacy = ?2 WHERE id = ?1",
                &[&id, &encode(p)?],
            ),
            AccountUpdate::Operator(o) => {
                self.exec("UPDATE users SET operator = ?2 WHERE id = ?1", &[&id, o])
            }
            AccountUpdate::Suspended(s) => self.exec(
                "UPDATE users SET suspended_at = ?2, suspend_reason = ?3 WHERE id = ?1",
                &[
                    &id,
                    &s.as_ref().map(|(at, _)| *at),
                    &s.as_ref().map(|(_, why)| why.as_str()),
                ],
            ),
            AccountUpdate::RecoveryKey(k) => self.exec(
                "UPDATE users SET recovery_key = ?2 WHERE id = ?1",
                &[&id, k],
            ),
            AccountUpdate::Profile { display_name, bio } => self.exec(
                "UPDATE users SET display_name = ?2, bio = ?3 WHERE id = ?1",
                &[&id, display_name, bio],
            ),
        }?;
        Ok(())
    }

    async fn relation(&mut self, user: UserId, other: UserId) -> Result<Relation> {
        let kinds = self.all(
            "SELECT kind FROM relations WHERE user_id = ?1 AND other_id = ?2",
            &[&user.0, &other.0],
            |r| r.get::<_, String>(0),
        )?;
        Ok(Relation {
            blocked: kinds.iter().any(|k| k == "block"),
            contact: kinds.iter().any(|k| k == "contact"),
        })
    }

    async fn set_relation(
        &mut self,
        user: UserId,
        other: UserId,
        kind: RelationKind,
        on: bool,
    ) -> Result<()> {
        if on {
            self.exec(
                "INSERT OR IGNORE INTO relations (user_id, other_id, kind, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                &[&user.0, &other.0, &kind.as_str(), &self.now],
            )?;
        } else {
            self.exec(
                "DELETE FROM relations WHERE user_id = ?1 AND other_id = ?2 AND kind = ?3",
                &[&user.0, &other.0, &kind.as_str()],
            )?;
        }
        Ok(())
    }

    async fn related(
        &mut self,
        user: UserId,
        kind: RelationKind,
        limit: u32,
    ) -> Result<Vec<UserInfo>> {
        self.all(
            "SELECT u.id, u.handle, u.display_name FROM relations r JOIN users u ON u.id = r.other_id
             WHERE r.user_id = ?1 AND r.kind = ?2 ORDER BY u.handle LIMIT ?3",
            &[&user.0, &kind.as_str(), &i64::from(limit)],
            |r| user_row(r, 0),
        )
    }

    async fn count_daily(&mut self, user: UserId, what: &str, day: i64) -> Result<u32> {
        self.exec(
            "DELETE FROM daily_counts WHERE user_id = ?1 AND what = ?2 AND day < ?3",
            &[&user.0, &what, &day],
        )?;
        let n = self.opt(
            "INSERT INTO daily_counts (user_id, what, day, n) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (user_id, what, day) DO UPDATE SET n = n + 1 RETURNING n",
            &[&user.0, &what, &day],
            |r| r.get::<_, i64>(0),
        )?;
        Ok(u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX))
    }

    async fn insert_report(&mut self, report: &NewReport) -> Result<u64> {
        self.exec(
            "INSERT INTO reports (reporter_id, user_id, conversation_id, seq, text, reason,
                                  comment, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &[
                &report.reporter.0,
                &report.user.0,
                &report.conversation.map(|c| c.0),
                &report.seq.map(sql),
                &report.text,
                &report.reason.as_str(),
                &report.comment,
                &self.now,
            ],
        )?;
        Ok(num(self.conn.last_insert_rowid()))
    }

    async fn reports(&mut self, all: bool, limit: u32) -> Result<Vec<Report>> {
        self.all(
            "SELECT r.id, a.id, a.handle, a.display_name, b.id, b.handle, b.display_name,
                    r.conversation_id, r.seq, r.text, r.reason, r.comment, r.created_at,
                    r.resolved_at, r.resolution
             FROM reports r JOIN users a ON a.id = r.reporter_id JOIN users b ON b.id = r.user_id
             WHERE ?1 OR r.resolved_at IS NULL ORDER BY r.id DESC LIMIT ?2",
            &[&all, &i64::from(limit)],
            |r| {
                Ok(Report {
                    id: num(r.get(0)?),
                    reporter: user_row(r, 1)?,
                    user: user_row(r, 4)?,
                    conversation: r.get::<_, Option<i64>>(7)?.map(ConversationId),
                    seq: r.get::<_, Option<i64>>(8)?.map(num),
                    text: r.get(9)?,
                    reason: ReportReason::parse(&r.get::<_, String>(10)?)
                        .unwrap_or(ReportReason::Other),
                    comment: r.get(11)?,
                    created_at: r.get(12)?,
                    resolved_at: r.get(13)?,
                    resolution: r.get(14)?,
                })
            },
        )
    }

    async fn resolve_report(&mut self, id: u64, resolution: &str) -> Result<bool> {
        let n = self.exec(
            "UPDATE reports SET resolved_at = ?2, resolution = ?3
             WHERE id = ?1 AND resolved_at IS NULL",
            &[&sql(id), &self.now, &resolution],
        )?;
        Ok(n > 0)
    }

    async fn insert_audit(&mut self, entry: &NewAudit) -> Result<()> {
        self.exec(
            "INSERT INTO audit (operator_id, action, target, detail, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                &entry.operator.map(|u| u.0),
                &entry.action,
                &entry.target,
                &entry.detail,
                &self.now,
            ],
        )?;
        Ok(())
    }

    async fn audit(&mut self, limit: u32) -> Result<Vec<AuditEntry>> {
        self.all(
            "SELECT a.id, u.id, u.handle, u.display_name, a.action, a.target, a.detail, a.at
             FROM audit a LEFT JOIN users u ON u.id = a.operator_id
             ORDER BY a.id DESC LIMIT ?1",
            &[&i64::from(limit)],
            |r| {
                let operator = match r.get::<_, Option<i64>>(1)? {
                    Some(_) => Some(user_row(r, 1)?),
                    None => None,
                };
                Ok(AuditEntry {
                    id: num(r.get(0)?),
                    operator,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    detail: r.get(6)?,
                    at: r.get(7)?,
                })
            },
        )
    }

    async fn delete_session(&mut self, token: &SecretHash) -> Result<()> {
        self.exec("DELETE FROM sessions WHERE token_hash = ?1", &[&&token[..]])?;
        Ok(())
    }

    async fn put_invite(
        &mut self,
        code: &SecretHash,
        uses: u32,
        expires_at: Option<i64>,
    ) -> Result<()> {
        self.exec(
            "INSERT OR REPLACE INTO invites (code_hash, uses_left, expires_at) VALUES (?1, ?2, ?3)",
            &[&&code[..], &i64::from(uses), &expires_at],
        )?;
        Ok(())
    }

    async fn take_invite(&mut self, code: &SecretHash) -> Result<bool> {
        let used = self.exec(
            "UPDATE invites SET uses_left = uses_left - 1
             WHERE code_hash = ?1 AND uses_left > 0 AND (expires_at IS NULL OR expires_at > ?2)",
            &[&&code[..], &self.now],
        )?;
        Ok(used > 0)
    }

    async fn put_link_code(
        &mut self,
        code: &SecretHash,
        user: UserId,
        expires_at: i64,
    ) -> Result<()> {
        self.exec(
            "INSERT OR REPLACE INTO link_codes (code_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
            &[&&code[..], &user.0, &expires_at],
        )?;
        Ok(())
    }

    async fn take_link_code(&mut self, code: &SecretHash) -> Result<Option<(UserId, i64)>> {
        self.opt(
            "DELETE FROM link_codes WHERE code_hash = ?1 RETURNING user_id, expires_at",
            &[&&code[..]],
            |r| Ok((UserId(r.get(0)?), r.get(1)?)),
        )
    }

    async fn peer(
        &mut self,
        handle: &str,
        me: UserId,
    ) -> Result<Option<(UserInfo, Option<ConversationId>)>> {
        let Some(user) = self.user_by_handle(handle).await? else {
            return Ok(None);
        };
        let key = chapar_core::rules::direct_key(me, user.id);
        Ok(Some((user, self.direct_conversation(&key).await?)))
    }

    async fn direct_conversation(&mut self, key: &str) -> Result<Option<ConversationId>> {
        self.opt(
            "SELECT id FROM conversations WHERE direct_key = ?1",
            &[&key],
            |r| r.get(0).map(ConversationId),
        )
    }

    async fn group_created_by(
        &mut self,
        device: DeviceId,
        client_id: &str,
    ) -> Result<Option<(ConversationId, i64)>> {
        self.opt(
            "SELECT id, created_at FROM conversations
             WHERE creator_device = ?1 AND create_client_id = ?2",
            &[&device.0, &client_id],
            |r| Ok((ConversationId(r.get(0)?), r.get(1)?)),
        )
    }

    async fn insert_conversation(
        &mut self,
        new: &NewConversation,
    ) -> Result<Option<ConversationId>> {
        let (device, client_id) = match &new.creator {
            Some((d, c)) => (Some(d.0), Some(c.as_str())),
            None => (None, None),
        };
        // One writer: a direct key cannot have been taken since the caller looked.
        self.exec(
            "INSERT INTO conversations (kind, title, last_seq, created_at, updated_at, direct_key,
                                        creator_device, create_client_id)
             VALUES (?1, ?2, 0, ?3, ?3, ?4, ?5, ?6)",
            &[
                &kind_str(new.kind),
                &new.title,
                &self.now,
                &new.direct_key,
                &device,
                &client_id,
            ],
        )?;
        Ok(Some(ConversationId(self.conn.last_insert_rowid())))
    }

    async fn lock(
        &mut self,
        conv: ConversationId,
        user: UserId,
        dedup: Option<(DeviceId, &str)>,
    ) -> Result<Option<LockRow>> {
        let (device, client_id) = match dedup {
            Some((d, c)) => (Some(d.0), Some(c)),
            None => (None, None),
        };
        self.opt(
            "SELECT c.id, c.kind, c.title, c.last_seq, c.updated_at, c.blocked, c.pinned_seq,
                    m.role, m.joined_seq, m.delivered_seq, m.read_seq, d.seq, d.server_time
             FROM conversations c
             LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = ?2
             LEFT JOIN messages d ON d.conversation_id = c.id AND d.sender_device = ?3
                                 AND d.client_id = ?4
             WHERE c.id = ?1",
            &[&conv.0, &user.0, &device, &client_id],
            |r| {
                let first = match r.get::<_, Option<i64>>(11)? {
                    Some(seq) => Some((num(seq), r.get(12)?)),
                    None => None,
                };
                Ok(LockRow {
                    conv: conv_row(r, 0)?,
                    member: opt_member_row(r, 7)?,
                    first,
                })
            },
        )
    }

    async fn conversation_member(
        &mut self,
        conv: ConversationId,
        user: UserId,
    ) -> Result<Option<(ConvRow, Option<MemberRow>)>> {
        match self.conv_row(conv)? {
            Some(row) => Ok(Some((row, self.member_row(conv, user)?))),
            None => Ok(None),
        }
    }

    async fn member(&mut self, conv: ConversationId, user: UserId) -> Result<Option<MemberRow>> {
        self.member_row(conv, user)
    }

    async fn member_ids(&mut self, conv: ConversationId) -> Result<Vec<UserId>> {
        self.all(
            "SELECT user_id FROM members WHERE conversation_id = ?1 ORDER BY joined_order",
            &[&conv.0],
            |r| r.get(0).map(UserId),
        )
    }

    async fn member_roles(&mut self, conv: ConversationId) -> Result<Vec<(UserId, Role, i64)>> {
        self.all(
            "SELECT user_id, role, joined_order FROM members WHERE conversation_id = ?1
             ORDER BY joined_order",
            &[&conv.0],
            |r| {
                Ok((
                    UserId(r.get(0)?),
                    parse_role(&r.get::<_, String>(1)?),
                    r.get(2)?,
                ))
            },
        )
    }

    async fn members(&mut self, conv: ConversationId) -> Result<Vec<MemberInfo>> {
        self.all(
            "SELECT u.id, u.handle, u.display_name, m.role, m.delivered_seq, m.read_seq
             FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = ?1 ORDER BY m.joined_order",
            &[&conv.0],
            |r| {
                Ok(MemberInfo {
                    user: user_row(r, 0)?,
                    role: parse_role(&r.get::<_, String>(3)?),
                    delivered_seq: num(r.get(4)?),
                    read_seq: num(r.get(5)?),
                })
            },
        )
    }

    async fn message(&mut self, conv: ConversationId, seq: Seq) -> Result<Option<Message>> {
        self.load_message(conv, seq)
    }

    async fn insert_member(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        role: Role,
        joined_seq: Seq,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO members (conversation_id, user_id, role, joined_seq, joined_order,
                                  delivered_seq, read_seq)
             VALUES (?1, ?2, ?3, ?4,
                     (SELECT COALESCE(MAX(joined_order), 0) + 1 FROM members WHERE conversation_id = ?1),
                     0, 0)",
            &[&lock.id().0, &user.0, &role.as_str(), &sql(joined_seq)],
        )?;
        Ok(())
    }

    async fn delete_member(&mut self, lock: &ConvLock, user: UserId) -> Result<()> {
        self.exec(
            "DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2",
            &[&lock.id().0, &user.0],
        )?;
        Ok(())
    }

    async fn set_role(&mut self, lock: &ConvLock, user: UserId, role: Role) -> Result<()> {
        self.exec(
            "UPDATE members SET role = ?3 WHERE conversation_id = ?1 AND user_id = ?2",
            &[&lock.id().0, &user.0, &role.as_str()],
        )?;
        Ok(())
    }

    async fn set_title(&mut self, lock: &ConvLock, title: &str) -> Result<()> {
        self.exec(
            "UPDATE conversations SET title = ?2 WHERE id = ?1",
            &[&lock.id().0, &title],
        )?;
        Ok(())
    }

    async fn chat_states(
        &mut self,
        user: UserId,
        only: Option<ConversationId>,
    ) -> Result<Vec<(ConversationId, ChatState)>> {
        self.all(
            "SELECT conversation_id, archived, cleared_seq FROM chat_state
             WHERE user_id = ?1 AND (?2 IS NULL OR conversation_id = ?2)",
            &[&user.0, &only.map(|c| c.0)],
            |r| {
                Ok((
                    ConversationId(r.get(0)?),
                    ChatState {
                        archived: r.get(1)?,
                        cleared_seq: num(r.get(2)?),
                    },
                ))
            },
        )
    }

    async fn set_chat_state(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        state: &ChatState,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO chat_state (user_id, conversation_id, archived, cleared_seq)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user_id, conversation_id)
             DO UPDATE SET archived = excluded.archived, cleared_seq = excluded.cleared_seq",
            &[
                &user.0,
                &lock.id().0,
                &state.archived,
                &sql(state.cleared_seq),
            ],
        )?;
        Ok(())
    }

    async fn hide_message(&mut self, lock: &ConvLock, user: UserId, seq: Seq) -> Result<()> {
        self.exec(
            "INSERT OR IGNORE INTO hidden_messages (user_id, conversation_id, seq)
             VALUES (?1, ?2, ?3)",
            &[&user.0, &lock.id().0, &sql(seq)],
        )?;
        Ok(())
    }

    async fn hidden(
        &mut self,
        user: UserId,
        messages: &[(ConversationId, Seq)],
    ) -> Result<Vec<(ConversationId, Seq)>> {
        let mut out = Vec::new();
        for &(conv, seq) in messages {
            let found = self.opt(
                "SELECT 1 FROM hidden_messages
                 WHERE user_id = ?1 AND conversation_id = ?2 AND seq = ?3",
                &[&user.0, &conv.0, &sql(seq)],
                |r| r.get::<_, i64>(0),
            )?;
            if found.is_some() {
                out.push((conv, seq));
            }
        }
        Ok(out)
    }

    async fn set_description(&mut self, lock: &ConvLock, description: &str) -> Result<()> {
        self.exec(
            "UPDATE conversations SET description = ?2 WHERE id = ?1",
            &[&lock.id().0, &description],
        )?;
        Ok(())
    }

    async fn description(&mut self, conv: ConversationId) -> Result<String> {
        Ok(self
            .opt(
                "SELECT description FROM conversations WHERE id = ?1",
                &[&conv.0],
                |r| r.get::<_, String>(0),
            )?
            .unwrap_or_default())
    }

    async fn set_pinned(&mut self, lock: &ConvLock, seq: Option<Seq>) -> Result<()> {
        self.exec(
            "UPDATE conversations SET pinned_seq = ?2 WHERE id = ?1",
            &[&lock.id().0, &seq.map(sql)],
        )?;
        Ok(())
    }

    async fn set_blocked(&mut self, lock: &ConvLock, blocked: bool) -> Result<()> {
        self.exec(
            "UPDATE conversations SET blocked = ?2 WHERE id = ?1",
            &[&lock.id().0, &blocked],
        )?;
        Ok(())
    }

    async fn put_invitation(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        inviter: UserId,
    ) -> Result<()> {
        self.exec(
            "INSERT OR REPLACE INTO invitations (conversation_id, user_id, inviter_id, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            &[&lock.id().0, &user.0, &inviter.0, &self.now],
        )?;
        Ok(())
    }

    async fn pending_invitations(&mut self, user: UserId, except: ConversationId) -> Result<u32> {
        let n = self.opt(
            "SELECT COUNT(*) FROM invitations WHERE user_id = ?1 AND conversation_id <> ?2",
            &[&user.0, &except.0],
            |r| r.get::<_, i64>(0),
        )?;
        Ok(u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX))
    }

    async fn take_invitation(
        &mut self,
        conv: ConversationId,
        user: UserId,
    ) -> Result<Option<Invitation>> {
        let found = self.opt(
            "SELECT i.conversation_id, c.title, u.id, u.handle, u.display_name, i.created_at
             FROM invitations i JOIN conversations c ON c.id = i.conversation_id
             JOIN users u ON u.id = i.inviter_id
             WHERE i.conversation_id = ?1 AND i.user_id = ?2",
            &[&conv.0, &user.0],
            invitation_row,
        )?;
        if found.is_some() {
            self.exec(
                "DELETE FROM invitations WHERE conversation_id = ?1 AND user_id = ?2",
                &[&conv.0, &user.0],
            )?;
        }
        Ok(found)
    }

    async fn invitations(&mut self, user: UserId, limit: u32) -> Result<Vec<Invitation>> {
        self.all(
            "SELECT i.conversation_id, c.title, u.id, u.handle, u.display_name, i.created_at
             FROM invitations i JOIN conversations c ON c.id = i.conversation_id
             JOIN users u ON u.id = i.inviter_id
             WHERE i.user_id = ?1 ORDER BY i.created_at DESC, i.conversation_id DESC LIMIT ?2",
            &[&user.0, &i64::from(limit)],
            invitation_row,
        )
    }

    async fn set_markers(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        delivered: Seq,
        read: Seq,
    ) -> Result<()> {
        self.exec(
            "UPDATE members SET delivered_seq = ?3, read_seq = ?4
             WHERE conversation_id = ?1 AND user_id = ?2",
            &[&lock.id().0, &user.0, &sql(delivered), &sql(read)],
        )?;
        Ok(())
    }

    async fn append(
        &mut self,
        lock: &ConvLock,
        actor: &Principal,
        entry: &Entry,
    ) -> Result<Appended> {
        let conv = lock.id().0;
        let seq: i64 = self
            .opt(
                "UPDATE conversations SET last_seq = last_seq + 1, updated_at = ?2 WHERE id = ?1
                 RETURNING last_seq",
                &[&conv, &self.now],
                |r| r.get(0),
            )?
            .ok_or_else(|| Error::Unavailable("the conversation disappeared".into()))?;
        let system = entry.system.as_ref().map(encode).transpose()?;
        let (entities, reply_markup) = rich_columns(&entry.entities, &entry.reply_markup)?;
        let forward = entry.forward.as_ref().map(encode).transpose()?;
        self.exec(
            "INSERT INTO messages (conversation_id, seq, sender_id, sender_device, client_id,
                server_time, kind, content_type, text, data, reply_to, target, remove, system,
                edited_at, deleted, entities, reply_markup, forward)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL, 0, ?15, ?16,
                     ?17)",
            &[
                &conv,
                &seq,
                &actor.user.id.0,
                &actor.device.0,
                &entry.client_id,
                &self.now,
                &entry.kind.as_str(),
                &entry.content_type,
                &entry.text,
                &entry.data.as_ref().map(|d| &d.0[..]),
                &entry.reply_to.map(sql),
                &entry.target.map(sql),
                &entry.remove,
                &system,
                &entities,
                &reply_markup,
                &forward,
            ],
        )?;
        self.exec(
            "UPDATE members SET delivered_seq = MAX(delivered_seq, ?3), read_seq = MAX(read_seq, ?3)
             WHERE conversation_id = ?1 AND user_id = ?2",
            &[&conv, &actor.user.id.0, &seq],
        )?;
        // Set-based fan-out: every member's next pts, then every member's feed row.
        let recipients = self.all(
            "UPDATE users SET pts = pts + 1
             WHERE id IN (SELECT user_id FROM members WHERE conversation_id = ?1)
             RETURNING id, pts",
            &[&conv],
            |r| Ok((UserId(r.get(0)?), num(r.get(1)?))),
        )?;
        self.exec(
            "INSERT INTO feed (user_id, pts, kind, conversation_id, seq, payload)
             SELECT u.id, u.pts, 'message', ?1, ?2, NULL
             FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = ?1",
            &[&conv, &seq],
        )?;
        Ok(Appended {
            seq: num(seq),
            recipients,
        })
    }

    async fn change_message(
        &mut self,
        lock: &ConvLock,
        seq: Seq,
        change: &MessageChange,
    ) -> Result<()> {
        let (conv, seq) = (lock.id().0, sql(seq));
        match change {
            MessageChange::Edit {
                text,
                data,
                entities,
                reply_markup,
                edited_at,
            } => {
                let (entities, reply_markup) = rich_columns(entities, reply_markup)?;
                self.exec(
                    "UPDATE messages SET text = ?3, data = ?4, entities = ?5, reply_markup = ?6,
                         edited_at = ?7
                     WHERE conversation_id = ?1 AND seq = ?2",
                    &[
                        &conv,
                        &seq,
                        text,
                        &data.as_ref().map(|d| &d.0[..]),
                        &entities,
                        &reply_markup,
                        edited_at,
                    ],
                )?;
            }
            MessageChange::Delete => {
                self.exec(
                    "UPDATE messages SET deleted = 1, text = NULL, data = NULL, entities = NULL,
                         reply_markup = NULL
                     WHERE conversation_id = ?1 AND seq = ?2",
                    &[&conv, &seq],
                )?;
                self.exec(
                    "UPDATE messages SET text = NULL, data = NULL, entities = NULL,
                         reply_markup = NULL
                     WHERE conversation_id = ?1 AND target = ?2 AND kind = 'edit'",
                    &[&conv, &seq],
                )?;
                self.exec(
                    "DELETE FROM reactions WHERE conversation_id = ?1 AND seq = ?2",
                    &[&conv, &seq],
                )?;
            }
            MessageChange::React {
                user,
                emoji,
                remove,
            } => {
                let query = match remove {
                    true => {
                        "DELETE FROM reactions
                         WHERE conversation_id = ?1 AND seq = ?2 AND user_id = ?3 AND emoji = ?4"
                    }
                    false => {
                        "INSERT OR IGNORE INTO reactions (conversation_id, seq, user_id, emoji)
                         VALUES (?1, ?2, ?3, ?4)"
                    }
                };
                self.exec(query, &[&conv, &seq, &user.0, emoji])?;
            }
        }
        Ok(())
    }

    async fn push(
        &mut self,
        lock: &ConvLock,
        to: &Recipients,
        item: &FeedItem,
    ) -> Result<Vec<(UserId, Pts)>> {
        let mut out = Vec::with_capacity(to.users().len());
        for user in to.users() {
            let pts: i64 = self
                .opt(
                    "UPDATE users SET pts = pts + 1 WHERE id = ?1 RETURNING pts",
                    &[&user.0],
                    |r| r.get(0),
                )?
                .ok_or_else(|| Error::Unavailable("a recipient disappeared".into()))?;
            self.exec(
                "INSERT INTO feed (user_id, pts, kind, conversation_id, seq, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    &user.0,
                    &pts,
                    &item.kind.as_str(),
                    &lock.id().0,
                    &item.seq.map(sql),
                    &item.payload,
                ],
            )?;
            out.push((*user, num(pts)));
        }
        Ok(out)
    }

    async fn summaries(
        &mut self,
        user: UserId,
        limit: u32,
        only: Option<ConversationId>,
    ) -> Result<Vec<Summary>> {
        let rows = self.all(
            "SELECT c.id, c.kind, c.title, c.last_seq, c.updated_at, c.blocked, c.pinned_seq,
                    m.role, m.joined_seq, m.delivered_seq, m.read_seq
             FROM members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.user_id = ?1 AND (?3 IS NULL OR c.id = ?3)
             ORDER BY c.updated_at DESC, c.id DESC LIMIT ?2",
            &[&user.0, &i64::from(limit), &only.map(|c| c.0)],
            |r| Ok((conv_row(r, 0)?, member_row(r, 7)?)),
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (conv, member) in rows {
            let id = conv.id.0;
            let count = |n: Option<i64>| u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX);
            let member_count = self.opt(
                "SELECT COUNT(*) FROM members WHERE conversation_id = ?1",
                &[&id],
                |r| r.get::<_, i64>(0),
            )?;
            let from = member.read_seq.max(member.joined_seq.saturating_sub(1));
            let unread = self.opt(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1 AND seq > ?2
                 AND kind = 'text' AND sender_id != ?3 AND deleted = 0",
                &[&id, &sql(from), &user.0],
                |r| r.get::<_, i64>(0),
            )?;
            let last = self.opt(
                "SELECT seq FROM messages WHERE conversation_id = ?1 AND seq >= ?2
                 AND kind IN ('text', 'system') ORDER BY seq DESC LIMIT 1",
                &[&id, &sql(member.joined_seq)],
                |r| r.get::<_, i64>(0),
            )?;
            let last_message = match last {
                Some(seq) => self.load_message(conv.id, num(seq))?,
                None => None,
            };
            let peer = match conv.kind {
                ConversationKind::Direct => self.opt(
                    "SELECT u.id, u.handle, u.display_name FROM members m
                     JOIN users u ON u.id = m.user_id
                     WHERE m.conversation_id = ?1 AND m.user_id != ?2 LIMIT 1",
                    &[&id, &user.0],
                    |r| user_row(r, 0),
                )?,
                _ => None,
            };
            out.push(Summary {
                conv,
                member,
                member_count: count(member_count),
                unread: count(unread),
                last_message,
                peer,
            });
        }
        Ok(out)
    }

    async fn history(
        &mut self,
        conv: ConversationId,
        from: Seq,
        before: Seq,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let mut page = self.all(
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m LEFT JOIN users u ON u.id = m.sender_id
                 WHERE m.conversation_id = ?1 AND m.seq >= ?2 AND m.seq < ?3
                 ORDER BY m.seq DESC LIMIT ?4"
            ),
            &[&conv.0, &sql(from), &sql(before), &i64::from(limit)],
            message_row,
        )?;
        page.reverse();
        page.into_iter().map(|m| self.with_reactions(m)).collect()
    }

    async fn index_message(&mut self, lock: &ConvLock, seq: Seq, words: &[String]) -> Result<()> {
        let rowid: Option<i64> = self.opt(
            "SELECT rowid FROM messages WHERE conversation_id = ?1 AND seq = ?2",
            &[&lock.id().0, &sql(seq)],
            |r| r.get(0),
        )?;
        let Some(rowid) = rowid else { return Ok(()) };
        self.exec("DELETE FROM message_search WHERE rowid = ?1", &[&rowid])?;
        if !words.is_empty() {
            self.exec(
                "INSERT INTO message_search (rowid, words) VALUES (?1, ?2)",
                &[&rowid, &words.join(" ")],
            )?;
        }
        Ok(())
    }

    async fn search(
        &mut self,
        user: UserId,
        words: &[String],
        conversation: Option<ConversationId>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(ConversationId, Seq)>> {
        // Each word a quoted prefix (words are letters and digits; quotes doubled all the same).
        let query = words
            .iter()
            .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" ");
        self.all(
            "SELECT m.conversation_id, m.seq FROM message_search s
             JOIN messages m ON m.rowid = s.rowid
             JOIN members b ON b.conversation_id = m.conversation_id AND b.user_id = ?1
             WHERE message_search MATCH ?2 AND m.seq >= b.joined_seq
               AND (?3 IS NULL OR m.conversation_id = ?3)
               AND (?4 IS NULL OR m.server_time < ?4)
             ORDER BY m.server_time DESC, m.conversation_id DESC, m.seq DESC LIMIT ?5",
            &[
                &user.0,
                &query,
                &conversation.map(|c| c.0),
                &before,
                &i64::from(limit),
            ],
            |r| Ok((ConversationId(r.get(0)?), num(r.get(1)?))),
        )
    }

    async fn feed(&mut self, user: UserId, after: Pts, limit: u32) -> Result<Vec<FeedRow>> {
        let rows = self.all(
            "SELECT pts, kind, conversation_id, seq, payload FROM feed
             WHERE user_id = ?1 AND pts > ?2 ORDER BY pts LIMIT ?3",
            &[&user.0, &sql(after), &i64::from(limit)],
            |r| {
                Ok((
                    num(r.get(0)?),
                    r.get::<_, String>(1)?,
                    ConversationId(r.get(2)?),
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (pts, kind, conv, seq, payload) in rows {
            let event = match (kind.as_str(), seq, payload) {
                ("message", Some(seq), _) => self.load_message(conv, num(seq))?.map(Event::Message),
                ("receipt", _, p) => json::<Receipt>(p).map(Event::Receipt),
                ("callback", _, p) => json::<CallbackQuery>(p).map(Event::CallbackQuery),
                ("invitation", _, p) => json::<Invitation>(p).map(Event::Invitation),
                _ => None,
            };
            if event.is_none() {
                tracing::warn!(pts, user = user.0, "unreadable feed row skipped");
            }
            out.push(FeedRow { pts, event });
        }
        Ok(out)
    }

    async fn bot(&mut self, key: BotKey<'_>) -> Result<Option<(Bot, bool)>> {
        match key {
            BotKey::Id(id) => self.bot_where("b.user_id = ?1", &id.0),
            BotKey::Handle(h) => self.bot_where("u.handle = ?1", &h),
            BotKey::Token(t) => self.bot_where("b.token_hash = ?1", &&t[..]),
        }
    }

    async fn bots_of(&mut self, owner: UserId) -> Result<Vec<(Bot, bool)>> {
        let query = format!(
            "SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.user_id
             WHERE b.owner_id = ?1 ORDER BY b.created_at, b.user_id"
        );
        self.all(&query, &[&owner.0], bot_row)
    }

    async fn insert_bot(
        &mut self,
        user: UserId,
        owner: UserId,
        device: DeviceId,
        kind: BotKind,
        token: &SecretHash,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO bots (user_id, owner_id, device_id, kind, token_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                &user.0,
                &owner.0,
                &device.0,
                &kind.as_str(),
                &&token[..],
                &self.now,
            ],
        )?;
        Ok(())
    }

    async fn update_bot(&mut self, bot: UserId, update: &BotUpdate) -> Result<()> {
        let id = bot.0;
        match update {
            BotUpdate::Token(t) => self.exec(
                "UPDATE bots SET token_hash = ?2 WHERE user_id = ?1",
                &[&id, &t.as_ref().map(|h| &h[..])],
            ),
            BotUpdate::ReadAll(r) => self.exec(
                "UPDATE bots SET read_all = ?2 WHERE user_id = ?1",
                &[&id, r],
            ),
            BotUpdate::Offset(pts) => self.exec(
                "UPDATE bots SET confirmed_pts = MAX(confirmed_pts, ?2) WHERE user_id = ?1",
                &[&id, &sql(*pts)],
            ),
            BotUpdate::Webhook(hook) => {
                let value = hook.as_ref().map(encode).transpose()?;
                self.exec(
                    "UPDATE bots SET webhook = ?2 WHERE user_id = ?1",
                    &[&id, &value],
                )
            }
            BotUpdate::Commands(c) => self.exec(
                "UPDATE bots SET commands = ?2 WHERE user_id = ?1",
                &[&id, &encode(c)?],
            ),
            BotUpdate::AllowedUpdates(a) => self.exec(
                "UPDATE bots SET allowed_updates = ?2 WHERE user_id = ?1",
                &[&id, &encode(a)?],
            ),
        }?;
        Ok(())
    }

    async fn webhook_bots(&mut self) -> Result<Vec<UserId>> {
        self.all(
            "SELECT user_id FROM bots WHERE webhook IS NOT NULL ORDER BY user_id",
            &[],
            |r| r.get(0).map(UserId),
        )
    }

    async fn consent(&mut self, user: UserId, service: UserId) -> Result<bool> {
        let found = self.opt(
            "SELECT 1 FROM consents WHERE user_id = ?1 AND service_id = ?2",
            &[&user.0, &service.0],
            |r| r.get::<_, i64>(0),
        )?;
        Ok(found.is_some())
    }

    async fn set_consent(&mut self, user: UserId, service: UserId, allowed: bool) -> Result<()> {
        if allowed {
            self.exec(
                "INSERT OR IGNORE INTO consents (user_id, service_id, created_at)
                 VALUES (?1, ?2, ?3)",
                &[&user.0, &service.0, &self.now],
            )?;
        } else {
            self.exec(
                "DELETE FROM consents WHERE user_id = ?1 AND service_id = ?2",
                &[&user.0, &service.0],
            )?;
        }
        Ok(())
    }
}
