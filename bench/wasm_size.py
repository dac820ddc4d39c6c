#!/usr/bin/env python3
"""Where a wasm module's bytes go: its sections, and the code section's function bodies
attributed by the name section (by crate, by module path, the largest functions).

Build with the name section kept (`MANIFOLD_WORKER_NAMES=1 edge-worker/build.sh`), then:

    python3 bench/wasm_size.py edge-worker/build/index_bg.wasm [--top 30] [--depth 3]
    python3 bench/wasm_size.py A.wasm --diff B.wasm     # per-module-path change, B - A

Sizes are raw bytes of function bodies. The optimizer inlines the request path into a few
large functions, so "by crate" counts inlined code at its caller (docs: bench/profile-notes.md,
"Worker bundle"). Standard library only: no twiggy needed.
"""
import argparse
import collections
import gzip
import re
import sys


def leb(buf, i):
    """An unsigned LEB128 at `i`: (value, next index)."""
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


SECTIONS = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
            6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data",
            12: "datacount", 13: "tag"}


def read(path):
    """(sections [(name, size)], bodies [size by function index], names {index: name})."""
    buf = open(path, "rb").read()
    if buf[:4] != b"\0asm":
        sys.exit(f"{path}: not a wasm module")
    i, sections, bodies, names, imported = 8, [], [], {}, 0
    while i < len(buf):
        sid = buf[i]
        size, start = leb(buf, i + 1)
        end = start + size
        name = SECTIONS.get(sid, f"#{sid}")
        if sid == 0:
            n, j = leb(buf, start)
            custom = buf[j:j + n].decode("utf-8", "replace")
            name = f"custom:{custom}"
            if custom == "name":
                names = name_section(buf, j + n, end)
        elif sid == 2:
            count, j = leb(buf, start)
            for _ in range(count):
                for _ in range(2):  # module, field
                    n, j = leb(buf, j)
                    j += n
                kind = buf[j]
                j += 1
                if kind == 0:
                    _, j = leb(buf, j)
                    imported += 1
                elif kind == 1:
                    j += 1
                    flags, j = leb(buf, j)
                    _, j = leb(buf, j)
                    if flags & 1:
                        _, j = leb(buf, j)
                elif kind == 2:
                    flags, j = leb(buf, j)
                    _, j = leb(buf, j)
                    if flags & 1:
                        _, j = leb(buf, j)
                elif kind == 3:
                    j += 2
                elif kind == 4:
                    j += 1
                    _, j = leb(buf, j)
        elif sid == 10:
            count, j = leb(buf, start)
            for _ in range(count):
                n, k = leb(buf, j)
                bodies.append(k + n - j)
                j = k + n
        sections.append((name, end - i))
        i = end
    return sections, bodies, names, imported, buf


def name_section(buf, i, end):
    """The function names (subsection 1) of a name section."""
    names = {}
    while i < end:
        sub = buf[i]
        size, j = leb(buf, i + 1)
        if sub == 1:
            count, k = leb(buf, j)
            for _ in range(count):
                idx, k = leb(buf, k)
                n, k = leb(buf, k)
                names[idx] = buf[k:k + n].decode("utf-8", "replace")
                k += n
        i = j + size
    return names


HASH = re.compile(r"::h[0-9a-f]{16}$")


def path_of(name, depth):
    """A demangled name's module path, `depth` segments deep: `<T as Trait>::f` counts as
    T's (the implementing type's crate), generic arguments dropped."""
    name = HASH.sub("", name)
    while name.startswith("<"):
        level, end = 0, len(name)
        for k, c in enumerate(name):
            level += (c == "<") - (c == ">")
            if level == 0:
                end = k
                break
        name = re.sub(r"^(?:[&*]|mut |const |dyn |\(|\[)+", "", name[1:end].split(" as ")[0])
    while True:
        stripped = re.sub(r"<[^<>]*>", "", name)
        if stripped == name:
            break
        name = stripped
    name = re.sub(r"\[[0-9a-f]+\]", "", name)  # core[c5930c85a12de822]
    parts = [p for p in name.split("::") if p]
    return "::".join(parts[:depth]) if parts else "?"


def attribute(path, depth):
    sections, bodies, names, imported, buf = read(path)
    by = collections.Counter()
    funcs = []
    for k, size in enumerate(bodies):
        name = names.get(imported + k, f"<func {imported + k}>")
        by[path_of(name, depth)] += size
        funcs.append((size, name))
    return sections, by, sorted(funcs, reverse=True), buf


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("wasm")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--depth", type=int, default=1, help="module path segments to group by")
    ap.add_argument("--diff", help="a second module: print its change per group")
    a = ap.parse_args()
    sections, by, funcs, buf = attribute(a.wasm, a.depth)
    code = sum(by.values())
    print(f"{a.wasm}: {len(buf):,} B, gzip -9 {len(gzip.compress(buf, 9)):,} B")
    for name, size in sections:
        print(f"  section {name:<28} {size:>10,}")
    if a.diff:
        s2, by2, _, buf2 = attribute(a.diff, a.depth)
        print(f"{a.diff}: {len(buf2):,} B, gzip -9 {len(gzip.compress(buf2, 9)):,} B")
        for name, size in s2:
            print(f"  section {name:<28} {size:>10,}")
        delta = {k: by2.get(k, 0) - by.get(k, 0) for k in set(by) | set(by2)}
        print("change in code by group (second - first):")
        for k, d in sorted(delta.items(), key=lambda kv: kv[1])[: a.top]:
            if d:
                print(f"  {d:>+10,}  {k}")
        return
    print(f"code by group (depth {a.depth}), function bodies {code:,} B:")
    for k, size in by.most_common(a.top):
        print(f"  {size:>10,}  {100 * size / code:5.1f} %  {k}")
    print("largest functions:")
    for size, name in funcs[: a.top]:
        print(f"  {size:>10,}  {name[:150]}")


if __name__ == "__main__":
    main()
