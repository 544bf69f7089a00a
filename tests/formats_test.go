package tests

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/abi/kv"
	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

// jsonRecords reads cat --json output back into key/value pairs.
func jsonRecords(t *testing.T, out string) [][2]string {
	t.Helper()
	var recs [][2]string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("cat --json line %q: %v", line, err)
		}
		field := func(name string) string {
			if s, ok := m[name]; ok {
				return s
			}
			b, err := base64.StdEncoding.DecodeString(m[name+"_base64"])
			if err != nil {
				t.Fatalf("cat --json line %q: %v", line, err)
			}
			return string(b)
		}
		recs = append(recs, [2]string{field("key"), field("value")})
	}
	return recs
}

// Formats on the cluster: a .gz file is one shard and reads as its text; a
// file of fixed-size binary records is cut at record boundaries and every
// record is read once; a kv dataset chained through two jobs keeps its
// bytes; cat prints kv as escaped text or JSON, --head stops early; a job
// may not read a dataset as a format its shards were not cut for.
func TestClusterFormats(t *testing.T) {
	ns := cluster(t, 3)
	node := "http://" + ns[0].http
	dir := t.TempDir()
	_, paths, err := func() (string, []string, error) {
		p, err := jobtest.WriteCorpus(dir, 1, 200<<10, 0, 5)
		return dir, p, err
	}()
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := os.ReadFile(paths[0])
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	gzDir := t.TempDir()
	os.WriteFile(filepath.Join(gzDir, "book.txt.gz"), gz.Bytes(), 0o644)
	if r := wmr(t, "put", "--node", node, "--dataset", "gzbook", "--replicas", "2", "--block-size", "16KiB", gzDir); r.code != 0 {
		t.Fatalf("put .gz: %s", r.stderr)
	}
	// Nothing is replaced by accident: put over an existing dataset and
	// get into a directory that is not empty are refused unless asked.
	if r := wmr(t, "put", "--node", node, "--dataset", "gzbook", "--replicas", "1", gzDir); r.code != 1 || !strings.Contains(r.stderr, "dataset gzbook exists") || !strings.Contains(r.stderr, "--replace") {
		t.Fatalf("put over an existing dataset: exit %d %q", r.code, r.stderr)
	}
	if r := wmr(t, "put", "--node", node, "--dataset", "gzbook", "--replicas", "2", "--block-size", "16KiB", "--replace", gzDir); r.code != 0 {
		t.Fatalf("put --replace: %s", r.stderr)
	}
	getDir := t.TempDir()
	os.WriteFile(filepath.Join(getDir, "mine.txt"), []byte("keep"), 0o644)
	if r := wmr(t, "get", "--node", node, "gzbook", "--output", getDir); r.code != 1 || !strings.Contains(r.stderr, "not empty") || !strings.Contains(r.stderr, "--overwrite") {
		t.Fatalf("get into a directory that is not empty: exit %d %q", r.code, r.stderr)
	}
	if r := wmr(t, "get", "--node", node, "gzbook", "--output", getDir, "--overwrite"); r.code != 0 {
		t.Fatalf("get --overwrite: %s", r.stderr)
	}
	info, err := ns[1].client().Dataset(t.Context(), "gzbook")
	if err != nil || len(info.Shards) != 1 || info.Shards[0].Format != "gzip" {
		t.Fatalf("a .gz file is one gzip shard: %v %+v", err, info)
	}
	wc := testwasm.Path(t, "wordcount")
	if r := wmr(t, "submit", "--node", node, "--wasm", wc, "--input", "gzbook", "--output", "gzcounts", "--reducers", "2", "--wait"); r.code != 0 {
		t.Fatalf("word count of a .gz dataset: %s %s", r.stdout, r.stderr)
	}
	got, _ := catString(t, ns[2].client(), "gzcounts")
	if want := localRun(t, wc, paths[0], 2); got != want {
		t.Fatalf("the word count of the .gz dataset differs from wmr run's on the plain file (%d vs %d bytes)", len(got), len(want))
	}

	// Fixed-size binary records, with every byte value.
	rng := rand.New(rand.NewPCG(1, 2))
	const size, count = 37, 4000
	records := make([]byte, size*count)
	for i := range records {
		records[i] = byte(rng.IntN(256))
	}
	recDir := t.TempDir()
	os.WriteFile(filepath.Join(recDir, "records.bin"), records, 0o644)
	if r := wmr(t, "put", "--node", node, "--dataset", "records", "--block-size", "10KiB", "--input-format", "fixed:37", recDir); r.code != 0 {
		t.Fatalf("put fixed: %s", r.stderr)
	}
	info, _ = ns[0].client().Dataset(t.Context(), "records")
	for _, sh := range info.Shards {
		if sh.Size%size != 0 || sh.Format != "fixed:37" {
			t.Fatalf("shard %s of %d bytes, format %q: not cut at record boundaries", sh.ID, sh.Size, sh.Format)
		}
	}
	if len(info.Shards) < 10 {
		t.Fatalf("%d shards for %d bytes in 10 KiB blocks", len(info.Shards), len(records))
	}
	id := testwasm.Path(t, "testing/identity")
	if r := wmr(t, "submit", "--node", node, "--wasm", id, "--input", "records", "--output", "recs-kv", "--reducers", "3",
		"--param", "key=value", "--output-format", "kv", "--wait"); r.code != 0 {
		t.Fatalf("submit over fixed records: %s %s", r.stdout, r.stderr)
	}
	r := wmr(t, "cat", "--node", node, "--json", "recs-kv")
	if r.code != 0 {
		t.Fatalf("cat --json: %s", r.stderr)
	}
	var keys, want []string
	for _, kvp := range jsonRecords(t, r.stdout) {
		keys = append(keys, kvp[0])
	}
	for i := range count {
		want = append(want, string(records[i*size:(i+1)*size]))
	}
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("%d records came out of the fixed-record dataset, want %d, or they differ", len(keys), count)
	}

	// kv through two jobs, unchanged.
	var src bytes.Buffer
	w := kv.NewWriter(&src)
	for i := range 3000 {
		w.Add([]byte(fmt.Sprintf("k\t%05d\n", i)), []byte{byte(i), 0, '\n', byte(i >> 8)})
	}
	w.Close()
	kvDir := t.TempDir()
	os.WriteFile(filepath.Join(kvDir, "pairs.kv"), src.Bytes(), 0o644)
	if r := wmr(t, "put", "--node", node, "--dataset", "pairs", "--replicas", "2", "--block-size", "8KiB", kvDir); r.code != 0 {
		t.Fatalf("put kv: %s", r.stderr)
	}
	for i, in := range []string{"pairs", "pairs1"} {
		out := fmt.Sprintf("pairs%d", i+1)
		if r := wmr(t, "submit", "--node", "http://"+ns[i+1].http, "--wasm", id, "--input", in, "--output", out, "--reducers", "2",
			"--output-format", "kv", "--wait"); r.code != 0 {
			t.Fatalf("kv job %d: %s %s", i+1, r.stdout, r.stderr)
		}
	}
	one, two := wmr(t, "cat", "--node", node, "--json", "pairs1"), wmr(t, "cat", "--node", node, "--json", "pairs2")
	if one.code != 0 || two.code != 0 || one.stdout != two.stdout || len(jsonRecords(t, one.stdout)) != 3000 {
		t.Fatalf("kv chained through a second job changed: %s %s", one.stderr, two.stderr)
	}
	// Escaped text: the first two records of partition 0 (keys 1 and 3).
	head := wmr(t, "cat", "--node", node, "--head", "2", "pairs2")
	if want := "k\\t00001\\n\t\\x01\\x00\\n\\x00\nk\\t00003\\n\t\\x03\\x00\\n\\x00\n"; head.code != 0 || head.stdout != want {
		t.Fatalf("cat --head 2 of kv: exit %d %q, want %q (%s)", head.code, head.stdout, want, head.stderr)
	}
	// Bad input on the cluster names the user's file and the offset in it,
	// not a node's shard path.
	shortDir := t.TempDir()
	os.WriteFile(filepath.Join(shortDir, "short.bin"), make([]byte, 1050), 0o644)
	if r := wmr(t, "put", "--node", node, "--dataset", "short", "--block-size", "200", "--input-format", "fixed:100", shortDir); r.code != 0 {
		t.Fatalf("put short: %s", r.stderr)
	}
	r = wmr(t, "submit", "--node", node, "--wasm", id, "--input", "short", "--output", "short-out", "--wait")
	if r.code != 1 || !strings.Contains(r.stderr, "input short.bin ends inside a record: the record at byte 1000 has 50 of its 100 bytes") || strings.Contains(r.stderr, "shards/") {
		t.Fatalf("a truncated record on the cluster: exit %d: %s", r.code, r.stderr)
	}
	r = wmr(t, "submit", "--node", node, "--wasm", id, "--input", "gzbook", "--output", "x", "--input-format", "fixed:100")
	if r.code == 0 || !strings.Contains(r.stderr, "holds text records") || !strings.Contains(r.stderr, "--input-format fixed:100") {
		t.Fatalf("reading a text dataset as fixed records: exit %d: %s", r.code, r.stderr)
	}
}

