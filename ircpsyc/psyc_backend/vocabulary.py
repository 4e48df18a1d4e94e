"""The PSYC vocabulary of ircpsyc: every method and variable name, one line each.

Read this module to learn the protocol.  A PSYC packet carries a *method* (what
happens: `_notice_place_enter`) and *variables* (`_nick`, `_target`, ...).
Method names inherit by prefix: a handler for `_notice_place_leave` also gets
`_notice_place_leave_kick` unless something handles the longer name, so a typo
in a method name is not an error, it silently becomes its parent.  That is why
every name lives here once and `tests/test_vocabulary.py` fails on a method
literal anywhere in `ircpsyc/` that this module does not define.

Families (the first word of a method): `_message` (someone says something),
`_notice` (something happened), `_request` (please do something), `_echo` (done,
to the one who asked), `_status` (here is a state), `_error` (refused: the
sender did something wrong), `_failure` (could not: nothing wrong with the
request).  Names come from psyced where psyced has them (see
`../shared/psyc-notes.md`); ircpsyc's own names follow the same pattern.

Convention: import the module, not the names, and write `V.NOTICE_PLACE_ENTER`:

    from ircpsyc.psyc_backend import vocabulary as V

A constant is the name upper-cased without its leading `_`; a prefix that ends
in `_` (matched with `startswith`, never sent as such) is called `..._PREFIX`.
"""

from __future__ import annotations

# ============================================================================
# Methods
# ============================================================================

# -- Families and prefixes (inheritance matches on these) --------------------

MESSAGE = "_message"  # family: a person or service says something (IRC PRIVMSG/NOTICE)
NOTICE = "_notice"  # family: something happened; also the suffix of an IRC NOTICE
REQUEST = "_request"  # family: asks the target to do something; answered by _status/_error
REQUEST_PREFIX = "_request_"  # prefix: a request and the name of what is asked
ECHO = "_echo"  # family: the request was done (sent back to the one who asked)
STATUS = "_status"  # family: a state or an answer to a request
STATUS_PREFIX = "_status_"  # prefix: a status and the name of what it is about
ERROR = "_error"  # family: refused, the sender did something wrong; never answered
ERROR_PREFIX = "_error_"  # prefix: an error and its words (the XMPP gateway spells them)
FAILURE = "_failure"  # family: could not be done, the request was fine; never answered

# -- Circuit: a link between two servers (psyc_backend/link.py) --------------

NOTICE_CIRCUIT = "_notice_circuit"  # family: circuit-level notices (not counted, not resent)
NOTICE_CIRCUIT_ESTABLISHED = "_notice_circuit_established"  # psyced: a circuit greets the peer
STATUS_CIRCUIT = "_status_circuit"  # family: the handshake's answers (circuit-level)
STATUS_CIRCUIT_CHALLENGE = "_status_circuit_challenge"  # the answer to a greeting: our challenge
STATUS_CIRCUIT_AUTHENTICATION = "_status_circuit_authentication"  # the proof for the challenge
STATUS_CIRCUIT_ESTABLISHED = "_status_circuit_established"  # both proved: the link is up
REQUEST_CIRCUIT = "_request_circuit"  # family: circuit-level requests
REQUEST_CIRCUIT_SHUTDOWN = "_request_circuit_shutdown"  # the peer closes the link on purpose
NOTICE_CIRCUIT_TOPOLOGY = "_notice_circuit_topology"  # link-state advert: a server's neighbours
NOTICE_ROUTE_ACKNOWLEDGE = "_notice_route_acknowledge"  # end to end: numbered unicasts arrived
ERROR_CIRCUIT = "_error_circuit"  # family: the circuit is refused and closes
ERROR_CIRCUIT_AUTHENTICATION = "_error_circuit_authentication"  # bad or missing proof/challenge
ERROR_CIRCUIT_DUPLICATE = "_error_circuit_duplicate"  # a circuit between us exists already
ERROR_CIRCUIT_ORDER = "_error_circuit_order"  # a packet the handshake did not expect yet
ERROR_CIRCUIT_VERSION = "_error_circuit_version"  # the peer speaks another protocol version
ERROR_SYNTAX = "_error_syntax"  # psyced: the peer's packets cannot be parsed
ERROR_SYNTAX_INITIALIZATION = "_error_syntax_initialization"  # psyced: bad first packet
ERROR_ILLEGAL_SOURCE = "_error_illegal_source"  # psyced: _source not allowed on this circuit
ERROR_ILLEGAL_TARGET = "_error_illegal_target"  # the circuit was opened to another server

# -- Messages: what people say -----------------------------------------------

