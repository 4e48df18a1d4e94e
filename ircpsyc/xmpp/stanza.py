"""Stanzas as ElementTree elements: namespaces, builders and readers.

The gateway core reads and writes `xml.etree.ElementTree.Element`s in Clark
notation (`{jabber:component:accept}message`); the slixmpp adapter only
serialises them.  Children in the stanza namespace (body, subject, show, ...)
are read whatever default namespace the server used (component or client).
"""

from __future__ import annotations

import time
from xml.etree.ElementTree import Element, SubElement

from ircpsyc.xmpp.text import xml_safe

COMPONENT = "jabber:component:accept"
CLIENT = "jabber:client"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = MUC + "#user"
MUC_ADMIN = MUC + "#admin"
MUC_OWNER = MUC + "#owner"
MUC_STABLE_ID = MUC + "#stable_id"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
PING = "urn:xmpp:ping"
DELAY = "urn:xmpp:delay"
SID = "urn:xmpp:sid:0"
RETRACT = "urn:xmpp:message-retract:1"  # XEP-0424: a message taken back (IRC REDACT)
FALLBACK = "urn:xmpp:fallback:0"  # XEP-0428: the body is for clients without the feature
NICK = "http://jabber.org/protocol/nick"  # XEP-0172: a user's nickname (IRC display-name)
VERSION = "jabber:iq:version"
DATA = "jabber:x:data"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
CONFERENCE = "jabber:x:conference"

# RFC 6120 8.3.3: the error type that goes with each condition we send.
ERROR_TYPES = {
    "bad-request": "modify",
    "conflict": "cancel",
    "feature-not-implemented": "cancel",
    "forbidden": "auth",
    "item-not-found": "cancel",
    "jid-malformed": "modify",
    "not-acceptable": "modify",
    "not-allowed": "cancel",
    "not-authorized": "auth",
    "registration-required": "auth",
    "service-unavailable": "cancel",
    "recipient-unavailable": "wait",
}


def qname(name: str, ns: str = COMPONENT) -> str:
    return f"{{{ns}}}{name}"


def local_name(element: Element) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def namespace(element: Element) -> str:
    tag = element.tag
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def child(element: Element, name: str, ns: str | None = None) -> Element | None:
    """The first child called `name`: in `ns`, or in the stanza namespace when ns is None."""
    for sub in element:
        if local_name(sub) != name:
            continue
        if ns is None:
            if namespace(sub) in (COMPONENT, CLIENT, ""):
                return sub
        elif namespace(sub) == ns:
            return sub
    return None


def child_text(element: Element, name: str, ns: str | None = None) -> str | None:
    found = child(element, name, ns)
    if found is None:
        return None
    return found.text or ""


def stanza(kind: str, sender: str, to: str, type_: str = "", id_: str = "") -> Element:
    element = Element(qname(kind), {"from": sender, "to": to})
    if type_:
        element.set("type", type_)
    if id_:
        element.set("id", id_)
    return element


def text_child(parent: Element, name: str, text: str, ns: str = COMPONENT) -> Element:
    sub = SubElement(parent, qname(name, ns))
    sub.text = xml_safe(text)
    return sub


def error(
    original: Element, condition: str, text: str = "", by: str = "", sender: str = ""
) -> Element:
    """The error reply to `original` (its from and to swapped, same id)."""
    kind = local_name(original)
    reply = stanza(
        kind,
        sender or original.get("to", ""),
        original.get("from", ""),
        "error",
        original.get("id", ""),
    )
    if kind == "presence":
        SubElement(reply, qname("x", MUC))
    reply.append(error_element(condition, text, by))
    return reply


def error_element(condition: str, text: str = "", by: str = "") -> Element:
    node = Element(qname("error"), {"type": ERROR_TYPES.get(condition, "cancel")})
    if by:
        node.set("by", by)
    SubElement(node, qname(condition, STANZAS))
    if text:
        text_child(node, "text", text, STANZAS)
    return node


def iq_result(request: Element) -> Element:
    return stanza(
        "iq", request.get("to", ""), request.get("from", ""), "result", request.get("id", "")
    )


def stamp(ms: int) -> str:
    """XEP-0082 date-time for a time in ms since the epoch."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def parse_stamp(text: str) -> int | None:
    """ms since the epoch of an XEP-0082 date-time (UTC or with an offset), or None."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)
