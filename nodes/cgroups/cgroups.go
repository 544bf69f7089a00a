package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultWeight is a tenant's CPU weight when the tenants file gives
// none; weights run from 1 to 10000 (cgroup v2's cpu.weight scale).
const DefaultWeight = 100

// Limits are what one tenant's group enforces.
type Limits struct {
	// CPUWeight shares CPU between tenants with runnable work in
	// proportion (0: DefaultWeight).
	CPUWeight int
	// Memory caps the sum of the tenant's workers' memory on this node
	// (0: no cap).
	Memory int64
	// CPUMax caps the tenant's CPU time, in CPUs (0.5: half of one CPU's
	// time), even when CPUs are idle (0: no cap). It is held on the
	// tenant's shared group, so it caps the tenant on the machine, over
	// every node started from the same cgroup.
	CPUMax float64
}

// cpuPeriod is the CFS bandwidth period CPUMax is given in: the kernel's
// default, 100 ms. A capped tenant runs at most its quota of each.
const cpuPeriod = 100 * time.Millisecond

// MinCPUMax is the smallest cap: the kernel refuses quotas under 1 ms.
const MinCPUMax = 0.01

// cpuQuota is CPUMax as microseconds of each cpuPeriod; 0 for no cap.
func (l Limits) cpuQuota() int64 {
	if l.CPUMax <= 0 {
		return 0
	}
	return max(int64(l.CPUMax*float64(cpuPeriod.Microseconds())+0.5), 1000)
}

// Options locate the kernel's files (tests point them at a fake tree).
type Options struct {
	// Name makes the node's groups NAME-PID (one per tenant).
	Name string
	// MountInfo and SelfCgroup default to /proc/self/mountinfo and
	// /proc/self/cgroup.
	MountInfo, SelfCgroup string
	// PID is the node's process id (default os.Getpid()).
	PID int
}

// Manager owns the node's groups. Safe for concurrent use.
//
// The groups are tenant first, node second: wmr/t-TENANT/NODE-PID under
// the node's own cgroup. Nodes started from the same cgroup (several on
// one machine) share wmr and each tenant's t-TENANT, which holds the
// tenant's CPU weight, so the machine's CPU is shared between tenants,
// not between nodes: with a group per node at the top, a node running
// only a low-weight tenant's work had as much CPU as a node running the
// others'. Each node's own NODE-PID holds its workers, its memory cap and
// its accounting.
type Manager struct {
	version int
	// v1: the shared wmr group in each hierarchy, by controller ("cpu",
	// "memory", "cpuacct"); v2: one directory, under "".
	base map[string]string
	leaf string // this node's group in each tenant's: NODE-PID
	mu   sync.Mutex
	set  map[string]Limits // tenant -> limits written
}

// Version is 1 or 2.
func (m *Manager) Version() int { return m.version }

// String says what is in use, for the node's log.
func (m *Manager) String() string {
	if m.version == 2 {
		return fmt.Sprintf("cgroup v2 (cpu, memory) at %s", m.base[""])
	}
	var parts []string
	for _, c := range []string{"cpu", "cpuacct", "memory"} {
		if d, ok := m.base[c]; ok {
			parts = append(parts, c+" at "+d)
		}
	}
	return "cgroup v1 (" + strings.Join(parts, ", ") + ")"
}

// Open detects a usable cgroup hierarchy and makes the node's group in
// it. The error of a machine that has none says what was tried.
func Open(o Options) (*Manager, error) {
	if o.MountInfo == "" {
		o.MountInfo = "/proc/self/mountinfo"
	}
	if o.SelfCgroup == "" {
		o.SelfCgroup = "/proc/self/cgroup"
	}
	if o.PID == 0 {
		o.PID = os.Getpid()
	}
	mounts, err := readMounts(o.MountInfo)
	if err != nil {
		return nil, err
	}
	self, err := readSelf(o.SelfCgroup)
	if err != nil {
		return nil, err
	}
	leaf := fmt.Sprintf("%s-%d", o.Name, o.PID)
	m2, err2 := openV2(mounts, self, o.Name)
	if err2 == nil {
		m2.leaf = leaf
		return m2, nil
	}
	m1, err1 := openV1(mounts, self, o.Name)
	if err1 == nil {
		m1.leaf = leaf
		return m1, nil
	}
	return nil, fmt.Errorf("no usable cgroup hierarchy: v2: %v; v1: %v", err2, err1)
}

// mount is one cgroup filesystem.
type mount struct {
	dir     string
	root    string // the part of the hierarchy mounted at dir
	v2      bool
	options map[string]bool // v1: its controllers
}

