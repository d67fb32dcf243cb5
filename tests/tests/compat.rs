//! Entities as sea-orm-cli and SeaORM's own test entities write them (relations, a
//! junction with a composite key, active enums, JSON structs, decimals, UUIDs, bytes,
//! timestamps, newtypes, string and enum keys, raw identifiers, ignored fields, renamed
//! columns, the dense and the expanded formats, hooks of their own): each goes through
//! insert, update, delete and a restore of version 1, with its whole trail checked exactly.

use audit_seaorm::{Audited, AuditedEntity, AuditedModel, history, versions};
use audit_tests::backend_tests;
use audit_tests::compat::{
    baker, bakery, cake, cakes_bakers, camel, dense, expanded, flavor, keyed, misordered, mood,
    pantry, reading, underscored, variants,
};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    ModelTrait, Set, prelude::ChronoUnixTimestamp,
};
use serde_json::{Map, Value as Json, json};

/// An update: sets one field; that field's key and new value in the snapshot.
type Update<A> = (fn(&mut A), &'static str, Json);

/// One entity's row through the whole flow.
struct Case<E: EntityTrait> {
    /// The subject type and id the trail must use.
    subject: &'static str,
    id: &'static str,
    insert: E::ActiveModel,
    /// The snapshot of the inserted row, written out literally.
    data: Json,
    update: Option<Update<E::ActiveModel>>,
}

fn object(data: &Json) -> &Map<String, Json> {
    data.as_object().expect("snapshot data is an object")
}

/// The changes of a create: every field from `null`.
fn from_null(data: &Json) -> Json {
    let map = object(data)
        .iter()
        .map(|(k, v)| (k.clone(), json!({"old": null, "new": v})))
        .collect();
    Json::Object(map)
}

/// The changes of a delete: every field to `null`.
fn to_null(data: &Json) -> Json {
    let map = object(data)
        .iter()
        .map(|(k, v)| (k.clone(), json!({"old": v, "new": null})))
        .collect();
    Json::Object(map)
}

/// The subject's entries as `(action, changes)` and versions as `(number, event, data)`,
/// compared with what is expected.
async fn assert_trail(
    db: &DatabaseConnection,
    subject: &str,
    id: &str,
    entries: &[(&str, Json)],
    snapshots: &[(&str, Json)],
) {
    let found: Vec<(String, Json)> = history(db, subject, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let changes = serde_json::to_value(&e.changes).unwrap();
            (e.action.as_str().to_owned(), changes)
        })
        .collect();
    let expected: Vec<(String, Json)> = entries
        .iter()
        .map(|(a, c)| ((*a).to_owned(), c.clone()))
        .collect();
    assert_eq!(found, expected, "activity of {subject} {id}");
    let found: Vec<(i64, String, Json)> = versions(db, subject, id)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.version, v.event.to_string(), Json::Object(v.data)))
        .collect();
    let expected: Vec<(i64, String, Json)> = snapshots
        .iter()
        .enumerate()
        .map(|(i, (e, d))| (i as i64 + 1, (*e).to_owned(), d.clone()))
        .collect();
    assert_eq!(found, expected, "versions of {subject} {id}");
}

/// Insert, update (when the case has one), delete, restore version 1: after each step the
/// whole trail is checked. Returns the inserted model (the row exists again at the end).
async fn crud<E>(db: &DatabaseConnection, case: Case<E>) -> E::Model
where
    E: EntityTrait,
    E::Model: AuditedModel + IntoActiveModel<E::ActiveModel> + Clone + PartialEq + std::fmt::Debug,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let Case {
        subject,
        id,
        insert,
        data,
        update,
    } = case;
    assert_eq!(<E::Model as Audited>::SUBJECT_TYPE, subject);

    let model = insert.insert(db).await.unwrap();
    assert_eq!(model.subject_id().unwrap(), id);
    let mut entries = vec![("created", from_null(&data))];
    let mut snapshots = vec![("created", data.clone())];
    assert_trail(db, subject, id, &entries, &snapshots).await;

    let mut last = model.clone();
    let mut last_data = data.clone();
    if let Some((apply, field, new)) = update {
        let mut active = model.clone().into_active_model();
        apply(&mut active);
        last = active.update(db).await.unwrap();
        let old = std::mem::replace(&mut last_data[field], new.clone());
        assert_ne!(old, new, "the update of {subject} changes {field}");
        entries.push(("updated", json!({ field: {"old": old, "new": new} })));
        snapshots.push(("updated", last_data.clone()));
        assert_trail(db, subject, id, &entries, &snapshots).await;
    }

    last.delete(db).await.unwrap();
    entries.push(("deleted", to_null(&last_data)));
    snapshots.push(("deleted", last_data.clone()));
    assert_trail(db, subject, id, &entries, &snapshots).await;
    assert!(!E::find().all(db).await.unwrap().contains(&model));

    let v1 = versions(db, subject, id).await.unwrap()[0].id;
    let restored = E::restore(db, v1).await.unwrap();
    assert_eq!(restored, model);
    assert!(E::find().all(db).await.unwrap().contains(&model));
    entries.push(("restored", from_null(&data)));
    snapshots.push(("restored", data.clone()));
    assert_trail(db, subject, id, &entries, &snapshots).await;
    let trail = history(db, subject, id).await.unwrap();
    let properties = trail.last().unwrap().properties.clone().unwrap();
    assert_eq!(properties["restored_version"], json!(1));
    model
}

