package nodes

import (
	"log/slog"
	"time"

	"github.com/wmr-dev/wmr/engine"
)

// Config configures a Node. Start from DefaultLANConfig or
// DefaultLocalConfig and set the addresses; zero fields take the LAN
// preset's values.
type Config struct {
	// Name identifies the node in the cluster; default: the one stored
	// in DataDir, or else DataDir's base name.
	Name string
	// DataDir holds the node's identity, shards and catalog.
	DataDir string
	// HTTPAddr is host:port of the HTTP API (clients and peers).
	HTTPAddr string
	// GossipAddr is host:port for memberlist (TCP and UDP).
	GossipAddr string
	// Join lists gossip addresses of existing members to join (seeds).
	// A node also rejoins the peers it remembers from earlier runs.
	Join []string
	// JoinTimeout bounds the retries of the first join: a node whose
	// seeds all stay silent that long exits with an error.
	JoinTimeout time.Duration
	// JoinTCPTimeout bounds one attempt to reach a peer.
	JoinTCPTimeout time.Duration
	// RejoinInterval is how often a node re-contacts the seeds and
	// remembered peers it does not see alive: how a partition heals.
	RejoinInterval time.Duration

	// ProbeInterval and ProbeTimeout drive failure detection; a node that
	// misses probes is suspected, then declared dead after SuspicionMult
	// rounds.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	SuspicionMult int
	// GossipInterval is how often state changes are gossiped.
	GossipInterval time.Duration
	// PushPullInterval is how often a node syncs its full state (members
	// and catalog) with a random peer.
	PushPullInterval time.Duration
	// LeaveTimeout bounds a graceful leave on shutdown.
	LeaveTimeout time.Duration
	// DeadNodeReclaimTime is how long after a node was declared dead its
	// name may rejoin from a different address (a restart on new ports).
	DeadNodeReclaimTime time.Duration

	// RepairGrace is how long a holder may stay dead before its shards are
	// copied elsewhere to restore their replica count; RepairInterval is
	// how often the check runs.
	RepairGrace    time.Duration
	RepairInterval time.Duration
	// ScrubInterval is how often the scrubber starts a pass re-reading
	// every replica this node holds against its checksums; ScrubRate
	// bounds how fast it reads (bytes a second; 0: unbounded). A
	// negative ScrubInterval turns scrubbing off.
	ScrubInterval time.Duration
	ScrubRate     int64

	// GCGrace is how old garbage must be before it is removed (see gc.go):
	// long enough for uploads to commit and manifests to spread; GCInterval
	// is how often the collector runs; TombstoneTTL how long a deleted
	// dataset's tombstone is kept (longer than any node stays down).
	GCGrace      time.Duration
	GCInterval   time.Duration
	TombstoneTTL time.Duration
	// JobHistory is how long a finished job's record (its final status,
	// attempts, counters and module logs) is kept. Default 30 days.
	JobHistory time.Duration

	// DefaultBlockSize is the shard size for put when the client sets none.
	DefaultBlockSize int64
	// MaxUpload bounds one uploaded file.
	MaxUpload int64

	// Engine configures this node's task execution (worker processes,
	// memory, time limits). Its CacheDir and WorkDir default to DataDir.
	Engine engine.Config
	// SlotsPerNode is how many tasks a coordinator runs at once on each
	// node; default: the engine's parallelism (the number of CPUs).
	SlotsPerNode int

	// SecretsDir is the node's secrets directory (made by `wmr ca issue`):
	// with it, gossip is encrypted with the cluster's keyring and all HTTP
	// is TLS, node-to-node calls authenticated by certificates. Without it
	// the node runs in insecure dev mode, allowed only on loopback unless
	// Insecure is set.
	SecretsDir string
	// Insecure allows running without secrets on non-loopback addresses.
	Insecure bool
	// TenantsFile lists tenants, their hashed tokens and quotas (see
	// tenants.go); without it every caller is the admin tenant "default".
	TenantsFile string
	// Cgroups says whether tenants' worker processes run in per-tenant
	// cgroups (CPU by weight, memory capped; see nodes/cgroups): "auto"
	// (the default: with a tenants file, where the machine allows it),
	// "required" (refuse to start without them) or "off".
	Cgroups string
	// WorkerUser, if set, is the unprivileged user (name or uid) worker
	// processes run as; the node must run as root. A root node with
	// tenants refuses to start without it unless AllowRootWorkers.
	WorkerUser       string
	AllowRootWorkers bool
	// AuditLog is where the audit trail (who read, wrote, submitted or
	// deleted what) goes as JSON lines; default DataDir/audit.log.
	AuditLog string

	// Logger receives the node's logs (memberlist's too); nil discards.
	Logger *slog.Logger
}

