package cgroups

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// On this machine (root, cgroup v1 writable): a tenant's group gets its
// weight and memory limit, a process placed in it is there in every
// hierarchy, its CPU time is accounted, and Close removes it all.
func TestRealHierarchy(t *testing.T) {
	m, err := Open(Options{Name: "unit"})
	if err != nil {
		t.Skipf("no writable cgroup here: %v", err)
	}
	t.Log(m)
	if err := m.Set("alice", Limits{CPUWeight: 300, Memory: 64 << 20, CPUMax: 1.5}); err != nil {
		t.Fatal(err)
	}
	spin := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	if err := spin.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Place("alice", spin.Process.Pid); err != nil {
		spin.Process.Kill()
		t.Fatal(err)
	}
	own, _ := os.ReadFile("/proc/" + strconv.Itoa(spin.Process.Pid) + "/cgroup")
	spin.Wait()
	if !strings.Contains(string(own), "/t-alice/"+m.leaf) {
		t.Errorf("the placed process's cgroups:\n%s", own)
	}
	if m.Version() == 1 {
		for file, want := range map[string]string{
			filepath.Join(m.base["cpu"], "t-alice", "cpu.shares"):                "3072",
			filepath.Join(m.base["cpu"], "t-alice", "cpu.cfs_period_us"):         "100000",
			filepath.Join(m.base["cpu"], "t-alice", "cpu.cfs_quota_us"):          "150000",
			filepath.Join(m.nodeDir("memory", "alice"), "memory.limit_in_bytes"): strconv.Itoa(64 << 20),
		} {
			if b, _ := os.ReadFile(file); strings.TrimSpace(string(b)) != want {
				t.Errorf("%s = %q, want %s", file, b, want)
			}
		}
	}
	if m.Version() == 1 {
		// A cap lifted is written as no quota.
		if err := m.Set("alice", Limits{CPUWeight: 300, Memory: 64 << 20}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(m.base["cpu"], "t-alice", "cpu.cfs_quota_us")); strings.TrimSpace(string(b)) != "-1" {
			t.Errorf("cpu.cfs_quota_us = %q after the cap was lifted, want -1", b)
		}
	}
	if cpu, ok := m.CPUTime("alice"); ok && cpu <= 0 {
		t.Errorf("alice's group accounted %v of CPU after a spin", cpu)
	}
	if n := m.OOMKills("alice"); n != 0 {
		t.Errorf("oom kills %d", n)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for c, base := range m.base {
		// The shared groups stay while another node (a test running in
		// parallel) has a group in them.
		work := m.nodeWorkDir(c, "alice")
		for _, d := range []string{m.nodeDir(c, "alice"), work, tenantDir(base, "alice"), filepath.Dir(work), base} {
			if _, err := os.Stat(d); !os.IsNotExist(err) && (d == m.nodeDir(c, "alice") || d == work || len(subdirs(d)) == 0) {
				t.Errorf("%s left after Close: %v", d, err)
			}
		}
	}
}

// Two nodes started from one cgroup (two nodes on one machine) share each
// tenant's group, where its CPU weight is, and each has its own group in
// it; the shared group goes when the last node's does.
func TestNodesShareTenantGroups(t *testing.T) {
	n1, err := Open(Options{Name: "share1"})
	if err != nil {
		t.Skipf("no writable cgroup here: %v", err)
	}
	defer n1.Close()
	n2, err := Open(Options{Name: "share2"})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	for _, m := range []*Manager{n1, n2} {
		if err := m.Set("carol", Limits{CPUWeight: 200, Memory: 32 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	c := "cpu"
	if n1.Version() == 2 {
		c = ""
	}
	shared := tenantDir(n1.base[c], "carol")
	if shared != tenantDir(n2.base[c], "carol") {
		t.Fatalf("the nodes' tenant groups differ: %s and %s", shared, tenantDir(n2.base[c], "carol"))
	}
	if got := subdirs(shared); !slices.Contains(got, n1.leaf) || !slices.Contains(got, n2.leaf) {
		t.Fatalf("%s holds %q, want both nodes' groups", shared, got)
	}
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(shared); err != nil {
		t.Fatalf("the tenant's group went with one node while the other used it: %v", err)
	}
	if _, err := os.Stat(n1.nodeDir(c, "carol")); !os.IsNotExist(err) {
		t.Fatalf("the closed node's group stayed: %v", err)
	}
	// The other node can still place work there, and make groups anew.
	if err := n2.Set("dave", Limits{}); err != nil {
		t.Fatal(err)
	}
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(shared); !os.IsNotExist(err) {
		t.Fatalf("the tenant's group stayed after both nodes closed: %v", err)
	}
}

// cgroup v2, on a fake tree: the node's group is made under its own
// cgroup with cpu and memory delegated, and a tenant's limits are
// written in v2's files; a v2 hierarchy without the controllers is
// refused with the reason, and v1 is used instead.
func TestV2FakeTree(t *testing.T) {
	root := t.TempDir()
	v2 := filepath.Join(root, "unified")
	self := filepath.Join(v2, "svc")
	os.MkdirAll(self, 0o755)
	os.WriteFile(filepath.Join(self, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644)
	mountinfo := filepath.Join(root, "mountinfo")
	os.WriteFile(mountinfo, []byte("30 1 0:26 / "+v2+" rw,nosuid - cgroup2 cgroup2 rw\n"), 0o644)
	selfFile := filepath.Join(root, "self")
	os.WriteFile(selfFile, []byte("0::/svc\n"), 0o644)

	m, err := Open(Options{Name: "n1", MountInfo: mountinfo, SelfCgroup: selfFile, PID: 4242})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 2 || m.base[""] != filepath.Join(self, "wmr") {
		t.Fatalf("opened %s", m)
	}
	if err := m.Set("bob", Limits{CPUWeight: 50, Memory: 1 << 30, CPUMax: 0.25}); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(m.base[""], "t-bob", "n1-4242")
	os.WriteFile(filepath.Join(node, "memory.events"), []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 0o644)
	os.WriteFile(filepath.Join(node, "cpu.stat"), []byte("usage_usec 1500000\nuser_usec 1000000\n"), 0o644)
	for file, want := range map[string]string{
		filepath.Join(self, "cgroup.subtree_control"):                "+cpu +memory",
		filepath.Join(m.base[""], "cgroup.subtree_control"):          "+cpu +memory",
		filepath.Join(m.base[""], "t-bob", "cgroup.subtree_control"): "+cpu +memory",
		filepath.Join(m.base[""], "t-bob", "cpu.weight"):             "50",
		filepath.Join(m.base[""], "t-bob", "cpu.max"):                "25000 100000",
		filepath.Join(m.base[""], "n-bob", "cpu.weight"):             "50",
		filepath.Join(m.base[""], "n-bob", "cgroup.subtree_control"): "+cpu +memory",
		filepath.Join(node, "memory.max"):                            strconv.Itoa(1 << 30),
		filepath.Join(node, "memory.swap.max"):                       "0",
	} {
		if b, _ := os.ReadFile(file); string(b) != want {
			t.Errorf("%s = %q, want %q", file, b, want)
		}
	}
	if err := m.Place("bob", 777); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(node, "cgroup.procs")); string(b) != "777" {
		t.Errorf("cgroup.procs = %q", b)
	}
	if n := m.OOMKills("bob"); n != 1 {
		t.Errorf("oom kills %d, want 1", n)
	}
	if cpu, ok := m.CPUTime("bob"); !ok || cpu != 1500*time.Millisecond {
		t.Errorf("cpu %v %v", cpu, ok)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.base[""]); !os.IsNotExist(err) {
		t.Errorf("%s left after Close: %v", m.base[""], err)
	}

	// Without the controllers delegated (as on our machines), v2 says so.
	os.WriteFile(filepath.Join(self, "cgroup.controllers"), []byte("pids\n"), 0o644)
	_, err = Open(Options{Name: "n1", MountInfo: mountinfo, SelfCgroup: selfFile, PID: 4242})
	if err == nil || !strings.Contains(err.Error(), "does not offer the cpu controller") || !strings.Contains(err.Error(), "v1: no cgroup v1 hierarchy") {
		t.Fatalf("got %v", err)
	}
}

func TestCPUQuota(t *testing.T) {
	for _, tc := range []struct {
		max  float64
		want int64
	}{{0, 0}, {-1, 0}, {0.25, 25000}, {1, 100000}, {2.5, 250000}, {0.001, 1000}, {0.333333, 33333}} {
		if got := (Limits{CPUMax: tc.max}).cpuQuota(); got != tc.want {
			t.Errorf("CPUMax %v: quota %d µs, want %d", tc.max, got, tc.want)
		}
	}
}

func TestShares(t *testing.T) {
	for w, want := range map[int]int{100: 1024, 200: 2048, 50: 512, 1: 10, 10000: 102400} {
		if got := Shares(w); got != want {
			t.Errorf("Shares(%d) = %d, want %d", w, got, want)
		}
	}
}

// A process the node starts for a tenant moves into n-TENANT in the cpu
// hierarchy (not the tenant's capped group, nor its memory group) and is
// accounted with the tenant.
func TestPlaceNodeWork(t *testing.T) {
	m, err := Open(Options{Name: "unit-work"})
	if err != nil {
		t.Skipf("no writable cgroup here: %v", err)
	}
	defer m.Close()
	if err := m.Set("bob", Limits{CPUWeight: 10, CPUMax: 0.5}); err != nil {
		t.Fatal(err)
	}
	if m.Version() == 1 {
		for file, want := range map[string]string{
			filepath.Join(m.base["cpu"], "n-bob", "cpu.shares"):       "102",
			filepath.Join(m.base["cpu"], "n-bob", "cpu.cfs_quota_us"): "-1",
		} {
			if b, _ := os.ReadFile(file); strings.TrimSpace(string(b)) != want {
				t.Errorf("%s = %q, want %s", file, b, want)
			}
		}
	}
	// It waits for its placement on stdin, then spins.
	spin := exec.Command("sh", "-c", "read x; i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	in, _ := spin.StdinPipe()
	if err := spin.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.PlaceNodeWork("bob", spin.Process.Pid); err != nil {
		spin.Process.Kill()
		t.Fatal(err)
	}
	own, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", spin.Process.Pid))
	in.Write([]byte("go\n"))
	in.Close()
	spin.Wait()
	for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") { // ID:CONTROLLERS:PATH
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		controllers := strings.Split(f[1], ",")
		inWork, inCapped := strings.HasSuffix(f[2], "/n-bob/"+m.leaf), strings.Contains(f[2], "/t-bob/")
		if inCapped || slices.Contains(controllers, "cpu") && !inWork || slices.Contains(controllers, "memory") && inWork {
			t.Errorf("the placed process's cgroup line %q", line)
		}
	}
	if cpu, ok := m.CPUTime("bob"); !ok || cpu <= 0 {
		t.Errorf("bob's groups accounted %v (%v) after the process's spin", cpu, ok)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// A node killed without closing its manager leaves its groups; the next
// node of the same name removes them when it starts, and the shared
// tenant group with them when nothing else uses it.
func TestStaleGroupsOfAKilledNode(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead, err := Open(Options{Name: "stale-unit", PID: gone.Process.Pid})
	if err != nil {
		t.Skipf("no writable cgroup here: %v", err)
	}
	if err := dead.Set("erin", Limits{}); err != nil {
		t.Fatal(err)
	}
	c := "cpu"
	if dead.Version() == 2 {
		c = ""
	}
	left := dead.nodeDir(c, "erin")
	if _, err := os.Stat(left); err != nil {
		t.Fatal(err)
	}
	next, err := Open(Options{Name: "stale-unit"})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("the killed node's group %s stayed: %v", left, err)
	}
	if d := tenantDir(next.base[c], "erin"); len(subdirs(d)) == 0 {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Fatalf("the unused tenant group %s stayed: %v", d, err)
		}
	}
}
