//! Embedded migrations, applied at open by whichever node gets there first.
//!
//! Each migration is an SQL file compiled into the binary. They run in order, each in its own
//! transaction together with the row in `chapar_migrations` that records it, under a session
//! advisory lock: several nodes starting at once apply each migration exactly once, the others
//! wait and then see it done. A crash mid-migration leaves the previous version intact.
//!
//! Rolling upgrades: every migration records `compatible_from`, the oldest schema version whose
//! binaries still work on the schema it produces. Migrations are written expand-only (new tables,
//! new nullable or defaulted columns, new indexes), so `compatible_from` stays where it was and
//! nodes of the previous release keep running (and may restart) while new nodes migrate. A node
//! refuses to start only on a schema that declares it incompatible.

use crate::db::{Ctx, col};
use chapar_core::{Error, Result};

struct Migration {
    sql: &'static str,
    /// The oldest schema version whose binaries work on the schema after this migration.
    compatible_from: i32,
}

/// The migrations, in order. Version N of the schema means the first N have been applied.
const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: include_str!("../migrations/0001_init.sql"),
        compatible_from: 1,
    },
    Migration {
        sql: include_str!("../migrations/0002_bots.sql"),
        compatible_from: 1,
    },
    Migration {
        sql: include_str!("../migrations/0003_domain.sql"),
        compatible_from: 1,
    },
    Migration {
        sql: include_str!("../migrations/0004_safety.sql"),
        compatible_from: 1,
    },
    Migration {
        sql: include_str!("../migrations/0005_profile.sql"),
        compatible_from: 1,
    },
    Migration {
        sql: include_str!("../migrations/0006_find.sql"),
        compatible_from: 1,
    },
    Migration {
        sql: include_str!("../migrations/0007_search.sql"),
        compatible_from: 1,
    },
    Migration {
        sql: include_str!("../migrations/0008_everyday.sql"),
        compatible_from: 1,
    },
];

/// The schema version this binary expects.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Any constant: the key of the advisory lock migrations take.
const MIGRATION_LOCK: i64 = 0x6368_6170_6172; // "chapar"

/// The schema version recorded in the database (0 before the first migration).
pub async fn version(ctx: &Ctx<'_>) -> Result<u32> {
    let exists = ctx
        .opt("SELECT to_regclass('chapar_migrations')::text", &[])
        .await?
        .map(|r| col::<Option<String>>(&r, 0))
        .transpose()?
        .flatten()
        .is_some();
    if !exists {
        return Ok(0);
    }
    let row = ctx
        .one(
            "SELECT COALESCE(MAX(version), 0) FROM chapar_migrations",
            &[],
        )
        .await?;
    Ok(u32::try_from(col::<i32>(&row, 0)?).unwrap_or(0))
}

/// Apply every migration the database has not seen yet.
pub async fn migrate(ctx: &Ctx<'_>) -> Result<()> {
    ctx.simple(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .await?;
    let result = migrate_locked(ctx).await;
    let unlock = ctx
        .simple(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .await;
    result.and(unlock)
}

async fn migrate_locked(ctx: &Ctx<'_>) -> Result<()> {
    ctx.simple(
        "CREATE TABLE IF NOT EXISTS chapar_migrations (
             version         INTEGER PRIMARY KEY,
             compatible_from INTEGER NOT NULL,
             applied_at      TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let current = version(ctx).await?;
    if current > SCHEMA_VERSION {
        let row = ctx
            .one(
                "SELECT compatible_from FROM chapar_migrations ORDER BY version DESC LIMIT 1",
                &[],
            )
            .await?;
        let compatible_from = u32::try_from(col::<i32>(&row, 0)?).unwrap_or(u32::MAX);
        if compatible_from > SCHEMA_VERSION {
            return Err(Error::Unavailable(format!(
                "database schema version {current} needs binaries of schema {compatible_from} \
                 or newer; this binary has schema {SCHEMA_VERSION}"
            )));
        }
        tracing::warn!(
            current,
            ours = SCHEMA_VERSION,
            "database schema is newer than this binary but declared compatible"
        );
        return Ok(());
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i32 + 1;
        ctx.simple("BEGIN").await?;
        let applied = async {
            ctx.simple(m.sql)
                .await
                .map_err(|e| Error::Unavailable(format!("migration {version} failed: {e}")))?;
            ctx.exec(
                "INSERT INTO chapar_migrations (version, compatible_from) VALUES ($1, $2)",
                &[&version, &m.compatible_from],
            )
            .await?;
            ctx.simple("COMMIT").await
        }
        .await;
        if let Err(e) = applied {
            let _ = ctx.simple("ROLLBACK").await;
            return Err(e);
        }
        tracing::info!(version, "applied postgres migration");
    }
    Ok(())
}

/// This cluster's random id (made by the first migration).
pub async fn cluster_id(ctx: &Ctx<'_>) -> Result<String> {
    col(
        &ctx.one("SELECT cluster_id FROM chapar_cluster WHERE id = 1", &[])
            .await?,
        0,
    )
}
