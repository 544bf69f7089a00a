package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tenantRun is one secure cluster with two tenants: alice runs word
// count, bob runs hostile modules.
type tenantRun struct {
	wmr    string
	ns     []*clusterNode
	ca     string
	tokens map[string]string
}

func (r *tenantRun) cli(tenant string, node int, args ...string) ([]byte, error) {
	return r.cliOn(tenant, r.ns[node], args...)
}

func (r *tenantRun) cliOn(tenant string, n *clusterNode, args ...string) ([]byte, error) {
	args = append(args, "--node", "https://"+n.http, "--token", r.tokens[tenant], "--ca", r.ca)
	cmd := exec.Command(r.wmr, args...)
	cmd.Env = append(os.Environ(), "WMR_CONFIG="+filepath.Join(filepath.Dir(r.ca), "no-config.json"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if st := cmd.ProcessState; st != nil {
		clientCPU.Add(int64(st.UserTime() + st.SystemTime()))
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("wmr %s: %v: %s", strings.Join(args[:2], " "), err, out.Bytes())
	}
	return out.Bytes(), nil
}

// clientCPU is the CPU time the bench's own wmr commands (the tenants'
// clients) used.
var clientCPU atomic.Int64

// startSecureCluster starts size nodes with secrets and a tenants file
// holding alice and bob (bob with tight per-task quotas, as an operator
// would give a tenant under suspicion).
func startSecureCluster(wmr, dir string, size int) (*tenantRun, error) {
	os.RemoveAll(dir)
	r := &tenantRun{wmr: wmr, ca: filepath.Join(dir, "ca", "ca.crt"), tokens: map[string]string{}}
	if err := os.MkdirAll(dir, 0o711); err != nil { // the nodes' worker user reaches their data directories through it
		return nil, err
	}
	if out, err := exec.Command(wmr, "ca", "init", filepath.Join(dir, "ca")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ca init: %v: %s", err, out)
	}
	tenants := filepath.Join(dir, "tenants.json")
	// bob also gets a small CPU weight and a memory quota, which the
	// nodes enforce with cgroups where the machine has them.
	bob := []string{"bob", "--task-time", "5s", "--task-memory", "64MiB", "--task-output", "64MiB", "--cpu-weight", "10", "--memory", "512MiB"}
	if bobCPUMax > 0 {
		bob = append(bob, "--cpu-max", strconv.FormatFloat(bobCPUMax, 'g', -1, 64))
	}
	for _, t := range [][]string{{"alice"}, bob} {
		out, err := exec.Command(wmr, append([]string{"tenants", "add", "--file", tenants, "--name", t[0]}, t[1:]...)...).Output()
		if err != nil {
			return nil, fmt.Errorf("tenants add: %v", err)
		}
		r.tokens[t[0]] = strings.TrimSpace(string(out))
	}
	extra := func(i int) ([]string, error) {
		secrets := filepath.Join(dir, fmt.Sprintf("n%d-secrets", i))
		if out, err := exec.Command(wmr, "ca", "issue", filepath.Join(dir, "ca"), "--name", fmt.Sprintf("n%d", i), "--host", "127.0.0.1", "--out", secrets).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ca issue: %v: %s", err, out)
		}
		args := []string{"--secrets", secrets, "--tenants", tenants}
		if os.Geteuid() == 0 { // as production runs: the tenants' modules in workers of an unprivileged user
			if _, err := user.Lookup("nobody"); err == nil {
				args = append(args, "--worker-user", "nobody")
			} else {
				args = append(args, "--allow-root-workers")
			}
		}
		return args, nil
	}
	ns, err := startCluster(wmr, dir, size, extra, func(n *clusterNode) error {
		_, err := r.cliOn("alice", n, "members")
		return err
	})
	r.ns = ns
	return r, err
}

// benchTenants times alice's word count on inputs alone, then again while
// lastTimeline says where alice's last job spent its time.
var lastTimeline string

// timeline reads a job's final status (submit --wait --json) and says
// when, after the client started, the job was created, its first and last
// attempt of each kind started and ended, and when it finished.
// verbose prints every run's timelines, not only a slow one's.
var verbose = flag.Bool("v", false, "print the timeline of every run of the tenant-isolation figure")

func timeline(status []byte, start time.Time) string {
	var st struct {
		Created  time.Time `json:"created"`
		Finished time.Time `json:"finished"`
		Attempts []struct {
			Kind  string    `json:"kind"`
			Node  string    `json:"node"`
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"attempts"`
	}
	if json.Unmarshal(status, &st) != nil {
		return ""
	}
	at := func(t time.Time) string { return t.Sub(start).Round(10 * time.Millisecond).String() }
	first, last := map[string]time.Time{}, map[string]time.Time{}
	for _, a := range st.Attempts {
		if f, ok := first[a.Kind]; !ok || a.Start.Before(f) {
			first[a.Kind] = a.Start
		}
		if a.End.After(last[a.Kind]) {
			last[a.Kind] = a.End
		}
	}
	out := "created " + at(st.Created)
	for _, k := range []string{"map", "reduce"} {
		if f, ok := first[k]; ok {
			out += fmt.Sprintf(", %ss %s-%s", k, at(f), at(last[k]))
		}
	}
	out += ", finished " + at(st.Finished)
	if *verbose {
		for _, a := range st.Attempts {
			out += fmt.Sprintf("\n      %s on %s %s-%s", a.Kind, a.Node, at(a.Start), at(a.End))
		}
	}
	return out
}

// hostileModules are the examples-wasm/hostile modules bob runs, in turn
// (-hostile narrows them down, to see which of them costs alice).
var hostileModules = "loop,membomb,flood,trap,malformed"

// bobCPUMax is tenant B's cpu_max in the tenant-isolation figure (0: no
// cap, its weight alone): the cap an operator gives a tenant it does not
// trust.
var bobCPUMax = 0.2

// bob keeps submitting hostile modules (two at a time), runs times each,
// on a secure 3-node cluster. It checks every output agrees and every
// hostile job failed.
func benchTenants(wmr, wasm, dir string, inputs []string, runs int) (pairs []tenantPair, hostileJobs int, err error) {
	r, err := startSecureCluster(wmr, filepath.Join(dir, "tenants"), 3)
	if r != nil {
		defer stopCluster(r.ns)
	}
	if err != nil {
		return nil, 0, err
	}
	if _, err := r.cli("alice", 0, append([]string{"put", "--dataset", "corpus", "--replicas", "2", "--block-size", "16MiB"}, inputs...)...); err != nil {
		return nil, 0, err
	}
	small := filepath.Join(dir, "tenants", "small.txt")
	os.WriteFile(small, bytes.Repeat([]byte("one two three four\n"), 2000), 0o644)
	if _, err := r.cli("bob", 1, "put", "--dataset", "in", "--replicas", "3", small); err != nil {
		return nil, 0, err
	}
	// Warm-up: every node compiles alice's module once.
	if _, err := r.cli("alice", 1, "submit", "--wasm", wasm, "--input", "corpus", "--output", "warm", "--reducers", "4", "--wait", "-q"); err != nil {
		return nil, 0, err
	}
	want, err := r.cli("alice", 0, "cat", "warm")
	if err != nil {
		return nil, 0, err
	}
	outputs := 0
	// cpu is what each tenant's workers used during alice's last job.
	var cpu struct{ alice, bob time.Duration }
	var started int             // workers alice's last job started
	var after map[string]string // alice's workers after her last job
	timeAlice := func() (time.Duration, error) {
		outputs++
		out := fmt.Sprintf("out-%d", outputs)
		alice0, bob0 := tenantCPU("alice"), tenantCPU("bob")
		workers0 := tenantWorkers("alice")
		if *verbose {
			for pid, node := range after {
				if _, ok := workers0[pid]; !ok {
					fmt.Printf("  (alice's idle worker %s on %s ended between her jobs)\n", pid, node)
				}
			}
		}
		start := time.Now()
		js, err := r.cli("alice", 1, "submit", "--wasm", wasm, "--input", "corpus", "--output", out, "--reducers", "4", "--wait", "--json")
		if err != nil {
			return 0, err
		}
		took := time.Since(start)
		cpu.alice, cpu.bob = tenantCPU("alice")-alice0, tenantCPU("bob")-bob0
		started, after = 0, tenantWorkers("alice")
		for pid, node := range after {
			if _, ok := workers0[pid]; !ok {
				started++
				if *verbose {
					fmt.Printf("  (alice's job started worker %s on %s)\n", pid, node)
				}
			}
		}
		lastTimeline = timeline(js, start)
		got, err := r.cli("alice", outputs%3, "cat", out)
		if err != nil || !bytes.Equal(got, want) {
			return 0, fmt.Errorf("alice's output %s differs from the first (%v)", out, err)
		}
		return took, nil
	}
	hostile := strings.Split(hostileModules, ",")
	var jobs, wrong atomic.Int64
	load := func() (stop func()) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		for stream := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := stream; ; i++ {
					select {
					case <-done:
						return
					default:
					}
					h := hostile[i%len(hostile)]
					out, err := r.cli("bob", i%3, "submit", "--wasm", filepath.Join(filepath.Dir(wasm), "hostile-"+h+"-go.wasm"),
						"--input", "in", "--output", fmt.Sprintf("o-%d-%d-%d", outputs, stream, i), "--wait", "-q")
					jobs.Add(1)
					if err == nil || !strings.Contains(string(out), "failed") {
						wrong.Add(1)
					}
				}
			}()
		}
		return func() { close(done); wg.Wait() }
	}
	for i := range runs {
		a, err := timeAlice()
		aloneCPU, aloneStarted := cpu.alice, started
		if err != nil {
			return nil, 0, err
		}
		aloneTimeline := lastTimeline
		stop := load()
		time.Sleep(2 * time.Second) // bob's load is under way
		l, err := timeAlice()
		if l > a*3/2 || *verbose {
			fmt.Printf("  (alone: %s)\n  (under load: %s)\n", aloneTimeline, lastTimeline)
		}
		stop()
		if err != nil {
			return nil, 0, err
		}
		pairs = append(pairs, tenantPair{alone: a, loaded: l, aloneCPU: aloneCPU, loadedCPU: cpu.alice, bobCPU: cpu.bob,
			aloneStarted: aloneStarted, loadedStarted: started})
		if i > 0 {
			pairs[i-1].aloneAfter = a
		}
	}
	// One more alone run, so that every loaded run has an alone run on
	// each side.
	a, err := timeAlice()
	if err != nil {
		return nil, 0, err
	}
	pairs[len(pairs)-1].aloneAfter = a
	if wrong.Load() > 0 {
		return nil, 0, fmt.Errorf("%d of bob's hostile jobs did not fail", wrong.Load())
	}
	return pairs, int(jobs.Load()), nil
}

// tenantPair is one alone/loaded pair of alice's jobs: wall times, and the
// CPU time the tenants' workers used during them (from their cgroups; 0
// where the bench cannot read them).
type tenantPair struct {
	alone, loaded               time.Duration
	aloneAfter                  time.Duration // the next alone run (the next pair's alone)
	aloneCPU, loadedCPU, bobCPU time.Duration
	// aloneStarted and loadedStarted count the worker processes alice's
	// jobs started (each loads her module: CPU an idle worker saves).
	aloneStarted, loadedStarted int
}

// tenantWorkers is tenant's worker processes on this machine's nodes
// now, from the cgroups the nodes set up: each one's node group (the
// node's name and pid).
func tenantWorkers(tenant string) map[string]string {
	pids := map[string]string{}
	files, _ := filepath.Glob("/sys/fs/cgroup/cpu*/wmr/t-" + tenant + "/*/cgroup.procs")
	v2, _ := filepath.Glob("/sys/fs/cgroup/wmr/t-" + tenant + "/*/cgroup.procs")
	for _, f := range append(files, v2...) {
		b, _ := os.ReadFile(f)
		for _, pid := range strings.Fields(string(b)) {
			pids[pid] = filepath.Base(filepath.Dir(f))
		}
	}
	return pids
}

// tenantCPU is the CPU time tenant's workers have used on this machine's
// nodes, from the cgroup accounting the nodes set up (cgroup v1 cpuacct or
// v2 cpu.stat, under a "wmr" group); 0 if there is none.
func tenantCPU(tenant string) time.Duration {
	var total time.Duration
	v1, _ := filepath.Glob("/sys/fs/cgroup/cpuacct*/wmr/t-" + tenant + "/cpuacct.usage")
	for _, f := range v1 {
		if b, err := os.ReadFile(f); err == nil {
			n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			total += time.Duration(n)
		}
	}
	if len(v1) > 0 {
		return total
	}
	v2, _ := filepath.Glob("/sys/fs/cgroup/wmr/t-" + tenant + "/cpu.stat")
	for _, f := range v2 {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				total += time.Duration(n) * time.Microsecond
			}
		}
	}
	return total
}
