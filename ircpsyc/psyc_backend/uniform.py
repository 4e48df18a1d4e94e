"""PSYC uniforms (`psyc://host[:port]/~nick`, `/@place`, `/$service`) and casefolding.

Uniforms are compared in one normal form: scheme and host lower-cased, the
entity name casefolded with the server's IRC casemapping (CASEMAPPING in 005),
so `psyc://h/@Chan` and `psyc://h/@chan` are the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

CASEMAPPING = "rfc1459"

# rfc1459: A-Z plus []\~ fold to a-z plus {}|^.
_RFC1459 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")

PERSON = "~"
PLACE = "@"
SERVICE = "$"
SIGILS = PERSON + PLACE + SERVICE


_ascii_only = False  # CASEMAPPING=ascii: only A-Z fold (set once at start)
_ASCII = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def set_casemapping(name: str) -> None:
    """Choose the casemapping ("rfc1459" or "ascii") for the whole process, at start,
    before any name is folded (names folded before would not match the new way)."""
    global CASEMAPPING, _ascii_only
    CASEMAPPING = name
    _ascii_only = name == "ascii"
    normalize.cache_clear()


def casemapping() -> str:
    """The casemapping in use (CASEMAPPING in 005)."""
    return CASEMAPPING


def casefold(name: str) -> str:
    """Fold a nick or channel name with the advertised casemapping."""
    if _ascii_only:
        return name.lower() if name.isascii() else name.translate(_ASCII)
    if not name.isascii():
        return name.translate(_RFC1459)  # only A-Z and []\~ fold, not other letters
    # Names are nearly always ASCII, and this runs a few times per command: lower()
    # and four replace() calls cost a fraction of a translate(), which looks every
    # character up in the table.
    folded = name.lower().replace("[", "{").replace("]", "}").replace("\\", "|").replace("~", "^")
    # A name that folds to itself is returned as it is: tables keyed by a folded name
    # then share one string with it (a person kept online must cost little: issue 13).
    return name if folded == name else folded


class UniformError(ValueError):
    """A string that is not a PSYC uniform."""


@dataclass(frozen=True, slots=True)
class Uniform:
    """A parsed uniform: `psyc://host[:port]/<sigil><name>` or a root `psyc://host/`."""

    host: str
    port: str = ""
    sigil: str = ""
    name: str = ""
    channel: str = ""

    @classmethod
    def parse(cls, text: str) -> Uniform:
        if not text.lower().startswith("psyc://"):
            raise UniformError(f"not a psyc uniform: {text!r}")
        rest = text[7:]
        authority, _, resource = rest.partition("/")
        if not authority:
            raise UniformError(f"uniform without host: {text!r}")
        host, colon, port = authority.partition(":")
        if colon and not port:
            raise UniformError(f"empty port in {text!r}")
        if not host or any(c in host for c in " \t\r\n@~$#"):
            raise UniformError(f"bad host in {text!r}")
        resource, _, channel = resource.partition("#")
        if not resource:
            return cls(host.lower(), port, "", "", channel)
        sigil, name = resource[0], resource[1:]
        if sigil not in SIGILS or not name or "/" in name:
            raise UniformError(f"bad entity in {text!r}")
        return cls(host.lower(), port, sigil, name, channel)

    @property
    def root(self) -> str:
        """The root entity of the node this uniform lives on."""
        port = f":{self.port}" if self.port else ""
        return f"psyc://{self.host}{port}/"

    @property
    def is_person(self) -> bool:
        return self.sigil == PERSON

    @property
    def is_place(self) -> bool:
        return self.sigil == PLACE

    @property
    def is_root(self) -> bool:
        return not self.sigil

    def key(self) -> str:
        """The normal form used as a dictionary key."""
        return make(self.host, self.sigil, casefold(self.name), self.port)

    def __str__(self) -> str:
        text = make(self.host, self.sigil, self.name, self.port)
        return f"{text}#{self.channel}" if self.channel else text


def make(host: str, sigil: str, name: str, port: str = "") -> str:
    """Build a uniform string without parsing."""
    portpart = f":{port}" if port else ""
    return f"psyc://{host}{portpart}/{sigil}{name}"


def person(host: str, nick: str) -> str:
    return f"psyc://{host}/~{nick}"


def place(host: str, name: str) -> str:
    """The uniform of place `name` (without the IRC `#`).

    `#` starts a PSYC channel suffix, so one inside an IRC channel name
    (`#a#b`) is escaped, as is `%` itself.
    """
    if "%" in name or "#" in name:
        name = name.replace("%", "%25").replace("#", "%23")
    return f"psyc://{host}/@{name}"


def unescape_place(name: str) -> str:
    if "%" in name:
        return name.replace("%23", "#").replace("%25", "%")
    return name


def root(host: str) -> str:
    return f"psyc://{host}/"


def service(host: str, name: str) -> str:
    """The uniform of the service `name` on `host`: `psyc://host/$name`."""
    return f"psyc://{host}/${name}"


# Quick tests on uniform strings, without parsing: they run for every packet on
# some paths.  A nick, place name or service name never holds a `/`, so the
# sigil after the first `/` decides.


def is_uniform(text: str) -> bool:
    """Whether `text` starts like a PSYC uniform (`psyc://`, any case)."""
    return text[:7].lower() == "psyc://"


def host_of(uniform: str) -> str:
    """The host of a uniform, lower-cased, without port; "" if it is not one."""
    if len(uniform) < 8 or uniform[:7].lower() != "psyc://":
        return ""
    end = uniform.find("/", 7)
    authority = uniform[7:] if end < 0 else uniform[7:end]
    colon = authority.find(":")
    if colon >= 0:
        authority = authority[:colon]
    return authority.lower()


def is_person(uniform: str) -> bool:
    """Whether `uniform` names a person (`psyc://host/~nick`)."""
    return "/~" in uniform


def is_place(uniform: str) -> bool:
    """Whether `uniform` names a place (`psyc://host/@name`)."""
    return "/@" in uniform


def is_service(uniform: str) -> bool:
    """Whether `uniform` names a service or server context (`psyc://host/$name`)."""
    return "/$" in uniform


def nick_of(uniform: str) -> str:
    """The nick of a person's uniform (as written, not folded); "" if it is not a person."""
    cut = uniform.find("/~")
    return uniform[cut + 2 :] if cut >= 0 else ""


