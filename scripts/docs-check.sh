#!/usr/bin/env bash
# make docs-check: the README's first code block holds exactly the two newcomer commands,
# the README names every Makefile target and every route the handlers document, and
# docs/ARCHITECTURE.md names every crate.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
fail=0
first_block=$(awk '/^```/{n++; next} n==1' README.md)
if [[ "$first_block" != $'make demo\nmake test' ]]; then
  echo "README: the first code block must be exactly 'make demo' and 'make test', found:"; echo "$first_block"; fail=1
fi
for target in $(grep -oE '^[a-z-]+:.*## ' Makefile | cut -d: -f1); do
  grep -q "make $target" README.md || { echo "README does not mention 'make $target'"; fail=1; }
done
# Each handler's #[utoipa::path(method, path = "...")] is a route.
while read -r method path; do
  readme_form="${method^^} ${path//\{id\}/:id}"
  readme_form="${readme_form//\{rule_id\}/:rule_id}"
  grep -qF "\`$readme_form\`" README.md || { echo "README does not document the route $readme_form"; fail=1; }
done < <(grep -ohE 'utoipa::path\((get|post|put|patch|delete), path = "[^"]+"' crates/server/src/routes/*.rs \
           | sed -E 's/utoipa::path\(([a-z]+), path = "([^"]+)"/\1 \2/')
for crate in crates/*/; do
  name="$(basename "$crate")"
  grep -q "crates/$name" docs/ARCHITECTURE.md || { echo "docs/ARCHITECTURE.md does not describe crates/$name"; fail=1; }
done
[[ $fail -eq 0 ]] && echo "docs-check: README and ARCHITECTURE.md are in step with the code"
exit $fail