// TeraGen, TeraSort and TeraValidate on 3 nodes: the generated dataset is
// fixed:100 records, the sort's output is in order and its checksum the
// input's, and the sorted bytes equal wmr run's.
func TestClusterTeraSort(t *testing.T) {
	ns := cluster(t, 3)
	node := "http://" + ns[0].http
	dir := t.TempDir()
	const rows = 30000
	var lines []string
	for i := range 6 {
		lines = append(lines, fmt.Sprintf("%d %d", i*rows/6, rows/6))
	}
	os.WriteFile(filepath.Join(dir, "ranges.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	if r := wmr(t, "put", "--node", node, "--dataset", "ranges", "--block-size", "16", dir); r.code != 0 {
		t.Fatalf("put ranges: %s", r.stderr)
	}
	steps := [][]string{
		{"--wasm", testwasm.Path(t, "teragen"), "--input", "ranges", "--output", "tera-in", "--reducers", "3", "--param", fmt.Sprintf("rows=%d", rows), "--output-format", "fixed:100", "--replicas", "2"},
		{"--wasm", testwasm.Path(t, "terasort"), "--input", "tera-in", "--output", "tera-out", "--reducers", "4", "--partitioner", "range", "--output-format", "fixed:100"},
		{"--wasm", testwasm.Path(t, "teravalidate"), "--input", "tera-in", "--output", "valid-in"},
		{"--wasm", testwasm.Path(t, "teravalidate"), "--input", "tera-out", "--output", "valid-out"},
	}
	for i, s := range steps {
		args := append([]string{"submit", "--node", "http://" + ns[i%3].http, "--wait"}, s...)
		if r := wmr(t, args...); r.code != 0 {
			t.Fatalf("step %d (%s): %s %s", i, filepath.Base(s[1]), r.stdout, r.stderr)
		}
	}
	before, _ := catString(t, ns[1].client(), "valid-in")
	after, _ := catString(t, ns[2].client(), "valid-out")
	sum := before[:strings.Index(before, "\n")]
	if !strings.HasPrefix(after, sum+"\n") || !strings.Contains(after, "order\tok\n") || !strings.Contains(after, fmt.Sprintf("records\t%d\n", rows)) {
		t.Fatalf("teravalidate on the cluster:\nbefore sorting:\n%s\nafter:\n%s", before, after)
	}
	sorted, err := catString(t, ns[0].client(), "tera-out")
	if err != nil || len(sorted) != rows*100 {
		t.Fatalf("cat of the sorted dataset: %d bytes, %v", len(sorted), err)
	}
	for i := 100; i < len(sorted); i += 100 {
		if sorted[i:i+10] < sorted[i-100:i-90] {
			t.Fatalf("the sorted dataset is out of order at record %d", i/100)
		}
	}
}
