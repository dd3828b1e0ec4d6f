// Drives code-server (a real VS Code) in headless Chromium for tests/editors/vscode.sh.
//
//   node drive.js --url URL --workspace DIR --out DIR --chromium PATH
//                 [--chrome-data DIR] [--docs-image FILE]
//
// Settings are changed in the workspace's .vscode/settings.json, as a user would: code-server
// does not notice a write to the user settings file made outside it.
//
// Each step polls for what it expects (never a fixed wait beyond UI settling), saves a
// screenshot, and the run stops at the first failure with fail.png. Exit status 1 on failure.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}
for (const required of ['url', 'workspace', 'out', 'chromium']) {
  if (!args[required]) {
    console.error(`drive.js: --${required} is required`);
    process.exit(2);
  }
}
const out = args.out;
const file = path.join(args.workspace, 'leaky.py');
const workspaceSettings = path.join(args.workspace, '.vscode', 'settings.json');
const originalSource = fs.readFileSync(file, 'utf8');
const fixedSource = originalSource.replace(
  '    f = open(path, encoding="utf-8")\n    text = f.read()\n',
  '    with open(path, encoding="utf-8") as f:\n        text = f.read()\n',
);

const t0 = Date.now();
const seconds = (ms) => (ms / 1000).toFixed(1);
const log = (...a) => console.log(`[${seconds(Date.now() - t0)}s]`, ...a);

let page;
const results = [];

/** Polls `fn` until it returns a truthy value; throws with `what` and the last value seen. */
async function poll(what, fn, { timeout = 30000, interval = 250 } = {}) {
  const end = Date.now() + timeout;
  let last;
  let lastError;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) {
        return last;
      }
    } catch (error) {
      lastError = error;
    }
    await page.waitForTimeout(interval);
  }
  const seen = lastError ? ` (last error: ${lastError.message.split('\n')[0]})` : last !== undefined ? ` (last: ${JSON.stringify(last)})` : '';
  throw new Error(`timed out after ${seconds(timeout)}s waiting for ${what}${seen}`);
}

async function shot(name) {
  await page.screenshot({ path: path.join(out, name) });
  log('screenshot', name);
}

function assert(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

/** Runs a command from the palette by its exact title. */
async function palette(title) {
  await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 15000 });
  await input.fill(`>${title}`);
  const row = page
    .locator('.quick-input-widget .quick-input-list .monaco-list-row')
    .filter({ has: page.locator('.monaco-highlighted-label', { hasText: title }) })
    .first();
  await row.waitFor({ state: 'visible', timeout: 15000 });
  const label = (await row.getAttribute('aria-label')) || (await row.innerText());
  assert(label.includes(title), `the palette offers "${label}" instead of "${title}"`);
  await row.click();
}

/** The screen box of `token` in the first editor line containing `snippet`. Injected text
 *  (inlay hints such as "3 refs", rendered in `dyn-rule-*` spans) is not part of the line. */
async function tokenBox(snippet, token) {
  return page.evaluate(
    ([snippet, token]) => {
      const injected = (node) => /\bdyn-rule-/.test(node.parentElement?.className || '');
      const textNodes = (line) => {
        const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        const nodes = [];
        let node;
        while ((node = walker.nextNode())) {
          if (!injected(node)) {
            nodes.push(node);
          }
        }
        return nodes;
      };
      const lines = document.querySelectorAll('.editor-group-container.active .monaco-editor .view-lines .view-line');
      for (const line of lines) {
        const nodes = textNodes(line);
        const text = nodes.map((n) => n.textContent).join('').replace(/\u00a0/g, ' ');
        const start = text.indexOf(snippet);
        if (start < 0) {
          continue;
        }
        const at = text.indexOf(token, start);
        if (at < 0) {
          continue;
        }
        const range = document.createRange();
        let offset = 0;
        let started = false;
        for (const node of nodes) {
          const length = node.textContent.length;
          if (!started && at < offset + length) {
            range.setStart(node, at - offset);
            started = true;
          }
          if (started && at + token.length <= offset + length) {
            range.setEnd(node, at + token.length - offset);
            const r = range.getBoundingClientRect();
            return { x: r.x, y: r.y, width: r.width, height: r.height };
          }
          offset += length;
        }
      }
      return null;
    },
    [snippet, token],
  );
}

