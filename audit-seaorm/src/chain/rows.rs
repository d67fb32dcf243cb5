//! Reading the rows of either audit table, and the links in chain order.

use sea_orm::sea_query::{
    Alias, DynIden, Expr, ExprTrait, IntoIden, Order, Query, SelectStatement,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QueryResult, QuerySelect,
};

use super::hash::{Kind, Row};
use super::seal::no_link;
use crate::entity::{activity_log, seals, versions};
use crate::{Error, Result};

/// Which rows of a table to read, in id order.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rows<'a> {
    /// Ids above this.
    pub after_id: i64,
    /// Of this subject type.
    pub subject_type: Option<&'a str>,
    /// Of this subject id.
    pub subject_id: Option<&'a str>,
    /// Only rows that have no link.
    pub unsealed: bool,
    /// With `unsealed`: only a link of the row's own subject counts. `verify` reads a
    /// subject's rows so: a partitioned table's ids are unique per partition only, and a
    /// row forged under another subject's sealed row's id would pass as linked.
    pub own_link: bool,
    /// Only the rows with these ids.
    pub ids: Option<&'a [i64]>,
    /// Only the rows with ids in these ranges (first and last, inclusive).
    pub ranges: Option<&'a [(i64, i64)]>,
    /// All of them, in id order but without `ORDER BY` or `LIMIT` in the statement (the
    /// caller bounds them otherwise, as by ids): a statement that orders and limits a
    /// scattered set of ids can be planned as a walk of the whole index in order,
    /// filtering, when the planner expects the limit to be reached early.
    pub unlimited: bool,
    /// At most this many.
    pub limit: u64,
    /// Instead of the ids above `after_id`, those no database gives: 0 and below (above
    /// `after_id` when it is below 0).
    pub forged_ids: bool,
    /// Read what is committed now, locking the rows until the transaction ends: on
    /// MySQL/MariaDB a locking read (a plain one reads the transaction's snapshot, which
    /// may predate rows or changes committed since); elsewhere a plain read (see
    /// [`committed`](super::committed)).
    pub committed: bool,
}

impl Rows<'_> {
    /// The rows of `kind` asked for.
    pub(crate) async fn read<C: ConnectionTrait>(&self, db: &C, kind: Kind) -> Result<Vec<Row>> {
        use activity_log::Column as A;
        use versions::Column as V;
        match kind {
            Kind::Log => {
                self.read_from::<activity_log::Entity, C>(
                    db,
                    kind,
                    (A::Id, A::SubjectType, A::SubjectId),
                )
                .await
            }
            Kind::Versions => {
                self.read_from::<versions::Entity, C>(
                    db,
                    kind,
                    (V::Id, V::SubjectType, V::SubjectId),
                )
                .await
            }
        }
    }

    async fn read_from<E, C>(
        &self,
        db: &C,
        kind: Kind,
        (id, subject_type, subject_id): (E::Column, E::Column, E::Column),
    ) -> Result<Vec<Row>>
    where
        E: EntityTrait,
        C: ConnectionTrait,
    {
        use sea_orm::QueryTrait;
        let mut q = if self.forged_ids {
            let q = E::find().filter(id.lte(0));
            if self.after_id < 0 {
                q.filter(id.gt(self.after_id))
            } else {
                q
            }
        } else {
            E::find().filter(id.gt(self.after_id))
        };
        if let Some(t) = self.subject_type {
            q = q.filter(subject_type.eq(t));
        }
        if let Some(s) = self.subject_id {
            q = q.filter(subject_id.eq(s));
        }
        if let Some(ids) = self.ids {
            q = q.filter(id.is_in(ids.iter().copied()));
        }
        if let Some(ranges) = self.ranges {
            // Single ids as one `IN` list: the planner counts one row for each, where a
            // range of one id beyond its statistics' histogram counts as many.
            let (singles, spans): (Vec<&(i64, i64)>, Vec<_>) =
                ranges.iter().partition(|r| r.0 == r.1);
            let mut any = Condition::any();
            if !singles.is_empty() {
                any = any.add(id.is_in(singles.into_iter().map(|r| r.0)));
            }
            for &(first, last) in spans {
                any = any.add(id.between(first, last));
            }
            q = q.filter(any);
        }
        if self.unsealed {
            let subject = self
                .own_link
                .then(|| (subject_type.into_iden(), subject_id.into_iden()));
            q = q.filter(no_link(
                kind,
                (E::default().into_iden(), id.into_iden()),
                subject,
                db.get_database_backend(),
            ));
        }
        let q = if self.unlimited {
            q
        } else {
            q.order_by_asc(id).limit(self.limit)
        };
        let q = if self.committed {
            super::committed(q, db.get_database_backend())
        } else {
            q
        };
        let mut q = q.into_query();
        q.clear_selects().columns(by_index::columns(kind));
        // (a row that cannot be read back is an error naming it)
        let how = by_index::JsonText::of(db.get_database_backend());
        let all = fetched(db, &q, "reading audit rows").await?;
        let many = all.len() >= super::OFF_THREAD_ROWS;
        let decode = move || {
            all.iter()
                .map(|res| {
                    by_index::readable_row(kind, res, 0, how)?.ok_or_else(|| {
                        Error::db("reading audit rows")(DbErr::Type(
                            "an audit row without an id".to_owned(),
                        ))
                    })
                })
                .collect()
        };
        let mut rows: Vec<Row> = if many {
            super::off_thread(decode).await?
        } else {
            decode()?
        };
        if self.unlimited {
            rows.sort_unstable_by_key(Row::id);
        }
        Ok(rows)
    }
}

