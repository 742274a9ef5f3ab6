//! Finds the CPython that pyo3-ffi links against (PYO3_PYTHON), refuses one
//! older than 3.12 or free-threaded, re-emits PyO3's version cfgs
//! (`Py_3_12`, `Py_3_13`, `Py_3_14`), bakes the interpreter's prefix into the
//! crate (so embedded Python finds its stdlib without PYTHONHOME), and
//! publishes the library and include directories to dependent build scripts
//! as `DEP_INTERP_SYS_LIBDIR` / `DEP_INTERP_SYS_INCLUDE` / `DEP_INTERP_SYS_PREFIX`.
use std::process::Command;

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    let cfg = pyo3_build_config::get();
    let v = cfg.version();
    if (v.major, v.minor) < (3, 12) {
        panic!(
            "interp needs CPython 3.12 or newer (own-GIL subinterpreters), but PYO3_PYTHON points at \
             Python {}.{}. Run `scripts/bootstrap.sh` and build with PYO3_PYTHON=<the path it prints>, \
             or use `make test` / `make demo`, which do this for you.",
            v.major, v.minor
        );
    }
    if cfg.is_free_threaded() {
        panic!("interp needs a CPython build with the GIL; PYO3_PYTHON points at a free-threaded build");
    }
    let exe = cfg.executable().expect(
        "pyo3-build-config found no Python executable; set PYO3_PYTHON (see scripts/bootstrap.sh)",
    );
    let out = Command::new(exe)
        .args([
            "-c",
            "import sys, sysconfig; print(sys.base_prefix); print(sysconfig.get_paths()['include']); \
             print(sysconfig.get_config_var('LIBDIR')); print(sys.version.split()[0])",
        ])
        .output()
        .unwrap_or_else(|e| panic!("could not run {exe}: {e}"));
    assert!(
        out.status.success(),
        "{exe} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 paths");
    let mut lines = text.lines();
    let (prefix, include, libdir, version) = (
        lines.next().unwrap(),
        lines.next().unwrap(),
        lines.next().unwrap(),
        lines.next().unwrap(),
    );
    println!("cargo:rustc-env=INTERP_PYTHON_PREFIX={prefix}");
    println!("cargo:rustc-env=INTERP_PYTHON_INCLUDE={include}");
    println!("cargo:rustc-env=INTERP_PYTHON_VERSION={version}");
    println!("cargo:rustc-env=INTERP_PYTHON_EXECUTABLE={exe}");
    println!("cargo:prefix={prefix}");
    println!("cargo:include={include}");
    println!("cargo:libdir={libdir}");
    // This crate's own tests link libpython too.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{libdir}");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=build.rs");
}
