package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// A cluster that heals: a node remembers the peers it has seen (in its data
// directory), joins through its seeds and those peers with retries, and
// keeps re-contacting every known peer it does not see alive, so that a
// partition heals by itself once the network does (serf's "reconnect"),
// and a restart rejoins the cluster whatever its flags.

// peersFile holds the gossip addresses of the peers a node has seen.
const peersFile = "peers.json"

// peerMemory is how long a peer not seen is still re-contacted.
const peerMemory = 72 * time.Hour

// knownPeers is the peers file, in memory. Safe for concurrent use.
type knownPeers struct {
	mu    sync.Mutex
	path  string
	peers map[string]knownPeer // by node name
}

type knownPeer struct {
	Gossip string    `json:"gossip"`
	Seen   time.Time `json:"seen"`
}

func loadKnownPeers(dataDir string) *knownPeers {
	k := &knownPeers{path: filepath.Join(dataDir, peersFile), peers: map[string]knownPeer{}}
	if b, err := os.ReadFile(k.path); err == nil {
		json.Unmarshal(b, &k.peers)
	}
	return k
}

// saw records that peer name is at gossip address addr now.
func (k *knownPeers) saw(name, addr string, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	old, ok := k.peers[name]
	k.peers[name] = knownPeer{Gossip: addr, Seen: now}
	if ok && old.Gossip == addr && now.Sub(old.Seen) < time.Minute {
		return // not worth a write
	}
	for n, p := range k.peers {
		if now.Sub(p.Seen) > peerMemory {
			delete(k.peers, n)
		}
	}
	b, _ := json.MarshalIndent(k.peers, "", "  ")
	writeAtomic(filepath.Dir(k.path), k.path, b)
}

// addrs lists the known peers' gossip addresses but self's.
func (k *knownPeers) addrs(self string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for name, p := range k.peers {
		if name != self {
			out = append(out, p.Gossip)
		}
	}
	sort.Strings(out)
	return out
}

// joinTargets are the seeds and the remembered peers, without our own
// address and without duplicates.
func (n *Node) joinTargets() []string {
	out := slices.Clone(n.cfg.Join)
	for _, a := range n.peers.addrs(n.name) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return slices.DeleteFunc(out, func(a string) bool { return a == n.cfg.GossipAddr })
}

// joinCluster joins through the seeds and remembered peers, retrying with
// backoff until one answers or JoinTimeout passes. Seeds given with --join
// that never answer are an error; a node with only remembered peers starts
// alone and keeps trying in the background (the whole cluster may be
// restarting).
func (n *Node) joinCluster(ctx context.Context) error {
	targets := n.joinTargets()
	if len(targets) == 0 {
		return nil
	}
	deadline := time.Now().Add(n.cfg.JoinTimeout)
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		joined, err := n.ml.Join(targets)
		if joined > 0 {
			n.log.Info("joined the cluster", "via", targets, "contacted", joined, "attempts", attempt)
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			if len(n.cfg.Join) == 0 {
				n.log.Warn("no remembered peer answered; starting alone and retrying in the background", "peers", targets, "err", err)
				return nil
			}
			return fmt.Errorf("join cluster via %v: no seed or remembered peer answered in %v (%d attempts): %w", targets, n.cfg.JoinTimeout, attempt, err)
		}
		n.log.Info("no seed answered yet; retrying", "via", targets, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (n *Node) rejoinOnce(ctx context.Context) {
	live := map[string]bool{}
	for _, m := range n.ml.Members() {
		if m.State == memberlist.StateAlive {
			live[m.Address()] = true
		}
	}
	var wg sync.WaitGroup
	for _, addr := range n.joinTargets() {
		if live[addr] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if k, err := n.ml.Join([]string{addr}); err == nil && k > 0 {
				n.log.Info("re-contacted a peer that was not a live member", "addr", addr)
			} else {
				n.log.Debug("re-contact peer", "addr", addr, "err", err)
			}
		}()
	}
	wg.Wait()
	if n.sec != nil {
		for _, m := range n.Members() {
			if m.State == "untrusted" {
				n.verifyMember(ctx, m)
			}
		}
	}
}

// trust records which members proved, over TLS, that they hold a node
// certificate of the cluster's CA with their name. Without secrets every
// member is trusted (dev mode has no proof to ask for).
type trust struct {
	mu sync.Mutex
	ok map[string]string // name -> HTTP address it proved itself on
}

func (t *trust) set(name, http string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ok == nil {
		t.ok = map[string]string{}
	}
	t.ok[name] = http
}

func (t *trust) drop(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.ok, name)
}

func (t *trust) trusted(name, http string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ok[name] == http
}

// errUntrusted marks a member that could not prove its identity.
var errUntrusted = errors.New("not a node of this cluster")

// verifyMember asks member m's HTTP API who it is over mutual TLS: its
// certificate must chain to the cluster CA, be a node certificate and
// carry m's name. Only then is it a live member for placement and
// scheduling.
func (n *Node) verifyMember(ctx context.Context, m Member) {
	if m.Name == n.name {
		return
	}
	err := n.proveIdentity(ctx, m)
	if err != nil {
		n.trust.drop(m.Name)
		n.log.Warn("member gossips with the cluster's key but cannot prove it is a node of this cluster; it is not used", "member", m.Name, "http", m.HTTP, "err", err)
		return
	}
	if !n.trust.trusted(m.Name, m.HTTP) {
		n.trust.set(m.Name, m.HTTP)
		n.log.Info("member proved its identity", "member", m.Name)
	}
}

func (n *Node) proveIdentity(ctx context.Context, m Member) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.peerURL(m, "/v1/internal/identity"), nil)
	if err != nil {
		return err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", errUntrusted, err)
	}
	defer resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.VerifiedChains) == 0 {
		return fmt.Errorf("%w: no verified certificate", errUntrusted)
	}
	leaf := resp.TLS.VerifiedChains[0][0]
	if !slices.Contains(leaf.Subject.OrganizationalUnit, nodeOU) {
		return fmt.Errorf("%w: its certificate is not a node certificate", errUntrusted)
	}
	if leaf.Subject.CommonName != m.Name {
		return fmt.Errorf("%w: its certificate names node %q", errUntrusted, leaf.Subject.CommonName)
	}
	return nil
}

// handleIdentity answers who this node is (the TLS handshake is the proof).
func (n *Node) handleIdentity(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]string{"name": n.name})
}
