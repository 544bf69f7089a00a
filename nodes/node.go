package nodes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/wmr-dev/wmr/engine"
)

// Node is one member of a wmr cluster. Create it with New, then Start;
// Close leaves the cluster gracefully. It is safe for concurrent use.
type Node struct {
	cfg         Config
	name        string
	log         *slog.Logger
	store       *store
	ml          *memberlist.Memberlist
	httpAddr    string
	srv         *http.Server
	ln          net.Listener
	client      *http.Client // for calls to peers (mTLS with secrets)
	sec         *secrets     // nil in dev mode
	keyring     *memberlist.Keyring
	keysMu      sync.Mutex // serialises keyring changes and their file
	tenants     *tenants   // nil: every caller is the admin tenant "default"
	auditLog    *slog.Logger
	auditOut    io.Closer
	modules     moduleOwners
	groups      *tenantGroups // per-tenant cgroups of workers; nil: none
	share       *fairShare
	engine      *engine.Engine
	metrics     *metrics
	moduleLocks keyLocks // one fetch of a module from its coordinator at a time
	jobsMu      sync.Mutex
	adoptMu     sync.Mutex      // one adoptOrphans at a time
	jobs        map[string]*job // jobs this node coordinates
	records     *jobRecords     // what the cluster remembers of jobs
	dead        deadTracker
	departures  departures
	departed    departedMembers // failed or left, for listing
	integrity   integrity       // replicas found damaged and restored
	peers       *knownPeers     // every peer seen, for rejoining
	trust       trust           // members that proved their identity
	gc          gcState         // what garbage collection freed
	running     runningTasks    // attempts running here
	disk        diskUsage       // disk use by kind, measured now and then
	// ctx is the node's life: jobs it coordinates and background loops run
	// on it; Close cancels it.
	ctx  context.Context
	stop context.CancelCauseFunc
	// versionWarned records members already logged for a protocol mismatch.
	versionWarned sync.Map
	// ready is set once the node has joined: the API answers from then on.
	ready atomic.Bool
	// lastSync is when a peer's catalog last reached this node (unix ns).
	lastSync atomic.Int64
}

