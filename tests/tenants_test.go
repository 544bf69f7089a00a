package tests

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
	"github.com/wmr-dev/wmr/nodes"
)

// secure is a cluster with secrets and tenants.
type secure struct {
	nodes  []*testNode
	tokens map[string]string // tenant -> token
	caDir  string
	file   string   // the tenants file
	extra  []string // more wmr node flags
}

// secureCluster starts size nodes with secrets from a fresh CA and a
// tenants file made with 'wmr tenants add' (specs: "NAME [flags...]"; the
// first must be an admin, used to check readiness).
func secureCluster(t *testing.T, size int, specs ...string) *secure {
	t.Helper()
	return secureClusterWith(t, size, nil, specs...)
}

// secureClusterWith is secureCluster with more wmr node flags.
func secureClusterWith(t *testing.T, size int, extra []string, specs ...string) *secure {
	t.Helper()
	dir := t.TempDir()
	s := &secure{tokens: map[string]string{}, caDir: filepath.Join(dir, "ca"), file: filepath.Join(dir, "tenants.json"), extra: extra}
	if r := wmr(t, "ca", "init", s.caDir); r.code != 0 {
		t.Fatalf("ca init: %s", r.stderr)
	}
	var admin string
	for _, spec := range specs {
		f := strings.Fields(spec)
		r := wmr(t, append([]string{"tenants", "add", "--file", s.file, "--name", f[0]}, f[1:]...)...)
		if r.code != 0 {
			t.Fatalf("tenants add %s: %s", spec, r.stderr)
		}
		s.tokens[f[0]] = strings.TrimSpace(r.stdout)
		if admin == "" {
			admin = s.tokens[f[0]]
		}
	}
	for i := range size {
		s.nodes = append(s.nodes, s.start(t, fmt.Sprintf("n%d", i+1), admin, ""))
	}
	for _, n := range s.nodes {
		waitFor(t, 20*time.Second, "membership", func() error {
			c, err := aliveCount(n.clientAs(admin))
			if err == nil && c != size {
				err = fmt.Errorf("%d alive", c)
			}
			return err
		})
	}
	return s
}

// issue writes a node's secrets directory from the cluster's CA.
func (s *secure) issue(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+"-secrets")
	if r := wmr(t, "ca", "issue", s.caDir, "--name", name, "--host", "127.0.0.1", "--out", out); r.code != 0 {
		t.Fatalf("ca issue: %s", r.stderr)
	}
	return out
}

// start starts a secure node joining the first one; secrets "" issues
// fresh ones.
func (s *secure) start(t *testing.T, name, token, secrets string) *testNode {
	t.Helper()
	if secrets == "" {
		secrets = s.issue(t, name)
	}
	o := nodeOpts{name: name, secrets: secrets, ca: filepath.Join(s.caDir, "ca.crt"), tenants: s.file, token: token, extra: s.extra}
	if len(s.nodes) > 0 {
		o.join = []string{s.nodes[0].gossip}
	}
	return startNodeWith(t, o)
}

// as runs the CLI against node n with tenant's token.
func (s *secure) as(t *testing.T, tenant string, n *testNode, args ...string) result {
	t.Helper()
	return wmr(t, append(args, "--node", n.url, "--token", s.tokens[tenant], "--ca", n.ca)...)
}

