#!/usr/bin/env bash
# Finds or builds the CPython that interp links against, and prints its path
# as the last line of stdout. Idempotent: a finished build is reused.
#
#   scripts/bootstrap.sh [--python PATH]
#   scripts/bootstrap.sh --free-threaded
#
# --free-threaded instead finds or builds a free-threaded CPython 3.14.7t
# (--disable-gil) from the same tarball into $INTERP_CACHE/cpython-3.14.7t and
# prints its python3.14t. interp cannot link against it; `make bench` runs the
# standard library's ThreadPoolExecutor on it as a peer.
#
# Order:
#   1. --python PATH or $PYO3_PYTHON: used as is when it is CPython 3.12+ with a
#      shared libpython (Py_ENABLE_SHARED); refused with a reason otherwise.
#   2. a cached build in $INTERP_CACHE (default ~/.cache/interp)/cpython-3.14.7.
#   3. a build from source (--enable-shared, rpath set, ~6 min on 2 cores).
#      Source tarball, first that works, checksum verified:
#        a. $INTERP_CPYTHON_TARBALL (a path to python3.14_3.14.7.orig.tar.xz);
#        b. Debian's source package python3.14 (apt-get source, unstable suite);
#        c. the same .orig.tar.xz from the pool of the Debian mirror apt uses.
set -euo pipefail

VERSION=3.14.7
SHA256=3b48dac8fb59f62eaa67ac83c1eb12bda1b7a08406dd286e252c11a66be27f81
TARBALL_NAME="python3.14_${VERSION}.orig.tar.xz"
CACHE="${INTERP_CACHE:-$HOME/.cache/interp}"
PREFIX="$CACHE/cpython-$VERSION"

say() { echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: error: $*" >&2; exit 1; }

explicit="${PYO3_PYTHON:-}"
free_threaded=""
named_python=""
while [ $# -gt 0 ]; do
  case "$1" in
    --free-threaded) free_threaded=1; shift ;;
    --python) explicit="${2:?--python needs a path}"; named_python=1; shift 2 ;;
    --python=*) explicit="${1#--python=}"; named_python=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# The tools `make dist` and the packaging tests use: pkg-config, cmake, and
# readelf/objcopy (binutils). Installed whenever one is missing and this runs
# as root with apt-get, whichever CPython is used; named otherwise.
ensure_tools() {
  local missing=()
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  { command -v readelf && command -v objcopy; } >/dev/null 2>&1 || missing+=(binutils)
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} (used by make dist and the packaging tests)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >&2 ||
      say "warning: could not install ${missing[*]}; the packaging tests will fail (INTERP_ALLOW_SKIP=1 skips them)"
  else
    say "note: ${missing[*]} missing; make dist and the packaging tests use them: sudo apt-get install ${missing[*]}"
  fi
}
ensure_tools

# Prints nothing and succeeds when $1 is a usable interpreter; prints why not otherwise.
check_python() {
  "$1" - <<'PY' 2>&1
import sys, sysconfig
if sys.implementation.name != "cpython":
    sys.exit(f"{sys.executable} is {sys.implementation.name}, not CPython")
if sys.version_info < (3, 12):
    sys.exit(f"{sys.executable} is Python {sys.version.split()[0]}; interp needs 3.12 or newer (own-GIL subinterpreters)")
if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
    sys.exit(f"{sys.executable} has no shared libpython (built without --enable-shared); interp embeds libpython")
if sysconfig.get_config_var("Py_GIL_DISABLED"):
    sys.exit(f"{sys.executable} is a free-threaded build; interp needs the default (GIL) build")
PY
}

# The free-threaded build: its own prefix, binary and check; PYO3_PYTHON does
# not apply (that names the interpreter interp links against).
if [ -n "$free_threaded" ]; then
  [ -z "$named_python" ] || die "--python and --free-threaded do not go together: --free-threaded finds or builds its own 3.14t"
  PREFIX="$CACHE/cpython-${VERSION}t"
  PYBIN="$PREFIX/bin/python3.14t"
  CONFIGURE_FLAGS=(--disable-gil)
  check_python() {
    "$1" -c 'import sys, sysconfig; sys.exit(None if sysconfig.get_config_var("Py_GIL_DISABLED") else f"{sys.executable} is not free-threaded")' 2>&1
  }
  explicit=""
else
  PYBIN="$PREFIX/bin/python3.14"
  CONFIGURE_FLAGS=(--enable-shared LDFLAGS="-Wl,-rpath,$PREFIX/lib")
fi

if [ -n "$explicit" ]; then
  command -v "$explicit" >/dev/null 2>&1 || die "'$explicit' (from --python or PYO3_PYTHON) is not an executable"
  why=$(check_python "$explicit") || die "$why. Unset PYO3_PYTHON to let bootstrap build CPython $VERSION."
  command -v "$explicit"
  exit 0
fi

if [ -z "${INTERP_BOOTSTRAP_FETCH_ONLY:-}" ] && [ -x "$PYBIN" ] && [ -f "$PREFIX/.interp-complete" ]; then
  echo "$PYBIN"
  exit 0
fi

