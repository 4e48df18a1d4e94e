// The ircpsyc web client: one IRC session over WebSocket to the server that served this page.
// Everything a user sent is put into the page with textContent (see format.js), never as markup.

import { Connection, folder, nickOf, parse } from "./irc.js";
import { render, strip } from "./format.js";

const $ = (id) => document.getElementById(id);
const STORE = "ircpsyc.settings";
const READ = "ircpsyc.read.";
const DEVICE = "ircpsyc.device";
const HISTORY_PAGE = 50;
const SERVER = "\u0000server";
const WANTED_CAPS = [
  "server-time", "batch", "draft/chathistory", "echo-message", "message-tags", "multi-prefix",
  "away-notify", "account-notify", "extended-join", "cap-notify", "standard-replies",
  "draft/account-registration", "sasl", "draft/read-marker",
];
// A read marker set as the user reads goes to the server at most this often per conversation.
const MARKREAD_DELAY = 2000;

// -- settings kept in this browser

function loadSettings() {
  try {
    return JSON.parse(localStorage.getItem(STORE)) || {};
  } catch {
    return {};
  }
}
let settings = loadSettings();

/**
 * This browser's client id: the login names it (SASL `account@device`), so the server
 * keeps what each browser has seen apart from the account's other devices.
 */
function deviceId() {
  let id = "";
  try {
    id = localStorage.getItem(DEVICE) || "";
    if (!/^web-[0-9a-f]{8,}$/.test(id)) {
      const bytes = crypto.getRandomValues(new Uint8Array(6));
      id = "web-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem(DEVICE, id);
    }
  } catch { /* private mode: a new device each time */ }
  return id || "web";
}
function saveSettings() {
  try {
    localStorage.setItem(STORE, JSON.stringify(settings));
  } catch { /* private mode: nothing is remembered */ }
}

// -- state

const state = {
  conn: null,
  nick: "",
  wantedNick: "",
  account: "",
  caps: new Set(),
  offered: new Map(),
  registered: false,
  isupport: { PREFIX: "(qaohv)~&@%+", CHANTYPES: "#&", CHANMODES: "beI,k,l,imnpst" },
  fold: folder("rfc1459"),
  buffers: new Map(),
  order: [],
  current: null,
  batches: new Map(),
  channels: [],
  pendingPassword: null,
  listing: null,
  selectedMember: null,
};

function prefixes() {
  const m = /^\((\w*)\)(\S*)$/.exec(state.isupport.PREFIX || "");
  return m ? { modes: m[1], symbols: m[2] } : { modes: "ov", symbols: "@+" };
}
const isChannel = (name) => !!name && (state.isupport.CHANTYPES || "#&").includes(name[0]);
const isMe = (nick) => state.fold(nick) === state.fold(state.nick);

// -- buffers: the server, channels and private conversations

function buffer(name, kind, create = true) {
  const key = kind === "server" ? SERVER : state.fold(name);
  let buf = state.buffers.get(key);
  if (buf || !create) return buf || null;
  const log = document.createElement("div");
  log.className = "log";
  log.setAttribute("role", "log");
  log.tabIndex = 0;
  log.hidden = true;
  log.addEventListener("scroll", () => onScroll(buf));
  $("logs").append(log);
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  const label = document.createElement("span");
  label.className = "name";
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.hidden = true;
  button.append(label, badge);
  li.append(button);
  buf = {
    key, name, kind, log, li, button, label, badge,
    unread: 0, mention: false, topic: "", members: new Map(), joined: false,
    ids: new Set(), loading: null, done: false,
    lastRead: localStorage.getItem(READ + key) || "",
  };
  // What was read when this browser left (page load, or the connection dropped): the
  // "new since you left" line goes after it, whatever gets read in the meantime.
  buf.leftAt = buf.lastRead;
  label.textContent = kind === "server" ? "Server" : name;
  button.addEventListener("click", () => select(buf));
  state.buffers.set(key, buf);
  state.order.push(buf);
  sortBuffers();
  return buf;
}

function sortBuffers() {
  const rank = { server: 0, channel: 1, query: 2 };
  state.order.sort((a, b) => rank[a.kind] - rank[b.kind] || a.key.localeCompare(b.key));
  $("buffers").replaceChildren(...state.order.map((b) => b.li));
}

function select(buf) {
  if (!buf) return;
  const previous = state.current;
  if (previous) {
    previous.log.hidden = true;
    previous.button.removeAttribute("aria-current");
  }
  state.current = buf;
  buf.log.hidden = false;
  buf.button.setAttribute("aria-current", "true");
  $("title").textContent = buf.kind === "server" ? "Server" : buf.name;
  showTopic(buf);
  $("b-topic").hidden = buf.kind !== "channel";
  $("app").classList.toggle("no-members", buf.kind !== "channel" || !settings.showMembers);
  $("app").classList.remove("show-side", "show-members");
  state.selectedMember = null;
  renderMembers();
  if (previous !== buf) scrollToEnd(buf);
  markRead(buf);
  if (buf.kind !== "server") {
    settings.last = buf.name;
    saveSettings();
  }
}

function closeBuffer(buf) {
  if (!buf || buf.kind === "server") return;
  state.buffers.delete(buf.key);
  state.order = state.order.filter((b) => b !== buf);
  buf.log.remove();
  buf.li.remove();
  if (state.current === buf) select(state.order[0]);
  rememberConversations();
}

function showTopic(buf) {
  const topic = $("topic");
  topic.replaceChildren(render(buf.topic || ""));
  topic.title = strip(buf.topic || "");
}

