package tests

import (
	"github.com/wmr-dev/wmr/engine/worker"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/nodes"
)

// testNode is a `wmr node` process on loopback ports.
type testNode struct {
	name, data   string
	http, gossip string
	url          string // http://HTTP, or https:// for a secure node
	ca           string // the cluster CA certificate, for a secure node
	cmd          *exec.Cmd
	log          *jobtest.SyncBuffer // its stderr, read while it runs
	exited       chan struct{}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNode starts a node (reusing data if set) and waits until its API
// answers. It is stopped when the test ends.
func startNode(t *testing.T, name, data string, join ...string) *testNode {
	t.Helper()
	if data == "" {
		data = filepath.Join(t.TempDir(), name)
	}
	return startNodeAt(t, name, data, freePort(t), freePort(t), join...)
}

// startNodeAt is startNode on given addresses (a restart).
func startNodeAt(t *testing.T, name, data, httpAddr, gossipAddr string, join ...string) *testNode {
	t.Helper()
	return startNodeWith(t, nodeOpts{name: name, data: data, http: httpAddr, gossip: gossipAddr, join: join, race: true})
}

// nodeOpts describe a node process to start.
type nodeOpts struct {
	name, data, http, gossip string
	join                     []string
	secrets, ca, tenants     string // a secure node: its secrets dir, the CA cert, the tenants file
	token                    string // to check readiness with
	extra                    []string
	// A node with tenants, running as root (as the tests do), is told
	// that its workers may be root too, unless extra names
	// --worker-user; strictRoot leaves that out (the refusal test).
	strictRoot bool
	// race runs the node from the race-instrumented build (when the tests
	// run with -race): the job and fault tests' nodes do (startNodeAt); the
	// TLS tenant tests' stay on the plain build, whose crypto the detector
	// slows several-fold.
	race bool
}

// startNodeWith starts a node process and waits until its API answers.
func startNodeWith(t *testing.T, o nodeOpts) *testNode {
	t.Helper()
	n, err := launchNode(t, o)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "node "+o.name+" to answer", func() error {
		select {
		case <-n.exited:
			t.Fatalf("node %s exited:\n%s", o.name, n.log)
		default:
		}
		_, err := n.clientAs(o.token).Members(context.Background())
		return err
	})
	return n
}

// launchNode starts a node process without waiting for it.
func launchNode(t *testing.T, o nodeOpts) (*testNode, error) {
	t.Helper()
	if o.data == "" {
		o.data = filepath.Join(t.TempDir(), o.name)
	}
	if o.http == "" {
		o.http, o.gossip = freePort(t), freePort(t)
	}
	n := &testNode{name: o.name, data: o.data, http: o.http, gossip: o.gossip, url: "http://" + o.http, ca: o.ca,
		log: &jobtest.SyncBuffer{}, exited: make(chan struct{})}
	args := []string{"node", "--local", "--data", o.data, "--http", n.http, "--gossip", n.gossip}
	for _, j := range o.join {
		args = append(args, "--join", j)
	}
	if o.secrets != "" {
		args = append(args, "--secrets", o.secrets)
		n.url = "https://" + o.http
	}
	if o.tenants != "" {
		args = append(args, "--tenants", o.tenants)
		if os.Geteuid() == 0 && !o.strictRoot && !slices.Contains(o.extra, "--worker-user") {
			args = append(args, "--allow-root-workers")
		}
	}
	args = append(args, o.extra...)
	bin := plainBin
	if o.race {
		bin = wmrBin
	}
	n.cmd = exec.Command(bin, args...)
	n.cmd.Env = append(os.Environ(), worker.EnvWorkerExecutable+"="+plainBin)
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() { n.kill() })
	return n, nil
}

func (n *testNode) kill() {
	select {
	case <-n.exited:
	default:
		n.cmd.Process.Kill()
		<-n.exited
	}
}

func (n *testNode) client() *nodes.Client { return nodes.NewClient(n.http) }

// clientAs is a client of n holding token (and n's CA, if it is secure).
func (n *testNode) clientAs(token string) *nodes.Client {
	var opts []nodes.ClientOption
	if token != "" {
		opts = append(opts, nodes.WithToken(token))
	}
	if n.ca != "" {
		opts = append(opts, nodes.WithCAFile(n.ca))
	}
	return nodes.NewClient(n.url, opts...)
}

