package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
	"github.com/wmr-dev/wmr/nodes"
)

// localRun runs the job with wmr run (default block size) and returns its
// output bytes.
func localRun(t *testing.T, module, input string, reducers int, params ...string) string {
	t.Helper()
	return runWith(t, nil, module, input, reducers, params...)
}

// countLines counts the lines of files (a last line without a newline too).
func countLines(paths []string) int {
	lines := 0
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		lines += bytes.Count(b, []byte("\n"))
		if len(b) > 0 && b[len(b)-1] != '\n' {
			lines++
		}
	}
	return lines
}

func parse(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if k, v, ok := strings.Cut(l, "\t"); ok {
			m[k] = v
		}
	}
	return m
}

func putCorpus(t *testing.T, n *testNode, name string, replicas int, files, size int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	paths, err := jobtest.WriteCorpus(dir, files, size, 0, 11)
	if err != nil {
		t.Fatal(err)
	}
	r := wmr(t, "put", "--node", "http://"+n.http, "--dataset", name, "--replicas", fmt.Sprint(replicas), "--block-size", "24KiB", dir)
	if r.code != 0 {
		t.Fatalf("put: %s", r.stderr)
	}
	return dir, paths
}

func TestClusterJobsMatchReferenceAndLocalRun(t *testing.T) {
	ns := cluster(t, 3)
	dir, paths := putCorpus(t, ns[0], "books", 2, 3, 60<<10)
	cases := []struct {
		example string
		params  []string
		want    func() (map[string]string, error)
	}{
		{"wordcount", nil, func() (map[string]string, error) { return jobtest.WordCount(paths) }},
		{"grep", []string{"pattern=[Tt]he|caf.|\\p{Greek}+"}, func() (map[string]string, error) { return jobtest.Grep(paths, "[Tt]he|caf.|\\p{Greek}+") }},
		{"indexer", nil, func() (map[string]string, error) { return jobtest.Index(paths) }},
	}
	for i, c := range cases {
		t.Run(c.example, func(t *testing.T) {
			out := fmt.Sprintf("out%d", i)
			args := []string{"submit", "--node", "http://" + ns[1].http, "--wasm", testwasm.Path(t, c.example),
				"--input", "books", "--output", out, "--reducers", "3", "--wait"}
			for _, p := range c.params {
				args = append(args, "--param", p)
			}
			if r := wmr(t, args...); r.code != 0 || !strings.Contains(r.stdout, "succeeded") {
				t.Fatalf("submit: exit %d: %s %s", r.code, r.stdout, r.stderr)
			}
			got, err := catString(t, ns[2].client(), out)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := c.want()
			if d := jobtest.Diff(parse(got), want); d != "" {
				t.Fatalf("cluster output differs from the reference:\n%s", d)
			}
			if local := localRun(t, testwasm.Path(t, c.example), dir, 3, c.params...); got != local {
				t.Fatalf("cluster output is not byte-identical to wmr run's (%d vs %d bytes)", len(got), len(local))
			}
		})
	}
	// Jobs chain: the output of one is the input of the next.
	r := wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", testwasm.Path(t, "grep"), "--input", "out0",
		"--output", "chained", "--param", `pattern=^the\b`, "--wait")
	if r.code != 0 {
		t.Fatalf("chained job: %s", r.stderr)
	}
	got, _ := catString(t, ns[1].client(), "chained")
	wc, _ := jobtest.WordCount(paths)
	if want := "the\t1\n"; got != want || wc["the"] == "" {
		t.Fatalf("chained output %q, want %q", got, want)
	}
	// Status shows every attempt, with locality, in JSON for scripts.
	js, err := ns[0].client().Jobs(context.Background())
	if err != nil || len(js) != 4 {
		t.Fatalf("jobs: %d, %v", len(js), err)
	}
	r = wmr(t, "status", js[0].ID, "--json", "--node", "http://"+ns[2].http)
	var st nodes.JobStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.State != "succeeded" || len(st.Attempts) < st.Maps+st.Reduces {
		t.Fatalf("status: %v %+v", err, st)
	}
	for _, a := range st.Attempts {
		if a.Kind == "map" && !a.Local {
			t.Fatalf("map attempt %s ran away from its data: %+v", a.Task, a)
		}
	}
}

