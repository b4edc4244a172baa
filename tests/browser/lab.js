// Driving a real JupyterLab (4.x) in Debian's headless chromium with playwright-core: open a
// notebook, run its cells one after another as a user does (Shift+Enter), answer the input
// boxes the kernel asks through (a password box, a text box, vim key notation typed into a text
// box), and report what the page shows. The assertions live in the pytest test that calls
// run-notebook.js (tests/integration/test_lab.py); this file only drives and observes.
//
// Class names are JupyterLab's own (packages/outputarea, packages/notebook): .jp-Cell,
// .jp-InputPrompt ("[ ]:", "[*]:", "[3]:"), .jp-OutputArea, .jp-Stdin (the input box:
// .jp-Stdin-prompt, input.jp-Stdin-input, type=password for a password request), .jp-Dialog
// (for example "Cell not executed due to pending input").

'use strict';

const { chromium } = require('playwright-core');

const CHROMIUM = '/usr/bin/chromium'; // Debian's package; never a downloaded browser

async function launch({ executablePath = CHROMIUM } = {}) {
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: 60000,
    // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function cells(page) {
  return page.locator('.jp-NotebookPanel .jp-Notebook .jp-Cell');
}

// The text of any open dialog (.jp-Dialog), or null.
async function dialogText(page) {
  const d = page.locator('.jp-Dialog');
  if ((await d.count()) === 0) return null;
  return (await d.first().innerText()).trim();
}

// Open the notebook at URL and wait until its kernel is idle: the toolbar names a kernel (not
// "No Kernel"), its execution indicator and the status bar ("NAME | Idle") say idle, and the
// first cell's editor is shown. A dialog at this point (no such kernel: "Select Kernel") is an
// error. Returns the kernel's display name.
async function openNotebook(page, url, { timeout = 60000 } = {}) {
  await page.goto(url, { timeout });
  await page.locator('.jp-NotebookPanel').first().waitFor({ timeout });
  const name = page.locator('.jp-NotebookPanel-toolbar .jp-KernelName').first();
  const idle = page.locator('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]');
  const editor = cells(page).first().locator('.jp-InputArea-editor');
  const end = Date.now() + timeout;
  let kernel = '';
  for (;;) {
    const dialog = await dialogText(page);
    if (dialog) throw new Error(`a dialog opened with the notebook: ${JSON.stringify(dialog)}`);
    kernel = (await name.count()) ? (await name.innerText()).trim() : '';
    const status = await page.locator('#jp-main-statusbar').innerText().catch(() => '');
    if (kernel && kernel !== 'No Kernel' && (await idle.count()) > 0
        && status.includes(`${kernel} | Idle`) && (await editor.isVisible())) break;
    if (Date.now() > end) {
      throw new Error(`the kernel was not idle within ${timeout} ms (kernel ${JSON.stringify(kernel)}, `
        + `status bar ${JSON.stringify(status.replace(/\s+/g, ' '))})`);
    }
    await sleep(200);
  }
  return kernel;
}

// The open input box of cell CELL (a Locator), or null.
async function openBox(cell) {
  const input = cell.locator('.jp-Stdin input.jp-Stdin-input');
  if ((await input.count()) === 0) return null;
  const box = input.last();
  if (!(await box.isVisible())) return null;
  const prompt = await cell.locator('.jp-Stdin .jp-Stdin-prompt').last().innerText();
  const password = (await box.getAttribute('type')) === 'password';
  // This very element: the locator would move on to the next box once this one is answered.
  const element = await box.elementHandle();
  return { input: box, element, prompt, password };
}

// Answer an open box: type VALUE and press Enter (what a user does; the box has the focus when
// it appears). Waits until that box is gone (JupyterLab replaces it with "prompt value").
async function answerBox(box, value, { timeout = 10000 } = {}) {
  await box.element.fill(value);
  await box.element.press('Enter');
  await box.input.page().waitForFunction((el) => !el.isConnected, box.element, { timeout });
}

// A password box: refuses to type into a box that is not one (the answer would show).
async function answerPassword(box, value, opts) {
  if (!box.password) throw new Error(`expected a password box, got a text box ${JSON.stringify(box.prompt)}`);
  return answerBox(box, value, opts);
}

async function answerText(box, value, opts) {
  if (box.password) throw new Error(`expected a text box, got a password box ${JSON.stringify(box.prompt)}`);
  return answerBox(box, value, opts);
}

// Keys for a full-screen program (vi, less, top) in vim notation, `<Esc>:wq<CR>`: typed into
// the text box as written; the kernel translates them. An empty string sends Enter.
async function typeKeys(box, keys, opts) {
  return answerText(box, keys, opts);
}

