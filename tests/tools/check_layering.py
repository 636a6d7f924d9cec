#!/usr/bin/env python3
"""Checks that every layer's includes match the dependencies its CMake target declares.

Usage: check_layering.py SRC_DIR LAYER=ALL_DEPS:PUBLIC_DEPS ...
(deps comma-separated layer names, as tests/CMakeLists.txt reads them from the targets).

Rules, over the non-test sources of src/<layer>/ (*_test.cc and testing/ are test code):
 1. a source that includes <other>/... belongs to a layer that links tresor_<other>;
 2. a layer links no tresor_<other> that none of its sources includes;
 3. a header that other layers include (directly or through other headers) includes
    only layers its target links PUBLIC;
 4. nothing that dimse/, web/, dicomweb/ or syslog/ compile reaches a store/ header: protocol adapters go
    through archive/, which keeps store/ private.
Prints every violation and exits 1 if there is any.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([^"]+)"', re.M)
ADAPTERS = ("dimse", "web", "dicomweb", "syslog")


def main():
    src = sys.argv[1]
    deps = {}
    for arg in sys.argv[2:]:
        layer, spec = arg.split("=", 1)
        all_deps, public = spec.split(":", 1)
        deps[layer] = ({d for d in all_deps.split(",") if d}, {d for d in public.split(",") if d})
    layers = set(deps)

    def is_test(path):
        return path.endswith("_test.cc") or os.sep + "testing" + os.sep in path

    includes = {}  # relative path -> [(layer, relative path)]
    sources = {layer: [] for layer in layers}
    for layer in layers:
        folder = os.path.join(src, layer)
        for root, _, files in os.walk(folder):
            for name in files:
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(root, name)
                rel = os.path.relpath(path, src)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                includes[rel] = [(m.group(1), m.group(1) + "/" + m.group(2))
                                 for m in INCLUDE.finditer(text) if m.group(1) in layers]
                if not is_test(path):
                    sources[layer].append(rel)

    errors = []
    for layer in sorted(layers):
        all_deps, public = deps[layer]
        used = set()
        for rel in sources[layer]:
            for other, header in includes[rel]:
                if other == layer:
                    continue
                used.add(other)
                if other not in all_deps:
                    errors.append(f"src/{rel} includes {header}, but tresor_{layer} does not "
                                  f"link tresor_{other}")
        for unused in sorted(all_deps - used):
            errors.append(f"tresor_{layer} links tresor_{unused}, but nothing in src/{layer}/ "
                          f"includes {unused}/")

    # Headers reachable from each layer's sources, with the chain that reaches them.
    def reach(start):
        seen = {}
        stack = [(s, [s]) for s in start]
        while stack:
            rel, chain = stack.pop()
            for _, header in includes.get(rel, []):
                if header not in seen and header in includes:
                    seen[header] = chain + [header]
                    stack.append((header, chain + [header]))
        return seen

    exposed = {}
    for layer in layers:
        for header, chain in reach(sources[layer]).items():
            owner = header.split("/", 1)[0]
            if owner != layer:
                exposed.setdefault(header, chain)
    for header, chain in sorted(exposed.items()):
        owner = header.split("/", 1)[0]
        for other, included in includes[header]:
            if other != owner and other not in deps[owner][1]:
                errors.append(f"{header} is included from another layer ({' -> '.join(chain)}) "
                              f"and includes {included}, but tresor_{owner} does not link "
                              f"tresor_{other} PUBLIC")

    for layer in ADAPTERS:
        for header, chain in sorted(reach(sources.get(layer, [])).items()):
            if header.startswith("store/"):
                errors.append(f"src/{layer}/ reaches a store/ header: {' -> '.join(chain)}")

    for e in errors:
        print("FAIL:", e)
    checked = sum(len(v) for v in sources.values())
    print(f"layering: {checked} sources in {len(layers)} layers checked, {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