// killDuring starts a slow job on ns[0] and SIGKILLs another node once it
// runs an attempt of the given kind; the job must still give the exact
// answer.
func killDuring(t *testing.T, kind string) {
	ns := cluster(t, 3)
	dir, paths := putCorpus(t, ns[0], "books", 2, 3, 40<<10)
	params := map[string]string{"spin": "300000", "reduce_spin": "1"}
	fanIn := 0
	switch kind {
	case "reduce":
		params = map[string]string{"spin": "1", "reduce_spin": "40000000"}
	case "combine": // a reduce tree of fan-in 2 over the shards, slow to combine
		params, fanIn = map[string]string{"spin": "1", "combine_spin": "2000000"}, 2
	}
	st, err := ns[0].client().Submit(context.Background(), nodes.SubmitOptions{Module: testwasm.Path(t, "testing/slowwords"),
		Input: "books", Output: "counts", Reducers: 3, Params: params, FanIn: fanIn})
	if err != nil {
		t.Fatal(err)
	}
	var victim *testNode
	waitFor(t, 60*time.Second, "a "+kind+" attempt running on a node other than the coordinator", func() error {
		s, err := ns[0].client().Job(context.Background(), st.ID)
		if err != nil {
			return err
		}
		if s.State != "running" {
			return fmt.Errorf("job already %s", s.State)
		}
		for _, a := range s.Attempts {
			if a.Kind == kind && a.Outcome == "running" && a.Node != ns[0].name {
				for _, n := range ns {
					if n.name == a.Node {
						victim = n
						return nil
					}
				}
			}
		}
		return fmt.Errorf("none yet")
	})
	victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	var final *nodes.JobStatus
	waitFor(t, 120*time.Second, "the job to finish", func() error {
		s, err := ns[0].client().Job(context.Background(), st.ID)
		if err == nil && s.State == "running" {
			err = fmt.Errorf("running: maps %d/%d reduces %d/%d", s.MapsDone, s.Maps, s.ReducesDone, s.Reduces)
		}
		final = s
		return err
	})
	if final.State != "succeeded" {
		t.Fatalf("job %s after losing %s: %s", final.State, victim.name, final.Error)
	}
	got, err := catString(t, ns[0].client(), "counts")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := jobtest.WordCount(paths)
	if d := jobtest.Diff(parse(got), want); d != "" {
		t.Fatalf("output after losing %s in the %s phase differs:\n%s", victim.name, kind, d)
	}
	// Determinism: byte-identical to a single-machine run, re-executions
	// and all.
	if local := localRun(t, testwasm.Path(t, "testing/slowwords"), dir, 3); got != local {
		t.Fatalf("output after a node loss is not byte-identical to wmr run's")
	}
	failed := 0
	for _, a := range final.Attempts {
		if a.Node == victim.name && (strings.HasPrefix(a.Outcome, "lost: node "+victim.name) || strings.HasPrefix(a.Outcome, "output lost")) {
			failed++
		}
	}
	if failed == 0 {
		t.Fatalf("status shows no attempt lost with %s", victim.name)
	}
	// Counters count committed work only: re-run maps and lost attempts
	// do not add to them.
	lines := countLines(paths)
	if final.Counters["lines"] != int64(lines) || final.Counters["keys"] != int64(len(want)) {
		t.Fatalf("counters %v after losing %s in the %s phase, want lines=%d keys=%d", final.Counters, victim.name, kind, lines, len(want))
	}
}

func TestClusterSurvivesNodeLossInMapPhase(t *testing.T)    { killDuring(t, "map") }
func TestClusterSurvivesNodeLossInReducePhase(t *testing.T) { killDuring(t, "reduce") }

// A node SIGKILLed while the reduce tree's combine tasks run: what it held
// runs again and the job gives the same bytes.
func TestClusterSurvivesNodeLossInReduceTree(t *testing.T) { killDuring(t, "combine") }