async function tokenCenter(snippet, token) {
  const box = await poll(`"${token}" in the line "${snippet}"`, () => tokenBox(snippet, token), { timeout: 15000 });
  return { x: box.x + box.width / 2, y: box.y + box.height / 2, box };
}

/** Moves the mouse onto `token` until a visible hover matches `pattern`; returns its text. */
async function hover(snippet, token, pattern, { timeout = 30000 } = {}) {
  let text = '';
  await poll(
    `a hover over "${token}" matching ${pattern}`,
    async () => {
      await page.mouse.move(5, 300); // off the editor: any hover closes
      await page.keyboard.press('Escape');
      const { x, y } = await tokenCenter(snippet, token);
      await page.mouse.move(x - 2, y);
      await page.mouse.move(x, y);
      const visible = page.locator('.monaco-hover:visible');
      try {
        await visible.first().waitFor({ state: 'visible', timeout: 4000 });
      } catch {
        return false;
      }
      // Let the content settle (it may still be rendering the Markdown).
      await page.waitForTimeout(150);
      text = (await visible.allInnerTexts()).join('\n');
      // VS Code shows the diagnostic part of a hover before the server's hover has arrived
      // ("Loading..."): wait for the whole hover.
      return pattern.test(text) && !/Loading\.\.\./.test(text);
    },
    { timeout, interval: 500 },
  ).catch((error) => {
    throw new Error(`${error.message}; last hover text: ${JSON.stringify(text.slice(0, 600))}`);
  });
  return text;
}

async function clickToken(snippet, token) {
  const { x, y } = await tokenCenter(snippet, token);
  await page.mouse.click(x, y);
}

async function squiggles() {
  return page.locator('.editor-group-container.active .monaco-editor .squiggly-warning').count();
}

/** Sets workspace settings (replacing what the driver set before). */
function writeSettings(settings) {
  fs.mkdirSync(path.dirname(workspaceSettings), { recursive: true });
  fs.writeFileSync(workspaceSettings, `${JSON.stringify(settings, null, 2)}\n`);
}

function restoreSettings() {
  writeSettings({});
}

function statusItem() {
  return page.locator('.statusbar-item[id$="reflens.status"]');
}

async function step(name, run) {
  const started = Date.now();
  log(`── ${name}`);
  await run();
  const took = Date.now() - started;
  results.push({ name, seconds: Number(seconds(took)) });
  log(`ok ${name} (${seconds(took)}s)`);
}

