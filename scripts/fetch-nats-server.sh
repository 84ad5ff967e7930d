#!/usr/bin/env bash
# nats-server 2.10 beside Debian 12's 2.9: the tests run cancel's filtered purge (safe from 2.10.14)
# against it. Debian trixie's package, downloaded with apt from a private sources list and lists
# directory (the system's apt configuration is not touched) and unpacked under .tools/ (not
# installed). Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.tools/nats-server-2.10
bin=$dest/usr/sbin/nats-server
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" > "$work/sources.list"
apt_private=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
apt-get "${apt_private[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_private[@]}" download nats-server >&2)
deb=$(ls "$work"/nats-server_2.10.*_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then echo "fetch-nats-server: trixie has no nats-server 2.10 package" >&2; exit 1; fi
rm -rf "$dest.partial" && mkdir -p "$dest.partial"
dpkg-deb -x "$deb" "$dest.partial"
mv "$dest.partial" "$dest"
"$bin" --version >&2
echo "$bin"
