// "Copy link" and "Embed…" on each view: the link to the view as it is now (urlstate.js), and
// the two ways to put it in another page (an iframe of embed.html, or the <conv-scope>
// element). A link cannot carry a person's own image or model: it says so and names the
// sample it uses instead.
import { DEFAULTS, toHash } from './urlstate.js';

const $ = (id) => document.getElementById(id);

/** `ctx` gives `link(view)` (the settings, every key), `own()` (`{image, model}`: the names of
 * the person's own files shown, or null) and `probe`. */
export function setupShare(ctx) {
  const site = () => new URL('.', location.href).href;

  // What to share for a view: the link, both snippets, and the note about own files.
  function share(view) {
    const link = ctx.link(view);
    const own = ctx.own();
    const notes = [];
    if (own.image) notes.push(`This view shows your own image (${own.image}): a link cannot carry the file, so it opens the sample ${link.image} instead.`);
    if (own.model) notes.push(`It shows your own model (${own.model}): a link cannot carry it, so it opens ${DEFAULTS.model} instead.`);
    const hash = toHash(link, { view });
    const url = `${site()}${hash}`;
    // The element's snippet says its version too: without one it reads as schema 1.
    const params = new URLSearchParams(hash.slice(1));
    const attrs = [...params].map(([k, v]) => `${k}="${v.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"`).join(' ');
    const title = `convscope: ${view} of ${link.model} on ${link.image}`;
    const iframe = `<iframe src="${site()}embed.html${hash}" title="${title}" width="520" height="520" style="border:0;max-width:100%" loading="lazy"></iframe>`;
    const element = `<script type="module" src="${site()}convscope-element.js"></script>\n<conv-scope ${attrs}></conv-scope>`;
    return { view, url, iframe, element, notes };
  }

  async function copy(text, field) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // No clipboard permission: select the text so Ctrl+C copies it.
      if (field) { field.focus(); field.select(); }
      return false;
    }
  }

  async function copyLink(view, button) {
    const s = share(view);
    ctx.probe.lastShare = s;
    const ok = await copy(s.url, null);
    const status = button.parentElement.querySelector('.share-status');
    status.textContent = `${ok ? 'Link copied' : 'Copy this link'}: ${s.url}${s.notes.length ? ` — ${s.notes.join(' ')}` : ''}`;
    status.hidden = false;
  }

  function openEmbed(view, button) {
    const s = share(view);
    ctx.probe.lastShare = s;
    const dialog = $('share-dialog');
    $('share-title').textContent = `Put this ${view} view in your page`;
    $('share-notes').textContent = s.notes.join(' ');
    $('share-notes').hidden = s.notes.length === 0;
    $('share-link').value = s.url;
    $('share-iframe').value = s.iframe;
    $('share-element').value = s.element;
    $('share-copied').textContent = '';
    dialog.returnFocus = button;
    dialog.showModal();
  }

  for (const button of document.querySelectorAll('[data-share]')) {
    button.addEventListener('click', () => (button.dataset.share === 'link' ? copyLink(button.dataset.view, button) : openEmbed(button.dataset.view, button)));
  }
  for (const button of document.querySelectorAll('#share-dialog [data-copy]')) {
    button.addEventListener('click', async () => {
      const field = $(button.dataset.copy);
      const ok = await copy(field.value, field);
      $('share-copied').textContent = ok ? 'Copied.' : 'Selected: press Ctrl+C (or ⌘C) to copy.';
    });
  }
  $('share-close').addEventListener('click', () => $('share-dialog').close());
  $('share-dialog').addEventListener('close', () => $('share-dialog').returnFocus?.focus());

  return { share };
}
