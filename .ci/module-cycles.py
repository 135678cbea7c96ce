#!/usr/bin/env python3
"""Fails when protocol-core's modules use each other in a cycle.

A module is a file under protocol-core/src. An edge is a `crate::...` or `super::...` path in its
code (comments, doc links and `#[cfg(test)] mod tests` left out), resolved to the file that
defines it, through lib.rs's re-exports for root paths. Prints each cycle with its edges."""
import re, os, sys, itertools
root = sys.argv[1] if len(sys.argv) > 1 else 'protocol-core/src'
mods = {}
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'): continue
        p = os.path.join(dp, f); rel = os.path.relpath(p, root)[:-3]
        parts = rel.split('/')
        if parts[-1] in ('mod', 'lib'): parts = parts[:-1]
        if parts == ['private']: parts = ['__private']
        mods['::'.join(parts)] = p
names = set(mods)
def resolve(path):
    segs = path.split('::')
    for i in range(len(segs), 0, -1):
        c = '::'.join(segs[:i])
        if c in names: return c
    return None
alias = {'hub':'runtime::hub','server':'runtime::server','client':'runtime::client','connection':'runtime::connection','history':'runtime::history','redis':'runtime::redis','axum':'runtime::axum','tls':'runtime::tls','token':'runtime::token'}
edges = {m: set() for m in names}
rootmap = {}
lib = open(os.path.join(root, 'lib.rs')).read()
for mt in re.finditer(r'pub use ([a-z_:]+)::\{([^}]*)\}|pub use ([a-z_:]+)::([A-Za-z_][A-Za-z0-9_]*);', lib):
    if mt.group(1):
        for n in mt.group(2).split(','):
            n = n.strip()
            if n: rootmap[n] = mt.group(1)
    else:
        rootmap[mt.group(4)] = mt.group(3)
for m, p in mods.items():
    src = open(p).read()
    src = src.split('#[cfg(test)]\nmod tests')[0]
    lines = [l for l in src.split('\n') if not l.strip().startswith('//')]
    text = '\n'.join(lines)
    # expand use crate::{a, b::{c}} roughly
    for mt in re.finditer(r'crate::((?:\{[^;]*?\})|(?:[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*))', text):
        body = mt.group(1)
        paths = []
        if body.startswith('{'):
            for piece in re.split(r',', body.strip('{}')):
                piece = piece.strip().split('::{')[0].split(' as ')[0]
                if piece: paths.append(piece)
        else:
            paths.append(body)
        for q in paths:
            q = q.strip()
            first = q.split('::')[0]
            if first in rootmap and first not in names and not q.startswith(rootmap[first]): q = rootmap[first].replace('runtime::','runtime::',1) + '::' + q
            if first in alias: q = alias[first] + q[len(first):]
            t = resolve(q)
            if t and t != m and not m.startswith(t + '::') and not t.startswith(m + '::'):
                edges[m].add(t)
    for mt in re.finditer(r'\bsuper::([A-Za-z_][A-Za-z0-9_]*)', text):
        parent = '::'.join(m.split('::')[:-1])
        q = (parent + '::' if parent else '') + mt.group(1)
        t = resolve(q)
        if t and t != m and t != parent: edges[m].add(t)
# SCCs
idx = {}; low = {}; st = []; on = set(); out = []; c = [0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: out.append(comp)
for v in sorted(names):
    if v not in idx: sc(v)
for comp in out:
    print('cycle:', ' '.join(sorted(comp)))
    for a in sorted(comp):
        print('  ', a, '->', ' '.join(sorted(e for e in edges[a] if e in comp)))
if not out: print('no module cycles')
sys.exit(1 if out else 0)
