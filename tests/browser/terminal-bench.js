#!/usr/bin/env node
// node terminal-bench.js SCENARIO.json RESULT.json
//
// The browser side of benches/terminal.py (read that first): sshpty's live terminal in a
// `%shell` cell beside JupyterLab's own terminal (terminado) running `ssh` to the same host,
// in one headless chromium, measured with the same hook on the same xterm.js (5.5 in both
// bundles). Sides:
//   sshpty     the notebook's `%shell` cell (xterm.js, DOM renderer: the extension loads no
//              renderer addon)
//   jl-dom     a JupyterLab terminal whose renderer addon (WebGL, or canvas when the page has
//              no WebGL) was disposed after it opened, so xterm.js falls back to its DOM
//              renderer: the same renderer as sshpty's (JupyterLab has no setting for it)
//   jl-native  a JupyterLab terminal as JupyterLab sets it up (WebGL or canvas addon)
//
// The hook, identical on every side, in the page with performance.now(): the xterm Terminal
// object (JupyterLab's Terminal widget and sshpty's renderer both keep it as `_term`; the page
// runs with expose_app_in_browser so the widgets are reachable from window.jupyterapp) gets
//   t0  the key's keydown (a capture listener on window, before xterm sees it),
//   tw  the first term.write() after it (the data arrived from the websocket and its client),
//   tp  the first onWriteParsed after which the screen shows what is expected (parsed),
//   tr  the first onRender after tp (the renderer drew the rows: "on screen").
// Keys are real key presses (playwright's keyboard.press, CDP Input.dispatchKeyEvent).
//
// SCENARIO: {notebook: URL, terminals: [URL, URL], sshCommand: "ssh -F cfg h1-ops",
//   keys: 200, keyBlock: 10, keyGap: 50, lineLength: 40, seqReps: 5, catReps: 3,
//   seqCommand, catCommand, idleSeconds: 60, serverPid, artifacts, name, sides: [...]}
// RESULT: {sides: {name: {renderer, cols, rows, keys: [...], seq: [...], cat: [...]}},
//   idle: {...}, log: [...], error}

'use strict';

const fs = require('fs');
const path = require('path');
const lab = require('./lab');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const result = { sides: {}, idle: null, log: [], error: null, screenshots: [] };
const log = (...a) => {
  const line = `[${new Date().toISOString().slice(11, 23)}] ${a.join(' ')}`;
  result.log.push(line);
  console.log(line);
};

// ---- in the page -------------------------------------------------------------------------

