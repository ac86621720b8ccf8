#!/usr/bin/env bash
# Install the Debian/Ubuntu packages edgeconv's tests and demo use, only those that are missing.
#
#   gcc, make                   host builds of the C runtime and kernels
#   gcc-aarch64-linux-gnu       cross compiler for 64-bit ARM boards (rpi4, rpi5, Jetson)
#   libc6-dev-arm64-cross       its C library and headers (only recommended by the compiler, so
#                               --no-install-recommends would skip it and every build would fail)
#   gcc-arm-linux-gnueabihf     cross compiler for 32-bit Raspberry Pi OS (rpi3)
#   libc6-dev-armhf-cross       its C library and headers (likewise only recommended)
#   qemu-user                   qemu-aarch64 / qemu-arm: run ARM runners on the build machine
#   llvm                        llvm-mca and llvm-mc: cycle estimates of ARM code (profile --estimate)
#   openssh-server              a real sshd on 127.0.0.1 for the ssh runner tests
#   chromium                    headless rendering check of report.html
#   fonts-liberation            a font for that rendering (only recommended by chromium)
#   python3-venv                only when this python3 cannot create a virtual environment
#
# Runs apt-get (update first) as root, or through sudo; does nothing when all are present.
set -euo pipefail

PACKAGES=(
    gcc make
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
    qemu-user llvm openssh-server chromium fonts-liberation
)

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
    missing+=(python3-venv)
fi

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

echo "installing missing system packages: ${missing[*]}"
if ! command -v apt-get >/dev/null; then
    echo "error: apt-get not found; install these packages with your system's package manager: ${missing[*]}" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "error: installing ${missing[*]} needs root or sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