# ---- build from source ----------------------------------------------------
for tool in cc make tar xz sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is missing; on Debian: apt-get install build-essential xz-utils"
done

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tarball=""

verify() { echo "$SHA256  $1" | sha256sum -c --status; }

if [ -n "${INTERP_CPYTHON_TARBALL:-}" ]; then
  [ -f "$INTERP_CPYTHON_TARBALL" ] || die "INTERP_CPYTHON_TARBALL=$INTERP_CPYTHON_TARBALL does not exist"
  verify "$INTERP_CPYTHON_TARBALL" || die "INTERP_CPYTHON_TARBALL=$INTERP_CPYTHON_TARBALL fails its sha256 check (want $SHA256): it is not the CPython $VERSION release tarball"
  tarball="$INTERP_CPYTHON_TARBALL"
  say "using $tarball"
fi

# The mirror apt is configured with (deb822 or one-line format).
mirror() {
  { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'
  } | grep -E '/debian/?$' | head -n1 | sed 's:/*$::'
}

if [ -z "$tarball" ] && command -v apt-get >/dev/null 2>&1; then
  m=$(mirror || true)
  if [ -n "$m" ]; then
    say "trying Debian source package python3.14 (unstable) from $m"
    aptdir="$work/apt"; mkdir -p "$aptdir/lists/partial" "$aptdir/src"
    echo "deb-src [trusted=yes] $m unstable main" > "$aptdir/sources.list"
    aptopts=(-o Dir::Etc::SourceList="$aptdir/sources.list" -o Dir::Etc::SourceParts=/dev/null
             -o Dir::State::Lists="$aptdir/lists" -o Dir::Cache="$aptdir/cache" -o APT::Sandbox::User=root)
    mkdir -p "$aptdir/cache"
    if apt-get "${aptopts[@]}" update >/dev/null 2>&1 &&
       (cd "$aptdir/src" && apt-get "${aptopts[@]}" source --download-only "python3.14=$VERSION-*" >/dev/null 2>&1) &&
       [ -f "$aptdir/src/$TARBALL_NAME" ] && verify "$aptdir/src/$TARBALL_NAME"; then
      tarball="$aptdir/src/$TARBALL_NAME"
    else
      say "the source package did not give a verified $TARBALL_NAME (suite may have moved on)"
    fi
    if [ -z "$tarball" ]; then
      say "trying the mirror's pool file"
      dl="$work/$TARBALL_NAME"
      if { command -v curl >/dev/null && curl -fsSL -o "$dl" "$m/pool/main/p/python3.14/$TARBALL_NAME"; } ||
         { command -v wget >/dev/null && wget -q -O "$dl" "$m/pool/main/p/python3.14/$TARBALL_NAME"; }; then
        verify "$dl" && tarball="$dl" || say "downloaded pool file fails its sha256 check"
      else
        say "pool file not reachable"
      fi
    fi
  fi
fi

[ -n "$tarball" ] || die "no CPython $VERSION source found. Either point INTERP_CPYTHON_TARBALL at $TARBALL_NAME (sha256 $SHA256), or name an existing CPython 3.12+ built with --enable-shared via PYO3_PYTHON=/path/to/python3."

if [ -n "${INTERP_BOOTSTRAP_FETCH_ONLY:-}" ]; then
  # Testing the source lookup: keep the verified tarball and stop.
  cp "$tarball" "$INTERP_BOOTSTRAP_FETCH_ONLY"
  say "fetched and verified $TARBALL_NAME -> $INTERP_BOOTSTRAP_FETCH_ONLY"
  exit 0
fi

# Headers/libs CPython's stdlib needs; install what is missing (Debian).
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in build-essential libssl-dev libffi-dev zlib1g-dev libsqlite3-dev libbz2-dev liblzma-dev libreadline-dev libncurses-dev uuid-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      say "installing build dependencies: ${missing[*]}"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >&2 ||
        say "warning: could not install ${missing[*]}; the matching stdlib modules may be missing"
    else
      say "warning: missing build dependencies (${missing[*]}); run: sudo apt-get install ${missing[*]}"
    fi
  fi
fi

say "building CPython $VERSION${free_threaded:+ (free-threaded)} into $PREFIX (about 6 minutes on 2 cores; log: $CACHE/build-$VERSION${free_threaded:+t}.log)"
tar -C "$work" -xf "$tarball"
src="$work/Python-$VERSION"
[ -d "$src" ] || src=$(find "$work" -maxdepth 1 -type d -name 'Python-*' | head -n1)
rm -rf "$PREFIX"
log="$CACHE/build-$VERSION${free_threaded:+t}.log"
(
  cd "$src"
  ./configure --prefix="$PREFIX" --with-ensurepip=no "${CONFIGURE_FLAGS[@]}" >"$log" 2>&1
  make -j"$(nproc 2>/dev/null || echo 2)" >>"$log" 2>&1
  make install >>"$log" 2>&1
) || { tail -n 30 "$log" >&2; die "CPython build failed; full log in $log"; }
check=$(check_python "$PYBIN") || die "built interpreter is unusable: $check"
touch "$PREFIX/.interp-complete"
say "CPython $VERSION${free_threaded:+ (free-threaded)} ready"
echo "$PYBIN"
