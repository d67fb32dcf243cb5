//! Errors of the SeaORM integration.

use sea_orm::DbErr;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while auditing, querying or restoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A database statement failed; `context` says which.
    #[error("{context}: {source}")]
    Database {
        /// What was being done.
        context: &'static str,
        /// The database error.
        #[source]
        source: DbErr,
    },
    /// No version with this id.
    #[error("version {0} not found")]
    VersionNotFound(i64),
    /// The version belongs to another subject type.
    #[error("version {version_id} is a version of `{found}`, not of `{expected}`")]
    SubjectMismatch {
        /// The version asked for.
        version_id: i64,
        /// The subject type of the entity restoring.
        expected: &'static str,
        /// The subject type of the version.
        found: String,
    },
    /// Diffing, snapshotting or rebuilding the model failed (a snapshot no longer fits).
    #[error(transparent)]
    Model(#[from] audit_core::Error),
    /// Strict mode is on and an audited write ran outside a transaction.
    #[error(
        "strict mode: audited write to `{subject_type}` outside a transaction; run it in a transaction or switch strict mode off"
    )]
    NotInTransaction {
        /// The subject type written.
        subject_type: &'static str,
    },
    /// A table name given to `set_table_names` that is not 1 to `longest` characters of
    /// `[A-Za-z0-9_]` (44 for `activity_log` and `versions`; the others may be longer:
    /// see `set_table_names`).
    #[error(
        "`{name}` is not a name the audit tables can take: use 1 to {longest} characters of \
         [A-Za-z0-9_]"
    )]
    InvalidTableName {
        /// The name given.
        name: String,
        /// The most characters that table's name may have.
        longest: usize,
    },
    /// `set_table_names` came after the tables' names were in use, with other names.
    #[error(
        "the audit tables' names are fixed already ({in_use:?}): call set_table_names once, before any use"
    )]
    TableNamesFixed {
        /// The names in use.
        in_use: Box<crate::entity::TableNames>,
    },
    /// `revert_request` found no entry of the request.
    #[error("no audited change was made under request `{0}`")]
    RequestNotFound(String),
    /// `revert_request` found the request's entries written by more than one causer: its
    /// id was used by several requests (without trusted proxies configured, the middleware
    /// takes a well-formed `X-Request-Id` from any client), so the entries are not one
    /// request's, and nothing is reverted.
    #[error(
        "request `{request_id}` has entries of {} causers ({}): its id was used by more than one request; nothing reverted",
        .causers.len(),
        .causers.iter().map(|c| c.as_deref().unwrap_or("none")).collect::<Vec<_>>().join(", ")
    )]
    RequestShared {
        /// The request id.
        request_id: String,
        /// The causers of its entries (`None`: an entry with no causer).
        causers: Vec<Option<String>>,
    },
    /// A revert asked about the request's records (the HTTP API asks its `authorize`
    /// rule about each), and by the time it read them in its transaction, the request
    /// had changed another record (a client may write under any request id): nothing is
    /// reverted; ask again.
    #[error(
        "request `{request_id}` changed `{subject_type}` {subject_id} after its records were checked: nothing reverted; try again"
    )]
    RequestChanged {
        /// The request id.
        request_id: String,
        /// The record's type.
        subject_type: String,
        /// The record's id.
        subject_id: String,
    },
    /// `revert_request` met a record of a type the `Reverter` does not know.
    #[error(
        "request changed records of `{0}`, which this Reverter cannot revert: register the entity with `Reverter::entity`"
    )]
    NotRevertible(String),
    /// Later changes touched fields the request changed: reverting would undo them too.
    #[error("later changes touched what the request changed: {}", .0.iter().map(|c| format!("{} {} `{}` (entry {})", c.subject.subject_type, c.subject.subject_id, c.field, c.later_entry_id)).collect::<Vec<_>>().join(", "))]
    RevertConflicts(Vec<crate::Conflict>),
    /// `revert_request` met a record whose state before the request the trail does not
    /// hold: the version before the request's first change of it (or that change's own
    /// version) was pruned; or it says the record was deleted while the request found the
    /// row there (put back outside the trail); or the record predates its trail (its first
    /// version is the request's update or delete). Reverting it would have to guess
    /// (deleting it would lose a record the request only changed), so nothing is reverted.
    #[error(
        "the trail holds no state of `{subject_type}` {subject_id} from before the request ({}): nothing reverted",
        no_state_before(*version)
    )]
    NoStateBefore {
        /// The subject type.
        subject_type: String,
        /// The subject id.
        subject_id: String,
        /// The number of the version that would hold it (0: the request's change is the
        /// record's first version, or its version was pruned).
        version: i64,
    },
    /// The state of a record at a time is no longer in the trail: it has versions, but
    /// none at or before that time, and its first ones were pruned (by
    /// [`keep_versions`](crate::Retention::keep_versions)), so whether it existed then,
    /// and as what, cannot be told.
    #[error(
        "the trail no longer holds the state of `{subject_type}` {subject_id} at {at}: its versions before version {earliest} were pruned"
    )]
    StatePruned {
        /// The subject type.
        subject_type: String,
        /// The subject id.
        subject_id: String,
        /// The time asked about.
        at: chrono::DateTime<chrono::Utc>,
        /// The number of its earliest version left.
        earliest: i64,
    },
    /// The state of a record at a time is not in the trail because its trail starts later:
    /// its first version, written after that time, did not create the row. It is a
    /// `baseline` (the row as auditing first saw it, from [`backfill`](crate::backfill) or
    /// its first audited write), or the update, delete or snapshot of a row written around
    /// the hooks. The record existed before it, as what the trail cannot tell.
    #[error(
        "the trail of `{subject_type}` {subject_id} starts at {since} with the row as auditing first saw it: its state at {at}, before that, is not known"
    )]
    StateBeforeTrail {
        /// The subject type.
        subject_type: String,
        /// The subject id.
        subject_id: String,
        /// The time asked about.
        at: chrono::DateTime<chrono::Utc>,
        /// When its baseline was written.
        since: chrono::DateTime<chrono::Utc>,
    },
    /// A subject has no version with this number.
    #[error("`{subject_type}` {subject_id} has no version {version}")]
    VersionNumberNotFound {
        /// The subject type.
        subject_type: String,
        /// The subject id.
        subject_id: String,
        /// The version number asked for.
        version: i64,
    },
    /// A subject id longer than the backend's indexes on it hold: refused before anything
    /// is written, rather than cut (MySQL/MariaDB: 600 characters, what their unique index
    /// on subject and version can hold) or failing in the database (PostgreSQL: 2,000
    /// bytes, under what one B-tree index entry holds).
    #[error(
        "the subject id of `{subject_type}` is {length} {unit} long; {backend} stores at most {max}"
    )]
    SubjectIdTooLong {
        /// The subject type.
        subject_type: String,
        /// The id's length, in `unit`s.
        length: usize,
        /// The most the backend stores.
        max: usize,
        /// What the lengths count: `"characters"` (MySQL/MariaDB) or `"bytes"` (PostgreSQL).
        unit: &'static str,
        /// The backend.
        backend: &'static str,
    },
    /// MySQL/MariaDB: a subject type or id that ends in a space. Their text comparisons
    /// ignore trailing spaces (`PAD SPACE`), so `"a "` would share the trail and the hash
    /// chain of `"a"`: refused before anything is written to the trail (and before the row
    /// of a hooked insert; a hooked update or delete learns its row's key after its write).
    #[error(
        "the subject {what} {value:?} ends in a space: MySQL/MariaDB compare text with trailing \
         spaces ignored, so it would share the trail of the {what} without them"
    )]
    TrailingSpace {
        /// `"type"` or `"id"`.
        what: &'static str,
        /// The type or id as given.
        value: String,
    },
    /// A subject type, action or version event given to the explicit API (`log`,
    /// `snapshot`, …) longer than its column holds: refused before anything is written,
    /// rather than kept whole on SQLite and cut by MySQL/MariaDB without strict mode.
    #[error("the {what} is {length} characters long; the audit tables hold at most {max}")]
    NameTooLong {
        /// `"subject type"`, `"action"` or `"version event"`.
        what: &'static str,
        /// Its length in characters.
        length: usize,
        /// The most the column holds.
        max: usize,
    },
    /// `redact_history` was asked to scrub a field that is not `#[audit(redact)]`.
    #[error(
        "field `{field}` of `{subject_type}` is not `#[audit(redact)]`: only a redacted field's history can be scrubbed"
    )]
    NotRedacted {
        /// The model's subject type.
        subject_type: &'static str,
        /// The field asked for.
        field: String,
    },
    /// Two audited models of the program write the same subject type (the same
    /// `table_name` in two schemas, or the same `#[audit(subject = "…")]`): their trails
    /// would merge, so neither is written. Give one of them its own
    /// `#[audit(subject = "…")]`.
    #[error(
        "audited models {} all write subject type `{subject_type}`; their trails would merge: give each its own `#[audit(subject = \"…\")]`",
        models.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(" and ")
    )]
    SubjectCollision {
        /// The subject type.
        subject_type: &'static str,
        /// The models that write it.
        models: Vec<&'static str>,
    },
    /// An audited write ran outside a tokio runtime: the audit context, the notes the
    /// hooks pass each other and the restore marker are tokio task-locals, so the write is
    /// refused rather than logged without them.
    #[error(
        "audited write to `{subject_type}` outside a tokio runtime; the audit hooks need tokio (run the write on a tokio runtime)"
    )]
    NoTokioRuntime {
        /// The subject type written.
        subject_type: &'static str,
    },
    /// A model whose key fields come in another order than its `enum PrimaryKey` names
    /// their columns (an expanded-format entity written by hand): the subject id follows
    /// the fields, a restore's and a typed query's key the enum, so they would name
    /// different records. Hooked and bulk writes are refused before anything is written.
    #[error(
        "`{subject_type}`: the model's key fields name the columns {fields:?} and its `enum PrimaryKey` {keys:?}: declare them in the same order (the subject id follows the fields, a restore's key the enum)"
    )]
    KeyOrder {
        /// The subject type.
        subject_type: &'static str,
        /// The key fields' columns, in the model's order.
        fields: Vec<&'static str>,
        /// The columns of `enum PrimaryKey`, in its order.
        keys: Vec<&'static str>,
    },
    /// `record_change` of two states with different keys (a key changed by `update_many` or
    /// SQL): the trail names a record by its key, so an `updated` under the new key would
    /// split the record's history in two, the old key's never ending. Record the old key's
    /// delete and the new key's create instead (`record_change(db, Some(&old), None)`, then
    /// `record_change(db, None, Some(&new))`).
    #[error(
        "record_change of `{subject_type}` from key {from} to key {to}: a change of key is the old record's delete and the new one's create; nothing written"
    )]
    KeyChanged {
        /// The subject type.
        subject_type: &'static str,
        /// The old state's subject id.
        from: String,
        /// The new state's subject id.
        to: String,
    },
    /// A bulk update that sets a primary key column: the trail names a record by its key,
    /// so a key change would split one record's history in two. Update keys one row at a
    /// time (delete and insert), or outside auditing.
    #[error(
        "bulk update of `{subject_type}` sets the primary key column `{column}`; audited bulk updates leave keys as they are"
    )]
    BulkKeyUpdate {
        /// The subject type written.
        subject_type: &'static str,
        /// The key column the update sets.
        column: String,
    },
    /// A bulk update whose rows came back under other keys than they were read with (a
    /// trigger changed them): the trail names a record by its key, so those rows could not
    /// be logged. The call's transaction rolled back: nothing was written.
    #[error(
        "bulk update of `{subject_type}`: {rows} rows came back under other keys than they were read with (a trigger changed them); nothing was written"
    )]
    BulkKeysMoved {
        /// The subject type written.
        subject_type: &'static str,
        /// Rows whose key changed.
        rows: usize,
    },
    /// A bulk update or delete read rows that its statement, addressing them by their keys
    /// as read back, did not find (or `backfill`'s next page would start after such a key): a key stored in another form than it reads back (a
    /// SQLite time stored as other text than the driver writes, a NULL in a composite key,
    /// a padded `char(n)`). Logging them would log writes that did not happen; the call's
    /// transaction rolled back: nothing was written. The plain call writes them.
    #[error(
        "bulk write of `{subject_type}`: {rows} rows it read were not found again by their keys as read back (a key stored in another form than it reads, such as a SQLite time stored as other text); nothing was written"
    )]
    BulkKeysUnmatched {
        /// The subject type written.
        subject_type: &'static str,
        /// Rows not found again.
        rows: usize,
    },
    /// `backfill` read a row that its key, as read back, does not find (a key stored in
    /// another form than it reads, such as a SQLite time another program wrote
    /// `2024-1-1`, read as `2024-01-01`): the walk, which goes on after that key, would
    /// skip rows or meet them again, so it stops there. The baselines of the batches
    /// before it are kept; store the key as the driver writes it and run `backfill` again,
    /// which goes on where it stopped.
    #[error(
        "backfill of `{subject_type}` stopped at the row keyed {subject_id}: its key, as read back, does not find it (stored in another form than it reads, such as a SQLite time stored as other text); {written} baselines written before it are kept: store the key as the driver writes it and run backfill again"
    )]
    BackfillKeyUnmatched {
        /// The subject type backfilled.
        subject_type: &'static str,
        /// The row's key as read back, as the trail writes it.
        subject_id: String,
        /// Baselines written by this call before it stopped (kept).
        written: u64,
    },
    /// A bulk insert on MySQL/MariaDB (which has no `RETURNING`) did not find the rows it
    /// inserted by the keys the models gave: the database stored other keys (one it
    /// generated, or a value it rounded), so the rows cannot be logged. The call's
    /// transaction rolled back: nothing was written. Leave generated keys `NotSet`.
    #[error(
        "bulk insert of `{subject_type}`: {inserted} rows inserted but {found} found again by the keys the models gave (the database stored other keys); nothing was written"
    )]
    BulkKeysChanged {
        /// The subject type written.
        subject_type: &'static str,
        /// Rows the insert wrote.
        inserted: usize,
        /// Rows found again by the models' keys.
        found: usize,
    },
    /// A retention policy [`prune`](crate::prune) cannot apply: a duration of zero or
    /// less, keeping 0 versions, a batch of 0, no policy at all.
    #[error("invalid retention: {0}")]
    InvalidRetention(String),
    /// A time-ordered listing's cursor names an entry the listing does not hold: pruned
    /// since the page that gave it, or not one of this listing's entries. Start again
    /// without the cursor, or from a later page.
    #[error(
        "the cursor's entry {0} is not in this listing (pruned since, or a cursor of another \
         listing): list again without `after_id`"
    )]
    CursorNotFound(i64),
    /// The audit tables cannot be installed as the database stands: an index name they
    /// need belongs to another table.
    #[error("installing the audit tables: {0}")]
    Schema(String),
    /// The partitioned layout cannot be installed or kept: asked of a backend other than
    /// PostgreSQL, or of an `activity_log` that exists as a plain table (converting it is
    /// a migration of its own), or a partition PostgreSQL describes unexpectedly.
    #[error("partitioning: {0}")]
    Partitioning(String),
    /// The hash chains cannot be used: their tables are not installed, or a link or chain
    /// head is malformed.
    #[error("tamper evidence: {0}")]
    Chain(String),
    /// A call asked for what it cannot do, and did nothing: `erase` of no field, of a field
    /// nobody has, of a key field, or by a subject id in another form than the trail's; a
    /// `verify` cursor it did not give; `seal_late` of a row that is not a late one.
    #[error("{0}")]
    InvalidArgument(String),
    /// A checkpoint's signature is not valid for the key it was checked with: the key did
    /// not sign it, or the checkpoint was changed since (or the signature is not one).
    #[error("checkpoint {run} is not signed by this key (or was changed since it was signed)")]
    SignatureInvalid {
        /// The checkpoint's seal run.
        run: i64,
    },
    /// A sealed row no longer matches its link: changed since it was sealed. `erase` and
    /// `redact_history` refuse it rather than hide the change; run `verify`.
    #[error("{table} row {row_id} no longer matches its link: {reason} (run verify)")]
    Tampered {
        /// `"activity_log"` or `"versions"`.
        table: &'static str,
        /// The row's id.
        row_id: i64,
        /// What refused it.
        reason: &'static str,
    },
    /// The trail holds no row of the subject: [`erase`](crate::erase) found none (its type
    /// or id misspelt, or its trail pruned away; nothing was erased or recorded), or
    /// [`as_of`](crate::AuditedEntity::as_of) was asked about a record whose row exists but
    /// has no version (written around the hooks, or older than auditing and not
    /// backfilled), whose past the trail cannot tell.
    #[error("the trail holds no row of `{subject_type}` {subject_id}")]
    NoTrail {
        /// The subject type given.
        subject_type: String,
        /// The subject id given.
        subject_id: String,
    },
    /// A restore or revert found, by a record's key, the row of another record: the key
    /// column's collation compares loosely (MySQL/MariaDB's `_ci` collations, PostgreSQL's
    /// `citext`), so `"Rust"` finds `"rust"`, which the trail keeps apart. Nothing written.
    #[error(
        "the row `{subject_type}` {subject_id} is looked up by is `{found}`, another record \
         (the key column compares loosely): nothing written"
    )]
    KeyMatchesAnother {
        /// The subject type.
        subject_type: String,
        /// The record restored or reverted.
        subject_id: String,
        /// The key of the row the lookup found.
        found: String,
    },
    /// A restore or revert wrote a record's row back and the database refused its values:
    /// a row it refers to is gone (a foreign key), a unique value it holds is another row's
    /// now, a check or NOT NULL constraint added since refuses it, or a value no longer fits
    /// its column (a string longer than a `VARCHAR(n)` narrowed since). The driver's error
    /// is the [`source`](std::error::Error::source).
    #[error(
        "`{subject_type}` {subject_id} cannot go back to version {version}: the database \
         refused the row ({constraint})"
    )]
    RestoreRefused {
        /// The subject type.
        subject_type: String,
        /// The record restored or reverted.
        subject_id: String,
        /// The number of the version it was to go back to.
        version: i64,
        /// What refused it: `a foreign key`, `a unique key`, `a check constraint`, `a NOT
        /// NULL constraint`, `an exclusion constraint`, `a constraint` (another kind), or
        /// `the column's type` (a value too long or out of range for its column).
        constraint: &'static str,
        /// The database's error.
        #[source]
        source: Box<DbErr>,
    },
    /// A stored audit row could not be read back.
    #[error("stored {what} {id} is not valid: {reason}")]
    Corrupt {
        /// Which kind of row.
        what: &'static str,
        /// Its id.
        id: i64,
        /// What is wrong.
        reason: String,
    },
}

