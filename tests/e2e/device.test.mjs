// A lost GPU device (a driver reset, a tab in the background too long), simulated by the test
// hook that destroys the WebGPU engine's device: the page says so, moves to the CPU and draws
// the same view again (model, image, comparison, layer, zoom, attention method, class), with
// the same numbers, without a reload; later work runs on the CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, sharedBrowser } from './harness.mjs';

const shared = await sharedBrowser();

const view = (page) => page.evaluate(() => {
  const c = window.convscope;
  return {
    backend: c.backend, top: c.lastTop.map((p) => p.index), layer: c.layerView.layer, images: c.layerView.images,
    zoom: document.getElementById('zoom-panel').hidden ? null : document.getElementById('zoom-title')?.textContent ?? 'open',
    method: document.getElementById('method-select').value, layerSelect: document.getElementById('layer-select').value,
    pane: c.attention.panes[0] && { method: c.attention.panes[0].method.id, class: c.attention.panes[0].target.class, layer: c.attention.panes[0].layer },
    hash: location.hash,
  };
});

test('a lost GPU device: the page moves to the CPU and draws the same view again, without a reload (WebGPU)', { timeout: 600_000 }, async () => {
  const link = '#image=coffee.png&layer=blocks.3&zoom=2&compare=camera.png&method=layercam&class=967';
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=webgpu${link}`);
  assert.equal(await page.evaluate(() => window.convscope.backend), 'webgpu');
  await page.waitForFunction(() => window.convscope.attention?.panes?.[0]?.method?.id === 'layercam', null, { timeout: 240_000 });
  const before = await view(page);
  assert.equal(before.layer, 'blocks.3');
  assert.deepEqual(before.images, ['coffee.png', 'camera.png']);
  assert.deepEqual(before.pane, { method: 'layercam', class: 967, layer: before.pane.layer });
  const logits = await page.evaluate(() => window.convscope.logits());
  // No reload: a mark on the window survives.
  await page.evaluate(() => { window.stillHere = true; });

  const runs = await page.evaluate(() => window.convscope.runs);
  const lost = await page.evaluate(() => window.convscope.loseDevice());
  assert.ok(lost >= 1, 'the engine asked for a GPU device');
  await page.waitForFunction(() => window.convscope.recoveries > 0, null, { timeout: 240_000 });
  await page.waitForFunction((r) => window.convscope.runs > r, runs, { timeout: 240_000 });
  const after = await view(page);
  assert.equal(await page.evaluate(() => window.stillHere), true, 'the page did not reload');
  assert.equal(after.backend, 'cpu');
  const notice = await page.evaluate(() => window.convscope.notice);
  assert.match(notice, /GPU device was lost.*moved to the CPU/, notice);
  assert.equal(await page.evaluate(() => window.convscope.error), null, 'a lost device is no error');
  assert.equal(await page.$eval('#error', (e) => e.hidden), false, 'the notice is shown');
  assert.match(await page.$eval('#status-text', (e) => e.textContent), /the CPU/);
  for (const key of ['top', 'layer', 'images', 'zoom', 'method', 'layerSelect', 'pane', 'hash']) {
    assert.deepEqual(after[key], before[key], `${key} is as it was`);
  }
  // The same numbers on the CPU (WebGPU and the CPU agree to float error).
  const cpu = await page.evaluate(() => window.convscope.logits());
  const diff = cpu.reduce((m, v, i) => Math.max(m, Math.abs(v - logits[i])), 0);
  assert.ok(diff < 1e-2, `logits moved by ${diff}`);

  // Later work runs on the CPU engine, and the next success clears the notice.
  await page.selectOption('#layer-select', 'blocks.5');
  await page.waitForFunction(() => window.convscope.layerView.layer === 'blocks.5', null, { timeout: 120_000 });
  assert.equal(await page.evaluate(() => window.convscope.notice), null);
  assert.deepEqual(consoleErrors.filter((e) => !/device was lost|Device was destroyed|destroyed/i.test(e)), []);
  await page.close();
});

test('a device lost while work runs on it: the work is done again on the CPU, with what was asked last (WebGPU)', { timeout: 600_000 }, async () => {
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=webgpu#image=chelsea.png&layer=blocks.1`);
  assert.equal(await page.evaluate(() => window.convscope.backend), 'webgpu');
  // The device goes while a new layer is being computed on it.
  await page.evaluate(() => {
    document.getElementById('layer-select').value = 'blocks.5';
    document.getElementById('layer-select').dispatchEvent(new Event('change', { bubbles: true }));
    window.convscope.loseDevice();
  });
  await page.waitForFunction(() => window.convscope.recoveries > 0 && window.convscope.layerView?.layer === 'blocks.5' && window.convscope.backend === 'cpu', null, { timeout: 240_000 });
  await page.evaluate(() => window.convscope.settle());
  assert.equal(await page.evaluate(() => window.convscope.error), null, 'the failed job is no error: it was done again');
  assert.equal(await page.$eval('#layer-select', (s) => s.value), 'blocks.5');
  assert.equal(await page.evaluate(() => window.convscope.lastTop[0].index), 285);
  assert.deepEqual(consoleErrors.filter((e) => !/device was lost|Device was destroyed|destroyed/i.test(e)), []);
  await page.close();
});