// Installs window.__tb on TERM (an xterm Terminal): the timing hook described above.
function installHook() {
  /* eslint-disable no-undef */
  const term = window.__tbTerm;
  if (window.__tb) return true;
  const st = { term, writes: 0, bytes: 0, arm: null };
  const write = term.write.bind(term);
  term.write = (data, cb) => {
    st.writes += 1;
    st.bytes += typeof data === 'string' ? data.length : data.byteLength;
    const a = st.arm;
    if (a && a.t0 !== null && a.tw === null) {
      a.tw = performance.now();
      a.tws = window.__tbWsLast === undefined ? null : window.__tbWsLast; // its frame's arrival
    }
    if (a && a.t0 !== null) {
      const n = typeof data === 'string' ? data.length : data.byteLength;
      a.bytes += n;
      if (a.trace) a.trace.push([Math.round(performance.now() - a.t0), n]);
    }
    return write(data, cb);
  };
  window.addEventListener('keydown', (e) => {
    const a = st.arm;
    if (a && a.t0 === null && e.key === a.key) a.t0 = performance.now();
  }, true);
  const lineAt = (y) => {
    const l = term.buffer.active.getLine(y);
    return l ? l.translateToString(true) : '';
  };
  const tests = {
    // The cursor's line is exactly TEXT and the cursor just after it.
    line: (a) => {
      const b = term.buffer.active;
      return b.cursorX === a.text.length && lineAt(b.baseY + b.cursorY) === a.text;
    },
    // The line above the cursor's is TEXT and the cursor's is empty (cat echoed a line).
    above: (a) => {
      const b = term.buffer.active;
      return b.cursorX === 0 && lineAt(b.baseY + b.cursorY) === ''
        && lineAt(b.baseY + b.cursorY - 1) === a.text;
    },
    // Some line of the screen (not the scrollback) is exactly TEXT (trailing blanks aside).
    screen: (a) => {
      const b = term.buffer.active;
      for (let y = b.baseY; y < b.baseY + term.rows; y++) {
        if (lineAt(y).trim() === a.text) return true;
      }
      return false;
    },
    // The cursor's line ends with a shell prompt ("$ " or "# ").
    // (TEXT: a regex the line before the cursor must match instead.)
    prompt: (a) => {
      const b = term.buffer.active;
      return new RegExp(a.text || '[$#] $').test(lineAt(b.baseY + b.cursorY).slice(0, b.cursorX));
    },
  };
  term.onWriteParsed(() => {
    const a = st.arm;
    if (a && a.t0 !== null && a.tp === null && tests[a.kind](a)) a.tp = performance.now();
  });
  term.onRender(() => {
    const a = st.arm;
    if (a && a.tp !== null && a.tr === null) {
      a.tr = performance.now();
      if (a.done) a.done();
    }
  });
  // The page's main thread busy in long tasks (> 50 ms), in ms, whoever caused them.
  st.longtasks = 0;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) st.longtasks += e.duration;
    }).observe({ entryTypes: ['longtask'] });
  } catch (e) { /* no longtask timing */ }
  st.check = (kind, text) => tests[kind]({ kind, text });
  st.lineAt = lineAt;
  window.__tb = st;
  return true;
}

// ---- in node -----------------------------------------------------------------------------

async function until(what, timeout, probe, every = 50) {
  const end = Date.now() + timeout;
  let last = null;
  for (;;) {
    last = await probe();
    if (last && last.ok) return last.value;
    if (Date.now() > end) {
      throw new Error(`${what} not seen within ${timeout} ms; last: ${JSON.stringify(last)}`);
    }
    await sleep(every);
  }
}

// Arm the hook for the next key KEY, expecting KIND/TEXT on the screen.
async function arm(page, key, kind, text) {
  await page.evaluate(([key, kind, text]) => {
    window.__tb.arm = { key, kind, text, t0: null, tw: null, tp: null, tr: null, bytes: 0, tsend: null,
      done: null, trace: kind === 'screen' ? [] : null };
  }, [key, kind, text]);
}

// Wait (at most TIMEOUT ms) for the armed measurement; the times relative to t0, in ms.
async function collect(page, timeout, soft = false) {
  const a = await page.evaluate((timeout) => new Promise((resolve) => {
    const a = window.__tb.arm;
    const fin = () => {
      window.__tb.arm = null;
      resolve({ t0: a.t0, tw: a.tw, tws: a.tws, tsend: a.tsend, tp: a.tp, tr: a.tr, bytes: a.bytes, trace: a.trace });
    };
    if (a.tr !== null) return fin();
    const timer = setTimeout(fin, timeout);
    a.done = () => { clearTimeout(timer); fin(); };
  }), timeout);
  if (a.t0 !== null && a.tr === null && soft) {
    // Not drawn in time: recorded, not fatal (the caller says what to do next).
    return { timedOut: true, write: a.tw === null ? null : a.tw - a.t0, parsed: null,
      drawn: null, bytes: a.bytes, trace: a.trace, screen: await screenText(page) };
  }
  if (a.t0 === null || a.tr === null) {
    const screen = await screenText(page);
    throw new Error(`no ${a.t0 === null ? 'keydown' : 'render of the expected text'} within `
      + `${timeout} ms: ${JSON.stringify(a)}; screen:\n${screen}`);
  }
  const r = { write: a.tw === null ? null : a.tw - a.t0, parsed: a.tp - a.t0, drawn: a.tr - a.t0,
    bytes: a.bytes,
    // keydown → the arrival (message event) of the last websocket frame before that write
    frame: a.tws === null || a.tws === undefined || a.tws < a.t0 ? null : a.tws - a.t0,
    // keydown → the page's first websocket send after it (the key leaving the page)
    sent: a.tsend === null ? null : a.tsend - a.t0 };
  if (a.trace) r.trace = a.trace; // [ms after keydown, bytes] of each write into xterm
  return r;
}

