//! Transactions that write: on SQLite, one that takes the write lock when it begins.

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, IsolationLevel, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

/// `db.begin()` for a transaction that will write: on SQLite it begins `IMMEDIATE`, taking
/// the write lock at once, elsewhere it is `begin()` itself.
///
/// SQLite's default (`DEFERRED`) transaction takes a read lock at its first read and must
/// upgrade it at its first write; when another connection of the pool writes meanwhile,
/// the upgrade fails at once with `database is locked` (`SQLITE_BUSY`), without waiting on
/// the busy timeout. So an app on an SQLite file with a pool of connections, whose
/// transactions read a row and then write it (the usual `find`, change, `update`), gets
/// errors under concurrent writers, audited or not. Begun with this, such transactions wait
/// their turn instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// use sea_orm::TransactionSession;
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// let txn = audit_seaorm::begin_write(&db).await?;
/// // find, change, update …
/// txn.commit().await
/// # }
/// ```
pub async fn begin_write<C>(db: &C) -> Result<C::Transaction, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    if db.get_database_backend() != DbBackend::Sqlite {
        return db.begin().await;
    }
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// The library's own write transactions (seal, prune, counting, erase, restore, revert,
/// install …): [`begin_write`], and on PostgreSQL, begun from a plain connection, at READ
/// COMMITTED whatever the server's or the role's `default_transaction_isolation` says. The
/// code that runs in them takes a lock and then reads what its holder committed, which a
/// REPEATABLE READ snapshot (taken at the first statement, before the lock's wait) would
/// not see. Inside a transaction of the caller's, its isolation stands.
pub(crate) async fn begin_own<C>(db: &C) -> Result<C::Transaction, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    if db.get_database_backend() == DbBackend::Postgres && crate::hooks::is_plain_connection::<C>()
    {
        return db
            .begin_with_config(Some(IsolationLevel::ReadCommitted), None)
            .await;
    }
    begin_write(db).await
}
