import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  binaryCandidates,
  Candidate,
  expandPath,
  failureMessage,
  findServer,
  judgeVersion,
  ProbeResult,
} from '../src/binary';

const files = (...paths: string[]) => (file: string) => paths.includes(file);

describe('binaryCandidates', () => {
  const base = { bundledDir: '/ext/bin', envPath: '/usr/local/bin:/usr/bin', home: '/home/u', workspaceFolder: '/ws' };

  it('uses only the setting when it is set', () => {
    const candidates = binaryCandidates({ ...base, setting: '/opt/reflens', isFile: files('/ext/bin/reflens', '/usr/bin/reflens') });
    assert.deepEqual(candidates, [{ path: '/opt/reflens', source: 'setting' }]);
  });

  it('prefers the bundled binary, then PATH', () => {
    const candidates = binaryCandidates({ ...base, setting: '', isFile: files('/ext/bin/reflens', '/usr/bin/reflens') });
    assert.deepEqual(candidates, [
      { path: '/ext/bin/reflens', source: 'bundled' },
      { path: '/usr/bin/reflens', source: 'path' },
    ]);
  });

  it('takes the first match on PATH when nothing is bundled', () => {
    const candidates = binaryCandidates({
      ...base,
      setting: undefined,
      isFile: files('/usr/local/bin/reflens', '/usr/bin/reflens'),
    });
    assert.deepEqual(candidates, [{ path: '/usr/local/bin/reflens', source: 'path' }]);
  });

  it('finds nothing when there is nothing', () => {
    assert.deepEqual(binaryCandidates({ ...base, setting: '  ', isFile: files() }), []);
  });

  it('looks a bare name in the setting up on PATH', () => {
    const candidates = binaryCandidates({ ...base, setting: 'reflens-dev', isFile: files('/usr/bin/reflens-dev') });
    assert.deepEqual(candidates, [{ path: '/usr/bin/reflens-dev', source: 'setting' }]);
  });

  it('expands ~, ${workspaceFolder}, ${env:X} and relative paths', () => {
    assert.equal(expandPath('~/bin/reflens', '/home/u'), '/home/u/bin/reflens');
    assert.equal(expandPath('${workspaceFolder}/target/release/reflens', '/home/u', '/ws'), '/ws/target/release/reflens');
    assert.equal(expandPath('target/release/reflens', '/home/u', '/ws'), '/ws/target/release/reflens');
    assert.equal(expandPath('${env:TOOLS}/reflens', '/home/u', '/ws', { TOOLS: '/t' }), '/t/reflens');
  });
});

describe('judgeVersion', () => {
  it('accepts reflens --version', () => {
    assert.deepEqual(judgeVersion({ exitCode: 0, stdout: 'reflens 0.1.0\n', stderr: '' }), { ok: true, version: '0.1.0' });
  });

  it('explains each failure', () => {
    const reason = (r: ProbeResult) => (r.ok ? '' : r.reason);
    assert.equal(reason(judgeVersion({ errorCode: 'ENOENT', exitCode: null, stdout: '', stderr: '' })), 'no such file');
    assert.match(reason(judgeVersion({ errorCode: 'EACCES', exitCode: null, stdout: '', stderr: '' })), /not executable/);
    assert.match(reason(judgeVersion({ errorCode: 'ETIMEDOUT', exitCode: null, stdout: '', stderr: '' }, 5)), /within 5 s/);
    assert.match(
      reason(judgeVersion({ exitCode: 127, stdout: '', stderr: 'error while loading shared libraries\n' })),
      /status 127: error while loading shared libraries/,
    );
    assert.match(reason(judgeVersion({ exitCode: 0, stdout: 'Python 3.11.2\n', stderr: '' })), /not a reflens binary/);
    assert.match(reason(judgeVersion({ exitCode: null, signal: 'SIGSEGV', stdout: '', stderr: '' })), /SIGSEGV/);
  });
});

describe('findServer', () => {
  const bundled: Candidate = { path: '/ext/bin/reflens', source: 'bundled' };
  const onPath: Candidate = { path: '/usr/bin/reflens', source: 'path' };

  it('falls back past a broken bundled binary', async () => {
    const found = await findServer([bundled, onPath], async (c) =>
      c === bundled ? { ok: false, reason: 'not executable (permission denied)' } : { ok: true, version: '0.1.0' },
    );
    assert.equal(found.ok, true);
    if (found.ok) {
      assert.equal(found.candidate, onPath);
      assert.equal(found.skipped.length, 1);
    }
  });

  it('gives one message naming the setting when the set binary is broken', async () => {
    const found = await findServer([{ path: '/nope/reflens', source: 'setting' }], async () => ({ ok: false, reason: 'no such file' }));
    assert.equal(found.ok, false);
    if (!found.ok) {
      assert.match(found.message, /reflens\.path/);
      assert.match(found.message, /\/nope\/reflens/);
      assert.match(found.message, /no such file/);
      assert.doesNotMatch(found.message, /\n/);
    }
  });

  it('says what to do when nothing is found', () => {
    const message = failureMessage([]);
    assert.match(message, /cargo build --release/);
    assert.match(message, /reflens\.path/);
  });
});
