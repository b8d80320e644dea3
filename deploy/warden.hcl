# warden.hcl: an agent's settings, for `warden agent --config warden.hcl`.
#
# Every key is an agent flag with '-' written '_' (`warden agent -h` lists
# them). Flags and WARDEN_* environment variables (WARDEN_ + the key in
# capitals) override what this file says; what nobody sets keeps its
# default. Check a file with `warden agent --config FILE --validate`.
#
# Values are literals: true/false, whole numbers, "strings", durations as
# strings ("10s", "1m30s"), and lists of strings for join. Keys left out or
# commented out keep their defaults; the values below are an example server
# of a three-server cluster.

# --- Role --------------------------------------------------------------

# A single server that bootstraps itself, for trials (data in a temporary
# folder unless data_dir is set). Not with server/bootstrap_expect.
dev = false

# A Raft voter. Without it the agent is a replica (a non-voter with a full
# copy of the tree) that follows the cluster it joins.
server = true

# The first servers bootstrap the cluster once this many of them see each
# other; the same number on each. 0 on servers that join a running cluster.
bootstrap_expect = 3

# Agents to join (host or host:port of their Serf address), retried until
# one answers.
join = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]

# --- Identity and addresses ---------------------------------------------

# Unique in the cluster; the default is the host name.
node = "warden-1"

# The IP to bind and advertise; default the first private address (127.0.0.1
# with dev).
bind = "10.0.0.1"

# Raft and agent RPC (TCP), Serf gossip (TCP and UDP), HTTP. -1 means the
# default (7300, 7301, 7302; a free port with dev); http_port = -2 turns
# HTTP off.
rpc_port  = 7300
serf_port = 7301
http_port = 7302

# Where /metrics, /healthz, /readyz, /v1/status and /v1/members listen.
http_bind = "127.0.0.1"

# ZooKeeper's client protocol for ZooKeeper apps (docs/zookeeper.md): the
# TCP port (0 = off) and the IP it listens on ("" = bind). No access
# control on it: keep it on a trusted network. zk_tls serves it over TLS
# with tls_cert and tls_key (ZooKeeper's secureClientPort);
# zk_tls_verify_client also requires clients to show a certificate
# signed by tls_ca (ssl.clientAuth=need).
# zk_port = 2181
# zk_bind = "10.0.0.1"
# zk_tls = true
# zk_tls_verify_client = true

# The Unix socket apps connect to ("" = /run/warden/warden.sock as root,
# else under $XDG_RUNTIME_DIR).
socket = "/run/warden/warden.sock"

# The Raft log, snapshots and Serf's state. Required unless dev.
data_dir = "/var/lib/warden"

# --- Security (docs/security.md) ---------------------------------------

# Mutual TLS on the cluster port: all three, or none (trials only).
tls_ca   = "/etc/warden/tls/warden-ca.pem"
tls_cert = "/etc/warden/tls/warden-1.pem"
tls_key  = "/etc/warden/tls/warden-1-key.pem"

# Also check that a peer's certificate names the agent it claims to be.
tls_verify_hostname = true

# Serve HTTP over TLS with the same certificate, and require clients to
# show one signed by tls_ca.
http_tls               = false
http_tls_verify_client = false

# Go's runtime profiles under /debug/pprof/ on the HTTP endpoint, for
# performance work (go tool pprof http://ADDR:7302/debug/pprof/profile).
enable_pprof = false

# Gossip encryption key (base64 of 16, 24 or 32 bytes; `warden keygen`).
# Better given as WARDEN_ENCRYPT than kept in a readable file.
# encrypt = "..."

# Which local users and groups may read, write or administer which paths.
# access_policy = "/etc/warden/access.policy"

# Where the Raft log is kept: "wal" (segment files; new data dirs) or
# "bolt" (raft.db; data dirs made before wal existed). A data dir holding
# the other store is migrated when the agent starts.
# raft_log_store = "wal"

# (--recover, to start on a damaged Raft log store accepting the loss of the
# writes after the last snapshot, is a one-off for the command line: it
# has no key here and no WARDEN_ variable, so it cannot stay on.)

# --- Limits ----------------------------------------------------------------

# Streams (watches, subscriptions) one app connection may have open, and
# connections one local user may have open.
max_streams       = 1024
max_conns_per_uid = 1024

# --- Sessions and locks ----------------------------------------------------

# The timeout of apps that ask for none, and the bounds of what they may
# ask for.
session_timeout     = "10s"
min_session_timeout = "500ms"
max_session_timeout = "5m"

# Hold a lock back this long after its holder's session expired (not after
# a clean release).
lock_delay = "1s"

# --- History and snapshots -------------------------------------------------

# Recent changes kept for subscriptions to resume from (0 = 100000 changes,
# 64 MiB).
history_max_changes = 0
history_max_bytes   = 0

# Raft entries between snapshots (0 = 8192), and how often to check
# (0 = "5s").
snapshot_threshold = 0
snapshot_interval  = "0s"

# --- Logs ------------------------------------------------------------------

# trace, debug, info, warn or error.
log_level = "info"

# text (key=value lines) or json (one object per line), on standard error.
log_format = "text"
