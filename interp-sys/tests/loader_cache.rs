//! The build script's "is libpython in the loader's cache" check (which
//! decides whether binaries need the rpath and its link guard) recognizes
//! the library under another path to the same file, as on merged-/usr
//! systems where ldconfig lists /lib/... and Python names /usr/lib/....

#[path = "../build/loader_cache.rs"]
mod loader_cache;

use loader_cache::{ldconfig_p, lists};
use std::path::{Path, PathBuf};

/// `real/libfoo.so.1`, `other/libfoo.so.1` (a different file with the same
/// name) and `alias` -> `real`, in a fresh directory.
fn layout(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("loader-cache-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["real", "other"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::write(dir.join(sub).join("libfoo.so.1"), sub).unwrap();
    }
    std::os::unix::fs::symlink(dir.join("real"), dir.join("alias")).unwrap();
    dir
}

fn cache(entries: &[(&str, PathBuf)]) -> String {
    let mut text = format!("{} libs found in cache `/etc/ld.so.cache'\n", entries.len());
    for (name, path) in entries {
        text.push_str(&format!("\t{name} (libc6,x86-64) => {}\n", path.display()));
    }
    text
}

#[test]
fn a_library_listed_under_a_symlinked_directory_is_in_the_cache() {
    let dir = layout("symlinked");
    let listed = cache(&[("libfoo.so.1", dir.join("alias/libfoo.so.1"))]);
    assert!(
        lists(&listed, &dir.join("real"), "libfoo.so.1"),
        "real/ not recognized as the listed alias/:\n{listed}"
    );
    let listed = cache(&[("libfoo.so.1", dir.join("real/libfoo.so.1"))]);
    assert!(
        lists(&listed, &dir.join("alias"), "libfoo.so.1"),
        "alias/ not recognized as the listed real/:\n{listed}"
    );
}

#[test]
fn another_file_of_the_same_name_or_another_name_is_not() {
    let dir = layout("other");
    let listed = cache(&[
        ("libfoo.so.1", dir.join("other/libfoo.so.1")),
        ("libbar.so.1", dir.join("real/libfoo.so.1")),
    ]);
    assert!(
        !lists(&listed, &dir.join("real"), "libfoo.so.1"),
        "{listed}"
    );
    assert!(!lists(&listed, &dir.join("real"), ""), "{listed}");
    assert!(
        !lists(&listed, &dir.join("missing"), "libfoo.so.1"),
        "{listed}"
    );
}

#[test]
fn this_machines_cache_is_read_through_merged_usr_paths() {
    // Where /lib is a link to usr/lib (merged /usr) and the cache lists libc
    // under /lib, /usr/lib must count as the same directory.
    let Some(listed) = ldconfig_p() else {
        eprintln!("skipped: no ldconfig on this machine");
        return;
    };
    let libc = listed.lines().find_map(|l| {
        let (name, path) = l.split_once(" => ")?;
        (name.split_whitespace().next()? == "libc.so.6" && path.starts_with("/lib/"))
            .then(|| PathBuf::from(path.trim()))
    });
    let merged = std::fs::symlink_metadata("/lib").is_ok_and(|m| m.file_type().is_symlink());
    let (Some(libc), true) = (libc, merged) else {
        eprintln!(
            "skipped: /lib is not a symbolic link, or the cache lists no libc.so.6 under /lib"
        );
        return;
    };
    let usr = Path::new("/usr").join(libc.parent().unwrap().strip_prefix("/").unwrap());
    assert!(
        lists(&listed, &usr, "libc.so.6"),
        "{} not recognized as the listed {}",
        usr.display(),
        libc.display()
    );
}
