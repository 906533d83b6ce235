#!/usr/bin/env bash
# Builds the test control plane's programs from the pinned Go modules under tools/ into a cache
# directory outside the repository, one directory per program and version, and prints the
# directory holding them all (a symlink farm) on stdout. A program already built is not rebuilt,
# so a warm machine returns in well under a second.
#
#   tools/build.sh            build what is missing, print the bin directory
#   SMI_BRIDGE_CACHE=/path    cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/smi-bridge)
set -euo pipefail

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${SMI_BRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smi-bridge}

log() { echo "tools/build.sh: $*" >&2; }

command -v go >/dev/null || { log "Go is required (>= 1.24) to build the control plane; install it and retry"; exit 1; }

# The version a module requires, read from its go.mod so that go.mod stays the only pin.
required_version() { # <module dir> <module path>
  awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$tools_dir/$1/go.mod"
}

k8s_version=$(required_version k8s k8s.io/kubernetes)
etcd_version=$(required_version etcd go.etcd.io/etcd/server/v3)
helm_version=$(required_version helm helm.sh/helm/v3)
for v in "$k8s_version" "$etcd_version" "$helm_version"; do
  [ -n "$v" ] || { log "could not read a pinned version from tools/*/go.mod"; exit 1; }
done

k8s_minor=$(echo "$k8s_version" | cut -d. -f2)
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-$k8s_version"
done
# Like helm's Makefile: besides its own version, stamp the Kubernetes version that `helm template`
# and `helm lint` assume by default (.Capabilities.KubeVersion), derived from helm's k8s.io/client-go
# (v0.36.x -> 1.36); without it helm 3 defaults to v1.20.0.
helm_client_go=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$tools_dir/helm/go.mod")
helm_k8s_minor=$(echo "$helm_client_go" | cut -d. -f2)
[ -n "$helm_k8s_minor" ] || { log "could not read k8s.io/client-go from tools/helm/go.mod"; exit 1; }
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitCommit=module-$helm_version"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done

# build <name> <version> <module dir> <package> <ldflags>
build() {
  local name=$1 version=$2 module=$3 package=$4 ldflags=$5
  local dir="$cache_root/programs/$name-$version"
  # The stamp records how the program was built, so changing the ldflags here rebuilds it.
  local stamp="$package $ldflags"
  if [ -x "$dir/$name" ] && [ "$(cat "$dir/build-flags" 2>/dev/null)" = "$stamp" ]; then return 0; fi
  log "building $name $version (cold builds take minutes; cached afterwards in $dir)"
  local start=$SECONDS
  mkdir -p "$dir.tmp"
  (cd "$tools_dir/$module" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$dir.tmp/$name" "$package")
  echo "$stamp" >"$dir.tmp/build-flags"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  log "built $name $version in $((SECONDS - start))s"
}

build etcd "$etcd_version" etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver "$k8s_version" k8s k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kube-controller-manager "$k8s_version" k8s k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kubectl "$k8s_version" k8s k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
build helm "$helm_version" helm helm.sh/helm/v3/cmd/helm "$helm_ldflags"

bin="$cache_root/bin-k8s$k8s_version-etcd$etcd_version-helm$helm_version"
mkdir -p "$bin"
ln -sf "$cache_root/programs/etcd-$etcd_version/etcd" "$bin/etcd"
for p in kube-apiserver kube-controller-manager kubectl; do
  ln -sf "$cache_root/programs/$p-$k8s_version/$p" "$bin/$p"
done
ln -sf "$cache_root/programs/helm-$helm_version/helm" "$bin/helm"
echo "$bin"