MESSAGE_PUBLIC = "_message_public"  # psyced: a line said in a place (PRIVMSG #chan)
MESSAGE_PUBLIC_HISTORY = "_message_public_history"  # a foreign place's line replayed on enter
MESSAGE_PUBLIC_NOTICE = "_message_public_notice"  # NOTICE #chan
MESSAGE_PUBLIC_TAGMSG = "_message_public_tagmsg"  # TAGMSG #chan (IRCv3 tags only, no text)
MESSAGE_PRIVATE = "_message_private"  # psyced: a line to one person (PRIVMSG nick)
MESSAGE_PRIVATE_NOTICE = "_message_private_notice"  # NOTICE nick
MESSAGE_PRIVATE_TAGMSG = "_message_private_tagmsg"  # TAGMSG nick

# -- Place: asking a place (channels/place.py is the one that decides) -------

REQUEST_ENTER = "_request_enter"  # psyced: a person asks to join (JOIN)
REQUEST_CONTEXT_ENTER = "_request_context_enter"  # psyced: join as a context slave (same here)
REQUEST_LEAVE = "_request_leave"  # psyced: a person leaves (PART)
REQUEST_LEAVE_DISCONNECT = "_request_leave_disconnect"  # psyced: leaves because it quit (QUIT)
REQUEST_SET_TOPIC = "_request_set_topic"  # psyced: change the topic (TOPIC)
REQUEST_SET_MODE = "_request_set_mode"  # change channel or member modes (MODE)
REQUEST_KICK = "_request_kick"  # psyced: put a member out (KICK)
STATUS_PLACE_BANNED = "_status_place_banned"  # psyced: a kick done, with `_list_banned`
REQUEST_INVITE = "_request_invite"  # invite a person (INVITE)
REQUEST_KNOCK = "_request_knock"  # ask the operators to be let in (KNOCK)
REQUEST_REDACT = "_request_redact"  # take back a line said in the place (REDACT)
REQUEST_SET_METADATA = "_request_set_metadata"  # set, unset or clear channel metadata (METADATA)
REQUEST_RENAME = "_request_rename"  # give the place a new name, keeping everything (RENAME)

# -- Place: answers to the one who asked -------------------------------------

ECHO_PLACE = "_echo_place"  # family: a place's answers to the one who asked
ECHO_PLACE_ENTER = "_echo_place_enter"  # psyced: you are in; carries the member list and state
ECHO_PLACE_LEAVE_INVALID = "_echo_place_leave_invalid"  # psyced: you were not in (it restarted)
ECHO_PLACE_INVITE = "_echo_place_invite"  # your invitation was sent (341 RPL_INVITING)
ECHO_PLACE_KNOCK = "_echo_place_knock"  # your knock was delivered (711 RPL_KNOCKDLVR)
ECHO_PLACE_RENAME = "_echo_place_rename"  # renamed, to an asker who is not in (RENAME by an oper)
ECHO_PLACE_TOPIC = "_echo_place_topic"  # a tagged TOPIC request is done (its cast came first)
ECHO_PLACE_MODE = "_echo_place_mode"  # a tagged MODE request is done (its casts, errors came first)
STATUS_PLACE_LIST = "_status_place_list"  # a list mode's entries (+b/+e/+I lists)

# -- Place: what members see (casts) -----------------------------------------

NOTICE_PLACE = "_notice_place"  # family: every event of a place
NOTICE_PLACE_ENTER = "_notice_place_enter"  # psyced: someone joined
NOTICE_PLACE_LEAVE = "_notice_place_leave"  # psyced: someone left (PART)
NOTICE_PLACE_LEAVE_DISCONNECT = "_notice_place_leave_disconnect"  # psyced: left by quitting
NOTICE_PLACE_LEAVE_KICK = "_notice_place_leave_kick"  # someone was kicked
NOTICE_PLACE_LEAVE_NETBURP = "_notice_place_leave_netburp"  # psyced: lost in a netsplit
NOTICE_PLACE_NICK = "_notice_place_nick"  # a member changed nick
NOTICE_PLACE_TOPIC = "_notice_place_topic"  # psyced: the topic changed
NOTICE_PLACE_MODE = "_notice_place_mode"  # modes changed
NOTICE_PLACE_INVITE = "_notice_place_invite"  # to the invited person: you are invited
NOTICE_PLACE_INVITED = "_notice_place_invited"  # to who could invite too: an invite (invite-notify)
NOTICE_PLACE_KNOCK = "_notice_place_knock"  # to the operators: someone knocks
NOTICE_PLACE_OVERRIDE = "_notice_place_override"  # an oper overrode the place's rules
NOTICE_PLACE_REDACT = "_notice_place_redact"  # a line was taken back (IRCv3 REDACT)
NOTICE_PLACE_METADATA = "_notice_place_metadata"  # the place's metadata changed (METADATA)
NOTICE_PLACE_RENAME = "_notice_place_rename"  # the place has a new name (draft/channel-rename)

