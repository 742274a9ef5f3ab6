//! The front door for Rust users: a crate outside this workspace
//! (tests/downstream) set up exactly as the README's "Depending on interp"
//! says (its Cargo.toml, build.rs and .cargo/config.toml blocks, extracted
//! from the README), built and run with no `PYO3_PYTHON` or
//! `LD_LIBRARY_PATH` in the environment; the same crate without the build.rs
//! line fails to link instead of building a binary that cannot start (also
//! one that calls nothing but libpython); the same crate from a `git`
//! source; a cdylib built with the line loads into Python, one built
//! without it fails to link instead of to load; the build names the
//! interpreter it refuses and where it came from; and the crates package
//! without warnings or invented URLs, their dependencies declaring no newer
//! Rust than ours.

use interp_tests::{describe, readme_blocks, root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The symbol named by a link that lacks the build.rs line (interp-sys/build.rs).
const GUARD: &str = "interp_needs_a_build_rs_line__libpython_is_not_on_the_loader_path";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn scratch(name: &str) -> PathBuf {
    interp_tests::scratch(env!("CARGO_TARGET_TMPDIR"), "downstream", name)
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The README's fenced blocks in "Depending on interp", by their first line
/// (`# Cargo.toml`, `// build.rs`, `# .cargo/config.toml`), without it.
fn readme_block(first_line: &str) -> String {
    readme_blocks("Depending on interp")
        .into_iter()
        .find_map(|b| {
            let (first, rest) = b.body.split_once('\n')?;
            (first.trim() == first_line).then(|| rest.to_owned())
        })
        .unwrap_or_else(|| {
            panic!("README's \"Depending on interp\" has no block starting with {first_line:?}")
        })
}

/// What a scratch downstream crate holds besides its manifest.
enum Kind {
    /// tests/downstream's src/main.rs (a pool round trip).
    Pool,
    /// A binary that calls nothing but `interp_sys::Py_IsInitialized`.
    SysOnly,
    /// tests/downstream-cdylib: a library loaded into Python with ctypes.
    Cdylib,
}

/// A copy of tests/downstream under `name`, named `package`, with its path
/// dependencies made absolute, the README's .cargo/config.toml (naming the
/// CPython this workspace was built with) and this workspace's lockfile;
/// its sources per `kind`, and the README's build.rs if `with_build_rs`.
fn downstream_copy(name: &str, package: &str, kind: Kind, with_build_rs: bool) -> PathBuf {
    let src = root().join("tests/downstream");
    let dir = scratch(name);
    let mut manifest = std::fs::read_to_string(src.join("Cargo.toml"))
        .unwrap()
        .replace(
            "path = \"../../",
            &format!("path = \"{}/", root().display()),
        )
        .replace(
            "name = \"interp-downstream\"",
            &format!("name = \"{package}\""),
        );
    std::fs::create_dir_all(dir.join("src")).unwrap();
    match kind {
        Kind::Pool => {
            std::fs::copy(src.join("src/main.rs"), dir.join("src/main.rs")).unwrap();
        }
        Kind::SysOnly => std::fs::write(
            dir.join("src/main.rs"),
            "fn main() {\n    // SAFETY: Py_IsInitialized may be called at any time.\n    \
             println!(\"initialized: {}\", unsafe { interp_sys::Py_IsInitialized() });\n}\n",
        )
        .unwrap(),
        Kind::Cdylib => {
            let lib = root().join("tests/downstream-cdylib");
            std::fs::copy(lib.join("src/lib.rs"), dir.join("src/lib.rs")).unwrap();
            manifest.push_str("\n[lib]\ncrate-type = [\"cdylib\"]\n");
        }
    }
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    if with_build_rs {
        std::fs::copy(src.join("build.rs"), dir.join("build.rs")).unwrap();
    }
    let config = readme_block("# .cargo/config.toml");
    let config: String = config
        .lines()
        .map(|l| {
            if l.starts_with("PYO3_PYTHON = ") {
                format!("PYO3_PYTHON = \"{}\"\n", interp_sys::PYTHON_EXECUTABLE)
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(config.contains("[env]"), "{config}");
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    std::fs::write(dir.join(".cargo/config.toml"), config).unwrap();
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

/// `cargo build` in `dir` with no PYO3_PYTHON in the environment (the
/// README's .cargo/config.toml supplies it), into this workspace's target
/// directory so the interp crates are not compiled again.
fn build(dir: &Path) -> Output {
    cargo()
        .arg("build")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("PYO3_PYTHON")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap()
}

fn run_binary(package: &str) -> Output {
    Command::new(target_dir().join("debug").join(package))
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("PYTHONHOME")
        .output()
        .unwrap()
}

#[test]
fn the_readme_snippets_are_what_tests_downstream_uses() {
    let deps = readme_block("# Cargo.toml");
    let manifest = std::fs::read_to_string(root().join("tests/downstream/Cargo.toml")).unwrap();
    assert!(deps.contains("interp-core") && deps.contains("interp-pool"));
    assert!(
        manifest.contains(&deps.replace("../interp/", "../../")),
        "tests/downstream/Cargo.toml does not hold the README's snippet (with ../interp/ as ../../):\n{deps}"
    );
    assert_eq!(
        std::fs::read_to_string(root().join("tests/downstream/build.rs")).unwrap(),
        readme_block("// build.rs"),
        "tests/downstream/build.rs differs from the README's build.rs"
    );
}

#[test]
fn a_downstream_crate_builds_and_runs_a_pool_round_trip() {
    let dir = downstream_copy("with-build-rs", "interp-downstream", Kind::Pool, true);
    let out = build(&dir);
    assert!(
        out.status.success(),
        "the downstream build failed: {}",
        describe(&out)
    );
    let out = run_binary("interp-downstream");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("square(7) = 49"),
        "the downstream binary (no LD_LIBRARY_PATH) did not do its round trip: {}",
        describe(&out)
    );
}

#[test]
fn a_downstream_crate_builds_from_a_git_source() {
    // The README: "A `git = \"...\"` source in place of each `path` works
    // the same way". A clone of this repository (its HEAD commit) stands
    // for the remote.
    let clone = scratch("git-remote");
    let out = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(root())
        .arg(&clone)
        .output()
        .expect("git");
    assert!(out.status.success(), "git clone: {}", describe(&out));
    let package = "interp-downstream-git";
    let dir = downstream_copy("git-source", package, Kind::Pool, true);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let mut git = manifest.clone();
    for krate in ["interp-core", "interp-pool", "interp-sys"] {
        git = git.replace(
            &format!("path = \"{}/{krate}\"", root().display()),
            &format!("git = \"file://{}\"", clone.display()),
        );
    }
    assert_eq!(
        git.matches("git = ").count(),
        3,
        "expected three path dependencies to replace in:\n{manifest}"
    );
    std::fs::write(dir.join("Cargo.toml"), git).unwrap();
    let out = build(&dir);
    assert!(
        out.status.success(),
        "the downstream build from a git source failed: {}",
        describe(&out)
    );
    let out = run_binary(package);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("square(7) = 49"),
        "the downstream binary built from a git source did not do its round trip: {}",
        describe(&out)
    );
}

/// Builds `dir` (a crate without the build.rs line): the link must fail,
/// naming the guard. Only where interp-sys leaves the guard out (libpython
/// in the loader's cache) may it succeed, and then what was built must work
/// all the same: `works` runs or loads it and says what went wrong.
fn assert_link_fails_naming_the_guard(dir: &Path, works: impl FnOnce() -> Result<(), String>) {
    let out = build(dir);
    if out.status.success() {
        if let Err(e) = works() {
            panic!("built without the build.rs line, something that does not work: {e}");
        }
        eprintln!("libpython is on the loader's path here: no build.rs line needed");
        return;
    }
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(GUARD),
        "the link failed without naming {GUARD}: {}",
        describe(&out)
    );
}

/// A program's exit, as `assert_link_fails_naming_the_guard` wants it.
fn started(out: Output) -> Result<(), String> {
    if out.status.success() {
        Ok(())
    } else {
        Err(describe(&out))
    }
}

#[test]
fn without_the_build_rs_line_the_link_fails_instead_of_the_start() {
    let package = "interp-downstream-no-build-rs";
    let dir = downstream_copy("without-build-rs", package, Kind::Pool, false);
    assert_link_fails_naming_the_guard(&dir, || started(run_binary(package)));
}

#[test]
fn a_binary_that_calls_only_libpython_needs_the_line_too() {
    // No interp-sys function runs before Py_IsInitialized: the guard must
    // not hang on one of them.
    let package = "interp-downstream-sys-only";
    let dir = downstream_copy("sys-only", package, Kind::SysOnly, false);
    assert_link_fails_naming_the_guard(&dir, || started(run_binary(package)));
}

/// The shared library Cargo built for the cdylib package `package`.
fn cdylib_path(package: &str) -> PathBuf {
    target_dir()
        .join("debug")
        .join(format!("lib{}.so", package.replace('-', "_")))
}

/// Loads `lib` into the CPython interp was built with (ctypes, as a Python
/// process loads an extension module) and calls `interp_downstream_answer`.
fn load_into_python(lib: &Path) -> Output {
    Command::new(interp_sys::PYTHON_EXECUTABLE)
        .args([
            "-c",
            "import ctypes, sys\n\
             lib = ctypes.CDLL(sys.argv[1])\n\
             lib.interp_downstream_answer.restype = ctypes.c_long\n\
             print('answer', lib.interp_downstream_answer())",
        ])
        .arg(lib)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("PYTHONHOME")
        .output()
        .unwrap()
}

#[test]
fn a_cdylib_with_the_build_rs_line_loads_into_python() {
    let package = "interp-downstream-cdylib";
    let dir = downstream_copy("cdylib", package, Kind::Cdylib, true);
    let out = build(&dir);
    assert!(
        out.status.success(),
        "the cdylib build failed: {}",
        describe(&out)
    );
    let out = load_into_python(&cdylib_path(package));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("answer 42"),
        "the cdylib did not load into {} and evaluate 6 * 7: {}",
        interp_sys::PYTHON_EXECUTABLE,
        describe(&out)
    );
}

#[test]
fn without_the_build_rs_line_a_cdylib_fails_to_link_instead_of_to_load() {
    let package = "interp-downstream-cdylib-no-build-rs";
    let dir = downstream_copy("cdylib-without-build-rs", package, Kind::Cdylib, false);
    assert_link_fails_naming_the_guard(&dir, || {
        let load = load_into_python(&cdylib_path(package));
        if load.status.success() && String::from_utf8_lossy(&load.stdout).contains("answer 42") {
            Ok(())
        } else {
            Err(describe(&load))
        }
    });
}

/// A CPython older than 3.12, to show what the build says about it.
fn old_python() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let mut candidates: Vec<PathBuf> = [
        "/usr/bin/python3",
        "/usr/bin/python3.11",
        "/usr/bin/python3.10",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Ok(dir) = std::fs::read_dir(home.join(".pyenv/versions")) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("3.") {
                candidates.push(e.path().join("bin/python3"));
            }
        }
    }
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args([
                "-c",
                "import sys; sys.exit(not ((3, 8) <= sys.version_info < (3, 12)))",
            ])
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn version_of(python: &Path) -> String {
    let out = Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_build_names_the_python_it_refuses_and_where_it_came_from() {
    let Some(old) = old_python() else {
        eprintln!("skipped: no CPython 3.8-3.11 on this machine to refuse");
        return;
    };
    let version = version_of(&old);
    // `python` and `python3` on PATH are that interpreter; pyo3-build-config
    // looks there when PYO3_PYTHON is unset.
    let bin = scratch("old-python-bin");
    for name in ["python", "python3"] {
        std::os::unix::fs::symlink(&old, bin.join(name)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("downstream-old-python");
    let attempt = |pyo3_python: Option<&Path>| {
        let mut cmd = cargo();
        cmd.args(["build", "-p", "interp-sys", "--target-dir"])
            .arg(&target)
            .current_dir(root())
            .env("PATH", &path)
            .env_remove("PYO3_PYTHON")
            .env_remove("PYO3_CONFIG_FILE")
            .env_remove("VIRTUAL_ENV")
            .env_remove("CONDA_PREFIX");
        if let Some(p) = pyo3_python {
            cmd.env("PYO3_PYTHON", p);
        }
        let out = cmd.output().unwrap();
        assert!(
            !out.status.success(),
            "CPython {version} was accepted: {}",
            describe(&out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    let unset = attempt(None);
    for want in [
        "interp needs CPython 3.12 or newer".to_owned(),
        "PYO3_PYTHON is unset".to_owned(),
        format!("which is Python {version}"),
        "scripts/bootstrap.sh".to_owned(),
    ] {
        assert!(unset.contains(&want), "missing {want:?} in:\n{unset}");
    }
    assert!(
        !unset.contains("PYO3_PYTHON points at") && !unset.contains("PYO3_PYTHON="),
        "claims PYO3_PYTHON names the interpreter although it is unset:\n{unset}"
    );

    let set = attempt(Some(&old));
    let want = format!("PYO3_PYTHON={} is Python {version}", old.display());
    assert!(set.contains(&want), "missing {want:?} in:\n{set}");
}

#[test]
fn the_crates_package_without_warnings() {
    let names = ["interp-sys", "interp-core", "interp-pool", "interp-capi"];
    let mut cmd = cargo();
    cmd.args([
        "package",
        "--offline",
        "--no-verify",
        "--allow-dirty",
        "--target-dir",
    ])
    .arg(scratch("package"))
    .current_dir(root());
    for n in names {
        cmd.args(["-p", n]);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains("warning"),
        "cargo package: {}",
        describe(&out)
    );
    // No invented URLs: documentation on docs.rs, no placeholder repository.
    let mut texts = vec![(
        "Cargo.toml".to_owned(),
        std::fs::read_to_string(root().join("Cargo.toml")).unwrap(),
    )];
    for n in names {
        let manifest = std::fs::read_to_string(root().join(n).join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("documentation = \"https://docs.rs/{n}\"")),
            "{n}/Cargo.toml has no documentation = \"https://docs.rs/{n}\":\n{manifest}"
        );
        texts.push((format!("{n}/Cargo.toml"), manifest));
    }
    for f in std::fs::read_dir(root().join("scripts/dist"))
        .unwrap()
        .flatten()
    {
        texts.push((
            f.path().display().to_string(),
            std::fs::read_to_string(f.path()).unwrap(),
        ));
    }
    for (file, text) in texts {
        assert!(
            !text.contains(".invalid"),
            "{file} names a placeholder URL:\n{text}"
        );
    }
    for n in names {
        let out = cargo()
            .args(["package", "--offline", "--list", "--allow-dirty", "-p", n])
            .current_dir(root())
            .output()
            .unwrap();
        let files = String::from_utf8_lossy(&out.stdout);
        for f in ["LICENSE-MIT", "LICENSE-APACHE", "README.md", "Cargo.toml"] {
            assert!(
                files.lines().any(|l| l == f),
                "{n}'s package lacks {f}: {}",
                describe(&out)
            );
        }
    }
}

/// The target triple of this machine (`host:` in `rustc -vV`).
fn host_triple() -> String {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap_or_else(|| panic!("no host: line in rustc -vV: {}", describe(&out)))
        .trim()
        .to_owned()
}

#[test]
fn no_dependency_needs_a_newer_rust_than_the_declared_one() {
    // clippy's incompatible_msrv lint (`make test` runs clippy -D warnings)
    // checks our own use of std against rust-version; this checks that every
    // dependency declares a rust-version no newer than ours.
    // Only the packages built for this machine: the sources of the others
    // (windows-sys, r-efi, ...) need not be in the local registry, and
    // `--offline` would fail on them.
    let out = cargo()
        .args(["metadata", "--offline", "--format-version", "1"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata: {}", describe(&out));
    let script = "import json, sys\n\
                  m = json.load(sys.stdin)\n\
                  ours = {p['rust_version'] for p in m['packages'] if p['source'] is None}\n\
                  assert len(ours) == 1, ours\n\
                  ours = tuple(map(int, ours.pop().split('.')))\n\
                  newer = [f\"{p['name']} {p['version']} needs {p['rust_version']}\" for p in m['packages']\n\
                           if p['rust_version'] and tuple(map(int, p['rust_version'].split('.')))[:len(ours)] > ours]\n\
                  print('\\n'.join(newer))\n";
    let mut child = Command::new(interp_sys::PYTHON_EXECUTABLE)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let res = child.wait_with_output().unwrap();
    assert!(res.status.success(), "{}", describe(&res));
    let newer = String::from_utf8_lossy(&res.stdout);
    assert!(
        newer.trim().is_empty(),
        "dependencies newer than our rust-version:\n{newer}"
    );
}
