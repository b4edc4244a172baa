#!/usr/bin/env node
// node terminal.js SCENARIO.json RESULT.json
//
// Drives the live terminal in a cell (labextension/src/terminal*.ts) in JupyterLab or Notebook
// 7 in headless chromium, with real key presses: starts a cell without waiting for it, waits
// for its output to become a terminal (typing or watching), clicks into it, types, presses
// keys, waits for text on the terminal's screen (or for it to go), saves the notebook, reloads
// a tab, answers the keys box a page without the extension shows, and records what the page
// shows (the terminal's rows, the cell's output, input boxes, the notebook's cells and mode).
// The assertions live in tests/integration/test_lab_terminal.py; this file drives and observes.
//
// SCENARIO: {"artifacts": "/dir", "name": "prefix", "steps": [
//   {"open": "http://.../lab/tree/a.ipynb?token=...", "page": "a"},  // a new tab named "a";
//       // ready when the toolbar's host item heard from the kernel (JupyterLab, Notebook 7)
//   {"open": URL, "page": "a", "login": {"url": ".../hub/login", "user": "alice",
//       "env": "VAR"}},                            // log in to a JupyterHub first (its
//       // password in $VAR), then open URL through the hub's proxy
//   {"open": URL, "page": "a", "extension": false},  // JupyterLab without our extension:
//       // ready when the kernel is idle (lab.openNotebook); records the host items seen (0)
//   {"start": 0, "page": "a"},                     // click into cell 0, Shift+Enter, no wait
//   {"terminal": 0, "typing": true, "timeout": 30000},   // wait for cell 0's terminal
//   {"terminal": 0, "ended": true},                // ... until it says its program ended
//   {"click": 0},                                  // click into cell 0's terminal (focus)
//   {"look": 0},                                   // cell 0's terminal now (no wait), or null
//   {"type": "ihello"}, {"press": "Escape"},       // real key presses, into what has focus
//   {"screen": 0, "contains": "hello", "timeout": 10000},  // wait for text on its screen;
//   {"screen": 0, "matches": "^1$"},               //  or a match of a regex there (flags:
//                                                  //  "flags", "m" when not given);
//   {"screen": 0, "lacks": "-- INSERT --"},        //  or until that text is gone from it
//   {"notebook": true},                            // the notebook: cells (code, markdown),
//                                                  //  command mode, the tab's dirty mark, focus
//   {"save": true},                                // Ctrl+S into what has focus, then wait
//                                                  //  until the tab's dirty mark is gone
//   {"box": 1, "keys": "ihi<Esc>:wq<CR>"},         // wait for cell 1's input box, record it and
//                                                  //  the output, answer it (lab.typeKeys)
//   {"box": 1, "password": "VAR"}, {"box": 1, "text": "bars"},  // or a password box with
//                                                  //  $VAR, a text box with the text
//   {"host": {"where": "statusbar", "state": "connected", "label": "ops"}},  // wait until
//                                                  //  the host item shows it
//   {"done": 0, "timeout": 30000},                 // wait until cell 0 ended (its prompt
//                                                  //  shows a count: only in the page that
//                                                  //  sent the execute_request); its output
//   {"output": 0},                                 // cell 0's output now
//   {"reload": true},                              // reload the tab (same tab: sessionStorage)
//   {"viewport": [1200, 900]},                     // resize the window
//   {"exec": ["cmd", "arg"]}, {"shot": "label"}, {"eval": "js expression"}, {"sleep": ms}]}
// Stops at the first step that fails; every step's record goes to RESULT.json.

'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const lab = require('./lab');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function terminalOf(page, index) {
  return lab.cells(page).nth(index).locator('.sshpty-terminal').first();
}

// What a cell's terminal shows: its attributes and the rows on its screen.
async function readTerminal(page, index) {
  const term = terminalOf(page, index);
  if ((await term.count()) === 0) return null;
  return term.evaluate((el) => ({
    id: el.dataset.sshptyTerminal || null,
    typing: el.dataset.sshptyTyping || null,
    ended: el.dataset.sshptyEnded || null,
    rows: el.querySelector('.xterm-rows')?.innerText ?? '',
    focused: el.contains(document.activeElement),
    width: el.getBoundingClientRect().width,
  }));
}

