// A test "browser" for dmflow's `--browser` option against oidc-provider: it opens the
// authorization URL, signs in as alice, approves (or denies) the consent, and follows the
// redirect into dmflow's loopback callback.
//
//   node browser.mjs URL
//   TEST_BROWSER_ACTION=deny      click "deny" instead of approving
//   TEST_BROWSER_TAMPER=state     deliver the callback with a forged state first, then the real one
//   TEST_BROWSER_RECORD=PATH      write the final callback URL (with the code) to PATH
import { writeFileSync } from 'node:fs';

const jar = new Map();
const action = process.env.TEST_BROWSER_ACTION || 'approve';

function cookieHeader() {
  return [...jar.entries()].map(([k, v]) => `${k}=${v}`).join('; ');
}

function remember(response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const index = pair.indexOf('=');
    jar.set(pair.slice(0, index).trim(), pair.slice(index + 1).trim());
  }
}

async function request(url, options = {}) {
  const response = await fetch(url, { ...options, redirect: 'manual', headers: { ...(options.headers || {}), cookie: cookieHeader() } });
  remember(response);
  return response;
}

async function deliver(callback) {
  const url = new URL(callback);
  if (process.env.TEST_BROWSER_TAMPER === 'state') {
    const forged = new URL(callback);
    forged.searchParams.set('state', 'forged-state-value');
    await fetch(forged, { redirect: 'manual' });
  }
  if (process.env.TEST_BROWSER_RECORD) writeFileSync(process.env.TEST_BROWSER_RECORD, url.toString());
  await fetch(url, { redirect: 'manual' });
}

let url = process.argv[2];
for (let hops = 0; hops < 20; hops += 1) {
  if (url.startsWith('http://127.0.0.1') && new URL(url).pathname.endsWith('/callback')) {
    await deliver(url);
    process.exit(0);
  }
  const response = await request(url);
  if (response.status >= 300 && response.status < 400) {
    url = new URL(response.headers.get('location'), url).toString();
    continue;
  }
  const page = await response.text();
  const uid = new URL(url).pathname.split('/')[2];
  if (!url.includes('/interaction/')) {
    console.error(`unexpected page at ${url}: ${response.status}`);
    process.exit(1);
  }
  if (action === 'deny') {
    url = new URL(`/interaction/${uid}/abort`, url).toString();
    continue;
  }
  const body = page.includes('name="login"')
    ? new URLSearchParams({ prompt: 'login', login: 'alice', password: 'any' })
    : new URLSearchParams({ prompt: 'consent' });
  const posted = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  url = new URL(posted.headers.get('location'), url).toString();
}
console.error('too many redirects');
process.exit(1);
