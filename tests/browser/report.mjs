// Browser test of the dispute report (`mnmfa audit report`, issue 14): a real
// daemon, a challenge answered in headless Chromium (so refdata comes from the
// page's own script and the user agent carries markup), then the report of
// that page opened from disk as a person would. It must render, make no
// request at all beyond the file itself, run no script, fit the printable
// width of A4 and Letter, and print to PDF (Chromium's own) with pages.
//
//   node tests/browser/report.mjs build/mnmfa
//
// Prints "ok   NAME" / "FAIL NAME: WHY" and "N passed, N failed" (read by
// scripts/run-tests). The screenshot goes to <dir of the binary>/screenshots/.

import { spawn, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { Failure, check, eq, freePort, request, STEP_MS, waitFor } from './common.mjs';

const BIN = path.resolve(process.argv[2] || 'build/mnmfa');
const SHOTS = path.join(path.dirname(BIN), 'screenshots');
const CHROMIUM = process.env.MNMFA_CHROMIUM || '/usr/bin/chromium';
const DOB = '1984-02-29';
const WATCHDOG_MS = 60000;
// 96 px per inch: the printable width of A4 (210 mm) and Letter (8.5 in) less 12 mm margins.
const PRINT_WIDTH_PX = Math.floor(((210 - 24) / 25.4) * 96);
const UA = 'Mozilla/5.0 (Linux; Android 14) <script>alert("ua")</script> & "Evidence"/1';

const procs = new Set();
process.on('exit', () => { for (const p of procs) p.kill('SIGKILL'); });

// A Chatfuel that answers every call with success (the daemon's result goes somewhere).
async function startChatfuel() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{"success":true}'); });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}

async function startDaemon(dir, chatfuelPort) {
  const web = await freePort();
  const api = await freePort();
  const db = path.join(dir, 'audit.db');
  const log = fs.openSync(path.join(dir, 'mnmfa.log'), 'w');
  const proc = spawn(BIN, ['serve', '--bind', '127.0.0.1', '--web-port', String(web), '--api-port', String(api),
    '--public-url', `https://127.0.0.1:${web}`, '--tls-cert', path.join(dir, 'cert.pem'),
    '--tls-key', path.join(dir, 'key.pem'), '--tls-autogen', 'false', '--whatsapp-number', '+5215550001111',
    '--db-path', db, '--node-id', 'mfa-1', '--chatfuel-bot-id', 'bot-r', '--chatfuel-token', 'tok-r',
    '--chatfuel-base-url', `http://127.0.0.1:${chatfuelPort}`], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  procs.add(proc);
  let exited = null;
  proc.on('exit', (code, sig) => { exited = sig || code; procs.delete(proc); });
  await waitFor(async () => {
    if (exited !== null) throw new Failure(`mnmfa exited (${exited}): ${fs.readFileSync(path.join(dir, 'mnmfa.log'), 'utf8')}`);
    try {
      return (await request('GET', `https://127.0.0.1:${api}/healthz`)).status === 200;
    } catch { return false; }
  }, 'mnmfa to answer /healthz', 10000);
  return {
    db, api: `https://127.0.0.1:${api}`,
    stop: () => new Promise((resolve) => {
      if (exited !== null) return resolve();
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.on('exit', () => { clearTimeout(t); resolve(); });
      proc.kill('SIGTERM');
    }),
  };
}

function pdfPages(buf) {
  return (buf.toString('latin1').match(/\/Type\s*\/Page(?![s\w])/g) || []).length;
}

async function main() {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    console.log(`FAIL setup: playwright-core is not installed (scripts/install-deps runs npm ci): ${e.message}`);
    return { passed: 0, failed: 1 };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mnmfa-report-'));
  const cleanups = [];
  let passed = 0;
  let failed = 0;
  const run = async (name, fn) => {
    try {
      await fn();
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      const why = e instanceof Failure ? e.message : (e.stack || String(e));
      console.log(`FAIL ${name}: ${why.split('\n').slice(0, 6).join('\n    ')}`);
    }
  };
  try {
    execFileSync(BIN, ['gen-cert', '--out', dir, '--host', '127.0.0.1'], { stdio: 'ignore' });
    const cf = await startChatfuel();
    cleanups.push(cf.close);
    const d = await startDaemon(dir, cf.port);
    cleanups.push(d.stop);
    const browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-gpu', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
    });
    cleanups.push(() => browser.close());

    // The evidence: a challenge answered in the browser.
    const res = await request('POST', `${d.api}/v1/challenges`, JSON.stringify({
      client_id: 'cid-report', phone: '5215550007777', flow_name: 'after_mfa', dob: DOB, question: 'date',
    }), { 'Content-Type': 'application/json' });
    eq(res.status, 201, 'mint');
    const minted = JSON.parse(res.body);
    minted.page_id = new URL(minted.url).pathname.slice(1);
    const answerCtx = await browser.newContext({
      userAgent: UA, locale: 'en-US', timezoneId: 'Europe/Madrid', viewport: { width: 390, height: 844 },
      ignoreHTTPSErrors: true,
    });
    const ap = await answerCtx.newPage();
    await ap.goto(minted.url);
    const values = await ap.$$eval('input[name="respuesta"]', (xs) => xs.map((x) => x.value));
    const right = values.includes(DOB) ? DOB : 'none';
    await ap.locator(`input[name="respuesta"][value="${right}"]`).check();
    const [answered] = await Promise.all([
      ap.waitForResponse((r) => r.url().endsWith('/validate_answer')),
      ap.locator('button[type="submit"]').click(),
    ]);
    eq(answered.status(), 303, 'the answer');
    await answerCtx.close();
    await d.stop();

    const out = path.join(dir, 'report-en.html');
    const r = spawnSync(BIN, ['audit', 'report', minted.page_id, '--db', d.db, '--out', out, '--lang', 'en'],
      { encoding: 'utf8', timeout: STEP_MS, env: { ...process.env, TZ: 'America/Mexico_City' } });
    eq(r.status, 0, `mnmfa audit report (${r.stderr})`);

    const requests = [];
    const problems = [];
    const ctx = await browser.newContext({ viewport: { width: PRINT_WIDTH_PX, height: 1000 } });
    ctx.on('request', (q) => requests.push(q.url()));
    await ctx.route('**/*', (route) => {
      if (route.request().url() === pathToFileURL(out).href) return route.continue();
      return route.abort('blockedbyclient');
    });
    await ctx.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} refused ${e.blockedURI || '(inline)'}`);
      });
    });
    const page = await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(pathToFileURL(out).href);
    await page.waitForLoadState('load');

    await run('report renders: title, timeline rows, the evidence from the browser', async () => {
      eq((await page.locator('h1').textContent()).trim(), 'Evidence report', 'h1');
      eq(await page.locator('main table tbody tr').count(), 2, 'timeline rows (minted, approved)');
      const text = await page.locator('body').innerText();
      for (const want of ['approved', 'minted', minted.page_id, 'cid-report', '5215550007777', '127.0.0.1',
        'Europe/Madrid', 'en-US', 'signed checkpoints (Ed25519, audit_key) intact', 'signed at',
        'mnmfa audit verify', 'intact', 'mfa-1']) {
        check(text.includes(want), `expected ${JSON.stringify(want)} in the report's text`);
      }
      check(text.includes(UA), 'the user agent, markup included, shown as text');
      check(!text.includes(DOB), 'the date of birth is in the report');
    });

    await run('report runs no script and loads nothing but itself', async () => {
      eq(await page.evaluate(() => document.scripts.length), 0, 'script elements');
      eq(await page.locator('img, link, iframe, object, embed, video, audio, source').count(), 0,
        'elements that load something');
      eq(JSON.stringify(requests), JSON.stringify([pathToFileURL(out).href]), 'requests made');
      check(problems.length === 0, `console: ${problems.join('; ')}`);
    });

    await run('report fits the printable width of A4 and Letter and prints to PDF pages', async () => {
      const sw = await page.evaluate(() => document.documentElement.scrollWidth);
      check(sw <= PRINT_WIDTH_PX, `the report is ${sw} px wide, wider than ${PRINT_WIDTH_PX} px`);
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, 'report-en.png'), fullPage: true });
      await page.emulateMedia({ media: 'print' });
      for (const format of ['A4', 'Letter']) {
        const pdf = await page.pdf({ format, printBackground: true });
        check(pdf.subarray(0, 5).toString() === '%PDF-', `${format}: not a PDF`);
        const n = pdfPages(pdf);
        check(n >= 1 && n <= 4, `${format}: ${n} pages for a two-event report`);
      }
    });
    await ctx.close();
  } catch (e) {
    failed += 1;
    console.log(`FAIL setup: ${(e.stack || String(e)).split('\n').slice(0, 6).join('\n    ')}`);
  } finally {
    for (const c of cleanups.reverse()) {
      try { await c(); } catch { /* already gone */ }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { passed, failed };
}

const watchdog = setTimeout(() => {
  console.log(`FAIL watchdog: the run took over ${WATCHDOG_MS / 1000} s`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();
const { passed, failed } = await main();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
