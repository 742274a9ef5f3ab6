//! `make install` and the README's C/C++ build lines, run against the
//! installed copy: the library layout (SONAME, links, no debug info), the
//! pkg-config and CMake files (including CMake's version check), DESTDIR
//! staging, and every line of the README's build block, extracted from the
//! README so the two cannot drift.

use interp_tests::{describe, readme_blocks, root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn scratch(name: &str) -> PathBuf {
    interp_tests::scratch(env!("CARGO_TARGET_TMPDIR"), "install", name)
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// `make install PREFIX=<prefix>` from the repository root (with the README's
/// `$HOME` standing for a scratch home), once for all tests.
fn installed() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let home = scratch("home");
        let prefix = home.join(".local");
        run_ok(
            Command::new("make")
                .arg("install")
                .arg(format!("PREFIX={}", prefix.display()))
                .current_dir(root()),
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

    if !have("readelf") {
        eprintln!("skipped the ELF checks: readelf (binutils) is not installed");
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
        let sections = run_ok(Command::new("readelf").arg("-S").arg(&f), "readelf -S");
        assert!(
            !sections.contains(".debug_info"),
            "{} still has debug info",
            f.display()
        );
    }
    let size = std::fs::metadata(&real).unwrap().len();
    eprintln!("installed libinterp.so: {size} bytes");
    assert!(
        size < 4 << 20,
        "libinterp.so is {size} bytes: debug info was not stripped?"
    );
}

#[test]
fn pkg_config_files_describe_the_installed_copy() {
    if !have("pkg-config") {
        eprintln!("skipped: pkg-config is not installed (apt-get install pkg-config)");
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
    assert_eq!(
        pc(&["--libs", "interp"]),
        format!("-L{}/lib -linterp", prefix.display())
    );
    let v: Vec<&str> = interp_sys::PYTHON_VERSION.split('.').collect();
    let pylib = format!("-lpython{}.{}", v[0], v[1]);
    for args in [
        &["--static", "--libs", "interp"][..],
        &["--libs", "interp-static"][..],
    ] {
        let libs = pc(args);
        assert!(
            libs.contains(&pylib) && libs.contains("-Wl,-rpath,"),
            "pkg-config {args:?} lacks libpython ({pylib} and its rpath): {libs}"
        );
    }
}

#[test]
fn destdir_stages_files_that_name_the_final_prefix() {
    let stage = scratch("stage");
    run_ok(
        Command::new("make")
            .args(["install", "PREFIX=/opt/interp-test"])
            .arg(format!("DESTDIR={}", stage.display()))
            .current_dir(root()),
        "make install DESTDIR",
    );
    let pc = std::fs::read_to_string(stage.join("opt/interp-test/lib/pkgconfig/interp.pc"))
        .expect("interp.pc under DESTDIR/PREFIX");
    assert!(
        pc.lines().any(|l| l == "prefix=/opt/interp-test"),
        "interp.pc does not name the final prefix:\n{pc}"
    );
    assert!(!pc.contains(&stage.display().to_string()), "{pc}");
    let out = Command::new("make")
        .args(["install", "PREFIX=relative/dir"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        !out.status.success() && describe(&out).contains("PREFIX must be an absolute path"),
        "a relative PREFIX was not refused clearly: {}",
        describe(&out)
    );
}

#[test]
fn cmake_package_checks_the_requested_version() {
    if !have("cmake") {
        eprintln!("skipped: cmake is not installed (apt-get install cmake)");
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
        lines.next(),
        Some("make install PREFIX=$HOME/.local"),
        "the block must start with the install line this test runs"
    );
    let home = installed(); // that line, with $HOME = a scratch home
    let work = scratch("readme");
    std::os::unix::fs::symlink(root().join("examples"), work.join("examples")).unwrap();
    let cmake = have("cmake");
    let mut script = String::from("set -euo pipefail\n");
    let mut programs = 0;
    for line in lines {
        if line.starts_with("cmake") && !cmake {
            eprintln!("skipped (cmake is not installed; apt-get install cmake): {line}");
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
}