// Run cell INDEX (click into it, Shift+Enter) and wait until it has finished: its prompt shows a
// new execution count and no box is open in it. Each box that opens is answered with the next of
// ANSWERS ({kind: 'password'|'text'|'keys', value}). Returns what was seen: the boxes (prompt,
// password), a dialog if one opened instead (the cell did not run), the prompt and output text,
// and (SAMPLE) the output area's text at every poll while the cell ran (what a user watches).
async function runCell(page, index, { answers = [], timeout = 30000, sample = false } = {}) {
  const cell = cells(page).nth(index);
  const promptOf = async () => (await cell.locator('.jp-InputPrompt').first().innerText()).trim();
  const before = await promptOf();
  await cell.locator('.jp-InputArea-editor').click();
  await page.keyboard.press('Shift+Enter');
  const seen = { index, boxes: [], dialog: null, error: null, prompt: null, output: '', samples: [] };
  const output = () => cell.locator('.jp-OutputArea').first().innerText().catch(() => '');
  const queue = [...answers];
  const end = Date.now() + timeout;
  try {
    for (;;) {
      seen.dialog = await dialogText(page);
      if (seen.dialog) break;
      const box = await openBox(cell);
      if (box) {
        seen.boxes.push({ prompt: box.prompt, password: box.password });
        const next = queue.shift();
        if (!next) throw new Error(`a box nobody expected: ${JSON.stringify(box.prompt)}`);
        if (next.kind === 'password') await answerPassword(box, next.value);
        else if (next.kind === 'keys') await typeKeys(box, next.value);
        else await answerText(box, next.value);
        continue;
      }
      const prompt = await promptOf();
      if (prompt !== before && /^\[\d+\]:$/.test(prompt)) break;
      if (sample) seen.samples.push(await output());
      if (Date.now() > end) {
        throw new Error(`cell ${index} did not finish within ${timeout} ms (prompt ${prompt})`);
      }
      await sleep(100);
    }
    if (queue.length) seen.unused = queue.length;
  } catch (e) {
    seen.error = String(e && e.message ? e.message : e);
  }
  seen.prompt = await promptOf();
  seen.output = await output();
  return seen;
}

// Save the notebook (Ctrl+S) and wait until its tab is no longer marked dirty.
async function save(page, { timeout = 15000 } = {}) {
  await cells(page).first().locator('.jp-InputPrompt').click();
  await page.keyboard.press('Control+s');
  const dirty = page.locator('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty');
  const end = Date.now() + timeout;
  while ((await dirty.count()) > 0) {
    if (Date.now() > end) throw new Error(`the notebook was still unsaved after ${timeout} ms`);
    await sleep(100);
  }
}

// The sshpty host item in the status bar (JupyterLab) or the notebook's toolbar (both UIs).
function hostItem(page, where) {
  const scope = where === 'statusbar' ? '#jp-main-statusbar' : '.jp-NotebookPanel-toolbar';
  return page.locator(`${scope} .sshpty-host`).first();
}

// What the host item shows: state, label, state text, mark and the mark's colours as computed.
async function readHostItem(page, where) {
  const item = hostItem(page, where);
  if ((await item.count()) === 0) return null;
  return item.evaluate((el) => {
    const mark = el.querySelector('.sshpty-host-mark');
    const style = mark ? getComputedStyle(mark) : null;
    return {
      state: el.dataset.sshptyState,
      label: el.querySelector('.sshpty-host-label')?.textContent ?? '',
      stateText: el.querySelector('.sshpty-host-state')?.textContent ?? '',
      title: el.title,
      visible: el.offsetParent !== null,
      mark: mark && !mark.hidden ? mark.textContent : null,
      markHtml: mark ? mark.innerHTML : null,
      markBackground: style && !mark.hidden ? style.backgroundColor : null,
      markColor: style && !mark.hidden ? style.color : null,
    };
  });
}

// Wait until the host item shows STATE (and LABEL, when given); the time it took is recorded.
async function expectHostItem(page, want) {
  const t0 = Date.now();
  const end = t0 + (want.timeout || 20000);
  let seen = null;
  for (;;) {
    seen = await readHostItem(page, want.where);
    if (seen && seen.state === want.state && (!want.label || seen.label.includes(want.label))) {
      return { seen, ms: Date.now() - t0 };
    }
    if (Date.now() > end) {
      throw new Error(`the ${want.where} item did not show ${JSON.stringify(want)} within `
        + `${want.timeout || 20000} ms; it shows ${JSON.stringify(seen)}`);
    }
    await sleep(100);
  }
}

// Log in to a JupyterHub through its login page (PAM: the user's system password), as a user
// does; the session cookie then opens the user's server in this page's browser context.
async function hubLogin(page, loginUrl, user, password, { timeout = 60000 } = {}) {
  await page.goto(loginUrl, { timeout });
  await page.locator('#username_input').fill(user);
  await page.locator('#password_input').fill(password);
  await page.locator('#login_submit').click();
  await page.waitForURL((u) => !String(u).includes('/hub/login'), { timeout });
}

module.exports = {
  CHROMIUM, launch, openNotebook, cells, runCell, openBox, answerBox, answerPassword,
  answerText, typeKeys, dialogText, save, readHostItem, expectHostItem, hubLogin,
};
