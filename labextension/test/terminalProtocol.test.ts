// Unit tests of the terminal comm's format and sizing (src/terminalProtocol.ts): npm test.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  attachRequest,
  clampSize,
  detachRequest,
  isLeaveChord,
  keysRequest,
  newTabToken,
  openData,
  parseTerminalDisplay,
  parseTerminalEvent,
  resizeFor,
  resizeRequest,
  TAB_STORAGE_KEY,
  tabToken,
  TERMINAL_COMM_TARGET,
  TERMINAL_MIME,
  wantedSize,
  type TokenStorage
} from '../src/terminalProtocol';

const SCREEN = {
  event: 'screen',
  terminal: 't1',
  cols: 80,
  rows: 24,
  typing: true,
  data: '\x1b[H\x1b[2Jhello'
};

test('the names the kernel registers and emits', () => {
  assert.equal(TERMINAL_COMM_TARGET, 'sshpty.terminal');
  assert.equal(TERMINAL_MIME, 'application/vnd.sshpty.terminal+json');
  assert.equal(TAB_STORAGE_KEY, 'sshpty-tab');
});

test('a terminal display names its terminal', () => {
  assert.equal(parseTerminalDisplay({ version: 1, terminal: 'abc' }), 'abc');
  assert.equal(
    parseTerminalDisplay({ version: 1, terminal: 'abc', extra: 1 }),
    'abc'
  );
});

test('a display of another version or without a terminal id names none', () => {
  for (const value of [
    null,
    undefined,
    'abc',
    [],
    {},
    { version: 2, terminal: 'abc' },
    { version: '1', terminal: 'abc' },
    { version: 1 },
    { version: 1, terminal: '' },
    { version: 1, terminal: 7 },
    { version: 1, terminal: 'x'.repeat(257) }
  ]) {
    assert.equal(parseTerminalDisplay(value), null, JSON.stringify(value));
  }
});

test('screen: size, typing and data', () => {
  assert.deepEqual(parseTerminalEvent(SCREEN), { ok: true, event: SCREEN });
  const watching = parseTerminalEvent({ ...SCREEN, typing: false, more: 'x' });
  assert.deepEqual(watching, {
    ok: true,
    event: { ...SCREEN, typing: false }
  });
});

test('output, size and ended', () => {
  assert.deepEqual(
    parseTerminalEvent({ event: 'output', terminal: 't1', data: 'abc' }),
    { ok: true, event: { event: 'output', terminal: 't1', data: 'abc' } }
  );
  assert.deepEqual(
    parseTerminalEvent({ event: 'size', terminal: 't1', cols: 100, rows: 30 }),
    {
      ok: true,
      event: { event: 'size', terminal: 't1', cols: 100, rows: 30 }
    }
  );
  assert.deepEqual(parseTerminalEvent({ event: 'ended', terminal: 't1' }), {
    ok: true,
    event: { event: 'ended', terminal: 't1' }
  });
  // With the program's last screen, for a page whose display is not replaced.
  assert.deepEqual(
    parseTerminalEvent({ event: 'ended', terminal: 't1', screen: 'top - 1\n' }),
    { ok: true, event: { event: 'ended', terminal: 't1', screen: 'top - 1\n' } }
  );
  assert.equal(
    parseTerminalEvent({ event: 'ended', terminal: 't1', screen: 3 }).ok,
    false
  );
});

test('output data may be empty', () => {
  const parsed = parseTerminalEvent({
    event: 'output',
    terminal: 't1',
    data: ''
  });
  assert.equal(parsed.ok, true);
});

test('malformed events are refused with a reason, never thrown', () => {
  const bad: unknown[] = [
    null,
    undefined,
    42,
    'screen',
    [SCREEN],
    {},
    { ...SCREEN, event: 'bell' },
    { ...SCREEN, event: undefined },
    { ...SCREEN, terminal: undefined },
    { ...SCREEN, terminal: '' },
    { ...SCREEN, terminal: 1 },
    { ...SCREEN, cols: undefined },
    { ...SCREEN, cols: 0 },
    { ...SCREEN, cols: -80 },
    { ...SCREEN, cols: 80.5 },
    { ...SCREEN, cols: '80' },
    { ...SCREEN, rows: 1e9 },
    { ...SCREEN, rows: NaN },
    { ...SCREEN, typing: 'true' },
    { ...SCREEN, typing: undefined },
    { ...SCREEN, data: undefined },
    { ...SCREEN, data: ['a'] },
    { event: 'output', terminal: 't1' },
    { event: 'output', terminal: 't1', data: null },
    { event: 'size', terminal: 't1', cols: 80 },
    { event: 'size', terminal: 't1', cols: 80, rows: Infinity },
    { event: 'ended' }
  ];
  for (const data of bad) {
    const parsed = parseTerminalEvent(data);
    assert.equal(parsed.ok, false, JSON.stringify(data));
    if (!parsed.ok) {
      assert.equal(typeof parsed.reason, 'string');
      assert.notEqual(parsed.reason, '');
    }
  }
});

test('the open data and the requests', () => {
  assert.deepEqual(openData('tok'), { version: 1, tab: 'tok' });
  assert.deepEqual(attachRequest('t1', { cols: 90, rows: 24 }), {
    request: 'attach',
    terminal: 't1',
    cols: 90,
    rows: 24
  });
  assert.deepEqual(keysRequest('t1', '\x1b[A'), {
    request: 'keys',
    terminal: 't1',
    data: '\x1b[A'
  });
  assert.deepEqual(keysRequest('t1', '\x00\xff', true), {
    request: 'keys',
    terminal: 't1',
    data: '\x00\xff',
    binary: true
  });
  assert.deepEqual(resizeRequest('t1', { cols: 120, rows: 30 }), {
    request: 'resize',
    terminal: 't1',
    cols: 120,
    rows: 30
  });
  assert.deepEqual(detachRequest('t1'), { request: 'detach', terminal: 't1' });
});

