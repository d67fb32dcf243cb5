//! Code generation.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::LitStr;
use syn::spanned::Spanned;

use crate::ast::{Model, ModelField};
use crate::attr::runtime_path;

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
    let krate = runtime_path(model.attrs.krate.get());
    let p = quote!(#krate::__private);
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

    // serde is reached only through the codec: see `value_checks`.
    let codec = |f: &ModelField<'_>| {
        let ty = f.ty;
        quote!((&#p::CodecOf::<#ty>::new()).codec())
    };

    let pks: Vec<&ModelField<'_>> = fields.iter().filter(|f| f.sea_orm.primary_key).collect();
    let key_parts = pks.iter().map(|f| {
        let codec = codec(f);
        let name = f.name();
        let f = f.ident;
        quote!(#p::key_value(&#codec, <Self as #p::Audited>::SUBJECT_TYPE, #name, &self.#f)?)
    });
    let subject_id = quote! {
        ::std::result::Result::Ok(#p::SubjectId::from_key_values([#(#key_parts),*]))
    };
    // The same id from an ActiveModel's key fields (a delete by key), through the same codecs.
    let active_key_parts = pks.iter().map(|f| {
        let codec = codec(f);
        let name = f.name();
        let f = f.ident;
        quote! {
            match active.#f.try_as_ref() {
                ::std::option::Option::Some(v) => match #p::key_value(&#codec, <Self as #p::Audited>::SUBJECT_TYPE, #name, v) {
                    ::std::result::Result::Ok(json) => json,
                    ::std::result::Result::Err(e) => return ::std::option::Option::Some(::std::result::Result::Err(e)),
                },
                ::std::option::Option::None => return ::std::option::Option::None,
            }
        }
    });

    let diffs = fields.iter().map(|f| {
        let id = f.ident;
        let name = f.name();
        match mode(f) {
            Mode::Audited => {
                let codec = codec(f);
                quote! {
                    #p::diff_field(&mut changes, #codec, <Self as #p::Audited>::SUBJECT_TYPE, #name,
                        old.map(|m| &m.#id), new.map(|m| &m.#id))?;
                }
            }
            Mode::Redacted => quote! {
                #p::diff_redacted(&mut changes, #name, old.map(|m| &m.#id), new.map(|m| &m.#id));
            },
            Mode::Skipped | Mode::Ignored => quote!(),
        }
    });

    // One readable error per field whose type cannot go into the log, at the field's type;
    // the codec probe keeps every other use of serde from adding errors of its own.
    let value_checks = fields.iter().filter(|f| mode(f) == Mode::Audited).map(|f| {
        let ty = f.ty;
        quote_spanned! {ty.span()=>
            const _: fn() = || {
                fn audited_field_type<T: ?::std::marker::Sized + #p::AuditValue>() {}
                audited_field_type::<#ty>();
            };
        }
    });

    // The subject id and a restore's key come from the `#[sea_orm(primary_key)]` fields,
    // the row lookup from `enum PrimaryKey`: they must name as many columns. (An expanded
    // entity writes `enum PrimaryKey` by hand, and `DeriveModel` ignores the attribute.)
    let key_arity = {
        let n = pks.len();
        let span = pks.first().map_or(ident.span(), |f| f.span());
        quote_spanned! {span=>
            const _: () = ::std::assert!(
                <<<<ActiveModel as #p::sea_orm::ActiveModelTrait>::Entity as #p::sea_orm::EntityTrait>::PrimaryKey
                    as #p::sea_orm::PrimaryKeyTrait>::ValueType as #p::sea_orm::PrimaryKeyArity>::ARITY == #n,
                "the `#[sea_orm(primary_key)]` fields of this audited model are not as many as the variants of its entity's `enum PrimaryKey`",
            );
        }
    };

    let snapshotted: Vec<&ModelField<'_>> =
        fields.iter().filter(|f| mode(f) == Mode::Audited).collect();
    let snapshot_len = snapshotted.len();
    let snapshots = snapshotted.iter().map(|f| {
        let id = f.ident;
        let name = f.name();
        let codec = codec(f);
        quote!(#p::snapshot_field(&mut data, #codec, <Self as #p::Audited>::SUBJECT_TYPE, #name, &self.#id)?;)
    });

    let from_base_or_default = |f: &ModelField<'_>| {
        let id = f.ident;
        let ty = f.ty;
        let name = f.name();
        quote! {
            match base {
                ::std::option::Option::Some(base) => ::std::clone::Clone::clone(&base.#id),
                ::std::option::Option::None =>
                    (&#p::DefaultOr::<#ty>::new()).default_value(<Self as #p::Audited>::SUBJECT_TYPE, #name)?,
            }
        }
    };
    let rebuilt = fields.iter().map(|f| {
        let id = f.ident;
        let ty = f.ty;
        let name = f.name();
        // A key the snapshot lacks names no record: an error, not the base's or a default.
        let fallback = if f.sea_orm.primary_key {
            quote!(return ::std::result::Result::Err(#p::missing_key(<Self as #p::Audited>::SUBJECT_TYPE, #name)))
        } else {
            from_base_or_default(f)
        };
        if mode(f) == Mode::Audited {
            let codec = codec(f);
            quote! {
                #id: match #p::field_from_snapshot::<#ty>(data, #codec, <Self as #p::Audited>::SUBJECT_TYPE, #name)? {
                    ::std::option::Option::Some(value) => value,
                    ::std::option::Option::None => #fallback,
                }
            }
        } else {
            quote!(#id: #fallback)
        }
    });

    // Not the key's fields: SeaORM leaves them out of an UPDATE's `SET`, and a write that
    // sets nothing else runs no UPDATE (a plain read: no row lock, nothing changed).
    let set_checks = fields
        .iter()
        .filter(|f| matches!(mode(f), Mode::Audited | Mode::Redacted) && !f.sea_orm.primary_key)
        .map(|f| {
            let id = f.ident;
            let name = f.name();
            quote!(if active.#id.is_set() { set.push(#name); })
        });

    let key_values = pks.iter().map(|f| {
        let ty = f.ty;
        let name = f.name();
        let codec = codec(f);
        quote! {
            #p::sea_orm::Value::from(
                #p::field_from_snapshot::<#ty>(data, #codec, <Self as #p::Audited>::SUBJECT_TYPE, #name)?
                    .ok_or_else(|| #p::missing_key(<Self as #p::Audited>::SUBJECT_TYPE, #name))?
            )
        }
    });

    let restores = fields.iter().filter(|f| mode(f) == Mode::Audited && !f.sea_orm.primary_key).map(|f| {
        let id = f.ident;
        quote!(active.#id = #p::sea_orm::ActiveValue::Set(::std::clone::Clone::clone(&target.#id));)
    });

    let (user_hooks, behavior) = if model.attrs.manual_hooks.is_set() {
        (quote!(), quote!())
    } else {
        (user_hooks_default(&krate), behavior_impl(&krate))
    };

    quote! {
        #user_hooks

        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #[allow(unused_imports)]
            use #p::{NoDefault as _, ViaDefault as _, ViaSerde as _, WithoutSerde as _, ActiveValue as _};

            #(#value_checks)*

            #key_arity

            // Two models writing one subject type are found before the first write.
            #p::inventory::submit! {
                #p::Registration {
                    subject_type: #subject,
                    model: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                    fields: <#ident as #p::Audited>::FIELDS,
                }
            }

            #[automatically_derived]
            impl #p::Audited for #ident {
                const SUBJECT_TYPE: &'static str = #subject;
                const FIELDS: &'static [#p::Field] = &[#(#field_meta),*];

                fn subject_id(&self) -> #p::CoreResult<#p::SubjectId> {
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
                    #p::check_snapshot_keys(data, <Self as #p::Audited>::SUBJECT_TYPE, <Self as #p::Audited>::FIELDS)?;
                    ::std::result::Result::Ok(Self { #(#rebuilt),* })
                }
            }

            #[automatically_derived]
            impl #p::AuditedModel for #ident {
                fn set_fields(active: &ActiveModel) -> ::std::vec::Vec<&'static str> {
                    let mut set = ::std::vec::Vec::new();
                    #(#set_checks)*
                    set
                }

                fn subject_id_of_active(
                    active: &ActiveModel,
                ) -> ::std::option::Option<#p::CoreResult<#p::SubjectId>> {
                    ::std::option::Option::Some(::std::result::Result::Ok(
                        #p::SubjectId::from_key_values([#(#active_key_parts),*]),
                    ))
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

/// The name through which the derived `ActiveModelBehavior` finds the entity's own hooks.
///
/// The derive cannot see the user's `#[audit_seaorm::behavior]` impl, so the two meet by
/// name resolution in the model's module: the derive glob-imports this name, bound to "no
/// hooks of your own"; the attribute declares an item of the same name, which shadows the
/// glob import. Both sides then agree on the type without knowing about each other.
pub const USER_HOOKS: &str = "__AuditSeaormUserHooks";

/// The module-level glob import that makes [`USER_HOOKS`] mean "no hooks of your own"
/// unless the module declares it (see [`USER_HOOKS`]).
fn user_hooks_default(krate: &TokenStream) -> TokenStream {
    quote! {
        #[allow(unused_imports)]
        use #krate::__private::no_user_hooks::*;
    }
}

/// `ActiveModelBehavior` whose hooks call the audit hooks around the entity's own hooks
/// (those of an `#[audit_seaorm::behavior]` impl in the module, else none): the user's
/// `before_*` runs first and the audit hook sees its result; the audit `after_*` runs
/// first, so a failing user `after_*` cannot leave a successful write unlogged.
pub fn behavior_impl(krate: &TokenStream) -> TokenStream {
    let p = quote!(#krate::__private);
    let marker = syn::Ident::new(USER_HOOKS, proc_macro2::Span::call_site());
    let user = quote!(<Self as #p::UserHooks<#marker>>);
    quote! {
        #[automatically_derived]
        impl #p::Wired<#marker> for ActiveModel {}

        #[automatically_derived]
        #[#p::async_trait]
        impl #p::sea_orm::ActiveModelBehavior for ActiveModel {
            fn new() -> Self {
                #user::user_new()
            }

            async fn before_save<C>(self, db: &C, insert: bool) -> ::std::result::Result<Self, #p::sea_orm::DbErr>
            where
                C: #p::sea_orm::ConnectionTrait,
            {
                #p::hooks::refuse_early::<Self, C>()?;
                let active = #user::user_before_save(self, db, insert).await?;
                #p::hooks::before_save(active, db, insert).await
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
                let model = #p::hooks::after_save(model, db, insert).await?;
                #user::user_after_save(model, db, insert).await
            }

            async fn before_delete<C>(self, db: &C) -> ::std::result::Result<Self, #p::sea_orm::DbErr>
            where
                C: #p::sea_orm::ConnectionTrait,
            {
                #p::hooks::refuse_early::<Self, C>()?;
                let active = #user::user_before_delete(self, db).await?;
                #p::hooks::before_delete(active, db).await
            }

            async fn after_delete<C>(self, db: &C) -> ::std::result::Result<Self, #p::sea_orm::DbErr>
            where
                C: #p::sea_orm::ConnectionTrait,
            {
                let active = #p::hooks::after_delete(self, db).await?;
                #user::user_after_delete(active, db).await
            }
        }
    }
}

/// What is emitted next to a compile error so that only the real error shows: an
/// `ActiveModelBehavior` (the entity still needs one) that calls no hook, and the wiring an
/// `#[audit_seaorm::behavior]` impl in the module expects.
pub fn fallback(model_like: bool, manual_hooks: bool, krate: &TokenStream) -> TokenStream {
    if !model_like || manual_hooks {
        return quote!();
    }
    let p = quote!(#krate::__private);
    let marker = syn::Ident::new(USER_HOOKS, proc_macro2::Span::call_site());
    let user_hooks = user_hooks_default(krate);
    quote! {
        #user_hooks

        const _: () = {
            #[automatically_derived]
            impl #p::Wired<#marker> for ActiveModel {}

            #[automatically_derived]
            impl #p::sea_orm::ActiveModelBehavior for ActiveModel {}
        };
    }
}