# -- Place: refusals ----------------------------------------------------------

ERROR_PLACE_ENTER = "_error_place_enter"  # family: the join was refused
ERROR_PLACE_ENTER_BANNED = "_error_place_enter_banned"  # +b (474)
ERROR_PLACE_ENTER_FULL = "_error_place_enter_full"  # +l (471)
ERROR_PLACE_ENTER_NECESSARY_ACCOUNT = "_error_place_enter_necessary_account"  # +R (477)
ERROR_PLACE_ENTER_NECESSARY_INVITATION = "_error_place_enter_necessary_invitation"  # +i (473)
ERROR_PLACE_ENTER_NECESSARY_KEY = "_error_place_enter_necessary_key"  # +k (475)
ERROR_PLACE_INVITE_MEMBERSHIP = "_error_place_invite_membership"  # invitee is in already (443)
ERROR_PLACE_KNOCK_MEMBERSHIP = "_error_place_knock_membership"  # knocker is in already (714)
ERROR_PLACE_KNOCK_OFTEN = "_error_place_knock_often"  # too many knocks (712)
ERROR_PLACE_KNOCK_OPEN = "_error_place_knock_open"  # the place is open, just join (713)
ERROR_PLACE_LIST_FULL = "_error_place_list_full"  # a +b/+e/+I list is full (478)
ERROR_PLACE_MESSAGE_FORBIDDEN = "_error_place_message_forbidden"  # cannot speak here (404)
ERROR_PLACE_MODE_INVALID = "_error_place_mode_invalid"  # a mode's parameter is wrong (696)
ERROR_PLACE_MODE_UNKNOWN = "_error_place_mode_unknown"  # no such mode letter (472)
ERROR_PLACE_PRIVILEGE_OPERATOR = "_error_place_privilege_operator"  # needs a higher rank (482)
ERROR_PLACE_METADATA_LIMIT = "_error_place_metadata_limit"  # the place holds its most keys
ERROR_PLACE_TARGET_MEMBERSHIP = "_error_place_target_membership"  # the target is not in (441)
ERROR_PLACE_REDACT = "_error_place_redact"  # family: a REDACT was refused (FAIL REDACT)
ERROR_PLACE_REDACT_FORBIDDEN = "_error_place_redact_forbidden"  # not yours, not an op
ERROR_PLACE_REDACT_UNKNOWN = "_error_place_redact_unknown"  # no such line in history
ERROR_PLACE_REDACT_EXPIRED = "_error_place_redact_expired"  # yours, older than redact_window
ERROR_PLACE_RENAME = "_error_place_rename"  # family: a RENAME was refused (FAIL RENAME)
ERROR_PLACE_RENAME_IN_USE = "_error_place_rename_in_use"  # the new name is taken
ERROR_PLACE_RENAME_FORBIDDEN = "_error_place_rename_forbidden"  # cannot be renamed (why: body)
ERROR_NECESSARY_MEMBERSHIP = "_error_necessary_membership"  # psyced: you are not a member (442)
ERROR_NECESSARY_PARAMETER = "_error_necessary_parameter"  # a mode needs a parameter (461)
ERROR_UNSUPPORTED_METHOD = "_error_unsupported_method"  # the target has no such request
ERROR_INVALID_HOST = "_error_invalid_host"  # psyced: a foreign peer spoke for a host not its own
FAILURE_UNSUPPORTED_RELAY = "_failure_unsupported_relay"  # psyced: relay to a third host refused

# -- Place replication: the home and its replicas on other servers -----------

REQUEST_CONTEXT_RESYNC = "_request_context_resync"  # a replica lost its place: full state, please
REQUEST_CONTEXT_NETJOIN = "_request_context_netjoin"  # after a split: merge our members back
STATUS_PLACE_STATE = "_status_place_state"  # the whole state of a place (snapshot)

# -- Directory: channels of the network (channels/directory.py) --------------

REQUEST_DIRECTORY = "_request_directory"  # a server asks another for its channel directory
STATUS_DIRECTORY = "_status_directory"  # the whole directory of a server
NOTICE_DIRECTORY_PLACES = "_notice_directory_places"  # changed rows of a directory (cast)
REQUEST_MEMBERS = "_request_members"  # who is in a place on another server (WHO/NAMES)
STATUS_PLACE_MEMBERS = "_status_place_members"  # psyced: the answer, a member list

# -- Person -------------------------------------------------------------------

