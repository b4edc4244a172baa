#!/usr/bin/env node
// node run-notebook.js SCENARIO.json RESULT.json
//
// Opens a notebook in JupyterLab in headless chromium and runs the scenario's steps in order,
// one cell each, as a user would; writes what it saw to RESULT.json for the pytest test to
// assert on (tests/integration/test_lab.py). Stops at the first step that went wrong (an error
// or a dialog), since later cells would prove nothing. A screenshot after every step and on
// failure goes to the scenario's artifacts directory.
//
// SCENARIO: {
//   "url": "http://127.0.0.1:PORT/lab/tree/NAME.ipynb?token=...",
//   "artifacts": "/dir", "name": "prefix-of-screenshots",
//   "steps": [{"cell": 0, "timeout": 30000, "sample": false,
//              "answers": [{"kind": "password", "env": "VAR"}, {"kind": "text", "value": "bars"},
//                          {"kind": "keys", "value": "ihello<Esc>:wq<CR>"}]}],
//   "save": true
// }
// An answer's "env" names an environment variable holding it, so a password is in no file;
// RESULT.json never holds an answer.

'use strict';

const fs = require('fs');
const path = require('path');
const lab = require('./lab');

async function main() {
  const [scenarioFile, resultFile] = process.argv.slice(2);
  const sc = JSON.parse(fs.readFileSync(scenarioFile, 'utf8'));
  const result = { kernelName: null, steps: [], screenshots: [], pageText: '', saved: false, error: null };
  const write = () => fs.writeFileSync(resultFile, JSON.stringify(result, null, 1));
  const shot = async (page, label) => {
    const file = path.join(sc.artifacts, `${sc.name}-${label}.png`);
    await page.screenshot({ path: file, fullPage: true }).then(() => result.screenshots.push(file),
      () => {});
  };
  fs.mkdirSync(sc.artifacts, { recursive: true });
  const browser = await lab.launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.setDefaultTimeout(30000);
    try {
      result.kernelName = await lab.openNotebook(page, sc.url, { timeout: sc.openTimeout || 60000 });
      await shot(page, 'opened');
      for (const step of sc.steps) {
        const answers = (step.answers || []).map((a) => {
          const value = a.env !== undefined ? process.env[a.env] : a.value;
          if (value === undefined) throw new Error(`answer for cell ${step.cell}: $${a.env} is not set`);
          return { kind: a.kind, value };
        });
        const seen = await lab.runCell(page, step.cell,
          { answers, timeout: step.timeout || 30000, sample: !!step.sample });
        result.steps.push(seen);
        write();
        await shot(page, `cell${step.cell}`);
        if (seen.error || seen.dialog) break;
      }
      // Saved only when every step ran: a cell still running or a box still open is the
      // failure to look at, not the save.
      if (sc.save && result.steps.every((s) => !s.error && !s.dialog)) {
        await lab.save(page);
        result.saved = true;
      }
    } catch (e) {
      result.error = String(e && e.stack ? e.stack : e);
      await shot(page, 'error');
    }
    result.pageText = await page.locator('.jp-NotebookPanel .jp-Notebook').first().innerText()
      .catch(() => '');
  } finally {
    write();
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
