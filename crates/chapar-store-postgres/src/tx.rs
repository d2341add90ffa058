//! The storage interface ([`Tx`]) on one PostgreSQL connection, inside a batch transaction and
//! the job's savepoint for writes, inside one snapshot for multi-statement reads.
//!
//! Every statement is a cached prepared statement and each method is one round trip, whatever
//! the number of rows (pages load their messages and reactions with `unnest`, not a query per
//! row). Locks: [`Tx::lock`] takes the conversation's row lock (`FOR NO KEY UPDATE`), held until
//! the transaction ends, so every write to one conversation, from any node, runs one at a time
//! and sees everything committed before it; feed pushes lock users' rows in id order. Races
//! between nodes on unique keys are settled by `ON CONFLICT` or, where a unique violation
//! remains, by retrying the whole batch (the domain's checks then see the winner's row).

use crate::db::{Ctx, col, num, sql};
use crate::rows::{
    conv_row, kind_str, member_row_at, message_columns, message_row, messages_at, parse_role,
    rich_columns, user_row, with_reactions,
};
use chapar_core::bots::{Bot, MenuCommand, Webhook};
use chapar_core::columns::{encode, json};
use chapar_core::storage::{
    Account, AccountUpdate, Appended, BotKey, BotUpdate, ChatState, ConvLock, ConvRow, Entry,
    FeedItem, FeedRow, LockRow, MemberRow, MessageChange, NewAudit, NewConversation, NewReport,
    NewUser, Recipients, Relation, RelationKind, SessionRow, Summary, Tx,
};
use chapar_core::store::{Principal, SecretHash};
use chapar_core::{Error, Limits, Result};
use chapar_proto::{
    AuditEntry, BotKind, Bytes, CallbackQuery, ConversationId, ConversationKind, DeviceId,
    DeviceInfo, Event, Invitation, MemberInfo, Message, Privacy, Pts, Receipt, Report,
    ReportReason, Role, Seq, UserId, UserInfo,
};
use tokio_postgres::Row;

/// One transaction's (or one job's) view of the database.
pub(crate) struct PgTx<'a> {
    ctx: &'a Ctx<'a>,
}

impl<'a> PgTx<'a> {
    pub fn new(ctx: &'a Ctx<'a>) -> Self {
        PgTx { ctx }
    }
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Columns read by [`bot_row`]; the query aliases bots as `b` and joins users as `u`.
macro_rules! bot_columns {
    () => {
        "SELECT u.id, u.handle, u.display_name, b.device_id, b.kind, b.owner_id, b.read_all, \
         b.commands, b.webhook, b.allowed_updates, b.confirmed_pts, b.created_at, \
         b.token_hash IS NOT NULL FROM bots b JOIN users u ON u.id = b.user_id "
    };
}

fn bot_row(r: &Row) -> Result<(Bot, bool)> {
    let bot = Bot {
        principal: Principal {
            user: user_row(r, 0)?,
            device: DeviceId(col(r, 3)?),
            since: col(r, 11)?,
        },
        kind: BotKind::parse(&col::<String>(r, 4)?),
        owner: UserId(col(r, 5)?),
        read_all: col(r, 6)?,
        commands: json::<Vec<MenuCommand>>(col(r, 7)?).unwrap_or_default(),
        webhook: json::<Webhook>(col(r, 8)?),
        allowed_updates: json::<Vec<String>>(col(r, 9)?).unwrap_or_default(),
        offset: num(col(r, 10)?),
        created_at: col(r, 11)?,
    };
    Ok((bot, col(r, 12)?))
}

fn invitation_row(r: &Row) -> Result<Invitation> {
    Ok(Invitation {
        conversation: ConversationId(col(r, 0)?),
        title: col(r, 1)?,
        inviter: user_row(r, 2)?,
        created_at: col(r, 5)?,
    })
}

fn pushed(rows: &[Row]) -> Result<Vec<(UserId, Pts)>> {
    rows.iter()
        .map(|r| Ok((UserId(col(r, 0)?), num(col(r, 1)?))))
        .collect()
}

impl Tx for PgTx<'_> {
    fn now(&self) -> i64 {
        self.ctx.now
    }

    fn limits(&self) -> &Limits {
        self.ctx.limits
    }

    async fn user_by_handle(&mut self, handle: &str) -> Result<Option<UserInfo>> {
        let row = self
            .ctx
            .opt(
                "SELECT id, handle, display_name FROM users WHERE handle = $1",
                &[&handle],
            )
            .await?;
        row.map(|r| user_row(&r, 0)).transpose()
    }

