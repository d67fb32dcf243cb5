//! Transactions that write: on SQLite, one that takes the write lock when it begins.

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
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
