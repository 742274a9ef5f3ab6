#!/usr/bin/env bash
# Installs what `make dist` built, for C and C++ users:
#
#   make install PREFIX=/abs/path [DESTDIR=/staging]
#   make uninstall PREFIX=/abs/path [DESTDIR=/staging]
#
# scripts/install.sh [--uninstall] PREFIX
#
# It builds nothing and runs neither cargo nor Python, so `sudo make install`
# works: it copies <target>/dist/stage (see scripts/dist.sh; INTERP_DIST
# names another stage, CARGO_TARGET_DIR another target directory) under
# DESTDIR/PREFIX, fills PREFIX into the pkg-config files, and lists what it
# installed in PREFIX/share/interp/install-manifest.txt, which
# `make uninstall`, and the next install before it copies, remove again. It
# refuses a stage that is missing or older than the sources. DESTDIR
# prefixes every installed path (for packaging); the CMake files are
# relocatable, the pkg-config files name PREFIX.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "install: error: $*" >&2; exit 1; }

uninstall=
if [ "${1:-}" = --uninstall ]; then uninstall=1; shift; fi
prefix="${1:?usage: scripts/install.sh [--uninstall] PREFIX (an absolute path)}"
case "$prefix" in
  /*) ;;
  *) die "PREFIX must be an absolute path, got '$prefix' (try PREFIX=\$HOME/.local)" ;;
esac
case "$prefix" in
  *[[:space:]]*) die "PREFIX '$prefix' contains whitespace, which pkg-config files cannot express; choose a PREFIX without spaces" ;;
esac
prefix="${prefix%/}"
dest="${DESTDIR:-}$prefix"
manifest_rel="share/interp/install-manifest.txt"
manifest="$dest/$manifest_rel"

# Removes what the manifest lists (a previous install), and the manifest.
remove_listed() {
  while IFS= read -r rel; do
    case "$rel" in ''|/*|*..*) die "unexpected line in $manifest: '$rel'" ;; esac
    rm -f "$dest/$rel"
  done < "$manifest"
  rm -f "$manifest"
}

if [ -n "$uninstall" ]; then
  [ -f "$manifest" ] || die "$manifest does not exist: interp is not installed under ${DESTDIR:+DESTDIR=$DESTDIR }PREFIX=$prefix (or was installed before install manifests)"
  remove_listed
  rmdir "$dest/lib/cmake/interp" "$dest/share/interp" 2>/dev/null || true
  echo "install: removed interp from $dest" >&2
  exit 0
fi

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
stage="${INTERP_DIST:-$target/dist/stage}"
stamp="$stage/.interp-dist"
first="run \`make dist\` first (as your user, not root)"
[ -f "$stamp" ] || die "no build to install in $stage: $first. (With CARGO_TARGET_DIR or INTERP_DIST set for make dist, set it here too; sudo drops them: sudo INTERP_DIST=... make install.)"
# Stale: a source the libraries, headers or templates come from changed since.
newer=$(cd "$root" && find Cargo.toml Cargo.lock include scripts/dist \
          interp-sys interp-core interp-pool interp-capi \
          \( -path '*/tests' -o -path '*/examples' -o -path '*/benches' \) -prune -o \
          -type f -newer "$stamp" -print 2>/dev/null | head -n1)
[ -z "$newer" ] || die "the build in $stage is older than $newer: $first again"

value() { sed -n "s/^$1=//p" "$stamp"; }
version=$(value version)
soname=$(value soname)
pylibdir=$(value python_libdir)
[ -n "$version" ] && [ -n "$soname" ] && [ -n "$pylibdir" ] || die "$stamp is incomplete: $first again"
[ -d "$pylibdir" ] || die "libinterp was built against the CPython in $pylibdir, which no longer exists: $first again"

# Other users can load libinterp.so only if they can reach libpython.
reachable() {
  local p="$1"
  while [ "$p" != / ] && [ -n "$p" ]; do
    [ -n "$(find "$p" -maxdepth 0 -perm -o+x 2>/dev/null)" ] || return 1
    p=$(dirname "$p")
  done
}
if [ "$(id -u)" = 0 ] && ! reachable "$pylibdir"; then
  echo "install: warning: libinterp.so finds libpython in $pylibdir, which other users cannot reach; their programs linked to libinterp will not start. Build (\`make dist\`) against a CPython outside your home directory for a system-wide install (see the README)." >&2
fi

# Escapes a value for the right-hand side of a sed s||| command.
esc() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

# An earlier install (perhaps of another version) goes first, so that none
# of its files outlive the manifest that lists them.
if [ -f "$manifest" ]; then remove_listed; fi
install -d "$dest/share/interp"
installed=()
while IFS= read -r -d '' path; do
  rel="${path#"$stage"/}"
  to="$dest/$rel"
  if [ -L "$path" ]; then
    install -d "$(dirname "$to")"
    ln -sfn "$(readlink "$path")" "$to"
  elif [ -d "$path" ]; then
    install -d "$to"
    continue
  elif [[ "$rel" == *.pc ]]; then
    install -d "$(dirname "$to")"
    sed -e "s|@PREFIX@|$(esc "$prefix")|g" "$path" > "$to"
    chmod 644 "$to"
  elif [[ "$rel" == lib/libinterp.so.* ]]; then
    install -D -m 755 "$path" "$to"
  else
    install -D -m 644 "$path" "$to"
  fi
  installed+=("$rel")
done < <(find "$stage" -mindepth 1 ! -name .interp-dist -print0 | sort -z)
printf '%s\n' "${installed[@]}" > "$manifest"
echo "install: interp $version into $dest (libinterp.so SONAME $soname)" >&2
if [ -z "${DESTDIR:-}" ] && [ "$(id -u)" = 0 ]; then
  echo "install: if $prefix/lib is in the loader's search path (/etc/ld.so.conf), run ldconfig" >&2
fi
