//! Re-emits PyO3's version cfgs (`Py_3_12`, `Py_3_13`, ...) for this crate and
//! passes on interp-sys's link argument (an rpath to libpython plus its link
//! guard; see interp-sys/build.rs and the README, "Depending on interp"):
//! harmless inside the Python that loads this module, and required for the
//! crate's own tests and doctests.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!(
        "cargo:rustc-link-arg={}",
        std::env::var("DEP_INTERP_SYS_LINK_ARG").expect("interp-sys must be a direct dependency")
    );
}
