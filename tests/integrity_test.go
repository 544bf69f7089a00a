package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
	"github.com/wmr-dev/wmr/nodes"
)

// replicaPath is where node n keeps its replica of a shard of a dev-mode
// (tenant "default") dataset.
func replicaPath(n *testNode, ds, shard string) string {
	return filepath.Join(n.data, "shards", "default", ds, shard)
}

// holdersOf maps each shard of ds to the nodes holding it.
func holdersOf(t *testing.T, ns []*testNode, ds string) (*nodes.DatasetInfo, map[string][]*testNode) {
	t.Helper()
	m, err := ns[0].client().Dataset(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*testNode{}
	for _, n := range ns {
		byName[n.name] = n
	}
	out := map[string][]*testNode{}
	for _, s := range m.Shards {
		for _, h := range s.Holders {
			out[s.ID] = append(out[s.ID], byName[h])
		}
	}
	return m, out
}

// flipByte flips one bit of the byte at offset at of a file, in place.
func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// Damaged replicas are never served: with a good copy left, cat, get and
// jobs return exactly the right data and the damaged copy is quarantined
// and replaced; with every copy damaged (or cut short) they fail, naming
// the shard, never exit 0 with wrong data.
func TestClusterCorruptReplicasAreNeverServed(t *testing.T) {
	ns := cluster(t, 3)
	_, paths := putCorpus(t, ns[0], "books", 2, 3, 60<<10)
	node := "http://" + ns[0].http
	before := wmr(t, "cat", "--node", node, "books")
	if before.code != 0 {
		t.Fatal(before.stderr)
	}
	m, holders := holdersOf(t, ns, "books")
	if len(m.Shards) < 6 {
		t.Fatalf("%d shards; want several", len(m.Shards))
	}
	for _, s := range m.Shards {
		if s.CRC == 0 || s.Size == 0 {
			t.Fatalf("shard %s has no size or checksum in the manifest: %+v", s.ID, s)
		}
	}

	// One replica damaged: every read still returns the right bytes.
	one := m.Shards[1]
	bad := holders[one.ID][0]
	flipByte(t, replicaPath(bad, "books", one.ID), one.Size/2)
	for _, via := range ns {
		r := wmr(t, "cat", "--node", "http://"+via.http, "books")
		if r.code != 0 || r.stdout != before.stdout {
			t.Fatalf("cat via %s with one damaged replica: exit %d, %d bytes (want %d): %s", via.name, r.code, len(r.stdout), len(before.stdout), r.stderr)
		}
	}
	// The damaged copy was quarantined and replaced by a good one.
	good, _ := os.ReadFile(replicaPath(holders[one.ID][1], "books", one.ID))
	waitFor(t, 20*time.Second, "the damaged replica to be restored", func() error {
		b, err := os.ReadFile(replicaPath(bad, "books", one.ID))
		if err != nil || !bytes.Equal(b, good) {
			return fmt.Errorf("not yet (%v)", err)
		}
		return nil
	})
	if q, _ := filepath.Glob(filepath.Join(bad.data, "quarantine", "default", "books", one.ID+".*")); len(q) == 0 {
		t.Errorf("no quarantined copy of %s on %s", one.ID, bad.name)
	}
	r := wmr(t, "datasets", "--node", node, "books", "--json")
	var info nodes.DatasetInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("datasets --json: %v: %s", err, r.stdout)
	}
	found := false
	for _, st := range info.ReplicaStates {
		if st.Shard == one.ID && st.Holder == bad.name {
			found = st.State == "restored" && strings.Contains(st.Error, "CRC-32C")
		}
	}
	if !found || len(info.ReplicaStates) != 2*len(m.Shards) {
		t.Errorf("replica states %+v: want %s on %s restored, %d replicas", info.ReplicaStates, one.ID, bad.name, 2*len(m.Shards))
	}
	if r := wmr(t, "datasets", "--node", node, "books"); r.code != 0 || !strings.Contains(r.stdout, "LAST VERIFIED") || !strings.Contains(r.stdout, "restored") {
		t.Errorf("datasets books: %s %s", r.stdout, r.stderr)
	}

	// A job over a dataset with a damaged replica reads only good input.
	two := m.Shards[3]
	flipByte(t, replicaPath(holders[two.ID][0], "books", two.ID), 10)
	flipByte(t, replicaPath(holders[two.ID][1], "books", two.ID), two.Size-10)
	for _, s := range m.Shards[4:] { // one of two copies of each
		flipByte(t, replicaPath(holders[s.ID][1], "books", s.ID), s.Size/3)
	}
	// (shard two is damaged everywhere: first the job without it.)
	for _, h := range holders[two.ID] {
		os.WriteFile(replicaPath(h, "books", two.ID), nil, 0o644) // cut short
	}
	r = wmr(t, "cat", "--node", node, "books")
	if r.code == 0 || !strings.Contains(r.stderr, two.ID) {
		t.Fatalf("cat with a shard damaged on every replica: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := len(r.stdout); got >= len(before.stdout) {
		t.Errorf("cat wrote %d bytes of %d before failing", got, len(before.stdout))
	}
	r = wmr(t, "get", "--node", node, "books", "--output", filepath.Join(t.TempDir(), "got"))
	if r.code == 0 || !strings.Contains(r.stderr, two.ID) {
		t.Fatalf("get with a shard damaged on every replica: exit %d, stderr %q", r.code, r.stderr)
	}
	r = wmr(t, "submit", "--node", node, "--wasm", testwasm.Path(t, "wordcount"), "--input", "books", "--output", "counts", "--wait")
	if r.code == 0 || !strings.Contains(r.stderr, two.ID) || !strings.Contains(r.stderr, "checksums") {
		t.Fatalf("job over a shard damaged on every replica: exit %d, stderr %q", r.code, r.stderr)
	}

	// Put the lost shard back (a fresh dataset of the same files) and the
	// job over shards damaged on one replica each is exact.
	dir := filepath.Dir(paths[0])
	if r := wmr(t, "put", "--node", node, "--dataset", "books2", "--replicas", "2", "--block-size", "24KiB", dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	m2, holders2 := holdersOf(t, ns, "books2")
	for _, s := range m2.Shards {
		flipByte(t, replicaPath(holders2[s.ID][0], "books2", s.ID), s.Size/2)
	}
	r = wmr(t, "submit", "--node", node, "--wasm", testwasm.Path(t, "wordcount"), "--input", "books2", "--output", "counts2", "--reducers", "2", "--wait")
	if r.code != 0 {
		t.Fatalf("job over one damaged replica per shard: %s", r.stderr)
	}
	want, err := jobtest.WordCount(paths)
	if err != nil {
		t.Fatal(err)
	}
	got := parse(wmr(t, "cat", "--node", node, "counts2").stdout)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("word count over damaged replicas differs: %d keys, want %d", len(got), len(want))
	}
}

// The scrubber finds a damaged replica nobody reads and replaces it.
func TestClusterScrubberRepairsAFlippedReplica(t *testing.T) {
	first := startNodeWith(t, nodeOpts{name: "n1", race: true, extra: []string{"--scrub-interval", "1s"}})
	second := startNodeWith(t, nodeOpts{name: "n2", race: true, join: []string{first.gossip}, extra: []string{"--scrub-interval", "1s"}})
	ns := []*testNode{first, second}
	waitAlive(t, first, 2)
	putCorpus(t, first, "logs", 2, 1, 50<<10)
	m, holders := holdersOf(t, ns, "logs")
	s := m.Shards[0]
	path := replicaPath(holders[s.ID][1], "logs", s.ID)
	good, _ := os.ReadFile(path)
	flipByte(t, path, 7)
	waitFor(t, 30*time.Second, "the scrubber to restore the replica", func() error {
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(b, good) {
			return fmt.Errorf("still damaged (%v)", err)
		}
		return nil
	})
	info, err := first.client().DatasetReplicas(context.Background(), "logs")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range info.ReplicaStates {
		if st.State != "ok" && !(st.Shard == s.ID && st.State == "restored") {
			t.Errorf("replica %+v", st)
		}
		if st.State == "ok" && st.Verified.IsZero() {
			t.Errorf("replica %s on %s never verified by the scrubber", st.Shard, st.Holder)
		}
	}
	if !strings.Contains(holders[s.ID][1].log.String(), "quarantined") {
		t.Errorf("no log line about the quarantined replica:\n%s", holders[s.ID][1].log)
	}
}

// slowWriter takes bytes at a bounded pace and reports how many it took.
type slowWriter struct {
	bytes.Buffer
	n    atomic.Int64
	fast atomic.Bool // stop pacing
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if !w.fast.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	w.n.Add(int64(len(p)))
	return w.Buffer.Write(p)
}

// A holder that dies while cat streams: the stream goes on from the other
// replica (exact bytes), or, with no other replica, the client fails; it
// never ends short with success.
func TestClusterHolderDiesWhileCatStreams(t *testing.T) {
	ns := cluster(t, 3)
	dir := t.TempDir()
	if _, err := jobtest.WriteCorpus(dir, 4, 4<<20, 0, 3); err != nil {
		t.Fatal(err)
	}
	for ds, replicas := range map[string]string{"two": "2", "one": "1"} {
		if r := wmr(t, "put", "--node", "http://"+ns[0].http, "--dataset", ds, "--replicas", replicas, "--block-size", "512KiB", dir); r.code != 0 {
			t.Fatal(r.stderr)
		}
	}
	want := map[string]string{}
	for _, ds := range []string{"two", "one"} {
		s, err := catString(t, ns[0].client(), ds)
		if err != nil {
			t.Fatal(err)
		}
		want[ds] = s
	}
	for _, tc := range []struct {
		ds     string
		victim *testNode
	}{{"two", ns[1]}, {"one", ns[2]}} {
		var w slowWriter
		done := make(chan error, 1)
		go func() { done <- ns[0].client().Cat(context.Background(), tc.ds, &w) }()
		waitFor(t, 20*time.Second, "the stream to start", func() error {
			select {
			case err := <-done:
				t.Fatalf("%s: cat ended after %d bytes before the kill: %v", tc.ds, w.n.Load(), err)
			default:
			}
			if w.n.Load() < 64<<10 {
				return fmt.Errorf("%d bytes", w.n.Load())
			}
			return nil
		})
		tc.victim.kill()
		w.fast.Store(true)
		err := <-done
		if tc.ds == "two" { // bring it back for the next case
			restarted := startNodeAt(t, tc.victim.name, tc.victim.data, tc.victim.http, tc.victim.gossip, ns[0].gossip)
			*tc.victim = *restarted
			waitAlive(t, ns[0], 3)
		}
		switch {
		case tc.ds == "two" && (err != nil || w.String() != want[tc.ds]):
			t.Errorf("%s: err %v, %d bytes of %d: the other replica should have served the rest", tc.ds, err, w.Len(), len(want[tc.ds]))
		case tc.ds == "one" && err == nil && w.String() != want[tc.ds]:
			t.Errorf("%s: succeeded with %d bytes of %d", tc.ds, w.Len(), len(want[tc.ds]))
		case tc.ds == "one" && err == nil:
			t.Errorf("%s: the victim's shards were all sent before it died; the test proves nothing", tc.ds)
		case tc.ds == "one" && !strings.Contains(err.Error(), "shard"):
			t.Errorf("%s: error %v does not name the shard", tc.ds, err)
		}
	}
}

// A client cannot make the catalog lie: sizes and checksums come from the
// holders; an upload that was never committed never shadows a dataset.
func TestClusterServerIsTheSourceOfTruth(t *testing.T) {
	ns := cluster(t, 2)
	node := "http://" + ns[0].http
	dir := t.TempDir()
	file := filepath.Join(dir, "a.txt")
	os.WriteFile(file, bytes.Repeat([]byte("some words here\n"), 3000), 0o644)
	// Upload, then commit with made-up sizes and checksums.
	resp, err := http.Post(node+"/v1/datasets/lies/files?file=a.txt&index=0&replicas=2&block=0", "text/plain", bytes.NewReader(mustRead(t, file)))
	if err != nil {
		t.Fatal(err)
	}
	var shards []nodes.Shard
	json.NewDecoder(resp.Body).Decode(&shards)
	resp.Body.Close()
	if len(shards) != 1 {
		t.Fatalf("upload answered %d shards", len(shards))
	}
	shards[0].Size, shards[0].CRC = 0, 12345
	body, _ := json.Marshal(nodes.Manifest{Name: "lies", Replicas: 2, Shards: shards})
	resp, err = http.Post(node+"/v1/datasets/lies/commit", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var committed nodes.Manifest
	json.NewDecoder(resp.Body).Decode(&committed)
	resp.Body.Close()
	if len(committed.Shards) != 1 || committed.Shards[0].Size != int64(len(mustRead(t, file))) || committed.Shards[0].CRC == 12345 {
		t.Fatalf("committed %+v: want the stored size and checksum", committed.Shards)
	}
	// A holder that does not hold the shard is refused.
	shards[0].Holders = []string{"n1", "n2", "nosuch"}
	body, _ = json.Marshal(nodes.Manifest{Name: "lies2", Replicas: 2, Shards: shards})
	resp, _ = http.Post(node+"/v1/datasets/lies2/commit", "application/json", bytes.NewReader(body))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatalf("commit naming a holder that does not exist: %s", b)
	}

	// An uncommitted upload, then the same name published in place.
	resp, _ = http.Post(node+"/v1/datasets/logs/files?file=a.txt&index=0&replicas=2&block=0", "text/plain", strings.NewReader("stale upload\n"))
	resp.Body.Close()
	inplace := filepath.Join(dir, "real.log")
	os.WriteFile(inplace, []byte("the real log\n"), 0o644)
	if r := wmr(t, "put", "--node", node, "--dataset", "logs", "--in-place", inplace); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := wmr(t, "cat", "--node", node, "logs"); r.code != 0 || r.stdout != "the real log\n" {
		t.Fatalf("cat logs: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Map outputs damaged on their node after the maps finished: reducers
// that fetch them find the damage by checksum, the maps run again, and the
// job's output and counters are exact.
func TestClusterDamagedMapOutputsRunAgain(t *testing.T) {
	ns := cluster(t, 3)
	dir, paths := putCorpus(t, ns[0], "books", 2, 3, 40<<10)
	module := testwasm.Path(t, "testing/slowwords")
	st, err := ns[0].client().Submit(context.Background(), nodes.SubmitOptions{Module: module, Input: "books", Output: "counts",
		Reducers: 12, Params: map[string]string{"reduce_spin": "30000000"}})
	if err != nil {
		t.Fatal(err)
	}
	damaged := 0
	waitFor(t, 90*time.Second, "the reduce phase", func() error {
		s, err := ns[0].client().Job(context.Background(), st.ID)
		if err != nil {
			return err
		}
		if s.State != "running" {
			t.Fatalf("job ended (%s) before the test could damage its map outputs", s.State)
		}
		if s.Phase != "reduce" {
			return fmt.Errorf("phase %s", s.Phase)
		}
		for _, n := range ns {
			outs, _ := filepath.Glob(filepath.Join(n.data, "jobs", st.ID, "maps", "m-*.out"))
			for _, p := range outs {
				b, err := os.ReadFile(p)
				if err != nil || len(b) == 0 {
					continue
				}
				for i := 5; i < len(b); i += 37 {
					b[i] ^= 0x08
				}
				os.WriteFile(p, b, 0o644)
				damaged++
			}
		}
		return nil
	})
	final := waitJobEnd(t, ns[0], st.ID, 3*time.Minute)
	if final.State != "succeeded" {
		t.Fatalf("job %s: %s", final.State, final.Error)
	}
	if damaged == 0 {
		t.Fatal("no map output was damaged; the test proves nothing")
	}
	lost := 0
	for _, a := range final.Attempts {
		if strings.Contains(a.Outcome, "corrupt") {
			lost++
		}
	}
	if lost == 0 {
		t.Fatalf("no attempt found a damaged map output (%d damaged files); attempts: %+v", damaged, final.Attempts)
	}
	if final.Counters["lines"] != int64(countLines(paths)) {
		t.Errorf("lines counter %d, want %d", final.Counters["lines"], countLines(paths))
	}
	want := parse(localRun(t, module, dir, 12, "reduce_spin=1"))
	got := parse(wmr(t, "cat", "--node", "http://"+ns[1].http, "counts").stdout)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("output differs from wmr run: %d keys, want %d", len(got), len(want))
	}
}

// Garbage goes after the grace period, and only garbage: an upload never
// committed, quarantined copies, temporary files, the files of a job no
// node remembers; committed datasets stay whole. What was freed is shown.
func TestClusterCollectsGarbage(t *testing.T) {
	opts := func(name string, join ...string) nodeOpts {
		return nodeOpts{name: name, race: true, join: join, extra: []string{"--gc-grace", "2s"}}
	}
	first := startNodeWith(t, opts("n1"))
	second := startNodeWith(t, opts("n2", first.gossip))
	ns := []*testNode{first, second}
	waitAlive(t, first, 2)
	putCorpus(t, first, "keep", 2, 2, 30<<10)
	want, _ := catString(t, first.client(), "keep")
	node := "http://" + first.http
	// An upload that is never committed.
	resp, err := http.Post(node+"/v1/datasets/abandoned/files?file=a.txt&index=0&replicas=2&block=0", "text/plain", strings.NewReader(strings.Repeat("x y z\n", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Leftovers: a temporary file and a job nobody remembers.
	old := time.Now().Add(-time.Hour)
	for _, n := range ns {
		tmp := filepath.Join(n.data, "tmp", "upload-leftover")
		os.WriteFile(tmp, make([]byte, 1000), 0o644)
		os.Chtimes(tmp, old, old)
		job := filepath.Join(n.data, "jobs", "job-gone-1", "maps")
		os.MkdirAll(job, 0o755)
		os.WriteFile(filepath.Join(job, "m-00000.a1.out"), make([]byte, 2000), 0o644)
		os.Chtimes(filepath.Join(job, "m-00000.a1.out"), old, old)
		os.Chtimes(job, old, old)
		os.Chtimes(filepath.Dir(job), old, old)
	}
	// A damaged replica, quarantined when read.
	m, holders := holdersOf(t, ns, "keep")
	flipByte(t, replicaPath(holders[m.Shards[0].ID][0], "keep", m.Shards[0].ID), 3)
	if got, err := catString(t, holders[m.Shards[0].ID][0].client(), "keep"); err != nil || got != want {
		t.Fatalf("cat with a damaged replica: %v", err)
	}
	if q, _ := filepath.Glob(filepath.Join(holders[m.Shards[0].ID][0].data, "quarantine", "default", "keep", "*")); len(q) == 0 {
		t.Fatal("the damaged replica was not quarantined")
	}
	waitFor(t, 30*time.Second, "the garbage to go", func() error {
		for _, n := range ns {
			for _, p := range []string{filepath.Join(n.data, "shards", "default", "abandoned"), filepath.Join(n.data, "tmp", "upload-leftover"),
				filepath.Join(n.data, "jobs", "job-gone-1")} {
				if _, err := os.Stat(p); err == nil {
					return fmt.Errorf("%s still there", p)
				}
			}
			if q, _ := filepath.Glob(filepath.Join(n.data, "quarantine", "default", "keep", "*")); len(q) > 0 {
				return fmt.Errorf("quarantined %v still there", q)
			}
		}
		return nil
	})
	if got, err := catString(t, second.client(), "keep"); err != nil || got != want {
		t.Fatalf("a committed dataset was damaged by garbage collection: %v", err)
	}
	r := wmr(t, "storage", "--node", node, "--json")
	var rep nodes.StorageReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("storage --json: %v %s %s", err, r.stdout, r.stderr)
	}
	if rep.Freed.Bytes["shards"] < 30000 || rep.Freed.Bytes["tmp"] < 1000 || rep.Freed.Bytes["jobs"] < 2000 || rep.Bytes["shards"] < 30<<10 {
		t.Errorf("storage report %+v", rep)
	}
	if r := wmr(t, "storage", "--node", node); r.code != 0 || !strings.Contains(r.stdout, "FREED") {
		t.Errorf("storage: %s %s", r.stdout, r.stderr)
	}
}