function updateBadge(buf) {
  buf.badge.hidden = buf.unread === 0;
  buf.badge.textContent = buf.unread > 99 ? "99+" : String(buf.unread);
  buf.li.classList.toggle("unread", buf.unread > 0);
  buf.li.classList.toggle("mention", buf.mention);
  buf.li.classList.toggle("parted", buf.kind === "channel" && !buf.joined);
  const total = state.order.reduce((n, b) => n + b.unread, 0);
  // On a phone the list is hidden: its menu button carries the count.
  const menu = $("b-menu");
  if (total) menu.dataset.unread = total > 99 ? "99+" : String(total);
  else delete menu.dataset.unread;
  menu.classList.toggle("mention", state.order.some((b) => b.mention));
  menu.setAttribute("aria-label", total ? `Conversations, ${total} unread` : "Conversations");
  document.title = (total ? `(${total}) ` : "") + (state.nick ? `${state.nick} - ` : "") + "ircpsyc";
}

function visible(buf) {
  return state.current === buf && !document.hidden;
}

function markRead(buf) {
  if (!visible(buf)) return;
  buf.unread = 0;
  buf.mention = false;
  updateBadge(buf);
  const last = buf.log.lastElementChild;
  const time = last && last.dataset.time;
  if (time && time > buf.lastRead) setLastRead(buf, time);
  // Also what was read while the connection was down reaches the server once it is back.
  if (buf.lastRead > (buf.shared || "")) shareReadMarker(buf);
}

function setLastRead(buf, time) {
  buf.lastRead = time;
  try {
    localStorage.setItem(READ + buf.key, time);
  } catch { /* nothing is remembered */ }
}

/** The user read `buf` up to its lastRead: tell the account's other devices (MARKREAD). */
function shareReadMarker(buf) {
  if (buf.kind === "server" || buf.markTimer || !state.caps.has("draft/read-marker")) return;
  buf.markTimer = setTimeout(() => {
    buf.markTimer = null;
    if (state.registered && buf.lastRead > (buf.shared || "")) {
      buf.shared = buf.lastRead;
      state.conn.send("MARKREAD", buf.name, `timestamp=${buf.lastRead}`);
    }
  }, MARKREAD_DELAY);
}

// -- lines in a buffer, kept in time order

function atEnd(log) {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}
function scrollToEnd(buf) {
  buf.log.scrollTop = buf.log.scrollHeight;
}

function timeOf(tags) {
  const t = tags && tags.time;
  return t && !Number.isNaN(Date.parse(t)) ? new Date(t).toISOString() : new Date().toISOString();
}

/**
 * Show one line. `line`: {time, nick, text, kind, msgid, history}. Returns the element or null
 * when it was seen already (history replayed after a reconnect overlaps what is shown).
 */
function addLine(buf, line) {
  if (line.msgid) {
    if (buf.ids.has(line.msgid)) return null;
    buf.ids.add(line.msgid);
  }
  const el = document.createElement("div");
  el.className = `msg ${line.kind || "privmsg"}`;
  el.dataset.time = line.time;
  const time = document.createElement("time");
  time.dateTime = line.time;
  const date = new Date(line.time);
  time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  time.title = date.toLocaleString();
  const who = document.createElement("span");
  who.className = "nick";
  const text = document.createElement("span");
  text.className = "text";
  if (line.kind === "action") who.textContent = "*";
  else if (line.kind === "notice") who.textContent = line.nick ? `-${line.nick}-` : "-";
  else if (line.kind === "event" || line.kind === "error") who.textContent = line.kind === "error" ? "!" : "\u2022";
  else who.textContent = line.nick;
  if (line.kind === "action") text.append(document.createTextNode(line.nick + " "));
  text.append(render(line.text));
  el.append(time, who, text);
  const own = line.nick && state.nick && isMe(line.nick);
  const mentioned = !own && line.nick && (buf.kind === "query" || mentions(line.text));
  if (mentioned && buf.kind === "channel") el.classList.add("highlight");
  if (line.history) el.classList.add("history");

  const log = buf.log;
  const stick = atEnd(log);
  const before = log.scrollHeight;
  let next = null;
  if (line.anchor !== undefined) {
    next = line.anchor; // an older page of history goes above what is shown, in its order
  } else {
    for (let node = log.lastElementChild; node; node = node.previousElementSibling) {
      if (!node.dataset.time || node.dataset.time <= line.time) break;
      next = node;
    }
  }
  if (line.msgid) el.dataset.msgid = line.msgid;
  log.insertBefore(el, next);
  if (next === null && stick) scrollToEnd(buf);
  // Lines put above what is shown keep the view where it was (an older page stays above).
  else if (next !== null && (log.scrollTop > 0 || line.anchor)) log.scrollTop += log.scrollHeight - before;

  // The server window's notices (MOTD, the away log's summary...) are not conversation.
  const counts = (line.kind === "privmsg" || line.kind === "action" || line.kind === "notice") && !own && buf.kind !== "server";
  const fresh = !line.history || line.time > buf.lastRead;
  if (counts && fresh && !visible(buf)) {
    buf.unread++;
    if (mentioned) buf.mention = true;
    updateBadge(buf);
    if (!line.history && mentioned) notify(buf, line);
  } else if (visible(buf) && next === null && !line.history) {
    markRead(buf); // history is marked read once whole, after the marker is placed
  }
  return el;
}

function mentions(text) {
  if (!state.nick) return false;
  const escaped = state.nick.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^\\w\\[\\]\\\\^{}|\`-])${escaped}($|[^\\w\\[\\]\\\\^{}|\`-])`, "i").test(strip(text));
}

function info(buf, text, kind = "event") {
  addLine(buf || state.current || buffer("", "server"), { time: new Date().toISOString(), nick: "", text, kind });
}

function notify(buf, line) {
  if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
  const title = buf.kind === "query" ? line.nick : `${line.nick} in ${buf.name}`;
  try {
    const n = new Notification(title, { body: strip(line.text).slice(0, 200), tag: buf.key });
    n.onclick = () => {
      window.focus();
      select(buf);
      n.close();
    };
  } catch { /* some browsers only notify from a service worker */ }
}