func TestClusterJobFailsWithoutLiveReplica(t *testing.T) {
	ns := cluster(t, 3)
	putCorpus(t, ns[0], "single", 1, 3, 40<<10)
	m, _ := ns[0].client().Dataset(context.Background(), "single")
	var victim *testNode
	for _, n := range ns[1:] {
		for _, s := range m.Shards {
			if s.Holders[0] == n.name {
				victim = n
			}
		}
	}
	victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	waitAlive(t, ns[0], 2)
	r := wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", testwasm.Path(t, "wordcount"), "--input", "single", "--output", "o", "--wait")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot run: none of the nodes holding its input ("+victim.name+") is alive") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// No partial output was published.
	if _, err := ns[0].client().Dataset(context.Background(), "o"); err == nil {
		t.Fatal("a failed job published its output dataset")
	}
}

// A node that joins while a job runs gets some of its tasks.
func TestClusterNodeJoiningMidJobGetsWork(t *testing.T) {
	ns := cluster(t, 2)
	_, paths := putCorpus(t, ns[0], "books", 2, 2, 30<<10)
	st, err := ns[0].client().Submit(context.Background(), nodes.SubmitOptions{Module: testwasm.Path(t, "testing/slowwords"),
		Input: "books", Output: "counts", Reducers: 8, Params: map[string]string{"spin": "200000", "reduce_spin": "5000000"}})
	if err != nil {
		t.Fatal(err)
	}
	// Hold the map phase until the new node is a member, so the reduce
	// phase has it to place work on whatever the machine's speed.
	waitRunningAttempt(t, ns, st.ID, "map", func(*testNode) bool { return true })
	thaw := freezeWorkers(ns...)
	late := startNode(t, "n3", "", ns[0].gossip)
	waitAlive(t, ns[0], 3)
	thaw()
	var final *nodes.JobStatus
	waitFor(t, 120*time.Second, "the job to finish", func() error {
		s, err := ns[0].client().Job(context.Background(), st.ID)
		if err == nil && s.State == "running" {
			err = fmt.Errorf("still running")
		}
		final = s
		return err
	})
	if final.State != "succeeded" {
		t.Fatalf("job %s: %s", final.State, final.Error)
	}
	ran := 0
	for _, a := range final.Attempts {
		if a.Node == late.name && a.Outcome == "succeeded" {
			ran++
		}
	}
	if ran == 0 {
		var seen []string
		for _, a := range final.Attempts {
			seen = append(seen, fmt.Sprintf("%s.a%d@%s %s", a.Task, a.Attempt, a.Node, a.Outcome))
		}
		t.Fatalf("the node that joined mid-job ran no task: %s", strings.Join(seen, "; "))
	}
	got, _ := catString(t, late.client(), "counts")
	want, _ := jobtest.WordCount(paths)
	if d := jobtest.Diff(parse(got), want); d != "" {
		t.Fatalf("output differs:\n%s", d)
	}
}

// If the coordinator dies, the live node with the lowest name among those
// that hold the job's record takes it over, reuses the map outputs that
// survived, and commits the output once; submit --wait, started against
// the node that died, follows the job and reports its success; status on
// any node tells the end, with exact counters.
func TestClusterCoordinatorDeathInMapPhase(t *testing.T)    { coordinatorDies(t, "map") }
func TestClusterCoordinatorDeathInReducePhase(t *testing.T) { coordinatorDies(t, "reduce") }