async function screenText(page) {
  return page.evaluate(() => {
    const t = window.__tbTerm;
    if (!t) return '(no terminal)';
    const b = t.buffer.active;
    const out = [];
    for (let y = b.baseY; y < b.baseY + t.rows; y++) {
      const l = b.getLine(y);
      out.push(l ? l.translateToString(true) : '');
    }
    return out.join('\n').replace(/\n+$/, '');
  }).catch((e) => `(unreadable: ${e})`);
}

async function waitScreen(page, kind, text, timeout = 30000) {
  return until(`${kind} ${JSON.stringify(text)} on the screen`, timeout, async () => {
    const ok = await page.evaluate(([k, t]) => window.__tb.check(k, t), [kind, text]);
    return { ok, value: ok };
  });
}

// Type TEXT (untimed), press Enter and wait for a prompt.
async function shellLine(page, text, timeout = 30000, prompt = '') {
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
  await sleep(100);
  await waitScreen(page, 'prompt', prompt, timeout);
}

// Which renderer the xterm of the page uses: 'dom' (.xterm-rows present), 'webgl', 'canvas'.
async function rendererOf(page) {
  return page.evaluate(() => {
    const t = window.__tbTerm;
    const el = t.element;
    const addons = (t._addonManager && t._addonManager._addons) || [];
    const r = addons.map((a) => a.instance).filter((i) => i && typeof i.clearTextureAtlas === 'function');
    const kind = r.length === 0 ? 'dom'
      : (typeof r[0].onContextLoss === 'function' ? 'webgl' : 'canvas');
    return { kind, rowsDiv: !!el.querySelector('.xterm-rows'),
      canvases: el.querySelectorAll('canvas').length };
  });
}

// Whether the page can make a WebGL context (JupyterLab's own test before it picks the addon).
async function webglAvailable(page) {
  return page.evaluate(() => {
    const c = document.createElement('canvas');
    const g = c.getContext('webgl') || c.getContext('experimental-webgl');
    return g instanceof WebGLRenderingContext;
  });
}

// ---- setting the sides up ----------------------------------------------------------------

// The xterm of JupyterLab's terminal in PAGE (the Terminal widget's _term).
async function grabLabTerminal(page, name) {
  await until(`window.jupyterapp and terminal ${name}`, 60000, async () => {
    const ok = await page.evaluate((name) => {
      const app = window.jupyterapp;
      if (!app) return false;
      for (const w of app.shell.widgets('main')) {
        const t = w.content && w.content._term;
        if (t && t.buffer && t.element && w.content.session && w.content.session.name === name) {
          window.__tbTerm = t;
          return true;
        }
      }
      return false;
    }, name);
    return { ok, value: ok };
  }, 200);
}

// The xterm of sshpty's live terminal in cell INDEX of the notebook in PAGE.
async function grabCellTerminal(page, index) {
  await until('the cell terminal widget', 30000, async () => {
    const ok = await page.evaluate((index) => {
      const panel = window.jupyterapp.shell.currentWidget;
      const cell = panel.content.widgets[index];
      const seen = new Set();
      const walk = (w) => {
        if (!w || seen.has(w)) return null;
        seen.add(w);
        if (w._term && w._term.buffer && w.node.classList.contains('sshpty-terminal')) return w._term;
        const kids = typeof w.children === 'function' ? [...w.children()] : (w.widgets || []);
        for (const k of kids) {
          const t = walk(k);
          if (t) return t;
        }
        return null;
      };
      const t = walk(cell.outputArea);
      if (t) window.__tbTerm = t;
      return !!t;
    }, index);
    return { ok, value: ok };
  }, 200);
}

