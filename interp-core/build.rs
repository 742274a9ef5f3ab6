//! Gives this package's binaries, tests and examples what they need to find
//! libpython at run time: interp-sys publishes the link argument (an rpath
//! plus its link guard; see interp-sys/build.rs), this passes it on. It is the
//! same line a crate outside this workspace uses (README, "Depending on interp").
fn main() {
    println!(
        "cargo:rustc-link-arg={}",
        std::env::var("DEP_INTERP_SYS_LINK_ARG").expect("interp-sys must be a direct dependency")
    );
}
