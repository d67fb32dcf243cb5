//! Writing audit rows for the explicit API: an activity entry, a version, or both linked.
//! Hooked writes go through [`crate::trail`] instead.

use audit_core::Changes;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, InsertStatement, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbBackend, SqlErr, StatementBuilder, Value};
use serde_json::{Map, Value as Json};

use crate::dialect::{self, Attribution};
use crate::entity::{activity_log, versions};
use crate::{Error, Result};

/// The activity half of a write.
pub(crate) struct ActivityRow<'a> {
    pub action: &'a str,
    pub changes: &'a Changes,
    /// Properties of the call, merged over the context's.
    pub properties: Option<Json>,
}

/// The version half of a write.
pub(crate) struct VersionRow<'a> {
    pub event: &'a str,
    pub data: &'a Map<String, Json>,
}

/// One audit write.
pub(crate) struct Record<'a> {
    pub subject_type: &'a str,
    pub subject_id: &'a str,
    /// Overrides the context's causer.
    pub causer_id: Option<&'a str>,
    pub activity: Option<ActivityRow<'a>>,
    pub version: Option<VersionRow<'a>>,
}

/// An activity entry as written.
#[derive(Debug, Clone)]
pub(crate) struct WrittenEntry {
    pub id: i64,
    pub causer_id: Option<String>,
    pub properties: Option<Json>,
    pub created_at: DateTime<Utc>,
}