// raw sends a request to n with tenant's token (and no client
// certificate): a crafted request, not one the CLI would make.
func (s *secure) raw(t *testing.T, tenant string, n *testNode, method, path string, body []byte, cert *tls.Certificate) (int, string, error) {
	t.Helper()
	pem, err := os.ReadFile(n.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 20 * time.Second}
	req, _ := http.NewRequest(method, n.url+path, bytes.NewReader(body))
	if tenant != "" {
		req.Header.Set("Authorization", "Bearer "+s.tokens[tenant])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestTenantIsolation(t *testing.T) {
	s := secureCluster(t, 2, "ops --admin", "alice", "bob")
	n1, n2 := s.nodes[0], s.nodes[1]
	corpus := t.TempDir()
	if _, err := jobtest.WriteCorpus(corpus, 3, 20<<10, 0, 5); err != nil {
		t.Fatal(err)
	}
	wc := testwasm.Path(t, "wordcount")
	if r := s.as(t, "alice", n1, "put", "--dataset", "books", "--replicas", "2", "--block-size", "16KiB", corpus); r.code != 0 {
		t.Fatalf("alice put: %s", r.stderr)
	}
	if r := s.as(t, "alice", n1, "submit", "--wasm", wc, "--input", "books", "--output", "counts", "--reducers", "2", "--wait"); r.code != 0 {
		t.Fatalf("alice submit: %s", r.stderr)
	}
	aliceCounts := s.as(t, "alice", n2, "cat", "counts")
	if aliceCounts.code != 0 || aliceCounts.stdout != localRun(t, wc, corpus, 2) {
		t.Fatalf("alice's output differs from a local run: %s", aliceCounts.stderr)
	}
	var jobs []nodes.JobStatus
	r := s.as(t, "alice", n2, "jobs", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &jobs); err != nil || len(jobs) != 1 {
		t.Fatalf("alice's jobs: %v %s %s", err, r.stdout, r.stderr)
	}
	jobID := jobs[0].ID
	st, err := n1.clientAs(s.tokens["alice"]).Job(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}

	// Bob, on either node, finds none of Alice's things: the answer is the
	// one for a name that does not exist.
	for _, n := range s.nodes {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"cat", "books"}, `unknown dataset "books"`},
			{[]string{"cat", "counts"}, `unknown dataset "counts"`},
			{[]string{"get", "counts", "--output", t.TempDir()}, `unknown dataset "counts"`},
			{[]string{"datasets", "books"}, `unknown dataset "books"`},
			{[]string{"rm", "books"}, `unknown dataset "books"`},
			{[]string{"status", jobID}, fmt.Sprintf("unknown job %q", jobID)},
			// (with a module alice never uses: a hash bob uploaded is his too)
			{[]string{"submit", "--wasm", testwasm.Path(t, "sumsquares"), "--input", "books", "--output", "mine"}, `unknown dataset "books"`},
			{[]string{"cat", "alice/books"}, "invalid name"},
		} {
			r := s.as(t, "bob", n, tc.args...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("bob on %s: wmr %v: exit %d, %q; want failure with %q", n.name, tc.args, r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "alice") && !strings.Contains(strings.Join(tc.args, " "), "alice") {
				t.Errorf("bob on %s: wmr %v leaks alice: %q", n.name, tc.args, r.stderr)
			}
		}
		missing := s.as(t, "bob", n, "cat", "nosuch")
		if want := strings.ReplaceAll(s.as(t, "bob", n, "cat", "books").stderr, "books", "nosuch"); missing.stderr != want {
			t.Errorf("another tenant's dataset answers %q, a missing one %q", want, missing.stderr)
		}
		for _, list := range [][]string{{"datasets"}, {"jobs"}} {
			if r := s.as(t, "bob", n, list...); r.code != 0 || strings.Contains(r.stdout, "books") || strings.Contains(r.stdout, jobID) {
				t.Errorf("bob's %v shows alice's things: %s %s", list, r.stdout, r.stderr)
			}
		}
	}

	// The same name in bob's namespace is bob's own.
	own := filepath.Join(t.TempDir(), "own.txt")
	os.WriteFile(own, []byte("bob's line\n"), 0o644)
	if r := s.as(t, "bob", n2, "put", "--dataset", "books", own); r.code != 0 {
		t.Fatalf("bob put: %s", r.stderr)
	}
	if r := s.as(t, "bob", n1, "cat", "books"); r.stdout != "bob's line\n" {
		t.Fatalf("bob's books: %q %s", r.stdout, r.stderr)
	}
	if r := s.as(t, "alice", n1, "cat", "counts"); r.stdout != aliceCounts.stdout {
		t.Fatalf("alice's counts changed after bob's put")
	}

	// Crafted requests: internal endpoints want a node certificate, a
	// module hash is not a capability, tokens are checked.
	for _, tc := range []struct {
		method, path string
		body         []byte
		code         int
		want         string
	}{
		{"GET", "/v1/internal/jobs/" + jobID + "/maps/m-00000.a1.out?offset=0&length=100", nil, 403, "cluster nodes only"},
		{"GET", "/v1/internal/shards/alice/books/f00000-s00000", nil, 403, "cluster nodes only"},
		{"PUT", "/v1/internal/shards/alice/books/f00000-s00000", []byte("forged\n"), 403, "cluster nodes only"},
		{"PUT", "/v1/internal/manifests/alice/books", []byte(`{"name":"books","tenant":"alice"}`), 403, "cluster nodes only"},
		{"GET", "/v1/internal/jobs?tenant=alice", nil, 403, "cluster nodes only"},
		{"POST", "/v1/jobs", []byte(`{"module_hash":"` + st.Request.ModuleHash + `","module_name":"x.wasm","input":"books","output":"stolen"}`), 400, "was not uploaded to this node by tenant bob"},
		{"GET", "/v1/datasets/alice%2Fbooks", nil, 400, "invalid name"},
		{"POST", "/v1/admin/gossip-keys", []byte(`{"op":"use","key":"x"}`), 403, "needs an admin tenant"},
		{"POST", "/v1/datasets/books/inplace", []byte(`{"paths":["/etc/passwd"]}`), 403, "only admin tenants"},
	} {
		code, body, err := s.raw(t, "bob", n1, tc.method, tc.path, tc.body, nil)
		if err != nil || code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("bob %s %s: %d %q %v; want %d with %q", tc.method, tc.path, code, body, err, tc.code, tc.want)
		}
	}
	for _, tenant := range []string{"", "forged"} {
		if tenant == "forged" {
			s.tokens["forged"] = "wmr_notatoken"
		}
		code, body, err := s.raw(t, tenant, n1, "GET", "/v1/datasets", nil, nil)
		if err != nil || code != 401 {
			t.Errorf("token %q: %d %q %v; want 401", tenant, code, body, err)
		}
	}

	// The admin sees and manages everyone's things.
	r = s.as(t, "ops", n2, "datasets")
	if !strings.Contains(r.stdout, "alice/books") || !strings.Contains(r.stdout, "bob/books") {
		t.Errorf("admin's datasets: %s %s", r.stdout, r.stderr)
	}
	if r := s.as(t, "ops", n2, "cat", "alice/counts"); r.stdout != aliceCounts.stdout {
		t.Errorf("admin cat alice/counts: %s", r.stderr)
	}
	if r := s.as(t, "ops", n1, "status", jobID); r.code != 0 {
		t.Errorf("admin status: %s", r.stderr)
	}
	if r := s.as(t, "alice", n1, "rm", "counts"); r.code != 0 {
		t.Fatalf("alice rm: %s", r.stderr)
	}
	waitFor(t, 10*time.Second, "the delete to reach every node", func() error {
		for _, n := range s.nodes {
			if r := s.as(t, "alice", n, "cat", "counts"); r.code == 0 {
				return fmt.Errorf("%s still serves counts", n.name)
			}
			if _, err := os.Stat(filepath.Join(n.data, "shards", "alice", "counts")); err == nil {
				return fmt.Errorf("%s still holds counts' shards", n.name)
			}
		}
		return nil
	})

	// The audit log says who tried what.
	b, err := os.ReadFile(filepath.Join(n1.data, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	var sawBob, sawRefusal, sawSubmit bool
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line is not JSON: %q", line)
		}
		// (cat reads the manifest first, to check what it streams)
		sawBob = sawBob || (e["tenant"] == "bob" && (e["msg"] == "dataset.read" || e["msg"] == "dataset.show") && e["target"] == "books" && strings.Contains(fmt.Sprint(e["outcome"]), "unknown dataset"))
		sawRefusal = sawRefusal || (e["msg"] == "internal.refused")
		sawSubmit = sawSubmit || (e["tenant"] == "alice" && e["msg"] == "job.submit" && e["outcome"] == "ok")
	}
	if !sawBob || !sawRefusal || !sawSubmit {
		t.Errorf("audit log lacks bob's read (%v), a refused internal call (%v) or alice's submit (%v):\n%s", sawBob, sawRefusal, sawSubmit, b)
	}
}

