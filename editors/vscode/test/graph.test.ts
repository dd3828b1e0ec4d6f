import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { buildGraph, bytes, escapeXml, graphHtml, layoutGraph, ObjectFacts, renderSvg, shortType } from '../src/graph';

const facts = (over: Partial<ObjectFacts> = {}): ObjectFacts => ({
  expression: 'conn',
  scope: 'global in module app',
  type: 'sqlite3.Connection',
  repr: '<sqlite3.Connection object at 0x7f>',
  refcount: 2,
  immortal: false,
  referrers: [
    { kind: 'global', description: 'global conn in module app', type: 'builtins.dict', count: 1 },
    { kind: 'listItem', description: 'item [0] of list POOL', type: 'builtins.list', count: 1 },
  ],
  chain: [
    { kind: 'global', description: 'module app', type: 'builtins.module' },
    { kind: 'global', description: 'global POOL', type: 'builtins.list' },
    { kind: 'listItem', description: 'item [0]', type: 'sqlite3.Connection' },
  ],
  size: 120,
  deep_size: 2048,
  retained_size: 4096,
  in_cycle: false,
  uncollectable: false,
  weakrefable: true,
  ...over,
});

describe('buildGraph', () => {
  it('turns the chain into nodes from the root to the object', () => {
    const graph = buildGraph(facts());
    const labels = graph.chain.map((id) => graph.nodes.find((n) => n.id === id)?.label);
    assert.deepEqual(labels, ['module app', 'list', 'conn']);
    const chainEdges = graph.edges.filter((e) => e.role === 'chain').map((e) => e.label);
    assert.deepEqual(chainEdges, ['global POOL', 'item [0]']);
    const object = graph.nodes.find((n) => n.id === graph.object);
    assert.equal(object?.detail, 'Connection · 2 refs');
  });

  it('adds each referrer with an edge to the object', () => {
    const graph = buildGraph(facts({ referrers: [{ kind: 'dictValue', description: "value for key 'db' of dict cfg", type: 'builtins.dict', count: 3 }] }));
    assert.equal(graph.referrers.length, 1);
    const edge = graph.edges.find((e) => e.from === graph.referrers[0]);
    assert.deepEqual(edge, { from: 'referrer0', to: 'object', label: 'dict value ×3', role: 'referrer' });
  });

  it('keeps an object whose chain does not end at its type', () => {
    const graph = buildGraph(facts({ chain: [{ kind: 'frame', description: 'frame of main()', type: 'builtins.frame' }] }));
    assert.deepEqual(graph.chain, ['chain0', 'object']);
    assert.equal(graph.edges.find((e) => e.role === 'chain')?.label, 'refers to');
  });

  it('draws a lone object', () => {
    const graph = buildGraph(facts({ chain: [], referrers: [], refcount: null }));
    assert.deepEqual(graph.chain, ['object']);
    assert.equal(graph.edges.length, 0);
    assert.match(graph.nodes[0].detail, /immortal/);
  });
});

describe('layoutGraph', () => {
  it('places the chain left to right on one row, the object last', () => {
    const layout = layoutGraph(buildGraph(facts()));
    const node = (id: string) => layout.nodes.find((n) => n.id === id)!;
    const chain = ['chain0', 'chain1', 'object'].map(node);
    assert.equal(new Set(chain.map((n) => n.y)).size, 1);
    assert.ok(chain[0].x + chain[0].width < chain[1].x);
    assert.ok(chain[1].x + chain[1].width < chain[2].x);
  });

  it('stacks referrers under the chain, left of the object, without overlaps', () => {
    const layout = layoutGraph(buildGraph(facts()));
    const boxes = layout.nodes;
    for (let i = 0; i < boxes.length; i += 1) {
      for (let j = i + 1; j < boxes.length; j += 1) {
        const a = boxes[i];
        const b = boxes[j];
        const overlap = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
        assert.equal(overlap, false, `${a.id} overlaps ${b.id}`);
      }
    }
    const object = boxes.find((n) => n.id === 'object')!;
    for (const r of boxes.filter((n) => n.role === 'referrer')) {
      assert.ok(r.x + r.width < object.x, `${r.id} is left of the object`);
      assert.ok(r.y > object.y, `${r.id} is under the chain`);
    }
    for (const n of boxes) {
      assert.ok(n.x >= 0 && n.y >= 0 && n.x + n.width <= layout.width && n.y + n.height <= layout.height);
    }
  });

  it('leaves room for chain edge labels between columns', () => {
    const long = 'attribute a_really_long_attribute_name';
    const layout = layoutGraph(buildGraph(facts({ chain: [{ kind: 'global', description: 'module app', type: 'builtins.module' }, { kind: 'attribute', description: long, type: 'sqlite3.Connection' }] })));
    const [root, object] = [layout.nodes.find((n) => n.id === 'chain0')!, layout.nodes.find((n) => n.id === 'object')!];
    assert.ok(object.x - (root.x + root.width) >= long.length * 7);
  });

  it('shortens very long labels', () => {
    const layout = layoutGraph(buildGraph(facts({ expression: 'x'.repeat(200), referrers: [], chain: [] })));
    assert.ok(layout.nodes[0].shownLabel.length <= 44);
    assert.ok(layout.nodes[0].shownLabel.endsWith('…'));
  });
});

describe('drawing', () => {
  it('escapes what the program controls', () => {
    const svg = renderSvg(layoutGraph(buildGraph(facts({ expression: 'cfg["<b>"]', repr: '<script>alert(1)</script>' }))));
    assert.doesNotMatch(svg, /<script>/);
    assert.match(svg, /cfg\[&quot;&lt;b&gt;&quot;\]/);
    assert.equal(escapeXml(`<&>"'`), '&lt;&amp;&gt;&quot;&#39;');
  });

  it('draws one group per node and edge', () => {
    const layout = layoutGraph(buildGraph(facts()));
    const svg = renderSvg(layout);
    assert.equal((svg.match(/<g class="node /g) ?? []).length, layout.nodes.length);
    assert.equal((svg.match(/<g class="edge /g) ?? []).length, layout.edges.length);
  });

  it('makes a page with no script and no remote resource', () => {
    const html = graphHtml(facts({ repr: '<script src="https://cdn.example/x.js"></script>' }), 'app.py:3');
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /src="http/);
    assert.match(html, /default-src 'none'/);
    assert.match(html, /What keeps <code>conn<\/code> alive/);
  });

  it('formats types and sizes', () => {
    assert.equal(shortType('builtins.list'), 'list');
    assert.equal(shortType('app.models.Session'), 'Session');
    assert.equal(bytes(56), '56 B');
    assert.equal(bytes(2048), '2.0 KiB');
  });
});
