//! `make dist`, `make install` and `make uninstall`, and the README's C/C++
//! build lines, run against the installed copy: the library layout (SONAME,
//! links, no debug info or LLVM bitcode), the pkg-config and CMake files
//! (including CMake's version check), DESTDIR staging, an install that runs
//! neither cargo nor Python (as under sudo), refusals of bad input (a
//! relative PREFIX, whitespace, a missing or stale build), and every line of
//! the README's build block, extracted from the README so the two cannot
//! drift.
//!
//! cmake, pkg-config and readelf must be installed (scripts/bootstrap.sh
//! installs them when run as root); `INTERP_ALLOW_SKIP=1` turns their
//! absence into a skip with a message instead of a failure.

use interp_tests::{describe, readme_blocks, require_tool, root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn scratch(name: &str) -> PathBuf {
    interp_tests::scratch(env!("CARGO_TARGET_TMPDIR"), "install", name)
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn make(args: &[&str]) -> Command {
    let mut cmd = Command::new("make");
    cmd.args(args).current_dir(root());
    cmd
}

/// `make dist` from the repository root, once for all tests; the stage it
/// fills.
fn dist() -> &'static Path {
    static STAGE: OnceLock<PathBuf> = OnceLock::new();
    STAGE.get_or_init(|| {
        run_ok(&mut make(&["dist"]), "make dist");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        target.join("dist/stage")
    })
}

/// `make install PREFIX=<prefix>` with the README's `$HOME` standing for a
/// scratch home, after `make dist`, once for all tests.
fn installed() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        dist();
        let home = scratch("home");
        let prefix = home.join(".local");
        run_ok(
            &mut make(&["install", &format!("PREFIX={}", prefix.display())]),
            "make install",
        );
        home
    })
}

/// The README section's blocks of `lang`.
fn blocks(heading: &str, lang: &str) -> Vec<String> {
    readme_blocks(heading)
        .into_iter()
        .filter(|b| b.lang == lang)
        .map(|b| b.body)
        .collect()
}

