package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// printFailover times a word count on a local 3-node cluster twice: as
// is, and with its coordinator SIGKILLed part-way through the map phase
// (the job is submitted to that node, and the waiting client follows it
// to the successor). It reports the time from the coordinator's death to
// the job's success: memberlist noticing the death, the successor taking
// the job over, and the work redone.
func printFailover(wmr, wasm, dir string, paths []string, want map[string]int64) int {
	fmt.Println("\ncoordinator failover: word count on a local 3-node cluster, its coordinator SIGKILLed mid-map:")
	ns, err := corpusCluster(wmr, wasm, dir, "failover", paths)
	defer stopCluster(ns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: failover cluster:", err)
		return 1
	}
	coordinator, reader := ns[1], ns[2]
	submit := func(output string) *exec.Cmd {
		return exec.Command(wmr, "submit", "--node", coordinator.http, "--wasm", wasm, "--input", "corpus", "--output", output,
			"--reducers", "4", "--wait", "-q")
	}
	check := func(output string) error {
		got, err := catCounts(wmr, reader, output)
		if err == nil && !equal(got, want) {
			err = fmt.Errorf("output %s differs from the native count", output)
		}
		return err
	}
	start := time.Now()
	if out, err := submit("base").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "wmr-bench: failover baseline: %v: %s\n", err, out)
		return 1
	}
	base := time.Since(start)
	if err := check("base"); err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: failover baseline:", err)
		return 1
	}
	// Kill at 40% of the baseline: the maps are under way, none of the
	// reduces has started.
	cmd := submit("after-failover")
	var out bytes.Buffer // one writer for both: exec writes it from one goroutine at a time
	cmd.Stdout, cmd.Stderr = &out, &out
	start = time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: failover submit:", err)
		return 1
	}
	time.Sleep(base * 4 / 10)
	coordinator.cmd.Process.Kill()
	coordinator.cmd.Wait()
	killed := time.Now()
	if err := cmd.Wait(); err != nil {
		fmt.Fprintf(os.Stderr, "wmr-bench: the job did not survive its coordinator: %v: %s\n", err, out.String())
		return 1
	}
	end := time.Now()
	if err := check("after-failover"); err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: after failover:", err)
		return 1
	}
	fmt.Printf("  no failure                         %v\n", base.Round(time.Millisecond))
	fmt.Printf("  coordinator killed at              %v\n", killed.Sub(start).Round(time.Millisecond))
	fmt.Printf("  death to the job's success         %v\n", end.Sub(killed).Round(time.Millisecond))
	fmt.Printf("  whole job with the failover        %v  (%.2fx)\n", end.Sub(start).Round(time.Millisecond), end.Sub(start).Seconds()/base.Seconds())
	return 0
}
