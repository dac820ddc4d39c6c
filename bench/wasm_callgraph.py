#!/usr/bin/env python3
"""Who links what in a wasm module: queries on binaryen's call graph, sizes from the module's
name section (bench/wasm_size.py reads it). Built for the Worker bundle work
(bench/profile-notes.md, "Worker bundle, step 4").

    M=$CARGO_TARGET_DIR/wasm32-unknown-unknown/release-small/manifold_worker.wasm  # names kept
    "$WASM_OPT_BIN" "$M" --print-call-graph -o /dev/null > cg.dot
    python3 bench/wasm_callgraph.py "$M" cg.dot excl 'manifold_worker_ports::store::'
    python3 bench/wasm_callgraph.py "$M" cg.dot callers 'Discovery::lookup' 3
    python3 bench/wasm_callgraph.py "$M" cg.dot modules '^manifold_(core|worker)' 3
    python3 bench/wasm_callgraph.py "$M" cg.dot grep 'websocket'

  excl RE [N]        bytes of code no longer reachable if the functions whose demangled name
                     matches RE were gone ("would go"); roots: exports and indirect-call
                     targets not matching RE. The N largest such functions.
  callers RE [DEPTH] reverse direct calls of the functions matching RE.
  modules RE DEPTH   "would go" for every module path (DEPTH segments) matching RE.
  grep RE [N]        the matching functions, largest first.

Direct calls only: an indirect call (a vtable, a future's poll) shows up as its target being
a root, so "would go" undercounts what a trait object keeps, and inlined code counts at its
caller. Needs `c++filt` (binutils) for the names.
"""
import collections
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wasm_size  # noqa: E402


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    module, dot, cmd, *args = sys.argv[1:]
    _, bodies, names, imported, _ = wasm_size.read(module)
    size = {names[imported + k]: s for k, s in enumerate(bodies) if imported + k in names}
    mangled = list(size)
    out = subprocess.run(["c++filt"], input="\n".join(mangled), capture_output=True,
                         text=True, check=True).stdout.split("\n")
    demangled = dict(zip(mangled, out))
    edges, callers, style = collections.defaultdict(set), collections.defaultdict(set), {}
    for line in open(dot):
        m = re.match(r'\s*"(.*)" -> "(.*)";', line)
        if m:
            a, b = m.groups()
            edges[a].add(b)
            callers[b].add(a)
            continue
        m = re.match(r'\s*"(.*)" \[style="([^"]*)"(?:, fillcolor="(\w+)")?\]', line)
        if m:
            kind = (m.group(3) or "") + ("/indirect" if "rounded" in m.group(2) else "")
            style[m.group(1)] = style.get(m.group(1), "") + kind
    roots = [n for n, s in style.items() if s.startswith("gray") or "indirect" in s]

    def name(n):
        return demangled.get(n, n)

    def reach(excluded):
        seen, stack = set(), [r for r in roots if r not in excluded]
        while stack:
            n = stack.pop()
            if n in seen or n in excluded:
                continue
            seen.add(n)
            stack.extend(edges[n])
        return seen

    def total(fns):
        return sum(size.get(n, 0) for n in fns)

    matching = lambda rx: {n for n in size if re.search(rx, name(n))}  # noqa: E731
    if cmd == "excl":
        selected = matching(args[0])
        base = reach(set())
        gone = base - reach(selected)
        print(f"{len(selected)} functions match ({total(selected)} B); without them "
              f"{len(gone)} functions, {total(gone)} B, are unreachable "
              f"(of {total(base)} B reachable)")
        top = int(args[1]) if len(args) > 1 else 25
        for n in sorted(gone, key=lambda n: -size.get(n, 0))[:top]:
            print(f"  {size.get(n, 0):8d} {name(n)[:160]}")
    elif cmd == "callers":
        depth = int(args[1]) if len(args) > 1 else 3

        def tree(n, level, seen):
            for c in sorted(callers[n]):
                print("  " * level + f"<- {size.get(c, 0)} {name(c)[:150]} [{style.get(c, '')}]")
                if level < depth and c not in seen:
                    tree(c, level + 1, seen | {c})

        for n in sorted(matching(args[0]), key=lambda n: -size[n])[:10]:
            print(f"{size[n]} {name(n)[:160]} [{style.get(n, '')}]")
            tree(n, 1, {n})
    elif cmd == "modules":
        depth = int(args[1])
        groups = collections.defaultdict(set)
        for n in size:
            path = wasm_size.path_of(name(n), depth)
            if re.search(args[0], path):
                groups[path].add(n)
        base = total(reach(set()))
        rows = [(base - total(reach(fns)), total(fns), p) for p, fns in groups.items()]
        print("would go      own  module")
        for gone, own, path in sorted(rows, reverse=True)[:60]:
            print(f"{gone:8d} {own:8d}  {path}")
    elif cmd == "grep":
        selected = sorted(matching(args[0]), key=lambda n: -size[n])
        print(f"{len(selected)} functions, {total(selected)} B")
        for n in selected[:int(args[1]) if len(args) > 1 else 30]:
            print(f"  {size[n]:8d} {name(n)[:160]} [{style.get(n, '')}]")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