/** After a history load: a line before the first message that came while we were away. */
function placeMarker(buf) {
  const old = buf.log.querySelector(".marker");
  if (!buf.leftAt) return;
  let first = null;
  for (const node of buf.log.querySelectorAll(".msg")) {
    if (node.dataset.time > buf.leftAt && !node.classList.contains("event")) {
      const nick = node.querySelector(".nick").textContent;
      if (!isMe(nick)) {
        first = node;
        break;
      }
    }
  }
  if (!first) return;
  if (old) old.remove();
  const marker = document.createElement("div");
  marker.className = "marker";
  marker.setAttribute("role", "separator");
  marker.textContent = "new since you left";
  buf.log.insertBefore(marker, first);
  first.scrollIntoView({ block: "center" });
}

// -- history (IRCv3 chathistory)

function requestHistory(buf, how) {
  if (!state.caps.has("draft/chathistory") || buf.kind === "server" || buf.loading) return;
  if (how === "before") {
    const first = buf.log.querySelector(".msg[data-msgid]");
    if (buf.done || !first) return;
    buf.loading = "before";
    // msgid= is exact where several lines share a timestamp
    const ref = `msgid=${first.dataset.msgid}`;
    state.conn.send("CHATHISTORY", "BEFORE", buf.name, ref, String(HISTORY_PAGE));
  } else {
    buf.loading = "latest";
    state.conn.send("CHATHISTORY", "LATEST", buf.name, "*", String(HISTORY_PAGE));
  }
}

function onScroll(buf) {
  if (buf.log.scrollTop < 60 && !buf.loading) requestHistory(buf, "before");
  if (atEnd(buf.log)) markRead(buf);
}

function historyDone(buf, count) {
  const how = buf.loading;
  buf.loading = null;
  if (how === "before" && count < HISTORY_PAGE) buf.done = true;
  if (how === "latest") {
    buf.synced = true;
    // Not "done" even when short: the away log's batch may have been taken for this one.
    placeMarker(buf);
    markRead(buf);
    if (buf.log.scrollHeight <= buf.log.clientHeight) requestHistory(buf, "before");
  }
}

