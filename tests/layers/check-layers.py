#!/usr/bin/env python3
"""The layer graph is written down once, in docs/ARCHITECTURE.md ("Layers and
their rules"), and must hold in two other places:

  * the #includes: a file in src/L/ includes only headers of L and of the
    layers L depends on (directly or through a lower layer);
  * the build: src/meson.build links each layer's library with exactly the
    layers the table names (and the shared "layer check" libraries turn any
    call up the graph into a link error).

Exits 1 with one line per violation, naming file and line."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2])
doc = (root / "docs/ARCHITECTURE.md").read_text()
section = doc.split("## Layers and their rules", 1)[1].split("\n## ", 1)[0]

deps = {}
for line in section.splitlines():
    m = re.match(r"\|\s*`src/([a-z-]+)/`\s*\|([^|]*)\|", line)
    if m:
        deps[m.group(1)] = {d.strip() for d in m.group(2).split(",") if d.strip()}
if not deps:
    sys.exit("check-layers: no layer table found in docs/ARCHITECTURE.md")
layers = set(deps)
# Names in the table that are not layers are external libraries (libc, json-c, ...).
direct = {l: {d for d in ds if d in layers} for l, ds in deps.items()}


def closure(l, seen=None):
    seen = set() if seen is None else seen
    for d in direct[l]:
        if d not in seen:
            seen.add(d)
            closure(d, seen)
    return seen


errors = []
for l in sorted(layers):
    if l in closure(l):
        errors.append(f"docs/ARCHITECTURE.md: layer {l} depends on itself (a cycle)")
allowed = {l: closure(l) | {l} for l in layers}

present = {p.name for p in (root / "src").iterdir() if p.is_dir()}
for d in sorted(present - layers):
    errors.append(f"src/{d}/: a folder that docs/ARCHITECTURE.md's layer table does not list")

for l in sorted(layers & present):
    for f in sorted((root / "src" / l).glob("*.[ch]")):
        for n, text in enumerate(f.read_text().splitlines(), 1):
            m = re.match(r'\s*#\s*include\s+"([a-z-]+)/', text)
            if m and m.group(1) in layers and m.group(1) not in allowed[l]:
                errors.append(f"{f.relative_to(root)}:{n}: includes {m.group(1)}/, "
                              f"but layer {l} may use only {', '.join(sorted(allowed[l] - {l})) or 'libc'}")

# The build's link graph: ['NAME', NAME_sources, ['lower', ...], ...] in src/meson.build.
build = (root / "src/meson.build").read_text()
linked = {}
for m in re.finditer(r"\[\s*'([a-z-]+)',\s*[a-z_]+_sources,\s*\[([^\]]*)\]", build):
    linked.setdefault(m.group(1), set()).update(re.findall(r"'([a-z-]+)'", m.group(2)))
for l in sorted(linked):
    if l not in layers:
        errors.append(f"src/meson.build: library {l} is not a layer in docs/ARCHITECTURE.md")
        continue
    extra = linked[l] - allowed[l]
    if extra:
        errors.append(f"src/meson.build: {l} links with {', '.join(sorted(extra))}, which the table does not allow")

for e in errors:
    print(e)
print(f"check-layers: {len(layers)} layers, {len(errors)} violation(s)")
sys.exit(1 if errors else 0)
