#!/bin/sh
# `just doctor` (or `sh scripts/doctor.sh` before just is installed): is this laptop ready
# for the workshop? Plain POSIX sh, so it runs before the Rust toolchain is set up, on
# Linux and on macOS. Each missing item comes with the one command that fixes it.
# Exit status: 0 when everything the workshop needs is there (the optional items only warn).

cd "$(dirname "$0")/.." || exit 2
os=$(uname -s)
missing=0
ok()   { printf '  ok    %-22s %s\n' "$1" "$2"; }
warn() { printf '  warn  %-22s %s\n        fix: %s\n' "$1" "$2" "$3"; }
bad()  { printf '  MISS  %-22s %s\n        fix: %s\n' "$1" "$2" "$3"; missing=$((missing + 1)); }
have() { command -v "$1" >/dev/null 2>&1; }

# How to install a system package here, for the fix lines.
if [ "$os" = Darwin ]; then pkg="brew install"
elif have apt-get; then pkg="sudo apt-get install -y"
elif have dnf; then pkg="sudo dnf install -y"
elif have pacman; then pkg="sudo pacman -S"
else pkg="(your package manager) install"; fi

echo "c10k-phases doctor ($os $(uname -r))"

echo "Rust"
want=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)
if have cargo; then
    have_v=$(cargo --version | sed 's/^cargo \([0-9][0-9.]*\).*/\1/')
    # Compare major.minor numerically: 1.82 <= 1.95.
    older=$(printf '%s\n%s\n' "$want" "$have_v" | awk -F. 'NR==1{w=$1*1000+$2} NR==2{h=$1*1000+$2} END{print (h<w)}')
    if [ "$older" = 1 ]; then
        bad cargo "$have_v, older than the workspace's rust-version $want" "rustup update stable"
    else
        ok cargo "$have_v (workspace needs $want or newer)"
    fi
else
    bad cargo "not found (the workspace needs Rust $want or newer)" \
        "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
fi
if have just; then ok just "$(just --version)"; else bad just "not found (every book command uses it)" "cargo install just --locked"; fi
if have mdbook; then ok mdbook "$(mdbook --version)"; else warn mdbook "not found (to read the book locally)" "cargo install mdbook --version 0.5.4 --locked"; fi

echo "Limits"
soft=$(ulimit -Sn); hard=$(ulimit -Hn)
if [ "$soft" = unlimited ] || [ "$soft" -ge 10240 ] 2>/dev/null; then
    ok "ulimit -n" "soft $soft, hard $hard"
elif [ "$hard" = unlimited ] || [ "$hard" -ge 10240 ] 2>/dev/null; then
    # The bench and the tests raise their own soft limit; a server started by hand does not.
    warn "ulimit -n" "soft $soft, hard $hard: servers you start by hand stop at $soft connections" \
        "ulimit -Sn 10240   (in each terminal that starts a server)"
else
    if [ "$os" = Darwin ]; then fix="sudo launchctl limit maxfiles 65536 200000  (then open a new terminal)"
    else fix="raise the hard limit for your user in /etc/security/limits.conf (nofile 65536), then log in again"; fi
    warn "ulimit -n" "soft $soft, hard $hard: the 10,000-connection exercises need 10,240 or more" "$fix"
fi
if [ "$os" = Darwin ]; then
    somaxconn=$(sysctl -n kern.ipc.somaxconn 2>/dev/null)
    maxfiles=$(sysctl -n kern.maxfiles 2>/dev/null)
    if [ "${maxfiles:-0}" -ge 24576 ] 2>/dev/null; then ok kern.maxfiles "$maxfiles"
    else warn kern.maxfiles "${maxfiles:-?}: --c10k runs server and load generator on one Mac (~20,000 descriptors)" "sudo sysctl -w kern.maxfiles=65536 kern.maxfilesperproc=65536"; fi
    somaxconn_fix="sudo sysctl -w kern.ipc.somaxconn=4096"
