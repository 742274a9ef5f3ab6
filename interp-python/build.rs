//! Re-emits PyO3's version cfgs (`Py_3_12`, `Py_3_13`, ...) for this crate.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
