// Bundles the widget (and lightweight-charts) into one self-contained script served at /widget/st-trading-widget.js.
//   node web/widget/build.mjs   (make widget)
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
await build({
  entryPoints: [path.join(here, 'widget.js')],
  outfile: path.join(root, 'chalicelib', 'web', 'dist', 'st-trading-widget.js'),
  bundle: true, minify: true, format: 'iife', target: ['es2020'], legalComments: 'eof', logLevel: 'warning',
  banner: { js: '/* st-trading-widget: <st-trading-widget broker-uid api-url ...>; bundles TradingView lightweight-charts (Apache-2.0) */' },
});