// -- the connection

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/`;
}

function connect(nick, channels) {
  state.wantedNick = nick;
  state.channels = channels;
  settings.nick = nick;
  saveSettings();
  $("connect").hidden = true;
  $("app").hidden = false;
  const server = buffer("", "server");
  for (const name of settings.queries || []) buffer(name, "query");
  if (!state.current) select(server);
  state.conn = new Connection(wsUrl(), { onOpen, onLine, onClose });
  state.conn.open();
  setStatus("connecting\u2026");
  $("input").focus();
}

function onOpen() {
  state.caps = new Set();
  state.offered = new Map();
  state.registered = false;
  state.account = "";
  setStatus("signing in\u2026");
  state.conn.send("CAP", "LS", "302");
  state.conn.send("NICK", state.wantedNick);
  state.conn.send("USER", "web", "0", "*", "ircpsyc web client");
}

function onClose(delay) {
  state.registered = false;
  state.focusNext = null;
  for (const buf of state.buffers.values()) {
    buf.joined = false;
    buf.loading = null;
    buf.synced = false;
    buf.leftAt = buf.lastRead;
    updateBadge(buf);
  }
  if (delay === null) {
    setStatus("disconnected");
    info(buffer("", "server"), "Disconnected.");
    return;
  }
  const seconds = Math.round(delay / 1000);
  setStatus(`disconnected, retrying in ${seconds}s`);
  info(buffer("", "server"), `Connection lost; reconnecting in ${seconds}s.`, "error");
}

function setStatus(text) {
  $("status").textContent = text;
  $("me").textContent = state.nick || state.wantedNick;
}

function capEnd() {
  if (!state.registered) state.conn.send("CAP", "END");
}

function login() {
  if (settings.password && state.caps.has("sasl")) {
    state.conn.send("AUTHENTICATE", "PLAIN");
    return true;
  }
  return false;
}

// -- what the server says

const handlers = {
  CAP(msg) {
    const sub = msg.params[1];
    const list = msg.params[msg.params.length - 1];
    if (sub === "LS" || sub === "NEW") {
      for (const item of list.split(" ").filter(Boolean)) {
        const eq = item.indexOf("=");
        state.offered.set(eq < 0 ? item : item.slice(0, eq), eq < 0 ? "" : item.slice(eq + 1));
      }
      if (msg.params[2] === "*") return;
      const want = WANTED_CAPS.filter((c) => state.offered.has(c) && !state.caps.has(c));
      if (want.length) state.conn.send("CAP", "REQ", want.join(" "));
      else capEnd();
    } else if (sub === "ACK") {
      for (const cap of list.split(" ").filter(Boolean)) {
        if (cap[0] === "-") state.caps.delete(cap.slice(1));
        else state.caps.add(cap);
      }
      if (!state.registered && !login()) capEnd();
    } else if (sub === "NAK") {
      capEnd();
    } else if (sub === "DEL") {
      for (const cap of list.split(" ")) state.caps.delete(cap);
    }
  },
  AUTHENTICATE(msg) {
    if (msg.params[0] !== "+") return;
    // account@device: a client id, so the server replays to each browser what it missed.
    const account = settings.account || state.wantedNick;
    const bytes = new TextEncoder().encode(`${account}\0${account}@${deviceId()}\0${settings.password}`);
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    const encoded = btoa(binary);
    for (let i = 0; i < encoded.length; i += 400) state.conn.send("AUTHENTICATE", encoded.slice(i, i + 400));
    if (encoded.length % 400 === 0) state.conn.send("AUTHENTICATE", "+");
  },
  900(msg) {
    state.account = msg.params[2];
    if (state.pendingPassword) {
      settings.account = state.account;
      settings.password = state.pendingPassword;
      state.pendingPassword = null;
      saveSettings();
      $("account-dialog").close();
    }
    updateAccountButton();
    info(buffer("", "server"), msg.params[3] || `Logged in as ${state.account}`);
  },
  903() { capEnd(); },
  904(msg) { saslFailed(msg); },
  905(msg) { saslFailed(msg); },
  906() { capEnd(); },
  "001"(msg) {
    // A login that attaches to the account's person (online on another device, or kept
    // online by the server) gets that person's nick: it is ours from now on.
    state.nick = msg.params[0];
    if (state.account && !isMe(state.wantedNick)) {
      state.wantedNick = state.nick;
      settings.nick = state.nick;
      saveSettings();
    }
    state.registered = true;
    state.conn.established();
    setStatus("connected");
    updateAccountButton();
    const wanted = new Set(state.channels);
    for (const buf of state.buffers.values()) if (buf.kind === "channel" && buf.wanted) wanted.add(buf.name);
    if (wanted.size) state.conn.send("JOIN", [...wanted].join(","));
    for (const buf of state.buffers.values()) {
      if (buf.kind !== "query") continue;
      if (state.caps.has("draft/read-marker")) state.conn.send("MARKREAD", buf.name);
      requestHistory(buf, "latest");
    }
    if (state.caps.has("draft/chathistory") && settings.lastActive) {
      // Private conversations that started while this browser was away.
      const now = new Date().toISOString();
      state.conn.send("CHATHISTORY", "TARGETS", `timestamp=${settings.lastActive}`, `timestamp=${now}`, "50");
    }
    stillHere();
    if ("Notification" in window && Notification.permission === "default" && settings.askedNotify !== true) {
      settings.askedNotify = true;
      saveSettings();
      Notification.requestPermission().catch(() => {});
    }
  },
  "005"(msg) {
    for (const token of msg.params.slice(1, -1)) {
      const eq = token.indexOf("=");
      const key = eq < 0 ? token : token.slice(0, eq);
      state.isupport[key] = eq < 0 ? "" : token.slice(eq + 1);
      if (key === "CASEMAPPING") state.fold = folder(state.isupport.CASEMAPPING);
    }
  },
  433(msg) {
    if (state.registered) return error(msg);
    state.wantedNick = (state.wantedNick + "_").slice(0, 30);
    state.conn.send("NICK", state.wantedNick);
  },
  432(msg) {
    // A nick the server does not take (from a link, say): in with a guest nick, and say so.
    if (state.registered) return error(msg);
    info(buffer("", "server"), `The nick ${msg.params[1]} is not allowed here; you are a guest for now (/nick NAME).`, "error");
    state.wantedNick = `Guest${Math.floor(Math.random() * 90000) + 10000}`;
    state.conn.send("NICK", state.wantedNick);
  },
  JOIN(msg) {
    const nick = nickOf(msg.source);
    const name = msg.params[0];
    const buf = buffer(name, "channel");
    if (isMe(nick)) {
      buf.joined = true;
      buf.wanted = true;
      buf.members.clear();
      buf.done = false;
      updateBadge(buf);
      rememberConversations();
      // The channel asked for (/join, the URL) is shown when it comes, not one the server
      // joined us to first (a login that attached to the account's person has its channels).
      const asked = state.focusNext === buf.key;
      if (asked) state.focusNext = null;
      if (asked || (!state.focusNext && (state.current.kind === "server" || state.channels.length === 0))) select(buf);
      else if (!state.focusNext && settings.last && state.fold(settings.last) === buf.key) select(buf);
      requestHistory(buf, "latest");
    } else {
      buf.members.set(state.fold(nick), { nick, modes: "" });
      info(buf, `${nick} joined`);
    }
    membersChanged(buf);
  },
  PART(msg) {
    const nick = nickOf(msg.source);
    const buf = buffer(msg.params[0], "channel", false);
    if (!buf) return;
    if (isMe(nick)) {
      // Also a part on another device of the account: the person left, so no device
      // joins it again when it reconnects.
      buf.joined = false;
      buf.wanted = false;
      closeBuffer(buf);
      return;
    }
    buf.members.delete(state.fold(nick));
    info(buf, `${nick} left` + (msg.params[1] ? ` (${msg.params[1]})` : ""));
    membersChanged(buf);
  },
  KICK(msg) {
    const buf = buffer(msg.params[0], "channel", false);
    if (!buf) return;
    const who = msg.params[1];
    info(buf, `${who} was kicked by ${nickOf(msg.source)}` + (msg.params[2] ? ` (${msg.params[2]})` : ""));
    if (isMe(who)) {
      buf.joined = false;
      buf.wanted = false;
      updateBadge(buf);
      rememberConversations();
    }
    buf.members.delete(state.fold(who));
    membersChanged(buf);
  },
  QUIT(msg) {
    const nick = nickOf(msg.source);
    for (const buf of state.buffers.values()) {
      if (buf.members.delete(state.fold(nick))) {
        info(buf, `${nick} quit` + (msg.params[0] ? ` (${msg.params[0]})` : ""));
        membersChanged(buf);
      }
    }
  },
  NICK(msg) {
    const old = nickOf(msg.source);
    const now = msg.params[0];
    if (isMe(old)) {
      state.nick = now;
      state.wantedNick = now;
      settings.nick = now;
      saveSettings();
      setStatus("connected");
      updateAccountButton();
    }
    for (const buf of state.buffers.values()) {
      const member = buf.members.get(state.fold(old));
      if (member) {
        buf.members.delete(state.fold(old));
        buf.members.set(state.fold(now), { nick: now, modes: member.modes });
        info(buf, `${old} is now known as ${now}`);
        membersChanged(buf);
      }
    }
  },
  MODE(msg) {
    const target = msg.params[0];
    if (!isChannel(target)) return;
    const buf = buffer(target, "channel", false);
    if (!buf) return;
    applyModes(buf, msg.params[1] || "", msg.params.slice(2));
    info(buf, `${nickOf(msg.source)} sets mode ${msg.params.slice(1).join(" ")}`);
  },
  TOPIC(msg) {
    const buf = buffer(msg.params[0], "channel");
    buf.topic = msg.params[1] || "";
    if (state.current === buf) showTopic(buf);
    info(buf, `${nickOf(msg.source)} changed the topic to: ${buf.topic}`);
  },
  332(msg) {
    const buf = buffer(msg.params[1], "channel");
    buf.topic = msg.params[2] || "";
    if (state.current === buf) showTopic(buf);
  },
  331(msg) {
    const buf = buffer(msg.params[1], "channel", false);
    if (buf) buf.topic = "";
  },
  353(msg) {
    const buf = buffer(msg.params[2], "channel", false);
    if (!buf) return;
    if (!buf.namesOpen) {
      buf.namesOpen = true;
      buf.members.clear();
    }
    const symbols = prefixes().symbols;
    for (const item of (msg.params[3] || "").split(" ").filter(Boolean)) {
      let i = 0;
      while (i < item.length && symbols.includes(item[i])) i++;
      const nick = nickOf(item.slice(i));
      buf.members.set(state.fold(nick), { nick, modes: item.slice(0, i) });
    }
  },
  366(msg) {
    const buf = buffer(msg.params[1], "channel", false);
    if (!buf) return;
    buf.namesOpen = false;
    membersChanged(buf);
  },
  MARKREAD(msg) {
    // Where this account has read a conversation up to, on any of its devices.
    const [target, value = ""] = msg.params;
    const buf = target && buffer(target, isChannel(target) ? "channel" : "query", false);
    if (!buf || !value.startsWith("timestamp=")) return;
    const time = timeOf({ time: value.slice("timestamp=".length) });
    if (time > (buf.shared || "")) buf.shared = time; // the server has it
    if (time <= buf.lastRead) return;
    setLastRead(buf, time);
    // Until its history is shown, it says where "new since you left" goes.
    if (!buf.synced && time > buf.leftAt) buf.leftAt = time;
    const last = [...buf.log.querySelectorAll(".msg.privmsg, .msg.action, .msg.notice")].pop();
    if (buf.unread && (!last || last.dataset.time <= time)) {
      buf.unread = 0;
      buf.mention = false;
      updateBadge(buf);
    }
  },
  PRIVMSG(msg) { message(msg, "privmsg"); },
  NOTICE(msg) { message(msg, "notice"); },
  BATCH(msg) {
    const ref = msg.params[0];
    if (ref[0] === "+") {
      state.batches.set(ref.slice(1), { type: msg.params[1], params: msg.params.slice(2), lines: [] });
      return;
    }
    const batch = state.batches.get(ref.slice(1));
    state.batches.delete(ref.slice(1));
    if (!batch) return;
    if (batch.type === "chathistory") {
      const buf = buffer(batch.params[0], isChannel(batch.params[0]) ? "channel" : "query");
      const anchor = buf.loading === "before" ? buf.log.querySelector(".msg") : undefined;
      for (const line of batch.lines) message(line, line.command === "NOTICE" ? "notice" : "privmsg", buf, anchor);
      if (buf.loading) historyDone(buf, batch.lines.length);
      else placeMarker(buf); // the away log, replayed at login
    } else if (batch.type === "draft/chathistory-targets") {
      for (const line of batch.lines) {
        const target = line.params[1];
        if (target && !isChannel(target)) requestHistory(buffer(target, "query"), "latest");
      }
    } else {
      for (const line of batch.lines) dispatch(line);
    }
  },
  FAIL(msg) {
    if (msg.params[0] === "REGISTER") {
      state.pendingPassword = null;
      $("a-error").textContent = msg.params[msg.params.length - 1];
      return;
    }
    if (msg.params[0] === "CHATHISTORY") {
      for (const buf of state.buffers.values()) if (buf.loading) historyDone(buf, HISTORY_PAGE);
    }
    error(msg);
  },
  REGISTER(msg) {
    if (msg.params[0] === "VERIFICATION_REQUIRED") {
      $("a-error").textContent = msg.params[msg.params.length - 1];
    }
  },
  321() {
    state.listing = [];
  },
  322(msg) {
    (state.listing || (state.listing = [])).push({ name: msg.params[1], users: msg.params[2], topic: msg.params[3] || "" });
  },
  323() {
    showChannelList(state.listing || []);
    state.listing = null;
  },
  ERROR(msg) {
    info(buffer("", "server"), msg.params[0] || "Closing link", "error");
  },
  INVITE(msg) {
    info(state.current, `${nickOf(msg.source)} invites you to ${msg.params[1]} (type /join ${msg.params[1]})`);
  },
  PING() { /* answered in dispatch */ },
};

function saslFailed(msg) {
  info(buffer("", "server"), `Login failed: ${msg.params[msg.params.length - 1]}`, "error");
  setStatus("login failed");
  capEnd();
}

function error(msg) {
  const text = msg.params.slice(1).join(" ");
  info(state.current || buffer("", "server"), text, "error");
}

function message(msg, kind, historyBuf = null, anchor = undefined) {
  const from = nickOf(msg.source);
  const [target, raw = ""] = msg.params;
  let text = raw;
  if (text.startsWith("\x01")) {
    const body = text.replace(/^\x01|\x01$/g, "");
    if (!body.startsWith("ACTION ")) return; // other CTCPs are not shown
    text = body.slice(7);
    kind = "action";
  }
  const serverish = !msg.source || !msg.source.includes("!") || !state.registered;
  let buf;
  if (historyBuf) buf = historyBuf;
  else if (isChannel(target)) buf = buffer(target, "channel");
  else if (kind === "notice" && (serverish || !buffer(from, "query", false))) buf = serverish ? buffer("", "server") : state.current;
  else buf = buffer(isMe(from) ? target : from, "query");
  if (buf.kind === "query" && !historyBuf && buf.ids.size === 0 && !buf.loading && !buf.fetched) {
    buf.fetched = true;
    rememberConversations();
    requestHistory(buf, "latest");
  }
  addLine(buf, {
    time: timeOf(msg.tags),
    nick: from,
    text,
    kind,
    msgid: msg.tags.msgid,
    history: !!historyBuf,
    anchor,
  });
}

function applyModes(buf, modes, args) {
  const { modes: prefixModes, symbols } = prefixes();
  const [listModes = "", always = "", onSet = ""] = (state.isupport.CHANMODES || "").split(",");
  let adding = true;
  for (const m of modes) {
    if (m === "+" || m === "-") {
      adding = m === "+";
      continue;
    }
    const p = prefixModes.indexOf(m);
    if (p >= 0) {
      const nick = args.shift();
      const member = nick && buf.members.get(state.fold(nick));
      if (member) {
        const symbol = symbols[p];
        member.modes = member.modes.replace(symbol, "");
        if (adding) member.modes = [...member.modes, symbol].sort((a, b) => symbols.indexOf(a) - symbols.indexOf(b)).join("");
      }
    } else if (listModes.includes(m) || always.includes(m) || (adding && onSet.includes(m))) {
      args.shift();
    }
  }
  membersChanged(buf);
}

function dispatch(msg) {
  if (msg.tags.batch && state.batches.has(msg.tags.batch)) {
    state.batches.get(msg.tags.batch).lines.push(msg);
    return;
  }
  if (msg.command === "PING") {
    state.conn.send("PONG", ...msg.params);
    return;
  }
  const handler = handlers[msg.command];
  if (handler) {
    handler(msg);
  } else if (/^[45]\d\d$/.test(msg.command)) {
    error(msg);
  } else if (/^\d{3}$/.test(msg.command) && ["372", "375", "376", "002", "003", "251", "255", "265", "266", "422"].includes(msg.command)) {
    info(buffer("", "server"), msg.params.slice(1).join(" "), "notice");
  }
}

function onLine(msg) {
  try {
    dispatch(msg);
  } catch (e) {
    console.error("could not handle", msg, e);
  }
}

// -- members

let membersQueued = false;
function membersChanged(buf) {
  if (buf !== state.current || membersQueued) return;
  membersQueued = true;
  requestAnimationFrame(() => {
    membersQueued = false;
    renderMembers();
  });
}

function myModes(buf) {
  const me = buf && buf.members.get(state.fold(state.nick));
  return me ? me.modes : "";
}

function renderMembers() {
  const buf = state.current;
  const list = $("member-list");
  if (!buf || buf.kind !== "channel") {
    list.replaceChildren();
    $("member-actions").hidden = true;
    return;
  }
  const symbols = prefixes().symbols;
  const rank = (m) => (m.modes ? symbols.indexOf(m.modes[0]) : symbols.length);
  const members = [...buf.members.values()].sort((a, b) => rank(a) - rank(b) || a.nick.localeCompare(b.nick, undefined, { sensitivity: "base" }));
  $("members-title").textContent = `Members (${members.length})`;
  list.replaceChildren(...members.map((m) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    const r = document.createElement("span");
    r.className = "rank";
    r.textContent = m.modes ? m.modes[0] : "";
    button.append(r, document.createTextNode(m.nick));
    button.setAttribute("aria-pressed", String(state.selectedMember === m.nick));
    button.addEventListener("click", () => {
      state.selectedMember = state.selectedMember === m.nick ? null : m.nick;
      renderMembers();
    });
    li.append(button);
    return li;
  }));
  const actions = $("member-actions");
  actions.hidden = !state.selectedMember;
  if (state.selectedMember) {
    $("member-name").textContent = state.selectedMember;
    const op = /[~&@%]/.test(myModes(buf));
    for (const b of actions.querySelectorAll(".op-only")) b.hidden = !op;
  }
}

function memberAction(act) {
  const buf = state.current;
  const nick = state.selectedMember;
  if (!buf || !nick) return;
  const send = (...args) => state.conn.send(...args);
  switch (act) {
    case "query": select(buffer(nick, "query")); rememberConversations(); requestHistory(state.current, "latest"); break;
    case "op": send("MODE", buf.name, "+o", nick); break;
    case "deop": send("MODE", buf.name, "-o", nick); break;
    case "voice": send("MODE", buf.name, "+v", nick); break;
    case "devoice": send("MODE", buf.name, "-v", nick); break;
    case "kick": send("KICK", buf.name, nick, "Kicked"); break;
    case "ban": send("MODE", buf.name, "+b", `${nick}!*@*`); send("KICK", buf.name, nick, "Banned"); break;
  }
}

// -- what the user types

const COMMANDS = {
  join(args) {
    const [names, key] = args.split(" ");
    if (!names) return;
    state.focusNext = state.fold(names.split(",")[0]);
    if (key) state.conn.send("JOIN", names, key);
    else state.conn.send("JOIN", names);
  },
  part(args, buf) {
    const [first, ...rest] = args.split(" ");
    const name = isChannel(first) ? first : buf.name;
    const reason = isChannel(first) ? rest.join(" ") : args;
    const target = buffer(name, "channel", false);
    if (target) target.wanted = false;
    rememberConversations();
    if (target && !target.joined) closeBuffer(target);
    else if (reason) state.conn.send("PART", name, reason);
    else state.conn.send("PART", name);
  },
  close(args, buf) {
    if (buf.kind === "channel" && buf.joined) COMMANDS.part("", buf);
    else closeBuffer(buf);
  },
  msg(args) {
    const [target, ...rest] = args.split(" ");
    if (target && rest.length) say(target, rest.join(" "));
  },
  query(args) {
    const [target, ...rest] = args.split(" ");
    if (!target) return;
    const buf = buffer(target, isChannel(target) ? "channel" : "query");
    select(buf);
    rememberConversations();
    if (buf.ids.size === 0) requestHistory(buf, "latest");
    if (rest.length) say(target, rest.join(" "));
  },
  me(args, buf) { say(buf.name, `\x01ACTION ${args}\x01`); },
  notice(args) {
    const [target, ...rest] = args.split(" ");
    state.conn.send("NOTICE", target, rest.join(" "));
  },
  topic(args, buf) {
    if (args) state.conn.send("TOPIC", buf.name, args);
    else state.conn.send("TOPIC", buf.name);
  },
  kick(args, buf) {
    const [nick, ...reason] = args.split(" ");
    state.conn.send("KICK", buf.name, nick, reason.join(" ") || "Kicked");
  },
  ban(args, buf) { state.conn.send("MODE", buf.name, "+b", args.includes("!") ? args : `${args}!*@*`); },
  unban(args, buf) { state.conn.send("MODE", buf.name, "-b", args.includes("!") ? args : `${args}!*@*`); },
  op(args, buf) { state.conn.send("MODE", buf.name, "+o", args); },
  deop(args, buf) { state.conn.send("MODE", buf.name, "-o", args); },
  voice(args, buf) { state.conn.send("MODE", buf.name, "+v", args); },
  devoice(args, buf) { state.conn.send("MODE", buf.name, "-v", args); },
  mode(args, buf) { state.conn.send("MODE", ...(isChannel(args.split(" ")[0]) ? args.split(" ") : [buf.name, ...args.split(" ")])); },
  nick(args) { state.conn.send("NICK", args); },
  whois(args) { state.conn.send("WHOIS", args); },
  away(args) {
    if (args) state.conn.send("AWAY", args);
    else state.conn.send("AWAY");
  },
  list() { state.conn.send("LIST"); },
  register(args) {
    const [password, email] = args.split(" ");
    if (password) registerNick(password, email);
    else openAccountDialog();
  },
  quote(args) { if (state.conn.ws) state.conn.ws.send(args.replace(/[\r\n]/g, " ")); },
  raw(args) { COMMANDS.quote(args); },
  quit(args) { disconnect(args); },
  help() {
    info(state.current, "Commands: /join #channel, /part, /msg nick text, /query nick, /me action, /topic text, /kick nick, /ban nick, /op nick, /voice nick, /nick name, /register password, /list, /whois nick, /away text, /quote RAW LINE, /quit. Alt+Up/Down switches conversations.");
  },
};

// Room for the text in a 512-byte line after ":nick!user@host PRIVMSG target :".
const TEXT_BYTES = 400;

/** `text` cut into pieces of at most TEXT_BYTES UTF-8 bytes, at spaces where possible. */
function pieces(text) {
  const encoder = new TextEncoder();
  const out = [];
  let rest = text;
  while (encoder.encode(rest).length > TEXT_BYTES) {
    let cut = 0;
    let bytes = 0;
    for (const ch of rest) {
      bytes += encoder.encode(ch).length;
      if (bytes > TEXT_BYTES) break;
      cut += ch.length;
    }
    const space = rest.lastIndexOf(" ", cut);
    if (space > cut / 2) cut = space + 1;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut);
  }
  if (rest) out.push(rest);
  return out;
}

const IN_A_CONVERSATION = new Set([
  "me", "topic", "kick", "ban", "unban", "op", "deop", "voice", "devoice", "part", "close",
]);

function say(target, text) {
  const action = text.startsWith("\x01ACTION ") && text.endsWith("\x01");
  const lines = action ? [text] : text.split(/\r?\n/).flatMap(pieces);
  for (const line of lines) {
    if (!line) continue;
    state.conn.send("PRIVMSG", target, line);
    if (!state.caps.has("echo-message")) {
      message({ tags: {}, source: `${state.nick}!web@local`, command: "PRIVMSG", params: [target, line] }, "privmsg");
    }
  }
}

function submitInput(event) {
  event.preventDefault();
  const input = $("input");
  const text = input.value;
  if (!text.trim() || !state.conn) return;
  input.value = "";
  const buf = state.current;
  if (text.startsWith("/") && !text.startsWith("//")) {
    const space = text.indexOf(" ");
    const name = (space < 0 ? text.slice(1) : text.slice(1, space)).toLowerCase();
    const args = space < 0 ? "" : text.slice(space + 1).trim();
    const command = COMMANDS[name === "j" ? "join" : name === "m" ? "msg" : name];
    if (command && buf.kind === "server" && IN_A_CONVERSATION.has(name)) {
      info(buf, `/${name} works in a channel or a conversation.`, "error");
    } else if (command) command(args, buf);
    else info(buf, `Unknown command /${name}; try /help`, "error");
    return;
  }
  if (buf.kind === "server") {
    info(buf, "This is the server window: join a channel or type /help.", "error");
    return;
  }
  say(buf.name, text.startsWith("//") ? text.slice(1) : text);
}

function completeNick(event) {
  const input = $("input");
  const buf = state.current;
  if (!buf || buf.kind !== "channel") return;
  const upto = input.value.slice(0, input.selectionStart);
  const m = /(\S+)$/.exec(upto);
  if (!m) return;
  event.preventDefault();
  const start = upto.length - m[1].length;
  const found = [...buf.members.values()].map((x) => x.nick).filter((n) => n.toLowerCase().startsWith(m[1].toLowerCase()));
  if (!found.length) return;
  const insert = found[0] + (start === 0 ? ": " : " ");
  input.value = input.value.slice(0, start) + insert + input.value.slice(input.selectionStart);
  input.selectionStart = input.selectionEnd = start + insert.length;
}

// -- accounts

function updateAccountButton() {
  const button = $("b-account");
  button.textContent = state.account ? `Account: ${state.account}` : "Register";
  button.disabled = !!state.account;
}

function openAccountDialog() {
  $("account-nick").textContent = state.nick;
  $("a-error").textContent = "";
  $("a-password").value = "";
  $("account-dialog").showModal();
}

function registerNick(password, email) {
  state.pendingPassword = password;
  if (state.caps.has("draft/account-registration")) {
    state.conn.send("REGISTER", "*", email || "*", password);
  } else {
    state.conn.send("PRIVMSG", "NickServ", `REGISTER ${password}${email ? " " + email : ""}`);
  }
}

// -- channel list

function showChannelList(channels) {
  const list = $("channel-list");
  channels.sort((a, b) => Number(b.users) - Number(a.users));
  list.replaceChildren(...channels.map((c) => {
    const li = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = `${c.name} (${c.users})`;
    const join = document.createElement("button");
    join.type = "button";
    join.textContent = "Join";
    join.addEventListener("click", () => {
      COMMANDS.join(c.name);
      $("list-dialog").close();
    });
    const topic = document.createElement("span");
    topic.className = "ctopic";
    topic.append(render(c.topic));
    li.append(name, join, topic);
    return li;
  }));
  if (!channels.length) {
    const li = document.createElement("li");
    li.textContent = "No channels yet: join one by name to create it.";
    list.append(li);
  }
  if (!$("list-dialog").open) $("list-dialog").showModal();
}

// -- remembering and leaving

function rememberConversations() {
  settings.channels = [...state.buffers.values()].filter((b) => b.kind === "channel" && b.wanted !== false && (b.joined || b.wanted)).map((b) => b.name);
  settings.queries = [...state.buffers.values()].filter((b) => b.kind === "query").map((b) => b.name);
  state.channels = settings.channels;
  saveSettings();
}

function disconnect(reason) {
  if (!state.conn) return;
  state.conn.send("QUIT", reason || "Leaving");
  state.conn.close();
}

// While connected, note now and then that this browser saw everything up to now.
const ACTIVE_EVERY = 30000;
function stillHere() {
  if (state.registered) {
    settings.lastActive = new Date().toISOString();
    saveSettings();
  }
}
setInterval(stillHere, ACTIVE_EVERY);

// -- start

function splitChannels(text) {
  return (text || "").split(/[\s,]+/).filter(Boolean).map((c) => (isChannel(c) ? c : "#" + c));
}

function init() {
  const params = new URLSearchParams(location.search);
  const urlNick = params.get("nick");
  const urlChannels = params.get("channels");
  $("connect-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = $("f-nick").value.trim();
    if (!/^[^\s#&:,*?!@][^\s,*?!@]*$/.test(nick)) {
      $("f-error").textContent = "A nickname has no spaces and does not start with # or :.";
      return;
    }
    const password = $("f-password").value;
    if (password) {
      if (password !== settings.password || !settings.account) settings.account = nick;
      settings.password = password;
    } else {
      settings.password = ""; // an emptied field forgets the login kept in this browser
      settings.account = "";
    }
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
    connect(nick, splitChannels($("f-channels").value));
  });
  $("input-form").addEventListener("submit", submitInput);
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey && $("input").value) completeNick(event);
  });
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("join-input").value.trim();
    $("join-input").value = "";
    if (!name) return;
    if (isChannel(name)) COMMANDS.join(name);
    else COMMANDS.query(name);
    $("input").focus();
  });
  $("b-list").addEventListener("click", () => COMMANDS.list());
  $("b-account").addEventListener("click", openAccountDialog);
  $("b-quit").addEventListener("click", () => {
    disconnect("Leaving");
    location.href = "/";
  });
  $("b-menu").addEventListener("click", () => $("app").classList.toggle("show-side"));
  $("b-members").addEventListener("click", () => {
    if (matchMedia("(max-width: 700px)").matches) {
      $("app").classList.toggle("show-members");
    } else {
      settings.showMembers = !settings.showMembers;
      saveSettings();
      $("app").classList.toggle("no-members", !settings.showMembers || state.current.kind !== "channel");
    }
  });
  // On a phone the lists cover the conversation: a tap beside them closes them.
  document.querySelector(".main").addEventListener("click", (event) => {
    if (!event.target.closest("#b-menu, #b-members")) $("app").classList.remove("show-side", "show-members");
  });
  $("b-topic").addEventListener("click", () => {
    const input = $("input");
    input.value = `/topic ${strip(state.current.topic || "")}`;
    input.focus();
  });
  $("member-actions").addEventListener("click", (event) => {
    const act = event.target.closest("button")?.dataset.act;
    if (act) memberAction(act);
  });
  $("account-form").addEventListener("submit", (event) => {
    if (event.submitter && event.submitter.value === "cancel") return;
    event.preventDefault();
    registerNick($("a-password").value, $("a-email").value.trim());
    $("a-error").textContent = "Registering\u2026";
  });
  document.addEventListener("keydown", (event) => {
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown") && state.current) {
      event.preventDefault();
      const i = state.order.indexOf(state.current);
      const next = state.order[(i + (event.key === "ArrowUp" ? -1 : 1) + state.order.length) % state.order.length];
      select(next);
      $("input").focus();
    } else if (event.key === "Escape") {
      $("app").classList.remove("show-side", "show-members");
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.current) markRead(state.current);
  });
  window.addEventListener("online", () => state.conn && state.conn.retryNow());
  if (settings.showMembers === undefined) settings.showMembers = true;

  if (urlNick) {
    const channels = splitChannels(urlChannels);
    if (channels.length) state.focusNext = state.fold(channels[0]);
    connect(urlNick, channels);
    return;
  }
  $("f-nick").value = settings.nick || "";
  $("f-channels").value = urlChannels || (settings.channels || []).join(", ");
  if (settings.password) {
    $("f-login").open = true;
    $("f-password").value = settings.password;
  }
  $("connect").hidden = false;
  $(settings.nick ? "f-go" : "f-nick").focus();
}

init();

// For the tests and the curious: the state, read-only by convention.
window.ircpsyc = { state, parse };