/// The table of `kind` and its id column.
pub(crate) fn table_and_id(kind: Kind) -> (DynIden, DynIden) {
    match kind {
        Kind::Log => (
            activity_log::Entity.into_iden(),
            activity_log::Column::Id.into_iden(),
        ),
        Kind::Versions => (
            versions::Entity.into_iden(),
            versions::Column::Id.into_iden(),
        ),
    }
}

/// The ids of the rows of `kind` after `after`, at most `limit`, in order.
async fn ids_after<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    after: i64,
    limit: u64,
) -> Result<Vec<i64>> {
    let (table, id) = table_and_id(kind);
    let mut q = Query::select();
    q.column(id.clone())
        .from(table)
        .and_where(Expr::col(id.clone()).gt(after))
        .order_by(id, Order::Asc)
        .limit(limit);
    decoded(db, &q, "reading audit row ids", |r| r.try_get_by_index(0)).await
}

/// A step of the search for rows without a link: the rows of a range of ids that have
/// none.
#[derive(Debug)]
pub(crate) struct Unlinked {
    /// The ids, in order.
    pub ids: Vec<i64>,
    /// The range ends here (with this id).
    pub upto: i64,
    /// Rows or links the step went through.
    pub read: u64,
    /// No rows after the range (when the step looked).
    pub last: bool,
}

/// The rows of `kind` without a link among the next `limit` after `after` (`None`: there
/// are none left). On PostgreSQL and SQLite the server compares the range's ids with its
/// links' row ids (an `EXCEPT`: two index ranges, whatever the statistics say) and sends
/// only what differs; MySQL before 8.0.31 has no `EXCEPT`, so there both lists are read
/// and merged here.
pub(crate) async fn unlinked_after<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    after: i64,
    limit: u64,
) -> Result<Option<Unlinked>> {
    if db.get_database_backend() == DbBackend::MySql {
        return unlinked_by_merge(db, kind, after, limit).await;
    }
    use sea_orm::sea_query::{Func, UnionType};
    use seals::Column as S;
    let (table, id) = table_and_id(kind);
    let mut next = Query::select();
    next.column(id.clone())
        .from(table.clone())
        .and_where(Expr::col(id.clone()).gt(after))
        .order_by(id.clone(), Order::Asc)
        .limit(limit);
    let mut span = Query::select();
    span.expr(Func::count(Expr::col(id.clone())))
        .expr(Func::max(Expr::col(id.clone())))
        .from_subquery(next, Alias::new("next_ids"));
    let span = decoded(db, &span, "reading audit row ids", |r| {
        Ok((r.try_get_by_index::<i64>(0)?, r.try_get_by_index(1)?))
    })
    .await?;
    let Some((read, Some(upto))) = span.into_iter().next() else {
        return Ok(None);
    };
    let mut rows = Query::select();
    rows.column(id.clone())
        .from(table)
        .and_where(Expr::col(id.clone()).gt(after))
        .and_where(Expr::col(id).lte(upto));
    let mut links = Query::select();
    links
        .column(S::RowId)
        .from(seals::Entity)
        .and_where(Expr::col(S::Kind).eq(kind.code()))
        .and_where(Expr::col(S::RowId).gt(after))
        .and_where(Expr::col(S::RowId).lte(upto));
    rows.union(UnionType::Except, links);
    let mut ids: Vec<i64> = decoded(db, &rows, "reading audit row ids without a link", |r| {
        r.try_get_by_index(0)
    })
    .await?;
    ids.sort_unstable();
    let read = read as u64;
    Ok(Some(Unlinked {
        ids,
        upto,
        read,
        last: read < limit,
    }))
}

