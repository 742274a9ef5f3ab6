//! Checks pyo3-ffi's `PyInterpreterConfig` against the C headers of the
//! CPython interp was built against: size and every field offset.

use std::mem::{offset_of, size_of};
use std::process::Command;

use interp_sys::{PyInterpreterConfig, PYTHON_INCLUDE};

#[test]
fn interpreter_config_matches_the_c_header() {
    let dir = std::env::temp_dir().join(format!("interp-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(
        &src,
        r#"#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#define F(f) printf(#f " %zu\n", offsetof(PyInterpreterConfig, f));
int main(void) {
    printf("size %zu\n", sizeof(PyInterpreterConfig));
    F(use_main_obmalloc) F(allow_fork) F(allow_exec) F(allow_threads)
    F(allow_daemon_threads) F(check_multi_interp_extensions) F(gil)
    printf("OWN_GIL %d\n", PyInterpreterConfig_OWN_GIL);
    printf("SHARED_GIL %d\n", PyInterpreterConfig_SHARED_GIL);
    return 0;
}
"#,
    )
    .unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = match Command::new(&cc)
        .arg("-I")
        .arg(PYTHON_INCLUDE)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipped: no C compiler ({cc}: {e})");
            return;
        }
    };
    assert!(
        status.success(),
        "compiling the layout probe against {PYTHON_INCLUDE} failed"
    );
    let out = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
    let c: std::collections::HashMap<&str, usize> = out
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k, v.parse().unwrap())
        })
        .collect();
    let rust = [
        ("size", size_of::<PyInterpreterConfig>()),
        (
            "use_main_obmalloc",
            offset_of!(PyInterpreterConfig, use_main_obmalloc),
        ),
        ("allow_fork", offset_of!(PyInterpreterConfig, allow_fork)),
        ("allow_exec", offset_of!(PyInterpreterConfig, allow_exec)),
        (
            "allow_threads",
            offset_of!(PyInterpreterConfig, allow_threads),
        ),
        (
            "allow_daemon_threads",
            offset_of!(PyInterpreterConfig, allow_daemon_threads),
        ),
        (
            "check_multi_interp_extensions",
            offset_of!(PyInterpreterConfig, check_multi_interp_extensions),
        ),
        ("gil", offset_of!(PyInterpreterConfig, gil)),
        ("OWN_GIL", interp_sys::PyInterpreterConfig_OWN_GIL as usize),
        (
            "SHARED_GIL",
            interp_sys::PyInterpreterConfig_SHARED_GIL as usize,
        ),
    ];
    for (name, value) in rust {
        assert_eq!(
            c[name], value,
            "PyInterpreterConfig {name}: C says {}, Rust says {value}",
            c[name]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
