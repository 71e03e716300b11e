#!/usr/bin/env bash
# fetch-debian.sh DEST — download the third-party binaries byoi serves or tests
# with, from Debian packages, without touching the system's apt configuration:
#
#   DEST/ipxe/     ipxe.efi snponly.efi undionly.kpxe ipxe-arm64.efi   (trixie "ipxe")
#   DEST/ovmf/     OVMF_CODE_4M.fd OVMF_VARS_4M.fd                     (trixie "ovmf", e2e only)
#   DEST/linux/    vmlinuz and lib/modules/<version>/                     (bookworm "linux-image-amd64")
#
# Trixie's iPXE (2025) is needed: bookworm's 2019 build cannot sanboot a file
# from a local disk on UEFI. Packages are fetched with a private sources.list
# and private lists/cache directories, then unpacked with dpkg -x; nothing is
# installed system-wide. A stamp file per part makes re-runs instant.
set -euo pipefail

dest=${1:?usage: fetch-debian.sh DEST [ipxe|ovmf|linux]...}
shift
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(ipxe ovmf linux)
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

need=()
for p in "${parts[@]}"; do
	[ -f "$dest/$p/.stamp" ] || need+=("$p")
done
[ ${#need[@]} -gt 0 ] || exit 0

# The archive URI the machine already uses (deb822 or one-line format), or
# FETCH_DEBIAN_MIRROR.
uri=${FETCH_DEBIAN_MIRROR:-}
[ -n "$uri" ] || uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 || true)
if [ -z "$uri" ]; then
	uri=$(awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 || true)
fi
[ -n "$uri" ] || { echo "fetch-debian: no Debian archive URI found in /etc/apt" >&2; exit 1; }

apt_dir="$dest/.apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$dest/.debs"
cat >"$apt_dir/sources.list" <<EOF
deb [trusted=yes] $uri trixie main
deb [trusted=yes] $uri bookworm main
EOF
apt_opts=(
	-o "Dir::Etc::SourceList=$apt_dir/sources.list"
	-o "Dir::Etc::SourceParts=/dev/null"
	-o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::Cache=$apt_dir"
	-o "Dir::Cache::archives=$apt_dir/archives"
	-o "Dir::Cache::pkgcache="
	-o "Dir::Cache::srcpkgcache="
	-o "Debug::NoLocking=1"
	-o "APT::Get::List-Cleanup=0"
	-o "Acquire::Languages=none"
	-o "APT::Sandbox::User=root"
)
unreachable() {
	cat >&2 <<EOM
fetch-debian: cannot get $1 from Debian's package archive at $uri.
  byoi fetches iPXE and the installer kernel from Debian packages once, into $dest.
  Check this machine's network (or proxy: apt's Acquire::http::Proxy), then run make again;
  or copy a complete third_party/ from a machine that has one (it has a .stamp per part).
EOM
	exit 1
}

# The lists' stamp is written only after an update that fetched every
# index: a failed update leaves none, so the next run tries again.
if [ ! -f "$apt_dir/lists/.updated" ] || [ -n "$(find "$apt_dir/lists/.updated" -mmin +1440)" ]; then
	echo "fetch-debian: updating private package lists" >&2
	rm -f "$apt_dir/lists/.updated"
	apt-get -q --error-on=any "${apt_opts[@]}" update >&2 || unreachable "the package lists"
	touch "$apt_dir/lists/.updated"
fi

# download PKG/SUITE → path of the .deb
download() {
	local spec=$1 deb
	(cd "$dest/.debs" && apt-get -q "${apt_opts[@]}" download "$spec" >&2) || unreachable "package $spec"
	deb=$(ls -t "$dest/.debs/${spec%%/*}"_*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || unreachable "package $spec"
	echo "$deb"
}

unpack() { # unpack DEB DIR
	rm -rf "$2" && mkdir -p "$2" && dpkg -x "$1" "$2"
}

for p in "${need[@]}"; do
	tmp="$dest/.unpack-$p"
	case $p in
	ipxe)
		deb=$(download ipxe/trixie)
		unpack "$deb" "$tmp"
		mkdir -p "$dest/ipxe"
		cp "$tmp/usr/lib/ipxe/ipxe.efi" "$tmp/usr/lib/ipxe/snponly.efi" "$tmp/usr/lib/ipxe/undionly.kpxe" "$dest/ipxe/" 2>/dev/null ||
			cp -L "$tmp"/usr/lib/ipxe/{ipxe.efi,snponly.efi,undionly.kpxe} "$dest/ipxe/"
		[ -f "$tmp/usr/lib/ipxe/ipxe-arm64.efi" ] && cp -L "$tmp/usr/lib/ipxe/ipxe-arm64.efi" "$dest/ipxe/"
		[ -f "$tmp/usr/lib/ipxe/ipxe-i386.efi" ] && cp -L "$tmp/usr/lib/ipxe/ipxe-i386.efi" "$dest/ipxe/"
		;;
	ovmf)
		deb=$(download ovmf/trixie)
		unpack "$deb" "$tmp"
		mkdir -p "$dest/ovmf"
		cp -L "$tmp/usr/share/OVMF/OVMF_CODE_4M.fd" "$tmp/usr/share/OVMF/OVMF_VARS_4M.fd" "$dest/ovmf/"
		;;
	linux)
		# linux-image-amd64 is a metapackage: take the image it depends on.
		img=$(apt-cache "${apt_opts[@]}" depends linux-image-amd64/bookworm 2>/dev/null |
			sed -n 's/^[[:space:]]*Depends:[[:space:]]*\(linux-image-[0-9][^[:space:]]*\).*/\1/p' | head -n1)
		[ -n "$img" ] || unreachable "linux-image-amd64 (not in the package lists)"
		deb=$(download "$img/bookworm")
		unpack "$deb" "$tmp"
		rm -rf "$dest/linux" && mkdir -p "$dest/linux/lib/modules"
		cp -L "$tmp"/boot/vmlinuz-* "$dest/linux/vmlinuz"
		mv "$tmp"/lib/modules/* "$dest/linux/lib/modules/"
		# The package leaves modules.dep to the installer's depmod.
		for v in "$dest"/linux/lib/modules/*; do
			/sbin/depmod -b "$dest/linux" "$(basename "$v")"
		done
		;;
	*)
		echo "fetch-debian: unknown part $p" >&2
		exit 1
		;;
	esac
	rm -rf "$tmp" "$dest"/.debs/*.deb
	touch "$dest/$p/.stamp"
	echo "fetch-debian: $p ready in $dest/$p" >&2
done
