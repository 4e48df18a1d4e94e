// IRC formatting (bold, colours, ...) and links, rendered with DOM nodes only: the text a
// user sent always ends up in textContent, never in markup, and a link is made only for
// http: and https: addresses, so nothing anybody sends can become HTML or script.

const BOLD = "\x02", ITALIC = "\x1d", UNDERLINE = "\x1f", STRIKE = "\x1e", MONO = "\x11";
const COLOR = "\x03", HEX = "\x04", REVERSE = "\x16", RESET = "\x0f";
const CONTROL = /[\x02\x1d\x1f\x1e\x11\x03\x04\x16\x0f]/;
const LINK = /\bhttps?:\/\/[^\s<>"'\x00-\x1f]+/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/;

/** The text with every formatting code removed (for notifications and matching). */
export function strip(text) {
  return text.replace(/\x03(\d{1,2}(,\d{1,2})?)?|\x04([0-9a-fA-F]{6}(,[0-9a-fA-F]{6})?)?|[\x02\x1d\x1f\x1e\x11\x16\x0f]/g, "");
}

/** A safe http(s) URL for an href, or null. */
export function safeUrl(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function appendLinked(parent, text) {
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    let found = match[0];
    const trail = found.match(TRAILING);
    if (trail && !(trail[0].startsWith(")") && found.includes("("))) found = found.slice(0, -trail[0].length);
    const href = safeUrl(found);
    if (!href) continue;
    if (match.index > last) parent.append(document.createTextNode(text.slice(last, match.index)));
    const a = document.createElement("a");
    a.href = href;
    a.textContent = found;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    parent.append(a);
    last = match.index + found.length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

/** A DocumentFragment showing `text` with its formatting. */
export function render(text) {
  const out = document.createDocumentFragment();
  if (!CONTROL.test(text)) {
    appendLinked(out, text);
    return out;
  }
  const st = { b: false, i: false, u: false, s: false, m: false, fg: null, bg: null };
  let run = "";
  const flush = () => {
    if (!run) return;
    const classes = [];
    for (const k of ["b", "i", "u", "s", "m"]) if (st[k]) classes.push(k);
    if (st.fg !== null) classes.push("c" + st.fg);
    if (st.bg !== null) classes.push("g" + st.bg);
    if (classes.length) {
      const span = document.createElement("span");
      span.className = classes.join(" ");
      appendLinked(span, run);
      out.append(span);
    } else {
      appendLinked(out, run);
    }
    run = "";
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    switch (ch) {
      case BOLD: flush(); st.b = !st.b; break;
      case ITALIC: flush(); st.i = !st.i; break;
      case UNDERLINE: flush(); st.u = !st.u; break;
      case STRIKE: flush(); st.s = !st.s; break;
      case MONO: flush(); st.m = !st.m; break;
      case REVERSE: flush(); [st.fg, st.bg] = [st.bg ?? 0, st.fg ?? 1]; break;
      case RESET: flush(); Object.assign(st, { b: false, i: false, u: false, s: false, m: false, fg: null, bg: null }); break;
      case COLOR: {
        flush();
        const m = /^(\d{1,2})(?:,(\d{1,2}))?/.exec(text.slice(i + 1, i + 6));
        if (!m) { st.fg = st.bg = null; break; }
        st.fg = Number(m[1]) % 16;
        if (m[2] !== undefined) st.bg = Number(m[2]) % 16;
        i += m[0].length;
        break;
      }
      case HEX: {
        flush(); // hex colours are skipped, not rendered: the palette keeps text readable
        const m = /^[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?/.exec(text.slice(i + 1, i + 14));
        if (m) i += m[0].length;
        break;
      }
      default: run += ch;
    }
  }
  flush();
  return out;
}