// DefaultLANConfig is for nodes on a local network: memberlist's LAN
// timers (1s probes, 30s push/pull).
func DefaultLANConfig() Config {
	return Config{
		ProbeInterval:       time.Second,
		ProbeTimeout:        500 * time.Millisecond,
		SuspicionMult:       4,
		GossipInterval:      200 * time.Millisecond,
		PushPullInterval:    30 * time.Second,
		LeaveTimeout:        5 * time.Second,
		DeadNodeReclaimTime: 30 * time.Second,
		JoinTimeout:         time.Minute,
		JoinTCPTimeout:      5 * time.Second,
		RejoinInterval:      10 * time.Second,
		RepairGrace:         2 * time.Minute,
		RepairInterval:      10 * time.Second,
		ScrubInterval:       24 * time.Hour,
		GCGrace:             time.Hour,
		GCInterval:          10 * time.Minute,
		TombstoneTTL:        7 * 24 * time.Hour,
		JobHistory:          30 * 24 * time.Hour,
		ScrubRate:           32 << 20,
		DefaultBlockSize:    64 << 20,
		MaxUpload:           64 << 30,
	}
}

// DefaultLocalConfig has fast timers for nodes on one machine (tests,
// demos): failures are detected within about a second.
func DefaultLocalConfig() Config {
	c := DefaultLANConfig()
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 3
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 2 * time.Second
	c.LeaveTimeout = 2 * time.Second
	c.DeadNodeReclaimTime = time.Second
	c.JoinTCPTimeout = time.Second
	c.JoinTimeout = 10 * time.Second
	c.GCGrace = time.Minute
	c.GCInterval = 5 * time.Second
	c.RejoinInterval = time.Second
	c.RepairGrace = 3 * time.Second
	c.RepairInterval = 500 * time.Millisecond
	return c
}

// ProtocolVersion is the version of the node-to-node HTTP protocol carried
// in member metadata. 2: datasets are namespaced by tenant. 3: shards and
// map outputs carry checksums, verified on every transfer.
const ProtocolVersion = 3

// withDefaults fills every zero field from DefaultLANConfig.
func (c Config) withDefaults() Config {
	d := DefaultLANConfig()
	for _, f := range []struct{ v, def *time.Duration }{
		{&c.ProbeInterval, &d.ProbeInterval}, {&c.ProbeTimeout, &d.ProbeTimeout},
		{&c.GossipInterval, &d.GossipInterval}, {&c.PushPullInterval, &d.PushPullInterval},
		{&c.LeaveTimeout, &d.LeaveTimeout}, {&c.DeadNodeReclaimTime, &d.DeadNodeReclaimTime},
		{&c.RepairGrace, &d.RepairGrace}, {&c.RepairInterval, &d.RepairInterval},
		{&c.GCGrace, &d.GCGrace}, {&c.GCInterval, &d.GCInterval}, {&c.TombstoneTTL, &d.TombstoneTTL}, {&c.JobHistory, &d.JobHistory},
		{&c.JoinTimeout, &d.JoinTimeout}, {&c.JoinTCPTimeout, &d.JoinTCPTimeout}, {&c.RejoinInterval, &d.RejoinInterval},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if c.ScrubInterval == 0 {
		c.ScrubInterval = d.ScrubInterval
	}
	if c.ScrubRate == 0 {
		c.ScrubRate = d.ScrubRate
	}
	if c.SuspicionMult <= 0 {
		c.SuspicionMult = d.SuspicionMult
	}
	if c.DefaultBlockSize <= 0 {
		c.DefaultBlockSize = d.DefaultBlockSize
	}
	if c.MaxUpload <= 0 {
		c.MaxUpload = d.MaxUpload
	}
	return c
}
