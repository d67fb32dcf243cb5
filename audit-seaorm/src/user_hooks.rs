//! How the `ActiveModelBehavior` that `#[derive(Audited)]` generates reaches the entity's
//! own hooks, moved there by `#[audit_seaorm::behavior]`.
//!
//! The derive (on the `Model`) and the attribute (on the `impl ActiveModelBehavior`) cannot
//! see each other, so they meet by name in the entity's module. The derive glob-imports
//! `__AuditSeaormUserHooks` from [`no_user_hooks`], where it means [`NoUserHooks`], and its
//! impl calls `<ActiveModel as UserHooks<__AuditSeaormUserHooks>>::user_before_save` and so
//! on.
//! The attribute declares a struct of that name in the module, which shadows the glob
//! import, and implements [`UserHooks`] for it with the user's methods. [`Wired`] checks
//! that the derive really picked the attribute's struct: an attribute in another module, on
//! an entity without the derive, or next to `#[audit(manual_hooks)]` is a compile error
//! rather than hooks silently never called.

use std::future::{Future, ready};

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait};

/// The model of an ActiveModel.
type ModelOf<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

/// "No hooks of the entity's own": what `__AuditSeaormUserHooks` names in the module of a
/// `#[derive(Audited)]` model without an `#[audit_seaorm::behavior]` impl.
pub struct NoUserHooks;

/// Glob-imported by `#[derive(Audited)]` into the model's module.
pub mod no_user_hooks {
    pub use super::NoUserHooks as __AuditSeaormUserHooks;
}

/// Implemented by `#[derive(Audited)]` for the `ActiveModel` with the `__AuditSeaormUserHooks`
/// its module sees: proof that the derived `ActiveModelBehavior` calls those hooks.
#[diagnostic::on_unimplemented(
    message = "`#[audit_seaorm::behavior]` needs `#[derive(Audited)]` on the entity's `Model` in this module, without `#[audit(manual_hooks)]`",
    label = "these hooks would never be called: no derived `ActiveModelBehavior` for `{Self}` in this module",
    note = "`#[audit_seaorm::behavior]` hands the hooks to the `ActiveModelBehavior` impl that `#[derive(Audited)]` generates; put both in the entity's module, or, with `#[audit(manual_hooks)]`, drop the attribute and call `audit_seaorm::hooks::*` from your impl"
)]
pub trait Wired<M> {}

/// The entity's own `ActiveModelBehavior` hooks, with the same signatures under names of
/// their own (`user_` and the hook's name: a hook body that calls `Self::new()` or another
/// hook by path finds `ActiveModelBehavior`'s alone, as without the attribute). `M` is the
/// module's `__AuditSeaormUserHooks`. Methods the entity does not define do nothing, as in
/// `ActiveModelBehavior`.
pub trait UserHooks<M>: ActiveModelTrait + Send + Wired<M> {
    /// `ActiveModelBehavior::new`.
    fn user_new() -> Self {
        <Self as ActiveModelTrait>::default()
    }

    /// `ActiveModelBehavior::before_save`, run before the audit hook.
    fn user_before_save<C: ConnectionTrait>(
        self,
        _db: &C,
        _insert: bool,
    ) -> impl Future<Output = Result<Self, DbErr>> + Send {
        ready(Ok(self))
    }

    /// `ActiveModelBehavior::after_save`, run after the audit hook.
    fn user_after_save<C: ConnectionTrait>(
        model: ModelOf<Self>,
        _db: &C,
        _insert: bool,
    ) -> impl Future<Output = Result<ModelOf<Self>, DbErr>> + Send {
        ready(Ok(model))
    }

    /// `ActiveModelBehavior::before_delete`, run before the audit hook.
    fn user_before_delete<C: ConnectionTrait>(
        self,
        _db: &C,
    ) -> impl Future<Output = Result<Self, DbErr>> + Send {
        ready(Ok(self))
    }

    /// `ActiveModelBehavior::after_delete`, run after the audit hook.
    fn user_after_delete<C: ConnectionTrait>(
        self,
        _db: &C,
    ) -> impl Future<Output = Result<Self, DbErr>> + Send {
        ready(Ok(self))
    }
}

impl<A: ActiveModelTrait + Send + Wired<NoUserHooks>> UserHooks<NoUserHooks> for A {}
