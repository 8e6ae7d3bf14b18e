// Makes ui/fonts/lineup-sans-{ui,hangul}.woff2: Pretendard (SIL OFL 1.1, npm package `pretendard`),
// the variable font (every weight in one file), cut down to the characters the UI can show.
// Run by hand when copy changes (unit.test.mjs fails until it is run):
//   pip install fonttools brotli && npm install --prefix /tmp/pretendard pretendard@1.3.9
//   node tests/ui/lib/font-subset.mjs /tmp/pretendard/node_modules/pretendard
// The character set: ASCII, the app's own files (ui/**/*.js, index.html: every string in
// them, Korean and English), the 2,350 common Hangul syllables of KS X 1001 (campaign titles
// and issuers come from the server; rarer syllables fall back to the system's Korean font),
// and a little punctuation. Two files: the UI's own characters (always loaded) and the other common
// syllables (CSS unicode-range: loaded only when a page shows one). Renamed "Lineup Sans", as the
// OFL asks of a modified version (Pretendard is a Reserved Font Name).

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const UI = resolve(here, '../../../ui');

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fonts' ? [] : files(p);
    return /\.(js|html)$/.test(name) ? [p] : [];
  });
}

/** Every character the UI's own files contain. */
export function uiChars() {
  const set = new Set();
  for (const f of files(UI)) for (const ch of readFileSync(f, 'utf8')) if (ch.codePointAt(0) >= 0x20) set.add(ch);
  return set;
}

export function commonHangul() {
  const out = [];
  const dec = new TextDecoder('euc-kr');
  for (let hi = 0xb0; hi <= 0xc8; hi++) {
    for (let lo = 0xa1; lo <= 0xfe; lo++) out.push(dec.decode(Uint8Array.from([hi, lo])));
  }
  return out.filter((c) => /^[\uac00-\ud7a3]$/.test(c));
}

export function subsetChars() {
  const set = uiChars();
  for (let c = 0x20; c < 0x7f; c++) set.add(String.fromCharCode(c));
  for (const c of commonHangul()) set.add(c);
  for (const c of '·…–—‘’“”₩×→←↩✓✕•\u00a0') set.add(c);
  return [...set].filter((c) => c.codePointAt(0) >= 0x20).sort((a, b) => a.codePointAt(0) - b.codePointAt(0)).join('');
}

const PYTHON = String.raw`
import sys
from fontTools import subset
from fontTools.ttLib import TTFont
src, text_file, out = sys.argv[1:4]
opts = subset.Options()
opts.flavor = 'woff2'
opts.layout_features = ['kern', 'tnum', 'locl']
opts.hinting = False
opts.desubroutinize = True
opts.name_IDs = [0, 13, 14]  # copyright and licence; the names are set below
font = TTFont(src)
s = subset.Subsetter(opts)
s.populate(text=open(text_file, encoding='utf-8').read())
s.subset(font)
# A subset is a Modified Version under the OFL and may not use the Reserved Font Name.
name = font['name']
for nid, value in ((1, 'Lineup Sans'), (2, 'Regular'), (4, 'Lineup Sans'), (6, 'LineupSans'), (16, 'Lineup Sans')):
    name.setName(value, nid, 3, 1, 0x409)
font.flavor = 'woff2'
font.save(out)
`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const pkg = process.argv[2];
  if (!pkg) throw new Error('usage: node font-subset.mjs <path of the pretendard npm package>');
  const src = join(pkg, 'dist/web/variable/woff2/PretendardVariable.woff2');
  const out = join(UI, 'fonts');
  const ui = [...uiCharsSorted()].join('');
  const rest = [...subsetChars()].filter((c) => !ui.includes(c)).join('');
  for (const [file, chars] of [['lineup-sans-ui', ui], ['lineup-sans-hangul', rest]]) {
    writeFileSync(join(out, `${file}.txt`), chars + '\n');
    execFileSync('python3', ['-c', PYTHON, src, join(out, `${file}.txt`), join(out, `${file}.woff2`)], { stdio: 'inherit' });
    console.log(`${[...chars].length} characters -> ui/fonts/${file}.woff2 (${statSync(join(out, `${file}.woff2`)).size} bytes)`);
  }
}

/** The UI's characters plus ASCII and the punctuation it uses, sorted. */
export function uiCharsSorted() {
  const set = uiChars();
  for (let c = 0x20; c < 0x7f; c++) set.add(String.fromCharCode(c));
  for (const c of '·…–—‘’“”₩×→←↩✓✕•\u00a0') set.add(c);
  return [...set].sort((a, b) => a.codePointAt(0) - b.codePointAt(0)).join('');
}
