// Drives headless Chromium over the DevTools protocol (node 20's WebSocket, no dependencies):
// opens the page, waits for the model, clicks "use the bundled cat photo" as a user would,
// waits for the result, reads the top-5 and the latency off the page and saves a screenshot.
//
//   node --experimental-websocket browser-test.mjs PAGE_URL SCREENSHOT.png
// Prints the page's rows as JSON; exits 1 unless the top-1 reads "Egyptian cat".
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, screenshot] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), 'mobilenet-web-'));
const chrome = spawn('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--window-size=900,1000', 'about:blank'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
const fail = (why) => { console.error(`browser-test: ${why}`); chrome.kill(); process.exit(1); };
setTimeout(() => fail('timed out after 120 s'), 120_000).unref();

// Chromium prints "DevTools listening on ws://..." once it is up.
const browserWs = await new Promise((resolve) => {
  let text = '';
  chrome.stderr.on('data', (d) => {
    text += d;
    const m = text.match(/DevTools listening on (ws:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
});
const port = new URL(browserWs).port;
const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const page = targets.find((t) => t.type === 'page');
const ws = new WebSocket(page.webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener('open', r));
let id = 0;
const pending = new Map();
ws.addEventListener('message', (e) => {
  const msg = JSON.parse(e.data);
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
});
const send = (method, params = {}) => new Promise((resolve) => {
  pending.set(++id, resolve);
  ws.send(JSON.stringify({ id, method, params }));
});
const evaluate = async (expression) => {
  const r = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
  if (r.result.exceptionDetails) fail(`page error: ${JSON.stringify(r.result.exceptionDetails)}`);
  return r.result.result.value;
};
const waitFor = async (expression) => {
  while (!(await evaluate(expression))) await new Promise((r) => setTimeout(r, 100));
};

await send('Page.enable');
await send('Page.navigate', { url });
await waitFor(`document.getElementById('status')?.textContent.startsWith('model ready')`);
await evaluate(`document.getElementById('bundled').click()`);
await waitFor(`document.getElementById('status').textContent === 'done'`);
const rows = await evaluate(`[...document.querySelectorAll('#top5 tr')].map((r) => [...r.cells].map((c) => c.textContent))`);
const latency = await evaluate(`document.getElementById('latency').textContent`);
const shot = await send('Page.captureScreenshot', { format: 'png' });
writeFileSync(screenshot, Buffer.from(shot.result.data, 'base64'));
console.log(JSON.stringify({ rows, latency }));
ws.close();
chrome.kill();
if (rows[0]?.[1] !== 'Egyptian cat') fail(`top-1 is ${JSON.stringify(rows[0])}, not Egyptian cat`);
// Chromium has relaxed-simd: the page must have picked that module.
if (!latency.includes('relaxed-simd')) fail(`the page did not take the relaxed-simd module: ${latency}`);