/// Every file and symbolic link under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else {
                found.push(e.path().strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn make_install_lays_out_a_versioned_stripped_library() {
    let lib = installed().join(".local/lib");
    let link = |name: &str| {
        std::fs::read_link(lib.join(name))
            .unwrap_or_else(|e| panic!("{name} is not a symlink: {e}"))
            .to_string_lossy()
            .into_owned()
    };
    let version = env!("CARGO_PKG_VERSION");
    let (major, minor) = {
        let mut v = version.split('.');
        (v.next().unwrap(), v.next().unwrap())
    };
    let soname = if major == "0" {
        format!("libinterp.so.0.{minor}")
    } else {
        format!("libinterp.so.{major}")
    };
    assert_eq!(link("libinterp.so"), soname);
    assert_eq!(link(&soname), format!("libinterp.so.{version}"));
    let real = lib.join(format!("libinterp.so.{version}"));
    for f in [
        real.clone(),
        lib.join("libinterp.a"),
        lib.join("pkgconfig/interp.pc"),
        lib.join("pkgconfig/interp-static.pc"),
        lib.join("cmake/interp/interpConfig.cmake"),
        lib.join("cmake/interp/interpConfigVersion.cmake"),
        installed().join(".local/include/interp.h"),
        installed().join(".local/include/interp.hpp"),
    ] {
        assert!(f.is_file(), "{} was not installed", f.display());
    }
    assert_eq!(
        std::fs::read(installed().join(".local/include/interp.h")).unwrap(),
        std::fs::read(root().join("include/interp.h")).unwrap(),
        "installed interp.h differs from include/interp.h"
    );

    if !require_tool("readelf", "binutils", "the ELF layout of libinterp") {
        return;
    }
    let dynamic = run_ok(Command::new("readelf").arg("-d").arg(&real), "readelf -d");
    assert!(
        dynamic.contains(&format!("Library soname: [{soname}]")),
        "SONAME is not {soname}:\n{dynamic}"
    );
    let pylib = Path::new(interp_sys::PYTHON_PREFIX).join("lib");
    assert!(
        dynamic.contains(&pylib.display().to_string()),
        "libinterp.so has no rpath to {}:\n{dynamic}",
        pylib.display()
    );
    for f in [real.clone(), lib.join("libinterp.a")] {
        let sections = run_ok(Command::new("readelf").arg("-SW").arg(&f), "readelf -S");
        for section in [".debug_info", ".llvmbc", ".llvmcmd"] {
            assert!(
                !sections.contains(section),
                "{} still has {section} sections",
                f.display()
            );
        }
    }
    let so = std::fs::metadata(&real).unwrap().len();
    let a = std::fs::metadata(lib.join("libinterp.a")).unwrap().len();
    eprintln!("installed libinterp.so: {so} bytes, libinterp.a: {a} bytes");
    assert!(
        so < 4 << 20,
        "libinterp.so is {so} bytes: debug info was not stripped?"
    );
    assert!(
        a < 12 << 20,
        "libinterp.a is {a} bytes: debug info or bitcode was not stripped?"
    );
}

#[test]
fn pkg_config_files_describe_the_installed_copy() {
    if !require_tool("pkg-config", "pkg-config", "the pkg-config files") {
        return;
    }
    let home = installed();
    let pc = |args: &[&str]| {
        run_ok(
            Command::new("pkg-config")
                .args(args)
                .env("PKG_CONFIG_PATH", home.join(".local/lib/pkgconfig")),
            &format!("pkg-config {args:?}"),
        )
        .trim()
        .to_owned()
    };
    assert_eq!(pc(&["--modversion", "interp"]), env!("CARGO_PKG_VERSION"));
    let prefix = home.join(".local");
    assert_eq!(
        pc(&["--cflags", "interp"]),
        format!("-I{}/include", prefix.display())
    );
    // `interp` is the shared library, with --static too (-linterp finds
    // libinterp.so, which brings libpython itself): no libpython flags that
    // would suggest a static link.
    for args in [&["--libs", "interp"][..], &["--static", "--libs", "interp"]] {
        assert_eq!(
            pc(args),
            format!("-L{}/lib -linterp", prefix.display()),
            "pkg-config {args:?}"
        );
    }
    let v: Vec<&str> = interp_sys::PYTHON_VERSION.split('.').collect();
    let pylib = format!("-lpython{}.{}", v[0], v[1]);
    let libs = pc(&["--libs", "interp-static"]);
    assert!(
        libs.contains(&format!("{}/lib/libinterp.a", prefix.display()))
            && libs.contains(&pylib)
            && libs.contains("-Wl,-rpath,"),
        "interp-static lacks libinterp.a or libpython ({pylib} and its rpath): {libs}"
    );
    for pc_file in ["interp.pc", "interp-static.pc"] {
        let text = std::fs::read_to_string(prefix.join("lib/pkgconfig").join(pc_file)).unwrap();
        assert!(
            !text.contains("URL:") && !text.contains('@'),
            "{pc_file} has a URL or an unfilled @...@:\n{text}"
        );
    }
}

#[test]
fn destdir_stages_files_that_name_the_final_prefix() {
    dist();
    let stage = scratch("stage");
    run_ok(
        &mut make(&[
            "install",
            "PREFIX=/opt/interp-test",
            &format!("DESTDIR={}", stage.display()),
        ]),
        "make install DESTDIR",
    );
    let pc = std::fs::read_to_string(stage.join("opt/interp-test/lib/pkgconfig/interp.pc"))
        .expect("interp.pc under DESTDIR/PREFIX");
    assert!(
        pc.lines().any(|l| l == "prefix=/opt/interp-test"),
        "interp.pc does not name the final prefix:\n{pc}"
    );
    assert!(!pc.contains(&stage.display().to_string()), "{pc}");
}

/// `make` with `args` must fail, saying `want`.
fn refused(args: &[&str], env: &[(&str, &Path)], want: &str) -> Output {
    let mut cmd = make(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success() && describe(&out).contains(want),
        "make {args:?} was not refused with {want:?}: {}",
        describe(&out)
    );
    out
}

#[test]
fn a_bad_prefix_is_refused_clearly() {
    dist();
    refused(
        &["install", "PREFIX=relative/dir"],
        &[],
        "PREFIX must be an absolute path",
    );
    let spaced = scratch("spaced").join("with space");
    refused(
        &["install", &format!("PREFIX={}", spaced.display())],
        &[],
        "contains whitespace",
    );
    assert!(!spaced.exists(), "{} was created", spaced.display());
}

#[test]
fn make_dist_refuses_a_python_whose_libdir_has_whitespace() {
    // A CPython whose sysconfig says LIBDIR is ".../with space/lib": the
    // real interpreter, given a sysconfig data module that says so.
    let dir = scratch("spaced-python");
    let real = interp_sys::PYTHON_EXECUTABLE;
    let name = run_ok(
        Command::new(real).args([
            "-c",
            "import sysconfig; print(sysconfig._get_sysconfigdata_name())",
        ]),
        "the sysconfig data module's name",
    );
    let libdir = dir.join("with space/lib");
    std::fs::write(
        dir.join("_sysconfigdata_interp_spaced.py"),
        format!(
            "import importlib\n\
             build_time_vars = dict(importlib.import_module({:?}).build_time_vars, LIBDIR={:?})\n",
            name.trim(),
            libdir.display().to_string()
        ),
    )
    .unwrap();
    let python = dir.join("python3");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\nexport PYTHONPATH='{}' _PYTHON_SYSCONFIGDATA_NAME=_sysconfigdata_interp_spaced\nexec '{real}' \"$@\"\n",
            dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let says = run_ok(
        Command::new(&python).args([
            "-c",
            "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))",
        ]),
        "the spaced python",
    );
    assert_eq!(says.trim(), libdir.display().to_string());
    // Its own target directory: were the check missing, this would build.
    let target = dir.join("target");
    refused(
        &["dist"],
        &[("PYO3_PYTHON", &python), ("CARGO_TARGET_DIR", &target)],
        "contains whitespace",
    );
    assert!(!target.exists(), "make dist started building");
}

#[test]
fn install_refuses_a_missing_or_stale_build() {
    let empty = scratch("no-dist");
    let prefix = scratch("no-dist-prefix");
    let out = refused(
        &["install", &format!("PREFIX={}", prefix.display())],
        &[("INTERP_DIST", &empty)],
        "run `make dist` first (as your user, not root)",
    );
    assert!(files_under(&prefix).is_empty(), "{}", describe(&out));

    // A copy of the stage, dated before the sources.
    let old = scratch("old-dist");
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", dist().display()))
            .arg(&old),
        "copying the stage",
    );
    run_ok(
        Command::new("touch")
            .args(["-d", "@0"])
            .arg(old.join(".interp-dist")),
        "backdating the stage",
    );
    let out = refused(
        &["install", &format!("PREFIX={}", prefix.display())],
        &[("INTERP_DIST", &old)],
        "is older than",
    );
    assert!(
        describe(&out).contains("run `make dist` first"),
        "{}",
        describe(&out)
    );
    assert!(files_under(&prefix).is_empty(), "{}", describe(&out));
}

