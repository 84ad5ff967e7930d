#!/usr/bin/env bash
# Unpacks a Debian trixie package under .tools/PACKAGE (nothing installed): for the tools Debian 12
# has only in older versions, which the tests need newer:
#   nats-server  2.10 beside the system's 2.9: cancel's filtered purge (safe from 2.10.14) is
#                tested on both;
#   kustomize    v5 (Debian 12's kubectl 1.20 has v2, which lacks the manifests' `labels`): the
#                deploy tests render with it.
# apt downloads it (from the machine's configured Debian mirror) with a private sources list and lists directory, so the system's apt
# configuration is not touched; Debian's signature is checked as for any package.
#   bash scripts/fetch-from-trixie.sh PACKAGE     (prints the unpacked directory)
set -euo pipefail
cd "$(dirname "$0")/.."
package=${1:?usage: fetch-from-trixie.sh PACKAGE}
dest=.tools/$package
if [ -d "$dest" ]; then echo "$dest"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
# the machine's own Debian mirror (a proxy or a local mirror may be the only way out), else Debian's
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
  grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v -- '-security' | head -1 | tr -d ' ' || true)
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:-http://deb.debian.org/debian} trixie main" > "$work/sources.list"
apt_private=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
apt-get "${apt_private[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_private[@]}" download "$package" >&2)
deb=$(ls "$work"/"${package}"_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then echo "fetch-from-trixie: no $package package in trixie" >&2; exit 1; fi
rm -rf "$dest.partial" && mkdir -p "$dest.partial"
dpkg-deb -x "$deb" "$dest.partial"
mv "$dest.partial" "$dest"
echo "fetch-from-trixie: $(basename "$deb") unpacked into $dest" >&2
echo "$dest"
