// A real browser for dmflow's `--browser` option: Debian's Chromium, headless, driven by
// playwright-core. It opens the authorization URL (the emulator's consent page), clicks Allow
// or Deny, follows the redirect into dmflow's loopback callback page, and records what it saw:
// each page's text, headers, the URLs it loaded and every src/href, plus screenshots.
//
//   node browser.mjs URL
//   BROWSER_ACTION=allow|deny   the button to click (default allow)
//   BROWSER_OUT=DIR             where report.json and the screenshots go (required)
//   CHROMIUM=PATH               the browser (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const url = process.argv[2];
const action = process.env.BROWSER_ACTION || 'allow';
const out = process.env.BROWSER_OUT;
if (!url || !out) {
  console.error('usage: BROWSER_OUT=DIR node browser.mjs URL');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const report = { action, pages: [], requests: [], error: null };
// Written whole, then renamed: dmflow does not wait for its browser, the test waits for this.
const save = () => {
  writeFileSync(join(out, 'report.json.tmp'), JSON.stringify(report, null, 2));
  renameSync(join(out, 'report.json.tmp'), join(out, 'report.json'));
};

/// What a page is made of: its URL, status, headers, visible text, headings, list items,
/// buttons, and every src/href it names.
async function describe(page, response, name) {
  const shot = join(out, `${name}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  const seen = await page.evaluate(() => ({
    title: document.title,
    text: document.body.innerText,
    headings: [...document.querySelectorAll('h1')].map((h) => h.innerText),
    items: [...document.querySelectorAll('li')].map((li) => li.innerText),
    buttons: [...document.querySelectorAll('button')].map((b) => b.innerText),
    links: [...document.querySelectorAll('[src], [href]')].map(
      (e) => e.getAttribute('src') || e.getAttribute('href'),
    ),
  }));
  report.pages.push({
    name,
    url: page.url(),
    status: response ? response.status() : null,
    headers: response ? response.headers() : {},
    screenshot: shot,
    ...seen,
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  page.on('request', (request) => report.requests.push(request.url()));
  const consent = await page.goto(url, { waitUntil: 'load' });
  await describe(page, consent, 'consent');
  const button = page.getByRole('button', { name: action === 'deny' ? 'Deny' : 'Allow' });
  const [callback] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname.endsWith('/callback') || r.url().includes('/callback?'), { timeout: 15000 }),
    button.click({ timeout: 5000 }),
  ]);
  await page.waitForLoadState('load');
  await describe(page, callback, 'callback');
} catch (e) {
  report.error = String(e && e.stack ? e.stack : e);
} finally {
  save();
  await browser.close();
}
process.exit(report.error ? 1 : 0);