#[test]
fn install_and_uninstall_run_without_cargo_python_or_home_as_under_sudo() {
    dist();
    let prefix = scratch("sudo-like").join("prefix");
    // sudo's environment: a system PATH (no ~/.cargo/bin), no PYO3_PYTHON,
    // another HOME. Only the stage's location is passed on.
    let stage = dist().to_path_buf();
    let sudo_like = |args: &[&str]| {
        let mut cmd = make(args);
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", "/nonexistent")
            .env("INTERP_DIST", &stage);
        cmd
    };
    run_ok(
        &mut sudo_like(&["install", &format!("PREFIX={}", prefix.display())]),
        "make install with sudo's environment",
    );
    let installed = files_under(&prefix);
    let listed = std::fs::read_to_string(prefix.join("share/interp/install-manifest.txt")).unwrap();
    for f in &installed {
        let f = f.display().to_string();
        assert!(
            f == "share/interp/install-manifest.txt" || listed.lines().any(|l| l == f),
            "{f} is installed but not in the manifest:\n{listed}"
        );
    }
    assert!(installed.len() >= 10, "{installed:?}");

    run_ok(
        &mut sudo_like(&["uninstall", &format!("PREFIX={}", prefix.display())]),
        "make uninstall",
    );
    let left = files_under(&prefix);
    assert!(left.is_empty(), "make uninstall left {left:?}");
    refused(
        &["uninstall", &format!("PREFIX={}", prefix.display())],
        &[],
        "interp is not installed under",
    );
}

#[test]
fn a_reinstall_removes_the_files_of_the_previous_install() {
    // A stage with one file more, as an older version had.
    let older = scratch("older-dist");
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", dist().display()))
            .arg(&older),
        "copying the stage",
    );
    std::fs::write(older.join("lib/libinterp.so.0.0.1"), "an older library").unwrap();
    let prefix = scratch("reinstall");
    let install = |stage: &Path| {
        let mut cmd = make(&["install", &format!("PREFIX={}", prefix.display())]);
        cmd.env("INTERP_DIST", stage);
        run_ok(&mut cmd, "make install");
    };
    install(&older);
    assert!(prefix.join("lib/libinterp.so.0.0.1").exists());
    install(dist());
    let files = files_under(&prefix);
    assert!(
        !prefix.join("lib/libinterp.so.0.0.1").exists(),
        "the previous install's file outlived it: {files:?}"
    );
    assert!(
        prefix.join("lib/libinterp.a").exists() && prefix.join("include/interp.h").exists(),
        "{files:?}"
    );
}

