#!/usr/bin/env python3
"""The OpenAPI suite (scripts/openapi.sh runs it; see docs/openapi.md).

1. Real specs (the shared test vectors, read at test time, and GitHub's REST API description
   from the npm package @octokit/openapi): `manifold openapi import` -> `manifold check` ->
   `manifold openapi export` -> openapi-spec-validator -> the operation sets compared. Every
   operation of the spec is either exported or listed in `@unmapped_operations` (and on
   stderr), never dropped silently.
2. Every valid config of the repository (config/, tests/scenarios/): its export validates and
   has exactly the config's endpoints and methods.
3. The validator can fail: a document with a path parameter left undeclared is refused.

Usage: suite.py MANIFOLD_BIN VECTORS_DIR [GITHUB_SPEC]
The last line is `P passed, F failed`; the exit status is 1 when anything failed.
"""

import collections
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml
from openapi_spec_validator import validate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PLACEHOLDER_HOST = "http://127.0.0.1:9"

# tests/openapi/unmappable.yaml: (operation or None for the document, words of its note).
EXPECTED_NOTES = [
    (None, "`webhooks`"),
    (None, "only the first of the document's `servers`"),
    ("GET /orders", "cookie parameter `session`"),
    ("GET /orders", "response `links`"),
    ("GET /orders", "security `bearer` is not checked"),
    ("HEAD /orders", "not imported"),
    ("POST /orders", "`callbacks`"),
    ("POST /orders", "several `servers`"),
    ("GET /orders/{id}.json", "one parameter `{id_json}`"),
]


class Suite:
    def __init__(self, manifold, work):
        self.manifold = manifold
        self.work = work
        self.passed = 0
        self.failed = 0

    def case(self, name, problem):
        """Record one case: `problem` is None when it passed, else why it failed."""
        if problem is None:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {problem}")

    def run(self, *args):
        return subprocess.run([self.manifold, *args], capture_output=True, text=True)


def normalise(path):
    """KrakenD routes by shape: a segment holding a placeholder is one parameter, whatever
    its name (the importer renames some: see docs/openapi.md)."""
    return "/".join("{}" if "{" in seg else seg for seg in path.split("/"))


def spec_operations(spec):
    out = []
    for path, item in (spec.get("paths") or {}).items():
        for method in METHODS:
            if isinstance(item, dict) and method in item:
                out.append((method.upper(), normalise(path)))
    return out


def document_operations(doc):
    return spec_operations(doc)


def config_operations(config):
    out = []
    for ep in config.get("endpoints", []):
        methods = ep.get("method", "GET")
        methods = methods if isinstance(methods, list) else [methods]
        path = ep["endpoint"]
        if path.endswith("/*"):
            path = path[:-2] + "/{rest}"
        out.extend((m.upper(), normalise(path)) for m in methods)
    return out


def label_operation(label):
    method, rest = label.split(" ", 1)
    return method, normalise(rest.split(": ", 1)[0])


def validator_problem(doc):
    try:
        validate(doc)
        return None
    except Exception as e:  # the validator's own exception types vary by version
        return f"openapi-spec-validator: {str(e)[:400]}"


def real_spec(suite, name, path):
    """Import, check, export, validate, compare: one case each."""
    stem = os.path.join(suite.work, name)
    config_file, doc_file = stem + ".config.json", stem + ".openapi.json"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    spec = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    servers = spec.get("servers") or [{"url": "/"}]
    absolute = "://" in servers[0].get("url", "/")
    args = ["openapi", "import", path, "-o", config_file]
    r = suite.run(*args)
    if not absolute:
        # Without an absolute server the import must say what to do, then work with it.
        said = r.returncode != 0 and "--backend-host" in r.stderr
        suite.case(f"{name}: import without a server asks for --backend-host", None if said else f"rc={r.returncode} {r.stderr[-300:]}")
        r = suite.run(*args, "--backend-host", PLACEHOLDER_HOST)
    suite.case(f"{name}: import", None if r.returncode == 0 else f"rc={r.returncode} {r.stderr[-500:]}")
    if r.returncode != 0:
        return
    with open(config_file, encoding="utf-8") as f:
        config = json.load(f)
    unmapped_ops = config.get("@unmapped_operations", [])
    messages = list(unmapped_ops) + list(config.get("@unmapped", []))
    for ep in config["endpoints"]:
        messages += ep.get("@unmapped", [])
    missing = [m for m in messages if m not in r.stderr]
    suite.case(f"{name}: every unmapped feature is on stderr ({len(messages)} notes)", None if not missing else f"not on stderr: {missing[:3]}")
    if name == "unmappable":
        lines = r.stderr.splitlines()
        for op, words in EXPECTED_NOTES:
            prefix = f"unmapped: {path}: " + (f"{op}: " if op else "")
            rests = [l[len(prefix):] for l in lines if l.startswith(prefix)]
            found = any(words in rest and (op or not re.match(r"[A-Z]+ /", rest)) for rest in rests)
            suite.case(f"{name}: {op or 'the document'}: reported: {words}", None if found else "not on stderr")
    c = suite.run("check", "-c", config_file)
    suite.case(f"{name}: manifold check accepts the import", None if c.returncode == 0 else c.stdout[-500:])
    e = suite.run("openapi", "export", "-c", config_file, "-o", doc_file)
    suite.case(f"{name}: export", None if e.returncode == 0 else e.stderr[-500:])
    if e.returncode != 0:
        return
    with open(doc_file, encoding="utf-8") as f:
        doc = json.load(f)
    suite.case(f"{name}: the export is valid OpenAPI {doc.get('openapi')}", validator_problem(doc))
    want = collections.Counter(spec_operations(spec))
    got = collections.Counter(document_operations(doc))
    reported = collections.Counter(label_operation(l) for l in unmapped_ops)
    problem = None
    if got + reported != want:
        lost = want - got - reported
        extra = (got + reported) - want
        problem = f"lost {sorted(lost)[:5]}, extra {sorted(extra)[:5]}"
    suite.case(f"{name}: round trip keeps every operation ({sum(got.values())} exported + {sum(reported.values())} reported = {sum(want.values())})", problem)


