//! The C ABI from C and C++: headers compile cleanly (C11, C++17, -Werror
//! -pedantic, standalone, twice), and every program in tests/c, tests/cpp and
//! examples/c is built with the system compiler against the shared and the
//! static library, run, and (where valgrind exists) checked for leaks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The directory holding libinterp.{so,a}, building them if needed.
fn lib_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let dir = target.join("debug");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-q", "-p", "interp-capi"])
        .current_dir(root())
        .status()
        .expect("cargo");
    assert!(status.success(), "building interp-capi failed");
    assert!(
        dir.join("libinterp.so").exists() && dir.join("libinterp.a").exists(),
        "no libinterp in {}",
        dir.display()
    );
    dir
}

fn python_lib() -> (PathBuf, String) {
    let v: Vec<&str> = interp_sys::PYTHON_VERSION.split('.').collect();
    (
        Path::new(interp_sys::PYTHON_PREFIX).join("lib"),
        format!("python{}.{}", v[0], v[1]),
    )
}

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_api");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn compiler(cpp: bool) -> String {
    let var = if cpp { "CXX" } else { "CC" };
    std::env::var(var).unwrap_or_else(|_| if cpp { "c++" } else { "cc" }.into())
}

fn flags(cpp: bool) -> Vec<String> {
    let std = if cpp { "-std=c++17" } else { "-std=c11" };
    [std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `src` against the shared (`static_link` false) or static library,
/// into an executable named after `tag` (tests run in parallel: each gets
/// its own files).
fn build(src: &Path, static_link: bool, libs: &Path, tag: &str) -> PathBuf {
    let cpp = src.extension().is_some_and(|e| e == "cpp");
    let kind = if static_link { "static" } else { "shared" };
    let exe = out_dir().join(format!(
        "{}-{kind}-{tag}",
        src.file_stem().unwrap().to_string_lossy()
    ));
    let (pylib, pyname) = python_lib();
    let mut cmd = Command::new(compiler(cpp));
    cmd.args(flags(cpp))
        .arg("-I")
        .arg(root().join("include"))
        .arg(src)
        .arg("-o")
        .arg(&exe);
    if static_link {
        cmd.arg(libs.join("libinterp.a"))
            .arg(format!("-L{}", pylib.display()))
            .arg(format!("-l{pyname}"))
            .arg(format!("-Wl,-rpath,{}", pylib.display()))
            .args(["-lpthread", "-ldl", "-lm", "-lutil", "-lgcc_s"]);
    } else {
        cmd.arg(format!("-L{}", libs.display()))
            .arg("-linterp")
            .arg(format!("-Wl,-rpath,{}", libs.display()));
    }
    if cpp {
        cmd.arg("-pthread");
    }
    run_ok(&mut cmd, &format!("compiling {} ({kind})", src.display()));
    exe
}

/// Runs a test program with a deadline; it must exit 0 and print "ok".
fn run(exe: &Path, deadline: Duration) -> (String, String) {
    let mut cmd = Command::new(exe);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("{} did not finish within {deadline:?}", exe.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        exe.display(),
        out.status
    );
    (stdout, stderr)
}

fn sources(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn headers_compile_cleanly_standalone_and_twice() {
    let dir = out_dir();
    for (cpp, header) in [
        (false, "interp.h"),
        (true, "interp.h"),
        (true, "interp.hpp"),
    ] {
        let src = dir.join(if cpp {
            format!("standalone-{header}.cpp")
        } else {
            format!("standalone-{header}.c")
        });
        std::fs::write(
            &src,
            format!(
                "#include \"{header}\"\n#include \"{header}\"\nint main(void) {{ return 0; }}\n"
            ),
        )
        .unwrap();
        let mut cmd = Command::new(compiler(cpp));
        cmd.args(flags(cpp))
            .arg("-I")
            .arg(root().join("include"))
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(src.with_extension("o"));
        run_ok(
            &mut cmd,
            &format!(
                "compiling {header} as {}",
                if cpp { "C++17" } else { "C11" }
            ),
        );
    }
}

#[test]
fn c_and_cpp_programs_run_against_shared_and_static_libraries() {
    let libs = lib_dir();
    let mut programs = sources("tests/c", "c");
    programs.extend(sources("tests/cpp", "cpp"));
    assert!(
        programs.len() >= 3,
        "expected the C/C++ test programs, found {programs:?}"
    );
    for src in &programs {
        for static_link in [false, true] {
            let exe = build(src, static_link, &libs, "run");
            let (stdout, _) = run(&exe, Duration::from_secs(120));
            assert!(
                stdout.lines().any(|l| l == "ok"),
                "{} printed no ok:\n{stdout}",
                exe.display()
            );
        }
    }
}

#[test]
fn the_readme_c_example_builds_and_runs_in_parallel() {
    let libs = lib_dir();
    let src = root().join("examples/c/example.c");
    assert!(
        std::fs::read_to_string(&src).unwrap().lines().count() <= 40,
        "the README promises at most 40 lines"
    );
    let exe = build(&src, false, &libs, "example");
    let (stdout, _) = run(&exe, Duration::from_secs(120));
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(
        stdout.contains("work(2000000) = 2666664666667000000"),
        "{stdout}"
    );
}

#[test]
fn c_tests_have_no_definitely_lost_blocks_under_valgrind() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("skipped: valgrind is not installed");
        return;
    }
    let libs = lib_dir();
    for src in sources("tests/c", "c") {
        let exe = build(&src, false, &libs, "valgrind");
        let log = out_dir().join(format!(
            "valgrind-{}.log",
            src.file_stem().unwrap().to_string_lossy()
        ));
        let out = Command::new("valgrind")
            .env("PYTHONMALLOC", "malloc")
            .env("INTERP_TEST_SMALL", "1")
            .arg("--leak-check=full")
            .arg(format!("--log-file={}", log.display()))
            .arg(&exe)
            .output()
            .expect("valgrind");
        let report = std::fs::read_to_string(&log).unwrap_or_default();
        let summary = report
            .lines()
            .find(|l| l.contains("definitely lost:"))
            .map(|l| l.to_owned())
            .unwrap_or_else(|| "no leak summary (no leaks are possible)".into());
        eprintln!("valgrind {}: {summary}", src.display());
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l == "ok"),
            "{} failed under valgrind:\n{}\n{report}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !report
                .lines()
                .any(|l| l.contains("definitely lost:") && !l.contains("definitely lost: 0 bytes")),
            "definitely lost blocks in {}:\n{report}",
            src.display()
        );
    }
}