NOTICE_PRIVATE_REDACT = "_notice_private_redact"  # the sender took back a private line
NOTICE_PERSON_NICK = "_notice_person_nick"  # a person changed its nick (to its places)
NOTICE_PERSON_UPDATE = "_notice_person_update"  # realname/host/account/away of a person changed
NOTICE_PERSON_PRESENT = "_notice_person_present"  # to NickServ: my nick and account (enforcement)
NOTICE_PERSON_ABSENT = "_notice_person_absent"  # to NickServ: I no longer hold that nick
REQUEST_PERSON = "_request_person"  # family: services ask a person's session to do something
REQUEST_PERSON_RENAME = "_request_person_rename"  # NickServ enforcement: change your nick
REQUEST_PERSON_DISCONNECT = "_request_person_disconnect"  # NickServ GHOST: close that session
ERROR_UNKNOWN_NAME = "_error_unknown_name"  # family: nobody by that uniform (psyced)
ERROR_UNKNOWN_NAME_PLACE = "_error_unknown_name_place"  # no such place (403)
ERROR_UNKNOWN_NAME_USER = "_error_unknown_name_user"  # psyced: no such person (401)
ERROR_UNAVAILABLE_NICK = "_error_unavailable_nick"  # the nick is taken (433)
ERROR_UNAVAILABLE_FUNCTION_PLACE = "_error_unavailable_function_place"  # psyced: not yours (482)
ERROR_NECESSARY_PRIVILEGE = "_error_necessary_privilege"  # psyced: needs an administrator (482)
ERROR_UNAVAILABLE_FUNCTION_PLACE_KICK = (  # a foreign place did not act on a kick (482)
    "_error_unavailable_function_place_kick"
)

# -- Roster: who is online on each server (persons/roster.py) ----------------

REQUEST_ROSTER = "_request_roster"  # a server asks another for its online persons
STATUS_ROSTER = "_status_roster"  # the whole roster of a server (snapshot)
NOTICE_ROSTER_ENTER = "_notice_roster_enter"  # a person signed on (cast)
NOTICE_ROSTER_LEAVE = "_notice_roster_leave"  # a person signed off
NOTICE_ROSTER_NICK = "_notice_roster_nick"  # a person changed nick
NOTICE_ROSTER_UPDATE = "_notice_roster_update"  # a person's fields changed (away, modes, ...)

# -- Accounts: registrations shared by the network (services/account_sync.py) -

NOTICE_ACCOUNT = "_notice_account"  # family: account events
NOTICE_ACCOUNT_LOGIN = "_notice_account_login"  # a session logged in (to the person)
NOTICE_ACCOUNT_LOGOUT = "_notice_account_logout"  # a session logged out
NOTICE_ACCOUNT_UPDATE = "_notice_account_update"  # an account record changed (cast by its home)
NOTICE_ACCOUNT_DROP = "_notice_account_drop"  # an account was dropped (cast by its home)
REQUEST_ACCOUNTS = "_request_accounts"  # a server asks a home for its accounts since a counter
STATUS_ACCOUNTS = "_status_accounts"  # accounts of a home (snapshot, maybe in parts)
STATUS_ACCOUNTS_UNCHANGED = "_status_accounts_unchanged"  # the copy is up to date
REQUEST_ACCOUNT_PREFIX = "_request_account_"  # prefix: a change asked of an account's home
REQUEST_ACCOUNT_REGISTER = "_request_account_register"  # register a name (REGISTER)
REQUEST_ACCOUNT_PASSWORD = "_request_account_password"  # set the password
REQUEST_ACCOUNT_ENFORCE = "_request_account_enforce"  # switch nick enforcement
REQUEST_ACCOUNT_MULTICLIENT = "_request_account_multiclient"  # switch shared sessions
REQUEST_ACCOUNT_CERT_ADD = "_request_account_cert_add"  # add a TLS certificate fingerprint
REQUEST_ACCOUNT_CERT_REMOVE = "_request_account_cert_remove"  # remove a fingerprint
REQUEST_ACCOUNT_DROP = "_request_account_drop"  # drop the account
REQUEST_ACCOUNT_RESTORE = "_request_account_restore"  # give a home back accounts it lost
STATUS_ACCOUNT_PREFIX = "_status_account_"  # prefix: a home did the change (same op names)
STATUS_ACCOUNT_REGISTER = "_status_account_register"  # registered
STATUS_ACCOUNT_PASSWORD = "_status_account_password"  # password set
STATUS_ACCOUNT_ENFORCE = "_status_account_enforce"  # enforcement switched
STATUS_ACCOUNT_MULTICLIENT = "_status_account_multiclient"  # shared sessions switched
STATUS_ACCOUNT_CERT_ADD = "_status_account_cert_add"  # fingerprint added
STATUS_ACCOUNT_CERT_REMOVE = "_status_account_cert_remove"  # fingerprint removed
STATUS_ACCOUNT_DROP = "_status_account_drop"  # dropped
STATUS_ACCOUNT_RESTORE = "_status_account_restore"  # the home took the accounts back
ERROR_ACCOUNT = "_error_account"  # family: a home refused an account change
ERROR_ACCOUNT_PREFIX = "_error_account_"  # prefix: refused, with the op name (same op names)
ERROR_ACCOUNT_REGISTER = "_error_account_register"  # registration refused (name taken, ...)
ERROR_ACCOUNT_PASSWORD = "_error_account_password"  # password change refused
ERROR_ACCOUNT_ENFORCE = "_error_account_enforce"  # enforcement change refused
ERROR_ACCOUNT_MULTICLIENT = "_error_account_multiclient"  # shared-sessions change refused
ERROR_ACCOUNT_CERT_ADD = "_error_account_cert_add"  # fingerprint refused
ERROR_ACCOUNT_CERT_REMOVE = "_error_account_cert_remove"  # no such fingerprint
ERROR_ACCOUNT_DROP = "_error_account_drop"  # drop refused