// waitFor polls fn until it returns nil or the deadline passes.
func waitFor(t *testing.T, total time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", total, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func aliveCount(c *nodes.Client) (int, error) {
	ms, err := c.Members(context.Background())
	n := 0
	for _, m := range ms {
		if m.State == "alive" {
			n++
		}
	}
	return n, err
}

func waitAlive(t *testing.T, n *testNode, want int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%d live members seen by %s", want, n.name), func() error {
		got, err := aliveCount(n.client())
		if err == nil && got != want {
			err = fmt.Errorf("%d alive", got)
		}
		return err
	})
}

func cluster(t *testing.T, size int) []*testNode {
	t.Helper()
	first := startNode(t, "n1", "")
	ns := []*testNode{first}
	for i := 2; i <= size; i++ {
		ns = append(ns, startNode(t, fmt.Sprintf("n%d", i), "", first.gossip))
	}
	for _, n := range ns {
		waitAlive(t, n, size)
	}
	return ns
}

func catString(t *testing.T, c *nodes.Client, ds string) (string, error) {
	var b bytes.Buffer
	err := c.Cat(context.Background(), ds, &b)
	return b.String(), err
}

func TestClusterPutCatGetAndNodeLoss(t *testing.T) {
	ns := cluster(t, 3)
	dir := t.TempDir()
	paths, err := jobtest.WriteCorpus(dir, 3, 150<<10, 0, 9)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		want.Write(b)
	}

	// Put through the CLI, as users do.
	r := wmr(t, "put", "--node", "http://"+ns[0].http, "--dataset", "books", "--replicas", "2", "--block-size", "40KiB", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "2 replicas each") {
		t.Fatalf("put: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	r = wmr(t, "put", "--node", "http://"+ns[0].http, "--dataset", "single", "--replicas", "1", "--block-size", "40KiB", dir)
	if r.code != 0 {
		t.Fatalf("put single: %s", r.stderr)
	}
	m, err := ns[2].client().Dataset(context.Background(), "books")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Shards) < 9 {
		t.Fatalf("only %d shards", len(m.Shards))
	}
	for _, s := range m.Shards {
		if len(s.Holders) != 2 || s.Holders[0] == s.Holders[1] {
			t.Fatalf("shard %s holders %v", s.ID, s.Holders)
		}
	}
	for _, n := range ns {
		got, err := catString(t, n.client(), "books")
		if err != nil || got != want.String() {
			t.Fatalf("cat on %s: %d bytes (want %d), %v", n.name, len(got), want.Len(), err)
		}
	}
	r = wmr(t, "get", "books", "--node", "http://"+ns[1].http, "--output", filepath.Join(t.TempDir(), "got"))
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%d files", len(m.Shards))) {
		t.Fatalf("get: %s %s", r.stdout, r.stderr)
	}

	// SIGKILL the node holding the most "single" shards: books (2
	// replicas) still reads whole; single fails naming a shard.
	sm, _ := ns[0].client().Dataset(context.Background(), "single")
	held := map[string]int{}
	for _, s := range sm.Shards {
		held[s.Holders[0]]++
	}
	victim := ns[0]
	for _, n := range ns {
		if held[n.name] > held[victim.name] {
			victim = n
		}
	}
	victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	var survivor *testNode
	for _, n := range ns {
		if n != victim {
			survivor = n
		}
	}
	got, err := catString(t, survivor.client(), "books")
	if err != nil || got != want.String() {
		t.Fatalf("cat books after losing %s: %d bytes, %v", victim.name, len(got), err)
	}
	waitAlive(t, survivor, 2)
	r = wmr(t, "cat", "single", "--node", "http://"+survivor.http)
	if r.code != 1 || !strings.Contains(r.stderr, "no live replica of shard") || !strings.Contains(r.stderr, victim.name) {
		t.Fatalf("cat single without its holder: exit %d: %s", r.code, r.stderr)
	}

	// The node comes back with the same data directory: it rejoins and
	// serves its shards again.
	startNodeAt(t, victim.name, victim.data, victim.http, victim.gossip, survivor.gossip)
	waitAlive(t, survivor, 3)
	waitFor(t, 20*time.Second, "single to read whole again", func() error {
		got, err := catString(t, survivor.client(), "single")
		if err == nil && got != want.String() {
			err = fmt.Errorf("%d bytes", len(got))
		}
		return err
	})
}

