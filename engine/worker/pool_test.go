package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elastic/go-seccomp-bpf/arch"

	"github.com/wmr-dev/wmr/engine/task"
	"github.com/wmr-dev/wmr/engine/wasmhost"
	"github.com/wmr-dev/wmr/internal/testwasm"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if IsWorker() {
		os.Exit(Main())
	}
	if os.Getenv(envPoolParent) != "" {
		poolParent()
	}
	os.Exit(m.Run())
}

// envPoolParent makes the test binary a process that runs the task spec
// in the variable (JSON) in a worker, prints the worker's pid and waits to
// be killed.
const envPoolParent = "WMR_TEST_POOL_PARENT"

func poolParent() {
	var spec task.Spec
	p, err := NewPool(PoolConfig{})
	if err == nil {
		err = json.Unmarshal([]byte(os.Getenv(envPoolParent)), &spec)
	}
	if err == nil {
		err = p.Warm("", 1)
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	pid := p.idle[0].cmd.Process.Pid
	go p.Run(context.Background(), &spec, 0, nil)
	fmt.Println(pid)
	select {}
}

// running reports whether process pid exists and is not a zombie (an
// orphan's zombie waits for whatever reaps orphans here).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// Workers die with the process that started them, even one busy in a
// module that never returns, when that process is killed with SIGKILL
// (Pdeathsig), though they are started from a thread of their own.
func TestWorkersDieWithTheirParent(t *testing.T) {
	input := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(input, []byte("a b a\n"), 0o644)
	spec, err := json.Marshal(mapSpec(t, "hostile/loop", input))
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), envPoolParent+"="+string(spec))
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		parent.Process.Kill()
		t.Fatalf("the parent said %q (%v)", line, err)
	}
	time.Sleep(300 * time.Millisecond) // the worker is in the module's loop
	parent.Process.Kill()
	parent.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("worker %d still runs 5 s after its parent was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mapSpec(t *testing.T, example, input string) *task.Spec {
	t.Helper()
	wasm, err := os.ReadFile(testwasm.Path(t, example))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &task.Spec{JobID: "j", TaskID: "m-00000", Kind: task.KindMap, Attempt: 1,
		ModulePath: testwasm.Path(t, example), ModuleName: filepath.Base(testwasm.Path(t, example)), ModuleHash: wasmhost.HashBytes(wasm),
		Partitions: 1, MemoryLimitBytes: 64 << 20, InputPath: input, InputName: filepath.Base(input),
		SplitLength: 1 << 20, WorkDir: dir, OutputPath: filepath.Join(dir, "out"), CacheDir: filepath.Join(dir, "cache")}
}

// newTestPool returns a pool closed at the test's end, and a small text
// input.
func newTestPool(t *testing.T) (*Pool, string) {
	t.Helper()
	input := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(input, []byte("a b a\n"), 0o644)
	p, err := NewPool(PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, input
}

// A worker killed from outside is a failed attempt that says so; the pool
// keeps working with a fresh process.
func TestWorkerKilledFromOutsideIsAFailedAttempt(t *testing.T) {
	p, input := newTestPool(t)

	done := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), mapSpec(t, "hostile/loop", input), time.Minute, nil)
		done <- err
	}()
	// Wait for the worker to exist, then kill it as the OOM killer would.
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		var victim *proc
		for pr := range p.all {
			victim = pr
		}
		p.mu.Unlock()
		if victim != nil {
			time.Sleep(200 * time.Millisecond) // let it start the task
			victim.cmd.Process.Kill()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no worker started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	err := <-done
	// Killed by a signal the pool did not send: the machine's doing, which
	// the job core does not charge to the task.
	if !errors.Is(err, ErrWorkerKilled) || errors.Is(err, ErrWorkerCrashed) || !strings.Contains(err.Error(), "signal killed") {
		t.Fatalf("got %v, want a kill from outside that mentions the signal", err)
	}

	res, err := p.Run(context.Background(), mapSpec(t, "wordcount", input), time.Minute, nil)
	if err != nil {
		t.Fatalf("the pool did not recover: %v", err)
	}
	// "a b a": two pairs reach the host (a=2, b=1: combined in the module).
	if res.Stats.RecordsIn != 1 || res.Stats.RecordsOut != 2 {
		t.Fatalf("stats %+v", res.Stats)
	}
	// The pool counts both processes and why the first one ended; the
	// second is idle, kept for the next task.
	if st := p.Stats(); st.Started != 2 || st.Live != 1 || st.Idle != 1 || st.Ended[EndKilled] != 1 || len(st.Ended) != 1 {
		t.Fatalf("pool stats %+v, want 2 started, 1 live and idle, 1 killed", st)
	}
}

