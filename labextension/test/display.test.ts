// Unit tests of what a Presence looks like (src/display.ts): npm test.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  FALLBACK_MARK_COLOUR,
  markBackground,
  STATE_TEXT,
  textColourOn,
  viewOf,
  WAITING_VIEW
} from '../src/display';
import type { Presence } from '../src/protocol';

const WEB1: Presence = {
  version: 1,
  state: 'connected',
  target: 'web1',
  user: 'root',
  host: '127.0.0.1',
  label: 'root@127.0.0.1 (web1)',
  mark: { name: 'prod', colour: 'red', css: '#D32F2F' }
};

test('the state texts of the spec', () => {
  assert.deepEqual(
    {
      connected: STATE_TEXT.connected,
      reading: STATE_TEXT.reading,
      lost: STATE_TEXT.lost,
      reconnecting: STATE_TEXT.reconnecting,
      connecting: STATE_TEXT.connecting,
      failed: STATE_TEXT.failed,
      'not-logged-in': STATE_TEXT['not-logged-in']
    },
    {
      connected: 'connected',
      reading: 'reading login environment',
      lost: 'connection lost',
      reconnecting: 'reconnecting',
      connecting: 'connecting',
      failed: 'login failed',
      'not-logged-in': 'not logged in'
    }
  );
});

test('a connected host: label, state, tooltip and mark', () => {
  assert.deepEqual(viewOf(WEB1), {
    state: 'connected',
    label: 'root@127.0.0.1 (web1)',
    stateText: 'connected',
    title:
      'sshpty: connected\ntarget: web1\nlogin: root@127.0.0.1\nmark: prod (red)',
    tone: 'ok',
    mark: { name: 'prod', background: '#d32f2f', foreground: '#ffffff' }
  });
});

test('lost and failed are warnings; connecting, reading, reconnecting in progress', () => {
  const tone = (state: Presence['state']) => viewOf({ ...WEB1, state }).tone;
  assert.equal(tone('lost'), 'warning');
  assert.equal(tone('failed'), 'warning');
  assert.equal(tone('connecting'), 'progress');
  assert.equal(tone('reading'), 'progress');
  assert.equal(tone('reconnecting'), 'progress');
  assert.equal(tone('not-logged-in'), 'idle');
});

test('a state text that repeats the label is not shown twice', () => {
  const view = viewOf({
    version: 1,
    state: 'not-logged-in',
    target: null,
    user: null,
    host: null,
    label: 'not logged in',
    mark: null
  });
  assert.equal(view.label, 'not logged in');
  assert.equal(view.stateText, '');
  assert.equal(view.title, 'sshpty: not logged in');
  assert.equal(view.mark, null);
});

test('a host without a user shows the host alone in the tooltip', () => {
  const view = viewOf({ ...WEB1, user: null, mark: null });
  assert.equal(view.title, 'sshpty: connected\ntarget: web1\nlogin: 127.0.0.1');
});

test('markup in names stays text: the view carries it unchanged', () => {
  const label = '<img src=x onerror=alert(1)>';
  const view = viewOf({
    ...WEB1,
    label,
    mark: { name: '<b>x</b>', colour: 'red', css: '#ff0000' }
  });
  assert.equal(view.label, label);
  assert.equal(view.mark?.name, '<b>x</b>');
});

test('only a plain #rrggbb colour reaches a style; anything else is grey', () => {
  assert.equal(markBackground('#1976d2'), '#1976d2');
  assert.equal(markBackground('#ABCDEF'), '#abcdef');
  for (const css of [
    'red',
    '#fff',
    '#1976d2; background: url(x)',
    ' #1976d2',
    '#1976d2\n',
    'url(javascript:x)',
    ''
  ]) {
    assert.equal(markBackground(css), FALLBACK_MARK_COLOUR, css);
  }
});

test('mark text is black or white, whichever reads better', () => {
  assert.equal(textColourOn('#000000'), '#ffffff');
  assert.equal(textColourOn('#ffffff'), '#000000');
  assert.equal(textColourOn('#fbc02d'), '#000000'); // yellow
  assert.equal(textColourOn('#1976d2'), '#ffffff'); // blue
});

test('waiting: an sshpty kernel that has not answered', () => {
  assert.equal(WAITING_VIEW.state, 'waiting');
  assert.equal(WAITING_VIEW.label, 'sshpty: waiting');
  assert.equal(WAITING_VIEW.mark, null);
});