// New prepares a node: opens (or creates) its data directory and settles
// its name. Nothing listens until Start.
func New(cfg Config) (*Node, error) {
	if cfg.DataDir == "" || cfg.HTTPAddr == "" || cfg.GossipAddr == "" {
		return nil, errors.New("a node needs a data directory (--data), an HTTP address (--http) and a gossip address (--gossip)")
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	name, err := settleName(cfg.DataDir, cfg.Name)
	if err != nil {
		return nil, err
	}
	st, err := openStore(cfg.DataDir, name)
	if err != nil {
		return nil, err
	}
	var sec *secrets
	if cfg.SecretsDir != "" {
		if sec, err = loadSecrets(cfg.SecretsDir, cfg.DataDir); err != nil {
			return nil, err
		}
	} else if !cfg.Insecure && !isLoopback(cfg.HTTPAddr, cfg.GossipAddr) {
		return nil, fmt.Errorf("node addresses %s and %s are not loopback: give --secrets (see 'wmr ca'), or --insecure to run without encryption and authentication", cfg.HTTPAddr, cfg.GossipAddr)
	}
	var tn *tenants
	if cfg.TenantsFile != "" {
		if sec == nil {
			return nil, errors.New("--tenants needs --secrets: without TLS, tokens would cross the network in clear text and peers could not be told from clients")
		}
		if tn, err = loadTenants(cfg.TenantsFile, func(err error) {
			log.Error("tenants file changed but cannot be used; the previous version stays in force", "err", err)
		}); err != nil {
			return nil, err
		}
	}
	if cfg.AuditLog == "" {
		cfg.AuditLog = filepath.Join(cfg.DataDir, "audit.log")
	}
	af, err := os.OpenFile(cfg.AuditLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	ecfg := cfg.Engine
	if ecfg.CacheDir == "" {
		ecfg.CacheDir = filepath.Join(cfg.DataDir, "cache")
	}
	if ecfg.WorkDir == "" {
		ecfg.WorkDir = filepath.Join(cfg.DataDir, "tmp")
	}
	ecfg.Logger = log.With("node", name)
	if ecfg.WorkerCredential, err = workerCredential(cfg, tn != nil, log); err != nil {
		return nil, err
	}
	groups, err := openIsolation(cfg, name, tn, log)
	if err != nil {
		return nil, err
	}
	if groups != nil {
		ecfg.Placer = groups
	}
	eng, err := engine.New(context.Background(), ecfg)
	if err != nil {
		if groups != nil {
			groups.m.Close()
		}
		return nil, err
	}
	if cfg.SlotsPerNode <= 0 {
		cfg.SlotsPerNode = eng.Config().Parallelism
	}
	records, err := openJobRecords(filepath.Join(cfg.DataDir, "jobrecords"))
	if err != nil {
		return nil, err
	}
	// The node's life begins now: membership callbacks may run as soon as
	// Start joins, and they read it.
	life, stop := context.WithCancelCause(context.Background())
	n := &Node{cfg: cfg, name: name, log: log.With("node", name), store: st, engine: eng, records: records, ctx: life, stop: stop,
		client: peerClient(sec), sec: sec, peers: loadKnownPeers(cfg.DataDir), jobs: map[string]*job{}, tenants: tn,
		auditLog: slog.New(slog.NewJSONHandler(af, nil)), auditOut: af,
		modules: moduleOwners{dir: filepath.Join(cfg.DataDir, "modules")}, share: newFairShare(cfg.SlotsPerNode, 0), groups: groups}
	if groups != nil {
		n.share.burst = burstSlots(cfg.SlotsPerNode)
		n.share.weight = func(tenant string) int {
			if t, ok := tn.lookup(tenant); ok {
				return t.Quotas.CPUWeight
			}
			return 0
		}
	}
	n.metrics = newMetrics(n)
	return n, nil
}

// settleName returns the node's persistent name: the one recorded in the
// data directory, else the one asked for, else the directory's base name.
func settleName(dir, want string) (string, error) {
	path := filepath.Join(dir, "node-name")
	if b, err := os.ReadFile(path); err == nil {
		have := strings.TrimSpace(string(b))
		if want != "" && want != have {
			return "", fmt.Errorf("data directory %s belongs to node %q, not %q", dir, have, want)
		}
		return have, nil
	}
	if want == "" {
		abs, _ := filepath.Abs(dir)
		want = filepath.Base(abs)
	}
	if err := ValidName("node", want); err != nil {
		return "", err
	}
	return want, os.WriteFile(path, []byte(want+"\n"), 0o644)
}

// Name is the node's name in the cluster.
func (n *Node) Name() string { return n.name }

// HTTPAddr is the address the HTTP API listens on (after Start).
func (n *Node) HTTPAddr() string { return n.httpAddr }

// Start listens for HTTP, starts gossip and joins the cluster.
func (n *Node) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen for HTTP on %s: %w", n.cfg.HTTPAddr, err)
	}
	n.httpAddr = ln.Addr().String()
	if n.sec != nil {
		ln = tls.NewListener(ln, n.sec.serverTLS())
	} else {
		n.log.Warn(devModeWarning)
	}
	n.ln = ln
	n.srv = &http.Server{Handler: n.handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)}
	go n.srv.Serve(ln)
	if err := n.startMembership(ctx); err != nil {
		n.srv.Close()
		return err
	}
	n.dead.start = time.Now()
	n.ready.Store(true)
	// Background work: restore replica counts; re-contact the seeds and
	// remembered peers not seen alive (how a partition heals) and check
	// members not yet trusted; collect garbage.
	go every(n.ctx, n.cfg.RepairInterval, func() { n.repairOnce(n.ctx) })
	go every(n.ctx, n.cfg.RejoinInterval, func() { n.rejoinOnce(n.ctx) })
	go every(n.ctx, n.cfg.GCInterval, func() { n.collect(time.Now()) })
	if n.cfg.ScrubInterval > 0 {
		go n.scrubLoop(n.ctx)
	}
	// Jobs this node coordinated before a restart, and jobs whose
	// coordinator died while this node was away.
	go n.adoptOrphans()
	n.log.Info("node started", "http", n.httpAddr, "gossip", n.cfg.GossipAddr, "members", len(n.ml.Members()))
	return nil
}

// Close leaves the cluster (so peers see a departure, not a failure) and
// stops serving.
func (n *Node) Close(ctx context.Context) error {
	var errs []error
	if n.stop != nil {
		n.stop(errors.New("the coordinating node is shutting down"))
	}
	if n.ml != nil {
		if err := n.ml.Leave(n.cfg.LeaveTimeout); err != nil {
			errs = append(errs, fmt.Errorf("leave cluster: %w", err))
		}
		errs = append(errs, n.ml.Shutdown())
	}
	if n.srv != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		errs = append(errs, n.srv.Shutdown(sctx))
	}
	n.engine.Close()
	if n.groups != nil {
		if err := n.groups.m.Close(); err != nil {
			n.log.Warn("remove the tenants' cgroups", "err", err)
		}
	}
	errs = append(errs, n.auditOut.Close())
	return errors.Join(errs...)
}

// every runs fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