test('requests survive JSON: what the comm sends is what the kernel reads', () => {
  const keys = keysRequest('t1', 'é\r\x1b[200~x\x1b[201~');
  assert.deepEqual(JSON.parse(JSON.stringify(keys)), keys);
  assert.equal('binary' in keysRequest('t1', 'a'), false);
});

test('sizes are clamped: cols 20..500, rows 5..200, integers', () => {
  assert.deepEqual(clampSize({ cols: 80, rows: 24 }), { cols: 80, rows: 24 });
  assert.deepEqual(clampSize({ cols: 2, rows: 1 }), { cols: 20, rows: 5 });
  assert.deepEqual(clampSize({ cols: 900, rows: 999 }), {
    cols: 500,
    rows: 200
  });
  assert.deepEqual(clampSize({ cols: 99.9, rows: 24.5 }), {
    cols: 99,
    rows: 24
  });
  assert.deepEqual(clampSize({ cols: NaN, rows: Infinity }), {
    cols: 80,
    rows: 24
  });
});

test('the wanted size: cols from the width, rows kept', () => {
  assert.deepEqual(wantedSize(132, 40), { cols: 132, rows: 40 });
  assert.deepEqual(wantedSize(undefined, 40), { cols: 80, rows: 40 });
  assert.deepEqual(wantedSize(3, 2), { cols: 20, rows: 5 });
});

test('the owner resizes only when its width gives other cols than the PTY has', () => {
  assert.equal(resizeFor(80, { cols: 80, rows: 24 }), null);
  assert.equal(resizeFor(undefined, { cols: 80, rows: 24 }), null);
  assert.deepEqual(resizeFor(100, { cols: 80, rows: 24 }), {
    cols: 100,
    rows: 24
  });
  // A narrow area asks for the minimum, once.
  assert.deepEqual(resizeFor(5, { cols: 80, rows: 24 }), {
    cols: 20,
    rows: 24
  });
  assert.equal(resizeFor(5, { cols: 20, rows: 24 }), null);
  // A PTY beyond the limits is brought back into them.
  assert.deepEqual(resizeFor(80, { cols: 80, rows: 300 }), {
    cols: 80,
    rows: 200
  });
});

class MemoryStorage implements TokenStorage {
  items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

test('a tab token is 32 hex digits', () => {
  const bytes = new Uint8Array(16).map((_, i) => i * 17);
  assert.equal(
    newTabToken(() => bytes),
    '00112233445566778899aabbccddeeff'
  );
  assert.match(
    newTabToken(n => new Uint8Array(n)),
    /^[0-9a-f]{32}$/
  );
});

test('the tab token is made once and kept in sessionStorage', () => {
  const storage = new MemoryStorage();
  let made = 0;
  const make = () => `token${++made}abcdef`;
  const first = tabToken(storage, make);
  assert.equal(first, 'token1abcdef');
  assert.equal(storage.getItem(TAB_STORAGE_KEY), first);
  // A reload of the tab: the same storage, the same token.
  assert.equal(tabToken(storage, make), first);
  assert.equal(made, 1);
  // Another tab: its own storage, another token.
  assert.notEqual(tabToken(new MemoryStorage(), make), first);
});

test('a stored value that is no token is replaced', () => {
  const storage = new MemoryStorage();
  for (const junk of ['', 'short', 'has space in it', '<script>x</script>']) {
    storage.setItem(TAB_STORAGE_KEY, junk);
    assert.equal(
      tabToken(storage, () => 'fresh-token-1'),
      'fresh-token-1'
    );
    assert.equal(storage.getItem(TAB_STORAGE_KEY), 'fresh-token-1');
  }
});

test('storage that is missing or throws still gives a token', () => {
  assert.equal(
    tabToken(null, () => 'page-token-1'),
    'page-token-1'
  );
  const throwing: TokenStorage = {
    getItem() {
      throw new Error('SecurityError');
    },
    setItem() {
      throw new Error('QuotaExceededError');
    }
  };
  assert.equal(
    tabToken(throwing, () => 'page-token-2'),
    'page-token-2'
  );
});

test('the leave chord is Ctrl+Shift+Enter alone', () => {
  const key = (
    key: string,
    mods: Partial<
      Record<'ctrlKey' | 'shiftKey' | 'altKey' | 'metaKey', boolean>
    >
  ) => ({
    key,
    ctrlKey: false,
    shiftKey: false,
    altKey: false,
    metaKey: false,
    ...mods
  });
  assert.equal(
    isLeaveChord(key('Enter', { ctrlKey: true, shiftKey: true })),
    true
  );
  assert.equal(isLeaveChord(key('Enter', {})), false);
  assert.equal(isLeaveChord(key('Enter', { shiftKey: true })), false);
  assert.equal(isLeaveChord(key('Enter', { ctrlKey: true })), false);
  assert.equal(
    isLeaveChord(key('Enter', { ctrlKey: true, shiftKey: true, altKey: true })),
    false
  );
  assert.equal(
    isLeaveChord(
      key('Enter', { ctrlKey: true, shiftKey: true, metaKey: true })
    ),
    false
  );
  assert.equal(
    isLeaveChord(key('Escape', { ctrlKey: true, shiftKey: true })),
    false
  );
});