func TestTimeLimitKillsWorker(t *testing.T) {
	input := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(input, []byte("x\n"), 0o644)
	p, err := NewPool(PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Run(context.Background(), mapSpec(t, "hostile/loop", input), 2*time.Second, nil)
	if !errors.Is(err, ErrTimeLimit) {
		t.Fatalf("got %v", err)
	}
	p.mu.Lock()
	n := len(p.all)
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d workers left after the kill", n)
	}
	if st := p.Stats(); st.Started != 1 || st.Live != 0 || st.Ended[EndTimeLimit] != 1 {
		t.Fatalf("pool stats %+v, want 1 started and ended at its time limit", st)
	}
}

// A worker that dies of memory exhaustion (its RLIMIT_DATA) is reported as
// exactly that, with its limit, even when a register and stack dump
// follows the runtime's last words; another crash names its cause.
func TestWorkerCrashNamesItsCause(t *testing.T) {
	dump := `for i in $(seq 300); do echo "r$i 0x00007fe136d5e8c0 0x0000000000000000" >&2; done`
	for _, c := range []struct {
		script, want string
		is           error
	}{
		{`cat >/dev/null & echo "runtime/cgo: pthread_create failed: Resource temporarily unavailable" >&2; echo SIGABRT: abort >&2; ` + dump + `; exit 2`,
			"more than the worker's limit of 1536 MiB", ErrWorkerOutOfMemory},
		{`cat >/dev/null & echo "fatal error: runtime: out of memory" >&2; ` + dump + `; exit 2`, "runtime: out of memory", ErrWorkerOutOfMemory},
		{`cat >/dev/null & echo "fatal error: concurrent map writes" >&2; ` + dump + `; exit 2`, "fatal error: concurrent map writes", ErrWorkerCrashed},
	} {
		p, err := NewPool(PoolConfig{Command: []string{"sh", "-c", c.script}, DataLimit: 1536 << 20})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Run(context.Background(), &task.Spec{JobID: "j", TaskID: "m-00000", Kind: task.KindMap}, time.Minute, nil)
		p.Close()
		reason := EndCrashed
		if c.is == ErrWorkerOutOfMemory {
			reason = EndOutOfMemory
		}
		if st := p.Stats(); st.Ended[reason] != 1 || len(st.Ended) != 1 {
			t.Errorf("pool stats %+v, want one worker ended as %s", st, reason)
		}
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "0x00007fe1") {
			t.Errorf("got %v; want %v saying %q and no register dump", err, c.is, c.want)
		}
	}
}

// An error that wraps several kinds crosses the wire as the most telling,
// every time (the parent classifies by it).
func TestTaskErrorKindOrder(t *testing.T) {
	if len(kindOrder) != len(kinds) {
		t.Fatalf("kindOrder has %d kinds, kinds %d", len(kindOrder), len(kinds))
	}
	err := fmt.Errorf("%w: %w", wasmhost.ErrMalformedOutput, task.ErrUnwritable)
	for range 20 {
		if te := newTaskError(err); te.Kind != "unwritable" {
			t.Fatalf("kind %q, want unwritable", te.Kind)
		}
	}
}

