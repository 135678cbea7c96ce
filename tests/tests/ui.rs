//! Compile-time behaviour of `#[derive(Protocol)]`: what compiles, and the errors for what
//! does not (reviewed `.stderr` files; the toolchain is pinned so they stay stable).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
