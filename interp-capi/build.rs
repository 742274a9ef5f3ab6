//! Lets this package's binaries and tests find libpython without LD_LIBRARY_PATH.
fn main() {
    // interp-sys publishes the directory holding libpython (its `links` metadata).
    if let Ok(dir) = std::env::var("DEP_INTERP_SYS_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
