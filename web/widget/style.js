// The widget's CSS (inside its shadow root: the host page's styles do not leak in, nor ours out).
export const STYLE = `
:host { display: block; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.root { --primary: #f0b90b; --buy: #26a69a; --sell: #ef5350; border-radius: 8px; overflow: hidden;
  background: var(--bg); color: var(--fg); border: 1px solid var(--line); }
.root[data-theme="dark"] { --bg: #131722; --card: #1b2030; --fg: #d1d4dc; --muted: #8a91a0; --line: #2a2f3d; --input: #0f121a; }
.root[data-theme="light"] { --bg: #ffffff; --card: #f6f7f9; --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --input: #ffffff; }
header { display: flex; align-items: center; gap: 8px; padding: 8px 10px; border-bottom: 1px solid var(--line); }
.brand { display: flex; align-items: center; gap: 6px; color: var(--primary); white-space: nowrap; }
.logo img { height: 18px; }
.price { font-weight: 700; font-size: 16px; margin-left: auto; font-variant-numeric: tabular-nums; }
.price.up { color: var(--buy); } .price.down { color: var(--sell); }
.conn { color: var(--muted); font-size: 10px; }
.conn[data-status="live"] { color: var(--buy); } .conn[data-status="reconnecting"] { color: var(--sell); }
.error { background: #5c1d22; color: #ffd7d9; padding: 6px 10px; }
.body { display: flex; flex-direction: column; }
.chart { height: 260px; }
.side { padding: 8px; display: flex; flex-direction: column; gap: 8px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px; display: flex; flex-direction: column; gap: 6px; }
.card h3 { margin: 0; font-size: 14px; }
.row { display: flex; gap: 6px; } .row > * { flex: 1; } .between { justify-content: space-between; align-items: center; } .between > * { flex: none; }
.grid2 { display: grid; grid-template-columns: 1fr auto; gap: 2px 8px; font-variant-numeric: tabular-nums; }
.grid2 span:nth-child(odd) { color: var(--muted); }
input, select, button { font: inherit; color: var(--fg); background: var(--input); border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; min-width: 0; }
button { cursor: pointer; background: var(--card); }
button:disabled { opacity: .5; cursor: default; }
button.primary { background: var(--primary); color: #111; border-color: transparent; font-weight: 600; }
button.primary.buy { background: var(--buy); color: #fff; } button.primary.sell { background: var(--sell); color: #fff; }
button.ghost { background: transparent; border-color: transparent; color: var(--muted); padding: 2px 6px; }
.side-btn.active.buy { background: var(--buy); color: #fff; } .side-btn.active.sell { background: var(--sell); color: #fff; }
.hint { color: var(--muted); margin: 0; font-size: 12px; }
.lists { border-top: 1px solid var(--line); padding: 6px 8px 10px; }
.tabs { display: flex; gap: 4px; margin-bottom: 4px; }
.tab { background: transparent; border: none; color: var(--muted); padding: 4px 6px; }
.tab.active { color: var(--fg); border-bottom: 2px solid var(--primary); border-radius: 0; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 4px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
td.buy { color: var(--buy); } td.sell { color: var(--sell); }
tr.empty td { color: var(--muted); text-align: center; }
button.small { padding: 2px 8px; font-size: 12px; }
[hidden] { display: none !important; }
.root.page { border-radius: 0; border: none; min-height: 100vh; }
.root.page .body { flex-direction: row; }
.root.page .main { flex: 1; min-width: 0; }
.root.page .chart { height: calc(100vh - 300px); min-height: 320px; }
.root.page .side { width: 300px; border-left: 1px solid var(--line); }
`;
