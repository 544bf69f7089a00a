package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// slowCgroup is the cgroup v1 CPU group the straggler figure puts one
// node (and the workers it starts, which inherit it) into.
const slowCgroup = "/sys/fs/cgroup/cpu/wmr-bench-straggler"

// slowDown limits pid and its children to a tenth of one core: the node is
// about 10x slower than its peers (each of which may use up to a core).
func slowDown(pid int) (undo func(), err error) {
	if err := os.MkdirAll(slowCgroup, 0o755); err != nil {
		return nil, err
	}
	write := func(file, v string) error { return os.WriteFile(filepath.Join(slowCgroup, file), []byte(v), 0o644) }
	if err := write("cpu.cfs_period_us", "100000"); err != nil {
		return nil, err
	}
	if err := write("cpu.cfs_quota_us", "10000"); err != nil {
		return nil, err
	}
	pids := []int{pid}
	if out, err := exec.Command("pgrep", "-P", strconv.Itoa(pid)).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if p, err := strconv.Atoi(f); err == nil {
				pids = append(pids, p)
			}
		}
	}
	for _, p := range pids {
		if err := write("cgroup.procs", strconv.Itoa(p)); err != nil {
			return nil, err
		}
	}
	return func() { os.Remove(slowCgroup) }, nil
}

// printStraggler times a word count on a local 3-node cluster three ways:
// as is, with one node slowed 10x and backups off, and slowed with backups
// on (the default). Target: with backups at most 1.3x the unslowed time.
func printStraggler(wmr, wasm, dir string, paths []string, want map[string]int64) int {
	fmt.Println("\nstragglers: word count on a local 3-node cluster, one node slowed 10x by a cgroup CPU quota:")
	if _, err := os.Stat(filepath.Dir(slowCgroup)); err != nil {
		fmt.Println("  skipped: no cgroup v1 cpu controller here")
		return 0
	}
	ns, err := corpusCluster(wmr, wasm, dir, "straggler", paths)
	defer stopCluster(ns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: straggler cluster:", err)
		return 1
	}
	job := func(output string, extra ...string) (time.Duration, error) {
		start := time.Now()
		args := append([]string{"submit", "--node", ns[0].http, "--wasm", wasm, "--input", "corpus", "--output", output,
			"--reducers", "4", "--wait", "-q"}, extra...)
		if out, err := exec.Command(wmr, args...).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%v: %s", err, out)
		}
		wall := time.Since(start)
		got, err := catCounts(wmr, ns[1], output)
		if err == nil && !equal(got, want) {
			err = fmt.Errorf("output %s differs from the native count", output)
		}
		return wall, err
	}
	base, err := job("base")
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: straggler baseline:", err)
		return 1
	}
	undo, err := slowDown(ns[2].cmd.Process.Pid)
	if err != nil {
		fmt.Printf("  skipped: cannot use %s: %v\n", slowCgroup, err)
		return 0
	}
	defer undo()
	noBackups, err := job("slow-no-backups", "--backups=false")
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: straggler without backups:", err)
		return 1
	}
	withBackups, err := job("slow-backups")
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: straggler with backups:", err)
		return 1
	}
	fmt.Printf("  no slow node                  %v\n", base.Round(time.Millisecond))
	fmt.Printf("  n3 slowed 10x, no backups     %v  (%.2fx)\n", noBackups.Round(time.Millisecond), noBackups.Seconds()/base.Seconds())
	fmt.Printf("  n3 slowed 10x, backups        %v  (%.2fx; target <= 1.3x)\n", withBackups.Round(time.Millisecond), withBackups.Seconds()/base.Seconds())
	return 0
}
