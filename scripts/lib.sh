# Shared helpers for Lineup's scripts: say what is happening, install what is missing.
# Sourced, not run.

# Each line carries the seconds since the first script started, so a slow step shows itself.
: "${LINEUP_T0:=$(date +%s)}"
export LINEUP_T0
say() { printf '\033[1m==> [%4ss] %s\033[0m\n' "$(( $(date +%s) - LINEUP_T0 ))" "$*" >&2; }

# as_root CMD...: run as root (directly when we are root, else through sudo).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_apt PKG...: install the Debian packages that are not installed yet, and say which.
ensure_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Packages to build the Tauri app (platform-facts.md).
APP_BUILD_PACKAGES=(build-essential pkg-config libssl-dev libdbus-1-dev libwebkit2gtk-4.1-dev libgtk-3-dev
    libayatana-appindicator3-dev librsvg2-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev libxdo-dev file)
# Packages to run the app and its tests: virtual display, WebDriver, session bus, notification
# daemon, keyrings, Korean font, browser, database.
TEST_PACKAGES=(xvfb xauth webkit2gtk-driver dbus dbus-x11 dunst libnotify-bin gnome-keyring keyutils
    fontconfig fonts-nanum chromium postgresql zbar-tools)

# Packages for the phone type-checks (scripts/mobile-check.sh): a clang that targets Android and
# arm64 C headers for aws-lc-sys's build script; llvm-ar comes with llvm.
MOBILE_CHECK_PACKAGES=(clang llvm libc6-dev-arm64-cross)

# ensure_rust_target TRIPLE...: the Rust standard library for each target (rustup).
ensure_rust_target() {
    local installed
    installed=$(rustup target list --installed 2>/dev/null || true)
    for t in "$@"; do
        grep -qx "$t" <<<"$installed" || { say "installing rustup target $t"; rustup target add "$t"; }
    done
}

# ensure_rust: cargo must exist; rustfmt and clippy must be installed.
ensure_rust() {
    command -v cargo >/dev/null || { echo "cargo is not installed: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
    for c in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" || { say "installing rustup component $c"; rustup component add "$c"; }
    done
}

# ensure_node: node 20+ and npm.
ensure_node() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        ensure_apt nodejs npm
    fi
}

# have_display: a desktop session to show the app in.
have_display() {
    [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]
}

# use_clippy_build: from here on, cargo compiles the workspace's own crates with clippy-driver
# and `-D warnings` (dependencies keep plain rustc), so building is also linting.
use_clippy_build() {
    local driver
    driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)
    [ -x "$driver" ] || { echo "clippy-driver not found: rustup component add clippy" >&2; exit 1; }
    export RUSTC_WORKSPACE_WRAPPER="$driver" CLIPPY_ARGS="-Dwarnings"
}

# without_clippy CMD...: runs CMD with cargo's plain compiler (for `cargo install` of tools,
# which are not ours to lint).
without_clippy() {
    env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS "$@"
}

# ensure_venv DIR REQUIREMENTS: a Python virtual environment in DIR holding the pinned packages
# of the file REQUIREMENTS (PyPI), made again whenever that file changes.
ensure_venv() {
    local dir=$1 req=$2 stamp
    # Debian's python3 makes virtual environments only with python3-venv.
    ensure_apt python3 python3-venv
    stamp=$(sha256sum "$req" | cut -d' ' -f1)
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.requirements.sha256" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    say "installing Python packages from $req into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$stamp" > "$dir/.requirements.sha256"
}
