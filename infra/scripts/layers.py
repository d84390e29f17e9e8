"""The shape the workspace keeps: which crate may depend on which, what the domain may never
pull in, and no module cycles inside any crate.

Cargo already refuses a cycle between crates, but not a crate reaching up a layer (a store
taking the HTTP edge would compile), nor modules of one crate importing each other in a
circle. This script checks both from `cargo metadata` and the sources, and prints every
breach by name.

    python3 infra/scripts/layers.py            # the workspace in the current directory
"""

import json
import re
import subprocess
import sys
from pathlib import Path

from graphs import cycles

# Each shared crate and the shared crates it may depend on, lowest layer first. Functions and
# infra crates sit on top and may use any of them; nothing in shared/ may use a function.
LAYERS = {
    "domain": set(),
    "settings": set(),
    "store": {"domain"},
    "providers": {"domain", "settings"},
    "telemetry": {"domain"},
    "app": {"domain", "settings", "store", "providers", "telemetry"},
    "edge": {"domain", "settings", "store", "providers", "telemetry", "app"},
}

# What the domain must never have anywhere in its dependency tree: I/O, the AWS SDK, HTTP,
# an async runtime or a crypto provider.
DOMAIN_FORBIDDEN = re.compile(
    r"^(aws-.*|aws_.*|hyper.*|reqwest|tokio.*|h2|rustls.*|ring|openssl.*|lambda_.*)$"
)

CRATE_PATH = re.compile(r"\bcrate::(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)")


def crate_breaches(metadata):
    """Upward or unlisted dependencies between the workspace's own crates."""
    members = {p["id"]: p for p in metadata["packages"] if p["id"] in metadata["workspace_members"]}
    names = {p["name"] for p in members.values()}
    breaches = []
    for package in members.values():
        name = package["name"]
        own = sorted(
            d["name"] for d in package["dependencies"] if d["name"] in names and d["kind"] is None
        )
        if name in LAYERS:
            for dep in own:
                if dep not in LAYERS[name]:
                    breaches.append(f"{name} depends on {dep}, which is not below it")
        elif not Path(package["manifest_path"]).parent.parent.name in ("functions", "infra"):
            breaches.append(f"{name} is in no layer; add it to LAYERS in {__file__}")
    return breaches


def domain_breaches(metadata):
    """Forbidden crates anywhere in the domain's normal (non-dev, non-build) dependencies."""
    packages = {p["id"]: p["name"] for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    start = next((i for i, n in packages.items() if n == "domain" and i in nodes), None)
    if start is None:
        return ["no crate named domain in the workspace"]
    seen, todo, found = set(), [start], set()
    while todo:
        node = nodes[todo.pop()]
        for dep in node["deps"]:
            if not any(k["kind"] is None for k in dep["dep_kinds"]):
                continue
            if dep["pkg"] in seen:
                continue
            seen.add(dep["pkg"])
            if DOMAIN_FORBIDDEN.match(packages[dep["pkg"]]):
                found.add(packages[dep["pkg"]])
            todo.append(dep["pkg"])
    return [f"domain depends on {name}" for name in sorted(found)]


def strip_comments(text):
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def module_graph(src):
    """Top-level module -> the other top-level modules of the same crate it names."""
    src = Path(src)
    graph = {}
    for path in sorted(src.rglob("*.rs")):
        rel = path.relative_to(src)
        if rel.parts[0] in ("main.rs", "lib.rs", "bin"):
            continue
        module = rel.parts[0].removesuffix(".rs")
        targets = graph.setdefault(module, set())
        for match in CRATE_PATH.finditer(strip_comments(path.read_text())):
            found = match.group(1)
            heads = (
                [part.strip().split("::")[0] for part in found[1:-1].split(",")]
                if found.startswith("{")
                else [found]
            )
            targets.update(h for h in heads if h and h != module and h != "self")
    return {m: {t for t in ts if t in graph} for m, ts in graph.items()}


def module_breaches(metadata):
    breaches = []
    for package in metadata["packages"]:
        if package["id"] not in metadata["workspace_members"]:
            continue
        src = Path(package["manifest_path"]).parent / "src"
        for cycle in cycles(module_graph(src)):
            breaches.append(f"{package['name']}: modules import each other in a circle: {' -> '.join(cycle)}")
    return breaches


def main():
    metadata = json.loads(
        subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--locked"])
    )
    breaches = crate_breaches(metadata) + domain_breaches(metadata) + module_breaches(metadata)
    for breach in breaches:
        print(f"layers: {breach}", file=sys.stderr)
    if breaches:
        return 1
    print(f"layers: {len(metadata['workspace_members'])} crates in their layers, no module cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
