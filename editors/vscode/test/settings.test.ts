import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { configurationAnswer, didChangeConfigurationParams, selectors, toServerSettings } from '../src/settings';

const reader = (values: Record<string, unknown>) => (key: string) => values[key];

describe('toServerSettings', () => {
  it('leaves an empty select out (the configuration files decide)', () => {
    const settings = toServerSettings(reader({ select: [], extendSelect: [], ignore: [], 'live.python': '', 'live.inlayHints': true }));
    assert.deepEqual(settings, { extendSelect: [], ignore: [], live: { inlayHints: true } });
    assert.equal('select' in settings, false);
  });

  it('passes selectors and the live settings', () => {
    const settings = toServerSettings(
      reader({
        select: ['RL4', ' RL101 ', ''],
        extendSelect: ['RL201'],
        ignore: ['unclosed-resource'],
        'live.python': ' /opt/py/bin/python3 ',
        'live.inlayHints': false,
      }),
    );
    assert.deepEqual(settings, {
      select: ['RL4', 'RL101'],
      extendSelect: ['RL201'],
      ignore: ['unclosed-resource'],
      live: { python: '/opt/py/bin/python3', inlayHints: false },
    });
  });

  it('defaults what is missing or of the wrong type', () => {
    assert.deepEqual(toServerSettings(reader({ ignore: 'RL101, RL201', 'live.inlayHints': 'yes' })), {
      extendSelect: [],
      ignore: ['RL101', 'RL201'],
      live: { inlayHints: true },
    });
    assert.deepEqual(selectors([1, 'RL1', null]), ['RL1']);
  });
});

describe('configuration requests', () => {
  const settings = toServerSettings(reader({ select: ['RL4'], ignore: ['RL401'], 'live.inlayHints': false }));

  it('answers the reflens section in the server shape', () => {
    assert.deepEqual(configurationAnswer('reflens', settings, { path: '/x', select: ['RL4'] }), settings);
    assert.deepEqual(configurationAnswer('reflens.live', settings, null), { inlayHints: false });
    assert.deepEqual(configurationAnswer('reflens.select', settings, null), ['RL4']);
  });

  it('leaves other sections alone', () => {
    assert.deepEqual(configurationAnswer('python', settings, { x: 1 }), { x: 1 });
    assert.equal(configurationAnswer(undefined, settings, 7), 7);
  });

  it('pushes changes under the reflens key', () => {
    assert.deepEqual(didChangeConfigurationParams(settings), { settings: { reflens: settings } });
  });
});
