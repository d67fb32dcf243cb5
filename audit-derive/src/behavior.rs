//! `#[audit_seaorm::behavior]`: an entity's own `ActiveModelBehavior` impl, kept next to
//! `#[derive(Audited)]`.
//!
//! The impl becomes an impl of `audit_seaorm::__private::UserHooks<__AuditSeaormUserHooks>`
//! with the user's items unchanged but for their names (`user_new`, `user_before_save`,
//! …: a body that calls `Self::new()` then finds `ActiveModelBehavior`'s alone; same
//! signatures, bodies and spans; `Self` is still the ActiveModel), plus the struct
//! `__AuditSeaormUserHooks`, which shadows the derive's glob import of the same name: the
//! `ActiveModelBehavior` impl the derive generates then calls these hooks around the audit
//! hooks (see `expand::behavior_impl`).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, ImplItem, Item, ItemImpl};

use crate::attr::{Errors, crate_path, key, runtime_path};
use crate::expand::USER_HOOKS;

const ATTRIBUTE: &str = "`#[audit_seaorm::behavior]`";
const TRAIT: &str = "ActiveModelBehavior";
const HOOKS: [&str; 5] = [
    "new",
    "before_save",
    "after_save",
    "before_delete",
    "after_delete",
];

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let krate = parse_args(args, &mut errors);
    let item = match syn::parse2::<Item>(item.clone()) {
        Ok(item) => item,
        // Not an item at all: the compiler's own error is the useful one.
        Err(_) => return item,
    };
    let Some(imp) = behavior_impl(&item, &mut errors) else {
        let mut out = errors
            .finish()
            .err()
            .map(|e| e.to_compile_error())
            .unwrap_or_default();
        out.extend(quote!(#item));
        return out;
    };
    let out = rewrite(imp, &krate, &mut errors);
    match errors.finish() {
        Ok(()) => out,
        Err(e) => {
            let mut tokens = e.to_compile_error();
            tokens.extend(out);
            tokens
        }
    }
}

/// The attribute's only argument, `crate = "path"` (a renamed `audit-seaorm`, as in
/// `#[audit(crate = "…")]` on the model): the runtime path the rewritten impl names.
fn parse_args(args: TokenStream, errors: &mut Errors) -> TokenStream {
    let mut krate = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident(key::CRATE) && krate.is_none() {
            krate = Some(crate_path(&meta)?);
            return Ok(());
        }
        let message = match meta.path.get_ident() {
            Some(name) if *name == key::CRATE => {
                format!("duplicate argument `crate` of {ATTRIBUTE}")
            }
            Some(name) => {
                format!("unknown argument `{name}`: {ATTRIBUTE} takes only `crate = \"…\"`")
            }
            None => format!("{ATTRIBUTE} takes only `crate = \"…\"`"),
        };
        Err(meta.error(message))
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        errors.push(e);
    }
    runtime_path(krate.as_ref())
}

/// The `impl ActiveModelBehavior for …` the attribute is on, or an error on the item.
fn behavior_impl<'a>(item: &'a Item, errors: &mut Errors) -> Option<&'a ItemImpl> {
    let Item::Impl(imp) = item else {
        errors.error(
            item_span(item),
            format!(
                "{ATTRIBUTE} goes on the entity's `impl {TRAIT} for ActiveModel`, not on {}",
                item_kind(item)
            ),
        );
        return None;
    };
    let Some((bang, path, _)) = &imp.trait_ else {
        errors.error(
            imp.self_ty.span(),
            format!(
                "{ATTRIBUTE} goes on the entity's `impl {TRAIT} for ActiveModel`, not on an inherent impl"
            ),
        );
        return None;
    };
    let last = path.segments.last()?;
    if last.ident != TRAIT {
        errors.error(
            last.ident.span(),
            format!(
                "{ATTRIBUTE} goes on the entity's `impl {TRAIT} for ActiveModel`, not on an impl of `{}`",
                last.ident
            ),
        );
        return None;
    }
    if let Some(bang) = bang {
        errors.error(
            bang.span,
            format!("{ATTRIBUTE} goes on a positive `impl {TRAIT}`"),
        );
        return None;
    }
    if let Some(unsafety) = &imp.unsafety {
        errors.error(unsafety.span, format!("`{TRAIT}` is not an unsafe trait"));
        return None;
    }
    Some(imp)
}

