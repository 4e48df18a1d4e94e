// IRC over WebSocket: parsing, formatting and a connection that comes back by itself.

const TAG_UNESCAPE = { ":": ";", s: " ", r: "\r", n: "\n", "\\": "\\" };

export function parse(raw) {
  const msg = { tags: {}, source: "", command: "", params: [] };
  let i = 0;
  if (raw[0] === "@") {
    const end = raw.indexOf(" ");
    for (const item of raw.slice(1, end).split(";")) {
      const eq = item.indexOf("=");
      const key = eq < 0 ? item : item.slice(0, eq);
      const value = eq < 0 ? "" : item.slice(eq + 1).replace(/\\(.?)/g, (_, c) => TAG_UNESCAPE[c] ?? c);
      msg.tags[key] = value;
    }
    i = end + 1;
  }
  while (raw[i] === " ") i++;
  if (raw[i] === ":") {
    const end = raw.indexOf(" ", i);
    msg.source = raw.slice(i + 1, end < 0 ? raw.length : end);
    i = end < 0 ? raw.length : end + 1;
  }
  while (i < raw.length) {
    while (raw[i] === " ") i++;
    if (i >= raw.length) break;
    if (raw[i] === ":" && msg.command) {
      msg.params.push(raw.slice(i + 1));
      break;
    }
    let end = raw.indexOf(" ", i);
    if (end < 0) end = raw.length;
    const word = raw.slice(i, end);
    if (!msg.command) msg.command = word.toUpperCase();
    else msg.params.push(word);
    i = end;
  }
  return msg;
}

/** One line from a command and its parameters; the last one may hold spaces. */
export function format(command, ...params) {
  const clean = params.map((p) => String(p).replace(/[\r\n\0]/g, " "));
  const last = clean.length ? clean[clean.length - 1] : null;
  if (last !== null && (last === "" || last.includes(" ") || last[0] === ":")) {
    clean[clean.length - 1] = ":" + last;
  }
  return [command, ...clean].join(" ");
}

export const nickOf = (source) => source.split("!")[0];

/** A casefold function for the server's CASEMAPPING. */
export function folder(casemapping) {
  if (casemapping === "ascii") return (s) => s.toLowerCase();
  const strict = casemapping === "strict-rfc1459";
  return (s) => s.toLowerCase().replace(strict ? /[[\]\\]/g : /[[\]\\~]/g, (c) => ({ "[": "{", "]": "}", "\\": "|", "~": "^" })[c]);
}

const BACKOFF_MIN = 1000;
const BACKOFF_MAX = 30000;

/**
 * One IRC session at a time over a WebSocket; after a drop it dials again with
 * back-off (1 s, 2 s, 4 s... at most 30 s, with jitter) until `close()`.
 * Handlers: onLine(msg), onOpen(), onClose(willRetryInMs).
 */
export class Connection {
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
  }

  open() {
    this.stopped = false;
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url, ["text.ircv3.net"]);
    this.ws = ws;
    ws.onopen = () => this.handlers.onOpen();
    ws.onmessage = (event) => {
      if (typeof event.data === "string") this.handlers.onLine(parse(event.data));
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) {
        this.handlers.onClose(null);
        return;
      }
      const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** this.attempt);
      const delay = Math.round(base * (0.5 + Math.random() / 2));
      this.attempt++;
      this.timer = setTimeout(() => this.open(), delay);
      this.handlers.onClose(delay);
    };
  }

  /** The session worked (the server welcomed us): the next drop retries quickly. */
  established() {
    this.attempt = 0;
  }

  retryNow() {
    if (!this.ws && !this.stopped) this.open();
  }

  send(command, ...params) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(format(command, ...params));
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    else this.handlers.onClose(null);
  }
}
