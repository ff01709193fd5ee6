// Browser tests of the page people see (issue 5, SPEC §5): headless Chromium
// from Debian (/usr/bin/chromium) driven by playwright-core, on a 390x844
// touch phone, against the real binary.
//
//   node tests/browser/run.mjs build/mnmfa
//
// The script starts everything it talks to on 127.0.0.1 in a temporary
// directory: the daemon (free ports, its own certificate), a fake Chatfuel
// (plain HTTP, recording every call) and a stand-in for wa.me. Chromium
// resolves wa.me to that stand-in and every other name to nothing
// (--host-resolver-rules), so the 303 to https://wa.me/<digits> really lands
// and no request can leave the machine; links tapped to wa.me are also
// fulfilled by a route. Prints "ok   NAME" or "FAIL NAME: WHY" per test, then
// "N passed, N failed" (read by scripts/run-tests); exits non-zero on failure.
// Screenshots of every state go to <dir of the binary>/screenshots/.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

import { Failure, STEP_MS, check, eq, freePort, listen, request, sleep, waitFor } from './common.mjs';

const BIN = path.resolve(process.argv[2] || 'build/mnmfa');
const SHOTS = path.join(path.dirname(BIN), 'screenshots');
const CHROMIUM = process.env.MNMFA_CHROMIUM || '/usr/bin/chromium';
const WA_DIGITS = '5215550001111';
const WA_URL = `https://wa.me/${WA_DIGITS}`;
const DOB = '1990-05-17';
const BOT = 'bot-7';
const TOKEN = 'tok-secret';
const FLOW = 'flow-after-mfa';
const PHONE = { width: 390, height: 844 };
const WATCHDOG_MS = 120000;    // the whole run, should anything hang
const HTML_MAX = 10 * 1024;    // issue 5: the HTML stays under ~10 KB
const CONTRAST_MIN = 4.5;

const ES = {
  question: '¿Cuál es tu fecha de nacimiento?',
  none: 'Ninguna de las opciones',
  expired: 'Este enlace ha vencido. Vuelve al chat para pedir uno nuevo.',
  back: 'Volver al chat',
  landing: 'No hay ninguna solicitud de verificación',
  notFound: 'Este enlace no es válido o ha vencido',
  gone: 'Este enlace ya fue usado',
  date: /^\d{1,2} de (enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre) de \d{4}$/,
  dob: '17 de mayo de 1990',
};
const EN = {
  question: 'What is your date of birth?',
  none: 'None of the options',
  date: /^(January|February|March|April|May|June|July|August|September|October|November|December) \d{1,2}, \d{4}$/,
  dob: 'May 17, 1990',
};

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-gpu', '--disable-quic',
  '--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication',
];

// ---- small helpers ----

// Daemons still running when the process ends (a crash, the watchdog) die with it.
const procs = new Set();
process.on('exit', () => { for (const p of procs) p.kill('SIGKILL'); });

// ---- the world around the page ----

// Chatfuel's Broadcasting API as mnmfa calls it:
// POST /bots/{bot}/users/{client}/send?chatfuel_token=..&chatfuel_flow_name=..&user_validated=..
async function startFakeChatfuel() {
  const calls = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    req.resume();
    req.on('end', () => {
      calls.push({ method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams) });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"success":true,"result":"ok"}');
    });
  });
  const port = await listen(server);
  return {
    port,
    calls,
    close: () => new Promise((r) => server.close(r)),
    callFor: (client) => waitFor(
      () => calls.find((c) => c.path === `/bots/${BOT}/users/${client}/send`),
      `a Chatfuel call for ${client}`),
  };
}

