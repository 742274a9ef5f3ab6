#!/usr/bin/env bash
# Installs interp for C and C++ users (`make install PREFIX=/abs/path`):
#
#   PREFIX/lib/libinterp.so.X.Y.Z      the shared library; SONAME libinterp.so.0.Y
#   PREFIX/lib/libinterp.so.0.Y        (for 0.x: Cargo's rule, 0.1 and 0.2 may
#   PREFIX/lib/libinterp.so            differ in ABI; libinterp.so.X from 1.0) -> links
#   PREFIX/lib/libinterp.a             the static library
#   PREFIX/include/interp.h, interp.hpp
#   PREFIX/lib/pkgconfig/interp.pc, interp-static.pc
#   PREFIX/lib/cmake/interp/interpConfig.cmake, interpConfigVersion.cmake
#
# The libraries are built with the `dist` profile (release without debug
# info); libinterp.a is also run through `strip --strip-debug`, since rustc
# strips only what it links. libinterp.so keeps an rpath to the CPython it was
# built against (the one scripts/bootstrap.sh prints); the pkg-config and
# CMake files give static links the same. DESTDIR=/staging prefixes every
# installed path (for packaging); the CMake files are relocatable, the
# pkg-config files name PREFIX.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "install: error: $*" >&2; exit 1; }

prefix="${1:?usage: scripts/install.sh PREFIX (an absolute path)}"
case "$prefix" in
  /*) ;;
  *) die "PREFIX must be an absolute path, got '$prefix' (try PREFIX=\$HOME/.local)" ;;
esac
prefix="${prefix%/}"
dest="${DESTDIR:-}$prefix"

PY=$(scripts/bootstrap.sh | tail -n1)
export PYO3_PYTHON="$PY"

id=$(cargo pkgid -p interp-capi)
version="${id##*[#@]}"
major="${version%%.*}"
rest="${version#*.}"
minor="${rest%%.*}"
if [ "$major" = 0 ]; then soversion="0.$minor"; else soversion="$major"; fi
soname="libinterp.so.$soversion"

log=$(cargo rustc -q --profile dist -p interp-capi --lib -- \
        -C "link-arg=-Wl,-soname,$soname" --print native-static-libs 2>&1) ||
  { echo "$log" >&2; die "building libinterp failed"; }
# The libraries a program linking libinterp.a needs (libpython among them).
native=$(printf '%s\n' "$log" | sed -n 's/^note: native-static-libs: //p' | tail -n1)
[ -n "$native" ] || { echo "$log" >&2; die "rustc printed no native-static-libs line"; }

built="$(cargo metadata -q --format-version 1 --no-deps |
         "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/dist"
read -r pylibdir pylibfile < <("$PY" -c \
  'import sysconfig as s; print(s.get_config_var("LIBDIR"), s.get_config_var("LDLIBRARY"))')
url=$(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
# CMake wants library names: drop libpython (linked by path) and libc.
cmake_native=$(for l in $native; do
  case "$l" in -lpython*|-lc) ;; -l*) printf '%s;' "${l#-l}" ;; esac
done)
cmake_native="${cmake_native%;}"

# Escapes a value for the right-hand side of a sed s||| command.
esc() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }
render() {
  sed -e "s|@PREFIX@|$(esc "$prefix")|g" -e "s|@VERSION@|$version|g" \
      -e "s|@VERSION_MAJOR@|$major|g" -e "s|@VERSION_MINOR@|$minor|g" -e "s|@SONAME@|$soname|g" \
      -e "s|@PYTHON_LIBDIR@|$(esc "$pylibdir")|g" -e "s|@PYTHON_LIBFILE@|$(esc "$pylibfile")|g" \
      -e "s|@NATIVE_LIBS@|$(esc "$native")|g" -e "s|@CMAKE_NATIVE_LIBS@|$(esc "$cmake_native")|g" \
      -e "s|@URL@|$(esc "$url")|g" "scripts/dist/$1.in" > "$2"
}

install -d "$dest/lib/pkgconfig" "$dest/lib/cmake/interp" "$dest/include"
install -m 755 "$built/libinterp.so" "$dest/lib/libinterp.so.$version"
ln -sfn "libinterp.so.$version" "$dest/lib/$soname"
ln -sfn "$soname" "$dest/lib/libinterp.so"
install -m 644 "$built/libinterp.a" "$dest/lib/libinterp.a"
if command -v strip >/dev/null 2>&1; then
  strip --strip-debug "$dest/lib/libinterp.a"
else
  echo "install: warning: no 'strip' (binutils); libinterp.a keeps its debug info" >&2
fi
install -m 644 include/interp.h include/interp.hpp "$dest/include/"
render interp.pc "$dest/lib/pkgconfig/interp.pc"
render interp-static.pc "$dest/lib/pkgconfig/interp-static.pc"
render interpConfig.cmake "$dest/lib/cmake/interp/interpConfig.cmake"
render interpConfigVersion.cmake "$dest/lib/cmake/interp/interpConfigVersion.cmake"
echo "install: interp $version into $dest (libinterp.so SONAME $soname)" >&2
