//! Cross-crate integration tests live in `tests/tests/`; this library holds
//! the helpers the ones that drive whole builds share (the repository root,
//! scratch directories, command output, the README's code blocks).

use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lies in the repository")
        .to_path_buf()
}

/// An empty directory `group/name` under `scratch_root` (a test's
/// `CARGO_TARGET_TMPDIR`), emptied first if a previous run left it.
pub fn scratch(scratch_root: &str, group: &str, name: &str) -> PathBuf {
    let d = Path::new(scratch_root).join(group).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("creating {}: {e}", d.display()));
    d
}

/// A command's status, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fenced code block of the README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The info string after the opening fence (`sh`, `toml`, `rust`, `c`).
    pub lang: String,
    /// The lines between the fences, each ending in a newline.
    pub body: String,
}

/// The fenced code blocks of the README section headed `heading` (any
/// level), up to the next heading of the same or a higher level.
pub fn readme_blocks(heading: &str) -> Vec<Block> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let level = |line: &str| {
        let n = line.chars().take_while(|&c| c == '#').count();
        (n > 0 && line[n..].starts_with(' ')).then_some(n)
    };
    let mut lines = readme.lines();
    let own = lines
        .by_ref()
        .find_map(|l| level(l).filter(|_| l.trim_start_matches('#').trim() == heading))
        .unwrap_or_else(|| panic!("README has no section {heading:?}"));
    let mut blocks = Vec::new();
    while let Some(line) = lines.next() {
        if level(line).is_some_and(|n| n <= own) {
            break;
        }
        if let Some(lang) = line.strip_prefix("```") {
            let body: String = lines
                .by_ref()
                .take_while(|l| *l != "```")
                .map(|l| format!("{l}\n"))
                .collect();
            blocks.push(Block {
                lang: lang.to_owned(),
                body,
            });
        }
    }
    blocks
}

/// Whether `tool` runs (`tool --version`), for a test that needs it. A
/// missing tool fails the test, saying which Debian package has it, unless
/// `INTERP_ALLOW_SKIP=1` is set: then this prints why the test skips `what`
/// and returns false.
pub fn require_tool(tool: &str, package: &str, what: &str) -> bool {
    let allow_skip = std::env::var_os("INTERP_ALLOW_SKIP").is_some_and(|v| v == "1");
    tool_or_skip(tool, package, what, allow_skip)
}

fn tool_or_skip(tool: &str, package: &str, what: &str, allow_skip: bool) -> bool {
    if std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    let why = format!(
        "{tool} is not installed (apt-get install {package}; scripts/bootstrap.sh installs it when run as root)"
    );
    if allow_skip {
        eprintln!("skipped {what}: {why} (INTERP_ALLOW_SKIP=1)");
        false
    } else {
        panic!("cannot check {what}: {why}. Set INTERP_ALLOW_SKIP=1 to skip instead.");
    }
}

#[cfg(test)]
mod tests {
    use super::tool_or_skip;

    #[test]
    fn a_missing_tool_fails_unless_skipping_is_allowed() {
        let missing = "interp-no-such-tool";
        assert!(!tool_or_skip(missing, "none", "nothing", true));
        let failed = std::panic::catch_unwind(|| tool_or_skip(missing, "none", "nothing", false));
        let message = failed
            .expect_err("a missing tool did not fail the test")
            .downcast::<String>()
            .map(|m| *m)
            .unwrap_or_default();
        assert!(
            message.contains("interp-no-such-tool is not installed")
                && message.contains("INTERP_ALLOW_SKIP=1"),
            "{message}"
        );
        assert!(tool_or_skip("sh", "dash", "a shell", false));
    }
}
