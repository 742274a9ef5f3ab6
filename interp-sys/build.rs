//! Finds the CPython that pyo3-ffi links against (`PYO3_PYTHON`), refuses one
//! older than 3.12 or free-threaded with a message that says where it came
//! from, re-emits PyO3's version cfgs (`Py_3_12`, `Py_3_13`, `Py_3_14`), and
//! bakes the interpreter's prefix into the crate (so embedded Python finds its
//! standard library without `PYTHONHOME`).
//!
//! # Finding libpython at run time: the one mechanism
//!
//! A binary that embeds a shared libpython kept outside the loader's default
//! path (the bootstrapped `~/.cache/interp/cpython-3.14.7/lib`, a pyenv build)
//! needs an rpath to it. Cargo applies `cargo:rustc-link-arg` only to the
//! package whose build script printed it (rust-lang/cargo#9554), never to its
//! dependents, so no dependency can give a binary that rpath. This script
//! therefore publishes the one link argument every binary needs, as `links`
//! metadata: dependents read it from `DEP_INTERP_SYS_LINK_ARG`, and a
//! one-line `build.rs` passes it on:
//!
//! ```text
//! fn main() { println!("cargo:rustc-link-arg={}", std::env::var("DEP_INTERP_SYS_LINK_ARG").unwrap()); }
//! ```
//!
//! The argument is `-Wl,-rpath,<libdir>,--defsym=<guard>=0`. The guard is a
//! symbol that interp-sys references (cfg `interp_rpath_guard`, a `#[used]`
//! static, so every binary and library that includes interp-sys has the
//! reference) whenever libpython is not in the dynamic loader's cache. The
//! reference has hidden visibility, so the symbol must be defined inside the
//! linked object itself: an executable *and* a shared library (cdylib)
//! linked without that line fail to link, naming the guard (which says what
//! to do), instead of failing at start with "libpython3.14.so.1.0: cannot
//! open shared object file" or at `dlopen` with "undefined symbol".
//! `DEP_INTERP_SYS_LIBDIR`, `DEP_INTERP_SYS_PREFIX`,
//! `DEP_INTERP_SYS_INCLUDE` and `DEP_INTERP_SYS_RPATH_GUARD` (the symbol's
//! name) are published too.
use std::env;
use std::process::Command;

#[path = "build/loader_cache.rs"]
mod loader_cache;

/// The symbol a binary must define (through `DEP_INTERP_SYS_LINK_ARG`) when
/// libpython is outside the loader's default path. Its name is the message
/// the linker prints when it is missing.
const GUARD: &str =
    "interp_needs_a_build_rs_line__libpython_is_not_on_the_loader_path__see_the_README";

fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=PYO3_CONFIG_FILE");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/loader_cache.rs");
    println!("cargo:rustc-check-cfg=cfg(interp_rpath_guard)");
    pyo3_build_config::use_pyo3_cfgs();
    let cfg = pyo3_build_config::get();
    let exe = cfg.executable().unwrap_or("<unknown>");
    let v = cfg.version();
    let found = origin(exe, &format!("{}.{}", v.major, v.minor));
    if (v.major, v.minor) < (3, 12) {
        panic!("interp needs CPython 3.12 or newer (own-GIL subinterpreters), but {found}. {FIX}");
    }
    if cfg.is_free_threaded() {
        panic!("interp needs a CPython build with the GIL, but {found} (free-threaded). {FIX}");
    }
    let Some(exe) = cfg.executable() else {
        panic!(
            "pyo3-build-config names no Python executable (PYO3_CONFIG_FILE without `executable`?)"
        )
    };
    let out = Command::new(exe)
        .args([
            "-c",
            "import sys, sysconfig; print(sys.base_prefix); print(sysconfig.get_paths()['include']); \
             print(sysconfig.get_config_var('LIBDIR')); print(sys.version.split()[0]); \
             print(sysconfig.get_config_var('INSTSONAME') or '')",
        ])
        .output()
        .unwrap_or_else(|e| panic!("could not run {exe}: {e}"));
    if !out.status.success() {
        panic!("{exe} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8(out.stdout)
        .unwrap_or_else(|_| panic!("{exe} printed paths that are not UTF-8"));
    let mut lines = text.lines().map(str::to_owned);
    let mut next = || lines.next().unwrap_or_default();
    let (prefix, include, libdir, version, soname) = (next(), next(), next(), next(), next());
    if libdir.contains(',') {
        panic!(
            "libpython's directory {libdir} contains a comma, which cannot be passed in -Wl,-rpath"
        );
    }
    println!("cargo:rustc-env=INTERP_PYTHON_PREFIX={prefix}");
    println!("cargo:rustc-env=INTERP_PYTHON_INCLUDE={include}");
    println!("cargo:rustc-env=INTERP_PYTHON_VERSION={version}");
    println!("cargo:rustc-env=INTERP_PYTHON_EXECUTABLE={exe}");
    println!("cargo:rustc-env=INTERP_RPATH_GUARD={GUARD}");

    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let link_arg = if linux {
        format!("-Wl,-rpath,{libdir},--defsym={GUARD}=0")
    } else {
        format!("-Wl,-rpath,{libdir}")
    };
    if linux && cfg.shared() && !in_loader_cache(&libdir, &soname) {
        println!("cargo:rustc-cfg=interp_rpath_guard");
    }
    println!("cargo:prefix={prefix}");
    println!("cargo:include={include}");
    println!("cargo:libdir={libdir}");
    println!("cargo:link_arg={link_arg}");
    println!("cargo:rpath_guard={GUARD}");
    // This crate's own tests link libpython too.
    println!("cargo:rustc-link-arg={link_arg}");
}

/// How to fix a refused interpreter.
const FIX: &str = "Run `scripts/bootstrap.sh` (it finds or builds CPython 3.14) and set \
    PYO3_PYTHON to the path it prints, in the environment or in your project's \
    .cargo/config.toml ([env] PYO3_PYTHON = \"...\"); `make test` and `make demo` do this for you.";

/// Which interpreter pyo3-build-config took and why, for error messages: it
/// reads `PYO3_CONFIG_FILE`, else `PYO3_PYTHON`, else an active virtualenv or
/// conda environment, else `python`/`python3` on `PATH`.
fn origin(exe: &str, version: &str) -> String {
    if let Some(file) = env::var_os("PYO3_CONFIG_FILE") {
        format!(
            "PYO3_CONFIG_FILE={} describes Python {version} ({exe})",
            file.to_string_lossy()
        )
    } else if let Some(py) = env::var_os("PYO3_PYTHON") {
        format!("PYO3_PYTHON={} is Python {version}", py.to_string_lossy())
    } else {
        format!(
            "PYO3_PYTHON is unset, so pyo3-build-config took the first Python it found \
             (virtualenv, conda, then `python`/`python3` on PATH): {exe}, which is Python {version}"
        )
    }
}

/// Whether the dynamic loader finds `libdir/soname` without an rpath: the
/// loader's cache (`ldconfig -p`) lists that file, as it lists a system
/// libpython.
fn in_loader_cache(libdir: &str, soname: &str) -> bool {
    loader_cache::ldconfig_p()
        .is_some_and(|cache| loader_cache::lists(&cache, std::path::Path::new(libdir), soname))
}