// A worker that makes a system call outside its seccomp allowlist (the
// test hook tries to open a socket) is killed by the kernel at once, and
// the attempt says so; with the filter off the same call goes through and
// the task succeeds.
func TestSeccompKillsAForbiddenSystemCall(t *testing.T) {
	input := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(input, []byte("a b a\n"), 0o644)
	t.Setenv(EnvTestForbiddenSyscall, "1")
	p, err := NewPool(PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(context.Background(), mapSpec(t, "wordcount", input), time.Minute, nil)
	st := p.Stats()
	p.Close()
	if !errors.Is(err, ErrSeccomp) || !strings.Contains(err.Error(), "its seccomp filter killed it") || st.Ended[EndSeccomp] != 1 {
		t.Fatalf("got %v (pool stats %+v); want a seccomp kill", err, st)
	}

	t.Setenv(EnvSeccomp, "off")
	p, err = NewPool(PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(context.Background(), mapSpec(t, "wordcount", input), time.Minute, nil); err != nil {
		t.Fatalf("with %s=off: %v", EnvSeccomp, err)
	}
}

// The allowlist holds no call that would let code out of the sandbox.
func TestSeccompAllowlistHasNoEscapes(t *testing.T) {
	info, err := arch.GetInfo("")
	if err != nil {
		t.Skip(err)
	}
	allowed := map[string]bool{}
	for _, n := range AllowedSyscalls(info) {
		allowed[n] = true
	}
	for _, n := range []string{"socket", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom", "socketpair",
		"execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev", "kill",
		"mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open", "userfaultfd",
		"init_module", "finit_module", "delete_module", "kexec_load", "keyctl", "add_key", "request_key",
		"setuid", "setgid", "setreuid", "setresuid", "capset", "io_uring_setup", "open_by_handle_at", "name_to_handle_at",
		"ioctl", "prctl", "personality", "reboot", "swapon", "chown", "fchown", "symlink", "link", "mknod"} {
		if allowed[n] {
			t.Errorf("the worker's seccomp allowlist has %s", n)
		}
	}
	if !allowed["futex"] || !allowed["mmap"] || !allowed["openat"] {
		t.Errorf("the allowlist lacks what every Go program needs: %v", AllowedSyscalls(info))
	}
}

// Warm starts the workers a job will want before its first task, and
// the tasks then run in them rather than in new ones.
func TestWarmWorkersRunTheFirstTasks(t *testing.T) {
	p, input := newTestPool(t)
	if err := p.Warm("", 2); err != nil {
		t.Fatal(err)
	}
	if err := p.Warm("", 2); err != nil { // already there: nothing more
		t.Fatal(err)
	}
	if st := p.Stats(); st.Started != 2 || st.Idle != 2 {
		t.Fatalf("after warming 2 workers: %+v", st)
	}
	for range 3 {
		if _, err := p.Run(context.Background(), mapSpec(t, "wordcount", input), time.Minute, nil); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Started != 2 {
		t.Fatalf("tasks started workers of their own beside the warm ones: %+v", st)
	}
}

// A load frame readies a task's module without a reply; the task that
// follows runs in what it loaded. A load that fails stays quiet, and the
// task that needs the module reports the failure itself.
func TestLoadFrameReadiesTheModuleWithoutAReply(t *testing.T) {
	input := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(input, []byte("a b a\n"), 0o644)
	good := mapSpec(t, "wordcount", input)
	bad := *good
	bad.ModulePath = filepath.Join(t.TempDir(), "missing.wasm")
	bad.JobID, bad.ModuleHash = "other", strings.Repeat("0", 64)

	var in bytes.Buffer
	w := bufio.NewWriter(&in)
	for _, f := range []struct {
		typ  byte
		spec *task.Spec
	}{{frameLoad, good}, {frameRun, good}, {frameLoad, &bad}, {frameRun, &bad}} {
		if err := writeFrame(w, f.typ, f.spec); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := Serve(context.Background(), &in, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&out)
	var got []byte
	for {
		typ, _, err := readFrame(r)
		if err != nil {
			break
		}
		if typ != frameProgress {
			got = append(got, typ)
		}
	}
	if string(got) != string([]byte{frameDone, frameError}) {
		t.Fatalf("replies %q, want a result for the first task and an error for the second, nothing for the loads", got)
	}
}

// An over-full pool retires the longest idle worker of the group with
// the most idle ones, never the warm workers of a group with fewer.
func TestRetireFromTheGroupWithTheMostIdleWorkers(t *testing.T) {
	for _, c := range []struct {
		idle []string // longest idle first
		want int
	}{
		{[]string{"a"}, 0},
		{[]string{"a", "a", "b"}, 0},
		{[]string{"alice", "alice", "bob", "bob", "bob"}, 2},   // bob's churn retires bob's
		{[]string{"alice", "bob", "alice", "bob", "bob"}, 1},   // bob's longest idle
		{[]string{"alice", "bob", "bob", "alice"}, 0},          // a tie: the longest idle of all
		{[]string{"bob", "alice", "alice", "alice", "bob"}, 1}, // alice holds most
		{[]string{"", "", "x"}, 0},
	} {
		if got := retiree(c.idle); got != c.want {
			t.Errorf("retiree(%v) = %d, want %d", c.idle, got, c.want)
		}
	}
}

// A worker outlives the OS thread that started it. Linux sends Pdeathsig
// when the parent thread ends, not the process, and Go ends a thread
// whenever a goroutine locked to it returns (the node once did so to
// compile a tenant's module in its cgroup): a worker forked from such a
// thread was killed, idle or mid-task, whenever another goroutine later
// locked that thread and ended.
func TestWorkerOutlivesTheThreadThatStartedIt(t *testing.T) {
	p, input := newTestPool(t)
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine (unless it is
		// the main thread, which Go parks instead).
		for runtime.LockOSThread(); unix.Gettid() == os.Getpid(); runtime.LockOSThread() {
			runtime.UnlockOSThread()
			runtime.Gosched()
		}
		done <- p.Warm("", 1)
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the locked thread has ended by now
	if _, err := p.Run(context.Background(), mapSpec(t, "wordcount", input), time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Started != 1 {
		t.Fatalf("the warm worker died with the thread that started it, so the task started another: %+v", st)
	}
}
