//! An existing impl with all four hooks and logic of its own: `#[audit_seaorm::behavior]`
//! keeps it, and the derived impl runs the hooks in order around the audit hooks (checked
//! on a connection that records each statement: reads find nothing, writes fail).
#![deny(warnings)]
use std::future::Future;
use std::sync::Mutex;

use audit_seaorm::Audited;
use sea_orm::ActiveValue::{NotSet, Set, Unchanged};
use sea_orm::entity::prelude::*;
use sea_orm::{DbBackend, ExecResult, Statement};

mod post {
    use super::record;
    use audit_seaorm::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "posts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub title: String,
        pub slug: String,
        pub updated_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[audit_seaorm::behavior]
    #[async_trait::async_trait]
    impl ActiveModelBehavior for ActiveModel {
        async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            record("user before_save");
            if let sea_orm::ActiveValue::Set(title) = &self.title {
                self.slug = sea_orm::Set(title.to_lowercase().replace(' ', "-"));
            }
            if !insert {
                self.updated_by = sea_orm::Set("hook".to_owned());
            }
            Ok(self)
        }

        async fn after_save<C>(mut model: Model, _db: &C, _insert: bool) -> Result<Model, DbErr>
        where
            C: ConnectionTrait,
        {
            record("user after_save");
            model.title = model.title.trim().to_owned();
            Ok(model)
        }

        async fn before_delete<C: ConnectionTrait>(self, _db: &C) -> Result<Self, DbErr> {
            record("user before_delete");
            if self.id == sea_orm::Unchanged(0) {
                return Err(DbErr::Custom("post 0 cannot be deleted".to_owned()));
            }
            Ok(self)
        }

        async fn after_delete<C: ConnectionTrait>(self, _db: &C) -> Result<Self, DbErr> {
            record("user after_delete");
            Ok(self)
        }
    }
}

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(event: impl Into<String>) {
    LOG.lock().unwrap().push(event.into());
}

fn take_log() -> Vec<String> {
    std::mem::take(&mut *LOG.lock().unwrap())
}

/// Records every statement: reads find no row, writes fail.
struct Recorder;

fn run(sql: &str) -> bool {
    let verb = sql.split_whitespace().next().unwrap_or_default().to_uppercase();
    record(format!("db: {verb}"));
    verb == "SELECT"
}

fn refused() -> DbErr {
    DbErr::Custom("the recorder writes nothing".to_owned())
}

#[async_trait::async_trait]
impl ConnectionTrait for Recorder {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }
    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        run(&stmt.sql);
        Err(refused())
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        run(sql);
        Err(refused())
    }
    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if run(&stmt.sql) { Ok(None) } else { Err(refused()) }
    }
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if run(&stmt.sql) { Ok(Vec::new()) } else { Err(refused()) }
    }
}

/// The audit hooks need a tokio runtime (their state is task-local).
fn block_on<F: Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(fut)
}

fn main() {
    use post::{ActiveModel, Model};
    let db = &Recorder;
    assert_eq!(<Model as Audited>::SUBJECT_TYPE, "posts");
    block_on(async {
        // Update: the audit hook runs on what the user's hook returned: only the field the
        // user's hook set is audited and set. The recorder's tables are empty, so the entity
        // has no baseline (the audit hook asks: a SELECT) and the row is read first.
        let active = ActiveModel { id: Unchanged(1), ..ActiveModel::new() };
        let active = ActiveModelBehavior::before_save(active, db, false).await.unwrap();
        assert_eq!(active.updated_by, Set("hook".to_owned()));
        let log = take_log();
        assert_eq!(log[0], "user before_save", "{log:?}");
        assert!(log.len() > 1 && log[1..].iter().all(|e| e == "db: SELECT"), "{log:?}");

        // Insert: the user's `before_save` fills the slug; the audit hook reads nothing (it
        // knows from the update that the entity has no baseline).
        let active = ActiveModel { title: Set("Hello World".to_owned()), ..ActiveModel::new() };
        let active = ActiveModelBehavior::before_save(active, db, true).await.unwrap();
        assert_eq!(active.slug, Set("hello-world".to_owned()));
        assert_eq!(take_log(), ["user before_save"]);

        // After an insert the audit hook writes first; its failure stops the chain, so the
        // user's `after_save` never sees a write that was not logged.
        let model = Model { id: 1, title: " Hi ".into(), slug: "hi".into(), updated_by: String::new() };
        let saved = <ActiveModel as ActiveModelBehavior>::after_save(model.clone(), db, true).await;
        assert!(saved.is_err());
        let log = take_log();
        assert!(!log.is_empty() && log.iter().all(|e| e.starts_with("db: ")), "{log:?}");

        // With auditing off the audit hook does nothing and the user's `after_save` runs
        // on its result.
        let saved = audit_seaorm::without_auditing(<ActiveModel as ActiveModelBehavior>::after_save(model, db, true))
            .await
            .unwrap();
        assert_eq!(saved.title, "Hi");
        assert_eq!(take_log(), ["user after_save"]);

        // Delete: the user's `before_delete` first, then the audit hook reads the row.
        let active = ActiveModel { id: Unchanged(1), ..ActiveModel::new() };
        let active = ActiveModelBehavior::before_delete(active, db).await.unwrap();
        assert_eq!(take_log(), ["user before_delete", "db: SELECT"]);
        // A refusal of the user's hook stops the delete before the audit hook.
        let refused = ActiveModel { id: Unchanged(0), ..ActiveModel::new() };
        assert!(ActiveModelBehavior::before_delete(refused, db).await.is_err());
        assert_eq!(take_log(), ["user before_delete"]);

        // The audit `after_delete` looks for the row in the trail (one inserted after the
        // read may have been deleted), which this connection cannot answer: its failure
        // stops the chain before the user's `after_delete`.
        let deleted = ActiveModelBehavior::after_delete(active.clone(), db).await;
        assert!(deleted.is_err());
        let log = take_log();
        assert!(!log.is_empty() && log.iter().all(|e| e.starts_with("db: ")), "{log:?}");
        // With auditing off the audit hook does nothing and the user's runs.
        let active = audit_seaorm::without_auditing(ActiveModelBehavior::after_delete(active, db))
            .await
            .unwrap();
        assert_eq!(take_log(), ["user after_delete"]);
        assert_eq!(active.title, NotSet);
    });
}