func TestClusterSecrets(t *testing.T) {
	s := secureCluster(t, 2, "ops --admin")
	admin := s.tokens["ops"]
	n1 := s.nodes[0]

	// A node without the cluster's secrets cannot join: neither one in dev
	// mode nor one with secrets from another CA (another gossip key).
	other := filepath.Join(t.TempDir(), "other-ca")
	if r := wmr(t, "ca", "init", other); r.code != 0 {
		t.Fatal(r.stderr)
	}
	otherSecrets := filepath.Join(t.TempDir(), "other-secrets")
	if r := wmr(t, "ca", "issue", other, "--name", "intruder", "--host", "127.0.0.1", "--out", otherSecrets); r.code != 0 {
		t.Fatal(r.stderr)
	}
	for _, o := range []nodeOpts{
		{name: "devmode", join: []string{n1.gossip}},
		{name: "intruder", join: []string{n1.gossip}, secrets: otherSecrets},
	} {
		n, err := launchNode(t, o)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-n.exited:
			if !strings.Contains(n.log.String(), "join cluster") {
				t.Errorf("%s exited without a join error:\n%s", o.name, n.log)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not fail to join", o.name)
		}
	}
	if c, err := aliveCount(n1.clientAs(admin)); err != nil || c != 2 {
		t.Fatalf("alive after intruders: %d %v", c, err)
	}

	// One with the cluster's gossip key but a certificate of another CA
	// gossips, but is never a live member: not placed on, not scheduled.
	impostorSecrets := filepath.Join(t.TempDir(), "impostor-secrets")
	if r := wmr(t, "ca", "issue", other, "--name", "impostor", "--host", "127.0.0.1", "--out", impostorSecrets); r.code != 0 {
		t.Fatal(r.stderr)
	}
	keys, _ := os.ReadFile(filepath.Join(s.caDir, "gossip.keys"))
	os.WriteFile(filepath.Join(impostorSecrets, "gossip.keys"), keys, 0o600)
	impostor, err := launchNode(t, nodeOpts{name: "impostor", join: []string{n1.gossip}, secrets: impostorSecrets, tenants: s.file})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the impostor to be listed untrusted", func() error {
		ms, err := n1.clientAs(admin).Members(context.Background())
		for _, m := range ms {
			if m.Name == "impostor" {
				if m.State != "untrusted" {
					return fmt.Errorf("listed %s", m.State)
				}
				return nil
			}
		}
		return fmt.Errorf("not listed (%v)", err)
	})
	time.Sleep(time.Second) // give it every chance to be (wrongly) trusted
	if c, err := aliveCount(n1.clientAs(admin)); err != nil || c != 2 {
		t.Fatalf("alive with an impostor: %d %v", c, err)
	}
	little := filepath.Join(t.TempDir(), "l.txt")
	os.WriteFile(little, []byte("a b\n"), 0o644)
	if r := s.as(t, "ops", n1, "put", "--dataset", "p3", "--replicas", "3", little); r.code == 0 || !strings.Contains(r.stderr, "only 2 nodes are alive") {
		t.Errorf("put --replicas 3 with an impostor: exit %d %s", r.code, r.stderr)
	}
	if !strings.Contains(n1.log.String(), "cannot prove it is a node of this cluster") {
		t.Errorf("n1 did not log the impostor")
	}
	impostor.kill()

	// Forged node-to-node requests: without a client certificate, with
	// one from another CA, or in plain HTTP.
	intruder, err := tls.LoadX509KeyPair(filepath.Join(otherSecrets, "node.crt"), filepath.Join(otherSecrets, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cert := range []*tls.Certificate{nil, &intruder} {
		code, body, err := s.raw(t, "ops", n1, "PUT", "/v1/internal/shards/ops/x/f00000-s00000", []byte("forged\n"), cert)
		if err == nil && code != 403 {
			t.Errorf("forged replication (cert %v): %d %q", cert != nil, code, body)
		}
		code, body, err = s.raw(t, "ops", n1, "POST", "/v1/internal/tasks", []byte(`{"job_id":"j","task_id":"m-00000","kind":"map","tenant":"ops"}`), cert)
		if err == nil && code != 403 {
			t.Errorf("forged task (cert %v): %d %q", cert != nil, code, body)
		}
	}
	// Plain HTTP gets Go's "client sent an HTTP request to an HTTPS
	// server" answer, never the API.
	if resp, err := http.Get("http://" + n1.http + "/v1/members"); err == nil && resp.StatusCode == 200 {
		t.Errorf("plain HTTP served the API")
	}
	if _, err := os.Stat(filepath.Join(n1.data, "shards", "ops", "x")); err == nil {
		t.Fatalf("a forged shard was stored")
	}

	// Gossip key rotation: install, use, remove; then only the new key
	// gets a node in.
	oldKey, _ := os.ReadFile(filepath.Join(s.caDir, "gossip.keys"))
	newKey := strings.TrimSpace(wmr(t, "ca", "gossip-key").stdout)
	for _, step := range [][]string{{"install", newKey}, {"use", newKey}, {"remove", strings.TrimSpace(string(oldKey))}} {
		if r := s.as(t, "ops", n1, append([]string{"gossip-keys"}, step...)...); r.code != 0 || strings.Count(r.stdout, ": ok") != 2 {
			t.Fatalf("gossip-keys %s: %s %s", step[0], r.stdout, r.stderr)
		}
	}
	stale, err := launchNode(t, nodeOpts{name: "stale", join: []string{n1.gossip}, secrets: s.issue(t, "stale"), tenants: s.file})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-stale.exited:
	case <-time.After(20 * time.Second):
		t.Errorf("a node with the removed gossip key joined")
	}
	fresh := s.issue(t, "n3")
	os.WriteFile(filepath.Join(fresh, "gossip.keys"), []byte(newKey+"\n"), 0o600)
	s.start(t, "n3", admin, fresh)
	waitFor(t, 20*time.Second, "n3 to join with the new key", func() error {
		c, err := aliveCount(n1.clientAs(admin))
		if err == nil && c != 3 {
			err = fmt.Errorf("%d alive", c)
		}
		return err
	})
	// A restarted node keeps the rotated keyring.
	if b, err := os.ReadFile(filepath.Join(n1.data, "gossip.keys")); err != nil || strings.TrimSpace(string(b)) != newKey {
		t.Errorf("n1's saved keyring: %q %v", b, err)
	}
}

