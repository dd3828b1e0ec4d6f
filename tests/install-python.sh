#!/usr/bin/env bash
# (From the project's recipes.) Installs a CPython that this machine's Debian (bookworm, 3.11 only) does not ship — 3.13 or 3.14 from
# Debian sid — into DEST, without touching the system's apt sources, and prints the path of a wrapper
# that runs it. Sid's builds need a newer glibc than bookworm's, so sid's libc is unpacked beside them
# and used through its own loader. Usage: install-python.sh 3.14 [DEST]
# Limits: it is the minimal interpreter plus the standard library (no venv/ensurepip, no tkinter);
# a subprocess that runs sys.executable directly must go through the wrapper (set it as the interpreter).
set -euo pipefail
ver=${1:?usage: install-python.sh 3.13|3.14 [DEST]}
DEST=$(mkdir -p "${2:-.python$ver}" && cd "${2:-.python$ver}" && pwd)
if [[ -x $DEST/python$ver ]] && "$DEST/python$ver" -c 'pass' 2>/dev/null; then echo "$DEST/python$ver"; exit 0; fi
pkgs=(python$ver-minimal libpython$ver-minimal libpython$ver-stdlib libc6 libbz2-1.0 libcrypt1 libexpat1
      libffi8 liblzma5 libmpdec4 libncursesw6 libreadline8t64 libsqlite3-0 libssl3t64 libtinfo6 libuuid1
      libzstd1 zlib1g)
"$(dirname "${BASH_SOURCE[0]}")/unpack-debian-sid.sh" "$DEST" "${pkgs[@]}"
R=$DEST/root
cat > "$DEST/python$ver" <<WRAP
#!/bin/sh
PYTHONHOME=$R/usr exec "$R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu" "$R/usr/bin/python$ver" "\$@"
WRAP
chmod +x "$DEST/python$ver"
"$DEST/python$ver" -c 'import sys; print(sys.version)' >&2
echo "$DEST/python$ver"