const SERIAL: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";

fn uuid(s: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(s).unwrap()
}

/// A bakery, a cake that belongs to it, a baker and the junction row between cake and
/// baker (composite key: the subject id is a JSON array in key order).
async fn chain(db: DatabaseConnection) {
    let db = &db;
    let bakery = crud(
        db,
        Case::<bakery::Entity> {
            subject: "compat_bakery",
            id: "1",
            insert: bakery::ActiveModel {
                name: Set("Top Bakery".into()),
                profit_margin: Set(0.25),
                ..Default::default()
            },
            data: json!({"id": 1, "name": "Top Bakery", "profit_margin": 0.25}),
            update: Some((
                |a| a.name = Set("Tip Top Bakery".into()),
                "name",
                json!("Tip Top Bakery"),
            )),
        },
    )
    .await;

    // SQLite keeps decimals as REAL, so a scale beyond the value's digits (12.50) would come
    // back as 12.5 there: the prices have no trailing zero and are exact in binary.
    let cake = crud(
        db,
        Case::<cake::Entity> {
            subject: "compat_cake",
            id: "1",
            insert: cake::ActiveModel {
                name: Set("Chocolate".into()),
                price: Set(rust_decimal::Decimal::new(1275, 2)),
                bakery_id: Set(Some(bakery.id)),
                gluten_free: Set(false),
                serial: Set(uuid(SERIAL)),
                ..Default::default()
            },
            data: json!({
                "id": 1, "name": "Chocolate", "price": "12.75", "bakery_id": 1,
                "gluten_free": false, "serial": SERIAL,
            }),
            update: Some((
                |a| a.price = Set(rust_decimal::Decimal::new(1425, 2)),
                "price",
                json!("14.25"),
            )),
        },
    )
    .await;
    let cakes = bakery.find_related(cake::Entity).all(db).await.unwrap();
    assert_eq!(cakes, vec![cake.clone()]);
    baker_and_junction(db, &bakery).await;
}