func readMounts(path string) ([]mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 {
			continue
		}
		switch b[0] {
		case "cgroup2":
			out = append(out, mount{dir: a[4], root: a[3], v2: true})
		case "cgroup":
			opts := map[string]bool{}
			for _, o := range strings.Split(b[2], ",") {
				opts[o] = true
			}
			out = append(out, mount{dir: a[4], root: a[3], options: opts})
		}
	}
	return out, sc.Err()
}

// readSelf reads the process's cgroup in each hierarchy: by controller
// for v1, under "" for v2.
func readSelf(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

// under is the directory of cgroup path p in mount m.
func (m mount) under(p string) string {
	rel, err := filepath.Rel(m.root, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = "." // the process's group is outside what is mounted: use the mount's top
	}
	return filepath.Join(m.dir, rel)
}

// sharedGroup is the group under a node's own cgroup that every node
// started from that cgroup shares.
const sharedGroup = "wmr"

func openV2(mounts []mount, self map[string]string, node string) (*Manager, error) {
	var mt *mount
	for i := range mounts {
		if mounts[i].v2 {
			mt = &mounts[i]
			break
		}
	}
	if mt == nil {
		return nil, errors.New("no cgroup2 filesystem is mounted")
	}
	parent := mt.under(self[""])
	b, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	have := strings.Fields(string(b))
	for _, c := range []string{"cpu", "memory"} {
		if !contains(have, c) {
			return nil, fmt.Errorf("%s does not offer the %s controller (it has: %q)", parent, c, strings.Join(have, " "))
		}
	}
	if err := write(filepath.Join(parent, "cgroup.subtree_control"), "+cpu +memory"); err != nil {
		return nil, fmt.Errorf("%s cannot hand cpu and memory to its children (a cgroup that holds processes cannot): %w", parent, err)
	}
	cleanStale(parent, node)
	dir := filepath.Join(parent, sharedGroup)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if err := write(filepath.Join(dir, "cgroup.subtree_control"), "+cpu +memory"); err != nil {
		removeShared(dir)
		return nil, err
	}
	return &Manager{version: 2, base: map[string]string{"": dir}, set: map[string]Limits{}}, nil
}

func openV1(mounts []mount, self map[string]string, node string) (*Manager, error) {
	base := map[string]string{}
	for _, c := range []string{"cpu", "memory", "cpuacct"} {
		for _, mt := range mounts {
			if mt.v2 || !mt.options[c] {
				continue
			}
			parent := mt.under(self[c])
			cleanStale(parent, node)
			dir := filepath.Join(parent, sharedGroup)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				if c == "cpuacct" {
					break // accounting only: go on without it
				}
				removeAll(base)
				return nil, fmt.Errorf("%s hierarchy at %s is not writable: %w", c, parent, err)
			}
			base[c] = dir
			break
		}
	}
	for _, c := range []string{"cpu", "memory"} {
		if base[c] == "" {
			removeAll(base)
			return nil, fmt.Errorf("no cgroup v1 hierarchy with the %s controller is mounted", c)
		}
	}
	return &Manager{version: 1, base: base, set: map[string]Limits{}}, nil
}

// cleanStale removes the groups of nodes of the same name whose process
// is gone (a node killed without closing its manager), when empty, and
// then the tenants' shared groups that nothing uses any more. It also
// removes groups of the earlier layout, wmr-NODE-PID/t-TENANT.
func cleanStale(parent, node string) {
	prefix := node + "-"
	stale := func(name string) bool {
		pid, err := strconv.Atoi(strings.TrimPrefix(name, prefix))
		return strings.HasPrefix(name, prefix) && err == nil && !alive(pid)
	}
	shared := filepath.Join(parent, sharedGroup)
	for _, t := range subdirs(shared) {
		for _, leaf := range subdirs(filepath.Join(shared, t)) {
			if stale(leaf) {
				syscall.Rmdir(filepath.Join(shared, t, leaf))
			}
		}
		removeShared(filepath.Join(shared, t))
	}
	for _, old := range subdirs(parent) {
		if !strings.HasPrefix(old, "wmr-") || !stale(strings.TrimPrefix(old, "wmr-")) {
			continue
		}
		for _, t := range subdirs(filepath.Join(parent, old)) {
			syscall.Rmdir(filepath.Join(parent, old, t))
		}
		syscall.Rmdir(filepath.Join(parent, old))
	}
}

