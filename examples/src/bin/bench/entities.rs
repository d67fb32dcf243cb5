//! Benchmark entities: the same ten columns, plain, audited, and under a PostgreSQL trigger.

macro_rules! ten_columns {
    ($table:literal $(, $derive:ident)*) => {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel $(, $derive)*)]
        #[sea_orm(table_name = $table)]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub title: String,
            #[sea_orm(column_type = "Text")]
            pub body: String,
            pub author: String,
            pub status: String,
            pub score: i32,
            pub rating: f64,
            pub published: bool,
            pub tags: String,
            pub created_at: DateTimeUtc,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
    };
}

/// Plain SeaORM: the baseline.
pub mod plain {
    ten_columns!("bench_plain");
    impl ActiveModelBehavior for ActiveModel {}
}

/// The same columns, audited.
pub mod audited {
    use audit_seaorm::Audited;
    ten_columns!("bench_audited", Audited);
}

/// The same columns, written by plain SeaORM, audited by a PostgreSQL trigger.
pub mod triggered {
    ten_columns!("bench_triggered");
    impl ActiveModelBehavior for ActiveModel {}
}

/// The same columns, audited, with rows written around the hooks: for `backfill`.
pub mod legacy {
    use audit_seaorm::Audited;
    ten_columns!("bench_legacy", Audited);
}

/// Twenty audited columns: `blame` is measured on a record of this one.
pub mod wide {
    use audit_seaorm::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "bench_wide")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub f01: i32,
        pub f02: i32,
        pub f03: i32,
        pub f04: i32,
        pub f05: i32,
        pub f06: i32,
        pub f07: i32,
        pub f08: i32,
        pub f09: i32,
        pub f10: i32,
        pub f11: String,
        pub f12: String,
        pub f13: String,
        pub f14: String,
        pub f15: String,
        pub f16: String,
        pub f17: String,
        pub f18: String,
        pub f19: String,
        pub f20: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}