func TestClusterGracefulLeaveAndInPlace(t *testing.T) {
	ns := cluster(t, 2)
	// Files already on the node's disk become a dataset without copying.
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	os.WriteFile(log, []byte("line one\nline two\n"), 0o644)
	r := wmr(t, "put", "--node", "http://"+ns[1].http, "--dataset", "logs", "--in-place", log)
	if r.code != 0 {
		t.Fatalf("put --in-place: %s", r.stderr)
	}
	got, err := catString(t, ns[0].client(), "logs")
	if err != nil || got != "line one\nline two\n" {
		t.Fatalf("cat logs: %q %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(ns[1].data, "shards", "default", "logs")); err != nil {
		t.Fatal(err)
	}
	r = wmr(t, "put", "--node", "http://"+ns[1].http, "--dataset", "logs2", "--in-place", "relative.log")
	if r.code != 1 || !strings.Contains(r.stderr, "must be absolute") {
		t.Fatalf("relative in-place path: %s", r.stderr)
	}
	r = wmr(t, "put", "--node", "http://"+ns[1].http, "--dataset", "../evil", log)
	if r.code != 1 || !strings.Contains(r.stderr, "invalid name") {
		t.Fatalf("bad dataset name: %s", r.stderr)
	}

	// SIGTERM: the node leaves, and the other sees it gone at once (no
	// failure-detection wait), then the process exits 0.
	ns[1].cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ns[1].exited:
	case <-time.After(20 * time.Second):
		t.Fatal("node did not exit after SIGTERM")
	}
	if code := ns[1].cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, ns[1].log)
	}
	if !strings.Contains(ns[1].log.String(), "leaving the cluster") {
		t.Fatalf("no leave message:\n%s", ns[1].log)
	}
	waitAlive(t, ns[0], 1)
}

// When a node stays dead past the grace period, its shards are copied
// from surviving replicas until every shard has its replica count again.
func TestClusterReReplicatesAfterNodeLoss(t *testing.T) {
	ns := cluster(t, 3)
	dir := t.TempDir()
	paths, _ := jobtest.WriteCorpus(dir, 2, 80<<10, 0, 5)
	var want bytes.Buffer
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		want.Write(b)
	}
	if r := wmr(t, "put", "--node", "http://"+ns[0].http, "--dataset", "books", "--replicas", "2", "--block-size", "30KiB", dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	victim := ns[2]
	victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	waitFor(t, 30*time.Second, "every shard back to 2 live holders", func() error {
		m, err := ns[0].client().Dataset(context.Background(), "books")
		if err != nil {
			return err
		}
		for _, s := range m.Shards {
			if len(s.Holders) != 2 || slices.Contains(s.Holders, victim.name) {
				return fmt.Errorf("shard %s held by %v", s.ID, s.Holders)
			}
		}
		return nil
	})
	// The copies are real: with a second node gone, the last one still
	// has every shard.
	ns[1].cmd.Process.Signal(syscall.SIGKILL)
	<-ns[1].exited
	got, err := catString(t, ns[0].client(), "books")
	if err != nil || got != want.String() {
		t.Fatalf("cat from the last node: %d bytes, %v", len(got), err)
	}
}

// A cluster command pointed at nothing says how to fix it.
func TestNoNodeAnswers(t *testing.T) {
	r := wmr(t, "datasets", "--node", "http://127.0.0.1:1")
	if r.code != 1 || !strings.Contains(r.stderr, "connection refused") || !strings.Contains(r.stderr, "--node or WMR_NODE") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// Probes and logs for operators: /healthz answers alive and /readyz ready
// without a token, and --log-format json writes one JSON object per line.
func TestHealthReadyAndJSONLogs(t *testing.T) {
	n := startNodeWith(t, nodeOpts{name: "n1", data: filepath.Join(t.TempDir(), "n1"), http: freePort(t), gossip: freePort(t),
		extra: []string{"--log-format", "json"}})
	for path, want := range map[string]string{"/healthz": `"status":"alive"`, "/readyz": `"status":"ready"`} {
		resp, err := http.Get("http://" + n.http + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
	lines := strings.Split(strings.TrimSpace(n.log.String()), "\n")
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["msg"] == nil {
			t.Fatalf("a log line that is not a JSON object: %q (%v)", l, err)
		}
	}
	if r := wmr(t, "node", "--data", t.TempDir(), "--http", "127.0.0.1:1", "--gossip", "127.0.0.1:2", "--log-format", "yaml"); r.code != 2 {
		t.Fatalf("--log-format yaml: exit %d %s", r.code, r.stderr)
	}
}