func TestQuotas(t *testing.T) {
	s := secureCluster(t, 2, "ops --admin", "small --module-size 64KiB",
		"q --stored-bytes 20KB --task-memory 64MiB --task-time 1m --jobs 1")
	n := s.nodes[0]
	wc := testwasm.Path(t, "wordcount")
	dir := t.TempDir()
	big, little := filepath.Join(dir, "big.txt"), filepath.Join(dir, "little.txt")
	os.WriteFile(big, bytes.Repeat([]byte("a line of text\n"), 2000), 0o644)
	os.WriteFile(little, bytes.Repeat([]byte("a b c\n"), 200), 0o644)
	if r := s.as(t, "small", n, "put", "--dataset", "in", little); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := s.as(t, "q", n, "put", "--dataset", "in", little); r.code != 0 {
		t.Fatal(r.stderr)
	}
	slow := testwasm.Path(t, "testing/slowwords")
	for _, tc := range []struct {
		tenant string
		args   []string
		want   string
	}{
		{"small", []string{"submit", "--wasm", wc, "--input", "in", "--output", "o"}, "the module size limit for tenant small"},
		{"q", []string{"put", "--dataset", "big", big}, "stored-bytes quota of 20000 bytes"},
		{"q", []string{"submit", "--wasm", wc, "--input", "in", "--output", "o", "--task-memory", "128MiB"}, "tenant q may use at most 67108864"},
		{"q", []string{"submit", "--wasm", wc, "--input", "in", "--output", "o", "--task-timeout", "2m"}, "tenant q may use at most 1m0s"},
	} {
		r := s.as(t, tc.tenant, n, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "quota exceeded") {
			t.Errorf("%s: wmr %v: exit %d %q; want %q", tc.tenant, tc.args, r.code, r.stderr, tc.want)
		}
	}
	// Claimed sizes do not bypass the quota: two uploads, each within it,
	// committed as one dataset with sizes of 0 are measured as stored.
	chunk := bytes.Repeat([]byte("a line of text\n"), 800) // 12 KB: one fits, two do not
	var shards []nodes.Shard
	for i := range 2 {
		code, body, err := s.raw(t, "q", n, "POST", fmt.Sprintf("/v1/datasets/sneaky/files?file=f%d.txt&index=%d&replicas=1&block=0", i, i), chunk, nil)
		if err != nil || code != 200 {
			t.Fatalf("upload %d: %d %s %v", i, code, body, err)
		}
		var got []nodes.Shard
		json.Unmarshal([]byte(body), &got)
		shards = append(shards, got...)
	}
	for i := range shards {
		shards[i].Size = 0
	}
	claimed, _ := json.Marshal(nodes.Manifest{Name: "sneaky", Replicas: 1, Shards: shards})
	if code, body, _ := s.raw(t, "q", n, "POST", "/v1/datasets/sneaky/commit", claimed, nil); code != 429 || !strings.Contains(body, "stored-bytes quota") {
		t.Errorf("commit with claimed sizes of 0: %d %s", code, body)
	}
	// The jobs quota: a second job while the first runs is refused.
	if r := s.as(t, "q", n, "submit", "--wasm", slow, "--input", "in", "--output", "o1", "--param", "spin=20000000"); r.code != 0 {
		t.Fatalf("first job: %s", r.stderr)
	}
	// (submitted to the other node: the quota is cluster-wide)
	r := s.as(t, "q", s.nodes[1], "submit", "--wasm", wc, "--input", "in", "--output", "o2")
	if r.code == 0 || !strings.Contains(r.stderr, "tenant q already runs 1 jobs, its quota") {
		t.Errorf("second job: exit %d %q", r.code, r.stderr)
	}
	// Within its quotas a job runs, with the quota's limits by default.
	waitFor(t, 60*time.Second, "the first job to end", func() error {
		js, err := n.clientAs(s.tokens["q"]).Jobs(context.Background())
		if err != nil || len(js) == 0 || js[0].State == "running" {
			return fmt.Errorf("still running (%v)", err)
		}
		if js[0].State != "succeeded" || js[0].Request.TaskMemory != 64<<20 || time.Duration(js[0].Request.TaskTime) != time.Minute {
			t.Errorf("first job: %+v", js[0])
		}
		return nil
	})
}