# -- History: channel history across servers (services/history_net.py) -------

REQUEST_HISTORY = "_request_history"  # psyced: lines of a place from its home (CHATHISTORY)
ECHO_HISTORY = "_echo_history"  # psyced: the lines (as replayed packets) and their count
FAILURE_HISTORY = "_failure_history"  # the home cannot answer (not kept, not a member)
NOTICE_HISTORY_COMMITTED = "_notice_history_committed"  # the home stored lines up to a counter

# -- Away log: what a person missed, kept by its account's home --------------

REQUEST_AWAYLOG = "_request_awaylog"  # fetch the kept lines of an account
REQUEST_AWAYLOG_STORE = "_request_awaylog_store"  # keep this line for that account
REQUEST_AWAYLOG_READ = "_request_awaylog_read"  # mark lines read
REQUEST_AWAYLOG_CLEAR = "_request_awaylog_clear"  # forget the kept lines
ECHO_AWAYLOG = "_echo_awaylog"  # the kept lines and their count
STATUS_AWAYLOG_STORE = "_status_awaylog_store"  # the line is kept
STATUS_AWAYLOG_CLEAR = "_status_awaylog_clear"  # cleared, with the count
FAILURE_AWAYLOG = "_failure_awaylog"  # the away log is disabled there (family)
FAILURE_AWAYLOG_STORE = "_failure_awaylog_store"  # the line could not be kept
REQUEST_MARKER = "_request_marker"  # move an account's read marker at its home
REQUEST_MARKERS = "_request_markers"  # send me all read markers of an account
NOTICE_MARKER = "_notice_marker"  # an account's read markers moved (from its home)

# -- Operators: the network service of opers (ircd/operator_service.py) ----------------

REQUEST_KILL = "_request_kill"  # KILL a person on another server
STATUS_KILL = "_status_kill"  # killed
REQUEST_SAJOIN = "_request_sajoin"  # SAJOIN: make a person join
STATUS_SAJOIN = "_status_sajoin"  # joined these places
REQUEST_SAPART = "_request_sapart"  # SAPART: make a person leave
STATUS_SAPART = "_status_sapart"  # left these places
REQUEST_SANICK = "_request_sanick"  # SANICK: rename a person
STATUS_SANICK = "_status_sanick"  # renamed
NOTICE_WALLOPS = "_notice_wallops"  # WALLOPS to every server
NOTICE_GLOBOPS = "_notice_globops"  # GLOBOPS to every server
REQUEST_XLINES = "_request_xlines"  # a server asks for the network bans (K-/D-lines)
STATUS_XLINES = "_status_xlines"  # all network bans and removals
NOTICE_XLINE_ADD = "_notice_xline_add"  # a network ban was set
NOTICE_XLINE_REMOVE = "_notice_xline_remove"  # a network ban was lifted

# -- Server information (ircd/serverinfo.py) ----------------------------------

REQUEST_SERVER_INFO = "_request_server_info"  # VERSION/ADMIN/INFO/MOTD of another server
STATUS_SERVER_INFO = "_status_server_info"  # the answer
FAILURE_SERVER_INFO = "_failure_server_info"  # that server cannot answer that command

# -- Method suffixes (matched with endswith) ----------------------------------

TAGMSG_SUFFIX = "_tagmsg"  # the line is an IRCv3 TAGMSG (typing notifications, reactions)
KICK_SUFFIX = "_kick"  # the leave is a kick

# ============================================================================
# Variables
# ============================================================================

# -- Routing variables (Spec:Routing-Variable; psyced) ------------------------

