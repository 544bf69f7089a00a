package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wmr-dev/wmr/engine"
	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/sampling"
	"github.com/wmr-dev/wmr/engine/task"
	"github.com/wmr-dev/wmr/nodes"
)

func newSubmitCmd(stdout, stderr io.Writer) *cobra.Command {
	var node string
	var opt nodes.SubmitOptions
	var params []string
	var wait, quiet, backups, asJSON bool
	var fanIn int
	var taskMemory, taskTime string
	cmd := &cobra.Command{
		Use:     "submit --wasm FILE --input DATASET --output DATASET [--reducers N] [--wait]",
		Short:   "Run a job on the cluster; the node you submit to coordinates it",
		Example: `  wmr submit --node http://127.0.0.1:8082 --wasm wordcount-go.wasm --input books --output counts --reducers 4 --wait`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseParams(params)
			if err != nil {
				return usageError{err}
			}
			opt.Params = p
			if taskMemory != "" {
				if opt.TaskMemory, err = parseSize(taskMemory); err != nil {
					return usageError{fmt.Errorf("--task-memory: %w", err)}
				}
			}
			if taskTime != "" {
				if opt.TaskTime, err = time.ParseDuration(taskTime); err != nil || opt.TaskTime <= 0 {
					return usageError{fmt.Errorf("--task-timeout %q: give a duration such as 5m", taskTime)}
				}
			}
			opt.NoBackups = !backups
			if opt.FanIn, err = treeFanIn(fanIn); err != nil {
				return err
			}
			if err := checkRetryFlags(opt.Attempts, opt.SkipBadRecords); err != nil {
				return err
			}
			if err := sampling.Check(opt.Partitioner); err != nil {
				return usageError{fmt.Errorf("--partitioner: %w", err)}
			}
			if _, err := input.ParseFormat(opt.InputFormat); err != nil {
				return usageError{fmt.Errorf("--input-format: %w", err)}
			}
			if err := task.CheckOutputFormat(opt.OutputFormat); err != nil {
				return usageError{fmt.Errorf("--output-format: %w", err)}
			}
			if err := coord.CheckReducers(opt.Reducers); err != nil {
				return usageError{fmt.Errorf("--reducers: %w", err)}
			}
			c := newClient(cmd, node)
			st, err := c.Submit(cmd.Context(), opt)
			if err != nil {
				return err
			}
			if !wait {
				if asJSON {
					return json.NewEncoder(stdout).Encode(st)
				}
				fmt.Fprintln(stdout, st.ID)
				return nil
			}
			if asJSON { // the final status, whatever it is; exit non-zero unless it succeeded
				werr := waitJob(cmd, c, st.ID, io.Discard, stderr, true)
				if final, err := c.Job(cmd.Context(), st.ID); err == nil {
					json.NewEncoder(stdout).Encode(final)
				}
				return werr
			}
			return waitJob(cmd, c, st.ID, stdout, stderr, quiet)
		},
	}
	nodeFlag(cmd, &node)
	fl := cmd.Flags()
	fl.StringVar(&opt.Module, "wasm", "", "the job's module (required)")
	fl.StringVar(&opt.Input, "input", "", "input dataset (required)")
	fl.StringVar(&opt.Output, "output", "", "output dataset, which must not exist yet (required)")
	fl.IntVar(&opt.Reducers, "reducers", 1, "reduce tasks = output shards")
	fl.IntVar(&opt.Replicas, "replicas", 1, "copies of each output shard")
	fl.IntVar(&opt.Attempts, "attempts", coord.DefaultMaxAttempts, "attempts per task before the job fails")
	fl.BoolVar(&backups, "backups", true, "start backup attempts for stragglers near the end of each phase")
	fl.IntVar(&opt.SkipBadRecords, "skip-bad-records", 0, "skip up to N input records a map fails on, listing them, instead of failing the job")
	fl.StringVar(&opt.Partitioner, "partitioner", "hash", partitionerUsage)
	fl.StringVar(&opt.InputFormat, "input-format", "auto", "how the input dataset is read: as it was put (auto), or a format it must have been put with")
	fl.StringVar(&opt.OutputFormat, "output-format", "text", outputFormatUsage)
	fl.IntVar(&fanIn, "fan-in", coord.DefaultFanIn, fanInUsage)
	fl.StringArrayVar(&params, "param", nil, "job parameter key=value (repeatable)")
	fl.StringVar(&taskMemory, "task-memory", "", "module memory cap per task, at most the tenant's quota (default: the quota, else the node's)")
	fl.StringVar(&taskTime, "task-timeout", "", "wall-clock limit per task attempt, at most the tenant's quota (default: the quota, else the node's)")
	fl.StringVar(&taskTime, "task-time", "", "")
	fl.MarkDeprecated("task-time", "use --task-timeout, as wmr run does")
	fl.BoolVar(&wait, "wait", false, "wait for the job, showing progress; exit non-zero if it fails")
	fl.BoolVarP(&quiet, "quiet", "q", false, "with --wait: print nothing on success")
	fl.BoolVar(&asJSON, "json", false, "print the job's status as JSON (with --wait: its final status)")
	for _, f := range []string{"wasm", "input", "output"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

// waitJob polls a job until it ends. When the node it asks is gone (its
// coordinator died, say), it goes on asking another member: the job
// outlives its coordinator.
func waitJob(cmd *cobra.Command, c *nodes.Client, id string, stdout, stderr io.Writer, quiet bool) error {
	tty := !quiet && isTerminal(stderr)
	bar := &progressLine{w: stderr}
	members, _ := c.Members(cmd.Context())
	for {
		// Without a progress bar to redraw, the node answers when the job
		// ends (or after a while): no poll interval added to the job's time.
		asked := time.Now()
		get := func(c *nodes.Client) (*nodes.JobStatus, error) {
			if tty {
				return c.Job(cmd.Context(), id)
			}
			return c.JobWait(cmd.Context(), id, 5*time.Second)
		}
		st, err := get(c)
		for i := 0; err != nil && errors.Is(err, nodes.ErrUnreachable) && i < len(members); i++ {
			other := c.At(members[i].HTTP)
			if st, err = get(other); err == nil {
				c = other
			}
		}
		if err != nil {
			if tty {
				fmt.Fprintln(stderr)
			}
			return fmt.Errorf("job %s: %w", id, err)
		}
		if tty {
			bar.update(engine.Progress{Phase: st.Phase, Maps: st.Maps, MapsDone: st.MapsDone, Reduces: st.Reduces, ReducesDone: st.ReducesDone,
				Combines: st.Combines, CombinesDone: st.CombinesDone,
				BytesIn: st.BytesIn, InputBytes: st.InputBytes, RecordsIn: st.RecordsIn, RecordsOut: st.RecordsOut, Elapsed: time.Since(st.Created)})
		}
		if st.State != "running" {
			if tty {
				fmt.Fprintln(stderr)
			}
			if st.State != "succeeded" { // failed, cancelled
				return errors.New("job " + st.ID + " " + st.State + ": " + st.Error)
			}
			if !quiet {
				fmt.Fprintf(stdout, "job %s succeeded in %s: output dataset %s (%d maps, %d reduces, %d attempts)\n", st.ID,
					st.Finished.Sub(st.Created).Round(time.Millisecond), st.Request.Output, st.Maps, st.Reduces, st.Started)
				printSkipped(stdout, "  ", st.Skipped)
			} else if len(st.Skipped) > 0 {
				fmt.Fprintf(stderr, "wmr: the job skipped %d bad input records\n", len(st.Skipped))
			}
			return nil
		}
		pause := 200 * time.Millisecond
		if !tty && time.Since(asked) > pause {
			pause = 0 // the node waited already
		}
		select {
		case <-cmd.Context().Done():
			return fmt.Errorf("stopped waiting; job %s goes on (wmr status %s)", id, id)
		case <-time.After(pause):
		}
	}
}

func newJobsCmd(stdout io.Writer) *cobra.Command {
	var node string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List the jobs of every live node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			js, err := newClient(cmd, node).Jobs(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(js)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tSTATE\tMODULE\tINPUT\tOUTPUT\tMAPS\tREDUCES\tCREATED")
			for _, j := range js {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d/%d\t%s\n", j.ID, j.State, j.Request.ModuleName, j.Request.Input,
					j.Request.Output, j.MapsDone, j.Maps, j.ReducesDone, j.Reduces, j.Created.Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newStatusCmd(stdout io.Writer) *cobra.Command {
	var node string
	var asJSON, watch bool
	cmd := &cobra.Command{
		Use:   "status JOB [--watch]",
		Short: "Show a job and every task attempt: node, input, times, records and bytes, outcome; and its counters",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newClient(cmd, node)
			var waitErr error
			if watch { // follow its progress to its end, then show it
				waitErr = waitJob(cmd, c, args[0], io.Discard, cmd.ErrOrStderr(), false)
			}
			st, err := c.Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}

			if asJSON {
				if err := json.NewEncoder(stdout).Encode(st); err != nil { // compact, one line, as every --json
					return err
				}
				return waitErr
			}
			fmt.Fprintf(stdout, "job %s  %s  (coordinator %s)\n", st.ID, st.State, st.Coordinator)
			if st.Error != "" {
				fmt.Fprintf(stdout, "error: %s\n", st.Error)
			}
			fmt.Fprintf(stdout, "module %s  input %s  output %s  maps %d/%d  reduces %d/%d\n", st.Request.ModuleName,
				st.Request.Input, st.Request.Output, st.MapsDone, st.Maps, st.ReducesDone, st.Reduces)
			printTree(stdout, st)
			fmt.Fprintln(stdout)
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			// Columns that fit 100 columns; every field is in --json.
			fmt.Fprintln(tw, "TASK\tNODE\tTRY\tSECS\tRECORDS IN>OUT\tBYTES IN>OUT\tOUTCOME\tINPUT")
			var long []nodes.Attempt // outcomes too long for the table
			for _, a := range st.Attempts {
				secs := "-"
				if !a.End.IsZero() {
					secs = fmt.Sprintf("%.2f", a.End.Sub(a.Start).Seconds())
				}
				node := a.Node
				if a.Kind == "map" && a.Local {
					node += "*" // ran where its shard lives
				}
				try := fmt.Sprint(a.Attempt)
				if a.Backup {
					try += "b"
				}
				outcome := a.Outcome
				if len(outcome) > outcomeWidth { // the whole message goes below the table
					outcome = outcome[:outcomeWidth-3] + "..."
					long = append(long, a)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s>%s\t%s>%s\t%s\t%s\n", a.Task, node, try, secs, formatCount(a.RecordsIn), formatCount(a.RecordsOut),
					formatBytes(a.BytesIn), formatBytes(a.BytesOut), outcome, shorten(inputShown(a.Input), 28))
			}
			tw.Flush()
			for _, a := range long {
				fmt.Fprintf(stdout, "%s attempt %d on %s: %s\n", a.Task, a.Attempt, a.Node, a.Outcome)
			}
			fmt.Fprintln(stdout, "(* a map that ran on a holder of its shard; TRY 2b: attempt 2, a backup of a straggler)")
			if st.AttemptsDropped > 0 {
				fmt.Fprintf(stdout, "(%d older attempts not shown; %d attempts in all)\n", st.AttemptsDropped, st.Started)
			}
			fmt.Fprintln(stdout)
			printSkipped(stdout, "", st.Skipped)
			printCounters(stdout, "", st.Counters)
			return waitErr // with --watch: non-zero unless the job succeeded
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	cmd.Flags().BoolVar(&watch, "watch", false, "follow a running job's progress (from any node) until it ends, then show it; exit non-zero unless it succeeded")
	return cmd
}

// outcomeWidth bounds the OUTCOME column of status: longer outcomes (the
// errors of failed attempts) are printed whole below the table.
const outcomeWidth = 24

// inputShown is an attempt's input for the table: "shard S of D, from
// F" (a cluster map) as "F S".
func inputShown(in string) string {
	var shard, ds, file string
	if _, err := fmt.Sscanf(in, "shard %s of %s from %s", &shard, &ds, &file); err == nil {
		return file + " " + shard
	}
	return in
}

// shorten cuts s to n characters, marking the cut.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}

func newCancelCmd(stdout io.Writer) *cobra.Command {
	var node string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "cancel JOB",
		Short: "Stop a running job: its tasks stop on every node and it publishes nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := newClient(cmd, node).Cancel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(st)
			}
			fmt.Fprintf(stdout, "job %s %s\n", st.ID, st.State)
			return nil
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the job's status as JSON")
	return cmd
}

func newLogsCmd(stdout io.Writer) *cobra.Command {
	var node, taskID string
	var follow, asJSON bool
	cmd := &cobra.Command{
		Use:   "logs JOB [--task T] [--follow]",
		Short: "Print a job's module log lines (wmr.Log), with their task attempt and node",
		Long: `Print the log lines a job's module wrote (wmr.Log in Go, wmr::log in Rust, ...),
each with the task attempt and node it came from, in the order the attempts
ended. Lines arrive when an attempt ends; --follow prints new ones until the
job ends. A job keeps at most 10,000 lines; wmr run writes them with
--log-file (or shows them with -v).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newClient(cmd, node)
			printed := 0
			for {
				l, err := c.Logs(cmd.Context(), args[0], taskID)
				if err != nil {
					return err
				}
				for _, line := range l.Logs[min(printed, len(l.Logs)):] {
					if asJSON {
						json.NewEncoder(stdout).Encode(line)
					} else {
						fmt.Fprintf(stdout, "%s %s %s: %s\n", line.Attempt, line.Node, line.Level, line.Msg)
					}
				}
				printed = len(l.Logs)
				if !follow || l.State != "running" {
					if l.Dropped > 0 && !asJSON {
						fmt.Fprintf(stdout, "(%d more lines were dropped: a job keeps %d)\n", l.Dropped, 10000)
					}
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(time.Second):
				}
			}
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().StringVar(&taskID, "task", "", "only this task's lines (m-00003, r-00001)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the job ends")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")
	return cmd
}

// printTree shows a job's reduce tree, level by level, and what the
// reduces read against what the maps wrote (the attempts table shows
// where each combine task ran).
func printTree(w io.Writer, st *nodes.JobStatus) {
	for i, l := range st.Tree {
		head := "reduce tree "
		if i > 0 {
			head = strings.Repeat(" ", len(head))
		}
		fmt.Fprintf(w, "%slevel %d: %d/%d combine tasks done, each reading at most %d outputs, %s in > %s out\n",
			head, l.Level, l.Done, l.Tasks, l.MaxInputs, formatBytes(l.BytesIn), formatBytes(l.BytesOut))
	}
	if st.ShuffleBytes > 0 || st.ReduceBytesIn > 0 {
		fmt.Fprintf(w, "shuffle      the maps wrote %s for the reduces; the reduces read %s\n", formatBytes(st.ShuffleBytes), formatBytes(st.ReduceBytesIn))
	}
}
