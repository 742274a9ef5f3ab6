#!/usr/bin/env bash
# Builds everything `make install` installs (`make dist`), as the user who
# owns this checkout, never as root: the build needs that user's cargo,
# PYO3_PYTHON and ~/.cache/interp CPython, and leaves files in target/.
#
# The result is a tree laid out as under PREFIX, in <target>/dist/stage:
#
#   lib/libinterp.so.X.Y.Z      the shared library; SONAME libinterp.so.0.Y
#   lib/libinterp.so.0.Y        (for 0.x: Cargo's rule, 0.1 and 0.2 may
#   lib/libinterp.so            differ in ABI; libinterp.so.X from 1.0) -> links
#   lib/libinterp.a             the static library
#   include/interp.h, interp.hpp
#   lib/pkgconfig/interp.pc, interp-static.pc   (PREFIX filled in by install)
#   lib/cmake/interp/interpConfig.cmake, interpConfigVersion.cmake
#   .interp-dist                what was built, against which CPython
#
# The libraries are built with the `dist` profile (release without debug
# info); libinterp.a also loses its debug info and the LLVM bitcode rustc
# embeds (.llvmbc/.llvmcmd), since rustc strips only what it links.
# libinterp.so keeps an rpath (RUNPATH) to the CPython it was built against
# (the one scripts/bootstrap.sh prints, by default under this user's
# ~/.cache/interp); the pkg-config and CMake files give static links the same.
# scripts/install.sh then only copies (`make install`, with sudo if PREFIX
# needs it).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "dist: error: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ]; then
  die "run \`make dist\` as $SUDO_USER, without sudo: as root it would build with root's cargo and CPython into a root-owned target/. Only \`make install\` needs sudo."
fi

PY=$(scripts/bootstrap.sh | tail -n1)
export PYO3_PYTHON="$PY"

# One fact per line: a LIBDIR with spaces must not be split.
mapfile -t facts < <("$PY" -c \
  'import sysconfig as s; print(s.get_config_var("LIBDIR")); print(s.get_config_var("LDLIBRARY"))')
pylibdir="${facts[0]:-}"
pylibfile="${facts[1]:-}"
[ -n "$pylibdir" ] && [ -n "$pylibfile" ] || die "$PY names no LIBDIR/LDLIBRARY (sysconfig)"
case "$pylibdir/$pylibfile" in
  *[[:space:]]*) die "libpython's directory '$pylibdir' contains whitespace, which pkg-config files cannot express. Use a CPython installed under a path without spaces (PYO3_PYTHON, or INTERP_CACHE for scripts/bootstrap.sh)." ;;
esac

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
# CMake wants library names: drop libpython (linked by path) and libc.
cmake_native=$(for l in $native; do
  case "$l" in -lpython*|-lc) ;; -l*) printf '%s;' "${l#-l}" ;; esac
done)
cmake_native="${cmake_native%;}"

# Escapes a value for the right-hand side of a sed s||| command.
esc() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }
# Fills in everything but @PREFIX@ (scripts/install.sh does that).
render() {
  sed -e "s|@VERSION@|$version|g" \
      -e "s|@VERSION_MAJOR@|$major|g" -e "s|@VERSION_MINOR@|$minor|g" -e "s|@SONAME@|$soname|g" \
      -e "s|@PYTHON_LIBDIR@|$(esc "$pylibdir")|g" -e "s|@PYTHON_LIBFILE@|$(esc "$pylibfile")|g" \
      -e "s|@NATIVE_LIBS@|$(esc "$native")|g" -e "s|@CMAKE_NATIVE_LIBS@|$(esc "$cmake_native")|g" \
      "scripts/dist/$1.in" > "$2"
}

stage="$built/stage"
rm -rf "$stage"
mkdir -p "$stage/lib/pkgconfig" "$stage/lib/cmake/interp" "$stage/include"
cp "$built/libinterp.so" "$stage/lib/libinterp.so.$version"
chmod 755 "$stage/lib/libinterp.so.$version"
ln -s "libinterp.so.$version" "$stage/lib/$soname"
ln -s "$soname" "$stage/lib/libinterp.so"
if command -v objcopy >/dev/null 2>&1; then
  objcopy --strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd \
    "$built/libinterp.a" "$stage/lib/libinterp.a"
else
  echo "dist: warning: no 'objcopy' (binutils); libinterp.a keeps its debug info and LLVM bitcode" >&2
  cp "$built/libinterp.a" "$stage/lib/libinterp.a"
fi
chmod 644 "$stage/lib/libinterp.a"
cp include/interp.h include/interp.hpp "$stage/include/"
render interp.pc "$stage/lib/pkgconfig/interp.pc"
render interp-static.pc "$stage/lib/pkgconfig/interp-static.pc"
render interpConfig.cmake "$stage/lib/cmake/interp/interpConfig.cmake"
render interpConfigVersion.cmake "$stage/lib/cmake/interp/interpConfigVersion.cmake"
# Written last: scripts/install.sh takes the stage as current while no
# source is newer than this file.
cat > "$stage/.interp-dist" <<EOF
version=$version
soname=$soname
python=$PY
python_libdir=$pylibdir
EOF
echo "dist: interp $version staged in $stage (libinterp.so SONAME $soname, libpython from $pylibdir)" >&2
echo "dist: now \`make install PREFIX=...\` (with sudo where PREFIX needs it)" >&2