// wa.me as Chromium reaches it here: a page on 127.0.0.1 (see --host-resolver-rules).
async function startWaStub(certDir) {
  const hits = [];
  const server = https.createServer({
    cert: fs.readFileSync(path.join(certDir, 'cert.pem')),
    key: fs.readFileSync(path.join(certDir, 'key.pem')),
  }, (req, res) => {
    hits.push(`${req.headers.host}${req.url}`);
    if (req.url === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>WhatsApp (test stand-in)</title><p>wa.me stand-in</p></html>');
  });
  const port = await listen(server);
  return { port, hits, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

async function startDaemon(dir, name, chatfuelPort, extra = []) {
  const db = path.join(dir, `${name}.db`);
  for (let attempt = 0; ; attempt++) {
    const web = await freePort();
    const api = await freePort();
    const logPath = path.join(dir, `${name}.log`);
    const log = fs.openSync(logPath, 'w');
    const args = ['serve', '--bind', '127.0.0.1', '--web-port', String(web), '--api-port', String(api),
      '--public-url', `https://127.0.0.1:${web}`,
      '--tls-cert', path.join(dir, 'cert.pem'), '--tls-key', path.join(dir, 'key.pem'),
      '--tls-autogen', 'false', '--whatsapp-number', `+${WA_DIGITS}`, '--db-path', db,
      '--chatfuel-bot-id', BOT, '--chatfuel-token', TOKEN,
      '--chatfuel-base-url', `http://127.0.0.1:${chatfuelPort}`, '--lang', 'es', ...extra];
    const proc = spawn(BIN, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    procs.add(proc);
    let exited = null;
    proc.on('exit', (code, sig) => { exited = sig || code; procs.delete(proc); });
    const up = await waitFor(async () => {
      if (exited !== null) return 'exited';
      try {
        const a = await request('GET', `https://127.0.0.1:${web}/healthz`);
        const b = await request('GET', `https://127.0.0.1:${api}/healthz`);
        return a.status === 200 && b.status === 200 ? 'up' : false;
      } catch {
        return false;
      }
    }, `${name} to answer /healthz`, 10000).catch(() => 'timeout');
    if (up === 'up') {
      return {
        web: `https://127.0.0.1:${web}`,
        api: `https://127.0.0.1:${api}`,
        log: () => fs.readFileSync(logPath, 'utf8'),
        stop: () => new Promise((resolve) => {
          if (exited !== null) return resolve();
          const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
          proc.on('exit', () => { clearTimeout(t); resolve(); });
          proc.kill('SIGTERM');
        }),
      };
    }
    if (exited === null) proc.kill('SIGKILL');
    // a port taken between freePort() and bind(): try new ones, once
    if (attempt >= 1) throw new Error(`${name} did not start (${up}):\n${fs.readFileSync(logPath, 'utf8')}`);
  }
}

let seq = 0;
// Mints through the JSON API: question "date" so the test knows the answer.
async function mint(daemon, fields = {}) {
  seq += 1;
  const body = {
    client_id: `user-${seq}`,
    phone: `521555000${String(2000 + seq)}`,   // one phone per link: clear of rate_phone
    flow_name: FLOW,
    dob: DOB,
    question: 'date',
    ...fields,
  };
  const res = await request('POST', `${daemon.api}/v1/challenges`, JSON.stringify(body),
    { 'Content-Type': 'application/json' });
  if (res.status !== 201) throw new Error(`mint: HTTP ${res.status}: ${res.body}`);
  const j = JSON.parse(res.body);
  return { ...j, client: body.client_id, phone: body.phone };
}

// ---- the browser and what it sees ----

const seen = [];          // every request any page made: { host, url }
const problems = [];      // console errors, page errors, CSP violations, blocked requests
let routedWa = 0;

async function newContext(browser, label, opts = {}) {
  const ctx = await browser.newContext({
    viewport: PHONE,
    screen: PHONE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    ignoreHTTPSErrors: true,
    locale: 'es-MX',
    timezoneId: 'America/Mexico_City',
    colorScheme: 'light',
    reducedMotion: 'no-preference',
    ...opts,
  });
  ctx.setDefaultTimeout(STEP_MS);
  ctx.on('request', (r) => {
    const u = new URL(r.url());
    seen.push({ host: u.hostname, url: r.url(), label });
  });
  // Taps on a wa.me link are navigations a route can answer; the 303 from
  // /validate_answer is a redirect, which Chromium follows itself (to the stub).
  await ctx.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === '127.0.0.1') return route.continue();
    if (u.protocol === 'https:' && u.hostname === 'wa.me') {
      routedWa += 1;
      return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8',
        body: '<!doctype html><html lang="en"><title>WhatsApp (test stand-in)</title><p>wa.me</p></html>' });
    }
    problems.push(`${label}: blocked a request to ${u.href}`);
    return route.abort('blockedbyclient');
  });
  if (opts.javaScriptEnabled !== false) {
    await ctx.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} refused ${e.blockedURI || '(inline)'}`);
      });
    });
  }
  ctx.on('page', (page) => watch(page, label));
  return ctx;
}

// Documents the tests open on purpose that answer 404/410: Chromium logs
// "Failed to load resource" for them, which is no fault of the page.
const expectedErrorDocs = new Set();
async function gotoExpecting(page, url, status) {
  expectedErrorDocs.add(url);
  const res = await page.goto(url);
  eq(res.status(), status, `GET ${url}`);
  return res;
}

function watch(page, label, sink = problems) {
  page.on('console', (m) => {
    const where = m.location().url || '';
    if (m.type() === 'error' && /^Failed to load resource: the server responded with a status of 4(04|10) /.test(m.text()) &&
        expectedErrorDocs.has(where)) {
      return;
    }
    if (m.type() === 'error' || m.type() === 'warning' || /Content.Security.Policy/i.test(m.text())) {
      sink.push(`${label}: console ${m.type()}: ${m.text()}${where ? ` (${where})` : ''}`);
    }
  });
  page.on('pageerror', (e) => sink.push(`${label}: page error: ${e.message}`));
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// The options as the page shows them.
async function readOptions(page) {
  return page.$$eval('label.option', (labels) => labels.map((l) => {
    const i = l.querySelector('input');
    return { value: i.value, type: i.type, name: i.name, text: l.textContent.trim() };
  }));
}

function rightAnswer(options) {
  return options.some((o) => o.value === DOB) ? DOB : 'none';
}

// Taps the option with this value, then Confirm; resolves once on wa.me.
async function answer(page, value) {
  const label = page.locator('label.option', { has: page.locator(`input[value="${value}"]`) });
  await label.tap();
  check(await page.locator(`input[name="respuesta"][value="${value}"]`).isChecked(),
    `tapping the option ${value} did not check its radio`);
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith('https://wa.me/'), { timeout: STEP_MS }),
    page.locator('button[type="submit"]').tap(),
  ]);
  eq(page.url(), WA_URL, 'the page after answering');
}

// WCAG 2 contrast of every piece of text against the surface under it.
function contrastReport() {
  const lin = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  // rgb(...) / color(srgb ...) as computed; alpha is composited over what is below.
  const parse = (s) => {
    let m = s.match(/^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/);
    if (m) return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]];
    m = s.match(/^color\((srgb|srgb-linear) ([\d.e-]+) ([\d.e-]+) ([\d.e-]+)(?: \/ ([\d.]+))?\)$/);
    if (m) {
      let v = [+m[2], +m[3], +m[4]];
      if (m[1] === 'srgb-linear') v = v.map((x) => (x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055));
      return [...v.map((x) => Math.round(Math.min(1, Math.max(0, x)) * 255)), m[5] === undefined ? 1 : +m[5]];
    }
    return null;
  };
  const over = (top, below) => top.slice(0, 3).map((c, i) => c * top[3] + below[i] * (1 - top[3]));
  const bgOf = (el) => {
    const stack = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { stack.push(c); if (c[3] >= 1) break; }
    }
    let rgb = [255, 255, 255];
    for (let i = stack.length - 1; i >= 0; i--) rgb = over(stack[i], rgb);
    return rgb;
  };
  const lum = (rgb) => 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const st = getComputedStyle(el);
    if (!own || st.display === 'none' || st.visibility === 'hidden' || el.closest('[hidden]')) continue;
    if (el.matches(':disabled, [disabled], label:has(input:disabled)')) continue;   // WCAG: inactive controls are exempt
    const fg = parse(st.color);
    const bg = bgOf(el);
    if (!fg) { out.push({ text: el.textContent.trim().slice(0, 40), error: `cannot read colour ${st.color}` }); continue; }
    const a = lum(over(fg, bg)), b = lum(bg);
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push({ tag: el.tagName.toLowerCase(), text: el.textContent.trim().slice(0, 40), fg: st.color, ratio: Math.round(ratio * 100) / 100 });
  }
  return out;
}

async function checkContrast(page, what) {
  const rows = await page.evaluate(contrastReport);
  check(rows.length >= 3, `${what}: only ${rows.length} text elements measured`);
  const bad = rows.filter((r) => r.error || r.ratio < CONTRAST_MIN);
  check(bad.length === 0, `${what}: contrast under ${CONTRAST_MIN}:1: ${JSON.stringify(bad)}`);
  return Math.min(...rows.map((r) => r.ratio));
}

// ---- the tests ----

async function main() {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    console.log(`FAIL setup: playwright-core is not installed (scripts/install-deps runs npm ci): ${e.message}`);
    return { passed: 0, failed: 1 };
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`FAIL setup: ${CHROMIUM} not found (scripts/install-deps installs Debian's chromium)`);
    return { passed: 0, failed: 1 };
  }
  if (!fs.existsSync(BIN)) {
    console.log(`FAIL setup: ${BIN} not found (run make)`);
    return { passed: 0, failed: 1 };
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mnmfa-browser-'));
  const cleanups = [];
  let passed = 0;
  let failed = 0;
  const report = (name, err) => {
    if (!err) {
      passed += 1;
      console.log(`ok   ${name}`);
    } else {
      failed += 1;
      const why = err instanceof Failure ? err.message : (err.stack || String(err));
      console.log(`FAIL ${name}: ${why.split('\n').slice(0, 6).join('\n    ')}`);
    }
  };
  const run = async (name, fn) => {
    const t = Date.now();
    try {
      await fn();
      if (process.env.MNMFA_TEST_TIMES) console.log(`# ${name}: ${Date.now() - t} ms`);
      report(name);
    } catch (e) {
      report(name, e);
    }
  };

  try {
    execFileSync(BIN, ['gen-cert', '--out', dir, '--host', '127.0.0.1'], { stdio: 'ignore' });
    const chatfuel = await startFakeChatfuel();
    cleanups.push(chatfuel.close);
    const wa = await startWaStub(dir);
    cleanups.push(wa.close);
    const d = await startDaemon(dir, 'mnmfa', chatfuel.port);
    cleanups.push(d.stop);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS,
        // wa.me is the local stand-in; every other name resolves to nothing.
        `--host-resolver-rules=MAP wa.me 127.0.0.1:${wa.port}, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1`],
    });
    cleanups.push(() => browser.close());
    const es = await newContext(browser, 'es');

    // The countdown runs in the background while the other tests do theirs.
    const countdown = (async () => {
      const ctx = await newContext(browser, 'countdown');
      const page = await ctx.newPage();
      const m = await mint(d, { expires_in: 10 });
      const t0 = Date.now();
      await page.goto(m.url);
      const first = await page.locator('#timer').textContent();
      check(/^Este enlace vence en 0:(10|0\d)$/.test(first), `timer at load: ${JSON.stringify(first)}`);
      eq(await page.locator('#send').isDisabled(), false, 'submit disabled before expiry');
      await sleep(2000);
      const later = await page.locator('#timer').textContent();
      check(later !== first && /^Este enlace vence en 0:0\d$/.test(later), `timer 2 s later: ${JSON.stringify(later)} (was ${JSON.stringify(first)})`);
      await page.locator('#expired').filter({ hasText: ES.expired }).waitFor({ timeout: Math.max(1000, 13000 - (Date.now() - t0)) });
      const waited = Date.now() - t0;
      check(waited >= 9000, `expired after only ${waited} ms`);
      eq(await page.locator('#send').isDisabled(), true, 'submit disabled at zero');
      const enabled = await page.locator('input[name="respuesta"]:enabled').count();
      eq(enabled, 0, 'options still enabled at zero');
      eq(await page.locator('#timer').isVisible(), false, 'the countdown is hidden at zero');
      const back = page.locator('a#back');
      eq(await back.isVisible(), true, 'back-to-chat button visible at zero');
      eq(await back.getAttribute('href'), WA_URL, 'back-to-chat href');
      await sleep(300);   // let the last border transition settle for the picture
      await shot(page, 'expired');
      await gotoExpecting(page, m.url, 404);   // the server agrees: expired
      await ctx.close();
    })().then(() => null, (e) => e);   // awaited by its test below

    let decided = null;   // a link already answered, for the 410 test

    await run('landing page: Spanish by Accept-Language, back-to-chat link', async () => {
      const page = await es.newPage();
      const res = await page.goto(`${d.web}/`);
      eq(res.status(), 200, 'GET / status');
      eq(await page.getAttribute('html', 'lang'), 'es', 'html lang');
      eq((await page.locator('h1').textContent()).trim(), ES.landing, 'heading');
      eq(await page.locator('a.button').getAttribute('href'), WA_URL, 'back-to-chat link');
      eq((await page.locator('a.button').textContent()).trim(), ES.back, 'back-to-chat text');
      await shot(page, 'landing');
      await page.close();
    });

    await run('pending page in Spanish (Accept-Language es-MX): contract, dates in words, under 10 KB', async () => {
      const page = await es.newPage();
      const m = await mint(d);
      const assets = [];
      page.on('response', (r) => { if (r.url().includes('/static/')) assets.push(r); });
      const res = await page.goto(m.url);
      eq(res.status(), 200, 'page status');
      const html = await res.text();
      check(Buffer.byteLength(html) < HTML_MAX, `HTML is ${Buffer.byteLength(html)} bytes`);
      check(html.includes('<form method="post" action="/validate_answer"'), 'the literal SPEC §5 form tag is missing');
      for (const secret of [m.client, m.phone, FLOW, DOB.replace(/-/g, '')]) {
        check(!html.includes(secret), `the page contains ${secret}`);
      }
      check(!/ style=|<style|<script>|on(click|load|submit)=/.test(html), 'inline style or script in the page');
      const csp = res.headers()['content-security-policy'] || '';
      check(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), `CSP: ${csp}`);
      eq(await page.getAttribute('html', 'lang'), 'es', 'html lang');
      eq(await page.locator('form').count(), 1, 'forms');
      eq(await page.getAttribute('form', 'method'), 'post', 'form method');
      eq(await page.getAttribute('form', 'action'), '/validate_answer', 'form action');
      eq(await page.locator('input[type="hidden"][name="page_id"]').getAttribute('value'), m.id, 'hidden page_id');
      eq((await page.locator('legend').textContent()).trim(), ES.question, 'question (legend)');
      eq(await page.locator('legend h2').count(), 1, 'the question is a heading');
      const opts = await readOptions(page);
      eq(opts.length, 5, 'options (choices 4 + none)');
      for (const o of opts) {
        check(o.type === 'radio' && o.name === 'respuesta', `option ${o.value} is not a respuesta radio`);
      }
      const dates = opts.slice(0, -1);
      for (const o of dates) {
        check(/^\d{4}-\d{2}-\d{2}$/.test(o.value), `option value ${o.value} is not YYYY-MM-DD`);
        check(ES.date.test(o.text), `option shown as ${JSON.stringify(o.text)}`);
      }
      eq(opts[4].value, 'none', 'last option value');
      eq(opts[4].text, ES.none, 'last option text');
      if (dates.some((o) => o.value === DOB)) {
        eq(dates.find((o) => o.value === DOB).text, ES.dob, 'the date of birth in words');
      }
      const box = await page.locator('label.option').first().boundingBox();
      check(box.height >= 48 && box.width >= 300, `option tap target ${box.width}x${box.height}`);
      const sub = await page.locator('button[type="submit"]').boundingBox();
      check(sub.height >= 48, `submit button height ${sub.height}`);
      const timer = await page.locator('#timer').textContent();
      check(/^Este enlace vence en [01]:\d\d$/.test(timer), `timer ${JSON.stringify(timer)}`);
      const ref = JSON.parse(await page.locator('#refdata').inputValue());
      for (const k of ['ua', 'lang', 'screen', 'tz', 'platform']) check(k in ref, `refdata lacks ${k}: ${JSON.stringify(ref)}`);
      eq(ref.lang, 'es-MX', 'refdata.lang');
      eq(ref.tz, 'America/Mexico_City', 'refdata.tz');
      eq(ref.screen, '390x844', 'refdata.screen');
      check(assets.length >= 3, `static assets loaded: ${assets.length}`);
      for (const r of assets) {
        const h = r.headers();
        check(r.status() === 200 && /immutable/.test(h['cache-control'] || '') && h.etag,
          `${r.url()}: ${r.status()} cache-control=${h['cache-control']} etag=${h.etag}`);
      }
      await page.waitForTimeout(200);
      await shot(page, 'pending-es');
      await page.close();
    });

    await run("pending page in English: the link's lang beats Accept-Language", async () => {
      const page = await es.newPage();
      const m = await mint(d, { lang: 'en' });
      await page.goto(m.url);
      eq(await page.getAttribute('html', 'lang'), 'en', 'html lang');
      eq((await page.locator('legend').textContent()).trim(), EN.question, 'question');
      const opts = await readOptions(page);
      for (const o of opts.slice(0, -1)) check(EN.date.test(o.text), `option shown as ${JSON.stringify(o.text)}`);
      eq(opts.at(-1).text, EN.none, 'none option');
      if (opts.some((o) => o.value === DOB)) eq(opts.find((o) => o.value === DOB).text, EN.dob, 'the date of birth in words');
      check(/^This link expires in [01]:\d\d$/.test(await page.locator('#timer').textContent()), 'English timer');
      await page.locator('label.option').first().tap();   // the picture shows a chosen option
      await page.waitForTimeout(300);
      await shot(page, 'pending-en');
      await page.close();
    });

    await run('pending page in English by Accept-Language en-US', async () => {
      const ctx = await newContext(browser, 'en', { locale: 'en-US', timezoneId: 'America/New_York' });
      const page = await ctx.newPage();
      const m = await mint(d);
      await page.goto(m.url);
      eq(await page.getAttribute('html', 'lang'), 'en', 'html lang');
      eq((await page.locator('legend').textContent()).trim(), EN.question, 'question');
      await ctx.close();
    });

    await run('tapping the right answer lands on wa.me and Chatfuel gets user_validated=true', async () => {
      const page = await es.newPage();
      const m = await mint(d);
      await page.goto(m.url);
      const right = rightAnswer(await readOptions(page));
      await answer(page, right);
      check(wa.hits.includes(`wa.me/${WA_DIGITS}`), `the wa.me stand-in saw ${JSON.stringify(wa.hits)}`);
      const call = await chatfuel.callFor(m.client);
      eq(call.method, 'POST', 'Chatfuel method');
      eq(call.query.user_validated, 'true', `user_validated (answered ${right})`);
      eq(call.query.chatfuel_flow_name, FLOW, 'chatfuel_flow_name');
      eq(call.query.chatfuel_token, TOKEN, 'chatfuel_token');
      decided = m;
      await page.close();
    });

    await run('tapping a wrong answer lands on wa.me and Chatfuel gets user_validated=false', async () => {
      const page = await es.newPage();
      const m = await mint(d);
      await page.goto(m.url);
      const opts = await readOptions(page);
      const right = rightAnswer(opts);
      const wrong = opts.find((o) => o.value !== right).value;
      await answer(page, wrong);
      const call = await chatfuel.callFor(m.client);
      eq(call.query.user_validated, 'false', `user_validated (answered ${wrong}, right was ${right})`);
      await page.close();
    });

    await run('sum question and entry mode: hint, number input, a date typed in is right', async () => {
      const page = await es.newPage();
      const sum = await mint(d, { question: 'sum', lang: 'en' });
      await page.goto(sum.url);
      check(/month and the day/.test(await page.locator('legend').textContent()), 'sum question');
      eq(await page.locator('fieldset').getAttribute('aria-describedby'), 'hint', 'the hint describes the group');
      check(/5 \+ 17 = 22/.test(await page.locator('#hint').textContent()), 'sum hint');
      for (const o of (await readOptions(page)).slice(0, -1)) {
        check(/^\d{1,2}$/.test(o.value) && +o.value >= 2 && +o.value <= 43, `sum option ${o.value}`);
      }
      const entry = await mint(d, { mode: 'entry' });
      await page.goto(entry.url);
      const input = page.locator('input[name="respuesta"]');
      eq(await input.count(), 1, 'entry inputs');
      eq(await input.getAttribute('type'), 'date', 'entry input type');
      eq(await input.getAttribute('max'), new Date().toISOString().slice(0, 10), 'latest date allowed');
      await input.fill(DOB);
      await Promise.all([page.waitForURL(WA_URL), page.locator('button[type="submit"]').tap()]);
      eq((await chatfuel.callFor(entry.client)).query.user_validated, 'true', 'user_validated for the typed date');
      await page.close();
    });

    await run('without JavaScript the form still posts the right answer (user_validated=true)', async () => {
      const ctx = await newContext(browser, 'nojs', { javaScriptEnabled: false });
      const page = await ctx.newPage();
      const m = await mint(d);
      await page.goto(m.url);
      check(/^Este enlace vence en 1:00$|^Este enlace vence en 0:5\d$/.test(await page.locator('#timer').textContent()),
        'the server-rendered timer text');
      eq(await page.locator('a#back').isVisible(), false, 'back-to-chat button hidden while pending');
      await answer(page, rightAnswer(await readOptions(page)));
      eq((await chatfuel.callFor(m.client)).query.user_validated, 'true', 'user_validated');
      await ctx.close();
    });

    await run('a used link shows the 410 page; its back-to-chat button goes to wa.me', async () => {
      check(decided, 'no answered link (the right-answer test failed)');
      const page = await es.newPage();
      await gotoExpecting(page, decided.url, 410);
      eq(await page.getAttribute('html', 'lang'), 'es', 'html lang');
      eq((await page.locator('h1').textContent()).trim(), ES.gone, 'heading');
      eq(await page.locator('form').count(), 0, 'forms');
      const back = page.locator('a.button');
      eq(await back.getAttribute('href'), WA_URL, 'back-to-chat href');
      await shot(page, '410');
      const before = routedWa;
      await Promise.all([page.waitForURL(WA_URL), back.tap()]);
      eq(routedWa, before + 1, 'the tap on wa.me was answered locally');
      await page.close();
    });

    await run('an unknown link shows the 404 page with a back-to-chat link', async () => {
      const page = await es.newPage();
      await gotoExpecting(page, `${d.web}/AAAAAAAAAAAAAAAAAAAAAA`, 404);
      eq((await page.locator('h1').textContent()).trim(), ES.notFound, 'heading');
      eq(await page.locator('a.button').getAttribute('href'), WA_URL, 'back-to-chat href');
      await shot(page, '404');
      await gotoExpecting(page, `${d.web}/not-a-page-id`, 404);
      await page.close();
    });

    await run('dark mode: dark surfaces, text contrast >= 4.5:1', async () => {
      const ctx = await newContext(browser, 'dark', { colorScheme: 'dark' });
      const page = await ctx.newPage();
      const m = await mint(d);
      await page.goto(m.url);
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      eq(bg, 'rgb(16, 21, 19)', 'body background in dark mode');
      await page.locator('label.option').nth(1).tap();
      await page.waitForTimeout(300);
      await checkContrast(page, 'dark');
      await shot(page, 'dark');
      await ctx.close();
    });

    await run('light mode: text contrast >= 4.5:1 on every page', async () => {
      const page = await es.newPage();
      const m = await mint(d);
      await page.goto(m.url);
      await page.locator('label.option').first().tap();
      await page.waitForTimeout(300);
      await checkContrast(page, 'light, pending');
      await gotoExpecting(page, `${d.web}/AAAAAAAAAAAAAAAAAAAAAA`, 404);
      await checkContrast(page, 'light, 404');
      await page.close();
    });

    await run('brand colour: a light brand_color gets dark button text; brand name shown', async () => {
      const b = await startDaemon(dir, 'brand', chatfuel.port,
        ['--brand-color', '#ffd60a', '--brand-name', 'Caja Popular']);
      cleanups.push(b.stop);
      for (const scheme of ['light', 'dark']) {
        const ctx = await newContext(browser, `brand-${scheme}`, { colorScheme: scheme });
        const page = await ctx.newPage();
        const m = await mint(b);
        await page.goto(m.url);
        eq((await page.locator('.brand').textContent()).trim(), 'Caja Popular', 'brand name');
        const ink = await page.locator('#send').evaluate((e) => getComputedStyle(e).color);
        check(/^(rgb\(0, 0, 0\)|color\(srgb(-linear)? 0 0 0\))$/.test(ink), `button text on #ffd60a is ${ink}`);
        await checkContrast(page, `brand ${scheme}`);
        await shot(page, `brand-${scheme}`);
        await ctx.close();
      }
      await b.stop();
    });

    await run('reduced motion: no transitions; keyboard focus is visible on an option', async () => {
      const ctx = await newContext(browser, 'motion', { reducedMotion: 'reduce' });
      const page = await ctx.newPage();
      const m = await mint(d);
      await page.goto(m.url);
      eq(await page.locator('label.option').first().evaluate((e) => getComputedStyle(e).transitionDuration),
        '0s', 'transition with prefers-reduced-motion: reduce');
      const normal = await es.newPage();
      await normal.goto(m.url);
      check(await normal.locator('label.option').first().evaluate((e) => getComputedStyle(e).transitionDuration) !== '0s',
        'no transition without reduced motion (the check would prove nothing)');
      await normal.close();
      for (let i = 0; i < 10; i++) {
        await page.keyboard.press('Tab');
        if (await page.evaluate(() => document.activeElement && document.activeElement.name === 'respuesta')) break;
      }
      const outline = await page.evaluate(() => {
        const l = document.activeElement.closest('label');
        const s = getComputedStyle(l);
        return `${s.outlineStyle} ${s.outlineWidth}`;
      });
      eq(outline, 'solid 3px', 'focus outline on the option');
      await ctx.close();
    });

    await run('CSP: an injected inline style is refused and reported (the watch below works)', async () => {
      const own = [];
      const ctx = await newContext(browser, 'csp');
      const page = await ctx.newPage();
      watch(page, 'csp', own);
      const m = await mint(d);
      await page.goto(m.url);
      await page.evaluate(() => {
        const s = document.createElement('style');
        s.textContent = 'body { background: red }';
        document.head.appendChild(s);
      });
      await waitFor(() => own.some((p) => /CSP violation: style-src/.test(p)), 'a CSP violation report');
      check(await page.evaluate(() => getComputedStyle(document.body).backgroundColor) !== 'rgb(255, 0, 0)',
        'the inline style was applied');
      await ctx.close();
      // this context's reports are expected; drop them from the global list
      for (let i = problems.length - 1; i >= 0; i--) if (problems[i].startsWith('csp: ')) problems.splice(i, 1);
    });

    await run('the countdown expires the page: expired text, submit disabled, back-to-chat shown', async () => {
      const err = await countdown;
      if (err) throw err;
    });

    await es.close();

    await run('no request left 127.0.0.1 (wa.me answered by the local stand-in)', async () => {
      check(seen.length >= 20, `only ${seen.length} requests recorded`);
      const outside = seen.filter((r) => r.host !== '127.0.0.1' && r.host !== 'wa.me');
      check(outside.length === 0, `requests to other hosts: ${JSON.stringify(outside.map((r) => r.url))}`);
      const waReqs = seen.filter((r) => r.host === 'wa.me' && !r.url.endsWith('/favicon.ico')).length;
      eq(waReqs, wa.hits.filter((h) => !h.endsWith('/favicon.ico')).length + routedWa,
        'wa.me requests answered locally');
      const blocked = problems.filter((p) => /blocked a request/.test(p));
      check(blocked.length === 0, blocked.join('; '));
    });

    await run('no console error, page error or CSP violation', async () => {
      const rest = problems.filter((p) => !/blocked a request/.test(p));
      check(rest.length === 0, rest.join('\n'));
    });
  } catch (e) {
    report('setup', e);
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

const t0 = Date.now();
const { passed, failed } = await main();
console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${path.relative(process.cwd(), SHOTS) || SHOTS}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