async function until(what, timeout, probe) {
  const end = Date.now() + timeout;
  let last = null;
  for (;;) {
    last = await probe();
    if (last && last.ok) return last.value;
    if (Date.now() > end) {
      throw new Error(`${what} not seen within ${timeout} ms; last: ${JSON.stringify(last)}`);
    }
    await sleep(100);
  }
}

// Open URL (or reload PAGE) and wait until the notebook's first cell can be typed into and the
// extension's host item has heard from the kernel (its comms are open).
async function ready(page) {
  await page.locator('.jp-NotebookPanel').first().waitFor({ timeout: 60000 });
  await lab.cells(page).first().locator('.jp-InputArea-editor').waitFor({ timeout: 60000 });
  await until('the host item hearing from the kernel', 60000, async () => {
    const dialog = await lab.dialogText(page);
    if (dialog) throw new Error(`a dialog opened with the notebook: ${JSON.stringify(dialog)}`);
    const state = await page.locator('.jp-NotebookPanel-toolbar .sshpty-host').first()
      .getAttribute('data-sshpty-state').catch(() => null);
    return { ok: state !== null && state !== 'none', value: state };
  });
}

// The notebook of PAGE: how many cells of each kind, whether it is in command mode, whether
// its tab is marked unsaved (JupyterLab's tab bar), and where the focus is.
async function notebookState(page) {
  return page.evaluate(() => {
    const nb = document.querySelector('.jp-NotebookPanel .jp-Notebook');
    const cells = nb ? [...nb.querySelectorAll('.jp-Cell')] : [];
    const el = document.activeElement;
    return {
      cells: cells.length,
      code: cells.filter((c) => c.classList.contains('jp-CodeCell')).length,
      markdown: cells.filter((c) => c.classList.contains('jp-MarkdownCell')).length,
      commandMode: !!nb && nb.classList.contains('jp-mod-commandMode'),
      dirty: document.querySelectorAll('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty').length > 0,
      inTerminal: !!(el && el.closest('.sshpty-terminal')),
      focus: el ? `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}` : null,
    };
  });
}

async function output(page, index) {
  const cell = lab.cells(page).nth(index);
  return {
    prompt: (await cell.locator('.jp-InputPrompt').first().innerText()).trim(),
    text: await cell.locator('.jp-OutputArea').first().innerText().catch(() => ''),
    boxes: await cell.locator('.jp-Stdin').count(),
    terminals: await cell.locator('.sshpty-terminal').count(),
  };
}

