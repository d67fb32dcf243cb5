//! Typed restore: write a version back into its entity.

use std::future::Future;

use audit_core::Audited;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Iterable,
    PrimaryKeyToColumn, QueryFilter, QuerySelect,
};

use crate::trail::restoring::Restoring;
use crate::{AuditedModel, Error, Result};

/// Restore for audited entities: `post::Entity::restore(&db, version_id)`.
pub trait AuditedEntity: EntityTrait {
    /// Writes a version back into its row and returns the restored model.
    ///
    /// The row is updated when it exists and re-inserted when it was deleted. Audited
    /// fields take the snapshot's values; skipped and redacted fields keep their current
    /// values (on a re-inserted row: their type's default, or an error when it has none).
    /// The write goes through the hooks and is logged as "restored" with its diff and a new
    /// version. Errors: an unknown version, a version of another subject type, a snapshot
    /// that no longer fits the model, strict mode outside a transaction; these write
    /// nothing. A database error during the write can leave the row restored without its
    /// audit rows unless the call runs in a transaction: run it in one.
    fn restore<C>(db: &C, version_id: i64) -> impl Future<Output = Result<Self::Model>> + Send
    where
        C: ConnectionTrait;
}

impl<E> AuditedEntity for E
where
    E: EntityTrait,
    E::Model: AuditedModel + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: Send,
{
    fn restore<C>(db: &C, version_id: i64) -> impl Future<Output = Result<Self::Model>> + Send
    where
        C: ConnectionTrait,
    {
        restore_model::<E, C>(db, version_id)
    }
}

/// The function behind [`AuditedEntity::restore`].
async fn restore_model<E, C>(db: &C, version_id: i64) -> Result<E::Model>
where
    E: EntityTrait,
    E::Model: AuditedModel + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: Send,
    C: ConnectionTrait,
{
    let subject_type = <E::Model as Audited>::SUBJECT_TYPE;
    crate::registry::check(subject_type)?;
    // Refused here with a typed error; the hooks would refuse it too, but as a `DbErr`.
    if audit_core::AuditContext::strict_mode() && crate::hooks::is_plain_connection::<C>() {
        return Err(Error::NotInTransaction { subject_type });
    }
    let version = crate::api::version(db, version_id)
        .await?
        .ok_or(Error::VersionNotFound(version_id))?;
    if version.subject_type != subject_type {
        return Err(Error::SubjectMismatch {
            version_id,
            expected: subject_type,
            found: version.subject_type,
        });
    }
    let key = <E::Model as AuditedModel>::key_from_snapshot(&version.data)?;
    let mut query = E::find();
    for (pk, value) in E::PrimaryKey::iter().zip(key) {
        query = query.filter(pk.into_column().eq(value));
    }
    let current = query
        .lock_exclusive()
        .one(db)
        .await
        .map_err(Error::db("reading the row to restore"))?;
    let target = <E::Model as Audited>::from_snapshot(current.as_ref(), &version.data)?;
    // The key comes from the snapshot's data: it must name the subject the version is of.
    let subject_id = target.subject_id()?;
    if subject_id != version.subject_id {
        return Err(Error::Corrupt {
            what: "version",
            id: version_id,
            reason: format!(
                "its data is keyed `{subject_id}` but it is a version of `{}`",
                version.subject_id
            ),
        });
    }
    let marker = Restoring {
        subject_type,
        subject_id: subject_id.into_string(),
        version_id,
        version: version.version,
    };
    marker
        .scope(async move {
            match current {
                Some(current) => <E::Model as AuditedModel>::restore_active_model(current, &target)
                    .update(db)
                    .await
                    .map_err(Error::db("writing the restored row")),
                None => target
                    .into_active_model()
                    .insert(db)
                    .await
                    .map_err(Error::db("re-inserting the restored row")),
            }
        })
        .await
}
