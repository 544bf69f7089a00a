package nodes

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wmr-dev/wmr/engine/coord"
)

// Member is a node as seen through gossip.
type Member struct {
	Name     string `json:"name"`
	HTTP     string `json:"http"`     // host:port of its HTTP API
	Gossip   string `json:"gossip"`   // host:port of memberlist
	Protocol int    `json:"protocol"` // its ProtocolVersion
	State    string `json:"state"`    // alive, suspect, left, dead
}

// meta is what a node advertises in memberlist metadata.
type meta struct {
	HTTP     string `msgpack:"http"`
	Protocol int    `msgpack:"proto"`
}

// delegate adapts memberlist's hooks to the node. memberlist calls them
// from its own goroutines; the store is safe for concurrent use.
type delegate struct {
	n    *Node
	meta []byte
}

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
)

func (d *delegate) NodeMeta(limit int) []byte { return d.meta }

func (d *delegate) NotifyMsg([]byte) {}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState sends our catalog in push/pull syncs, so peers that missed a
// commit (they were down, or joined later) learn it.
func (d *delegate) LocalState(join bool) []byte {
	b, err := msgpack.Marshal(d.n.store.catalogState())
	if err != nil {
		d.n.log.Error("encode catalog for gossip", "err", err)
		return nil
	}
	return b
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	d.n.lastSync.Store(time.Now().UnixNano())
	var ms []*Manifest
	if err := msgpack.Unmarshal(buf, &ms); err != nil {
		d.n.log.Warn("a peer sent a malformed catalog", "err", err)
		return
	}
	for _, m := range ms {
		if changed, err := d.n.store.saveManifest(m); err != nil {
			d.n.log.Warn("a peer sent a bad manifest", "dataset", m.Key(), "err", err)
		} else if changed {
			d.n.log.Info("learned dataset from a peer", "dataset", m.Key(), "shards", len(m.Shards), "deleted", m.Deleted)
		}
	}
}

func (d *delegate) NotifyJoin(n *memberlist.Node) {
	d.n.dead.back(n.Name)
	d.n.departed.back(n.Name)
	d.n.log.Info("member joined", "member", n.Name, "addr", n.Address())
	if n.Name != d.n.name {
		d.n.peers.saw(n.Name, n.Address(), time.Now())
	}
	if d.n.sec == nil || n.Name == d.n.name {
		d.n.membershipChanged(coord.NodeUp{Node: n.Name, Slots: d.n.cfg.SlotsPerNode})
		return
	}
	// With secrets, a member is used only once it proved it is a node of
	// this cluster (see verifyMember).
	m := memberOf(n)
	go func() {
		d.n.verifyMember(d.n.ctx, m)
		if d.n.trust.trusted(m.Name, m.HTTP) {
			d.n.membershipChanged(coord.NodeUp{Node: n.Name, Slots: d.n.cfg.SlotsPerNode})
		}
	}()
}

func (d *delegate) NotifyLeave(n *memberlist.Node) {
	d.n.dead.gone(n.Name, time.Now())
	d.n.departed.add(memberOf(n), time.Now())
	d.n.trust.drop(n.Name)
	d.n.log.Info("member left or failed", "member", n.Name)
	d.n.departures.left(n.Name)
	d.n.membershipChanged(coord.NodeDown{Node: n.Name})
}

// NotifyUpdate: a member's metadata changed (a restart on a new HTTP
// address); with secrets it must prove itself again there.
func (d *delegate) NotifyUpdate(n *memberlist.Node) {
	if d.n.sec != nil && n.Name != d.n.name {
		go d.n.verifyMember(d.n.ctx, memberOf(n))
	}
}

// memberOf describes a memberlist node.
func memberOf(m *memberlist.Node) Member {
	var md meta
	msgpack.Unmarshal(m.Meta, &md)
	return Member{Name: m.Name, HTTP: md.HTTP, Gossip: m.Address(), Protocol: md.Protocol, State: stateName(m.State)}
}