/// The baker of the bakery, and the junction row of a second cake and the baker.
async fn baker_and_junction(db: &DatabaseConnection, bakery: &bakery::Model) {
    let baker = crud(
        db,
        Case::<baker::Entity> {
            subject: "compat_baker",
            id: "1",
            insert: baker::ActiveModel {
                name: Set("Baker Bob".into()),
                slug: Set(String::new()),
                contact_details: Set(json!({"mobile": "+61424000000", "home": null})),
                bakery_id: Set(Some(bakery.id)),
                ..Default::default()
            },
            data: json!({
                "id": 1, "name": "Baker Bob", "slug": "baker-bob",
                "contact_details": {"mobile": "+61424000000", "home": null}, "bakery_id": 1,
            }),
            update: Some((|a| a.bakery_id = Set(None), "bakery_id", json!(null))),
        },
    )
    .await;

    let second = cake::ActiveModel {
        name: Set("Lemon".into()),
        price: Set(rust_decimal::Decimal::new(5, 1)),
        bakery_id: Set(None),
        gluten_free: Set(true),
        serial: Set(uuid("00000000-0000-0000-0000-000000000002")),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(second.id, 2);
    crud(
        db,
        Case::<cakes_bakers::Entity> {
            subject: "compat_cakes_bakers",
            id: "[2,1]",
            insert: cakes_bakers::ActiveModel {
                cake_id: Set(second.id),
                baker_id: Set(baker.id),
            },
            data: json!({"cake_id": 2, "baker_id": 1}),
            update: None,
        },
    )
    .await;
    let bakers = second.find_related(baker::Entity).all(db).await.unwrap();
    assert_eq!(bakers, vec![baker]);
}

fn pantry_row() -> pantry::ActiveModel {
    pantry::ActiveModel {
        shelf: Set(pantry::Shelf::Dry),
        recipe: Set(pantry::Recipe {
            steps: vec!["mix".into(), "bake".into()],
            minutes: 40,
        }),
        price: Set(rust_decimal::Decimal::new(325, 2)),
        batch: Set(uuid(SERIAL)),
        label: Set(vec![0, 1, 254, 255]),
        note: Set(Some("top shelf".into())),
        stocked_at: Set("2024-05-06T07:08:09Z".parse().unwrap()),
        score: Set(pantry::Score(7)),
        opened_at: Set(ChronoUnixTimestamp("2024-05-06T07:08:09Z".parse().unwrap())),
        ..Default::default()
    }
}

fn pantry_data(id: i32) -> Json {
    // The enum is stored as its string value ("dry") and logged in its serde form ("Dry").
    json!({
        "id": id, "shelf": "Dry", "recipe": {"steps": ["mix", "bake"], "minutes": 40},
        "price": "3.25", "batch": SERIAL, "label": [0, 1, 254, 255], "note": "top shelf",
        "stocked_at": "2024-05-06T07:08:09Z", "score": 7, "opened_at": 1714979289,
    })
}

/// Every field type of `pantry`, each changed by an update of its own.
async fn typed(db: DatabaseConnection) {
    let updates: [(&str, Update<pantry::ActiveModel>); 9] = [
        (
            "1",
            (
                |a| a.shelf = Set(pantry::Shelf::Freezer),
                "shelf",
                json!("Freezer"),
            ),
        ),
        (
            "2",
            (
                |a| {
                    a.recipe = Set(pantry::Recipe {
                        steps: vec!["mix".into()],
                        minutes: 5,
                    })
                },
                "recipe",
                json!({"steps": ["mix"], "minutes": 5}),
            ),
        ),
        (
            "3",
            (
                |a| a.price = Set(rust_decimal::Decimal::new(-75, 2)),
                "price",
                json!("-0.75"),
            ),
        ),
        (
            "4",
            (
                |a| a.batch = Set(uuid::Uuid::nil()),
                "batch",
                json!("00000000-0000-0000-0000-000000000000"),
            ),
        ),
        ("5", (|a| a.label = Set(Vec::new()), "label", json!([]))),
        ("6", (|a| a.note = Set(None), "note", json!(null))),
        (
            "7",
            (
                |a| a.stocked_at = Set("1999-12-31T23:59:59Z".parse().unwrap()),
                "stocked_at",
                json!("1999-12-31T23:59:59Z"),
            ),
        ),
        (
            "8",
            (|a| a.score = Set(pantry::Score(-3)), "score", json!(-3)),
        ),
        (
            "9",
            (
                |a| a.opened_at = Set(ChronoUnixTimestamp("1999-12-31T23:59:59Z".parse().unwrap())),
                "opened_at",
                json!(946684799),
            ),
        ),
    ];
    for (n, (id, update)) in updates.into_iter().enumerate() {
        crud(
            &db,
            Case::<pantry::Entity> {
                subject: "compat_pantry",
                id,
                insert: pantry_row(),
                data: pantry_data(n as i32 + 1),
                update: Some(update),
            },
        )
        .await;
    }
}

/// Key fields declared in another order than `enum PrimaryKey` (the expanded format):
/// the write is refused, naming both orders, before anything is written.
async fn key_fields_out_of_order_are_refused(db: DatabaseConnection) {
    let refused = misordered::ActiveModel {
        lang: Set("en".into()),
        id: Set(1),
        body: Set("hello".into()),
    }
    .insert(&db)
    .await;
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("enum PrimaryKey"), "{message}");
    assert!(
        misordered::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .is_empty(),
        "nothing written"
    );
    // The bulk writes too, before anything is written.
    use audit_seaorm::AuditedBulk;
    let row = || misordered::ActiveModel {
        lang: Set("en".into()),
        id: Set(1),
        body: Set("hello".into()),
    };
    let refused = misordered::Entity::insert_many_audited([row()])
        .exec(&db)
        .await;
    assert!(
        matches!(refused, Err(audit_seaorm::Error::KeyOrder { .. })),
        "{refused:?}"
    );
    misordered::Entity::insert_many([row()])
        .exec(&db)
        .await
        .unwrap();
    let refused = misordered::Entity::update_many_audited()
        .col_expr(
            misordered::Column::Body,
            sea_orm::sea_query::Expr::value("bye"),
        )
        .exec(&db)
        .await;
    assert!(
        matches!(refused, Err(audit_seaorm::Error::KeyOrder { .. })),
        "{refused:?}"
    );
    let refused = misordered::Entity::delete_by_id_audited((1, "en".to_owned()))
        .exec(&db)
        .await;
    assert!(
        matches!(refused, Err(audit_seaorm::Error::KeyOrder { .. })),
        "{refused:?}"
    );
    let rows = misordered::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].body, "hello", "not updated");
    // A restore too, before it reads the row (by the enum's order) or logs any drift.
    use audit_seaorm::AuditedEntity;
    let state = serde_json::json!({"lang": "en", "id": 1, "body": "bye"});
    let v = audit_seaorm::snapshot(&db, "compat_misordered", r#"["en",1]"#, &state)
        .await
        .unwrap();
    let refused = misordered::Entity::restore(&db, v.id).await;
    assert!(
        matches!(refused, Err(audit_seaorm::Error::KeyOrder { .. })),
        "{refused:?}"
    );
    let rows = misordered::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows[0].body, "hello", "not restored");
    for id in [r#"["en",1]"#, r#"[1,"en"]"#] {
        assert!(
            history(&db, "compat_misordered", id)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// A row deleted by its key alone (an ActiveModel holding only the key fields) is logged
/// under the subject id its other writes have: an enum key by its serde name (not its
/// stored value), a date by its text.
async fn deleted_by_key(db: DatabaseConnection) {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
    let row = reading::ActiveModel {
        gauge: Set(reading::Gauge::Humidity),
        day: Set(day),
        value: Set(40),
    }
    .insert(&db)
    .await
    .unwrap();
    let id = row.subject_id().unwrap();
    assert_eq!(id.as_str(), r#"["Humidity","2026-12-05"]"#);
    reading::ActiveModel {
        gauge: Set(reading::Gauge::Humidity),
        day: Set(day),
        ..Default::default()
    }
    .delete(&db)
    .await
    .unwrap();
    let trail = history(&db, "compat_readings", id.as_str()).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "deleted"]);
    assert_eq!(trail[1].changes.get("value").unwrap().old, json!(40));
}

/// A `String` key with a raw-identifier field, an ignored field and a renamed column (the
/// update goes through each), and an active enum as the key.
async fn keys(db: DatabaseConnection) {
    let db = &db;
    let row = |code: &str| keyed::ActiveModel {
        code: Set(code.into()),
        r#type: Set("tin".into()),
        label: Set("Round".into()),
    };
    let data = |code: &str| json!({"code": code, "type": "tin", "label": "Round"});
    let first = crud(
        db,
        Case::<keyed::Entity> {
            subject: "compat_keyed",
            id: "tin-20",
            insert: row("tin-20"),
            data: data("tin-20"),
            update: Some((|a| a.label = Set("Square".into()), "label", json!("Square"))),
        },
    )
    .await;
    assert_eq!(first.cached, None);
    crud(
        db,
        Case::<keyed::Entity> {
            subject: "compat_keyed",
            id: "tin-24",
            insert: row("tin-24"),
            data: data("tin-24"),
            update: Some((|a| a.r#type = Set("tray".into()), "type", json!("tray"))),
        },
    )
    .await;

    crud(
        db,
        Case::<flavor::Entity> {
            subject: "compat_flavor",
            id: "Vanilla",
            insert: flavor::ActiveModel {
                flavor: Set(flavor::Flavor::Vanilla),
                stock: Set(3),
            },
            data: json!({"flavor": "Vanilla", "stock": 3}),
            update: Some((|a| a.stock = Set(4), "stock", json!(4))),
        },
    )
    .await;

    // A native enum key: the delete's check that its row is gone compares the key as
    // SeaORM's own delete does (cast to the enum type on PostgreSQL).
    crud(
        db,
        Case::<mood::Entity> {
            subject: "compat_mood",
            id: "Busy",
            insert: mood::ActiveModel {
                mood: Set(mood::Mood::Busy),
                note: Set("queue".into()),
            },
            data: json!({"mood": "Busy", "note": "queue"}),
            update: Some((|a| a.note = Set("drained".into()), "note", json!("drained"))),
        },
    )
    .await;
}

/// The dense 2.0 format (its relation field is no column, so not in the trail) and the
/// expanded format.
async fn formats(db: DatabaseConnection) {
    let db = &db;
    bakery::ActiveModel {
        name: Set("Corner".into()),
        profit_margin: Set(0.5),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    crud(
        db,
        Case::<dense::Entity> {
            subject: "compat_dense",
            id: "1",
            insert: dense::ActiveModel {
                title: Set("Opening".into()),
                bakery_id: Set(Some(1)),
                ..Default::default()
            },
            data: json!({"id": 1, "title": "Opening", "bakery_id": 1}),
            update: Some((
                |a| a.title = Set("Grand opening".into()),
                "title",
                json!("Grand opening"),
            )),
        },
    )
    .await;
    crud(
        db,
        expanded_case((
            |a| a.name = Set("Blue cheese".into()),
            "name",
            json!("Blue cheese"),
        )),
    )
    .await;
}

/// A row of the expanded-format entity, created, changed by `update`, deleted, restored.
fn expanded_case(update: Update<expanded::ActiveModel>) -> Case<expanded::Entity> {
    Case {
        subject: "compat_expanded",
        id: "1",
        insert: expanded::ActiveModel {
            name: Set("Cheese".into()),
            flavour: Set("sour".into()),
            ..Default::default()
        },
        data: json!({"id": 1, "name": "Cheese", "flavour": "sour"}),
        update: Some(update),
    }
}

/// The expanded format renames a column on `enum Column` (`#[sea_orm(column_name)]` on the
/// variant), where the derive cannot see it: an update of that field must still be the
/// writer's change, not drift.
async fn renamed(db: DatabaseConnection) {
    crud(
        &db,
        expanded_case((
            |a| a.flavour = Set("sweet".into()),
            "flavour",
            json!("sweet"),
        )),
    )
    .await;
}

/// The baker's own hooks: `before_save` sets the slug the trail then holds; a failing
/// `after_save` of its own comes after the write was logged.
async fn hooks(db: DatabaseConnection) {
    let db = &db;
    let baker = baker::ActiveModel {
        name: Set("Ada Lovelace".into()),
        slug: Set(String::new()),
        contact_details: Set(json!({})),
        bakery_id: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(baker.slug, "ada-lovelace");
    let data = json!({
        "id": 1, "name": "Ada Lovelace", "slug": "ada-lovelace", "contact_details": {},
        "bakery_id": null,
    });
    let mut entries = vec![("created", from_null(&data))];
    let mut snapshots = vec![("created", data)];
    assert_trail(db, "compat_baker", "1", &entries, &snapshots).await;

    let mut active = baker.into_active_model();
    active.name = Set("Nobody".into());
    let err = active.update(db).await.unwrap_err();
    assert!(
        err.to_string().contains("no baker is called Nobody"),
        "{err}"
    );
    entries.push((
        "updated",
        json!({
            "name": {"old": "Ada Lovelace", "new": "Nobody"},
            "slug": {"old": "ada-lovelace", "new": "nobody"},
        }),
    ));
    snapshots.push((
        "updated",
        json!({
            "id": 1, "name": "Nobody", "slug": "nobody", "contact_details": {},
            "bakery_id": null,
        }),
    ));
    assert_trail(db, "compat_baker", "1", &entries, &snapshots).await;
}

/// Bulk writes of a table keyed by a native enum: their key lists and keyset steps compare
/// the key as SeaORM does (cast to the enum type on PostgreSQL).
async fn bulk_with_an_enum_key(db: DatabaseConnection) {
    use audit_seaorm::AuditedBulk;
    use sea_orm::ColumnTrait;
    use sea_orm::sea_query::Expr;
    let moods = [mood::Mood::Calm, mood::Mood::Busy].map(|m| mood::ActiveModel {
        mood: Set(m),
        note: Set("fresh".into()),
    });
    let done = mood::Entity::insert_many_audited(moods)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (2, 2));
    let done = mood::Entity::update_many_audited()
        .col_expr(mood::Column::Note, Expr::value("bulk"))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (2, 2));
    let done = mood::Entity::delete_many_audited()
        .filter(mood::Column::Mood.eq(mood::Mood::Busy))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (1, 1));
    let done = mood::Entity::delete_by_id_audited(mood::Mood::Calm)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (1, 1));
    for id in ["Calm", "Busy"] {
        let trail = history(&db, "compat_mood", id).await.unwrap();
        let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["created", "updated", "deleted"], "{id}");
        assert_eq!(
            serde_json::to_value(&trail[1].changes).unwrap(),
            json!({"note": {"old": "fresh", "new": "bulk"}})
        );
    }
    assert!(mood::Entity::find().all(&db).await.unwrap().is_empty());
}