    async fn find_users(
        &mut self,
        handle: &str,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserInfo>> {
        // LIKE prefixes (wildcards escaped) read the text_pattern_ops indexes.
        let like = |p: &str| {
            let escaped = p
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("{escaped}%")
        };
        let (h, n) = (like(handle), name.map(like).unwrap_or_default());
        let rows = self
            .ctx
            .query(
                "SELECT id, handle, display_name FROM users
                 WHERE handle LIKE $1 ESCAPE '\\'
                    OR ($2 <> '' AND lower(display_name) LIKE $2 ESCAPE '\\')
                 ORDER BY handle LIMIT $3",
                &[&h, &n, &i64::from(limit)],
            )
            .await?;
        rows.iter().map(|r| user_row(r, 0)).collect()
    }

    async fn insert_user(&mut self, user: &NewUser) -> Result<UserId> {
        let kind = user.bot.map_or("person", |k| k.as_str());
        let row = self
            .ctx
            .one(
                "INSERT INTO users (handle, display_name, kind, pts, created_at)
                 VALUES ($1, $2, $3, 0, $4) RETURNING id",
                &[&user.handle, &user.display_name, &kind, &self.ctx.now],
            )
            .await?;
        Ok(UserId(col(&row, 0)?))
    }

    async fn head_pts(&mut self, user: UserId) -> Result<Pts> {
        let row = self
            .ctx
            .opt("SELECT pts FROM users WHERE id = $1", &[&user.0])
            .await?;
        Ok(match row {
            Some(r) => num(col(&r, 0)?),
            None => 0,
        })
    }

    async fn key_taken(&mut self, public_key: &[u8]) -> Result<bool> {
        let row = self
            .ctx
            .opt(
                "SELECT 1 FROM devices WHERE public_key = $1",
                &[&public_key],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn device_by_key(&mut self, public_key: &[u8]) -> Result<Option<DeviceId>> {
        let row = self
            .ctx
            .opt(
                "SELECT id FROM devices WHERE public_key = $1 AND NOT revoked",
                &[&public_key],
            )
            .await?;
        row.map(|r| col(&r, 0).map(DeviceId)).transpose()
    }

    async fn principal(&mut self, device: DeviceId) -> Result<Option<Principal>> {
        let row = self
            .ctx
            .opt(
                "SELECT u.id, u.handle, u.display_name, u.created_at FROM devices d
                 JOIN users u ON u.id = d.user_id WHERE d.id = $1 AND NOT d.revoked",
                &[&device.0],
            )
            .await?;
        row.map(|r| {
            Ok(Principal {
                user: user_row(&r, 0)?,
                device,
                since: col(&r, 3)?,
            })
        })
        .transpose()
    }

    async fn insert_device(
        &mut self,
        user: UserId,
        public_key: &[u8],
        name: &str,
        last_seen: Option<i64>,
    ) -> Result<DeviceId> {
        let row = self
            .ctx
            .one(
                "INSERT INTO devices (user_id, public_key, name, created_at, last_seen, revoked)
                 VALUES ($1, $2, $3, $4, $5, FALSE) RETURNING id",
                &[&user.0, &public_key, &name, &self.ctx.now, &last_seen],
            )
            .await?;
        Ok(DeviceId(col(&row, 0)?))
    }

    async fn touch_device(&mut self, device: DeviceId) -> Result<()> {
        self.ctx
            .exec(
                "UPDATE devices SET last_seen = $2 WHERE id = $1",
                &[&device.0, &self.ctx.now],
            )
            .await?;
        Ok(())
    }

    async fn touch_devices(&mut self, devices: &[DeviceId]) -> Result<()> {
        let ids: Vec<i64> = devices.iter().map(|d| d.0).collect();
        self.ctx
            .exec(
                "UPDATE devices SET last_seen = $2 WHERE id = ANY($1)",
                &[&ids, &self.ctx.now],
            )
            .await?;
        Ok(())
    }

    async fn active_devices(&mut self, user: UserId) -> Result<u32> {
        let row = self
            .ctx
            .one(
                "SELECT COUNT(*) FROM devices WHERE user_id = $1 AND NOT revoked",
                &[&user.0],
            )
            .await?;
        Ok(count(col(&row, 0)?))
    }

    async fn devices(&mut self, user: UserId) -> Result<Vec<DeviceInfo>> {
        let rows = self
            .ctx
            .query(
                "SELECT id, name, public_key, created_at, last_seen, revoked FROM devices
                 WHERE user_id = $1 ORDER BY id",
                &[&user.0],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DeviceInfo {
                    id: DeviceId(col(r, 0)?),
                    name: col(r, 1)?,
                    public_key: Bytes(col(r, 2)?),
                    created_at: col(r, 3)?,
                    last_seen: col(r, 4)?,
                    revoked: col(r, 5)?,
                    session_expires_at: None,
                    current: false,
                })
            })
            .collect()
    }

    async fn rename_device(&mut self, user: UserId, device: DeviceId, name: &str) -> Result<bool> {
        let n = self
            .ctx
            .exec(
                "UPDATE devices SET name = $3 WHERE id = $1 AND user_id = $2",
                &[&device.0, &user.0, &name],
            )
            .await?;
        Ok(n > 0)
    }

    async fn revoke_device(&mut self, user: UserId, device: DeviceId) -> Result<bool> {
        let rows = self
            .ctx
            .query(
                "WITH d AS (
                     UPDATE devices SET revoked = TRUE WHERE id = $1 AND user_id = $2
                     RETURNING id
                 ), s AS (
                     DELETE FROM sessions WHERE device_id IN (SELECT id FROM d)
                 )
                 SELECT id FROM d",
                &[&device.0, &user.0],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn session(&mut self, token: &SecretHash) -> Result<Option<SessionRow>> {
        let row = self
            .ctx
            .opt(
                "SELECT u.id, u.handle, u.display_name, d.id, u.created_at,
                        COALESCE(s.last_used_at, s.created_at)
                 FROM sessions s
                 JOIN devices d ON d.id = s.device_id AND NOT d.revoked
                 JOIN users u ON u.id = d.user_id
                 WHERE s.token_hash = $1",
                &[&&token[..]],
            )
            .await?;
        row.map(|r| {
            Ok(SessionRow {
                principal: Principal {
                    user: user_row(&r, 0)?,
                    device: DeviceId(col(&r, 3)?),
                    since: col(&r, 4)?,
                },
                last_used: col(&r, 5)?,
            })
        })
        .transpose()
    }

    async fn touch_session(&mut self, token: &SecretHash) -> Result<()> {
        self.ctx
            .exec(
                "WITH s AS (
                     UPDATE sessions SET last_used_at = $2 WHERE token_hash = $1
                     RETURNING device_id
                 )
                 UPDATE devices SET last_seen = $2 WHERE id IN (SELECT device_id FROM s)",
                &[&&token[..], &self.ctx.now],
            )
            .await?;
        Ok(())
    }

    async fn delete_sessions(&mut self, user: UserId) -> Result<u32> {
        let n = self
            .ctx
            .exec(
                "DELETE FROM sessions
                 WHERE device_id IN (SELECT id FROM devices WHERE user_id = $1)",
                &[&user.0],
            )
            .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn insert_session(&mut self, token: &SecretHash, device: DeviceId) -> Result<()> {
        self.ctx
            .exec(
                "INSERT INTO sessions (token_hash, device_id, created_at, last_used_at)
                 VALUES ($1, $2, $3, $3)",
                &[&&token[..], &device.0, &self.ctx.now],
            )
            .await?;
        Ok(())
    }

    async fn account(&mut self, user: UserId) -> Result<Option<Account>> {
        let row = self
            .ctx
            .opt(
                "SELECT created_at, operator, suspended_at, suspend_reason, privacy, recovery_key,
                        bio
                 FROM users WHERE id = $1",
                &[&user.0],
            )
            .await?;
        row.map(|r| {
            let suspended = match col::<Option<i64>>(&r, 2)? {
                Some(at) => Some((at, col::<Option<String>>(&r, 3)?.unwrap_or_default())),
                None => None,
            };
            Ok(Account {
                created_at: col(&r, 0)?,
                operator: col(&r, 1)?,
                suspended,
                privacy: json::<Privacy>(col(&r, 4)?).unwrap_or_default(),
                recovery_key: col(&r, 5)?,
                bio: col(&r, 6)?,
            })
        })
        .transpose()
    }

    async fn update_account(&mut self, user: UserId, update: &AccountUpdate) -> Result<()> {
        let id = user.0;
        match update {
            AccountUpdate::Privacy(p) => {
                self.ctx
                    .exec(
                        "UPDATE users SET privacy = $2 WHERE id = $1",
                        &[&id, &encode(p)?],
                    )
                    .await
            }
            AccountUpdate::Operator(o) => {
                self.ctx
                    .exec("UPDATE users SET operator = $2 WHERE id = $1", &[&id, o])
                    .await
            }
            AccountUpdate::Suspended(s) => {
                self.ctx
                    .exec(
                        "UPDATE users SET suspended_at = $2, suspend_reason = $3 WHERE id = $1",
                        &[
                            &id,
                            &s.as_ref().map(|(at, _)| *at),
                            &s.as_ref().map(|(_, why)| why.as_str()),
                        ],
                    )
                    .await
            }
            AccountUpdate::RecoveryKey(k) => {
                self.ctx
                    .exec(
                        "UPDATE users SET recovery_key = $2 WHERE id = $1",
                        &[&id, k],
                    )
                    .await
            }
            AccountUpdate::Profile { display_name, bio } => {
                self.ctx
                    .exec(
                        "UPDATE users SET display_name = $2, bio = $3 WHERE id = $1",
                        &[&id, display_name, bio],
                    )
                    .await
            }
        }?;
        Ok(())
    }

    async fn relation(&mut self, user: UserId, other: UserId) -> Result<Relation> {
        let rows = self
            .ctx
            .query(
                "SELECT kind FROM relations WHERE user_id = $1 AND other_id = $2",
                &[&user.0, &other.0],
            )
            .await?;
        let mut relation = Relation::default();
        for r in &rows {
            match col::<String>(r, 0)?.as_str() {
                "block" => relation.blocked = true,
                "contact" => relation.contact = true,
                _ => {}
            }
        }
        Ok(relation)
    }

    async fn set_relation(
        &mut self,
        user: UserId,
        other: UserId,
        kind: RelationKind,
        on: bool,
    ) -> Result<()> {
        if on {
            self.ctx
                .exec(
                    "INSERT INTO relations (user_id, other_id, kind, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&user.0, &other.0, &kind.as_str(), &self.ctx.now],
                )
                .await?;
        } else {
            self.ctx
                .exec(
                    "DELETE FROM relations WHERE user_id = $1 AND other_id = $2 AND kind = $3",
                    &[&user.0, &other.0, &kind.as_str()],
                )
                .await?;
        }
        Ok(())
    }

    async fn related(
        &mut self,
        user: UserId,
        kind: RelationKind,
        limit: u32,
    ) -> Result<Vec<UserInfo>> {
        let rows = self
            .ctx
            .query(
                "SELECT u.id, u.handle, u.display_name FROM relations r
                 JOIN users u ON u.id = r.other_id
                 WHERE r.user_id = $1 AND r.kind = $2 ORDER BY u.handle LIMIT $3",
                &[&user.0, &kind.as_str(), &i64::from(limit)],
            )
            .await?;
        rows.iter().map(|r| user_row(r, 0)).collect()
    }

    async fn count_daily(&mut self, user: UserId, what: &str, day: i64) -> Result<u32> {
        let row = self
            .ctx
            .one(
                "WITH old AS (
                     DELETE FROM daily_counts WHERE user_id = $1 AND what = $2 AND day < $3
                 )
                 INSERT INTO daily_counts (user_id, what, day, n) VALUES ($1, $2, $3, 1)
                 ON CONFLICT (user_id, what, day) DO UPDATE SET n = daily_counts.n + 1
                 RETURNING n",
                &[&user.0, &what, &day],
            )
            .await?;
        Ok(count(col(&row, 0)?))
    }

    async fn insert_report(&mut self, report: &NewReport) -> Result<u64> {
        let row = self
            .ctx
            .one(
                "INSERT INTO reports (reporter_id, user_id, conversation_id, seq, text, reason,
                                      comment, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &report.reporter.0,
                    &report.user.0,
                    &report.conversation.map(|c| c.0),
                    &report.seq.map(sql),
                    &report.text,
                    &report.reason.as_str(),
                    &report.comment,
                    &self.ctx.now,
                ],
            )
            .await?;
        Ok(num(col(&row, 0)?))
    }

