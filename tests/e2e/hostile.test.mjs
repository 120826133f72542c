// Hostile inputs, in the page and in the CLI, side by side: files opened by mistake or that
// stress a decoder (tests/e2e/hostile_inputs.py writes them). A bad file gets a message that
// names it and says what was wrong, a good but unusual one is classified, and the page keeps
// working after all of them. The table it prints is RELIABILITY.md's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, openPage, pickSample, sharedBrowser } from './harness.mjs';

const shared = await sharedBrowser();
const REFS = process.env.CONVSCOPE_ONNX_REFS;
const CLI = join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'release', 'convscope');
const PYTHON = process.env.CONVSCOPE_PYTHON || join(REPO, '.tools/py/bin/python');

// [file, what it is, where it goes in the page, what the page must say (null: classified)]
const IMAGES = [
  ['truncated.png', 'the first half of a PNG photo', /Could not read truncated\.png as an image/],
  ['empty.png', 'an empty file named .png', /empty\.png is empty \(0 bytes\)/],
  ['notes.png', 'a text file named .png', /Could not read notes\.png as an image/],
  ['drawing.svg', 'an SVG drawing (a red disc)', null],
  ['deep-16bit.png', 'a 16-bit-per-channel RGB PNG', null],
  ['cmyk.jpg', 'a CMYK JPEG', null],
  ['exif-rotated.jpg', 'a JPEG stored sideways with EXIF orientation 6', null],
  ['transparent.png', 'a PNG whose left half is fully transparent', null],
  ['one-pixel.png', 'a 1x1 PNG', null],
  ['huge-10000.png', 'a 10000x10000 PNG', null],
];
const MODELS = [
  ['random.onnx', '4 KB of random bytes named .onnx', /random\.onnx.*not a readable ONNX model/],
  ['truncated.onnx', 'the first half of an ONNX export', /truncated\.onnx.*not a readable ONNX model/],
  ['photo.onnx', 'a PNG photo renamed .onnx', /photo\.onnx.*not a readable ONNX model/],
];

const clean = (s) => s.replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();

function cli(args) {
  const r = spawnSync(CLI, args, { cwd: REPO, env: { ...process.env, CONVSCOPE_WEIGHTS: join(REPO, 'weights') } });
  if (r.error) throw r.error;
  if (r.status === 0) return `classified: ${clean(r.stdout.toString().split('\n')[0])}`;
  return clean(r.stderr.toString().split('\n')[0]).replace(/^error: /, '').replace(/(?:\/[^\s/:]+)+\/([^\s/:]+)/g, '$1');
}

async function open(page, input, path) {
  const before = await page.evaluate(() => [window.convscope.runs, window.convscope.failures]);
  await page.setInputFiles(input, path);
  await page.waitForFunction(([r, f]) => window.convscope.runs > r || window.convscope.failures > f, before, { timeout: 240_000 });
  return page.evaluate(() => (window.convscope.error ? { error: window.convscope.error } : { top: window.convscope.lastTop[0] }));
}

test('hostile files: a clear message for each bad one, the unusual ones classified, the page keeps working (CPU)', { timeout: 900_000, skip: !REFS && 'CONVSCOPE_ONNX_REFS is not set (./build.sh test sets it)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convscope-hostile-'));
  execFileSync(PYTHON, [join(REPO, 'tests/e2e/hostile_inputs.py'), dir, join(REPO, 'www/samples/chelsea.png'), join(REFS, 'small.onnx')]);
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  const rows = [];
  for (const [file, what, says] of IMAGES) {
    const got = await open(page, '#file-input', join(dir, file));
    const shown = got.error ? got.error : `classified: ${got.top.label} (${(got.top.prob * 100).toFixed(1)}%)`;
    const cliSays = cli(['predict', '--model', 'efficientnet-lite0', join(dir, file), '--top', '1']);
    rows.push([file, what, shown, cliSays]);
    if (says) assert.match(got.error ?? '', says, `${file}: ${shown}`);
    else assert.ok(got.top, `${file} is classified: ${shown}`);
  }
  // The page and the CLI see the same upright picture (EXIF applied by both).
  const exifPage = rows.find((r) => r[0] === 'exif-rotated.jpg')[2];
  const exifCli = rows.find((r) => r[0] === 'exif-rotated.jpg')[3];
  const [, pageLabel, pageProb] = exifPage.match(/^classified: (.*) \(([\d.]+)%\)$/);
  const [, cliProb, cliLabel] = exifCli.match(/^classified: +([\d.]+)% +\d+ +(.*)$/);
  assert.equal(pageLabel, cliLabel);
  assert.ok(Math.abs(Number(pageProb) - Number(cliProb)) < 2, `EXIF-rotated: the page says ${pageProb}%, the CLI ${cliProb}%`);
  for (const [file, what, says] of MODELS) {
    const got = await open(page, '#onnx-input', join(dir, file));
    rows.push([file, what, got.error ?? 'opened', cli(['predict', '--model', join(dir, file), join(REPO, 'www/samples/chelsea.png')])]);
    assert.match(got.error ?? '', says);
  }
  rows.push(['random.csm', '4 KB of random bytes after the .csm magic', '(the page opens ONNX files only)', cli(['predict', '--model', join(dir, 'random.csm'), join(REPO, 'www/samples/chelsea.png')])]);
  // A labels file that does not fit the model: both numbers.
  assert.ok((await open(page, '#onnx-input', join(REFS, 'small.onnx'))).top);
  const labels = await open(page, '#onnx-labels', join(dir, 'three-labels.txt'));
  rows.push(['three-labels.txt', 'a 3-line labels file for a 10-class model', labels.error, cli(['predict', '--model', join(REFS, 'small.onnx'), '--labels', join(dir, 'three-labels.txt'), join(REPO, 'www/samples/chelsea.png')])]);
  assert.match(labels.error, /three-labels\.txt.*3 classes, the model has 10/);
  // After all of it, the bundled model still gives espresso for the coffee sample.
  await page.selectOption('#model-select', 'efficientnet-lite0');
  const { top, error } = await pickSample(page, 'coffee.png');
  assert.equal(error, null);
  assert.equal(top[0].index, 967);
  console.log('| input | what it is | the page says | the CLI says |\n|---|---|---|---|');
  for (const r of rows) console.log(`| \`${r[0]}\` | ${r[1]} | ${clean(r[2])} | ${clean(r[3])} |`);
  assert.deepEqual(consoleErrors.filter((e) => !/random\.onnx|truncated\.onnx|photo\.onnx|labels|not a readable ONNX/i.test(e)), []);
  await page.close();
});

test('a link with bad settings: each is named in a note, the rest of the link is used', { timeout: 600_000 }, async () => {
  const { page } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu#image=evil.png&layer=nope&steps=7&method=<b>x</b>&zoom=-1&view=activations`);
  const notes = await page.evaluate(() => window.convscope.linkNotes);
  console.log('link notes:', JSON.stringify(notes));
  for (const key of ['image', 'layer', 'steps', 'method', 'zoom']) assert.ok(notes.some((n) => n.includes(key)), `a note names ${key}: ${JSON.stringify(notes)}`);
  assert.equal(await page.evaluate(() => window.convscope.error), null);
  assert.ok(await page.evaluate(() => window.convscope.lastTop.length === 5));
  await page.close();
});
