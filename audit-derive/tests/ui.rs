//! One compile-fail test per misuse of `#[derive(Audited)]`, and the forms that compile.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");
}