SOURCE = "_source"  # psyced: the sender's uniform
TARGET = "_target"  # psyced: the receiver's uniform
CONTEXT = "_context"  # psyced: the place (or server context) a cast belongs to
SOURCE_RELAY = "_source_relay"  # psyced: the person a place relays for (who joined, spoke)
TARGET_RELAY = "_target_relay"  # psyced: the final receiver behind _target
SOURCE_IDENTITY = "_source_identity"  # psyced: the identity (UNI) behind a location
TAG = "_tag"  # psyced: a request's tag; the answer carries it as _tag_relay
TAG_RELAY = "_tag_relay"  # psyced: the tag of the request this packet answers
TAG_REPLY = "_tag_reply"  # psyced's 0.9 syntax for _tag_relay (wire09 translates it)
COUNTER = "_counter"  # psyced: a context's sequence number (in-order apply, replay)
FRAGMENT = "_fragment"  # Spec: fragment number of a split packet (understood, unused)
AMOUNT_FRAGMENTS = "_amount_fragments"  # Spec: how many fragments (understood, unused)
UNDERSTAND_MODULES = "_understand_modules"  # psyced: modules a peer understands
USING_MODULES = "_using_modules"  # psyced: modules in use on the circuit
ROUTE_COUNTER = "_route_counter"  # boot.seq.floor: end-to-end number of a unicast (drops copies)
ROUTE_SERVERS = "_route_servers"  # the servers a cast's copy is for (one copy per link)
AMOUNT_HOPS = "_amount_hops"  # hops travelled (loop guard)
FILTER_RANK = "_filter_rank"  # only members of this rank or above get the cast (STATUSMSG)
ACKNOWLEDGE = "_acknowledge"  # link ack: how many data packets the receiver has (no content)

# -- Circuit set-up and topology ----------------------------------------------

BOOT = "_boot"  # the sender's boot id (a restart is a new boot)
CHALLENGE = "_challenge"  # a random nonce to prove the link password with
PROOF = "_proof"  # HMAC of the challenge with the link password
PROTOCOL = "_protocol"  # the link protocol version
IMPLEMENTATION = "_implementation"  # software and version of the peer
COUNTER_RECEIVED = "_counter_received"  # data packets already had from the peer's boot
SEQUENCE = "_sequence"  # the number of a topology advert
LIST_SERVERS = "_list_servers"  # the neighbours of a server (topology)
DESCRIPTION = "_description"  # a server's description (topology, server info)

# -- Persons ------------------------------------------------------------------

NICK = "_nick"  # psyced: the nick of the sender or subject
NICK_NEW = "_nick_new"  # the new nick of a nick change
NICK_OLD = "_nick_old"  # the old nick of a nick change
NICK_TARGET = "_nick_target"  # the nick of the person acted on (kicked, invited, missing)
PERSON = "_person"  # psyced: whom `_request_kick` puts out (a nick or a uniform)
UNIFORM = "_uniform"  # a uniform the packet is about
UNIFORM_NEW = "_uniform_new"  # a person's new uniform after a nick change
UNIFORM_TARGET = "_uniform_target"  # the uniform of the person acted on
UNIFORM_OPER = "_uniform_oper"  # the operator who asked (operator_service)
UNIFORM_REQUESTER = "_uniform_requester"  # who asked for history (membership check)
USER = "_user"  # the IRC user name (ident)
HOST = "_host"  # the shown (maybe cloaked) host
HOST_REAL = "_host_real"  # the real host (for opers and bans)
IP = "_ip"  # the IP address (stays inside the network)
CLOAK = "_cloak"  # the cloaked host
REALNAME = "_realname"  # the IRC realname (gecos)
ACCOUNT = "_account"  # the account a person is logged in to
ACCOUNT_TARGET = "_account_target"  # the account acted on
CERTFP = "_certfp"  # the TLS client certificate fingerprint
AWAY = "_away"  # the away text ("" when back)
PREFIX = "_prefix"  # nick!user@host of the sender
PREFIX_TARGET = "_prefix_target"  # nick!user@host of the person acted on
MODES = "_modes"  # a person's user modes (roster)
SIGNON = "_signon"  # when a person signed on (roster)
SINCE = "_since"  # when the person took its nick (collisions: the earlier wins; roster)
ACTIVE = "_active"  # last activity, coarse (WHOIS idle; roster)
FLAG_BOT = "_flag_bot"  # the sender is a bot (+B)
TAGS = "_tags"  # IRCv3 client-only tags of a line (+typing, ...)

# -- Lines --------------------------------------------------------------------

ID = "_id"  # the id of a line (IRCv3 msgid)
ID_REDACTED = "_id_redacted"  # the id of the line a REDACT takes back
MULTILINE = "_multiline"  # a draft/multiline message: one flag per body line, "1": concatenated
TIME = "_time"  # when a line was said, in ms since the epoch (server-time)
TIME_PLACE = "_time_place"  # psyced: when a replayed line was said, in seconds
AMOUNT_HISTORY = "_amount_history"  # psyced: lines of history wanted on entering
STATUSMSG = "_status"  # rank sigils of a STATUSMSG (@#chan): only those ranks get the line
TEXT = "_text"  # the text of WALLOPS/GLOBOPS