/// Columns renamed for the whole struct (`rename_all`): a hooked write and a bulk update
/// both log the fields by their Rust names, and the bulk update's own change is its own
/// (with its causer), not `drift`.
async fn columns_renamed_for_the_struct(db: DatabaseConnection) {
    use audit_seaorm::{AuditContext, AuditedBulk};
    use sea_orm::sea_query::Expr;
    let row = camel::ActiveModel {
        view_count: Set(0),
        display_name: Set("first".into()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let done = AuditContext::new()
        .causer("7")
        .scope(
            camel::Entity::update_many_audited()
                .col_expr(camel::Column::ViewCount, Expr::value(5))
                .exec(&db),
        )
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (1, 1));
    let trail = history(&db, "compat_camel", row.id).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(last.action, "updated");
    assert_eq!(last.causer_id.as_deref(), Some("7"));
    assert_eq!(
        serde_json::to_value(&last.changes).unwrap(),
        json!({"view_count": {"old": 0, "new": 5}})
    );
    let vs = versions(&db, "compat_camel", row.id).await.unwrap();
    assert_eq!(vs.last().unwrap().data["display_name"], json!("first"));
}

/// Fields SeaORM names the columns of without their extra underscores (`id_` is the
/// column `id`): hooked writes, a restore and a bulk update all find the columns, and the
/// trail keeps the Rust names.
async fn columns_named_without_underscores(db: DatabaseConnection) {
    use audit_seaorm::{AuditContext, AuditedBulk};
    use sea_orm::sea_query::Expr;
    let data = json!({"id_": 1, "type_": "tin", "_note": "n"});
    crud(
        &db,
        Case::<underscored::Entity> {
            subject: "compat_underscored",
            id: "1",
            insert: underscored::ActiveModel {
                id_: Set(1),
                type_: Set("tin".into()),
                _note: Set("n".into()),
            },
            data,
            update: Some((|a| a.type_ = Set("tray".into()), "type_", json!("tray"))),
        },
    )
    .await;
    let done = AuditContext::new()
        .causer("7")
        .scope(
            underscored::Entity::update_many_audited()
                .col_expr(underscored::Column::Type, Expr::value("box"))
                .exec(&db),
        )
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (1, 1));
    let trail = history(&db, "compat_underscored", 1).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.causer_id.as_deref()),
        ("updated", Some("7"))
    );
    assert_eq!(
        serde_json::to_value(&last.changes).unwrap(),
        json!({"type_": {"old": "tin", "new": "box"}})
    );
}