/// [`unlinked_after`] with both lists read and merged here.
async fn unlinked_by_merge<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    after: i64,
    limit: u64,
) -> Result<Option<Unlinked>> {
    let mut ids = ids_after(db, kind, after, limit).await?;
    let Some(&last) = ids.last() else {
        return Ok(None);
    };
    // Links of rows that are gone can make the links' range longer than the rows': then
    // this step goes as far as the links read.
    let links = linked_ids(db, kind, (after, last), 2 * limit).await?;
    let upto = match links.last() {
        Some(&l) if links.len() as u64 == 2 * limit => l,
        _ => last,
    };
    ids.retain(|&id| id <= upto);
    let mut linked = links.iter().peekable();
    let read = ids.len().max(links.len()) as u64;
    let last = upto == last && (ids.len() as u64) < limit;
    let ids = ids
        .into_iter()
        .filter(|&id| {
            while linked.next_if(|&&l| l < id).is_some() {}
            linked.next_if_eq(&&id).is_none()
        })
        .collect();
    Ok(Some(Unlinked {
        ids,
        upto,
        read,
        last,
    }))
}

/// The row ids of the links of `kind` in `(from, to]`, at most `limit`, in order.
async fn linked_ids<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    (from, to): (i64, i64),
    limit: u64,
) -> Result<Vec<i64>> {
    use seals::Column as S;
    let mut q = Query::select();
    q.column(S::RowId)
        .from(seals::Entity)
        .and_where(Expr::col(S::Kind).eq(kind.code()))
        .and_where(Expr::col(S::RowId).gt(from))
        .and_where(Expr::col(S::RowId).lte(to))
        .order_by(S::RowId, Order::Asc)
        .limit(limit);
    decoded(db, &q, "reading the links' row ids", |r| {
        r.try_get_by_index(0)
    })
    .await
}

/// Runs `q` and decodes each row it returns with `decode`; an error names `context`.
pub(crate) async fn decoded<C, T>(
    db: &C,
    q: &SelectStatement,
    context: &'static str,
    decode: impl FnMut(&QueryResult) -> std::result::Result<T, DbErr>,
) -> Result<Vec<T>>
where
    C: ConnectionTrait,
{
    let all = fetched(db, q, context).await?;
    all.iter()
        .map(decode)
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::db(context))
}

/// Runs `q` and returns its rows as they came; an error names `context`.
pub(crate) async fn fetched<C: ConnectionTrait>(
    db: &C,
    q: &SelectStatement,
    context: &'static str,
) -> Result<Vec<QueryResult>> {
    let stmt = db.get_database_backend().build(q);
    db.query_all_raw(stmt).await.map_err(Error::db(context))
}