// tenants add writes a tenant's cpu_max, and refuses one the kernel
// could not enforce (under 1 ms of each 100 ms period) with the range.
func TestTenantsAddCPUMax(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tenants.json")
	if r := wmr(t, "tenants", "add", "--file", file, "--name", "bob", "--cpu-max", "0.5"); r.code != 0 {
		t.Fatalf("tenants add: exit %d %s", r.code, r.stderr)
	}
	b, _ := os.ReadFile(file)
	f, err := nodes.ParseTenants(b)
	if err != nil || len(f.Tenants) != 1 || f.Tenants[0].Quotas.CPUMax != 0.5 {
		t.Fatalf("tenants file after --cpu-max 0.5: %v\n%s", err, b)
	}
	for _, bad := range []string{"0.001", "-1", "2000"} {
		r := wmr(t, "tenants", "add", "--file", file, "--name", "bob", "--cpu-max", bad)
		if r.code != 2 || !strings.Contains(r.stderr, "cpu_max") || !strings.Contains(r.stderr, "0.01 to 1024 CPUs") {
			t.Errorf("--cpu-max %s: exit %d %q; want a usage error naming the range", bad, r.code, r.stderr)
		}
	}
	if b2, _ := os.ReadFile(file); string(b2) != string(b) {
		t.Errorf("a refused --cpu-max changed the tenants file:\n%s", b2)
	}
}