async function main() {
  const [scenarioFile, resultFile] = process.argv.slice(2);
  const sc = JSON.parse(fs.readFileSync(scenarioFile, 'utf8'));
  const result = { steps: [], screenshots: [], error: null };
  const write = () => fs.writeFileSync(resultFile, JSON.stringify(result, null, 1));
  fs.mkdirSync(sc.artifacts, { recursive: true });
  const pages = {};
  const shot = async (page, label) => {
    const file = path.join(sc.artifacts, `${sc.name}-${label}.png`);
    await page.screenshot({ path: file }).then(() => result.screenshots.push(file), () => {});
  };
  const browser = await lab.launch();
  let current = null;
  try {
    for (const step of sc.steps) {
      const record = { step, ok: false };
      result.steps.push(record);
      write();
      if (step.page && !step.open) current = pages[step.page];
      const page = current;
      const t0 = Date.now();
      if (step.open) {
        const p = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
        p.setDefaultTimeout(30000);
        if (step.login) {
          const password = process.env[step.login.env];
          if (password === undefined) throw new Error(`login: $${step.login.env} is not set`);
          await lab.hubLogin(p, step.login.url, step.login.user, password);
        }
        if (step.extension === false) {
          record.kernel = await lab.openNotebook(p, step.open);
          record.hostItems = await p.locator('.sshpty-host').count();
        } else {
          await p.goto(step.open, { timeout: 60000 });
          await ready(p);
        }
        pages[step.page] = p;
        current = p;
      } else if (step.start !== undefined) {
        await lab.cells(page).nth(step.start).locator('.jp-InputArea-editor').click();
        await page.keyboard.press('Shift+Enter');
      } else if (step.terminal !== undefined) {
        record.seen = await until(`a terminal in cell ${step.terminal}`, step.timeout || 30000,
          async () => {
            const t = await readTerminal(page, step.terminal);
            const want = step.typing === undefined ? null : String(step.typing);
            const ended = step.ended === undefined || (t && (t.ended === 'true') === step.ended);
            return {
              ok: t && t.typing !== null && (want === null || t.typing === want) && ended,
              value: t,
            };
          });
      } else if (step.click !== undefined) {
        await terminalOf(page, step.click).locator('.xterm-screen').click();
        record.seen = await readTerminal(page, step.click);
      } else if (step.look !== undefined) {
        record.seen = await readTerminal(page, step.look);
      } else if (step.type !== undefined) {
        await page.keyboard.type(step.type, { delay: 15 });
      } else if (step.press !== undefined) {
        await page.keyboard.press(step.press);
      } else if (step.screen !== undefined) {
        let want;
        let what;
        if (step.contains !== undefined) {
          want = (rows) => rows.includes(step.contains);
          what = JSON.stringify(step.contains);
        } else if (step.matches !== undefined) {
          const flags = step.flags === undefined ? 'm' : step.flags;
          const re = new RegExp(step.matches, flags);
          want = (rows) => re.test(rows);
          what = `a match of /${step.matches}/${flags}`;
        } else if (step.lacks !== undefined) {
          want = (rows) => !rows.includes(step.lacks);
          what = `no ${JSON.stringify(step.lacks)}`;
        } else {
          throw new Error(`a screen step wants contains, matches or lacks: ${JSON.stringify(step)}`);
        }
        record.seen = await until(`${what} on cell ${step.screen}'s terminal`,
          step.timeout || 15000, async () => {
            const t = await readTerminal(page, step.screen);
            return { ok: t && want(t.rows), value: t };
          });
      } else if (step.done !== undefined) {
        record.output = await until(`the end of cell ${step.done}`, step.timeout || 30000,
          async () => {
            const o = await output(page, step.done);
            return { ok: /^\[\d+\]:$/.test(o.prompt), value: o };
          });
      } else if (step.notebook) {
        record.value = await notebookState(page);
      } else if (step.save) {
        // As a user does: Ctrl+S, and again if the tab is still marked unsaved 5 s later. A
        // display update the server paced behind the save marks the tab again (seen once in
        // CI on a loaded machine); a notebook that never stays saved still fails.
        record.before = await notebookState(page);
        const end = Date.now() + (step.timeout || 15000);
        record.presses = 0;
        for (;;) {
          await page.keyboard.press('Control+s');
          record.presses += 1;
          try {
            record.value = await until('the notebook saved (its tab not marked dirty)',
              Math.max(0, Math.min(5000, end - Date.now())), async () => {
                const st = await notebookState(page);
                return { ok: !st.dirty, value: st };
              });
            break;
          } catch (e) {
            if (Date.now() >= end) throw e;
          }
        }
      } else if (step.box !== undefined) {
        const cell = lab.cells(page).nth(step.box);
        const box = await until(`an input box in cell ${step.box}`, step.timeout || 30000,
          async () => {
            const b = await lab.openBox(cell);
            return { ok: !!b, value: b };
          });
        record.prompt = box.prompt;
        record.password = box.password;
        record.output = await output(page, step.box);
        if (step.password !== undefined) {
          const value = process.env[step.password];
          if (value === undefined) throw new Error(`box: $${step.password} is not set`);
          await lab.answerPassword(box, value);
        } else if (step.text !== undefined) {
          await lab.answerText(box, step.text);
        } else {
          await lab.typeKeys(box, step.keys);
        }
      } else if (step.output !== undefined) {
        record.output = await output(page, step.output);
      } else if (step.host) {
        Object.assign(record, await lab.expectHostItem(page, step.host));
      } else if (step.reload) {
        await page.reload({ timeout: 60000 });
        await ready(page);
      } else if (step.viewport) {
        await page.setViewportSize({ width: step.viewport[0], height: step.viewport[1] });
      } else if (step.exec) {
        record.stdout = execFileSync(step.exec[0], step.exec.slice(1), { timeout: 20000 })
          .toString();
      } else if (step.shot) {
        await shot(page, step.shot);
      } else if (step.eval) {
        record.value = await page.evaluate(step.eval);
      } else if (step.sleep) {
        await sleep(step.sleep);
      }
      record.ms = Date.now() - t0;
      record.ok = true;
      write();
    }
  } catch (e) {
    result.error = String(e && e.stack ? e.stack : e);
    for (const [name, page] of Object.entries(pages)) await shot(page, `error-${name}`);
  } finally {
    write();
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
