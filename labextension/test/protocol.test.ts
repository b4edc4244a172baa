// Unit tests of the Presence format (src/protocol.ts): npm test.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parsePresence, STATES, type Presence } from '../src/protocol';

const CONNECTED: Presence = {
  version: 1,
  state: 'connected',
  target: 'web1',
  user: 'root',
  host: '127.0.0.1',
  label: 'root@127.0.0.1 (web1)',
  mark: { name: 'prod', colour: 'red', css: '#d32f2f' }
};

function without(key: keyof Presence): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...CONNECTED };
  delete copy[key];
  return copy;
}

test('a well-formed presence is read as it is', () => {
  assert.deepEqual(parsePresence(CONNECTED), { ok: true, presence: CONNECTED });
});

test('every state of the spec is accepted', () => {
  for (const state of STATES) {
    const parsed = parsePresence({ ...CONNECTED, state });
    assert.equal(parsed.ok, true, state);
  }
});

test('the not-logged-in presence, with nulls, is accepted', () => {
  const idle = {
    version: 1,
    state: 'not-logged-in',
    target: null,
    user: null,
    host: null,
    label: 'not logged in',
    mark: null
  };
  assert.deepEqual(parsePresence(idle), { ok: true, presence: idle });
});

test('extra fields are dropped, not refused', () => {
  const parsed = parsePresence({ ...CONNECTED, since: 12 });
  assert.deepEqual(parsed, { ok: true, presence: CONNECTED });
});

const MALFORMED: [string, unknown][] = [
  ['null', null],
  ['a string', 'connected'],
  ['an array', [CONNECTED]],
  ['no version', without('version')],
  ['another version', { ...CONNECTED, version: 2 }],
  ['version as a string', { ...CONNECTED, version: '1' }],
  ['an unknown state', { ...CONNECTED, state: 'asleep' }],
  ['no state', without('state')],
  ['a numeric target', { ...CONNECTED, target: 1 }],
  ['no user', without('user')],
  ['an object host', { ...CONNECTED, host: {} }],
  ['no label', without('label')],
  ['a null label', { ...CONNECTED, label: null }],
  ['no mark', without('mark')],
  ['a string mark', { ...CONNECTED, mark: 'prod' }],
  ['a mark without css', { ...CONNECTED, mark: { name: 'p', colour: 'red' } }],
  [
    'a mark with a numeric name',
    { ...CONNECTED, mark: { name: 1, colour: 'red', css: '#000000' } }
  ]
];

for (const [what, data] of MALFORMED) {
  test(`refused with a reason: ${what}`, () => {
    const parsed = parsePresence(data);
    assert.equal(parsed.ok, false);
    assert.ok(!parsed.ok && parsed.reason.length > 0);
  });
}