func (n *Node) startMembership(ctx context.Context) error {
	host, portStr, err := net.SplitHostPort(n.cfg.GossipAddr)
	if err != nil {
		return fmt.Errorf("gossip address %q: %w", n.cfg.GossipAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("gossip address %q: bad port", n.cfg.GossipAddr)
	}
	mb, err := msgpack.Marshal(meta{HTTP: n.httpAddr, Protocol: ProtocolVersion})
	if err != nil {
		return err
	}
	c := memberlist.DefaultLANConfig()
	c.Name = n.name
	c.BindAddr, c.BindPort = host, port
	c.AdvertiseAddr, c.AdvertisePort = host, port
	c.ProbeInterval = n.cfg.ProbeInterval
	c.ProbeTimeout = n.cfg.ProbeTimeout
	c.SuspicionMult = n.cfg.SuspicionMult
	c.GossipInterval = n.cfg.GossipInterval
	c.PushPullInterval = n.cfg.PushPullInterval
	c.DeadNodeReclaimTime = n.cfg.DeadNodeReclaimTime
	c.Logger = slog.NewLogLogger(n.log.With("component", "memberlist").Handler(), slog.LevelDebug)
	if n.sec != nil {
		kr, err := memberlist.NewKeyring(n.sec.gossip, n.sec.gossip[0])
		if err != nil {
			return fmt.Errorf("gossip keyring: %w", err)
		}
		c.Keyring = kr
		c.GossipVerifyIncoming, c.GossipVerifyOutgoing = true, true
		n.keyring = kr
	}
	d := &delegate{n: n, meta: mb}
	c.Delegate = d
	c.Events = d
	c.TCPTimeout = n.cfg.JoinTCPTimeout
	ml, err := memberlist.Create(c)
	if err != nil {
		return fmt.Errorf("start gossip on %s: %w", n.cfg.GossipAddr, err)
	}
	n.ml = ml
	if err := n.joinCluster(ctx); err != nil {
		ml.Shutdown()
		return err
	}
	return nil
}

// Members lists the cluster as this node sees it, sorted by name.
func (n *Node) Members() []Member {
	var out []Member
	listed := map[string]bool{}
	for _, m := range n.ml.Members() {
		mem := memberOf(m)
		if mem.State == "alive" && n.sec != nil && mem.Name != n.name && !n.trust.trusted(mem.Name, mem.HTTP) {
			mem.State = "untrusted" // gossips with our key, has not proved it is a node of this cluster
		}
		out = append(out, mem)
		listed[mem.Name] = true
	}
	// memberlist lists live members only: those that failed or left are
	// shown as such, from what this node saw of them.
	for _, mem := range n.departed.list(time.Now()) {
		if !listed[mem.Name] {
			out = append(out, mem)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// alive returns the live members that speak our protocol version; a
// member on another version is left out of placement and scheduling (and
// logged once), so mixed-version clusters do not exchange data they would
// misread.
func (n *Node) alive() []Member {
	var out []Member
	for _, m := range n.Members() {
		if m.State != "alive" {
			continue
		}
		if m.Protocol != ProtocolVersion {
			if _, warned := n.versionWarned.LoadOrStore(m.Name, true); !warned {
				n.log.Warn("ignoring a member with another protocol version", "member", m.Name, "its_version", m.Protocol, "ours", ProtocolVersion)
			}
			continue
		}
		out = append(out, m)
	}
	return out
}

// departedMembers remembers members that failed or left, as they were
// last seen, for departedMemory: an operator sees a dead node as dead
// rather than not at all. Safe for concurrent use.
type departedMembers struct {
	mu sync.Mutex
	m  map[string]departedMember
}

type departedMember struct {
	Member
	at time.Time
}

// departedMemory is how long a departed member stays listed.
const departedMemory = 24 * time.Hour

func (d *departedMembers) add(m Member, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]departedMember{}
	}
	if m.State == "alive" || m.State == "suspect" { // memberlist calls a failed node dead by the time it says so
		m.State = "dead"
	}
	d.m[m.Name] = departedMember{Member: m, at: at}
}

func (d *departedMembers) back(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, name)
}

// list returns the members departed within departedMemory of now.
func (d *departedMembers) list(now time.Time) []Member {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Member
	for name, m := range d.m {
		if now.Sub(m.at) > departedMemory {
			delete(d.m, name)
			continue
		}
		out = append(out, m.Member)
	}
	return out
}

// departures tells watchers when a member leaves. Safe for concurrent use.
type departures struct {
	mu       sync.Mutex
	watchers map[string]map[chan struct{}]bool
}

// watch returns a channel closed when member next leaves; stop ends the
// watch.
func (d *departures) watch(member string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	d.mu.Lock()
	if d.watchers == nil {
		d.watchers = map[string]map[chan struct{}]bool{}
	}
	if d.watchers[member] == nil {
		d.watchers[member] = map[chan struct{}]bool{}
	}
	d.watchers[member][ch] = true
	d.mu.Unlock()
	return ch, func() {
		d.mu.Lock()
		delete(d.watchers[member], ch)
		d.mu.Unlock()
	}
}

// left wakes every watcher of member.
func (d *departures) left(member string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.watchers[member] {
		close(ch)
	}
	delete(d.watchers, member)
}

// aliveMember returns the live member called name, if there is one.
func (n *Node) aliveMember(name string) (Member, bool) {
	for _, m := range n.alive() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// isMemberHTTP says whether addr is a live member's HTTP address: the only
// places a node fetches modules from.
func (n *Node) isMemberHTTP(addr string) bool {
	for _, m := range n.alive() {
		if m.HTTP == addr {
			return true
		}
	}
	return false
}

func (n *Node) isAlive(name string) bool {
	_, ok := n.aliveMember(name)
	return ok
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateLeft:
		return "left"
	default:
		return "dead"
	}
}