    async fn reports(&mut self, all: bool, limit: u32) -> Result<Vec<Report>> {
        let rows = self
            .ctx
            .query(
                "SELECT r.id, a.id, a.handle, a.display_name, b.id, b.handle, b.display_name,
                        r.conversation_id, r.seq, r.text, r.reason, r.comment, r.created_at,
                        r.resolved_at, r.resolution
                 FROM reports r JOIN users a ON a.id = r.reporter_id
                 JOIN users b ON b.id = r.user_id
                 WHERE $1 OR r.resolved_at IS NULL ORDER BY r.id DESC LIMIT $2",
                &[&all, &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Report {
                    id: num(col(r, 0)?),
                    reporter: user_row(r, 1)?,
                    user: user_row(r, 4)?,
                    conversation: col::<Option<i64>>(r, 7)?.map(ConversationId),
                    seq: col::<Option<i64>>(r, 8)?.map(num),
                    text: col(r, 9)?,
                    reason: ReportReason::parse(&col::<String>(r, 10)?)
                        .unwrap_or(ReportReason::Other),
                    comment: col(r, 11)?,
                    created_at: col(r, 12)?,
                    resolved_at: col(r, 13)?,
                    resolution: col(r, 14)?,
                })
            })
            .collect()
    }

    async fn resolve_report(&mut self, id: u64, resolution: &str) -> Result<bool> {
        let n = self
            .ctx
            .exec(
                "UPDATE reports SET resolved_at = $2, resolution = $3
                 WHERE id = $1 AND resolved_at IS NULL",
                &[&sql(id), &self.ctx.now, &resolution],
            )
            .await?;
        Ok(n > 0)
    }

    async fn insert_audit(&mut self, entry: &NewAudit) -> Result<()> {
        self.ctx
            .exec(
                "INSERT INTO audit (operator_id, action, target, detail, at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &entry.operator.map(|u| u.0),
                    &entry.action,
                    &entry.target,
                    &entry.detail,
                    &self.ctx.now,
                ],
            )
            .await?;
        Ok(())
    }

    async fn audit(&mut self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = self
            .ctx
            .query(
                "SELECT a.id, u.id, u.handle, u.display_name, a.action, a.target, a.detail, a.at
                 FROM audit a LEFT JOIN users u ON u.id = a.operator_id
                 ORDER BY a.id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let operator = match col::<Option<i64>>(r, 1)? {
                    Some(_) => Some(user_row(r, 1)?),
                    None => None,
                };
                Ok(AuditEntry {
                    id: num(col(r, 0)?),
                    operator,
                    action: col(r, 4)?,
                    target: col(r, 5)?,
                    detail: col(r, 6)?,
                    at: col(r, 7)?,
                })
            })
            .collect()
    }

    async fn delete_session(&mut self, token: &SecretHash) -> Result<()> {
        self.ctx
            .exec("DELETE FROM sessions WHERE token_hash = $1", &[&&token[..]])
            .await?;
        Ok(())
    }

    async fn put_invite(
        &mut self,
        code: &SecretHash,
        uses: u32,
        expires_at: Option<i64>,
    ) -> Result<()> {
        self.ctx
            .exec(
                "INSERT INTO invites (code_hash, uses_left, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (code_hash) DO UPDATE
                 SET uses_left = EXCLUDED.uses_left, expires_at = EXCLUDED.expires_at",
                &[&&code[..], &i64::from(uses), &expires_at],
            )
            .await?;
        Ok(())
    }

    async fn take_invite(&mut self, code: &SecretHash) -> Result<bool> {
        let n = self
            .ctx
            .exec(
                "UPDATE invites SET uses_left = uses_left - 1
                 WHERE code_hash = $1 AND uses_left > 0
                   AND (expires_at IS NULL OR expires_at > $2)",
                &[&&code[..], &self.ctx.now],
            )
            .await?;
        Ok(n > 0)
    }

    async fn put_link_code(
        &mut self,
        code: &SecretHash,
        user: UserId,
        expires_at: i64,
    ) -> Result<()> {
        self.ctx
            .exec(
                "INSERT INTO link_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (code_hash) DO UPDATE SET user_id = EXCLUDED.user_id,
                     expires_at = EXCLUDED.expires_at",
                &[&&code[..], &user.0, &expires_at],
            )
            .await?;
        Ok(())
    }

    async fn take_link_code(&mut self, code: &SecretHash) -> Result<Option<(UserId, i64)>> {
        let row = self
            .ctx
            .opt(
                "DELETE FROM link_codes WHERE code_hash = $1 RETURNING user_id, expires_at",
                &[&&code[..]],
            )
            .await?;
        row.map(|r| Ok((UserId(col(&r, 0)?), col(&r, 1)?)))
            .transpose()
    }

    /// The peer and the conversation, if any, in one round trip.
    async fn peer(
        &mut self,
        handle: &str,
        me: UserId,
    ) -> Result<Option<(UserInfo, Option<ConversationId>)>> {
        let row = self
            .ctx
            .opt(
                // The join spells chapar_core::rules::direct_key in SQL: keep the two alike
                // (the conformance suite's direct cases fail when they drift).
                "SELECT u.id, u.handle, u.display_name, c.id FROM users u
                 LEFT JOIN conversations c
                     ON c.direct_key = LEAST(u.id, $2)::text || ':' || GREATEST(u.id, $2)::text
                 WHERE u.handle = $1",
                &[&handle, &me.0],
            )
            .await?;
        row.map(|r| {
            let conv = col::<Option<i64>>(&r, 3)?.map(ConversationId);
            Ok((user_row(&r, 0)?, conv))
        })
        .transpose()
    }

    async fn direct_conversation(&mut self, key: &str) -> Result<Option<ConversationId>> {
        let row = self
            .ctx
            .opt(
                "SELECT id FROM conversations WHERE direct_key = $1",
                &[&key],
            )
            .await?;
        row.map(|r| col(&r, 0).map(ConversationId)).transpose()
    }

    async fn group_created_by(
        &mut self,
        device: DeviceId,
        client_id: &str,
    ) -> Result<Option<(ConversationId, i64)>> {
        let row = self
            .ctx
            .opt(
                "SELECT id, created_at FROM conversations
                 WHERE creator_device = $1 AND create_client_id = $2",
                &[&device.0, &client_id],
            )
            .await?;
        row.map(|r| Ok((ConversationId(col(&r, 0)?), col(&r, 1)?)))
            .transpose()
    }

    async fn insert_conversation(
        &mut self,
        new: &NewConversation,
    ) -> Result<Option<ConversationId>> {
        let (device, client_id) = match &new.creator {
            Some((d, c)) => (Some(d.0), Some(c.as_str())),
            None => (None, None),
        };
        // Two nodes may make one direct conversation at once: the loser's insert does nothing
        // (after waiting for the winner's commit) and the caller finds the winner's row.
        let row = self
            .ctx
            .opt(
                "INSERT INTO conversations (kind, title, last_seq, created_at, updated_at,
                                            direct_key, creator_device, create_client_id)
                 VALUES ($1, $2, 0, $3, $3, $4, $5, $6)
                 ON CONFLICT (direct_key) DO NOTHING RETURNING id",
                &[
                    &kind_str(new.kind),
                    &new.title,
                    &self.ctx.now,
                    &new.direct_key,
                    &device,
                    &client_id,
                ],
            )
            .await?;
        row.map(|r| col(&r, 0).map(ConversationId)).transpose()
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
        let row = self
            .ctx
            .opt(
                "SELECT c.id, c.kind, c.title, c.last_seq, c.updated_at, c.blocked, c.pinned_seq,
                        m.role, m.joined_seq, m.delivered_seq, m.read_seq,
                        d.seq, d.server_time
                 FROM conversations c
                 LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = $2
                 LEFT JOIN messages d ON d.conversation_id = c.id AND d.sender_device = $3
                                     AND d.client_id = $4
                 WHERE c.id = $1
                 FOR NO KEY UPDATE OF c",
                &[&conv.0, &user.0, &device, &client_id],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let first = match col::<Option<i64>>(&row, 11)? {
            Some(seq) => Some((num(seq), col(&row, 12)?)),
            None => None,
        };
        Ok(Some(LockRow {
            conv: conv_row(&row, 0)?,
            member: member_row_at(&row, 7)?,
            first,
        }))
    }

    async fn conversation_member(
        &mut self,
        conv: ConversationId,
        user: UserId,
    ) -> Result<Option<(ConvRow, Option<MemberRow>)>> {
        let row = self
            .ctx
            .opt(
                "SELECT c.id, c.kind, c.title, c.last_seq, c.updated_at, c.blocked, c.pinned_seq,
                        m.role, m.joined_seq, m.delivered_seq, m.read_seq
                 FROM conversations c
                 LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = $2
                 WHERE c.id = $1",
                &[&conv.0, &user.0],
            )
            .await?;
        row.map(|r| Ok((conv_row(&r, 0)?, member_row_at(&r, 7)?)))
            .transpose()
    }

    async fn member(&mut self, conv: ConversationId, user: UserId) -> Result<Option<MemberRow>> {
        let row = self
            .ctx
            .opt(
                "SELECT role, joined_seq, delivered_seq, read_seq FROM members
                 WHERE conversation_id = $1 AND user_id = $2",
                &[&conv.0, &user.0],
            )
            .await?;
        match row {
            Some(r) => member_row_at(&r, 0),
            None => Ok(None),
        }
    }

    async fn member_ids(&mut self, conv: ConversationId) -> Result<Vec<UserId>> {
        let rows = self
            .ctx
            .query(
                "SELECT user_id FROM members WHERE conversation_id = $1 ORDER BY joined_order",
                &[&conv.0],
            )
            .await?;
        rows.iter().map(|r| col(r, 0).map(UserId)).collect()
    }

    async fn member_roles(&mut self, conv: ConversationId) -> Result<Vec<(UserId, Role, i64)>> {
        let rows = self
            .ctx
            .query(
                "SELECT user_id, role, joined_order FROM members WHERE conversation_id = $1
                 ORDER BY joined_order",
                &[&conv.0],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    UserId(col(r, 0)?),
                    parse_role(&col::<String>(r, 1)?),
                    col(r, 2)?,
                ))
            })
            .collect()
    }

    async fn members(&mut self, conv: ConversationId) -> Result<Vec<MemberInfo>> {
        let rows = self
            .ctx
            .query(
                "SELECT u.id, u.handle, u.display_name, m.role, m.delivered_seq, m.read_seq
                 FROM members m JOIN users u ON u.id = m.user_id
                 WHERE m.conversation_id = $1 ORDER BY m.joined_order",
                &[&conv.0],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(MemberInfo {
                    user: user_row(r, 0)?,
                    role: parse_role(&col::<String>(r, 3)?),
                    delivered_seq: num(col(r, 4)?),
                    read_seq: num(col(r, 5)?),
                })
            })
            .collect()
    }

    async fn message(&mut self, conv: ConversationId, seq: Seq) -> Result<Option<Message>> {
        let mut found = messages_at(self.ctx, &[(conv.0, sql(seq))]).await?;
        Ok(found.remove(&(conv.0, sql(seq))))
    }

    async fn insert_member(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        role: Role,
        joined_seq: Seq,
    ) -> Result<()> {
        self.ctx
            .exec(
                "INSERT INTO members (conversation_id, user_id, role, joined_seq, joined_order,
                                      delivered_seq, read_seq)
                 VALUES ($1, $2, $3, $4,
                         (SELECT COALESCE(MAX(joined_order), 0) + 1 FROM members
                          WHERE conversation_id = $1),
                         0, 0)",
                &[&lock.id().0, &user.0, &role.as_str(), &sql(joined_seq)],
            )
            .await?;
        Ok(())
    }

    async fn delete_member(&mut self, lock: &ConvLock, user: UserId) -> Result<()> {
        self.ctx
            .exec(
                "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2",
                &[&lock.id().0, &user.0],
            )
            .await?;
        Ok(())
    }

    async fn set_role(&mut self, lock: &ConvLock, user: UserId, role: Role) -> Result<()> {
        self.ctx
            .exec(
                "UPDATE members SET role = $3 WHERE conversation_id = $1 AND user_id = $2",
                &[&lock.id().0, &user.0, &role.as_str()],
            )
            .await?;
        Ok(())
    }

    async fn set_title(&mut self, lock: &ConvLock, title: &str) -> Result<()> {
        self.ctx
            .exec(
                "UPDATE conversations SET title = $2 WHERE id = $1",
                &[&lock.id().0, &title],
            )
            .await?;
        Ok(())
    }

    async fn chat_states(
        &mut self,
        user: UserId,
        only: Option<ConversationId>,
    ) -> Result<Vec<(ConversationId, ChatState)>> {
        let rows = self
            .ctx
            .query(
                "SELECT conversation_id, archived, cleared_seq FROM chat_state
                 WHERE user_id = $1 AND ($2::bigint IS NULL OR conversation_id = $2)",
                &[&user.0, &only.map(|c| c.0)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    ConversationId(col(r, 0)?),
                    ChatState {
                        archived: col(r, 1)?,
                        cleared_seq: num(col(r, 2)?),
                    },
                ))
            })
            .collect()
    }

    async fn set_chat_state(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        state: &ChatState,
    ) -> Result<()> {
        self.ctx
            .exec(
                "INSERT INTO chat_state (user_id, conversation_id, archived, cleared_seq)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, conversation_id)
                 DO UPDATE SET archived = EXCLUDED.archived, cleared_seq = EXCLUDED.cleared_seq",
                &[
                    &user.0,
                    &lock.id().0,
                    &state.archived,
                    &sql(state.cleared_seq),
                ],
            )
            .await?;
        Ok(())
    }

    async fn hide_message(&mut self, lock: &ConvLock, user: UserId, seq: Seq) -> Result<()> {
        self.ctx
            .exec(
                "INSERT INTO hidden_messages (user_id, conversation_id, seq) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&user.0, &lock.id().0, &sql(seq)],
            )
            .await?;
        Ok(())
    }

    async fn hidden(
        &mut self,
        user: UserId,
        messages: &[(ConversationId, Seq)],
    ) -> Result<Vec<(ConversationId, Seq)>> {
        let convs: Vec<i64> = messages.iter().map(|(c, _)| c.0).collect();
        let seqs: Vec<i64> = messages.iter().map(|(_, s)| sql(*s)).collect();
        let rows = self
            .ctx
            .query(
                "SELECT h.conversation_id, h.seq
                 FROM unnest($2::bigint[], $3::bigint[]) AS w(c, s)
                 JOIN hidden_messages h
                   ON h.user_id = $1 AND h.conversation_id = w.c AND h.seq = w.s",
                &[&user.0, &convs, &seqs],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((ConversationId(col(r, 0)?), num(col(r, 1)?))))
            .collect()
    }

    async fn set_description(&mut self, lock: &ConvLock, description: &str) -> Result<()> {
        self.ctx
            .exec(
                "UPDATE conversations SET description = $2 WHERE id = $1",
                &[&lock.id().0, &description],
            )
            .await?;
        Ok(())
    }

    async fn description(&mut self, conv: ConversationId) -> Result<String> {
        let row = self
            .ctx
            .opt(
                "SELECT description FROM conversations WHERE id = $1",
                &[&conv.0],
            )
            .await?;
        row.map(|r| col::<String>(&r, 0))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn set_pinned(&mut self, lock: &ConvLock, seq: Option<Seq>) -> Result<()> {
        self.ctx
            .exec(
                "UPDATE conversations SET pinned_seq = $2 WHERE id = $1",
                &[&lock.id().0, &seq.map(sql)],
            )
            .await?;
        Ok(())
    }

    async fn set_blocked(&mut self, lock: &ConvLock, blocked: bool) -> Result<()> {
        self.ctx
            .exec(
                "UPDATE conversations SET blocked = $2 WHERE id = $1",
                &[&lock.id().0, &blocked],
            )
            .await?;
        Ok(())
    }

    async fn put_invitation(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        inviter: UserId,
    ) -> Result<()> {
        self.ctx
            .exec(
                "INSERT INTO invitations (conversation_id, user_id, inviter_id, created_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (conversation_id, user_id)
                 DO UPDATE SET inviter_id = EXCLUDED.inviter_id, created_at = EXCLUDED.created_at",
                &[&lock.id().0, &user.0, &inviter.0, &self.ctx.now],
            )
            .await?;
        Ok(())
    }

    async fn pending_invitations(&mut self, user: UserId, except: ConversationId) -> Result<u32> {
        let row = self
            .ctx
            .one(
                "SELECT COUNT(*) FROM invitations WHERE user_id = $1 AND conversation_id <> $2",
                &[&user.0, &except.0],
            )
            .await?;
        Ok(count(col(&row, 0)?))
    }

    async fn take_invitation(
        &mut self,
        conv: ConversationId,
        user: UserId,
    ) -> Result<Option<Invitation>> {
        let row = self
            .ctx
            .opt(
                "WITH i AS (
                     DELETE FROM invitations WHERE conversation_id = $1 AND user_id = $2
                     RETURNING conversation_id, inviter_id, created_at
                 )
                 SELECT i.conversation_id, c.title, u.id, u.handle, u.display_name, i.created_at
                 FROM i JOIN conversations c ON c.id = i.conversation_id
                 JOIN users u ON u.id = i.inviter_id",
                &[&conv.0, &user.0],
            )
            .await?;
        row.map(|r| invitation_row(&r)).transpose()
    }

    async fn invitations(&mut self, user: UserId, limit: u32) -> Result<Vec<Invitation>> {
        let rows = self
            .ctx
            .query(
                "SELECT i.conversation_id, c.title, u.id, u.handle, u.display_name, i.created_at
                 FROM invitations i JOIN conversations c ON c.id = i.conversation_id
                 JOIN users u ON u.id = i.inviter_id
                 WHERE i.user_id = $1 ORDER BY i.created_at DESC, i.conversation_id DESC
                 LIMIT $2",
                &[&user.0, &i64::from(limit)],
            )
            .await?;
        rows.iter().map(invitation_row).collect()
    }

    async fn set_markers(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        delivered: Seq,
        read: Seq,
    ) -> Result<()> {
        self.ctx
            .exec(
                "UPDATE members SET delivered_seq = $3, read_seq = $4
                 WHERE conversation_id = $1 AND user_id = $2",
                &[&lock.id().0, &user.0, &sql(delivered), &sql(read)],
            )
            .await?;
        Ok(())
    }

    /// One statement (one round trip): the next seq (under the conversation's lock, which the
    /// caller holds), the entry, the actor's own markers, and every member's next pts and feed
    /// row, locking the members' user rows in id order.
    async fn append(
        &mut self,
        lock: &ConvLock,
        actor: &Principal,
        entry: &Entry,
    ) -> Result<Appended> {
        let system = entry.system.as_ref().map(encode).transpose()?;
        let data: Option<&[u8]> = entry.data.as_ref().map(|d| &d.0[..]);
        let (entities, reply_markup) = rich_columns(&entry.entities, &entry.reply_markup)?;
        let forward = entry.forward.as_ref().map(encode).transpose()?;
        let reply_to = entry.reply_to.map(sql);
        let target = entry.target.map(sql);
        let rows = self
            .ctx
            .query(
                "WITH s AS (
                     UPDATE conversations SET last_seq = last_seq + 1, updated_at = $6
                     WHERE id = $1 RETURNING last_seq
                 ), m AS (
                     INSERT INTO messages (conversation_id, seq, sender_id, sender_device,
                         client_id, server_time, kind, content_type, text, data, reply_to,
                         target, remove, system, edited_at, deleted, entities, reply_markup,
                         forward)
                     SELECT $1, s.last_seq, $2, $3, $4, $6, $7, $8, $9, $10, $11, $12, $13, $5,
                            NULL, FALSE, $14, $15, $16
                     FROM s RETURNING seq
                 ), k AS (
                     UPDATE members
                     SET delivered_seq = GREATEST(delivered_seq, (SELECT seq FROM m)),
                         read_seq = GREATEST(read_seq, (SELECT seq FROM m))
                     WHERE conversation_id = $1 AND user_id = $2
                 ), r AS (
                     SELECT u.id FROM members mb JOIN users u ON u.id = mb.user_id
                     WHERE mb.conversation_id = $1 ORDER BY u.id FOR NO KEY UPDATE OF u
                 ), b AS (
                     UPDATE users u SET pts = u.pts + 1 FROM r WHERE u.id = r.id
                     RETURNING u.id, u.pts
                 ), f AS (
                     INSERT INTO feed (user_id, pts, kind, conversation_id, seq, payload)
                     SELECT b.id, b.pts, 'message', $1, m.seq, NULL FROM b, m
                     RETURNING user_id, pts, seq
                 )
                 SELECT user_id, pts, seq FROM f",
                &[
                    &lock.id().0,
                    &actor.user.id.0,
                    &actor.device.0,
                    &entry.client_id,
                    &system,
                    &self.ctx.now,
                    &entry.kind.as_str(),
                    &entry.content_type,
                    &entry.text,
                    &data,
                    &reply_to,
                    &target,
                    &entry.remove,
                    &entities,
                    &reply_markup,
                    &forward,
                ],
            )
            .await?;
        let Some(first) = rows.first() else {
            // The actor is a member, so there is always at least one recipient.
            return Err(Error::Unavailable("an append reached no member".into()));
        };
        Ok(Appended {
            seq: num(col(first, 2)?),
            recipients: pushed(&rows)?,
        })
    }

    async fn change_message(
        &mut self,
        lock: &ConvLock,
        seq: Seq,
        change: &MessageChange,
    ) -> Result<()> {
        let conv = lock.id().0;
        let seq = sql(seq);
        match change {
            MessageChange::Edit {
                text,
                data,
                entities,
                reply_markup,
                edited_at,
            } => {
                let (entities, reply_markup) = rich_columns(entities, reply_markup)?;
                let data: Option<&[u8]> = data.as_ref().map(|d| &d.0[..]);
                self.ctx
                    .exec(
                        "UPDATE messages SET text = $3, data = $4, entities = $5,
                             reply_markup = $6, edited_at = $7
                         WHERE conversation_id = $1 AND seq = $2",
                        &[
                            &conv,
                            &seq,
                            text,
                            &data,
                            &entities,
                            &reply_markup,
                            edited_at,
                        ],
                    )
                    .await?;
            }
            MessageChange::Delete => {
                // The message and its edit entries lose every version of their body.
                self.ctx
                    .query(
                        "WITH c AS (
                             UPDATE messages SET text = NULL, data = NULL, entities = NULL,
                                 reply_markup = NULL, deleted = (seq = $2)
                             WHERE conversation_id = $1
                               AND (seq = $2 OR (target = $2 AND kind = 'edit'))
                         ), r AS (
                             DELETE FROM reactions WHERE conversation_id = $1 AND seq = $2
                         )
                         SELECT 1",
                        &[&conv, &seq],
                    )
                    .await?;
            }
            MessageChange::React {
                user,
                emoji,
                remove,
            } => {
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                    [&conv, &seq, &user.0, emoji];
                if *remove {
                    self.ctx
                        .exec(
                            "DELETE FROM reactions WHERE conversation_id = $1 AND seq = $2
                             AND user_id = $3 AND emoji = $4",
                            &params,
                        )
                        .await?;
                } else {
                    self.ctx
                        .exec(
                            "INSERT INTO reactions (conversation_id, seq, user_id, emoji)
                             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                            &params,
                        )
                        .await?;
                }
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
        let users: Vec<i64> = to.users().iter().map(|u| u.0).collect();
        let rows = self
            .ctx
            .query(
                "WITH r AS (
                     SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE
                 ), b AS (
                     UPDATE users u SET pts = u.pts + 1 FROM r WHERE u.id = r.id
                     RETURNING u.id, u.pts
                 )
                 INSERT INTO feed (user_id, pts, kind, conversation_id, seq, payload)
                 SELECT id, pts, $2, $3, $4, $5 FROM b
                 RETURNING user_id, pts",
                &[
                    &users,
                    &item.kind.as_str(),
                    &lock.id().0,
                    &item.seq.map(sql),
                    &item.payload,
                ],
            )
            .await?;
        let mut out = pushed(&rows)?;
        out.sort_unstable();
        Ok(out)
    }

    async fn summaries(
        &mut self,
        user: UserId,
        limit: u32,
        only: Option<ConversationId>,
    ) -> Result<Vec<Summary>> {
        let rows = self
            .ctx
            .query(
                "SELECT c.id, c.kind, c.title, c.last_seq, c.updated_at, c.blocked, c.pinned_seq,
                        m.role, m.joined_seq, m.delivered_seq, m.read_seq,
                        (SELECT COUNT(*) FROM members x WHERE x.conversation_id = c.id),
                        (SELECT COUNT(*) FROM messages g WHERE g.conversation_id = c.id
                            AND g.seq > GREATEST(m.read_seq, m.joined_seq - 1)
                            AND g.kind = 'text' AND g.sender_id <> $1 AND NOT g.deleted),
                        (SELECT g.seq FROM messages g WHERE g.conversation_id = c.id
                            AND g.seq >= m.joined_seq AND g.kind IN ('text', 'system')
                            ORDER BY g.seq DESC LIMIT 1),
                        p.id, p.handle, p.display_name
                 FROM members m JOIN conversations c ON c.id = m.conversation_id
                 LEFT JOIN LATERAL (
                     SELECT u.id, u.handle, u.display_name FROM members pm
                     JOIN users u ON u.id = pm.user_id
                     WHERE pm.conversation_id = c.id AND pm.user_id <> $1 AND c.kind = 'direct'
                     LIMIT 1
                 ) p ON TRUE
                 WHERE m.user_id = $1 AND ($3::bigint IS NULL OR c.id = $3)
                 ORDER BY c.updated_at DESC, c.id DESC LIMIT $2",
                &[&user.0, &i64::from(limit), &only.map(|c| c.0)],
            )
            .await?;
        let mut wanted: Vec<(i64, i64)> = Vec::new();
        for r in &rows {
            if let Some(seq) = col::<Option<i64>>(r, 13)? {
                wanted.push((col(r, 0)?, seq));
            }
        }
        let mut last = messages_at(self.ctx, &wanted).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let conv = conv_row(r, 0)?;
            let member = member_row_at(r, 7)?
                .ok_or_else(|| Error::Unavailable("a membership row without a role".into()))?;
            let peer = match col::<Option<i64>>(r, 14)? {
                Some(_) if conv.kind == ConversationKind::Direct => Some(user_row(r, 14)?),
                _ => None,
            };
            let last_message =
                col::<Option<i64>>(r, 13)?.and_then(|s| last.remove(&(conv.id.0, s)));
            out.push(Summary {
                member_count: count(col(r, 11)?),
                unread: count(col(r, 12)?),
                conv,
                member,
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
        let rows = self
            .ctx
            .query(
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages m LEFT JOIN users u ON u.id = m.sender_id
                     WHERE m.conversation_id = $1 AND m.seq >= $2 AND m.seq < $3
                     ORDER BY m.seq DESC LIMIT $4"
                ),
                &[&conv.0, &sql(from), &sql(before), &i64::from(limit)],
            )
            .await?;
        let mut page = rows
            .iter()
            .map(|r| message_row(r, 0))
            .collect::<Result<Vec<_>>>()?;
        page.reverse();
        with_reactions(self.ctx, conv, &mut page).await?;
        Ok(page)
    }

    async fn index_message(&mut self, lock: &ConvLock, seq: Seq, words: &[String]) -> Result<()> {
        let (conv, seq) = (lock.id().0, sql(seq));
        if words.is_empty() {
            self.ctx
                .exec(
                    "DELETE FROM message_search WHERE conversation_id = $1 AND seq = $2",
                    &[&conv, &seq],
                )
                .await?;
        } else {
            self.ctx
                .exec(
                    "INSERT INTO message_search (conversation_id, seq, words)
                     VALUES ($1, $2, array_to_tsvector($3::text[]))
                     ON CONFLICT (conversation_id, seq) DO UPDATE SET words = EXCLUDED.words",
                    &[&conv, &seq, &words],
                )
                .await?;
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
        // Each word a quoted prefix lexeme, read by tsquery's input (no parser, no locale).
        let query = words
            .iter()
            .map(|w| format!("'{}':*", w.replace('\\', "\\\\").replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(" & ");
        let rows = self
            .ctx
            .query(
                "SELECT s.conversation_id, s.seq FROM message_search s
                 JOIN messages m ON m.conversation_id = s.conversation_id AND m.seq = s.seq
                 JOIN members b ON b.conversation_id = s.conversation_id AND b.user_id = $1
                 WHERE s.words @@ $2::text::tsquery AND s.seq >= b.joined_seq
                   AND ($3::bigint IS NULL OR s.conversation_id = $3)
                   AND ($4::bigint IS NULL OR m.server_time < $4)
                 ORDER BY m.server_time DESC, s.conversation_id DESC, s.seq DESC LIMIT $5",
                &[
                    &user.0,
                    &query,
                    &conversation.map(|c| c.0),
                    &before,
                    &i64::from(limit),
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (ConversationId(r.get(0)), num(r.get(1))))
            .collect())
    }

    async fn feed(&mut self, user: UserId, after: Pts, limit: u32) -> Result<Vec<FeedRow>> {
        let rows = self
            .ctx
            .query(
                "SELECT pts, kind, conversation_id, seq, payload FROM feed
                 WHERE user_id = $1 AND pts > $2 ORDER BY pts LIMIT $3",
                &[&user.0, &sql(after), &i64::from(limit)],
            )
            .await?;
        let mut wanted: Vec<(i64, i64)> = Vec::new();
        for r in &rows {
            if col::<String>(r, 1)? == "message"
                && let Some(seq) = col::<Option<i64>>(r, 3)?
            {
                wanted.push((col(r, 2)?, seq));
            }
        }
        let messages = messages_at(self.ctx, &wanted).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let pts = num(col(r, 0)?);
            let kind: String = col(r, 1)?;
            let payload: Option<String> = col(r, 4)?;
            let event = match kind.as_str() {
                "message" => col::<Option<i64>>(r, 3)?
                    .and_then(|seq| messages.get(&(col(r, 2).unwrap_or_default(), seq)))
                    .cloned()
                    .map(Event::Message),
                "receipt" => json::<Receipt>(payload).map(Event::Receipt),
                "callback" => json::<CallbackQuery>(payload).map(Event::CallbackQuery),
                "invitation" => json::<Invitation>(payload).map(Event::Invitation),
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
        let row = match key {
            BotKey::Id(id) => {
                self.ctx
                    .opt(concat!(bot_columns!(), "WHERE b.user_id = $1"), &[&id.0])
                    .await?
            }
            BotKey::Handle(h) => {
                self.ctx
                    .opt(concat!(bot_columns!(), "WHERE u.handle = $1"), &[&h])
                    .await?
            }
            BotKey::Token(t) => {
                self.ctx
                    .opt(
                        concat!(bot_columns!(), "WHERE b.token_hash = $1"),
                        &[&&t[..]],
                    )
                    .await?
            }
        };
        row.map(|r| bot_row(&r)).transpose()
    }

    async fn bots_of(&mut self, owner: UserId) -> Result<Vec<(Bot, bool)>> {
        let rows = self
            .ctx
            .query(
                concat!(
                    bot_columns!(),
                    "WHERE b.owner_id = $1 ORDER BY b.created_at, b.user_id"
                ),
                &[&owner.0],
            )
            .await?;
        rows.iter().map(bot_row).collect()
    }

    async fn insert_bot(
        &mut self,
        user: UserId,
        owner: UserId,
        device: DeviceId,
        kind: BotKind,
        token: &SecretHash,
    ) -> Result<()> {
        self.ctx
            .exec(
                "INSERT INTO bots (user_id, owner_id, device_id, kind, token_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &user.0,
                    &owner.0,
                    &device.0,
                    &kind.as_str(),
                    &&token[..],
                    &self.ctx.now,
                ],
            )
            .await?;
        Ok(())
    }

    async fn update_bot(&mut self, bot: UserId, update: &BotUpdate) -> Result<()> {
        let id = bot.0;
        match update {
            BotUpdate::Token(t) => {
                let t: Option<&[u8]> = t.as_ref().map(|h| &h[..]);
                self.ctx
                    .exec(
                        "UPDATE bots SET token_hash = $2 WHERE user_id = $1",
                        &[&id, &t],
                    )
                    .await?
            }
            BotUpdate::ReadAll(r) => {
                self.ctx
                    .exec(
                        "UPDATE bots SET read_all = $2 WHERE user_id = $1",
                        &[&id, r],
                    )
                    .await?
            }
            BotUpdate::Offset(pts) => {
                self.ctx
                    .exec(
                        "UPDATE bots SET confirmed_pts = GREATEST(confirmed_pts, $2)
                         WHERE user_id = $1",
                        &[&id, &sql(*pts)],
                    )
                    .await?
            }
            BotUpdate::Webhook(hook) => {
                let value = hook.as_ref().map(encode).transpose()?;
                self.ctx
                    .exec(
                        "UPDATE bots SET webhook = $2 WHERE user_id = $1",
                        &[&id, &value],
                    )
                    .await?
            }
            BotUpdate::Commands(c) => {
                let value = encode(c)?;
                self.ctx
                    .exec(
                        "UPDATE bots SET commands = $2 WHERE user_id = $1",
                        &[&id, &value],
                    )
                    .await?
            }
            BotUpdate::AllowedUpdates(a) => {
                let value = encode(a)?;
                self.ctx
                    .exec(
                        "UPDATE bots SET allowed_updates = $2 WHERE user_id = $1",
                        &[&id, &value],
                    )
                    .await?
            }
        };
        Ok(())
    }

    async fn webhook_bots(&mut self) -> Result<Vec<UserId>> {
        let rows = self
            .ctx
            .query(
                "SELECT user_id FROM bots WHERE webhook IS NOT NULL ORDER BY user_id",
                &[],
            )
            .await?;
        rows.iter().map(|r| col(r, 0).map(UserId)).collect()
    }

    async fn consent(&mut self, user: UserId, service: UserId) -> Result<bool> {
        let row = self
            .ctx
            .opt(
                "SELECT 1 FROM consents WHERE user_id = $1 AND service_id = $2",
                &[&user.0, &service.0],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn set_consent(&mut self, user: UserId, service: UserId, allowed: bool) -> Result<()> {
        if allowed {
            self.ctx
                .exec(
                    "INSERT INTO consents (user_id, service_id, created_at) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&user.0, &service.0, &self.ctx.now],
                )
                .await?;
        } else {
            self.ctx
                .exec(
                    "DELETE FROM consents WHERE user_id = $1 AND service_id = $2",
                    &[&user.0, &service.0],
                )
                .await?;
        }
        Ok(())
    }
}
