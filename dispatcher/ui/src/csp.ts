/// <reference lib="dom" />
/**
 * Strict CSP support: the page allows `<style>` elements only with its nonce. xterm.js creates
 * `<style>` elements for its theme and cell metrics at run time, so every `<style>` created by
 * this bundle gets the nonce from `<meta name="csp-nonce">` (markup-injected ones still don't).
 */
const nonce = document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content ?? '';

if (nonce) {
  const create = Document.prototype.createElement;
  Document.prototype.createElement = function (this: Document, tag: string, options?: ElementCreationOptions) {
    const el = create.call(this, tag, options);
    if (tag.toLowerCase() === 'style') el.setAttribute('nonce', nonce);
    return el;
  } as typeof Document.prototype.createElement;
}
export {};