else
    somaxconn=$(cat /proc/sys/net/core/somaxconn 2>/dev/null)
    somaxconn_fix="sudo sysctl -w net.core.somaxconn=4096"
fi
if [ "${somaxconn:-0}" -ge 1024 ] 2>/dev/null; then ok somaxconn "$somaxconn"
else warn somaxconn "${somaxconn:-?}: bursts of new connections overflow the accept queue" "$somaxconn_fix"; fi

echo "Tools the book uses"
if have curl; then ok curl "$(curl --version | head -n 1 | cut -d' ' -f1-2)"; else bad curl "not found" "$pkg curl"; fi
if have python3; then ok python3 "$(python3 --version 2>&1)"; else bad python3 "not found (a conformance check uses its http.client)" "$pkg python3"; fi
if have nc; then
    # The book types requests into nc; HTTP wants CRLF line ends, and the flag that sends
    # them differs: -C for OpenBSD/Debian netcat, -c for macOS's nc.
    if [ "$os" = Darwin ]; then ok nc "type requests with: nc -c 127.0.0.1 8080 (-c sends CRLF on macOS)"
    elif nc -h 2>&1 | grep -q -- '-C'; then ok nc "type requests with: nc -C 127.0.0.1 8080 (-C sends CRLF)"
    else warn nc "this nc has no -C to send CRLF" "$pkg netcat-openbsd"; fi
else
    if [ "$os" = Darwin ]; then bad nc "not found" "xcode-select --install"
    else bad nc "not found" "$pkg netcat-openbsd"; fi
fi
if [ "$os" = Darwin ]; then
    if csrutil status 2>/dev/null | grep -q enabled; then
        warn dtruss "System Integrity Protection blocks it: trace system calls in the Linux container instead" "see the workshop chapter's container fallback"
    else ok dtruss "SIP is off"; fi
elif have strace; then ok strace "$(strace -V 2>/dev/null | head -n 1)"
else warn strace "not found (the p3 chapter watches system calls with it)" "$pkg strace"; fi
if have wrk; then ok wrk "found (optional: a second opinion on loadgen)"
else warn wrk "not found (optional: a second opinion on loadgen)" "$pkg wrk"; fi

echo "io_uring (phase 6)"
if [ "$os" != Linux ]; then
    warn io_uring "Linux only: phase 6 will not run on $os" "use the Linux container or VM from the workshop chapter"
else
    kernel=$(uname -r | sed 's/^\([0-9]*\)\.\([0-9]*\).*/\1 \2/')
    # shellcheck disable=SC2086
    set -- $kernel
    disabled=$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)
    if [ "${1:-0}" -lt 6 ]; then
        warn io_uring "kernel $(uname -r), phase 6 needs 6.0 or newer" "use a newer kernel (a VM) for phase 6"
    elif [ "$disabled" != 0 ]; then
        warn io_uring "kernel.io_uring_disabled=$disabled" "sudo sysctl -w kernel.io_uring_disabled=0"
    elif ! have python3; then
        warn io_uring "kernel $(uname -r), io_uring_disabled=0; not probed (needs python3)" "$pkg python3"
    else
        # Only a real io_uring_setup(2) says whether seccomp lets it through (Docker's
        # default profile answers EPERM). 425 is its number on x86_64 and arm64 alike.
        probe=$(python3 -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(425, 4, ctypes.create_string_buffer(120))
print("ok" if fd >= 0 else os.strerror(ctypes.get_errno()))
' 2>&1)
        if [ "$probe" = ok ]; then ok io_uring "kernel $(uname -r): io_uring_setup works"
        else warn io_uring "io_uring_setup fails: $probe (a container's seccomp profile?)" "docker run --security-opt seccomp=unconfined ...  (or a VM)"; fi
    fi
fi

echo
if [ "$missing" -eq 0 ]; then
    echo "ready: everything the workshop needs is here (warnings are optional or for later chapters)"
    exit 0
fi
echo "not ready: $missing required item(s) missing; run the fix lines above, then 'sh scripts/doctor.sh' again"
exit 1
