#!/usr/bin/env bash
# fetch-debian.sh DEST — download the third-party binaries byoi serves or tests
# with, from Debian packages, without touching the system's apt configuration:
#
#   DEST/ipxe/     ipxe.efi snponly.efi undionly.kpxe ipxe-arm64.efi   (trixie "ipxe")
#   DEST/ovmf/     OVMF_CODE_4M.fd OVMF_VARS_4M.fd                     (trixie "ovmf", e2e only)
#   DEST/linux/    vmlinuz and lib/modules/<version>/                     (bookworm "linux-image-amd64")
#   DEST/debian/root/  bookworm userland for the tools and rescue initramfs
#                  layers: the packages named on `package` lines of
#                  initramfs/build/layers/*.layer and everything they depend on
#
# Trixie's iPXE (2025) is needed: bookworm's 2019 build cannot sanboot a file
# from a local disk on UEFI. Packages are fetched with a private sources.list
# and private lists/cache directories, then unpacked with dpkg -x; nothing is
# installed system-wide. A stamp file per part makes re-runs instant (the
# debian part's stamp holds its package list: editing a layer refetches).
set -euo pipefail

dest=${1:?usage: fetch-debian.sh DEST [ipxe|ovmf|linux]...}
shift
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(ipxe ovmf linux debian)
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
layers=$(cd "$(dirname "$0")/../initramfs/build/layers" && pwd)

# The bookworm packages the layers name, one per line, sorted.
layer_packages() {
	sed -n 's/^package[[:space:]]\+//p' "$layers"/*.layer | tr -s ' \t' '\n\n' | sed '/^$/d' | sort -u
}

need=()
for p in "${parts[@]}"; do
	if [ "$p" = debian ]; then
		[ "$(cat "$dest/$p/.stamp" 2>/dev/null)" = "$(layer_packages | tr '\n' ' ')" ] || need+=("$p")
		continue
	fi
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
trixie=
for p in "${need[@]}"; do [ "$p" = debian ] || trixie=1; done
if [ -n "$trixie" ] && { [ ! -f "$apt_dir/lists/.updated" ] || [ -n "$(find "$apt_dir/lists/.updated" -mmin +1440)" ]; }; then
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

# fetch_userland: the layers' bookworm packages and everything they depend
# on, as apt resolves an install of them on an empty system (Depends and
# Pre-Depends, alternatives and conflicts decided by apt, no Recommends),
# from the machine's bookworm, bookworm-updates and bookworm-security
# archives (checked against Debian's archive keyring when it is installed).
# The private apt state is its own, so trixie never wins a version contest,
# and its dpkg status is an empty file: nothing is installed. Every .deb is
# unpacked into debian/root; the .debs stay cached in .debs-bookworm.
fetch_userland() {
	local bw="$dest/.apt-bookworm" debs="$dest/.debs-bookworm" sec opt=trusted=yes
	sec=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*security[^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
	[ -n "$sec" ] || sec=$(awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\/.*security/) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null | head -n1 || true)
	[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && opt=signed-by=/usr/share/keyrings/debian-archive-keyring.gpg
	mkdir -p "$bw/lists/partial" "$debs/partial"
	: >"$bw/status"
	{
		echo "deb [$opt] $uri bookworm main"
		echo "deb [$opt] $uri bookworm-updates main"
		[ -z "$sec" ] || echo "deb [$opt] $sec bookworm-security main"
	} >"$bw/sources.list.new"
	local bw_opts=(
		-o "Dir::Etc::SourceList=$bw/sources.list"
		-o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::State::Lists=$bw/lists"
		-o "Dir::State::status=$bw/status"
		-o "Dir::State::extended_states=$bw/extended_states"
		-o "Dir::Cache=$bw"
		-o "Dir::Cache::archives=$debs"
		-o "Dir::Cache::pkgcache="
		-o "Dir::Cache::srcpkgcache="
		-o "Debug::NoLocking=1"
		-o "APT::Get::List-Cleanup=0"
		-o "APT::Install-Recommends=0"
		-o "APT::Architectures=amd64"
		-o "Acquire::Languages=none"
		-o "APT::Sandbox::User=root"
	)
	if ! cmp -s "$bw/sources.list.new" "$bw/sources.list" || [ ! -f "$bw/lists/.updated" ] ||
		[ -n "$(find "$bw/lists/.updated" -mmin +1440)" ]; then
		mv "$bw/sources.list.new" "$bw/sources.list"
		echo "fetch-debian: updating private bookworm package lists" >&2
		rm -f "$bw/lists/.updated"
		apt-get -q --error-on=any "${bw_opts[@]}" update >&2 || unreachable "the bookworm package lists"
		touch "$bw/lists/.updated"
	fi
	rm -f "$bw/sources.list.new"
	local want files f
	mapfile -t want < <(layer_packages)
	# 'URI' FILE SIZE HASH per package of the install (apt leaves out the
	# files already in the archives folder: ask with an empty one), then the
	# download (files already cached and intact are not fetched again).
	mkdir -p "$bw/empty/partial"
	mapfile -t files < <(apt-get -qq "${bw_opts[@]}" -o "Dir::Cache::archives=$bw/empty" --print-uris install "${want[@]}" |
		awk '{ print $2 }')
	[ ${#files[@]} -gt 0 ] || { echo "fetch-debian: cannot resolve ${want[*]}" >&2; exit 1; }
	echo "fetch-debian: ${#want[@]} bookworm packages need ${#files[@]} with their dependencies" >&2
	apt-get -q -y "${bw_opts[@]}" --download-only install "${want[@]}" >&2 || unreachable "the tools and rescue packages"
	local tmp="$dest/.unpack-debian"
	rm -rf "$tmp" && mkdir -p "$tmp/root"
	for f in "${files[@]}"; do
		dpkg -x "$debs/$f" "$tmp/root" </dev/null
	done
	printf '%s\n' "${files[@]}" >"$tmp/packages"
	rm -rf "$dest/debian" && mv "$tmp" "$dest/debian"
	# Cached .debs no longer needed are dropped.
	(cd "$debs" && for f in *.deb; do grep -qxF "$f" "$dest/debian/packages" || rm -f "$f"; done)
	layer_packages | tr '\n' ' ' >"$dest/debian/.stamp"
	echo "fetch-debian: debian ready in $dest/debian" >&2
}

for p in "${need[@]}"; do
	tmp="$dest/.unpack-$p"
	case $p in
	debian)
		fetch_userland
		continue
		;;
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