func coordinatorDies(t *testing.T, kind string) {
	ns := cluster(t, 3)
	dir, paths := putCorpus(t, ns[0], "books", 2, 3, 40<<10)
	coord := ns[1]
	params := []string{"--param", "spin=300000", "--param", "reduce_spin=1"}
	if kind == "reduce" {
		params = []string{"--param", "spin=1", "--param", "reduce_spin=40000000"}
	}
	// Reduce phase: 8 reduces on 6 slots, so the coordinator dies with
	// some reduces done (their outputs must be reused) and some running.
	reducers := 3
	if kind == "reduce" {
		reducers = 8
	}
	wait := startWmr(t, append([]string{"submit", "--node", "http://" + coord.http, "--wasm", testwasm.Path(t, "testing/slowwords"),
		"--input", "books", "--output", "counts", "--reducers", fmt.Sprint(reducers), "--wait"}, params...)...)
	var id string
	waitFor(t, 60*time.Second, "the job to start", func() error {
		js, err := ns[0].client().Jobs(context.Background())
		if err != nil || len(js) == 0 {
			return fmt.Errorf("no job yet (%v)", err)
		}
		id = js[0].ID
		return nil
	})
	waitRunningAttempt(t, ns, id, kind, func(*testNode) bool { return true })
	if kind == "reduce" {
		waitFor(t, 120*time.Second, "some reduces done and some running", func() error {
			s, err := ns[0].client().Job(context.Background(), id)
			if err != nil || s.ReducesDone < 2 || s.ReducesDone == s.Reduces {
				return fmt.Errorf("%v: reduces %d/%d", err, s.ReducesDone, s.Reduces)
			}
			return nil
		})
	}
	coord.cmd.Process.Signal(syscall.SIGKILL)
	<-coord.exited
	done := make(chan result, 1)
	go func() { done <- wait.wait(t) }()
	var r result
	select {
	case r = <-done:
	case <-time.After(180 * time.Second):
		wait.cmd.Process.Kill()
		t.Fatalf("submit --wait did not end after its coordinator died")
	}
	if r.code != 0 || !strings.Contains(r.stdout, "job "+id+" succeeded") {
		t.Fatalf("submit --wait after the coordinator died in the %s phase: exit %d: %s %s", kind, r.code, r.stdout, r.stderr)
	}
	got, err := catString(t, ns[2].client(), "counts")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := jobtest.WordCount(paths)
	if d := jobtest.Diff(parse(got), want); d != "" {
		t.Fatalf("output after a take-over differs:\n%s", d)
	}
	if local := localRun(t, testwasm.Path(t, "testing/slowwords"), dir, reducers); got != local {
		t.Fatalf("output after a take-over is not byte-identical to wmr run's")
	}
	for _, n := range []*testNode{ns[0], ns[2]} {
		st, err := n.client().Job(context.Background(), id)
		if err != nil || st.State != "succeeded" || st.Coordinator != ns[0].name {
			t.Fatalf("status via %s: %v %+v", n.name, err, st)
		}
		lines := countLines(paths)
		if st.Counters["lines"] != int64(lines) || st.Counters["keys"] != int64(len(want)) {
			t.Fatalf("counters %v after a take-over, want lines=%d keys=%d", st.Counters, lines, len(want))
		}
		if kind == "reduce" {
			reused := map[string]int{}
			for _, a := range st.Attempts {
				if strings.HasPrefix(a.Outcome, "succeeded (recovered from node") {
					reused[a.Kind]++
				}
			}
			if reused["map"] == 0 || reused["reduce"] == 0 {
				t.Fatalf("the successor re-ran every map or every reduce although outputs survived (reused %v): %+v", reused, st.Attempts)
			}
		}
	}
	// The job's end is kept: a node restarted later still knows it.
	r = wmr(t, "jobs", "--node", "http://"+ns[2].http)
	if r.code != 0 || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("jobs: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}

// A task that fails the same way on every attempt fails the job with the
// module's own message, and publishes nothing.
func TestClusterModuleErrorFailsJob(t *testing.T) {
	ns := cluster(t, 2)
	putCorpus(t, ns[0], "books", 1, 1, 10<<10)
	r := wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", testwasm.Path(t, "hostile/trap"), "--input", "books", "--output", "o", "--wait")
	if r.code != 1 || !strings.Contains(r.stderr, "failed on all 3 attempts") || !strings.Contains(r.stderr, "module hostile-trap-go.wasm trapped: wasm error: out of bounds memory access") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := ns[0].client().Dataset(context.Background(), "o"); err == nil {
		t.Fatal("a failed job published its output")
	}
}

// A total-order sort on the cluster: the coordinator samples the input on
// its holders, every map partitions by the same split points, and the
// output dataset read in shard order is the input sorted bytewise, equal
// to wmr run's.
func TestClusterRangeSort(t *testing.T) {
	ns := cluster(t, 3)
	dir := t.TempDir()
	var lines []string
	for i := range 6000 {
		lines = append(lines, fmt.Sprintf("%x line %d", (i*7919)%6007, i%17))
	}
	lines = append(lines, "", "", "dup", "dup")
	path := dir + "/lines.txt"
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := wmr(t, "put", "--node", "http://"+ns[0].http, "--dataset", "lines", "--replicas", "2", "--block-size", "16KiB", dir); r.code != 0 {
		t.Fatalf("put: %s", r.stderr)
	}
	for _, lang := range []string{"go", "rust"} {
		out := "sorted-" + lang
		r := wmr(t, "submit", "--node", "http://"+ns[1].http, "--wasm", testwasm.Lang(t, "sort", lang), "--input", "lines",
			"--output", out, "--reducers", "4", "--partitioner", "range", "--wait")
		if r.code != 0 || !strings.Contains(r.stdout, "succeeded") {
			t.Fatalf("submit: exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		got, err := catString(t, ns[2].client(), out)
		if err != nil {
			t.Fatal(err)
		}
		sorted := append([]string(nil), lines...)
		slices.Sort(sorted)
		if want := strings.Join(sorted, "\n") + "\n"; got != want {
			t.Fatalf("%s: the output read in order is not the sorted input (%d bytes, want %d)", lang, len(got), len(want))
		}
		if local := runWith(t, []string{"--partitioner", "range"}, testwasm.Lang(t, "sort", lang), dir, 4); local != got {
			t.Fatalf("%s: wmr run's sort differs from the cluster's", lang)
		}
	}
	r := wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", testwasm.Path(t, "sort"), "--input", "lines", "--output", "x", "--partitioner", "tree")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown partitioner "tree"`) {
		t.Fatalf("unknown partitioner: exit %d: %s", r.code, r.stderr)
	}
}

// wmr cancel, asked of a node that does not coordinate the job: the job
// ends "cancelled", its attempts stop, it publishes nothing, the output
// name is free again, and cancelling it again says it already ended.
func TestCancelJob(t *testing.T) {
	ns := cluster(t, 3)
	putCorpus(t, ns[0], "books", 2, 3, 60<<10)
	r := wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", testwasm.Path(t, "testing/slowwords"), "--input", "books",
		"--output", "slow", "--reducers", "2", "--param", "spin=20000000")
	if r.code != 0 {
		t.Fatalf("submit: %s", r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	deadline := time.Now().Add(30 * time.Second)
	for { // wait until attempts run
		st, err := ns[1].client().Job(context.Background(), id)
		if err == nil && st.Started > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt started: %+v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	watch := make(chan result, 1)
	go func() { watch <- wmr(t, "status", "--watch", "--node", "http://"+ns[1].http, id) }()
	start := time.Now()
	r = wmr(t, "cancel", "--node", "http://"+ns[2].http, id)
	if r.code != 0 || !strings.Contains(r.stdout, "cancelled") {
		t.Fatalf("cancel: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if w := <-watch; w.code != 1 || !strings.Contains(w.stdout, "cancelled") || !strings.Contains(w.stderr, "cancelled") {
		t.Fatalf("status --watch of the cancelled job: exit %d\n%s\n%s", w.code, w.stdout, w.stderr)
	}
	st, err := ns[1].client().Job(context.Background(), id)
	if err != nil || st.State != "cancelled" {
		t.Fatalf("status after cancel: %+v %v", st, err)
	}
	for _, a := range st.Attempts {
		if a.Outcome == "running" {
			t.Fatalf("attempt %s still running after the cancel", a.Task)
		}
	}
	if _, err := ns[0].client().Dataset(context.Background(), "slow"); err == nil {
		t.Fatal("a cancelled job published its output")
	}
	if r := wmr(t, "cancel", "--node", "http://"+ns[0].http, id); r.code != 1 || !strings.Contains(r.stderr, "already ended") {
		t.Fatalf("cancel again: exit %d %s", r.code, r.stderr)
	}
	if r := wmr(t, "submit", "--node", "http://"+ns[1].http, "--wasm", testwasm.Path(t, "wordcount"), "--input", "books", "--output", "slow", "--wait"); r.code != 0 {
		t.Fatalf("the output name of a cancelled job is not free: %s", r.stderr)
	}
}

// wmr logs prints the module's log lines of a cluster job with their
// attempt and node, all of them or one task's; wmr run writes them with
// --log-file.
func TestModuleLogs(t *testing.T) {
	ns := cluster(t, 2)
	dir, _ := putCorpus(t, ns[0], "books", 2, 2, 30<<10)
	finish := testwasm.Path(t, "testing/finish")
	r := wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", finish, "--input", "books", "--output", "lines", "--wait")
	if r.code != 0 {
		t.Fatalf("submit: %s", r.stderr)
	}
	js, _ := ns[1].client().Jobs(context.Background())
	if len(js) != 1 {
		t.Fatalf("%d jobs", len(js))
	}
	st, _ := ns[1].client().Job(context.Background(), js[0].ID)
	r = wmr(t, "logs", "--node", "http://"+ns[1].http, js[0].ID)
	if r.code != 0 || strings.Count(r.stdout, " info: map task m-") != st.Maps || !strings.Contains(r.stdout, "m-00000.a1 n") {
		t.Fatalf("wmr logs (%d maps): exit %d\n%s%s", st.Maps, r.code, r.stdout, r.stderr)
	}
	r = wmr(t, "logs", "--node", "http://"+ns[0].http, js[0].ID, "--task", "m-00001")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stdout, "map task m-00001 saw") {
		t.Fatalf("wmr logs --task m-00001: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The lines are kept with the job's record on every holder: another
	// node answers for them after the coordinator is gone.
	ns[0].kill()
	waitAlive(t, ns[1], 1)
	if r := wmr(t, "logs", "--node", "http://"+ns[1].http, js[0].ID); r.code != 0 || strings.Count(r.stdout, " info: map task m-") != st.Maps {
		t.Fatalf("wmr logs after the coordinator died: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	logFile := filepath.Join(t.TempDir(), "module.log")
	if r := wmr(t, "run", "-q", "--wasm", finish, "--input", dir, "--output", filepath.Join(t.TempDir(), "o"), "--log-file", logFile); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	if b, _ := os.ReadFile(logFile); !strings.Contains(string(b), "m-00000.a1 info: map task m-00000 saw") {
		t.Fatalf("--log-file holds %q", b)
	}
}

// On two nodes neither is a majority without the other: when the
// coordinator dies, the survivor does not take the job over (it could be
// the other side of a partition) and says why; when the coordinator comes
// back, it takes its own job up again and finishes it, exactly.
func TestClusterRestartedCoordinatorResumesItsJob(t *testing.T) {
	ns := cluster(t, 2)
	_, paths := putCorpus(t, ns[0], "books", 2, 3, 40<<10)
	coordinator, survivor := ns[1], ns[0]
	st, err := coordinator.client().Submit(context.Background(), nodes.SubmitOptions{Module: testwasm.Path(t, "testing/slowwords"),
		Input: "books", Output: "counts", Reducers: 2, Params: map[string]string{"spin": "300000"}})
	if err != nil {
		t.Fatal(err)
	}
	waitRunningAttempt(t, ns, st.ID, "map", func(*testNode) bool { return true })
	coordinator.cmd.Process.Signal(syscall.SIGKILL)
	<-coordinator.exited
	waitFor(t, 60*time.Second, "the survivor to report the job waiting", func() error {
		s, err := survivor.client().Job(context.Background(), st.ID)
		if err != nil || s.State != "running" || s.Phase != "waiting for a quorum" || s.Coordinator != coordinator.name ||
			!strings.Contains(s.Error, "only 1 of the job's 2 nodes are; a successor takes the job over once 2 are") {
			return fmt.Errorf("%v %+v", err, s)
		}
		return nil
	})
	if strings.Contains(survivor.log.String(), "took the job over") {
		t.Fatalf("the survivor took the job over without a quorum:\n%s", survivor.log.String())
	}
	startNodeAt(t, coordinator.name, coordinator.data, coordinator.http, coordinator.gossip, survivor.gossip)
	final := waitJobEnd(t, survivor, st.ID, 180*time.Second)
	if final.State != "succeeded" || final.Coordinator != coordinator.name {
		t.Fatalf("after the coordinator's restart: %s by %s: %s", final.State, final.Coordinator, final.Error)
	}
	got, _ := catString(t, survivor.client(), "counts")
	want, _ := jobtest.WordCount(paths)
	if d := jobtest.Diff(parse(got), want); d != "" {
		t.Fatalf("output differs:\n%s", d)
	}
	if lines := countLines(paths); final.Counters["lines"] != int64(lines) || final.Counters["keys"] != int64(len(want)) {
		t.Fatalf("counters %v, want lines=%d keys=%d", final.Counters, lines, len(want))
	}
}