(async () => {
  fs.mkdirSync(out, { recursive: true });
  restoreSettings();
  const userData = args['chrome-data'] || fs.mkdtempSync(path.join(require('os').tmpdir(), 'chrome-'));
  const context = await chromium.launchPersistentContext(userData, {
    executablePath: args.chromium,
    headless: true,
    env: { ...process.env, XDG_CONFIG_HOME: path.join(userData, 'xdg-config'), XDG_CACHE_HOME: path.join(userData, 'xdg-cache') },
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') {
      fs.appendFileSync(path.join(out, 'console.log'), `${m.text()}\n`);
    }
  });
  let failed;
  try {
    await step('open the workbench', async () => {
      await page.goto(args.url, { timeout: 60000 });
      await page.waitForSelector('.monaco-workbench', { timeout: 90000 });
    });

    await step('open leaky.py', async () => {
      const item = page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'leaky.py' }).first();
      await item.waitFor({ timeout: 60000 });
      await item.click();
      await poll('leaky.py in the editor', () => tokenBox('CACHE = {}', 'CACHE'), { timeout: 60000 });
    });

    await step('diagnostic squiggle under open(...)', async () => {
      await poll('a warning squiggle', async () => (await squiggles()) > 0, { timeout: 90000 });
      const squiggle = await page.locator('.editor-group-container.active .monaco-editor .squiggly-warning').first().boundingBox();
      const { box } = await tokenCenter('f = open(', 'open');
      assert(
        squiggle && squiggle.x < box.x + box.width && box.x < squiggle.x + squiggle.width && Math.abs(squiggle.y - box.y) < box.height * 1.5,
        `the squiggle ${JSON.stringify(squiggle)} is not under "open" ${JSON.stringify(box)}`,
      );
      await shot('01-diagnostic.png');
    });

    await step('Problems panel entry with code and message', async () => {
      await page.keyboard.press('Control+Shift+M');
      const row = page.locator('.markers-panel .monaco-list-row', { hasText: 'RL401' }).first();
      await row.waitFor({ state: 'visible', timeout: 30000 });
      const text = await row.innerText();
      log('problems row:', JSON.stringify(text));
      assert(/file `?f`? opened by `?open\(\.\.\.\)`? is never closed in `?load_template\(\)`?/.test(text), `message missing in ${JSON.stringify(text)}`);
      assert(/reflens/.test(text) && /RL401/.test(text), `source/code missing in ${JSON.stringify(text)}`);
      assert(/\[Ln 7, Col 9\]/.test(text), `position missing in ${JSON.stringify(text)}`);
      await shot('02-problems.png');
      await page.keyboard.press('Control+J'); // hide the panel again
    });

    await step('hover over the finding', async () => {
      const text = await hover('f = open(', 'open', /RL401/);
      fs.writeFileSync(path.join(out, 'hover.txt'), text);
      log('hover:', JSON.stringify(text.slice(0, 300)));
      assert(/RL401\s*unclosed-resource/.test(text), 'the hover lacks "RL401 unclosed-resource"');
      assert(/is never closed in load_template\(\)/.test(text.replace(/`/g, '')), 'the hover lacks the message');
      assert(/Quick fix:.*\bwith\s+block/i.test(text.replace(/`/g, '')), 'the hover lacks the quick fix');
      await shot('03-hover.png');
      if (args['docs-image']) {
        // The editor with the squiggle and the hover (which overflows the editor), for docs/editors/vscode.md.
        const editor = await page.locator('.part.editor').boundingBox();
        await page.screenshot({ path: args['docs-image'], clip: { x: editor.x, y: editor.y, width: Math.min(900, 1280 - editor.x), height: Math.min(editor.height, 480) } });
        log('screenshot', path.basename(args['docs-image']));
      }
    });

    await step('rule documentation for the finding under the cursor', async () => {
      await page.mouse.move(5, 300);
      await clickToken('f = open(', 'open');
      await palette('reflens: Show Rule Documentation');
      const tab = page.locator('.tabs-container .tab', { hasText: 'RL401' }).first();
      await tab.waitFor({ state: 'visible', timeout: 30000 });
      const label = await tab.getAttribute('aria-label');
      log('docs tab:', label);
      await shot('04-rule-docs.png');
      await palette('View: Close Editor');
      await page.locator('.tabs-container .tab.active', { hasText: 'leaky.py' }).waitFor({ timeout: 15000 });
    });

    await step('a settings change applies without a restart', async () => {
      writeSettings({ 'reflens.ignore': ['RL401'] });
      await poll('the squiggle to go with reflens.ignore = ["RL401"]', async () => (await squiggles()) === 0, { timeout: 30000 });
      await shot('05-setting-ignore.png');
      restoreSettings();
      await poll('the squiggle to come back', async () => (await squiggles()) > 0, { timeout: 30000 });
    });

    await step('quick fix rewrites the file', async () => {
      const action = page.locator('.action-widget .monaco-list-row', { hasText: /in a .?with.? block/ }).first();
      let offered = [];
      await poll(
        'Ctrl+. on open(...) to offer "Open `f` in a `with` block"',
        async () => {
          await page.keyboard.press('Escape');
          await clickToken('f = open(', 'open');
          await page.keyboard.press('Control+Period');
          try {
            await action.waitFor({ state: 'visible', timeout: 3000 });
            return true;
          } catch {
            offered = await page.locator('.action-widget .monaco-list-row').allInnerTexts().catch(() => []);
            log('no quick fix menu yet; offered:', JSON.stringify(offered));
            return false;
          }
        },
        { timeout: 30000, interval: 500 },
      );
      log('code actions:', JSON.stringify(await page.locator('.action-widget .monaco-list-row').allInnerTexts()));
      await shot('06-quickfix-menu.png');
      await action.click();
      await poll('the editor to show the with block', () => tokenBox('with open(path, encoding="utf-8") as f:', 'with'), { timeout: 15000 });
      await page.keyboard.press('Control+S');
      await poll('leaky.py on disk to be fixed', () => fs.readFileSync(file, 'utf8') === fixedSource, { timeout: 15000 });
      await poll('the squiggle to go', async () => (await squiggles()) === 0, { timeout: 30000 });
      await shot('07-quickfix-applied.png');
    });

    await step('start a live session from the command palette', async () => {
      await page.mouse.move(5, 300);
      await palette('reflens: Start Live Session');
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await poll('the target prompt with leaky.py', async () => (await input.inputValue()) === 'leaky.py', { timeout: 15000 });
      await shot('08-live-start-prompt.png');
      await page.keyboard.press('Enter');
      await poll('the status bar to say the program finished', async () => /reflens: finished/.test(await statusItem().innerText().catch(() => '')), { timeout: 90000 });
      await shot('09-live-finished.png');
    });

    await step('hover over a module-level name shows the live refcount', async () => {
      const text = await hover('CACHE = {}', 'CACHE', /live \(finished\)[\s\S]*\b\d+ references?\b/, { timeout: 90000 });
      fs.writeFileSync(path.join(out, 'live-hover.txt'), text);
      log('live hover:', JSON.stringify(text.slice(0, 400)));
      const count = Number(/\b(\d+) references?\b/.exec(text)[1]);
      assert(count === 3, `CACHE should have 3 references (a global and two items of HANDLERS), the hover says ${count}`);
      assert(/items \[0\], \[1\] of list HANDLERS/.test(text), 'the hover lacks the HANDLERS referrer');
      await shot('10-live-hover.png');
    });

    await step('refcount inlay hints', async () => {
      await page.mouse.move(5, 300);
      await page.keyboard.press('Escape');
      const line = await poll(
        'the inlay hint "3 refs" next to CACHE',
        () => page.evaluate(() => {
          for (const l of document.querySelectorAll('.editor-group-container.active .view-line')) {
            const t = (l.textContent || '').replace(/\u00a0/g, ' ');
            if (/^CACHE\s*3 refs\b/.test(t)) {
              return t;
            }
          }
          return null;
        }),
        { timeout: 30000 },
      );
      log('line with hint:', JSON.stringify(line));
      await shot('11-inlay-hints.png');
    });

    await step('program output channel', async () => {
      await palette('reflens: Show Program Output');
      await poll(
        'the program output in "reflens: program"',
        async () => /hello from leaky\.py: 1 cached/.test((await page.locator('.part.panel .monaco-editor .view-lines').allInnerTexts()).join('\n').replace(/\u00a0/g, ' ')),
        { timeout: 30000 },
      );
      await shot('12-program-output.png');
      await page.keyboard.press('Control+J');
    });

    await step('reference graph of the object under the cursor', async () => {
      await clickToken('CACHE = {}', 'CACHE');
      await palette('reflens: Show Reference Graph');
      await page.locator('.tabs-container .tab', { hasText: 'Reference graph: CACHE' }).first().waitFor({ timeout: 30000 });
      const svg = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame').locator('svg.reference-graph');
      await svg.waitFor({ state: 'visible', timeout: 30000 });
      const nodes = await svg.locator('g.node').count();
      const labels = await svg.locator('g.node text.label').allTextContents();
      log('graph nodes:', JSON.stringify(labels));
      assert(nodes >= 3, `the graph has ${nodes} nodes`);
      assert(labels.includes('module __main__') && labels.includes('CACHE'), 'the graph lacks the root or the object');
      await shot('13-reference-graph.png');
      // Close the graph (it opened beside leaky.py without taking the focus).
      const graphTab = page.locator('.tabs-container .tab', { hasText: 'Reference graph: CACHE' }).first();
      await graphTab.click();
      await palette('View: Close Editor');
      await graphTab.waitFor({ state: 'detached', timeout: 15000 });
      await page.locator('.tabs-container .tab.active', { hasText: 'leaky.py' }).waitFor({ timeout: 15000 });
    });

    await step('status bar click stops the session', async () => {
      await statusItem().click();
      await poll('the status bar to say the session exited', async () => /reflens: exited/.test(await statusItem().innerText().catch(() => '')), { timeout: 30000 });
      await shot('14-session-stopped.png');
    });

    await step('a broken reflens.path gives one clear error', async () => {
      const broken = path.join(path.dirname(args.workspace), 'not-reflens');
      fs.writeFileSync(broken, 'not a program\n', { mode: 0o644 });
      writeSettings({ 'reflens.path': broken });
      const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'reflens.path' });
      await toast.first().waitFor({ state: 'visible', timeout: 30000 });
      const text = await toast.first().innerText();
      log('error:', JSON.stringify(text));
      assert(/cannot run: not executable/.test(text), 'the error does not say why');
      await toast.first().locator('.monaco-button', { hasText: 'Open Setting' }).waitFor({ timeout: 5000 });
      // Exactly one error about it (and no stack trace): watch the toasts for a moment.
      const end = Date.now() + 2000;
      while (Date.now() < end) {
        const all = await page.locator('.notifications-toasts .notification-toast', { hasText: 'reflens' }).allInnerTexts();
        assert(all.length === 1, `expected one reflens notification, saw ${JSON.stringify(all)}`);
        assert(!all.some((t) => /\bat .*\.js:\d+/.test(t)), 'a stack trace was shown');
        await page.waitForTimeout(250);
      }
      await shot('15-broken-binary.png');
      await toast.first().locator('.monaco-button', { hasText: 'Open Setting' }).click();
      await page.locator('.settings-editor').waitFor({ state: 'visible', timeout: 15000 });
      // On the tab where the broken value is set (the workspace's), showing that value.
      await poll(
        'the settings editor to show reflens.path with the broken value',
        () =>
          page.evaluate((broken) => {
            const editor = document.querySelector('.settings-editor');
            const titles = [...(editor?.querySelectorAll('.setting-item-title') ?? [])].map((e) => e.textContent || '');
            const values = [...(editor?.querySelectorAll('.setting-item-control input') ?? [])].map((e) => e.value);
            return titles.some((t) => /Path/.test(t)) && values.includes(broken);
          }, broken),
        { timeout: 15000 },
      );
      await shot('16-open-setting.png');
      await palette('View: Close Editor');
      await page.locator('.settings-editor').waitFor({ state: 'detached', timeout: 15000 });
      restoreSettings();
      // Back to leaky.py (the status bar item shows while a Python file is active).
      await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'leaky.py' }).first().click();
      await page.locator('.tabs-container .tab.active', { hasText: 'leaky.py' }).waitFor({ timeout: 15000 });
      // Back on leaky.py, the status bar item shows the server running again.
      await poll(
        'the server to come back (status bar item without the error)',
        async () => (await statusItem().count()) > 0 && (await statusItem().locator('.codicon-error').count()) === 0 && /reflens/.test(await statusItem().innerText()),
        { timeout: 30000 },
      );
      await shot('17-server-back.png');
    });
  } catch (error) {
    failed = error;
    log('FAIL', error.message.split('\n')[0]);
    await page.screenshot({ path: path.join(out, 'fail.png') }).catch(() => {});
  } finally {
    restoreSettings();
    fs.writeFileSync(path.join(out, 'steps.json'), JSON.stringify({ results, failed: failed ? failed.message : null }, null, 2));
    await context.close();
  }
  const passed = results.length;
  console.log('');
  for (const r of results) {
    console.log(`  ok   ${r.name} (${r.seconds}s)`);
  }
  if (failed) {
    console.log(`  FAIL ${failed.message}`);
  }
  console.log(`vscode e2e: ${passed} passed, ${failed ? 1 : 0} failed`);
  process.exitCode = failed ? 1 : 0;
})();