# -- Places -------------------------------------------------------------------

NICK_PLACE = "_nick_place"  # psyced: the name of the place (#channel)
UNIFORM_PLACE = "_uniform_place"  # the uniform of the place
NICK_PLACE_NEW = "_nick_place_new"  # the new name of a renamed place (RENAME)
UNIFORM_PLACE_NEW = "_uniform_place_new"  # the uniform of a renamed place under its new name
TOPIC = "_topic"  # psyced: the topic text
TOPIC_SETTER = "_topic_setter"  # who set the topic
TOPIC_TIME = "_topic_time"  # when the topic was set
TIME_CREATED = "_time_created"  # when the place was created
MODE = "_mode"  # mode letters (a change, or the mode in question)
MASK = "_mask"  # a ban/except/invite mask
KEY = "_key"  # the place key given with a join (+k)
LIST_PARAMETERS = "_list_parameters"  # parameters of a mode change
ACTION = "_action"  # what an oper override did
FLAG_OVERRIDE = "_flag_override"  # an oper asks to override the place's rules
FLAG_CLEAR = "_flag_clear"  # metadata: remove every key (METADATA CLEAR)
LIST_METADATA_KEYS = "_list_metadata_keys"  # metadata keys set (a change, or a place's state)
LIST_METADATA_VALUES = "_list_metadata_values"  # their values (same order)
LIST_METADATA_UNSET = "_list_metadata_unset"  # metadata keys removed by a change
METADATA = "_metadata"  # a person's metadata as a JSON object (roster field)
LIST_METADATA = "_list_metadata"  # the same per person in a roster snapshot
REASON = "_reason"  # why (kick, part, quit, errors)
METHOD_RELAY = "_method_relay"  # the method of the packet an error answers
LIST_MEMBERS = "_list_members"  # member uniforms (state, echo of an enter)
LIST_MEMBERS_NICKS = "_list_members_nicks"  # their nicks (same order)
LIST_MEMBERS_USERS = "_list_members_users"  # their user names
LIST_MEMBERS_HOSTS = "_list_members_hosts"  # their shown hosts
LIST_MEMBERS_HOSTS_REAL = "_list_members_hosts_real"  # their real hosts
LIST_MEMBERS_IPS = "_list_members_ips"  # their IP addresses
LIST_MEMBERS_CLOAKS = "_list_members_cloaks"  # their cloaks
LIST_MEMBERS_REALNAMES = "_list_members_realnames"  # their realnames
LIST_MEMBERS_ACCOUNTS = "_list_members_accounts"  # their accounts
LIST_MEMBERS_MODES = "_list_members_modes"  # their ranks in the place (qaohv letters)
LIST_MASKS = "_list_masks"  # list-mode entries (+b/+e/+I)
LIST_MASKS_MODES = "_list_masks_modes"  # which list each entry is on
LIST_MASKS_SETTERS = "_list_masks_setters"  # who set each entry
LIST_MASKS_TIMES = "_list_masks_times"  # when each entry was set
LIST_DEPARTED = "_list_departed"  # recent departures (uniforms), for replicas catching up
LIST_DEPARTED_COUNTERS = "_list_departed_counters"  # the counter of each departure
LIST_NETBURPED = "_list_netburped"  # members lost in a split, to merge at netjoin
FLAG_GONE = "_flag_gone"  # the place no longer exists at its home

# -- Directory ----------------------------------------------------------------

LIST_PLACES = "_list_places"  # place names (directory rows; SAJOIN/SAPART lists)
LIST_PLACES_GONE = "_list_places_gone"  # places removed from a directory
LIST_PLACES_RENAMED = "_list_places_renamed"  # old names of places renamed lately (redirects)
LIST_PLACES_RENAMED_NEW = "_list_places_renamed_new"  # their new names (same order)
LIST_AMOUNTS = "_list_amounts"  # member count of each place
LIST_TOPICS = "_list_topics"  # topic of each place
LIST_TOPIC_SETTERS = "_list_topic_setters"  # topic setter of each place
LIST_TOPIC_TIMES = "_list_topic_times"  # topic time of each place
LIST_CREATED = "_list_created"  # creation time of each place
LIST_MODES = "_list_modes"  # modes of each place
FLAG_SECRET = "_flag_secret"  # the place is secret (+s): only for the network's servers

# -- Accounts -----------------------------------------------------------------

