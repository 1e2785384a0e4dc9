// The person who approves a device code (tests/harness/oidc.rs): opens the
// verification page, types the user code, confirms, signs in to oidc-provider's
// development login as LOGIN (which becomes the token's `sub`) and consents —
// plain HTTP form posts with the provider's cookies, as a browser would send them.
//
// usage: node approve.mjs VERIFICATION_URI USER_CODE LOGIN
// Prints one line per page; exits 0 when the provider says the device is signed in.
const [verification, userCode, login] = process.argv.slice(2);
const jar = new Map();

function cookieHeader() {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}

async function go(url, init = {}) {
  for (let hops = 0; hops < 20; hops += 1) {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers || {}), cookie: cookieHeader() },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location'), url).href;
      init = {};
      continue;
    }
    return { url, status: res.status, html: await res.text() };
  }
  throw new Error(`too many redirects from ${url}`);
}

// The first form that is not an abort/cancel form, with its inputs' names and values.
function firstForm(html) {
  const forms = [...html.matchAll(/<form([^>]*)>([\s\S]*?)<\/form>/g)];
  for (const [, attrs, body] of forms) {
    if (/abort|cancel/i.test(attrs)) continue;
    const action = (attrs.match(/action="([^"]*)"/) || [])[1];
    const fields = {};
    for (const [input] of body.matchAll(/<input[^>]*>/g)) {
      const name = (input.match(/name="([^"]*)"/) || [])[1];
      if (!name) continue;
      fields[name] = (input.match(/value="([^"]*)"/) || [])[1] || '';
    }
    return { action, fields };
  }
  return null;
}

let page = await go(verification);
for (let step = 0; step < 10; step += 1) {
  const title = (page.html.match(/<title>([^<]*)<\/title>/) || [])[1] || '';
  process.stdout.write(`page ${page.status} ${title} ${new URL(page.url).pathname}\n`);
  if (/success/i.test(title) || /signed in|successfully/i.test(page.html)) {
    process.exit(0);
  }
  const form = firstForm(page.html);
  if (!form) {
    process.stdout.write(page.html);
    process.exit(1);
  }
  if ('user_code' in form.fields && !form.fields.user_code) form.fields.user_code = userCode;
  if ('login' in form.fields) form.fields.login = login;
  if ('password' in form.fields) form.fields.password = 'any';
  if (/deviceConfirm|confirm/i.test(page.html) && !('confirm' in form.fields)) form.fields.confirm = 'yes';
  page = await go(new URL(form.action, page.url).href, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form.fields).toString(),
  });
}
process.stdout.write('no success page after 10 steps\n');
process.exit(1);