/// The user's impl as an impl of `UserHooks`, and the struct that wires it to the derive.
fn rewrite(imp: &ItemImpl, krate: &TokenStream, errors: &mut Errors) -> TokenStream {
    let (_, trait_path, _) = imp.trait_.as_ref().expect("checked trait impl");
    let marker = syn::Ident::new(USER_HOOKS, Span::call_site());
    // The impl header keeps the user's spans, so the wiring error points at their impl.
    let user_hooks = quote_spanned!(trait_path.span()=> #krate::__private::UserHooks<#marker>);

    // `UserHooks` is a native-async trait: the impl no longer needs `#[async_trait]`.
    let attrs: Vec<&Attribute> = imp.attrs.iter().filter(|a| !is_async_trait(a)).collect();
    // The items that come with the impl exist when it does.
    let cfgs: Vec<&Attribute> = imp
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();

    let (items, expanded_by_async_trait) = hook_items(imp, errors);

    let generics = &imp.generics;
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let self_ty = &imp.self_ty;
    let impl_token = imp.impl_token;
    // The user's `#[async_trait]` through an import: keep the import used (no new
    // `unused_imports` warning) by putting the attribute on an empty trait.
    let async_trait_uses = imp
        .attrs
        .iter()
        .filter(|a| is_async_trait(a) && a.path().segments.len() == 1)
        .take(1)
        .map(|a| {
            quote! {
                #(#cfgs)*
                #[allow(dead_code)]
                #a
                trait __AuditSeaormAsyncTraitImport {}
            }
        });
    let body = if expanded_by_async_trait {
        // Only the error: the derive's impl still finds (empty) hooks.
        quote!()
    } else {
        // Each hook under `UserHooks`' name for it (`user_new`, …): a body that calls
        // `Self::new()` or another hook by path then finds `ActiveModelBehavior`'s alone.
        let items = items.iter().map(|item| match item {
            ImplItem::Fn(f) => {
                let mut f = f.clone();
                f.sig.ident =
                    quote::format_ident!("user_{}", f.sig.ident, span = f.sig.ident.span());
                ImplItem::Fn(f)
            }
            other => (*other).clone(),
        });
        quote!(#(#items)*)
    };
    quote! {
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(dead_code)]
        struct #marker;

        // The impl no longer names the trait: keep the user's import of it used.
        #(#cfgs)*
        const _: () = {
            #[allow(dead_code)]
            fn names_the_trait<T: ?::std::marker::Sized + #trait_path>() {}
        };

        #(#async_trait_uses)*

        #(#attrs)*
        #impl_token #impl_generics #user_hooks for #self_ty #where_clause {
            #body
        }
    }
}

/// The impl's items that are hooks (an error on each other one), and whether
/// `#[async_trait]` already expanded them (an error too: the attribute must come first).
fn hook_items<'a>(imp: &'a ItemImpl, errors: &mut Errors) -> (Vec<&'a ImplItem>, bool) {
    let mut expanded_by_async_trait = false;
    let items: Vec<&'a ImplItem> = imp
        .items
        .iter()
        .filter(|item| {
            let (ident, kind) = match item {
                ImplItem::Fn(f) => {
                    if f.sig.asyncness.is_none()
                        && f.sig.generics.lifetimes().any(|l| l.lifetime.ident == "async_trait")
                    {
                        expanded_by_async_trait = true;
                    }
                    (&f.sig.ident, "method")
                }
                ImplItem::Const(c) => (&c.ident, "constant"),
                ImplItem::Type(t) => (&t.ident, "type"),
                _ => return true,
            };
            if HOOKS.iter().any(|h| ident == h) {
                return true;
            }
            errors.error(
                ident.span(),
                format!(
                    "{kind} `{ident}` is not a member of `{TRAIT}`: it has `new`, `before_save`, `after_save`, `before_delete` and `after_delete`"
                ),
            );
            false
        })
        .collect();
    if expanded_by_async_trait {
        errors.error(
            Span::call_site(),
            format!(
                "{ATTRIBUTE} must come before `#[async_trait]`: put it first, it reads the `async fn`s as written"
            ),
        );
    }
    (items, expanded_by_async_trait)
}

/// `#[async_trait]`, `#[async_trait::async_trait]`, `#[async_trait(?Send)]`.
fn is_async_trait(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "async_trait")
}

/// The token to point at for an item that is not an impl: its name, else its keyword.
fn item_span(item: &Item) -> Span {
    match item {
        Item::Const(i) => i.ident.span(),
        Item::Enum(i) => i.ident.span(),
        Item::ExternCrate(i) => i.ident.span(),
        Item::Fn(i) => i.sig.ident.span(),
        Item::Macro(i) => i.mac.path.span(),
        Item::Mod(i) => i.ident.span(),
        Item::Static(i) => i.ident.span(),
        Item::Struct(i) => i.ident.span(),
        Item::Trait(i) => i.ident.span(),
        Item::TraitAlias(i) => i.ident.span(),
        Item::Type(i) => i.ident.span(),
        Item::Union(i) => i.ident.span(),
        Item::Use(i) => i.use_token.span,
        Item::ForeignMod(i) => i.abi.extern_token.span,
        _ => Span::call_site(),
    }
}

fn item_kind(item: &Item) -> &'static str {
    match item {
        Item::Const(_) => "a constant",
        Item::Enum(_) => "an enum",
        Item::ExternCrate(_) => "an `extern crate`",
        Item::Fn(_) => "a function",
        Item::Macro(_) => "a macro invocation",
        Item::Mod(_) => "a module",
        Item::Static(_) => "a static",
        Item::Struct(_) => "a struct",
        Item::Trait(_) => "a trait",
        Item::TraitAlias(_) => "a trait alias",
        Item::Type(_) => "a type alias",
        Item::Union(_) => "a union",
        Item::Use(_) => "a `use`",
        Item::ForeignMod(_) => "an `extern` block",
        _ => "this item",
    }
}