/// Fields whose column variants are renamed (`enum_name`, the key among them): hooked
/// writes, a restore and a bulk update find the columns (`code`, `label`), and the trail
/// keeps the Rust names.
async fn columns_named_after_their_variants(db: DatabaseConnection) {
    use audit_seaorm::AuditedBulk;
    use sea_orm::sea_query::Expr;
    crud(
        &db,
        Case::<variants::Entity> {
            subject: "compat_variants",
            id: "1",
            insert: variants::ActiveModel {
                id: Set(1),
                name: Set("tin".into()),
            },
            data: json!({"id": 1, "name": "tin"}),
            update: Some((|a| a.name = Set("tray".into()), "name", json!("tray"))),
        },
    )
    .await;
    let done = variants::Entity::update_many_audited()
        .col_expr(variants::Column::Label, Expr::value("box"))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!((done.rows, done.entries), (1, 1));
    let trail = history(&db, "compat_variants", 1).await.unwrap();
    assert_eq!(
        serde_json::to_value(&trail.last().unwrap().changes).unwrap(),
        json!({"name": {"old": "tin", "new": "box"}})
    );
}

backend_tests!(
    columns_named_after_their_variants,
    columns_named_without_underscores,
    chain,
    typed,
    keys,
    formats,
    renamed,
    hooks,
    bulk_with_an_enum_key,
    columns_renamed_for_the_struct,
    deleted_by_key,
    key_fields_out_of_order_are_refused
);
