//! Code generation.

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;

use crate::ast::{Model, ModelField};

/// Where a field stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Audited,
    Redacted,
    Skipped,
    Ignored,
}

fn mode(field: &ModelField<'_>) -> Mode {
    if field.sea_orm.ignore {
        Mode::Ignored
    } else if field.attrs.skip.is_set() {
        Mode::Skipped
    } else if field.attrs.redact.is_set() {
        Mode::Redacted
    } else {
        Mode::Audited
    }
}

pub fn expand(model: &Model<'_>) -> TokenStream {
    let ident = model.ident;
    let p = quote!(::audit_seaorm::__private);
    let subject = match (model.attrs.subject.get(), &model.table_name) {
        (Some(lit), _) | (None, Some(lit)) => lit.clone(),
        (None, None) => LitStr::new("", ident.span()),
    };
    let fields = &model.fields;

    let field_meta = fields.iter().map(|f| {
        let name = f.name();
        let column = f.column();
        let pk = f.sea_orm.primary_key;
        let mode = match mode(f) {
            Mode::Audited => quote!(#p::FieldMode::Audited),
            Mode::Redacted => quote!(#p::FieldMode::Redacted),
            Mode::Skipped => quote!(#p::FieldMode::Skipped),
            Mode::Ignored => quote!(#p::FieldMode::Ignored),
        };
        quote!(#p::Field { name: #name, column: #column, mode: #mode, primary_key: #pk })
    });

    let pks: Vec<&ModelField<'_>> = fields.iter().filter(|f| f.sea_orm.primary_key).collect();
    let subject_id = if pks.len() == 1 {
        let f = pks[0].ident;
        quote!(#p::key_part(&self.#f))
    } else {
        let parts = pks.iter().map(|f| {
            let f = f.ident;
            quote!(#p::key_json(&self.#f))
        });
        quote!(#p::composite_key(::std::vec![#(#parts),*]))
    };

    let diffs = fields
        .iter()
        .filter(|f| matches!(mode(f), Mode::Audited | Mode::Redacted))
        .map(|f| {
            let id = f.ident;
            let name = f.name();
            let redact = mode(f) == Mode::Redacted;
            quote! {
                #p::diff_field(&mut changes, Self::SUBJECT_TYPE, #name, #redact,
                    old.map(|m| &m.#id), new.map(|m| &m.#id))?;
            }
        });

    let snapshotted: Vec<&ModelField<'_>> =
        fields.iter().filter(|f| mode(f) == Mode::Audited).collect();
    let snapshot_len = snapshotted.len();
    let snapshots = snapshotted.iter().map(|f| {
        let id = f.ident;
        let name = f.name();
        quote!(#p::snapshot_field(&mut data, Self::SUBJECT_TYPE, #name, &self.#id)?;)
    });

    let from_base_or_default = |f: &ModelField<'_>| {
        let id = f.ident;
        let ty = f.ty;
        let name = f.name();
        quote! {
            match base {
                ::std::option::Option::Some(base) => ::std::clone::Clone::clone(&base.#id),
                ::std::option::Option::None =>
                    (&#p::DefaultOr::<#ty>::new()).default_value(Self::SUBJECT_TYPE, #name)?,
            }
        }
    };
    let rebuilt = fields.iter().map(|f| {
        let id = f.ident;
        let ty = f.ty;
        let name = f.name();
        let fallback = from_base_or_default(f);
        if mode(f) == Mode::Audited {
            quote! {
                #id: match #p::field_from_snapshot::<#ty>(data, Self::SUBJECT_TYPE, #name)? {
                    ::std::option::Option::Some(value) => value,
                    ::std::option::Option::None => #fallback,
                }
            }
        } else {
            quote!(#id: #fallback)
        }
    });

    let set_checks = fields
        .iter()
        .filter(|f| matches!(mode(f), Mode::Audited | Mode::Redacted))
        .map(|f| {
            let id = f.ident;
            quote!(active.#id.is_set())
        });

    let key_values = pks.iter().map(|f| {
        let ty = f.ty;
        let name = f.name();
        quote! {
            #p::sea_orm::Value::from(
                #p::field_from_snapshot::<#ty>(data, <Self as #p::Audited>::SUBJECT_TYPE, #name)?
                    .ok_or_else(|| #p::missing_key(<Self as #p::Audited>::SUBJECT_TYPE, #name))?
            )
        }
    });

    let restores = fields.iter().filter(|f| mode(f) == Mode::Audited && !f.sea_orm.primary_key).map(|f| {
        let id = f.ident;
        quote!(active.#id = #p::sea_orm::ActiveValue::Set(::std::clone::Clone::clone(&target.#id));)
    });

    let behavior = if model.attrs.manual_hooks.is_set() {
        quote!()
    } else {
        behavior_impl()
    };

    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #[allow(unused_imports)]
            use #p::{NoDefault as _, ViaDefault as _, ActiveValue as _};

            #[automatically_derived]
            impl #p::Audited for #ident {
                const SUBJECT_TYPE: &'static str = #subject;
                const FIELDS: &'static [#p::Field] = &[#(#field_meta),*];

                fn subject_id(&self) -> ::std::string::String {
                    #subject_id
                }

                fn changes(
                    old: ::std::option::Option<&Self>,
                    new: ::std::option::Option<&Self>,
                ) -> #p::CoreResult<#p::Changes> {
                    let mut changes = #p::Changes::new();
                    #(#diffs)*
                    ::std::result::Result::Ok(changes)
                }

                fn snapshot(&self) -> #p::CoreResult<#p::JsonMap> {
                    let mut data = #p::JsonMap::new();
                    let _ = #snapshot_len;
                    #(#snapshots)*
                    ::std::result::Result::Ok(data)
                }

                fn from_snapshot(
                    base: ::std::option::Option<&Self>,
                    data: &#p::JsonMap,
                ) -> #p::CoreResult<Self> {
                    #p::check_snapshot_keys(data, Self::SUBJECT_TYPE, Self::FIELDS)?;
                    ::std::result::Result::Ok(Self { #(#rebuilt),* })
                }
            }

            #[automatically_derived]
            impl #p::AuditedModel for #ident {
                fn has_audited_changes(active: &ActiveModel) -> bool {
                    false #(|| #set_checks)*
                }

                fn key_from_snapshot(
                    data: &#p::JsonMap,
                ) -> #p::CoreResult<::std::vec::Vec<#p::sea_orm::Value>> {
                    ::std::result::Result::Ok(::std::vec![#(#key_values),*])
                }

                fn restore_active_model(current: Self, target: &Self) -> ActiveModel {
                    let mut active: ActiveModel = #p::sea_orm::IntoActiveModel::into_active_model(current);
                    #(#restores)*
                    active
                }
            }

            #behavior
        };
    }
}

/// `ActiveModelBehavior` whose hooks call the audit hooks.
pub fn behavior_impl() -> TokenStream {
    let p = quote!(::audit_seaorm::__private);
    quote! {
        #[automatically_derived]
        #[#p::async_trait]
        impl #p::sea_orm::ActiveModelBehavior for ActiveModel {
            async fn before_save<C>(self, db: &C, insert: bool) -> ::std::result::Result<Self, #p::sea_orm::DbErr>
            where
                C: #p::sea_orm::ConnectionTrait,
            {
                ::audit_seaorm::hooks::before_save(self, db, insert).await
            }

            async fn after_save<C>(
                model: <<Self as #p::sea_orm::ActiveModelTrait>::Entity as #p::sea_orm::EntityTrait>::Model,
                db: &C,
                insert: bool,
            ) -> ::std::result::Result<
                <<Self as #p::sea_orm::ActiveModelTrait>::Entity as #p::sea_orm::EntityTrait>::Model,
                #p::sea_orm::DbErr,
            >
            where
                C: #p::sea_orm::ConnectionTrait,
            {
                ::audit_seaorm::hooks::after_save(model, db, insert).await
            }

            async fn before_delete<C>(self, db: &C) -> ::std::result::Result<Self, #p::sea_orm::DbErr>
            where
                C: #p::sea_orm::ConnectionTrait,
            {
                ::audit_seaorm::hooks::before_delete(self, db).await
            }

            async fn after_delete<C>(self, db: &C) -> ::std::result::Result<Self, #p::sea_orm::DbErr>
            where
                C: #p::sea_orm::ConnectionTrait,
            {
                ::audit_seaorm::hooks::after_delete(self, db).await
            }
        }
    }
}

/// What is emitted next to a compile error so that only the real error shows: an empty
/// `ActiveModelBehavior` (the entity still needs one).
pub fn fallback(model_like: bool, manual_hooks: bool) -> TokenStream {
    if !model_like || manual_hooks {
        return quote!();
    }
    let p = quote!(::audit_seaorm::__private);
    quote! {
        #[automatically_derived]
        impl #p::sea_orm::ActiveModelBehavior for ActiveModel {}
    }
}
