//! A value too big for memory is an error, not an abort: under an
//! address-space limit, results of hundreds of MiB that cannot be copied out
//! of the interpreter fail with a clear error and the process lives on.
//!
//! The limit is set (setrlimit RLIMIT_AS) in a child process — this test
//! binary re-invoked — relative to what that child already maps, so it does
//! not depend on how much the runtime itself reserves.

use std::process::Command;

use interp_core::{Error, Interpreter, SharedBuffer, Value};

const CHILD: &str = "INTERP_MEMORY_LIMIT_CHILD";
const MIB: usize = 1 << 20;
/// Address space the child may add after start-up: room for one 500 MiB
/// object, not for a second copy of it.
const HEADROOM: usize = 750 * MIB;
/// The size of the big results.
const BIG: usize = 500 * MIB;

/// This process's mapped address space (`VmSize`), in bytes.
fn vm_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmSize line");
    kb * 1024
}

fn set_address_space_limit(bytes: usize) {
    let lim = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads a valid rlimit struct.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// Runs in the child: every big result must be an error naming the size,
/// and the interpreter must keep working afterwards. Prints one line per
/// case for the parent to check.
fn child() {
    let i = Interpreter::new().unwrap();
    i.exec(&format!(
        "N = {BIG}\n\
         def big_bytes():\n    return b'x' * N\n\
         def big_str():\n    return 'x' * N\n\
         def big_list():\n    return [None] * (N // 24)\n\
         def big_int():\n    return 1 << (8 * N * 3 // 5)\n"
    ))
    .unwrap();
    let _ = i.eval("1").unwrap(); // warm up before measuring
    let base = vm_size();
    set_address_space_limit(base + HEADROOM);
    println!(
        "mapped {} MiB at start; limit set to {} MiB",
        base / MIB,
        (base + HEADROOM) / MIB
    );
    for f in ["big_bytes", "big_str", "big_list", "big_int"] {
        match i.call("__main__", f, &[], &[]) {
            Ok(v) => println!("{f}: unexpectedly converted ({})", v.type_name()),
            Err(e @ Error::Conversion(_)) => println!("{f}: {e}"),
            Err(e) if e.exception().is_some_and(|x| x.is("MemoryError")) => {
                println!("{f}: MemoryError from Python: {e}")
            }
            Err(e) => println!("{f}: other error: {e}"),
        }
        assert_eq!(i.eval("1 + 1").unwrap(), Value::from(2), "after {f}");
    }
    // The fallible constructors that the C ABI uses for sizes from C.
    let src = SharedBuffer::try_zeroed(BIG * 4 / 5).unwrap();
    // SAFETY: nothing writes to the fresh buffer while the slice lives.
    match Value::try_bytes(unsafe { src.as_slice() }) {
        Ok(_) => println!("try_bytes: unexpectedly copied"),
        Err(e) => println!("try_bytes: error: {e}"),
    }
    drop(src);
    // Value -> Python: CPython's own allocation fails with MemoryError,
    // which must come back as an error (not a crash).
    let src = SharedBuffer::try_zeroed(BIG * 3 / 5).unwrap();
    // SAFETY: nothing writes to the fresh buffer while the slice lives.
    let big = Value::try_bytes(unsafe { src.as_slice() }).unwrap();
    drop(src);
    set_address_space_limit(vm_size() + BIG / 5);
    match i.prepare_main([("big", big)]) {
        Ok(()) => println!("to_python: unexpectedly made"),
        Err(e) => println!("to_python: {e}"),
    }
    assert_eq!(i.eval("1 + 1").unwrap(), Value::from(2), "after to_python");
    println!("child done");
}

#[test]
fn values_too_big_for_memory_are_errors_not_aborts() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "values_too_big_for_memory_are_errors_not_aborts",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("re-running the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let got = format!(
        "child {}:\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    eprintln!("{got}");
    assert!(
        out.status.success(),
        "the child did not exit normally: {got}"
    );
    assert!(stdout.contains("child done"), "{got}");
    let mib = BIG / MIB;
    for (case, size) in [
        ("big_bytes", format!("{mib}.0 MiB")),
        ("big_str", format!("{mib}.0 MiB")),
        ("big_list", "items".to_owned()),
        ("big_int", format!("{}.0 MiB", mib * 3 / 5)),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{case}:")))
            .unwrap_or_else(|| panic!("no line for {case}: {got}"));
        assert!(
            line.contains(": conversion error: cannot copy")
                && line.contains("out of memory")
                && line.contains(&size),
            "{case} should fail with a conversion error naming the size ({size}), got: {line}"
        );
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("to_python:"))
        .unwrap_or("");
    assert!(
        line.contains("MemoryError"),
        "a Value too big for Python should give MemoryError, got: {line:?}\n{got}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("try_bytes:"))
        .unwrap_or("");
    assert!(
        line.contains("out of memory") && line.contains(&format!("{}.0 MiB", mib * 4 / 5)),
        "try_bytes should fail naming the size, got: {line:?}\n{got}"
    );
}