/// Why [`Error::NoStateBefore`]'s record has no state before the request.
fn no_state_before(version: i64) -> String {
    match version {
        0 => "the request's own version was pruned, or the record predates its trail".to_owned(),
        n => format!("version {n} was pruned or says the record was deleted"),
    }
}

impl Error {
    pub(crate) fn db(context: &'static str) -> impl FnOnce(DbErr) -> Error {
        move |source| Error::Database { context, source }
    }
}

impl From<Error> for DbErr {
    /// Hooks must return `DbErr`. An error the database reported (a statement, a query, a
    /// connection) is passed on as it is, so that a caller's retry loop still finds a
    /// serialization failure or a deadlock in it (its SQLSTATE or error code); what the
    /// audit write was doing goes to a `tracing` event. Every other audit error becomes a
    /// `DbErr::Custom` whose message is the error's, prefixed `audit:`.
    fn from(e: Error) -> Self {
        match e {
            Error::Database {
                context,
                source:
                    source @ (DbErr::Conn(_)
                    | DbErr::ConnectionAcquire(_)
                    | DbErr::Exec(_)
                    | DbErr::Query(_)),
            } => {
                tracing::warn!(%source, "audit: {context}");
                source
            }
            Error::Database { context, source } => {
                DbErr::Custom(format!("audit: {context}: {source}"))
            }
            other => DbErr::Custom(format!("audit: {other}")),
        }
    }
}