// Open URL (an empty workspace of its own, so no page restores another's terminals) and wait
// until JupyterLab has restored it.
async function openWorkspace(page, url) {
  // Every websocket's message events, timed as they are dispatched (before the page's own
  // handlers: this listener is added first): the arrival of a frame in the page.
  await page.addInitScript(() => {
    const Orig = window.WebSocket;
    class Timed extends Orig {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', () => { window.__tbWsLast = performance.now(); });
      }

      send(data) {
        // The first frame the page sends after an armed key's keydown: the key leaving.
        const a = window.__tb && window.__tb.arm;
        if (a && a.t0 !== null && a.tsend === null) a.tsend = performance.now();
        return super.send(data);
      }
    }
    window.WebSocket = Timed;
  });
  await page.goto(url, { timeout: 60000 });
  await until('window.jupyterapp', 60000, async () => {
    const ok = await page.evaluate(() => !!window.jupyterapp);
    return { ok, value: ok };
  }, 200);
  await page.evaluate(() => window.jupyterapp.restored);
}

async function openLabTerminal(browser, url, name, sc, native) {
  const page = await browser.newPage({ viewport: sc.viewport });
  page.setDefaultTimeout(30000);
  await openWorkspace(page, url);
  await page.evaluate((name) => window.jupyterapp.commands.execute('terminal:open', { name }), name);
  await page.locator('.jp-Terminal .xterm-screen').first().waitFor({ timeout: 60000 });
  await grabLabTerminal(page, name);
  await page.evaluate(installHook);
  const info = { webgl: await webglAvailable(page), before: await rendererOf(page) };
  if (!native) {
    // Dispose of the renderer addon: xterm.js 5.5's addons set the DOM renderer back when
    // disposed (addon-webgl/addon-canvas dispose: renderService.setRenderer(core._createRenderer())).
    await page.evaluate(() => {
      const t = window.__tbTerm;
      for (const a of t._addonManager._addons) {
        if (a.instance && typeof a.instance.clearTextureAtlas === 'function') a.instance.dispose();
      }
    });
    await sleep(500);
  }
  info.after = await rendererOf(page);
  await page.locator('.jp-Terminal .xterm-screen').first().click();
  await waitScreen(page, 'prompt', '', 30000);
  // The local shell, then ssh to the host: the same program and host sshpty's kernel reaches.
  // The remote user's prompt ends in "$ ", the local root shell's in "# ".
  await shellLine(page, sc.sshCommand, 30000, '\\$ $');
  return { page, info };
}

async function openNotebook(browser, sc, size) {
  const page = await browser.newPage({ viewport: sc.viewport });
  page.setDefaultTimeout(30000);
  await openWorkspace(page, sc.notebook);
  await page.evaluate((path) => window.jupyterapp.commands.execute('docmanager:open', { path }),
    sc.notebookPath);
  await page.locator('.jp-NotebookPanel').first().waitFor({ timeout: 60000 });
  await lab.cells(page).first().locator('.jp-InputArea-editor').waitFor({ timeout: 60000 });
  await until('the host item hearing from the kernel', 90000, async () => {
    const dialog = await lab.dialogText(page);
    if (dialog) throw new Error(`a dialog opened with the notebook: ${JSON.stringify(dialog)}`);
    const state = await page.locator('.jp-NotebookPanel-toolbar .sshpty-host').first()
      .getAttribute('data-sshpty-state').catch(() => null);
    return { ok: state !== null && state !== 'none', value: state };
  }, 200);
  // Cell 0 sets the terminal's rows (and the cells' columns) to JupyterLab's terminal's.
  await page.evaluate((src) => {
    window.jupyterapp.shell.currentWidget.content.widgets[0].model.sharedModel.setSource(src);
  }, `%term ${size.cols}x${size.rows}`);
  const cell = (i) => lab.cells(page).nth(i);
  const promptOf = async (i) => (await cell(i).locator('.jp-InputPrompt').first().innerText()).trim();
  await cell(0).locator('.jp-InputArea-editor').click();
  await page.keyboard.press('Shift+Enter');
  await until('cell 0 (%term) done', 90000, async () => {
    const p = await promptOf(0);
    return { ok: /^\[\d+\]:$/.test(p), value: p };
  }, 100);
  await cell(1).locator('.jp-InputArea-editor').click();
  await page.keyboard.press('Shift+Enter');
  await until('the %shell terminal typing', 60000, async () => {
    const t = cell(1).locator('.sshpty-terminal[data-sshpty-typing="true"]');
    return { ok: (await t.count()) > 0, value: null };
  }, 100);
  await grabCellTerminal(page, 1);
  await page.evaluate(installHook);
  await cell(1).locator('.sshpty-terminal .xterm-screen').first().click();
  await waitScreen(page, 'prompt', '', 30000);
  const kernelId = await page.evaluate(
    () => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id);
  return { page, info: { webgl: await webglAvailable(page), after: await rendererOf(page) },
    kernelId };
}

