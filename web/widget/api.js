// HTTP and WebSocket clients of the widget (no DOM here).

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || 'HTTP_' + status;
    this.body = body;
  }
}

function newKey() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return 'k' + Date.now().toString(36) + Math.random().toString(36).slice(2);
}

export class Api {
  constructor(baseUrl, getToken) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.getToken = getToken;
  }

  async call(method, path, body, { idempotent = false } = {}) {
    const headers = { Accept: 'application/json' };
    const token = this.getToken();
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (idempotent) headers['Idempotency-Key'] = newKey();
    const res = await fetch(this.baseUrl + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), mode: 'cors', credentials: 'omit',
    });
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = { error: text }; }
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  get(path) { return this.call('GET', path); }
  post(path, body, opts) { return this.call('POST', path, body === undefined ? {} : body, opts); }
  del(path) { return this.call('DELETE', path); }
}

// The contract's WebSocket: the server forgets subscriptions with the connection, so every (re)connect sends auth
// and then every subscription again. Reconnects back off exponentially (0.5 s .. 15 s, with jitter).
export class Socket {
  constructor(url, { onMessage, onStatus }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.subs = new Map(); // key -> subscribe message
    this.token = null;
    this.attempt = 0;
    this.reconnects = 0;
    this.opens = 0;
    this.closed = false;
    this.ws = null;
    this.timer = null;
    this.pinger = null;
  }

  start() { this.closed = false; this._open(); }

  stop() {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) this.ws.close();
    this.ws = null;
  }

  setToken(token) {
    this.token = token;
    if (this._ready()) {
      if (token) this._send({ type: 'auth', token });
      else this._reopen(); // logged out: a fresh connection without the old session
    }
  }

  subscribe(msg) {
    const key = JSON.stringify(msg);
    if (this.subs.has(key)) return;
    this.subs.set(key, msg);
    if (this._ready() && (!msg.private || this.authed)) this._send(this._wire('subscribe', msg));
  }

  unsubscribe(msg) {
    const key = JSON.stringify(msg);
    if (!this.subs.delete(key)) return;
    if (this._ready()) this._send(this._wire('unsubscribe', msg));
  }

  _wire(type, msg) {
    const out = { type, channel: msg.channel };
    if (msg.symbol) out.symbol = msg.symbol;
    if (msg.interval) out.interval = msg.interval;
    return out;
  }

  _ready() { return this.ws && this.ws.readyState === WebSocket.OPEN; }
  _send(obj) { this.ws.send(JSON.stringify(obj)); }

  _open() {
    this.onStatus('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this._schedule();
      return;
    }
    this.ws = ws;
    this.authed = false;
    ws.onopen = () => {
      this.attempt = 0;
      this.opens += 1;
      if (this.opens > 1) this.reconnects += 1;
      if (this.token) this._send({ type: 'auth', token: this.token });
      for (const msg of this.subs.values()) if (!msg.private) this._send(this._wire('subscribe', msg));
      this.onStatus('live');
      clearInterval(this.pinger);
      this.pinger = setInterval(() => { if (this._ready()) this._send({ type: 'ping' }); }, 30000);
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type === 'auth' && msg.ok) {
        this.authed = true;
        for (const m of this.subs.values()) if (m.private) this._send(this._wire('subscribe', m));
      }
      this.onMessage(msg);
    };
    ws.onclose = () => {
      clearInterval(this.pinger);
      if (this.ws === ws) this.ws = null;
      if (!this.closed) this._schedule();
    };
    ws.onerror = () => { /* onclose follows and schedules the reconnect */ };
  }

  _reopen() {
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.onclose = null;
      old.close();
    }
    this._open();
  }

  _schedule() {
    this.onStatus('reconnecting');
    const base = Math.min(15000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._open(), base / 2 + Math.random() * base / 2);
  }
}
