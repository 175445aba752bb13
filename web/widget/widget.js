// <st-trading-widget>: the embeddable trading UI (a Web Component with shadow DOM). /pages/chart.html is the same
// element in page mode. Attributes of the guide: broker-uid, api-url, default-symbol, width, theme, sso-token,
// brand-domain; extra: ws-url (the WebSocket URL when it is not <api-url>/ws, e.g. API Gateway's WebSocket
// stage), storage-key (where the session token is kept; the chart page uses auth_token), mode (widget|page).
// DOM events (bubbling, composed): st-login {user}, st-order {order} / {action:'cancel'|'close', ...},
// st-error {message, code, status}, st-logout {logoutRedirectUrl}.
import { createChart, CandlestickSeries } from 'lightweight-charts';
import { Api, Socket } from './api.js';
import { STYLE } from './style.js';

const INTERVAL = '1m';
const INTERVAL_S = 60;

function esc(v) {
  return String(v == null ? '' : v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function num(v, digits) {
  if (v === null || v === undefined || v === '') return '–';
  const n = Number(v);
  if (!isFinite(n)) return esc(v);
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const TEMPLATE = `
<div class="root" part="root">
  <header>
    <span class="brand"><span class="logo"></span><b id="brand">ST Trading</b></span>
    <select id="symbol" aria-label="symbol"></select>
    <span id="price" class="price">–</span>
    <span id="conn" class="conn" title="connection">●</span>
    <button id="theme" class="ghost" title="theme">◐</button>
  </header>
  <div id="error" class="error" hidden></div>
  <div class="body">
    <section class="main">
      <div id="chart" class="chart"></div>
    </section>
    <aside class="side">
      <form id="auth" class="card" hidden>
        <h3>Sign in</h3>
        <input id="username" name="username" autocomplete="username" placeholder="username" required minlength="3">
        <input id="password" name="password" type="password" autocomplete="current-password" placeholder="password" required minlength="8">
        <div class="row">
          <button id="login" type="submit" class="primary">Log in</button>
          <button id="register" type="button">Register</button>
        </div>
        <p class="hint" id="auth-hint"></p>
      </form>
      <div id="trade" hidden>
        <div class="card account">
          <div class="row between"><b id="account-name"></b><button id="logout" class="ghost">Log out</button></div>
          <div class="grid2">
            <span>Balance</span><span id="balance">–</span>
            <span>Available</span><span id="available">–</span>
            <span>Equity</span><span id="equity">–</span>
            <span>Unrealized PnL</span><span id="upnl">–</span>
          </div>
        </div>
        <form id="order" class="card">
          <div class="row sides">
            <button type="button" id="side-buy" class="side-btn buy active">Buy</button>
            <button type="button" id="side-sell" class="side-btn sell">Sell</button>
          </div>
          <div class="row">
            <select id="type" aria-label="order type"><option value="market">Market</option><option value="limit">Limit</option></select>
            <input id="leverage" type="number" min="1" step="1" value="1" aria-label="leverage" title="leverage">
          </div>
          <input id="order-price" placeholder="limit price" inputmode="decimal" hidden>
          <input id="quantity" placeholder="quantity" inputmode="decimal" required>
          <button id="submit" type="submit" class="primary buy">Buy</button>
        </form>
      </div>
    </aside>
  </div>
  <div id="lists" class="lists" hidden>
    <div class="tabs"><button id="tab-positions" class="tab active">Positions</button><button id="tab-orders" class="tab">Open orders</button></div>
    <table id="positions"><thead><tr><th>Symbol</th><th>Side</th><th>Qty</th><th>Entry</th><th>Mark</th><th>PnL</th><th></th></tr></thead><tbody></tbody></table>
    <table id="orders" hidden><thead><tr><th>Symbol</th><th>Side</th><th>Type</th><th>Qty</th><th>Price</th><th>Status</th><th></th></tr></thead><tbody></tbody></table>
  </div>
</div>`;

export class StTradingWidget extends HTMLElement {
  static get observedAttributes() {
    return ['broker-uid', 'api-url', 'default-symbol', 'width', 'theme', 'sso-token', 'brand-domain', 'ws-url', 'storage-key', 'mode'];
  }

  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
    this.shadowRoot.innerHTML = `<style>${STYLE}</style>${TEMPLATE}`;
    this.$ = (id) => this.shadowRoot.getElementById(id);
    this.state = { side: 'buy', symbols: [], symbol: null, price: null, user: null, bars: 0, lastBar: null, ticks: 0 };
    this.api = null;
    this.socket = null;
    this._refreshTimer = null;
  }

  // --- attributes -------------------------------------------------------------------------------------------
  get apiUrl() {
    const v = this.getAttribute('api-url');
    return (v || window.ST_API_URL || window.location.origin).replace(/\/+$/, '');
  }
  get brokerUid() { return this.getAttribute('broker-uid') || ''; }
  get storageKey() { return this.getAttribute('storage-key') || 'st_widget_token:' + (this.brokerUid || 'default'); }
  get wsUrl() {
    const v = this.getAttribute('ws-url') || (this.brand && this.brand.wsUrl);
    if (v) return v;
    return this.apiUrl.replace(/^http/, 'ws') + '/ws';
  }
  get brandDomain() {
    const v = this.getAttribute('brand-domain');
    if (v) return v;
    try { return new URL(this.apiUrl).hostname; } catch (e) { return ''; }
  }
  get token() { try { return localStorage.getItem(this.storageKey); } catch (e) { return this._memToken || null; } }
  set token(v) {
    this._memToken = v;
    try {
      if (v) localStorage.setItem(this.storageKey, v); else localStorage.removeItem(this.storageKey);
    } catch (e) { /* storage blocked (third-party context): keep it in memory */ }
  }

  attributeChangedCallback(name, old, value) {
    if (!this.isConnected || old === value) return;
    if (name === 'width') this._applyWidth();
    else if (name === 'theme') this._applyTheme(value);
    else if (name === 'sso-token' && value) this._ssoLogin(value);
    else if (name === 'default-symbol' && value && !this._userPickedSymbol && this._booted) this._selectSymbol(value);
  }

  connectedCallback() {
    if (this._started) return;
    this._started = true;
    this.api = new Api(this.apiUrl, () => this.token);
    this._applyWidth();
    this._applyTheme(this.getAttribute('theme') || 'dark');
    if (this.getAttribute('mode') === 'page') this.shadowRoot.querySelector('.root').classList.add('page');
    if (!this.chart) {
      this._wire();
      this._initChart();
    }
    this._boot();
  }

  disconnectedCallback() {
    // moved or removed from the page: close the socket; connecting again starts over (new socket, fresh data)
    if (this.socket) this.socket.stop();
    this.socket = null;
    this.state.symbol = null;
    this._started = false;
    this._booted = false;
  }

  async _boot() {
    await this._loadBrand(); // first: it may name the WebSocket URL (API Gateway's WebSocket API in AWS)
    this.socket = new Socket(this.wsUrl, { onMessage: (m) => this._onWs(m), onStatus: (s) => this._onStatus(s) });
    this.socket.start();
    await this._loadSymbols();
    const sso = this.getAttribute('sso-token');
    this._booted = true;
    if (sso) await this._ssoLogin(sso);
    else if (this.token) await this._resume();
    else this._showAuth();
  }

  // --- public API (also handy for host pages) ----------------------------------------------------------------
  get connection() {
    return { status: this._status, reconnects: this.socket ? this.socket.reconnects : 0 };
  }
  get chartState() {
    return { bars: this.state.bars, lastBar: this.state.lastBar, ticks: this.state.ticks, price: this.state.price };
  }
  logout() { return this._logout(); }

  // --- rendering helpers ------------------------------------------------------------------------------------
  _applyWidth() { this.style.display = 'block'; this.style.width = this.getAttribute('width') || (this.getAttribute('mode') === 'page' ? '100%' : '400px'); }

  _applyTheme(theme) {
    const t = theme === 'light' ? 'light' : 'dark';
    this.shadowRoot.querySelector('.root').dataset.theme = t;
    this._theme = t;
    if (this.chart) this.chart.applyOptions(this._chartColors());
  }

  _emit(name, detail) { this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true })); }

  _error(err, context) {
    const message = (err && err.message) || String(err);
    const box = this.$('error');
    box.textContent = context ? `${context}: ${message}` : message;
    box.hidden = false;
    clearTimeout(this._errTimer);
    this._errTimer = setTimeout(() => { box.hidden = true; }, 6000);
    this._emit('st-error', { message, code: err && err.code, status: err && err.status, context });
  }

  _onStatus(s) {
    this._status = s;
    const el = this.$('conn');
    el.dataset.status = s;
    el.title = s;
    this.dataset.connection = s;
    this.dataset.reconnects = String(this.socket ? this.socket.reconnects : 0);
  }

  // --- brand and symbols ------------------------------------------------------------------------------------
  async _loadBrand(brokerUid) {
    try {
      const q = new URLSearchParams();
      if (this.brandDomain) q.set('domain', this.brandDomain);
      if (brokerUid || this.brokerUid) q.set('brokerUid', brokerUid || this.brokerUid);
      const b = await this.api.get('/api/brand-config?' + q);
      this.brand = b;
      this.$('brand').textContent = b.brandName || 'ST Trading';
      const logo = this.shadowRoot.querySelector('.logo');
      if (b.logoUrl) logo.innerHTML = `<img src="${esc(b.logoUrl)}" alt="">`;
      if (b.primaryColor) this.shadowRoot.querySelector('.root').style.setProperty('--primary', b.primaryColor);
    } catch (e) { /* the default brand stays */ }
  }

  async _loadSymbols() {
    try {
      const list = await this.api.get('/api/symbols');
      this.state.symbols = Array.isArray(list) ? list : (list.symbols || []);
    } catch (e) {
      this._error(e, 'symbols');
      this.state.symbols = [];
    }
    const sel = this.$('symbol');
    sel.innerHTML = this.state.symbols.map((s) => `<option value="${esc(s.symbol)}">${esc(s.symbol)}</option>`).join('');
    const want = this.getAttribute('default-symbol') || 'BTCUSDT';
    const first = this.state.symbols.find((s) => s.symbol === want) || this.state.symbols[0];
    if (first) await this._selectSymbol(first.symbol);
  }

  _cfg() { return this.state.symbols.find((s) => s.symbol === this.state.symbol) || { pricePrecision: 2, quantityPrecision: 4 }; }

  async _selectSymbol(symbol) {
    const prev = this.state.symbol;
    if (prev === symbol) return;
    if (prev) {
      this.socket.unsubscribe({ channel: 'ticker', symbol: prev });
      this.socket.unsubscribe({ channel: 'kline', symbol: prev, interval: INTERVAL });
    }
    this.state.symbol = symbol;
    this.$('symbol').value = symbol;
    this.state.price = null;
    this.$('price').textContent = '–';
    this.socket.subscribe({ channel: 'ticker', symbol });
    this.socket.subscribe({ channel: 'kline', symbol, interval: INTERVAL });
    const p = this._cfg().pricePrecision;
    this.series.applyOptions({ priceFormat: { type: 'price', precision: p, minMove: 1 / 10 ** p } });
    try {
      const [klines, ticker] = await Promise.all([
        this.api.get(`/api/klines?symbol=${encodeURIComponent(symbol)}&interval=${INTERVAL}&limit=300`),
        this.api.get(`/api/ticker?symbol=${encodeURIComponent(symbol)}`),
      ]);
      if (this.state.symbol !== symbol) return;
      const bars = (klines || []).map((k) => this._bar(k));
      this.series.setData(bars);
      this.state.bars = bars.length;
      this.state.lastBar = bars.length ? bars[bars.length - 1] : null;
      this.chart.timeScale().scrollToRealTime();
      if (ticker && ticker.price != null) this._setPrice(ticker.price, false);
    } catch (e) {
      this._error(e, 'market data');
    }
    this._renderLists();
  }

  // --- chart -----------------------------------------------------------------------------------------------
  _chartColors() {
    const dark = this._theme !== 'light';
    return {
      layout: { background: { color: dark ? '#131722' : '#ffffff' }, textColor: dark ? '#c9ced6' : '#1f2937' },
      grid: { vertLines: { color: dark ? '#1f2430' : '#eef0f3' }, horzLines: { color: dark ? '#1f2430' : '#eef0f3' } },
    };
  }

  _initChart() {
    const el = this.$('chart');
    this.chart = createChart(el, {
      autoSize: true,
      ...this._chartColors(),
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { borderVisible: false },
      crosshair: { mode: 0 },
    });
    this.series = this.chart.addSeries(CandlestickSeries, {
      upColor: '#26a69a', downColor: '#ef5350', borderVisible: false, wickUpColor: '#26a69a', wickDownColor: '#ef5350',
    });
  }

  _bar(k) {
    return { time: Math.floor(Number(k.openTime) / 1000), open: Number(k.open), high: Number(k.high), low: Number(k.low), close: Number(k.close) };
  }

  _updateBar(bar) {
    if (this.state.lastBar && bar.time < this.state.lastBar.time) return; // a late message for an older candle
    if (!this.state.lastBar || bar.time > this.state.lastBar.time) this.state.bars += 1;
    this.series.update(bar);
    this.state.lastBar = bar;
    this.$('chart').dataset.lastClose = String(bar.close);
    this.$('chart').dataset.bars = String(this.state.bars);
  }

  _setPrice(price, fromTick) {
    const prev = this.state.price;
    this.state.price = Number(price);
    const el = this.$('price');
    el.textContent = num(price, this._cfg().pricePrecision);
    el.classList.toggle('up', prev != null && this.state.price > prev);
    el.classList.toggle('down', prev != null && this.state.price < prev);
    if (fromTick) {
      this._markPositions();
      this.state.ticks += 1;
      el.dataset.ticks = String(this.state.ticks);
      // the live candle follows every tick between kline messages
      const t = Math.floor(Date.now() / 1000 / INTERVAL_S) * INTERVAL_S;
      const last = this.state.lastBar;
      const p = this.state.price;
      if (last && last.time === t) this._updateBar({ ...last, high: Math.max(last.high, p), low: Math.min(last.low, p), close: p });
      else if (!last || t > last.time) this._updateBar({ time: t, open: p, high: p, low: p, close: p });
    }
  }

  // --- WebSocket messages -----------------------------------------------------------------------------------
  _onWs(msg) {
    switch (msg.type) {
      case 'ticker':
        if (msg.symbol === this.state.symbol && msg.price != null) this._setPrice(msg.price, true);
        break;
      case 'kline':
        if (msg.symbol === this.state.symbol && msg.interval === INTERVAL && msg.open != null) this._updateBar(this._bar(msg));
        break;
      case 'orders': case 'positions': case 'account':
        this._scheduleRefresh();
        break;
      case 'auth':
        if (msg.ok) this.dataset.wsAuth = 'ok';
        break;
      case 'error':
        if (msg.code === 'SESSION_INVALID' && this.token) this._sessionLost();
        break;
      default:
        break;
    }
  }

  // --- auth ---------------------------------------------------------------------------------------------------
  _showAuth(hint) {
    this.$('auth').hidden = false;
    this.$('trade').hidden = true;
    this.$('lists').hidden = true;
    this.$('auth-hint').textContent = hint || (this.brokerUid ? '' : 'broker-uid is not set: registration is unavailable');
    this.$('register').disabled = !this.brokerUid;
    this.dataset.loggedIn = 'false';
  }

  async _loggedIn(token, user, how) {
    this.token = token;
    this.state.user = user;
    this.$('auth').hidden = true;
    this.$('trade').hidden = false;
    this.$('lists').hidden = false;
    this.$('account-name').textContent = user.username;
    this.dataset.loggedIn = 'true';
    this.socket.setToken(token);
    for (const channel of ['orders', 'positions', 'account']) this.socket.subscribe({ channel, private: true });
    await this._refresh();
    if (how) this._emit('st-login', { user, via: how });
  }

  async _resume() {
    try {
      const me = await this.api.get('/api/accounts/me');
      await this._loggedIn(this.token, { id: me.userId, username: me.username, role: me.role }, null);
      this._renderAccount(me);
    } catch (e) {
      if (e.status === 401) { this.token = null; this._showAuth('Your session has ended: please log in again'); } else this._error(e, 'account');
    }
  }

  async _ssoLogin(jwt) {
    if (!this._booted) return; // set before the element is ready: _boot logs in with it
    if (jwt === this._ssoUsed) return; // a jti is accepted once: never send the same token twice
    this._ssoUsed = jwt;
    try {
      const r = await this.api.post('/api/auth/sso/token', { token: jwt });
      if (r.logoutRedirectUrl) this._setLogoutRedirect(r.logoutRedirectUrl);
      await this._loggedIn(r.token, r.user, 'sso');
    } catch (e) {
      this._error(e, 'SSO login');
      if (this.token) await this._resume(); else this._showAuth();
    }
  }

  _setLogoutRedirect(url) { try { localStorage.setItem(this.storageKey + ':logout_redirect_url', url); } catch (e) { /* ignore */ } }
  _logoutRedirect() { try { return localStorage.getItem(this.storageKey + ':logout_redirect_url'); } catch (e) { return null; } }

  async _authSubmit(kind) {
    const username = this.$('username').value.trim();
    const password = this.$('password').value;
    if (username.length < 3 || password.length < 8) {
      this._error({ message: 'username (3+) and password (8+ characters) are required', code: 'VALIDATION_ERROR' }, kind);
      return;
    }
    try {
      const body = { username, password };
      if (kind === 'register') body.brokerUid = this.brokerUid;
      const r = kind === 'register' ? await this.api.post('/api/auth/register', body) : await this.api.post('/api/auth/login', body);
      this.$('password').value = '';
      await this._loggedIn(r.token, r.user, kind);
    } catch (e) {
      this._error(e, kind === 'register' ? 'register' : 'log in');
    }
  }

  async _logout() {
    const redirect = this._logoutRedirect();
    try { if (this.token) await this.api.post('/api/auth/logout', {}); } catch (e) { /* the token is dropped anyway */ }
    this.token = null;
    try { localStorage.removeItem(this.storageKey + ':logout_redirect_url'); } catch (e) { /* ignore */ }
    this.state.user = null;
    this.socket.setToken(null);
    for (const channel of ['orders', 'positions', 'account']) this.socket.unsubscribe({ channel, private: true });
    this._showAuth();
    this._emit('st-logout', { logoutRedirectUrl: redirect });
    if (redirect && this.getAttribute('mode') === 'page') window.location.href = redirect;
  }

  _sessionLost() {
    this.token = null;
    this.socket.setToken(null);
    this._showAuth('Your session has ended: please log in again');
  }

  // --- trading ------------------------------------------------------------------------------------------------
  _setSide(side) {
    this.state.side = side;
    this.$('side-buy').classList.toggle('active', side === 'buy');
    this.$('side-sell').classList.toggle('active', side === 'sell');
    const submit = this.$('submit');
    submit.textContent = side === 'buy' ? 'Buy' : 'Sell';
    submit.classList.toggle('buy', side === 'buy');
    submit.classList.toggle('sell', side === 'sell');
  }

  async _placeOrder() {
    const type = this.$('type').value;
    // JSON numbers: a typed decimal such as 0.01 serializes back to the same digits (shortest round trip), which
    // the server parses as an exact Decimal
    const decimal = (v) => (/^\d+(\.\d+)?$/.test(v.trim()) ? Number(v.trim()) : v.trim());
    const body = {
      symbol: this.state.symbol, side: this.state.side, type, quantity: decimal(this.$('quantity').value),
      leverage: Number(this.$('leverage').value || 1),
    };
    if (type === 'limit') body.price = decimal(this.$('order-price').value);
    const btn = this.$('submit');
    btn.disabled = true;
    try {
      const order = await this.api.post('/api/orders', body, { idempotent: true });
      this._emit('st-order', { order });
      await this._refresh();
    } catch (e) {
      this._error(e, 'order');
    } finally {
      btn.disabled = false;
    }
  }

  async _cancel(orderId) {
    try {
      const r = await this.api.del('/api/orders/' + encodeURIComponent(orderId));
      this._emit('st-order', { action: 'cancel', orderId, result: r });
      await this._refresh();
    } catch (e) { this._error(e, 'cancel'); }
  }

  async _close(positionId) {
    try {
      const r = await this.api.post('/api/positions/' + encodeURIComponent(positionId) + '/close', {}, { idempotent: true });
      this._emit('st-order', { action: 'close', positionId, result: r });
      await this._refresh();
    } catch (e) { this._error(e, 'close'); }
  }

  _scheduleRefresh() {
    clearTimeout(this._refreshTimer);
    this._refreshTimer = setTimeout(() => this._refresh(), 150);
  }

  async _refresh() {
    if (!this.token) return;
    try {
      const [me, positions, orders] = await Promise.all([
        this.api.get('/api/accounts/me'), this.api.get('/api/positions'), this.api.get('/api/orders?status=pending&limit=100'),
      ]);
      this._renderAccount(me);
      this.state.positions = (positions || []).filter((p) => Number(p.quantity) > 0);
      this.state.orders = (orders || []).filter((o) => o.status === 'pending' && o.kind !== 'liquidity');
      this._renderLists();
    } catch (e) {
      if (e.status === 401) this._sessionLost(); else this._error(e, 'refresh');
    }
  }

  _markPositions() {
    // between refreshes, the mark price and PnL of open positions in this symbol follow the ticks
    const pos = (this.state.positions || []).filter((p) => p.symbol === this.state.symbol);
    if (!pos.length) return;
    for (const p of pos) {
      const q = Number(p.quantity);
      p.markPrice = this.state.price;
      p.unrealizedPnl = (p.side === 'long' ? 1 : -1) * (this.state.price - Number(p.entryPrice)) * q;
    }
    this._renderLists();
  }

  _renderAccount(me) {
    // the chart page has no broker-uid: the brand is the logged-in account's
    if (!this.brokerUid && me.brandRootId && (!this.brand || this.brand.brokerUid !== me.brandRootId)) {
      this.brand = { brokerUid: me.brandRootId };
      this._loadBrand(me.brandRootId);
    }
    this.$('balance').textContent = num(me.balance, 2);
    this.$('available').textContent = num(me.availableBalance, 2);
    this.$('equity').textContent = num(me.equity, 2);
    this.$('upnl').textContent = num(me.unrealizedPnl, 2);
  }

  _renderLists() {
    const pos = this.state.positions || [];
    this.$('positions').querySelector('tbody').innerHTML = pos.length ? pos.map((p) => `
      <tr data-position-id="${esc(p.positionId)}" class="position">
        <td>${esc(p.symbol)}</td><td class="${p.side === 'long' ? 'buy' : 'sell'}">${esc(p.side)}</td><td>${esc(p.quantity)}</td>
        <td>${num(p.entryPrice, 2)}</td><td>${num(p.markPrice, 2)}</td>
        <td class="${Number(p.unrealizedPnl) >= 0 ? 'buy' : 'sell'}">${num(p.unrealizedPnl, 2)}</td>
        <td><button class="small close" data-close="${esc(p.positionId)}">Close</button></td></tr>`).join('')
      : '<tr class="empty"><td colspan="7">No open positions</td></tr>';
    const ords = this.state.orders || [];
    this.$('orders').querySelector('tbody').innerHTML = ords.length ? ords.map((o) => `
      <tr data-order-id="${esc(o.orderId)}" class="order">
        <td>${esc(o.symbol)}</td><td class="${o.side === 'buy' ? 'buy' : 'sell'}">${esc(o.side)}</td><td>${esc(o.type)}</td>
        <td>${esc(o.quantity)}</td><td>${num(o.price, 2)}</td><td>${esc(o.status)}</td>
        <td><button class="small cancel" data-cancel="${esc(o.orderId)}">Cancel</button></td></tr>`).join('')
      : '<tr class="empty"><td colspan="7">No open orders</td></tr>';
    this.$('tab-positions').textContent = `Positions (${pos.length})`;
    this.$('tab-orders').textContent = `Open orders (${ords.length})`;
  }

  _tab(which) {
    this.$('positions').hidden = which !== 'positions';
    this.$('orders').hidden = which !== 'orders';
    this.$('tab-positions').classList.toggle('active', which === 'positions');
    this.$('tab-orders').classList.toggle('active', which === 'orders');
  }

  // --- events -------------------------------------------------------------------------------------------------
  _wire() {
    this.$('auth').addEventListener('submit', (e) => { e.preventDefault(); this._authSubmit('login'); });
    this.$('register').addEventListener('click', () => this._authSubmit('register'));
    this.$('logout').addEventListener('click', () => this._logout());
    this.$('order').addEventListener('submit', (e) => { e.preventDefault(); this._placeOrder(); });
    this.$('side-buy').addEventListener('click', () => this._setSide('buy'));
    this.$('side-sell').addEventListener('click', () => this._setSide('sell'));
    this.$('type').addEventListener('change', () => { this.$('order-price').hidden = this.$('type').value !== 'limit'; });
    this.$('symbol').addEventListener('change', () => { this._userPickedSymbol = true; this._selectSymbol(this.$('symbol').value); });
    this.$('theme').addEventListener('click', () => this._applyTheme(this._theme === 'light' ? 'dark' : 'light'));
    this.$('tab-positions').addEventListener('click', () => this._tab('positions'));
    this.$('tab-orders').addEventListener('click', () => this._tab('orders'));
    this.$('lists').addEventListener('click', (e) => {
      const b = e.target.closest('button');
      if (!b) return;
      if (b.dataset.cancel) this._cancel(b.dataset.cancel);
      if (b.dataset.close) this._close(b.dataset.close);
    });
  }
}

if (!customElements.get('st-trading-widget')) customElements.define('st-trading-widget', StTradingWidget);
