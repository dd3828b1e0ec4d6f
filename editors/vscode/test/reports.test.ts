import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  endpointDirectory,
  endpointLabel,
  enclosingFunction,
  garbageMarkdown,
  growthMarkdown,
  growthTargetFor,
  parseEndpoint,
  parseServerLogLine,
  ruleCodesFromTable,
  validateGrowthTarget,
  validateIterations,
} from '../src/reports';

describe('garbage report', () => {
  it('renders cycles, types and finalizers', () => {
    const md = garbageMarkdown(
      {
        unreachable: 4,
        by_type: [['app.Node', 2], ['builtins.dict', 2]],
        cycles: [{ members: ['app.Node: <Node a>', 'app.Node: <Node b>'], size: 4, has_finalizer: true }],
        with_finalizers: ['app.Node: <Node a>'],
      },
      'now',
    );
    assert.match(md, /\*\*4\*\* unreachable objects in \*\*1\*\* reference cycle\./);
    assert.match(md, /\| `app.Node` \| 2 \|/);
    assert.match(md, /### Cycle 1: 4 objects — \*\*has a finalizer\*\*/);
    assert.match(md, /… and 2 more/);
    assert.match(md, /## With finalizers/);
  });

  it('says when there is nothing', () => {
    assert.match(garbageMarkdown({ unreachable: 0, by_type: [], cycles: [], with_finalizers: [] }, 'now'), /nothing unreachable/);
  });
});

describe('growth report', () => {
  it('renders types, sites and retainers', () => {
    const md = growthMarkdown(
      {
        target: 'app:handle',
        iterations: 5,
        types: [{ type: 'builtins.dict', counts: [10, 11, 12], per_call: 1, gc_tracked: true }],
        sites: [{ file: '/ws/app.py', line: 7, type: 'builtins.dict', per_call: 1 }],
        retainers: [{ description: 'global _LOG in module app', chain: [], new_objects: 1 }],
      },
      'now',
    );
    assert.match(md, /\| `builtins.dict` \| \+1 \| 10 → 11 → 12 \| yes \|/);
    assert.match(md, /\[app.py:7\]\(file:\/\/\/ws\/app.py#L7\)/);
    assert.match(md, /\*\*global _LOG in module app\*\* holds 1/);
  });
});

describe('growth target', () => {
  const source = [
    'import os',
    '',
    'def handle(request):',
    '    data = {}',
    '    if request:',
    '        data["x"] = 1',
    '',
    '    return data',
    '',
    'class Service:',
    '    def run(self):',
    '        pass',
  ];

  it('finds the enclosing top-level function', () => {
    assert.equal(enclosingFunction(source, 5), 'handle');
    assert.equal(enclosingFunction(source, 2), 'handle');
    assert.equal(enclosingFunction(source, 6), 'handle');
    assert.equal(enclosingFunction(source, 0), undefined);
    assert.equal(growthTargetFor('app.py', source, 3), 'app.py:handle');
  });

  it('does not offer methods (growth calls a function with no arguments)', () => {
    assert.equal(enclosingFunction(source, 11), undefined);
  });

  it('validates what the user types', () => {
    assert.equal(validateGrowthTarget('shop.jobs:run'), undefined);
    assert.equal(validateGrowthTarget('src/app.py:handle'), undefined);
    assert.ok(validateGrowthTarget('shop.jobs'));
    assert.ok(validateGrowthTarget('app.py:'));
    assert.ok(validateGrowthTarget('app.py:1x'));
    assert.equal(validateIterations('5'), undefined);
    assert.ok(validateIterations('1'));
    assert.ok(validateIterations('five'));
  });
});

describe('attach endpoints', () => {
  it('finds the endpoint directory like the agent', () => {
    assert.equal(endpointDirectory({ XDG_RUNTIME_DIR: '/run/user/1000' }, '/tmp', 1000, () => true), '/run/user/1000/reflens');
    assert.equal(endpointDirectory({ XDG_RUNTIME_DIR: '/gone' }, '/tmp', 1000, () => false), '/tmp/reflens-1000');
    assert.equal(endpointDirectory({}, '/tmp/', 0, () => true), '/tmp/reflens-0');
  });

  it('reads endpoint files', () => {
    const endpoint = parseEndpoint('/run/reflens/77.json', JSON.stringify({ pid: 77, socket: '/run/reflens/77.sock', token: 'secret', argv: ['serve.py', '--port', '8000'], python: '3.12.1 (main, …)' }));
    assert.deepEqual(endpointLabel(endpoint!), { label: 'pid 77', description: 'serve.py --port 8000 · Python 3.12.1' });
    assert.equal(parseEndpoint('x', '{"pid": "77"}'), undefined);
    assert.equal(parseEndpoint('x', 'not json'), undefined);
  });
});

describe('helpers', () => {
  it('reads the level of server log lines', () => {
    assert.deepEqual(parseServerLogLine('2025-11-23T19:39:00.123456Z  WARN reflens::lsp: change to a document that is not open'), {
      level: 'warn',
      message: 'reflens::lsp: change to a document that is not open',
    });
    assert.deepEqual(parseServerLogLine(' INFO reflens::lsp::session: initialize'), { level: 'info', message: 'reflens::lsp::session: initialize' });
    assert.deepEqual(parseServerLogLine('thread panicked'), { level: 'info', message: 'thread panicked' });
  });

  it('reads rule codes from `reflens rule --all`', () => {
    const table = '| code | name | finds | fix |\n|---|---|---|---|\n| RL101 | `method-cache` | `functools.lru_cache` on a method | A fix |\n';
    assert.deepEqual(ruleCodesFromTable(table), [{ code: 'RL101', name: 'method-cache', summary: 'functools.lru_cache on a method' }]);
  });
});
