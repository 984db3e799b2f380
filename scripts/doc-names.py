#!/usr/bin/env python3
"""make docs-check, part two: the names the documentation uses exist in the code, and the
names the code uses are documented.

- Makefile targets: every `make <target>` in a Markdown file is a target of the Makefile
  (scripts/docs-check.sh checks that the README names every target).
- Environment variables: every variable a document names (in backticks, `NAME` or
  `NAME=value`) is read by the code, a script or a test, or is one that a library or a tool we
  run reads (EXTERNAL below); every variable the programs read (crates/*/src) is a row of a
  table in the README, except the platform's own (PLATFORM), which a document must still name.
- Routes: every `METHOD /path` and every `/ui/...` page a document names is routed by the
  server (the handlers' utoipa paths and the web view's router), and every routed path is
  named by a document (the README's route table is checked by scripts/docs-check.sh).
- Console keys: the key table generated in docs/console.md lists exactly the bindings that
  `statesight-tui keys --defaults -o json` prints, and every key a key table of the docs names
  is bound or fixed.

Usage: doc-names.py KEYS_JSON (the output of `statesight-tui keys --defaults -o json`).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Read by libraries or tools StateSight runs, not by name in our code: proxies (reqwest),
# git's own variables, the CI flag scripts honour through their tools.
EXTERNAL = {
    "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY",
    "GIT_SSH_COMMAND", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM",
    "GIT_ASKPASS", "SSH_AUTH_SOCK", "KUBECONFIG",
}
EXTERNAL_PREFIXES = ("GIT_CONFIG_", "GIT_")
# The platform's variables: read by the programs, explained where they matter
# (docs/console-cli.md), not configuration a deployment sets.
PLATFORM = {
    "HOME", "PATH", "TERM", "TMUX", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "HOSTNAME",
    "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION", "SSH_TTY",
}
# Single words that are variables when a document names them.
SINGLE_WORD = PLATFORM | {"CI"}

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")

failures = []


def fail(message):
    failures.append(message)


def tracked(*patterns):
    out = subprocess.run(["git", "ls-files", "-z", "--", *patterns], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode()
    return [ROOT / path for path in out.split("\0") if path]


def read(path):
    return path.read_text(encoding="utf-8", errors="replace")


def rel(path):
    return path.relative_to(ROOT).as_posix()


# The product's documentation (the READMEs of examples and test harnesses describe data and
# tools of their own).
DOCS = tracked("README.md", "docs/*.md", "docs/**/*.md")


def backticked(text):
    return re.findall(r"`([^`\n]+)`", text)


def table_rows(text):
    """(header cells, row cells) for every row of every Markdown table."""
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if header is None:
            header = cells
        elif not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            yield header, cells


# --- Makefile targets -------------------------------------------------------------------

targets = set(re.findall(r"^([a-z][a-z-]*):.*##", read(ROOT / "Makefile"), re.M))
for doc in DOCS:
    text = read(doc)
    named = set(re.findall(r"`make ([a-z][a-z-]*)", text))
    named |= set(re.findall(r"^\s*(?:\$ )?make ([a-z][a-z-]*)\s*$", text, re.M))
    for target in sorted(named - targets):
        fail(f"{rel(doc)} names `make {target}`, which the Makefile does not have")

# --- environment variables --------------------------------------------------------------

PROGRAM_READS = [
    re.compile(r'env\s*=\s*"([A-Z][A-Z0-9_]*)"'),
    re.compile(r'\b(?:var|var_os|try_from_env|set|absolute)\(\s*"([A-Z][A-Z0-9_]*)"\s*\)'),
    re.compile(r'const [A-Z_]*ENV: &str = "([A-Z][A-Z0-9_]*)"'),
]
program_vars = {}
for source in tracked("crates/*/src/**.rs", "crates/*/src/*.rs"):
    for pattern in PROGRAM_READS:
        for name in pattern.findall(read(source)):
            program_vars.setdefault(name, rel(source))

# Tests, benchmarks and scripts read variables too (TEST_DATABASE_URL, SKIP_FUZZ, ...).
other_vars = set()
for source in tracked("crates/*/tests/**.rs", "crates/*/benches/**.rs", "crates/*/tests/*.rs"):
    for pattern in PROGRAM_READS:
        other_vars |= set(pattern.findall(read(source)))
for script in tracked("scripts/*", "Makefile", ".ci/*"):
    text = read(script)
    other_vars |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))
    other_vars |= set(re.findall(r"\$\(([A-Z][A-Z0-9_]*)\)", text))
    other_vars |= set(re.findall(r"^\s*(?:export\s+)?([A-Z][A-Z0-9_]*)\s*\??=", text, re.M))
    other_vars |= set(re.findall(r"os\.environ(?:\.get)?\(?\[?\"([A-Z][A-Z0-9_]*)\"", text))
# Keys of the deployment's Secret that something other than our programs reads (KEDA).
for manifest in tracked("deploy/**.yaml", "deploy/*.yaml"):
    other_vars |= set(re.findall(r"\bkey: ([A-Z][A-Z0-9_]*)\s*$", read(manifest), re.M))
known = set(program_vars) | other_vars | EXTERNAL | PLATFORM

documented_anywhere = set()
readme_rows = set()
for doc in DOCS:
    text = read(doc)
    for token in backticked(text):
        name = token.split("=", 1)[0].strip()
        reference = re.match(r"^\$\{?([A-Z][A-Z0-9_]*)", name)
        if reference:
            name = reference.group(1)
        if name.endswith("_*"):
            if not name[:-1].startswith(EXTERNAL_PREFIXES):
                fail(f"{rel(doc)} names the variables {name}, which nothing reads")
            continue
        if not (ENV_NAME.match(name) or name in SINGLE_WORD):
            continue
        documented_anywhere.add(name)
        if name not in known and not name.startswith(EXTERNAL_PREFIXES):
            fail(f"{rel(doc)} names the environment variable {name}, which nothing reads")
    if rel(doc) == "README.md":
        for _, cells in table_rows(text):
            for token in backticked(cells[0]):
                readme_rows.add(token.split("=", 1)[0])

for name, source in sorted(program_vars.items()):
    if name in PLATFORM:
        if name not in documented_anywhere:
            fail(f"{source} reads {name}, which no document names")
    elif name not in readme_rows:
        fail(f"{source} reads {name}, which the README's configuration tables do not list")

# --- routes -------------------------------------------------------------------------------


def route_shape(path):
    path = path.split("?", 1)[0].rstrip("/") or "/"
    return re.sub(r"\{[^}]+\}|:[a-z_]+|<[a-z_-]+>", "{}", path)


routed = set()
for handler in tracked("crates/server/src/routes/*.rs"):
    for method, path in re.findall(r'utoipa::path\(\s*(get|post|put|patch|delete),\s*path = "([^"]+)"',
                                   read(handler)):
        routed.add((method.upper(), route_shape(path)))
ui_router = read(ROOT / "crates/server/src/ui/mod.rs")
for path, method in re.findall(r'\.route\(\s*"([^"]+)",\s*(get|post|put|patch|delete)\(', ui_router):
    if "{*" not in path:
        routed.add((method.upper(), route_shape(path)))
routed_paths = {path for _, path in routed}

named_paths = set()
for doc in DOCS:
    text = read(doc)
    for token in backticked(text):
        match = re.fullmatch(r"(GET|POST|PUT|PATCH|DELETE) (/\S*)", token.strip())
        if match and "…" not in match.group(2):
            method, shape = match.group(1), route_shape(match.group(2))
            named_paths.add(shape)
            if (method, shape) not in routed:
                fail(f"{rel(doc)} names the route {token}, which the server does not route")
        elif re.fullmatch(r"/(ui|api/v1|healthz|readyz|metrics)\S*", token.strip()):
            path = token.strip()
            # The API's prefix, and paths with an elided part, name no one route.
            if path.rstrip("/") == "/api/v1" or "…" in path:
                continue
            shape = route_shape(path)
            named_paths.add(shape)
            if shape not in routed_paths:
                fail(f"{rel(doc)} names the path {token}, which the server does not route")
for shape in sorted(routed_paths - named_paths):
    fail(f"the server routes {shape}, which no document names")

# --- console keys ----------------------------------------------------------------------------

keys = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
bound = {(b["section"], b["action"]): tuple(b["keys"]) for b in keys["bindings"]}
every_key = {key for key_list in bound.values() for key in key_list}
every_key |= {key for fixed in keys["fixed"] for key in fixed["keys"]}

console_doc = read(ROOT / "docs/console.md")
begin = console_doc.find("<!-- keys:begin")
end = console_doc.find("<!-- keys:end -->")
if begin < 0 or end < 0:
    fail("docs/console.md has no generated key table (keys:begin ... keys:end)")
else:
    generated = console_doc[begin:end]
    listed = {}
    for header, cells in table_rows(generated):
        if header[:3] == ["section", "action", "keys"]:
            section, action = cells[0].strip("`"), cells[1].strip("`")
            listed[(section, action)] = tuple(backticked(cells[2]))
    for binding in sorted(set(bound) - set(listed)):
        fail(f"docs/console.md's key table lacks {binding[0]}.{binding[1]} (UPDATE_DOCS=1 "
             "cargo nextest run -p statesight-tui --test console docs regenerates it)")
    for binding in sorted(set(listed) - set(bound)):
        fail(f"docs/console.md's key table lists {binding[0]}.{binding[1]}, which the console does not have")
    for binding in sorted(set(bound) & set(listed)):
        if bound[binding] != listed[binding]:
            fail(f"docs/console.md gives {binding[0]}.{binding[1]} the keys {listed[binding]}, "
                 f"the console {bound[binding]}")

for doc in (ROOT / "README.md", ROOT / "docs/console.md"):
    text = read(doc)
    if doc.name == "console.md":
        text = text[:begin] + text[end:]
    for header, cells in table_rows(text):
        if header[0] not in ("key", "keys"):
            continue
        for token in backticked(cells[0]):
            for key in re.split(r"\s*/\s*", token):
                if key and key not in every_key:
                    fail(f"{rel(doc)} documents the console key `{key}`, which is not bound")

if failures:
    print("\n".join(failures))
    sys.exit(1)
