#!/usr/bin/env bash
# Downloads Debian sid packages and unpacks them into DEST/root, without touching the system's
# apt sources (a private apt state under DEST, removed afterwards). Used by install-python.sh and
# editors/install-helix.sh for programs this machine's Debian does not ship; sid's binaries need
# sid's libc, which callers unpack beside them and run through its own loader.
#
#   tests/unpack-debian-sid.sh DEST PACKAGE...
# Needs: apt-get, dpkg (root, for apt's cache).
set -euo pipefail
DEST=${1:?usage: unpack-debian-sid.sh DEST PACKAGE...}
shift
apt_dir=$DEST/apt
mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$DEST/debs"
cat > "$apt_dir/parts/sid.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/parts"
      -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
apt-get "${opts[@]}" update -qq >/dev/null
(cd "$DEST/debs" && apt-get "${opts[@]}" download "$@" >/dev/null 2>&1)
for deb in "$DEST"/debs/*.deb; do dpkg -x "$deb" "$DEST/root"; done
rm -rf "$apt_dir" "$DEST/debs"