def repo_configs(suite):
    """Every config of the repository that `manifold check` accepts: its export is valid and
    has exactly its endpoints. The ones check refuses are the error scenarios."""
    files = sorted(glob.glob(os.path.join(ROOT, "config", "*.json")) + glob.glob(os.path.join(ROOT, "config", "examples", "*.json")) + glob.glob(os.path.join(ROOT, "tests", "scenarios", "*", "*", "config.json")))
    exported = 0
    for path in files:
        if suite.run("check", "-c", path).returncode != 0:
            continue
        name = os.path.relpath(path, ROOT)
        e = suite.run("openapi", "export", "-c", path)
        if e.returncode != 0:
            suite.case(f"{name}: export", e.stderr[-300:])
            continue
        doc = json.loads(e.stdout)
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        problem = validator_problem(doc)
        if problem is None and collections.Counter(document_operations(doc)) != collections.Counter(config_operations(config)):
            problem = f"operations {sorted(document_operations(doc))} != config {sorted(config_operations(config))}"
        suite.case(f"{name}: export valid, every endpoint and method", problem)
        exported += 1
    suite.case(f"repository configs exported: {exported} (at least 100)", None if exported >= 100 else "too few configs found")


def validator_has_teeth(suite):
    path = os.path.join(ROOT, "tests", "scenarios", "router", "params_and_methods", "config.json")
    e = suite.run("openapi", "export", "-c", path)
    doc = json.loads(e.stdout) if e.returncode == 0 else {}
    ops = [op for item in doc.get("paths", {}).values() for op in item.values() if any(p.get("in") == "path" for p in op.get("parameters", []))]
    for op in ops:
        op["parameters"] = [p for p in op["parameters"] if p.get("in") != "path"]
    refused = bool(ops) and validator_problem(doc) is not None
    suite.case("the validator refuses an undeclared path parameter", None if refused else f"not refused ({len(ops)} operations changed)")


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    manifold, vectors = sys.argv[1], sys.argv[2]
    github = sys.argv[3] if len(sys.argv) > 3 else ""
    with tempfile.TemporaryDirectory(prefix="manifold-openapi-") as work:
        suite = Suite(manifold, work)
        specs = sorted(glob.glob(os.path.join(vectors, "openapi", "*.yaml")) + glob.glob(os.path.join(vectors, "openapi", "*.json")))
        suite.case(f"test vectors found in {vectors}/openapi", None if specs else "none (set MANIFOLD_TEST_VECTORS)")
        specs += sorted(glob.glob(os.path.join(ROOT, "tests", "openapi", "*.yaml")))
        for path in specs:
            real_spec(suite, os.path.splitext(os.path.basename(path))[0], path)
        has_github = bool(github) and os.path.isfile(github)
        suite.case("GitHub's REST API description (@octokit/openapi) present", None if has_github else f"missing: {github!r} (scripts/tools.sh openapi)")
        if has_github:
            real_spec(suite, "api.github.com", github)
        validator_has_teeth(suite)
        repo_configs(suite)
    print(f"{suite.passed} passed, {suite.failed} failed")
    return 1 if suite.failed else 0


if __name__ == "__main__":
    sys.exit(main())