// ---- measurements --------------------------------------------------------------------------

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

async function keystrokes(sides, sc) {
  // `cat` on every side: the host's PTY echoes each key (canonical mode), cat prints nothing
  // until Enter.
  for (const s of sides) {
    await s.page.bringToFront();
    await s.page.keyboard.type('cat');
    await s.page.keyboard.press('Enter');
    await waitScreen(s.page, 'line', '', 15000);
    await sleep(300);
    s.line = '';
    s.keys = [];
  }
  let n = 0;
  let block = 0;
  while (n < sc.keys) {
    const order = block % 2 === 0 ? sides : [...sides].reverse();
    const count = Math.min(sc.keyBlock, sc.keys - n);
    for (const s of order) {
      await s.page.bringToFront();
      await sleep(100);
      for (let i = 0; i < count; i++) {
        const ch = LETTERS[(n + i) % LETTERS.length];
        if (s.line.length >= sc.lineLength) {
          // Untimed: Enter, cat prints the line back.
          await arm(s.page, 'Enter', 'above', s.line);
          await s.page.keyboard.press('Enter');
          await collect(s.page, 15000);
          s.line = '';
          await sleep(sc.keyGap);
        }
        const want = s.line + ch;
        await arm(s.page, ch, 'line', want);
        await s.page.keyboard.press(ch);
        s.keys.push(await collect(s.page, 15000));
        s.line = want;
        await sleep(sc.keyGap);
      }
    }
    n += count;
    block += 1;
  }
  for (const s of sides) {
    await s.page.bringToFront();
    if (s.line) {
      await arm(s.page, 'Enter', 'above', s.line);
      await s.page.keyboard.press('Enter');
      await collect(s.page, 15000);
    }
    await s.page.keyboard.press('Control+d'); // EOF: cat ends
    await waitScreen(s.page, 'prompt', '', 15000);
  }
}

// One run of COMMAND on side S: Enter → the marker line drawn.
async function bulk(s, command, marker, timeout) {
  await s.page.bringToFront();
  await sleep(200);
  await shellLine(s.page, 'clear', 15000);
  await s.page.keyboard.type(command);
  await sleep(200);
  const before = await s.page.evaluate(() => ({ writes: window.__tb.writes, bytes: window.__tb.bytes,
    longtasks: window.__tb.longtasks }));
  await arm(s.page, 'Enter', 'screen', marker);
  const cpu0 = cpuNow(s);
  await s.page.keyboard.press('Enter');
  const r = await collect(s.page, timeout, true);
  const cpu1 = cpuNow(s);
  if (r.timedOut) {
    // The command ended long ago (or not): note whether the host's shell is back at its
    // prompt, then press Enter (new output) and see whether the screen catches up.
    log(`${s.name}: the marker not drawn within ${timeout} ms; screen's last lines: `
      + JSON.stringify(r.screen.split('\n').slice(-3)));
    await s.page.keyboard.press('Enter');
    const t = Date.now();
    r.afterNudge = await waitScreen(s.page, 'screen', marker, 30000).then(() => Date.now() - t,
      () => null);
    log(`${s.name}: after one Enter the marker is drawn: ${r.afterNudge === null ? 'no' : `in ${r.afterNudge} ms`}`);
  }
  // CPU seconds used during the run: the kernel (sshpty), the server, the terminals' processes.
  r.cpu = Object.fromEntries(Object.keys(cpu0).map((k) => [k, (cpu1[k] - cpu0[k]) / CLK_TCK]));
  await waitScreen(s.page, 'prompt', '', 30000);
  const after = await s.page.evaluate(() => ({ writes: window.__tb.writes, bytes: window.__tb.bytes,
    longtasks: window.__tb.longtasks, outputText: null }));
  // The cell's output area under sshpty's terminal (the transcript), characters.
  if (s.name === 'sshpty') {
    r.outputAreaChars = await s.page.evaluate(() => {
      const cell = window.jupyterapp.shell.currentWidget.content.widgets[1];
      return cell.node.querySelector('.jp-OutputArea').textContent.length;
    }).catch(() => null);
  }
  r.longtasks = after.longtasks - before.longtasks;
  r.writes = after.writes - before.writes;
  r.allBytes = after.bytes - before.bytes;
  return r;
}

