//! Gives libinterp.so and this package's tests an rpath to libpython. The
//! library defines interp-sys's link guard itself (`RPATH_GUARD` in
//! src/lib.rs) instead of taking interp-sys's `--defsym`, so a C program links
//! libinterp.a with the usual flags only.
fn main() {
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} unset: interp-sys must be a direct dependency"))
    };
    println!(
        "cargo:rustc-link-arg=-Wl,-rpath,{}",
        var("DEP_INTERP_SYS_LIBDIR")
    );
    println!(
        "cargo:rustc-env=INTERP_RPATH_GUARD={}",
        var("DEP_INTERP_SYS_RPATH_GUARD")
    );
}