/// A version as written.
#[derive(Debug, Clone)]
pub(crate) struct WrittenVersion {
    pub id: i64,
    pub number: i64,
    pub causer_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The most characters a subject type, an action or a version event holds (their columns
/// are `varchar(100)`).
pub(crate) const MAX_NAME: usize = 100;

/// Refuses a name longer than its column before anything is written: SQLite would keep it
/// whole, and MySQL/MariaDB without strict mode would cut it, merging two names that
/// share their first 100 characters.
fn check_name(what: &'static str, name: &str) -> Result<()> {
    let length = name.chars().count();
    if length > MAX_NAME {
        return Err(crate::Error::NameTooLong {
            what,
            length,
            max: MAX_NAME,
        });
    }
    Ok(())
}

/// Writes `record`, attributing it from the audit context in scope: the version first
/// (numbered `max + 1` for its subject), then the entry linked to it.
pub(crate) async fn write<C: ConnectionTrait>(
    db: &C,
    record: Record<'_>,
) -> Result<(Option<WrittenEntry>, Option<WrittenVersion>)> {
    let by = Attribution::current(
        record.causer_id,
        record.activity.as_ref().and_then(|a| a.properties.as_ref()),
    );
    let subject = (record.subject_type, record.subject_id);
    check_name("subject type", record.subject_type)?;
    if let Some(a) = &record.activity {
        check_name("action", a.action)?;
    }
    if let Some(v) = &record.version {
        check_name("version event", v.event)?;
    }
    dialect::check_subject_id(db.get_database_backend(), subject)?;
    let version = match &record.version {
        Some(v) => Some(insert_version(db, subject, v, &by).await?),
        None => None,
    };
    let entry = match &record.activity {
        Some(a) => {
            let mut insert = dialect::entry_insert();
            let version_id = Expr::val(Value::BigInt(version.as_ref().map(|v| v.id)));
            dialect::push_entry(
                &mut insert,
                subject,
                a.action,
                a.changes,
                Some(&by),
                version_id,
                by.created_at,
                db.get_database_backend(),
            );
            Some(WrittenEntry {
                id: insert_returning_id(db, insert, activity_log::Column::Id).await?,
                causer_id: by.causer_id.clone(),
                properties: by.properties.clone(),
                created_at: by.created_at,
            })
        }
        None => None,
    };
    Ok((entry, version))
}

/// Writes one activity entry (no version).
pub(crate) async fn write_entry<C: ConnectionTrait>(
    db: &C,
    subject: (&str, &str),
    causer_id: Option<&str>,
    activity: ActivityRow<'_>,
) -> Result<WrittenEntry> {
    let (entry, _) = write(
        db,
        Record {
            subject_type: subject.0,
            subject_id: subject.1,
            causer_id,
            activity: Some(activity),
            version: None,
        },
    )
    .await?;
    entry.ok_or(Error::Database {
        context: "writing the activity entry",
        source: sea_orm::DbErr::RecordNotInserted,
    })
}

/// Writes one version (no activity entry).
pub(crate) async fn write_version<C: ConnectionTrait>(
    db: &C,
    subject: (&str, &str),
    version: VersionRow<'_>,
) -> Result<WrittenVersion> {
    check_name("subject type", subject.0)?;
    check_name("version event", version.event)?;
    dialect::check_subject_id(db.get_database_backend(), subject)?;
    let by = Attribution::current(None, None);
    insert_version(db, subject, &version, &by).await
}

/// Inserts a version numbered `max + 1` for its subject; its id and number.
async fn insert_version<C: ConnectionTrait>(
    db: &C,
    subject: (&str, &str),
    v: &VersionRow<'_>,
    by: &Attribution,
) -> Result<WrittenVersion> {
    let written = |id: i64, number: i64| WrittenVersion {
        id,
        number,
        causer_id: by.causer_id.clone(),
        created_at: by.created_at,
    };
    const CONTEXT: &str = "writing the version";
    let causer = by.causer_id.as_deref();
    if db.get_database_backend() == DbBackend::MySql {
        // No `INSERT … SELECT MAX` on InnoDB (see `dialect::mysql`): read, insert, and read
        // again with a locking read when the number was taken meanwhile.
        let mut locking = false;
        loop {
            let number = dialect::latest(db, subject.0, subject.1, locking)
                .await?
                .map_or(1, |l| l.version + 1);
            let insert = dialect::version_insert(
                subject,
                v.event,
                v.data,
                causer,
                by.created_at,
                Value::BigInt(Some(number)).into(),
                db.get_database_backend(),
            );
            match db.execute(&insert).await {
                Ok(res) => return Ok(written(res.last_insert_id() as i64, number)),
                Err(e)
                    if !locking
                        && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                {
                    locking = true;
                }
                Err(e) => return Err(Error::db(CONTEXT)(e)),
            }
        }
    }
    let mut insert = dialect::version_insert(
        subject,
        v.event,
        v.data,
        causer,
        by.created_at,
        dialect::next_number(subject.0, subject.1),
        db.get_database_backend(),
    );
    // An explicit write holds no lock of its subject: a writer of the same subject may
    // take the number between the read of `max` and the insert. The insert then leaves it
    // (a failed statement would end a PostgreSQL transaction) and tries the next number,
    // which each new statement reads from the latest commit under READ COMMITTED.
    insert.on_conflict(
        OnConflict::columns([
            versions::Column::SubjectType,
            versions::Column::SubjectId,
            versions::Column::Version,
        ])
        .do_nothing()
        .to_owned(),
    );
    insert.returning(Query::returning().columns([versions::Column::Id, versions::Column::Version]));
    let stmt = StatementBuilder::build(&insert, &db.get_database_backend());
    for _ in 0..NUMBER_TRIES {
        let Some(row) = db
            .query_one_raw(stmt.clone())
            .await
            .map_err(Error::db(CONTEXT))?
        else {
            continue; // the number was taken meanwhile
        };
        return Ok(written(
            row.try_get("", "id").map_err(Error::db(CONTEXT))?,
            row.try_get("", "version").map_err(Error::db(CONTEXT))?,
        ));
    }
    Err(Error::Database {
        context: CONTEXT,
        source: sea_orm::DbErr::Custom(format!(
            "{NUMBER_TRIES} version numbers in a row were taken by other writers of `{}` {} \
             (a transaction whose snapshot is fixed, REPEATABLE READ or SERIALIZABLE, sees \
             no newer number)",
            subject.0, subject.1
        )),
    })
}

/// How many numbers a version write tries before it gives up (an explicit one, or a
/// PostgreSQL hooked one whose number an explicit one took).
pub(crate) const NUMBER_TRIES: usize = 8;

/// Inserts one row; its id (`RETURNING`, or MySQL's last insert id).
async fn insert_returning_id<C: ConnectionTrait>(
    db: &C,
    mut insert: InsertStatement,
    id: activity_log::Column,
) -> Result<i64> {
    const CONTEXT: &str = "writing the activity entry";
    if db.get_database_backend() == DbBackend::MySql {
        let res = db.execute(&insert).await.map_err(Error::db(CONTEXT))?;
        return Ok(res.last_insert_id() as i64);
    }
    insert.returning_col(id);
    query_one(db, &insert, CONTEXT)
        .await?
        .try_get("", "id")
        .map_err(Error::db(CONTEXT))
}

/// Runs a query that answers with one row (`context` names it in the error).
pub(crate) async fn one_row<C: ConnectionTrait>(
    db: &C,
    stmt: sea_orm::Statement,
    context: &'static str,
) -> Result<sea_orm::QueryResult> {
    db.query_one_raw(stmt)
        .await
        .map_err(Error::db(context))?
        .ok_or(Error::Database {
            context,
            source: sea_orm::DbErr::RecordNotFound("no row".to_owned()),
        })
}

async fn query_one<C: ConnectionTrait>(
    db: &C,
    insert: &InsertStatement,
    context: &'static str,
) -> Result<sea_orm::QueryResult> {
    let stmt = StatementBuilder::build(insert, &db.get_database_backend());
    db.query_one_raw(stmt)
        .await
        .map_err(Error::db(context))?
        .ok_or(Error::Database {
            context,
            source: sea_orm::DbErr::RecordNotInserted,
        })
}
