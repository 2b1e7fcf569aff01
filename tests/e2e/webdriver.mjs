// A small W3C WebDriver client (fetch only), enough for tauri-driver.

const ELEMENT = 'element-6066-11e4-a52f-4a50c2bd8b80';
// W3C key first; some drivers still answer with the legacy `ELEMENT`.
const elementId = (e) => e[ELEMENT] ?? e.ELEMENT ?? Object.values(e)[0];

export class WebDriverError extends Error {}

export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  static async start(base, capabilities, timeoutMs = 60_000) {
    const res = await request(base, 'POST', '/session', { capabilities: { alwaysMatch: capabilities } }, timeoutMs);
    return new Session(base, res.sessionId);
  }

  cmd(method, path, body) {
    return request(this.base, method, `/session/${this.id}${path}`, body);
  }

  async quit() {
    try {
      await this.cmd('DELETE', '');
    } catch {
      // The app may already be gone.
    }
  }

  /** The first element matching a CSS selector, or null. */
  async find(css) {
    const r = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return r.length ? new Element(this, elementId(r[0])) : null;
  }

  async findAll(css) {
    const r = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return r.map((e) => new Element(this, elementId(e)));
  }

  /** A button (or role=menuitem/tab) whose visible text contains `text`. */
  async button(text) {
    const q = JSON.stringify(text);
    const r = await this.cmd('POST', '/elements', {
      using: 'xpath',
      value: `//button[contains(normalize-space(.), ${q})]`,
    });
    return r.length ? new Element(this, elementId(r[0])) : null;
  }

  execute(script, args = []) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  executeAsync(script, args = []) {
    return this.cmd('POST', '/execute/async', { script, args });
  }

  async screenshot() {
    return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64');
  }

  async text() {
    return this.execute('return document.body.innerText;');
  }
}

export class Element {
  constructor(session, id) {
    this.s = session;
    this.id = id;
  }
  /** Clicks; while something still covers the element (a notice sliding
   * in or out moves the layout), tries again, for up to 3 s. */
  async click() {
    const until = Date.now() + 3000;
    for (;;) {
      try {
        return await this.s.cmd('POST', `/element/${this.id}/click`, {});
      } catch (e) {
        if (!/click intercepted/.test(String(e)) || Date.now() > until) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  text() {
    return this.s.cmd('GET', `/element/${this.id}/text`);
  }
  attr(name) {
    return this.s.cmd('GET', `/element/${this.id}/attribute/${name}`);
  }
  type(value) {
    return this.s.cmd('POST', `/element/${this.id}/value`, { text: value });
  }
}

async function request(base, method, path, body, timeoutMs = 30_000) {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok || (json.value && json.value.error)) {
    const v = json.value ?? {};
    throw new WebDriverError(`${method} ${path}: ${res.status} ${v.error ?? ''} ${v.message ?? ''}`);
  }
  return json.value;
}
