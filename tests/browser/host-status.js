#!/usr/bin/env node
// node host-status.js SCENARIO.json RESULT.json
//
// Drives the sshpty extension's host item (labextension/src/widget.ts) in JupyterLab or
// Notebook 7 in headless chromium: opens notebooks, runs cells, runs commands on this machine
// between steps (to kill a connection), waits for the host item to show a state, and records
// what the page shows (the item's text and colours, a cell's output and its mark's colour).
// The assertions live in tests/integration/test_lab_host.py; this file drives and observes.
//
// SCENARIO: {"artifacts": "/dir", "name": "prefix", "steps": [
//   {"open": "http://.../lab/tree/a.ipynb?token=...", "page": "a"},   // a new tab named "a"
//   {"run": 0, "page": "a", "timeout": 30000},                       // Shift+Enter in cell 0
//   {"expect": {"page": "a", "where": "statusbar" | "toolbar", "state": "connected",
//               "label": "substring", "timeout": 20000}},            // wait until shown
//   {"exec": ["pkill", "-KILL", "-u", "user"]},                      // on this machine
//   {"output": 1, "page": "a"},                                      // a cell's output
//   {"shot": "label", "page": "a"},
//   {"eval": "typeof window.__pwned", "page": "a"},
//   {"restart": true, "page": "a"}]}                                 // 0 0, then Restart
// Stops at the first step that fails; every step's record goes to RESULT.json.

'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const lab = require('./lab');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Open URL in a new tab and wait until the notebook's first cell can be typed into and the
// toolbar's host item has heard from the kernel (its state is no longer "none").
async function open(browser, url) {
  // Wide enough for JupyterLab's notebook toolbar to keep every item (a narrower one moves
  // the last items, ours among them, into its overflow menu).
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  page.setDefaultTimeout(30000);
  await page.goto(url, { timeout: 60000 });
  await page.locator('.jp-NotebookPanel').first().waitFor({ timeout: 60000 });
  await lab.cells(page).first().locator('.jp-InputArea-editor').waitFor({ timeout: 60000 });
  const end = Date.now() + 60000;
  for (;;) {
    const dialog = await lab.dialogText(page);
    if (dialog) throw new Error(`a dialog opened with the notebook: ${JSON.stringify(dialog)}`);
    const item = await lab.readHostItem(page, 'toolbar');
    if (item && item.state !== 'none') break;
    if (Date.now() > end) {
      throw new Error(`the toolbar's host item never heard from the kernel: ${JSON.stringify(item)}`);
    }
    await sleep(200);
  }
  return page;
}

// A cell's output as shown, and the header mark's colours in it.
async function output(page, index) {
  const cell = lab.cells(page).nth(index);
  return cell.locator('.jp-OutputArea').first().evaluate((el) => {
    const marks = [...el.querySelectorAll('.sshpty-mark')].map((m) => ({
      text: m.textContent, background: getComputedStyle(m).backgroundColor,
    }));
    return { text: el.innerText, marks, images: el.querySelectorAll('img').length };
  });
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
      const page = step.page ? pages[step.page] : current;
      if (step.open) {
        pages[step.page] = await open(browser, step.open);
        current = pages[step.page];
      } else if (step.run !== undefined) {
        const seen = await lab.runCell(page, step.run, { timeout: step.timeout || 30000 });
        record.seen = seen;
        if (seen.error || seen.dialog) throw new Error(`cell ${step.run}: ${seen.error || seen.dialog}`);
      } else if (step.expect) {
        const p = step.expect.page ? pages[step.expect.page] : current;
        Object.assign(record, await lab.expectHostItem(p, step.expect));
      } else if (step.exec) {
        record.stdout = execFileSync(step.exec[0], step.exec.slice(1), { timeout: 20000 })
          .toString();
      } else if (step.output !== undefined) {
        record.output = await output(page, step.output);
      } else if (step.shot) {
        await shot(page, step.shot);
      } else if (step.eval) {
        record.value = await page.evaluate(step.eval);
      } else if (step.restart) {
        // The notebook's own shortcut (command mode: 0 0), then the dialog's Restart.
        await lab.cells(page).first().locator('.jp-InputPrompt').click();
        await page.keyboard.press('Escape');
        await page.keyboard.press('0');
        await page.keyboard.press('0');
        const accept = page.locator('.jp-Dialog .jp-mod-accept');
        await accept.waitFor({ timeout: 10000 });
        await accept.click();
        await page.locator('.jp-Dialog').waitFor({ state: 'detached', timeout: 10000 });
      }
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
