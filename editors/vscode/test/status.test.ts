import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { baseName, isAlive, LiveState, shortTarget, stateLogLine, statusFor } from '../src/status';

const state = (over: Partial<LiveState>): LiveState => ({
  session: 1,
  root: '/ws',
  state: 'running',
  target: '/ws/app.py',
  pid: 4242,
  python: '3.11.2',
  location: null,
  detail: null,
  log: '/cache/session-1.log',
  ...over,
});

describe('statusFor', () => {
  it('offers to start a session when there is none', () => {
    const view = statusFor(undefined);
    assert.equal(view.text, '$(pulse) reflens');
    assert.equal(view.command, 'reflens.startLiveSession');
  });

  it('shows a running program and stops it on click', () => {
    const view = statusFor(state({ state: 'running' }));
    assert.equal(view.text, '$(sync~spin) reflens: running app.py');
    assert.equal(view.command, 'reflens.stopLiveSession');
    assert.match(view.tooltip, /pid 4242/);
  });

  it('shows where a paused program stopped (1-based) and continues on click', () => {
    const view = statusFor(state({ state: 'paused', location: { uri: 'file:///ws/shop/app.py', line: 11, function: 'load' } }));
    assert.equal(view.text, '$(debug-pause) reflens: paused at app.py:12');
    assert.equal(view.command, 'reflens.continue');
    assert.equal(view.tone, 'warning');
    assert.match(view.tooltip, /in load/);
  });

  it('says a finished program can still be inspected', () => {
    const view = statusFor(state({ state: 'finished', detail: 'ValueError: boom\nTraceback...' }));
    assert.equal(view.text, '$(pass) reflens: finished app.py');
    assert.match(view.tooltip, /ValueError: boom/);
    assert.match(view.tooltip, /still be inspected/);
  });

  it('shows crashes as errors', () => {
    const view = statusFor(state({ state: 'crashed', detail: 'killed by SIGSEGV' }));
    assert.equal(view.tone, 'error');
    assert.equal(view.command, 'reflens.showProgramOutput');
    assert.equal(isAlive(state({ state: 'crashed' })), false);
    assert.equal(isAlive(state({ state: 'finished' })), true);
  });

  it('covers every state', () => {
    for (const s of ['starting', 'ready', 'running', 'paused', 'finished', 'exited', 'crashed'] as const) {
      const view = statusFor(state({ state: s }));
      assert.match(view.text, /reflens/);
      assert.ok(view.command.startsWith('reflens.'));
    }
  });
});

describe('short names', () => {
  it('shortens targets', () => {
    assert.equal(shortTarget('/ws/tests/test_app.py::test_order'), 'test_app.py::test_order');
    assert.equal(shortTarget('/ws/shop/jobs.py:run'), 'jobs.py:run');
    assert.equal(shortTarget('shop.jobs:run'), 'shop.jobs:run');
    assert.equal(shortTarget(null), '');
    assert.equal(baseName('file:///ws/my%20app.py'), 'my app.py');
  });

  it('logs state changes for the program channel', () => {
    assert.equal(stateLogLine(state({ state: 'running' })), undefined);
    assert.match(stateLogLine(state({ state: 'finished', detail: 'SystemExit(3)' })) ?? '', /finished: SystemExit\(3\)/);
    assert.equal(stateLogLine(state({ state: 'starting', target: null })), '── session 1: starting ──');
  });
});