// subdirs lists the directories in dir.
func subdirs(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// removeShared removes a group other nodes may still use: only when it
// has no groups in it (the kernel refuses otherwise; on a fake tree, the
// test's, it is checked here).
func removeShared(dir string) {
	if isCgroupFS(dir) {
		syscall.Rmdir(dir)
		return
	}
	if len(subdirs(dir)) == 0 {
		os.RemoveAll(dir)
	}
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func removeAll(base map[string]string) {
	for _, d := range base {
		syscall.Rmdir(d)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// write writes a control file: one write call, as the kernel wants.
func write(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// tenantDir is the directory of tenant's group in a hierarchy, shared by
// the nodes started from one cgroup: it holds the tenant's CPU weight.
func tenantDir(base, tenant string) string { return filepath.Join(base, "t-"+tenant) }

// nodeDir is the directory of this node's group in tenant's: the
// tenant's workers on this node, their memory cap and accounting.
func (m *Manager) nodeDir(controller, tenant string) string {
	return filepath.Join(tenantDir(m.base[controller], tenant), m.leaf)
}

// nodeWorkDir is the group of the processes this node starts to work for
// tenant (see PlaceNodeWork): under n-TENANT, a sibling of the tenant's
// group with its weight and never its cap.
func (m *Manager) nodeWorkDir(controller, tenant string) string {
	return filepath.Join(m.base[controller], "n-"+tenant, m.leaf)
}

// Set makes tenant's group if needed and writes its limits when they
// changed.
func (m *Manager) Set(tenant string, l Limits) error {
	if l.CPUWeight <= 0 {
		l.CPUWeight = DefaultWeight
	}
	l.CPUWeight = min(l.CPUWeight, 10000)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.set[tenant]; ok && old == l {
		return nil
	}
	// Another node may remove the tenant's shared group when its own last
	// group in it goes, between our making it and our group in it: try
	// again then.
	var err error
	for try := 0; try < 3; try++ {
		if err = m.makeGroups(tenant, l); err == nil || !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("set tenant %s's cgroup limits: %w", tenant, err)
	}
	m.set[tenant] = l
	return nil
}

// makeGroups makes tenant's shared group and this node's in it, and
// writes their limits: the CPU weight and cap on the shared one, the
// memory cap on the node's.
func (m *Manager) makeGroups(tenant string, l Limits) error {
	for c, base := range m.base {
		for _, dir := range []string{tenantDir(base, tenant), m.nodeDir(c, tenant)} {
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("make tenant %s's cgroup: %w", tenant, err)
			}
			if m.version == 2 && dir == tenantDir(base, tenant) {
				if err := write(filepath.Join(dir, "cgroup.subtree_control"), "+cpu +memory"); err != nil {
					return err
				}
			}
		}
	}
	if m.version == 2 {
		work := m.nodeWorkDir("", tenant)
		for _, d := range []string{filepath.Dir(work), work} {
			if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("make tenant %s's cgroup for the node's work: %w", tenant, err)
			}
		}
		if err := write(filepath.Join(filepath.Dir(work), "cgroup.subtree_control"), "+cpu +memory"); err != nil {
			return err
		}
		mem := "max"
		if l.Memory > 0 {
			mem = strconv.FormatInt(l.Memory, 10)
		}
		cpuMax := "max"
		if q := l.cpuQuota(); q > 0 {
			cpuMax = strconv.FormatInt(q, 10)
		}
		node := m.nodeDir("", tenant)
		shared := tenantDir(m.base[""], tenant)
		return errors.Join(write(filepath.Join(shared, "cpu.weight"), strconv.Itoa(l.CPUWeight)),
			write(filepath.Join(filepath.Dir(work), "cpu.weight"), strconv.Itoa(l.CPUWeight)),
			write(filepath.Join(shared, "cpu.max"), cpuMax+" "+strconv.FormatInt(cpuPeriod.Microseconds(), 10)),
			write(filepath.Join(node, "memory.max"), mem),
			write(filepath.Join(node, "memory.swap.max"), "0"))
	}
	mem := "-1"
	if l.Memory > 0 {
		mem = strconv.FormatInt(l.Memory, 10)
	}
	// The node's work for the tenant: its weight, no cap.
	for _, c := range []string{"cpu", "cpuacct"} {
		if m.base[c] == "" {
			continue
		}
		dir := m.nodeWorkDir(c, tenant)
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("make tenant %s's cgroup for the node's work: %w", tenant, err)
			}
		}
	}
	quota := "-1"
	if q := l.cpuQuota(); q > 0 {
		quota = strconv.FormatInt(q, 10)
	}
	shared := tenantDir(m.base["cpu"], tenant)
	return errors.Join(write(filepath.Join(shared, "cpu.shares"), strconv.Itoa(Shares(l.CPUWeight))),
		write(filepath.Join(filepath.Dir(m.nodeWorkDir("cpu", tenant)), "cpu.shares"), strconv.Itoa(Shares(l.CPUWeight))),
		// The period first: the kernel checks a quota against it.
		write(filepath.Join(shared, "cpu.cfs_period_us"), strconv.FormatInt(cpuPeriod.Microseconds(), 10)),
		write(filepath.Join(shared, "cpu.cfs_quota_us"), quota),
		write(filepath.Join(m.nodeDir("memory", tenant), "memory.limit_in_bytes"), mem))
}

// Shares is cgroup v1's cpu.shares for a v2-scale weight (100 -> 1024).
func Shares(weight int) int { return max(2, weight*1024/DefaultWeight) }

// Place moves process pid into tenant's group (Set must have made it).
func (m *Manager) Place(tenant string, pid int) error {
	for _, c := range m.controllers() {
		if err := write(filepath.Join(m.nodeDir(c, tenant), "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("move worker %d into tenant %s's cgroup: %w", pid, tenant, err)
		}
	}
	return nil
}

// PlaceNodeWork moves process pid, one the node starts to do work for
// tenant (compiling its module), into n-TENANT: the tenant's weight and
// never its cap (CPUMax), accounted with its workers. Not the tenant's own
// group: the work is the node's, and what it costs is the tenant's, but a
// cap would stretch it without bound (a Go module's compile, 1.7 s, timed
// out at 20 s under a cap of 0.05). In cgroup v1 the memory stays the
// node's (a module's compile is bounded by the module size quota, not by
// the tenant's workers' memory). Set must have made the group.
func (m *Manager) PlaceNodeWork(tenant string, pid int) error {
	controllers := []string{""}
	if m.version == 1 {
		controllers = []string{"cpu", "cpuacct"}
	}
	for _, c := range controllers {
		if m.base[c] == "" {
			continue
		}
		if err := write(filepath.Join(m.nodeWorkDir(c, tenant), "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("move process %d into tenant %s's cgroup for the node's work: %w", pid, tenant, err)
		}
	}
	return nil
}

// controllers lists the hierarchies in a fixed order.
func (m *Manager) controllers() []string {
	if m.version == 2 {
		return []string{""}
	}
	out := []string{"cpu", "memory"}
	if m.base["cpuacct"] != "" {
		out = append(out, "cpuacct")
	}
	return out
}

// OOMKills counts the processes tenant's memory limit has killed.
func (m *Manager) OOMKills(tenant string) int64 {
	var path string
	if m.version == 2 {
		path = filepath.Join(m.nodeDir("", tenant), "memory.events")
	} else {
		path = filepath.Join(m.nodeDir("memory", tenant), "memory.oom_control")
	}
	return readKey(path, "oom_kill")
}

// Tenants lists the tenants that have a group, in order.
func (m *Manager) Tenants() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.set))
	for t := range m.set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Limits returns what Set last wrote for tenant.
func (m *Manager) Limits(tenant string) (Limits, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.set[tenant]
	return l, ok
}

// CPUTime is the CPU time tenant's workers, and this node's threads
// working for it, have used on this node; false where the hierarchy does
// not account it (v1 without cpuacct).
func (m *Manager) CPUTime(tenant string) (time.Duration, bool) {
	if m.version == 2 {
		us := readKey(filepath.Join(m.nodeDir("", tenant), "cpu.stat"), "usage_usec")
		if us < 0 {
			return 0, false
		}
		if work := readKey(filepath.Join(m.nodeWorkDir("", tenant), "cpu.stat"), "usage_usec"); work > 0 {
			us += work
		}
		return time.Duration(us) * time.Microsecond, true
	}
	if m.base["cpuacct"] == "" {
		return 0, false
	}
	var total time.Duration
	for i, dir := range []string{m.nodeDir("cpuacct", tenant), m.nodeWorkDir("cpuacct", tenant)} {
		b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
		if err != nil {
			if i == 0 {
				return 0, false
			}
			continue
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, false
		}
		total += time.Duration(ns)
	}
	return total, true
}

// readKey reads "KEY N" from a flat-keyed control file; -1 if absent.
func readKey(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// Close removes the node's groups, then the shared ones no other node
// uses; a group still holding a process (a worker that has not exited
// yet) stays, and the next node of the same name removes it.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, base := range m.base {
		for _, t := range subdirs(base) {
			if !strings.HasPrefix(t, "t-") && !strings.HasPrefix(t, "n-") {
				continue
			}
			if err := rmdirWait(filepath.Join(base, t, m.leaf)); err != nil {
				errs = append(errs, err)
			}
			removeShared(filepath.Join(base, t))
		}
		removeShared(base)
	}
	return errors.Join(errs...)
}

// rmdirWait removes a cgroup, waiting briefly for exiting processes to
// leave it; a plain directory (a test's fake tree) is emptied first.
func rmdirWait(dir string) error {
	var err error
	for i := 0; i < 20; i++ {
		if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if errors.Is(err, syscall.ENOTEMPTY) && !isCgroupFS(dir) {
			return os.RemoveAll(dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}

// isCgroupFS says whether dir is on a cgroup filesystem.
func isCgroupFS(dir string) bool {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return false
	}
	const cgroupMagic, cgroup2Magic = 0x27e0eb, 0x63677270
	return st.Type == cgroupMagic || st.Type == cgroup2Magic
}