async function throughput(sides, sc, key, command, marker, reps, timeout) {
  for (const s of sides) s[key] = [];
  for (let i = 0; i < reps; i++) {
    const order = i % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) {
      const r = await bulk(s, command, marker, timeout);
      log(`${key} ${s.name} #${i + 1}: ${r.drawn === null ? 'not drawn' : r.drawn.toFixed(0)} ms, ${r.writes} writes, ${r.allBytes} bytes, `
        + `long tasks ${r.longtasks.toFixed(0)} ms, cpu ${JSON.stringify(r.cpu)}`);
      s[key].push(r);
      await sleep(sc.settle);
    }
  }
}

// ---- idle CPU (the kernel's /proc/PID/stat) ---------------------------------------------

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

function procTicks(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
  } catch (e) {
    return null;
  }
}

function children(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch (e) { /* gone */ }
  }
  return out;
}

function tree(pid) {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]));
  return all;
}

function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch (e) {
    return '';
  }
}

function kernelPid(kernelId) {
  for (const d of fs.readdirSync('/proc')) {
    if (/^\d+$/.test(d) && cmdline(Number(d)).includes(`kernel-${kernelId}.json`)) return Number(d);
  }
  return null;
}

async function idle(sc, kernelId) {
  const kpid = kernelPid(kernelId);
  if (!kpid) throw new Error(`no process with kernel-${kernelId}.json in its command line`);
  const server = sc.serverPid;
  // Everything else the server started: terminado's shells and their ssh clients.
  const groups = () => {
    const kernelTree = new Set(tree(kpid));
    const terms = tree(server).filter((p) => p !== server && !kernelTree.has(p));
    return { kernel: [kpid], kernelTree: [...kernelTree], server: [server], terminals: terms };
  };
  const sum = (pids) => pids.reduce((n, p) => n + (procTicks(p) || 0), 0);
  const g0 = groups();
  await sleep(sc.idleSettle);
  const before = Object.fromEntries(Object.entries(g0).map(([k, v]) => [k, sum(v)]));
  const t0 = Date.now();
  await sleep(sc.idleSeconds * 1000);
  const secs = (Date.now() - t0) / 1000;
  const after = Object.fromEntries(Object.entries(g0).map(([k, v]) => [k, sum(v)]));
  const out = { seconds: secs, clkTck: CLK_TCK, kernelPid: kpid,
    kernelCmd: cmdline(kpid).slice(0, 300),
    processes: Object.fromEntries(Object.entries(g0).map(([k, v]) => [k, v.map((p) => `${p} ${cmdline(p).slice(0, 120)}`)])) };
  for (const k of Object.keys(g0)) {
    const ticks = after[k] - before[k];
    out[k] = { ticks, cpuPercent: (100 * ticks) / CLK_TCK / secs };
  }
  return out;
}

// CPU ticks now of the processes that serve side S (its pids, set in main).
function cpuNow(s) {
  const out = {};
  for (const [k, pids] of Object.entries(s.pids || {})) {
    out[k] = pids.reduce((n, p) => n + (procTicks(p) || 0), 0);
  }
  return out;
}

