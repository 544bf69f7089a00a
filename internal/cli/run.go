package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wmr-dev/wmr/abi"
	"github.com/wmr-dev/wmr/engine"
	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/sampling"
	"github.com/wmr-dev/wmr/engine/task"
)

const abiVersion = abi.Version

type runFlags struct {
	wasm         string
	inputs       []string
	output       string
	reducers     int
	params       []string
	overwrite    bool
	memory       string
	taskMemory   string
	taskTimeout  time.Duration
	parallelism  int
	blockSize    string
	attempts     int
	skipBad      int
	partitioner  string
	inputFormat  string
	outputFormat string
	fanIn        int
	maxOutput    string
	workDir      string
	cacheDir     string
	inProcess    bool
	quiet        bool
	verbose      bool
	asJSON       bool
	logFile      string
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run --wasm FILE --input PATH... --output DIR [flags]",
		Short: "Run a job on this machine, no cluster needed",
		Long: `Run a MapReduce job on this machine.

Inputs are files, directories (every file below them, skipping names that
start with "." or "_") or glob patterns; each line of each file is a record
(key = the line's byte offset, value = the line). The output directory gets
part-r-NNNNN files of key<TAB>value lines, one per reducer, each in bytewise
key order, and a _SUCCESS marker when the job has succeeded.

Modules run in worker processes with a memory cap and a time limit per
task; a module that traps, loops or misbehaves fails the job with a message
that names the module, the task and, where it applies, the record.`,
		Example: `  wmr run --wasm build/examples/wordcount-go.wasm --input books/ --output out/ --reducers 4
  wmr run --wasm grep-go.wasm --input 'logs/*.log' --output matches/ --param pattern='ERROR \w+'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJob(cmd, &f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.wasm, "wasm", "", "the job's WebAssembly module (required)")
	fl.StringArrayVar(&f.inputs, "input", nil, "input file, directory or glob (repeatable; required)")
	fl.StringVar(&f.output, "output", "", "output directory; must be empty or absent unless --overwrite (required)")
	fl.IntVar(&f.reducers, "reducers", 1, "number of reduce tasks and output files")
	fl.StringArrayVar(&f.params, "param", nil, "job parameter key=value passed to the module at init (repeatable)")
	fl.BoolVar(&f.overwrite, "overwrite", false, "replace an earlier job's output in --output")
	fl.StringVar(&f.memory, "memory", "512MiB", "memory budget for map-side sort buffers, shared by running tasks; past it they spill to disk")
	fl.StringVar(&f.taskMemory, "task-memory", "256MiB", "memory cap of each module instance")
	fl.DurationVar(&f.taskTimeout, "task-timeout", engine.DefaultTaskTimeout, "wall-clock limit of one task attempt")
	fl.IntVar(&f.parallelism, "parallelism", 0, "tasks run at once (default: number of CPUs)")
	fl.StringVar(&f.blockSize, "block-size", "64MiB", "split size: larger files are read by several map tasks")
	fl.IntVar(&f.attempts, "attempts", engine.DefaultMaxAttempts, "attempts per task before the job fails")
	fl.IntVar(&f.skipBad, "skip-bad-records", 0, "skip up to N input records a map fails on, listing them, instead of failing the job")
	fl.StringVar(&f.partitioner, "partitioner", "hash", partitionerUsage)
	fl.BoolVar(&f.asJSON, "json", false, "print the summary as one JSON object (for scripts)")
	fl.StringVar(&f.logFile, "log-file", "", "write the module's log lines (wmr.Log), with their task attempt, to this file (-v shows them on stderr)")
	fl.StringVar(&f.inputFormat, "input-format", "auto", inputFormatUsage)
	fl.StringVar(&f.outputFormat, "output-format", "text", outputFormatUsage)
	fl.IntVar(&f.fanIn, "fan-in", coord.DefaultFanIn, fanInUsage)
	fl.StringVar(&f.maxOutput, "max-task-output", "4GiB", "most a module may emit in one task")
	fl.StringVar(&f.workDir, "work-dir", "", "directory for intermediate files (default: system temp)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "module and compilation cache (default: user cache dir/wmr)")
	fl.BoolVar(&f.inProcess, "in-process", false, "run modules in this process instead of worker processes (slower; for comparison)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print no progress or summary")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log engine and module messages to stderr")
	fl.MarkHidden("in-process")
	for _, name := range []string{"wasm", "input", "output"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runJob(cmd *cobra.Command, f *runFlags, stdout, stderr io.Writer) error {
	params, err := parseParams(f.params)
	if err != nil {
		return usageError{err}
	}
	var memory, taskMemory, blockSize, maxOutput int64
	for _, sz := range []struct {
		flag, val string
		dst       *int64
	}{{"memory", f.memory, &memory}, {"task-memory", f.taskMemory, &taskMemory}, {"block-size", f.blockSize, &blockSize}, {"max-task-output", f.maxOutput, &maxOutput}} {
		n, err := parseSize(sz.val)
		if err != nil {
			return usageError{fmt.Errorf("--%s: %w", sz.flag, err)}
		}
		*sz.dst = n
	}
	if err := coord.CheckReducers(f.reducers); err != nil { // as submit checks it
		return usageError{fmt.Errorf("--reducers: %w", err)}
	}
	if err := checkRetryFlags(f.attempts, f.skipBad); err != nil {
		return err
	}
	fanIn, err := treeFanIn(f.fanIn)
	if err != nil {
		return err
	}
	if err := sampling.Check(f.partitioner); err != nil {
		return usageError{fmt.Errorf("--partitioner: %w", err)}
	}
	if _, err := input.ParseFormat(f.inputFormat); err != nil {
		return usageError{fmt.Errorf("--input-format: %w", err)}
	}
	if err := task.CheckOutputFormat(f.outputFormat); err != nil {
		return usageError{fmt.Errorf("--output-format: %w", err)}
	}
	logger := slog.New(slog.DiscardHandler)
	if f.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx := cmd.Context()
	var moduleLog func(string, task.LogLine)
	var logMu sync.Mutex
	var logOut []io.Writer
	if f.verbose {
		logOut = append(logOut, stderr)
	}
	if f.logFile != "" {
		lf, err := os.Create(f.logFile)
		if err != nil {
			return fmt.Errorf("--log-file: %w", err)
		}
		defer lf.Close()
		logOut = append(logOut, lf)
	}
	if len(logOut) > 0 {
		out := io.MultiWriter(logOut...)
		moduleLog = func(attempt string, l task.LogLine) {
			logMu.Lock()
			defer logMu.Unlock()
			fmt.Fprintf(out, "%s %s: %s\n", attempt, l.LevelName(), l.Msg)
		}
	}
	eng, err := engine.New(ctx, engine.Config{
		ModuleLog:   moduleLog,
		Parallelism: f.parallelism, MemoryBudget: memory, TaskMemory: taskMemory, TaskTimeout: f.taskTimeout,
		MaxAttempts: f.attempts, BlockSize: blockSize, MaxTaskOutput: maxOutput, WorkDir: f.workDir,
		CacheDir: f.cacheDir, InProcess: f.inProcess, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer eng.Close()

	var progress func(engine.Progress)
	var bar *progressLine
	if !f.quiet && isTerminal(stderr) {
		bar = &progressLine{w: stderr}
		progress = bar.update
	}
	sum, err := eng.Run(ctx, engine.Job{Module: f.wasm, Inputs: f.inputs, Output: f.output, Overwrite: f.overwrite,
		Reducers: f.reducers, Params: params, SkipBadRecords: f.skipBad, Partitioner: f.partitioner,
		InputFormat: f.inputFormat, OutputFormat: f.outputFormat, FanIn: fanIn}, progress)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; the job did not finish and %s has no _SUCCESS marker", f.output)
		}
		return err
	}
	if f.asJSON {
		return json.NewEncoder(stdout).Encode(summaryJSON(sum))
	}
	if !f.quiet {
		printSummary(stdout, sum, f.output)
	} else if len(sum.Skipped) > 0 {
		fmt.Fprintf(stderr, "wmr: the job skipped %d bad input records\n", len(sum.Skipped))
	}
	return nil
}

// partitionerUsage describes --partitioner, for run and submit alike.
const partitionerUsage = `how keys go to reducers: "hash" spreads them evenly; "range" samples the input for split points, so the part files read in order are sorted (a total-order sort)`

// inputFormatUsage and outputFormatUsage describe the format flags, for
// run, put and submit alike.
const (
	inputFormatUsage  = "how input files are read: " + input.Formats + "; .gz, .zst and .bz2 files are decompressed (one map task each)"
	outputFormatUsage = `"text": key<TAB>value lines (the key alone when the value is empty); "kv": binary records that keep any bytes (abi/KV.md); "fixed:N": each value alone, N bytes each (read back with --input-format fixed:N)`
)

// checkRetryFlags checks --attempts and --skip-bad-records, for run and
// submit alike.
func checkRetryFlags(attempts, skipBad int) error {
	if attempts < 1 {
		return usageError{fmt.Errorf("--attempts must be at least 1, not %d", attempts)}
	}
	if skipBad < 0 {
		return usageError{fmt.Errorf("--skip-bad-records must not be negative, not %d", skipBad)}
	}
	return nil
}

// printSkipped lists the bad records a job skipped.
func printSkipped(w io.Writer, indent string, skipped []coord.Record) {
	if len(skipped) == 0 {
		return
	}
	fmt.Fprintf(w, "%sskipped     %d bad input records\n", indent, len(skipped))
	for _, r := range skipped {
		fmt.Fprintf(w, "%s  %s at byte %d: %s\n", indent, r.Input, r.Offset, r.Err)
	}
}

func parseParams(kvs []string) (map[string]string, error) {
	params := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want key=value", kv)
		}
		params[k] = v
	}
	return params, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// fanInUsage is --fan-in's help, for run and submit.
const fanInUsage = "reduce tree: for a module with a combiner, the most map outputs one combine or reduce task reads; combine tasks merge them level by level beyond it (0: no tree)"

// treeFanIn checks --fan-in and returns it as engine.Job.FanIn.
func treeFanIn(n int) (int, error) {
	switch {
	case n == 0:
		return -1, nil
	case n < 2:
		return 0, usageError{fmt.Errorf("--fan-in must be 0 (no reduce tree) or at least 2, not %d", n)}
	}
	return n, nil
}

// summaryJSON is a run's summary as --json prints it.
func summaryJSON(s *engine.Summary) any {
	return struct {
		JobID         string           `json:"job_id"`
		Module        string           `json:"module"`
		Maps          int              `json:"maps"`
		Reduces       int              `json:"reduces"`
		Attempts      int              `json:"attempts"`
		InputFiles    int              `json:"input_files"`
		BytesIn       int64            `json:"bytes_in"`
		RecordsIn     int64            `json:"records_in"`
		MapRecordsOut int64            `json:"map_records_out"`
		ShuffleBytes  int64            `json:"shuffle_bytes"`
		Combines      int              `json:"combines"`
		TreeLevels    int              `json:"tree_levels"`
		ReduceBytesIn int64            `json:"reduce_bytes_in"`
		Spills        int              `json:"spills"`
		RecordsOut    int64            `json:"records_out"`
		BytesOut      int64            `json:"bytes_out"`
		Seconds       float64          `json:"seconds"`
		Counters      map[string]int64 `json:"counters"`
		Outputs       []string         `json:"outputs"`
		Skipped       []coord.Record   `json:"skipped"`
	}{s.JobID, s.Module, s.Maps, s.Reduces, s.Attempts, s.InputFiles, s.BytesIn, s.RecordsIn, s.MapRecordsOut, s.ShuffleBytes,
		s.Combines, s.TreeLevels, s.ReduceBytesIn, s.Spills, s.RecordsOut, s.BytesOut, s.Wall.Seconds(), s.Counters, s.Outputs, s.Skipped}
}

func printSummary(w io.Writer, s *engine.Summary, output string) {
	mbps := 0.0
	if secs := s.Wall.Seconds(); secs > 0 {
		mbps = float64(s.BytesIn) / 1e6 / secs
	}
	fmt.Fprintf(w, "job %s succeeded in %s\n", s.JobID, s.Wall.Round(time.Millisecond))
	fmt.Fprintf(w, "  module      %s\n", s.Module)
	fmt.Fprintf(w, "  input       %d files, %s, %s records, %d map tasks\n", s.InputFiles, formatBytes(s.BytesIn), formatCount(s.RecordsIn), s.Maps)
	fmt.Fprintf(w, "  map output  %s records, %s shuffled after combining, %d spills\n", formatCount(s.MapRecordsOut), formatBytes(s.ShuffleBytes), s.Spills)
	if s.Combines > 0 {
		fmt.Fprintf(w, "  reduce tree %d combine tasks in %d levels; the reduces read %s\n", s.Combines, s.TreeLevels, formatBytes(s.ReduceBytesIn))
	}
	fmt.Fprintf(w, "  output      %s records, %s in %d files in %s\n", formatCount(s.RecordsOut), formatBytes(s.BytesOut), s.Reduces, output)
	fmt.Fprintf(w, "  throughput  %.1f MB/s of input\n", mbps)
	fmt.Fprintf(w, "  attempts    %d for %d tasks\n", s.Attempts, s.Maps+s.Combines+s.Reduces)
	printSkipped(w, "  ", s.Skipped)
	printCounters(w, "  ", s.Counters)
}

// printCounters prints a job's counters, sorted by name, under a heading.
func printCounters(w io.Writer, indent string, counters map[string]int64) {
	if len(counters) == 0 {
		return
	}
	fmt.Fprintf(w, "%scounters\n", indent)
	names := make([]string, 0, len(counters))
	for n := range counters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "%s  %-20s %d\n", indent, n, counters[n])
	}
}

// progressLine redraws one status line on a terminal.
type progressLine struct {
	w     io.Writer
	drawn bool
	// width is the terminal's width in columns (0: asked of w, else 80).
	width int
}

func (p *progressLine) update(pr engine.Progress) {
	fmt.Fprint(p.w, "\r\x1b[K"+progressText(pr, p.columns()-1))
	p.drawn = true
}

func (p *progressLine) columns() int {
	if p.width > 0 {
		return p.width
	}
	if f, ok := p.w.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 20 {
			return w
		}
	}
	return 80
}

// progressText is one progress line of at most width columns: the most
// telling figures first, dropping the rest when the terminal is narrow,
// so the line redraws in place instead of wrapping.
func progressText(pr engine.Progress, width int) string {
	pct := 0.0
	if pr.InputBytes > 0 {
		pct = min(100*float64(pr.BytesIn)/float64(pr.InputBytes), 100)
	}
	rate := 0.0
	if s := pr.Elapsed.Seconds(); s > 0 {
		rate = float64(pr.BytesIn) / 1e6 / s
	}
	// Fields in display order, each with its priority (0 is kept first).
	fields := []struct {
		text     string
		priority int
	}{
		{progressTasks(pr), 0},
		{fmt.Sprintf("%.0f%%", pct), 1},
		{fmt.Sprintf("%s/%s", formatBytes(pr.BytesIn), formatBytes(pr.InputBytes)), 4},
		{fmt.Sprintf("%.1f MB/s", rate), 2},
		{formatCount(pr.RecordsIn) + " rec in", 5},
		{formatCount(pr.RecordsOut) + " out", 6},
		{pr.Elapsed.Round(time.Second).String(), 3},
	}
	for keep := len(fields); keep > 0; keep-- {
		var parts []string
		for _, f := range fields {
			if f.priority < keep {
				parts = append(parts, f.text)
			}
		}
		if line := strings.Join(parts, "  "); utf8.RuneCountInString(line) <= width || keep == 1 {
			if r := []rune(line); len(r) > width && width > 0 {
				line = string(r[:width])
			}
			return line
		}
	}
	return ""
}

func (p *progressLine) finish() {
	if p.drawn {
		fmt.Fprint(p.w, "\n")
	}
}

// progressTasks is the progress line's count of tasks done.
func progressTasks(pr engine.Progress) string {
	if pr.Combines > 0 {
		return fmt.Sprintf("[%s] maps %d/%d combines %d/%d reduces %d/%d", pr.Phase, pr.MapsDone, pr.Maps, pr.CombinesDone, pr.Combines, pr.ReducesDone, pr.Reduces)
	}
	return fmt.Sprintf("[%s] maps %d/%d reduces %d/%d", pr.Phase, pr.MapsDone, pr.Maps, pr.ReducesDone, pr.Reduces)
}