#[test]
fn cmake_package_checks_the_requested_version() {
    if !require_tool("cmake", "cmake", "the CMake package") {
        return;
    }
    let prefix = installed().join(".local");
    let (major, minor) = {
        let mut v = env!("CARGO_PKG_VERSION").split('.');
        (
            v.next().unwrap().parse::<u32>().unwrap(),
            v.next().unwrap().parse::<u32>().unwrap(),
        )
    };
    let next = if major == 0 {
        format!("0.{}", minor + 1)
    } else {
        format!("{}", major + 1)
    };
    for (request, ok) in [
        (String::new(), true),
        (format!("{major}.{minor}"), true),
        (next, false),
    ] {
        let dir = scratch(&format!("cmake-version-{request}"));
        std::fs::write(
            dir.join("CMakeLists.txt"),
            format!(
                "cmake_minimum_required(VERSION 3.16)\nproject(v LANGUAGES C)\n\
                 find_package(interp {request} REQUIRED)\n\
                 if(NOT TARGET interp::interp OR NOT TARGET interp::interp_static)\n\
                 message(FATAL_ERROR \"no imported targets\")\nendif()\n"
            ),
        )
        .unwrap();
        let out = Command::new("cmake")
            .arg("-S")
            .arg(&dir)
            .arg("-B")
            .arg(dir.join("build"))
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
            .output()
            .unwrap();
        assert_eq!(
            out.status.success(),
            ok,
            "find_package(interp {request}) against {}: {}",
            env!("CARGO_PKG_VERSION"),
            describe(&out)
        );
    }

    // Without a pointer size (no C/C++ enabled, script mode) the version
    // file has nothing to compare and must not call the package unsuitable.
    let script = scratch("cmake-version-script").join("check.cmake");
    std::fs::write(
        &script,
        format!(
            "set(PACKAGE_FIND_VERSION {major}.{minor})\n\
             set(PACKAGE_FIND_VERSION_MAJOR {major})\n\
             set(PACKAGE_FIND_VERSION_MINOR {minor})\n\
             include(\"{}\")\n\
             message(STATUS \"compatible=${{PACKAGE_VERSION_COMPATIBLE}} unsuitable=${{PACKAGE_VERSION_UNSUITABLE}}\")\n",
            prefix
                .join("lib/cmake/interp/interpConfigVersion.cmake")
                .display()
        ),
    )
    .unwrap();
    let out = Command::new("cmake")
        .arg("-P")
        .arg(&script)
        .output()
        .unwrap();
    let text = describe(&out);
    assert!(
        out.status.success() && text.contains("compatible=TRUE unsuitable=\n"),
        "the version file, with CMAKE_SIZEOF_VOID_P unset: {text}"
    );
}

#[test]
fn the_readme_c_listing_is_examples_c_example_c() {
    let listing = blocks("C and C++", "c");
    let file = std::fs::read_to_string(root().join("examples/c/example.c")).unwrap();
    assert!(
        listing.contains(&file),
        "the README's C listing differs from examples/c/example.c"
    );
}

#[test]
fn every_readme_build_line_works_against_the_installed_copy() {
    let blocks = blocks("Installing and building against it", "sh");
    assert_eq!(blocks.len(), 1, "expected one sh block: {blocks:?}");
    let mut lines = blocks[0].lines();
    assert_eq!(
        (lines.next(), lines.next()),
        (Some("make dist"), Some("make install PREFIX=$HOME/.local")),
        "the block must start with the two lines this test runs"
    );
    let home = installed(); // those lines, with $HOME = a scratch home
    let work = scratch("readme");
    std::os::unix::fs::symlink(root().join("examples"), work.join("examples")).unwrap();
    let cmake = require_tool("cmake", "cmake", "the README's cmake line");
    let mut script = String::from("set -euo pipefail\n");
    let mut programs = 0;
    for line in lines {
        if line.starts_with("cmake") && !cmake {
            continue;
        }
        programs += line.matches("&& ./").count() + line.matches("&& build/").count();
        if line.starts_with('#') || line.starts_with("export ") {
            script.push_str(line);
            script.push('\n');
        } else {
            // `set -e` ignores a failure inside `a && b`: check each line.
            script.push_str(&format!(
                "if ! ( {line} ); then echo 'README build line failed: {}' >&2; exit 1; fi\n",
                line.replace('\'', "")
            ));
        }
    }
    for kind in ["shared", "static", "C++", "CMake"] {
        assert!(
            blocks[0].to_lowercase().contains(&kind.to_lowercase()),
            "the README's build block has no {kind} line"
        );
    }
    let out = run_ok(
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("HOME", home)
            .env_remove("PKG_CONFIG_PATH")
            .env_remove("LD_LIBRARY_PATH")
            .current_dir(&work),
        "the README's build lines",
    );
    let want = "work(2000000) = 2666664666667000000";
    assert_eq!(
        out.matches(want).count(),
        programs,
        "expected {programs} programs each to print {want:?}:\n{out}"
    );
    assert!(programs >= if cmake { 5 } else { 3 }, "{script}");

    // The static route is static: libinterp is inside the program.
    if require_tool("readelf", "binutils", "that example-static is static") {
        let needed = run_ok(
            Command::new("readelf")
                .arg("-d")
                .arg(work.join("example-static")),
            "readelf -d example-static",
        );
        assert!(
            !needed.contains("libinterp"),
            "example-static needs libinterp.so:\n{needed}"
        );
    }
}
