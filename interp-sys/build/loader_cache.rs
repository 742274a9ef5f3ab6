//! Whether the dynamic loader finds a library without an rpath, because
//! `ldconfig -p` lists it. Shared by build.rs and tests/loader_cache.rs.

use std::path::Path;
use std::process::Command;

/// The output of `ldconfig -p` (the loader's cache), if some ldconfig runs.
pub fn ldconfig_p() -> Option<String> {
    ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .iter()
        .find_map(|ld| Command::new(ld).arg("-p").output().ok())
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `cache` (the output of `ldconfig -p`) lists `libdir/soname` for
/// `soname`. Both sides are compared after resolving symbolic links, so the
/// same file under another path counts: on merged-/usr systems ldconfig
/// lists `/lib/x86_64-linux-gnu/...` while Python's `LIBDIR` is
/// `/usr/lib/x86_64-linux-gnu`.
pub fn lists(cache: &str, libdir: &Path, soname: &str) -> bool {
    if soname.is_empty() {
        return false;
    }
    let Ok(want) = libdir.join(soname).canonicalize() else {
        return false;
    };
    // "\tlibpython3.11.so.1.0 (libc6,x86-64) => /lib/x86_64-linux-gnu/libpython3.11.so.1.0"
    cache
        .lines()
        .filter_map(|line| {
            let (name, path) = line.split_once(" => ")?;
            (name.split_whitespace().next()? == soname).then(|| Path::new(path.trim()))
        })
        .any(|path| path.canonicalize().is_ok_and(|p| p == want))
}