// ---- main ----------------------------------------------------------------------------------

async function main() {
  const [scenarioFile, resultFile] = process.argv.slice(2);
  const sc = JSON.parse(fs.readFileSync(scenarioFile, 'utf8'));
  const write = () => fs.writeFileSync(resultFile, JSON.stringify(result, null, 1));
  fs.mkdirSync(sc.artifacts, { recursive: true });
  const browser = await lab.launch();
  const sides = [];
  try {
    const want = new Set(sc.sides);
    log('opening JupyterLab terminals');
    if (want.has('jl-dom')) {
      const s = await openLabTerminal(browser, sc.terminals[0], sc.terminalNames[0], sc, false);
      sides.push({ name: 'jl-dom', ...s });
    }
    if (want.has('jl-native')) {
      const s = await openLabTerminal(browser, sc.terminals[1], sc.terminalNames[1], sc, true);
      sides.push({ name: 'jl-native', ...s });
    }
    const size = sides.length
      ? await sides[0].page.evaluate(() => ({ cols: window.__tbTerm.cols, rows: window.__tbTerm.rows }))
      : { cols: 160, rows: 50 };
    log(`JupyterLab terminal ${size.cols}x${size.rows}; opening the notebook`);
    const nb = await openNotebook(browser, sc, size);
    sides.unshift({ name: 'sshpty', page: nb.page, info: nb.info });
    const kpid = kernelPid(nb.kernelId);
    for (const s of sides) {
      const mine = s.name === 'sshpty' ? (kpid ? tree(kpid) : [])
        : tree(sc.serverPid).filter((p) => p !== sc.serverPid && !(kpid && tree(kpid).includes(p)));
      s.pids = { server: [sc.serverPid], own: mine };
      s.size = await s.page.evaluate(() => ({ cols: window.__tbTerm.cols, rows: window.__tbTerm.rows }));
      result.sides[s.name] = { info: s.info, size: s.size };
      log(`${s.name}: ${JSON.stringify(s.info)} ${s.size.cols}x${s.size.rows}`);
    }
    write();
    if (sc.keys > 0) {
      log(`keystrokes: ${sc.keys} per side`);
      await keystrokes(sides, sc);
      for (const s of sides) result.sides[s.name].keys = s.keys;
      write();
    }
    if (sc.seqReps > 0) {
      await throughput(sides, sc, 'seq', sc.seqCommand, sc.seqMarker, sc.seqReps, sc.bulkTimeout);
      for (const s of sides) result.sides[s.name].seq = s.seq;
      write();
    }
    if (sc.catReps > 0) {
      await throughput(sides, sc, 'cat', sc.catCommand, sc.catMarker, sc.catReps, sc.bulkTimeout);
      for (const s of sides) result.sides[s.name].cat = s.cat;
      write();
    }
    for (const s of sides) {
      const file = path.join(sc.artifacts, `${sc.name}-${s.name}.png`);
      await s.page.screenshot({ path: file }).then(() => result.screenshots.push(file), () => {});
    }
    if (sc.idleSeconds > 0) {
      // The shell at its prompt in the live terminal, attached, nothing typed.
      await nb.page.bringToFront();
      log(`idle: ${sc.idleSeconds} s`);
      result.idle = await idle(sc, nb.kernelId);
      log(`idle: ${JSON.stringify(result.idle)}`);
    }
  } catch (e) {
    result.error = String(e && e.stack ? e.stack : e);
    let i = 0;
    for (const c of browser.contexts()) {
      for (const p of c.pages()) {
        const file = path.join(sc.artifacts, `${sc.name}-error-${i++}.png`);
        await p.screenshot({ path: file }).then(() => result.screenshots.push(file), () => {});
        const text = await p.locator('.jp-NotebookPanel .jp-Notebook').first().innerText({ timeout: 2000 })
          .catch(() => null);
        if (text) result.log.push(`notebook text at the error:\n${text.slice(0, 3000)}`);
      }
    }
  } finally {
    write();
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