EMAIL = "_email"  # the account's e-mail address
PASSWORD_HASH = "_password_hash"  # the password hash (argon2)
SCRAM_SALT = "_scram_salt"  # SCRAM-SHA-256 salt (base64)
SCRAM_ITERATIONS = "_scram_iterations"  # SCRAM iteration count
SCRAM_STORED_KEY = "_scram_stored_key"  # SCRAM StoredKey (base64)
SCRAM_SERVER_KEY = "_scram_server_key"  # SCRAM ServerKey (base64)
FLAG_ENFORCE = "_flag_enforce"  # the nick is enforced
FLAG_MULTICLIENT = "_flag_multiclient"  # the account's connections share one person
LIST_CERTS = "_list_certs"  # certificate fingerprints allowed to log in
FINGERPRINT = "_fingerprint"  # one certificate fingerprint
HOST_HOME = "_host_home"  # the server that is home of an account
LIST_HOST_HOME = "_list_host_home"  # the home of each account (snapshot)
TIME_REGISTERED = "_time_registered"  # when the account was registered
TIME_UPDATED = "_time_updated"  # when the account last changed
TIME_DROPPED = "_time_dropped"  # when the account was dropped (tombstone)
LIST_DROPPED_PREFIX = "_list_dropped_"  # prefix: tombstone columns (account, times)
LIST_DROPPED_ACCOUNT = "_list_dropped_account"  # names of dropped accounts
LIST_DROPPED_TIME_REGISTERED = "_list_dropped_time_registered"  # their registration times
LIST_DROPPED_TIME_DROPPED = "_list_dropped_time_dropped"  # their drop times
PART = "_part"  # which part of a snapshot in parts
AMOUNT_PARTS = "_amount_parts"  # how many parts
CODE = "_code"  # a FAIL code for the client (ACCOUNT_EXISTS, ...)
FLAG_FORWARDED = "_flag_forwarded"  # ChanServ: already forwarded to the place's home

# -- History and away log -----------------------------------------------------

AMOUNT = "_amount"  # how many lines (a history request's limit, an answer's count)
SELECTOR = "_selector"  # the CHATHISTORY selector (LATEST, BEFORE, ...)
KIND = "_kind"  # the highest kind of line wanted (messages, tagmsg, events)
LIST_REFERENCES = "_list_references"  # the references of the CHATHISTORY request
ACCOUNT_AWAYLOG = "_account_awaylog"  # the account a kept line is for
METHOD_AWAYLOG = "_method_awaylog"  # the method of the kept line
NICK_PLACE_AWAYLOG = "_nick_place_awaylog"  # the place the kept line was said in
INDEX_AWAYLOG = "_index_awaylog"  # the number of a kept line
TIME_AWAYLOG = "_time_awaylog"  # when the kept line was said
ACCOUNT_MARKER = "_account_marker"  # whose read markers
LIST_TARGET_MARKER = "_list_target_marker"  # read markers: their targets (channel or nick)
LIST_TIME_MARKER = "_list_time_marker"  # read markers: their times in ms (same order)
FLAG_READ = "_flag_read"  # the kept line was read
FLAG_UNREAD = "_flag_unread"  # only unread lines, please

# -- Operators and server information ----------------------------------------

COMMAND = "_command"  # the IRC command asked of another server (VERSION, ADMIN, ...)
TYPE = "_type"  # the kind of a network ban (KLINE or DLINE)
SERVER = "_server"  # the server that set a network ban
SETTER = "_setter"  # who set a network ban
REMOVER = "_remover"  # who lifted it
STAMP = "_stamp"  # the ban's version stamp (the newer wins)
TIME_SET = "_time_set"  # when it was set
TIME_EXPIRE = "_time_expire"  # when it expires
LIST_TYPE = "_list_type"  # column of _type in a ban list
LIST_MASK = "_list_mask"  # column of _mask
LIST_REASON = "_list_reason"  # column of _reason
LIST_SETTER = "_list_setter"  # column of _setter
LIST_TIME_SET = "_list_time_set"  # column of _time_set
LIST_TIME_EXPIRE = "_list_time_expire"  # column of _time_expire
LIST_SERVER = "_list_server"  # column of _server
LIST_STAMP = "_list_stamp"  # column of _stamp
LIST_REMOVER = "_list_remover"  # column of _remover
LIST_REMOVED = "_list_removed"  # which rows are removals
VERSION = "_version"  # software version (VERSION)
ADMIN_NAME = "_admin_name"  # ADMIN: the name line
ADMIN_LOCATION = "_admin_location"  # ADMIN: the location line
ADMIN_EMAIL = "_admin_email"  # ADMIN: the e-mail line
LIST_INFO = "_list_info"  # INFO lines
LIST_ISUPPORT = "_list_isupport"  # 005 tokens
LIST_MOTD = "_list_motd"  # MOTD lines
FLAG_MOTD = "_flag_motd"  # the server has a MOTD

# -- List variables (Spec:Packet: list syntax only for names starting with _list)

LIST = "_list"  # prefix: a variable holding a list (`_list` or `_list_...`)
LIST_PREFIX = "_list_"  # prefix: a list column of a table (`_list_<column>`)
