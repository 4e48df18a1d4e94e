"""IRCv3 capability names, defined once, and the bits that change how lines render."""

from __future__ import annotations

from typing import Final

from ircpsyc.channels.place import METADATA_MAX_KEYS, METADATA_MAX_VALUE_BYTES

ACCOUNT_NOTIFY: Final = "account-notify"
ACCOUNT_TAG: Final = "account-tag"
AWAY_NOTIFY: Final = "away-notify"
BATCH: Final = "batch"
CAP_NOTIFY: Final = "cap-notify"
CHGHOST: Final = "chghost"
ECHO_MESSAGE: Final = "echo-message"
EXTENDED_JOIN: Final = "extended-join"
INVITE_NOTIFY: Final = "invite-notify"
LABELED_RESPONSE: Final = "labeled-response"
MESSAGE_TAGS: Final = "message-tags"
MULTI_PREFIX: Final = "multi-prefix"
SERVER_TIME: Final = "server-time"
SETNAME: Final = "setname"
USERHOST_IN_NAMES: Final = "userhost-in-names"
NO_IMPLICIT_NAMES: Final = "draft/no-implicit-names"
STANDARD_REPLIES: Final = "standard-replies"
EXTENDED_MONITOR: Final = "extended-monitor"
STS: Final = "sts"  # advertised only, never requested
MESSAGE_REDACTION: Final = "draft/message-redaction"
MULTILINE: Final = "draft/multiline"
CHANNEL_RENAME: Final = "draft/channel-rename"  # RENAME lines instead of PART and JOIN
EXTENDED_ISUPPORT: Final = "draft/extended-isupport"  # ISUPPORT command, also before registering
PRE_AWAY: Final = "draft/pre-away"  # AWAY before registration
# IRCv3 metadata (ircpsyc.ircd.metadata): the spec's draft name and the one irctest
# and newer clients ask for; either turns the same feature on.
METADATA: Final = "draft/metadata-2"
METADATA_3: Final = "draft/metadata-3"
METADATA_CAPS: Final = frozenset({METADATA, METADATA_3})
METADATA_MAX_SUBS: Final = 50  # keys one session may subscribe to
READ_MARKER: Final = "draft/read-marker"  # MARKREAD (ircpsyc.ircd.commands.readmarker)
MULTILINE_BATCH: Final = "draft/multiline"  # the client batch type (ircpsyc.ircd.multiline)
CHATHISTORY_BATCH: Final = "chathistory"  # the batch type of replayed lines
MULTILINE_CONCAT: Final = "draft/multiline-concat"  # tag: the line continues the previous one
MULTILINE_MAX_BYTES: Final = 4096  # text of all the lines of one batch
MULTILINE_MAX_LINES: Final = 100
# Offered while history is on (IRCServer.extra_caps, set in ircpsyc.assemble).
CHATHISTORY: Final = "draft/chathistory"
EVENT_PLAYBACK: Final = "draft/event-playback"
# Offered only while the account service runs (IRCServer.extra_caps).
SASL: Final = "sasl"
ACCOUNT_REGISTRATION: Final = "draft/account-registration"

METADATA_VALUE: Final = (
    f"before-connect,max-subs={METADATA_MAX_SUBS},max-keys={METADATA_MAX_KEYS},"
    f"max-value-bytes={METADATA_MAX_VALUE_BYTES}"
)

# Capabilities offered by default; a value (302) follows "=" in CAP LS.
SUPPORTED: dict[str, str] = {
    ACCOUNT_NOTIFY: "",
    ACCOUNT_TAG: "",
    AWAY_NOTIFY: "",
    BATCH: "",
    CAP_NOTIFY: "",
    CHANNEL_RENAME: "",
    CHGHOST: "",
    ECHO_MESSAGE: "",
    EXTENDED_ISUPPORT: "",
    EXTENDED_JOIN: "",
    EXTENDED_MONITOR: "",
    INVITE_NOTIFY: "",
    LABELED_RESPONSE: "",
    MESSAGE_REDACTION: "",
    MESSAGE_TAGS: "",
    METADATA: METADATA_VALUE,
    METADATA_3: METADATA_VALUE,
    MULTI_PREFIX: "",
    MULTILINE: f"max-bytes={MULTILINE_MAX_BYTES},max-lines={MULTILINE_MAX_LINES}",
    NO_IMPLICIT_NAMES: "",
    PRE_AWAY: "",
    READ_MARKER: "",
    SERVER_TIME: "",
    SETNAME: "",
    STANDARD_REPLIES: "",
    USERHOST_IN_NAMES: "",
}

# Render-key bits: lines are formatted once per distinct combination of these.
F_TIME: Final = 1
F_TAGS: Final = 2
F_ACCOUNT: Final = 4
F_EXTJOIN: Final = 8
F_MULTILINE: Final = 16

RENDER_BITS: dict[str, int] = {
    SERVER_TIME: F_TIME,
    MESSAGE_TAGS: F_TAGS,
    ACCOUNT_TAG: F_ACCOUNT,
    EXTENDED_JOIN: F_EXTJOIN,
    MULTILINE: F_MULTILINE,
}