/// Rows whose `cols` come after `vals` in index order (`inclusive`: or equal): a row
/// comparison where the backend reads it as an index range (PostgreSQL, SQLite), the
/// equivalent OR of prefixes on MySQL/MariaDB.
pub(crate) fn after<C: ColumnTrait>(
    cols: &[C],
    vals: Vec<sea_orm::Value>,
    inclusive: bool,
    backend: DbBackend,
) -> Condition {
    let bound = if inclusive {
        Bound::AtOrAfter
    } else {
        Bound::After
    };
    compare(cols, vals, bound, backend)
}

/// Rows whose `cols` come at or before `vals` in index order, read as [`after`] is.
pub(crate) fn upto<C: ColumnTrait>(
    cols: &[C],
    vals: Vec<sea_orm::Value>,
    backend: DbBackend,
) -> Condition {
    compare(cols, vals, Bound::AtOrBefore, backend)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bound {
    After,
    AtOrAfter,
    AtOrBefore,
}

fn compare<C: ColumnTrait>(
    cols: &[C],
    vals: Vec<sea_orm::Value>,
    bound: Bound,
    backend: DbBackend,
) -> Condition {
    use sea_orm::sea_query::{Expr, ExprTrait};
    if backend != DbBackend::MySql {
        // Qualified: the query may join a table with the same column names.
        let left = Expr::tuple(cols.iter().map(|c| Expr::col(c.as_column_ref())));
        let right = Expr::tuple(vals.into_iter().map(Expr::val));
        return Condition::all().add(match bound {
            Bound::After => left.gt(right),
            Bound::AtOrAfter => left.gte(right),
            Bound::AtOrBefore => left.lte(right),
        });
    }
    let mut any = Condition::any();
    for i in 0..cols.len() {
        let mut all = Condition::all();
        for j in 0..i {
            all = all.add(cols[j].eq(vals[j].clone()));
        }
        let (c, v) = (cols[i], vals[i].clone());
        let last = i + 1 == cols.len();
        all = all.add(match bound {
            Bound::AtOrAfter if last => c.gte(v),
            Bound::After | Bound::AtOrAfter => c.gt(v),
            Bound::AtOrBefore if last => c.lte(v),
            Bound::AtOrBefore => c.lt(v),
        });
        any = any.add(all);
    }
    any
}

/// Links after `(subject_type, subject_id, seq)` in chain order.
pub(crate) fn links_after((t, id, seq): (&str, &str, i64), backend: DbBackend) -> Condition {
    use seals::Column as S;
    after(
        &[S::SubjectType, S::SubjectId, S::Seq],
        vec![t.into(), id.into(), seq.into()],
        false,
        backend,
    )
}

/// Decodes rows of either table from query results by column position: what `Model`'s
/// own decoding does, without looking each column up by its name (the cost that
/// dominates reading many small rows).
pub(crate) mod by_index {
    use sea_orm::sea_query::ColumnRef;
    use sea_orm::{ColumnTrait, DbErr, QueryResult};

    #[cfg(feature = "sqlx-postgres")]
    use super::super::hash::Content;
    use super::super::hash::{Kind, Row};
    use crate::entity::{activity_log, versions};

    /// The columns [`row`] reads, in its order.
    const LOG: [activity_log::Column; 12] = {
        use activity_log::Column as A;
        [
            A::Id,
            A::Action,
            A::SubjectType,
            A::SubjectId,
            A::CauserId,
            A::Changes,
            A::Properties,
            A::Ip,
            A::UserAgent,
            A::RequestId,
            A::VersionId,
            A::CreatedAt,
        ]
    };

    /// The columns [`row`] reads, in its order.
    const VERSIONS: [versions::Column; 8] = {
        use versions::Column as V;
        [
            V::Id,
            V::SubjectType,
            V::SubjectId,
            V::Version,
            V::Event,
            V::Data,
            V::CauserId,
            V::CreatedAt,
        ]
    };

    /// The columns to select for [`row`], qualified by their table.
    pub(crate) fn columns(kind: Kind) -> Vec<ColumnRef> {
        match kind {
            Kind::Log => LOG.iter().map(|c| c.as_column_ref().into()).collect(),
            Kind::Versions => VERSIONS.iter().map(|c| c.as_column_ref().into()).collect(),
        }
    }

    /// How [`row`] reads the JSON columns.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum JsonText {
        /// As the driver decodes them (PostgreSQL's `jsonb` holds no duplicate keys).
        Decoded,
        /// As their stored text, refusing an object with a key twice (SQLite and
        /// MySQL/MariaDB store JSON as text, which may hold one: serde_json keeps the
        /// last of two, the databases' own JSON functions see the first, so such a row
        /// would hash as one value and read as another in SQL).
        Strict,
    }

    impl JsonText {
        /// How `backend` stores JSON.
        pub(crate) fn of(backend: sea_orm::DbBackend) -> Self {
            match backend {
                sea_orm::DbBackend::Postgres => JsonText::Decoded,
                _ => JsonText::Strict,
            }
        }
    }

    /// Reads the columns of a row by position, as [`row`] and the links' decoding need them.
    pub(crate) trait Cols {
        /// A column that may be NULL.
        fn get<T>(&self, i: usize) -> Result<Option<T>, DbErr>
        where
            T: Get;

        /// A NOT NULL column.
        fn req<T: Get>(&self, i: usize, column: &str) -> Result<T, DbErr> {
            self.get(i)?.ok_or_else(|| null(column))
        }

        /// The JSON column at `i` (see [`JsonText`]).
        fn json(&self, i: usize, how: JsonText) -> Result<Option<serde_json::Value>, DbErr> {
            if how == JsonText::Decoded {
                return self.get(i);
            }
            let Some(text) = self.get::<String>(i)? else {
                return Ok(None);
            };
            crate::api::strict_json(&text)
                .map(Some)
                .map_err(|e| DbErr::Type(format!("column {i}: {e}")))
        }
    }

    /// A type [`Cols`] reads.
    pub(crate) trait Get: Sized + sea_orm::TryGetable {
        /// Reads it from a PostgreSQL row straight through the driver.
        #[cfg(feature = "sqlx-postgres")]
        fn pg(row: &sea_orm::sqlx::postgres::PgRow, i: usize) -> Result<Option<Self>, DbErr>;
    }

    macro_rules! get {
        ($($t:ty),*) => {$(
            impl Get for $t {
                #[cfg(feature = "sqlx-postgres")]
                fn pg(row: &sea_orm::sqlx::postgres::PgRow, i: usize) -> Result<Option<Self>, DbErr> {
                    use sea_orm::sqlx::Row as _;
                    row.try_get::<Option<$t>, _>(i)
                        .map_err(|e| DbErr::Type(format!("column {i}: {e}")))
                }
            }
        )*};
    }
    get!(
        String,
        i16,
        i64,
        chrono::DateTime<chrono::Utc>,
        serde_json::Value
    );

    impl Cols for QueryResult {
        fn get<T: Get>(&self, i: usize) -> Result<Option<T>, DbErr> {
            #[cfg(feature = "sqlx-postgres")]
            if let Some(pg) = self.try_as_pg_row() {
                return T::pg(pg, i);
            }
            self.try_get_by_index(i)
        }
    }

    /// Whether the row of `kind` in the columns of `row` from `at` on (as [`columns`]
    /// selects them) passes `check`, its content read in place from the PostgreSQL
    /// driver's row (no copy of its text). `None` where this cannot say: no row (an outer
    /// join found none), or a value that does not decode as its column's type;
    /// [`readable_row`] tells those apart.
    #[cfg(feature = "sqlx-postgres")]
    pub(crate) fn check_in_place(
        kind: Kind,
        row: &sea_orm::sqlx::postgres::PgRow,
        at: usize,
        check: impl FnOnce(&Content<'_>) -> bool,
    ) -> Option<bool> {
        use sea_orm::sqlx::Row as _;
        // Column `n` after the id, in the order of `LOG` / `VERSIONS`.
        let col = |n: usize| at + n;
        let read = || -> Result<bool, sea_orm::sqlx::Error> {
            Ok(match kind {
                Kind::Log => {
                    let changes: serde_json::Value = row.try_get(col(5))?;
                    let properties: Option<serde_json::Value> = row.try_get(col(6))?;
                    check(&Content::Log {
                        action: row.try_get(col(1))?,
                        subject_type: row.try_get(col(2))?,
                        subject_id: row.try_get(col(3))?,
                        causer_id: row.try_get(col(4))?,
                        changes: &changes,
                        properties: properties.as_ref(),
                        ip: row.try_get(col(7))?,
                        user_agent: row.try_get(col(8))?,
                        request_id: row.try_get(col(9))?,
                        version_id: row.try_get(col(10))?,
                        created_at: row.try_get(col(11))?,
                    })
                }
                Kind::Versions => {
                    let data: serde_json::Value = row.try_get(col(5))?;
                    check(&Content::Versions {
                        subject_type: row.try_get(col(1))?,
                        subject_id: row.try_get(col(2))?,
                        version: row.try_get(col(3))?,
                        event: row.try_get(col(4))?,
                        data: &data,
                        causer_id: row.try_get(col(6))?,
                        created_at: row.try_get(col(7))?,
                    })
                }
            })
        };
        // No id: no row.
        row.try_get::<Option<i64>, _>(at).ok()??;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
            .ok()?
            .ok()
    }

    /// [`row`], or, for a row whose other columns cannot be read back (changed into a
    /// value of no type: a time out of chrono's range, text that is no time, a JSON
    /// object with a key twice), its id and what is wrong. The driver's decoding of such
    /// a value may panic (sqlx's PostgreSQL time adds without a check): that panic is
    /// caught here and is the reason.
    pub(crate) fn readable_row(
        kind: Kind,
        res: &QueryResult,
        at: usize,
        how: JsonText,
    ) -> crate::Result<Option<Row>> {
        let Some(id) = res
            .try_get_by_index::<Option<i64>>(at)
            .map_err(crate::Error::db("reading an audit row's id"))?
        else {
            return Ok(None);
        };
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            row(kind, res, at, how).map_err(|e| e.to_string())
        }));
        decoded
            .unwrap_or_else(|panic| {
                let reason = match panic.downcast_ref::<&str>() {
                    Some(s) => (*s).to_owned(),
                    None => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
                };
                Err(format!("its values cannot be decoded ({reason})"))
            })
            .map_err(|reason| crate::Error::Corrupt {
                what: match kind {
                    Kind::Log => "activity_log row",
                    Kind::Versions => "versions row",
                },
                id,
                reason,
            })
    }

    /// A NOT NULL column that held NULL.
    fn null(column: &str) -> DbErr {
        DbErr::Type(format!("`{column}` is NULL"))
    }

    /// The row of `kind` in the columns of `res` from `at` on, as [`columns`] selects
    /// them (`None`: its id is NULL, an outer join found no row).
    pub(crate) fn row(
        kind: Kind,
        res: &QueryResult,
        at: usize,
        how: JsonText,
    ) -> Result<Option<Row>, DbErr> {
        let Some(id) = res.get::<i64>(at)? else {
            return Ok(None);
        };
        let mut i = at;
        let mut next = || {
            i += 1;
            i
        };
        Ok(Some(match kind {
            Kind::Log => Row::Log(activity_log::Model {
                id,
                action: res.req(next(), "action")?,
                subject_type: res.req(next(), "subject_type")?,
                subject_id: res.req(next(), "subject_id")?,
                causer_id: res.get(next())?,
                changes: res.json(next(), how)?.ok_or_else(|| null("changes"))?,
                properties: res.json(next(), how)?,
                ip: res.get(next())?,
                user_agent: res.get(next())?,
                request_id: res.get(next())?,
                version_id: res.get(next())?,
                created_at: res.req(next(), "created_at")?,
            }),
            Kind::Versions => Row::Versions(versions::Model {
                id,
                subject_type: res.req(next(), "subject_type")?,
                subject_id: res.req(next(), "subject_id")?,
                version: res.req(next(), "version")?,
                event: res.req(next(), "event")?,
                data: res.json(next(), how)?.ok_or_else(|| null("data"))?,
                causer_id: res.get(next())?,
                created_at: res.req(next(), "created_at")?,
            }),
        }))
    }
}
