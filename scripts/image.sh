#!/usr/bin/env bash
# Builds the container image from the Dockerfile with buildah (Debian's
# container builder, no daemon) and checks it: `grpclb version` runs in it,
# as user 65532, with no shell in the image.
#
#   ./scripts/image.sh [TAG]          default localhost/grpclb:dev
#
# No container registry is reachable from CI, so the Dockerfile's two base
# images are stood in for by local images of the same names, made from
# this machine's files (nothing in the Dockerfile changes; with a registry,
# `buildah bud` or `docker build` pulls the real ones):
#
#   golang:1.26-bookworm      the Go toolchain of `go env GOROOT`, bash, dash
#                             and the tools scripts/build-static.sh uses;
#                             modules come from this machine's module cache
#                             (GOPROXY=file://...), as the build has no
#                             network, and compiled packages are kept between
#                             runs in $GRPCLB_CACHE/image-go-build (GOCACHE)
#   gcr.io/distroless/static-debian12:nonroot
#                             /etc/passwd and /etc/group with nonroot (65532),
#                             CA certificates and tzdata, no shell
#
# The images live in buildah's vfs storage and are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-localhost/grpclb:dev}
cache=${GRPCLB_CACHE:-$HOME/.cache/grpclb}
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
golang_image=docker.io/library/golang:1.26-bookworm
distroless_image=gcr.io/distroless/static-debian12:nonroot
bah=(buildah --storage-driver vfs)

command -v buildah >/dev/null || { echo "image.sh: buildah is not installed (apt-get install buildah)" >&2; exit 1; }

work=$(mktemp -d)
containers=()
cleanup() {
  for c in "${containers[@]}"; do "${bah[@]}" rm "$c" >/dev/null 2>&1 || true; done
  "${bah[@]}" rmi -f "$tag" "$golang_image" "$distroless_image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# copy_with_libs ROOT FILE...: each file and the shared libraries it loads.
copy_with_libs() {
  local root=$1; shift
  local f
  for f in "$@" $(ldd "$@" 2>/dev/null | awk '/=>/ { print $3 } /^\t\/lib/ { print $1 }' | sort -u); do
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
  done
}

echo "image.sh: stand-in for $golang_image (no registry here)" >&2
goroot=$(go env GOROOT)
mkdir -p "$work/golang/bin" "$work/golang/usr/local" "$work/golang/tmp" "$work/golang/go"
chmod 1777 "$work/golang/tmp"
copy_with_libs "$work/golang" /bin/bash /bin/dash /usr/bin/dirname /usr/bin/mkdir /usr/bin/wc /usr/bin/tr "$(readlink -f /usr/bin/awk)" /usr/bin/env
ln -s dash "$work/golang/bin/sh"
ln -s "$(readlink -f /usr/bin/awk)" "$work/golang/usr/bin/awk"
cp -a "$goroot" "$work/golang/usr/local/go"
c=$("${bah[@]}" from scratch); containers+=("$c")
"${bah[@]}" copy "$c" "$work/golang" / >/dev/null
"${bah[@]}" config \
  --env PATH=/go/bin:/usr/local/go/bin:/usr/bin:/bin \
  --env GOPATH=/go --env GOTOOLCHAIN=local \
  --env GOPROXY=file:///goproxy --env GOSUMDB=off --env GOCACHE=/gocache \
  --workingdir /go "$c"
"${bah[@]}" commit -q "$c" "$golang_image" >/dev/null

echo "image.sh: stand-in for $distroless_image (no registry here)" >&2
mkdir -p "$work/distroless/etc/ssl/certs" "$work/distroless/usr/share" "$work/distroless/tmp" "$work/distroless/home/nonroot"
chmod 1777 "$work/distroless/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$work/distroless/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$work/distroless/etc/group"
cp /etc/ssl/certs/ca-certificates.crt "$work/distroless/etc/ssl/certs/"
cp -a /usr/share/zoneinfo "$work/distroless/usr/share/"
c=$("${bah[@]}" from scratch); containers+=("$c")
"${bah[@]}" copy "$c" "$work/distroless" / >/dev/null
"${bah[@]}" config --user 65532:65532 --workingdir /home/nonroot "$c"
"${bah[@]}" commit -q "$c" "$distroless_image" >/dev/null

echo "image.sh: buildah bud --build-arg VERSION=$version -t $tag ." >&2
start=$(date +%s)
mkdir -p "$cache/image-go-build"
"${bah[@]}" bud --isolation chroot --pull-never --layers=false \
  --volume "$(go env GOMODCACHE)/cache/download:/goproxy:ro" \
  --volume "$cache/image-go-build:/gocache" \
  --build-arg "VERSION=$version" -t "$tag" . >"$work/bud.log" 2>&1 || { cat "$work/bud.log"; echo "image.sh: buildah bud failed" >&2; exit 1; }
grep -E 'bytes \(' "$work/bud.log" || true
echo "image.sh: built $tag in $(($(date +%s) - start))s" >&2

# The image: its user, entry point, and the binary running in it.
user=$("${bah[@]}" inspect --format '{{.OCIv1.Config.User}}' "$tag")
entry=$("${bah[@]}" inspect --format '{{.OCIv1.Config.Entrypoint}}' "$tag")
[ "$user" = "65532:65532" ] || { echo "image.sh: image user is '$user', want 65532:65532" >&2; exit 1; }
[ "$entry" = "[/grpclb]" ] || { echo "image.sh: entry point is $entry, want [/grpclb]" >&2; exit 1; }
c=$("${bah[@]}" from --pull-never "$tag"); containers+=("$c")
"${bah[@]}" run --isolation chroot --user 65532:65532 "$c" /grpclb version | tee "$work/version"
grep -qxF "grpclb $version" "$work/version" || { echo "image.sh: 'grpclb version' in the image did not print the VERSION build argument ($version)" >&2; exit 1; }
if "${bah[@]}" run --isolation chroot "$c" /bin/sh -c true >/dev/null 2>&1; then
  echo "image.sh: the image has a shell; the runtime stage should have none" >&2; exit 1
fi
size=$("${bah[@]}" images --format '{{.Size}}' "$tag")
echo "image.sh: $tag ok: user $user, entry point $entry, $size"