def place_name_of(uniform: str) -> str:
    """The escaped name of a place's uniform (see `unescape_place`); "" if not a place."""
    cut = uniform.find("/@")
    return uniform[cut + 2 :] if cut >= 0 else ""


def service_name_of(uniform: str) -> str:
    """The name of a service's uniform (`directory` of `psyc://h/$directory`); "" if none."""
    cut = uniform.rfind("/$")
    return uniform[cut + 2 :] if cut >= 0 else ""


def with_nick(uniform: str, nick: str) -> str:
    """A person's uniform with its nick replaced (a person's uniform follows its nick)."""
    cut = uniform.rfind("/~")
    return uniform[: cut + 2] + nick if cut >= 0 else ""


def _key(text: str) -> str:
    try:
        key = Uniform.parse(text).key()
    except UniformError:
        key = casefold(text)
    return text if key == text else key


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """The key form of a uniform string; unparsable strings are returned folded.

    Cached: the router normalizes the target of every packet, and targets repeat.
    A string already in key form is returned itself, not an equal copy: the tables
    keyed by a person's uniform then share the person's own string.
    """
    return _key(text)


def key_of(text: str) -> str:
    """`normalize` for a key made once (an entity registered, a person signing on):
    a string already in key form is returned without an entry in the cache, so that
    an idle person of a lowercase nick costs none; any other is normalized through
    the cache, so that every table keyed by it shares one string."""
    return text if _key(text) == text else normalize(text)
