package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/nodes"
)

// defaultNode is the node URL when neither --node, WMR_NODE nor the config
// file says otherwise.
const defaultNode = "http://127.0.0.1:8081"

// nodeFlag adds the flags every cluster command takes: which node, and
// the credentials to call it with.
func nodeFlag(cmd *cobra.Command, dst *string) {
	def := os.Getenv("WMR_NODE")
	if def == "" {
		def = loadConfig().Node
	}
	if def == "" {
		def = defaultNode
	}
	cmd.Flags().StringVar(dst, "node", def, "URL of any cluster node (env WMR_NODE, or the config file)")
	cmd.Flags().String("token", "", "tenant API token (default: env WMR_TOKEN, or the config file)")
	cmd.Flags().String("ca", "", "cluster CA certificate for https nodes (default: env WMR_CA, or the config file)")
}

// newClient makes a client for node with the command's credentials:
// flag, else environment, else config file (see 'wmr login').
func newClient(cmd *cobra.Command, node string) *nodes.Client {
	cfg := loadConfig()
	pick := func(flag, env, file string) string {
		if v, _ := cmd.Flags().GetString(flag); v != "" {
			return v
		}
		if v := os.Getenv(env); v != "" {
			return v
		}
		return file
	}
	var opts []nodes.ClientOption
	if tok := pick("token", "WMR_TOKEN", cfg.Token); tok != "" {
		opts = append(opts, nodes.WithToken(tok))
	}
	if ca := pick("ca", "WMR_CA", cfg.CA); ca != "" {
		opts = append(opts, nodes.WithCAFile(ca))
	}
	return nodes.NewClient(node, opts...)
}

func newNodeCmd(stderr io.Writer) *cobra.Command {
	var cfg nodes.Config
	var join []string
	var local, verbose bool
	var secretsDir, tenantsFile, auditLog string
	var insecure bool
	var taskMemory, taskTime, logFormat string
	var scrubInterval, joinTimeout, gcGrace, jobHistory time.Duration
	var scrubRate, cgroupsMode string
	var slots int
	cmd := &cobra.Command{
		Use:   "node --data DIR --http HOST:PORT --gossip HOST:PORT [--join HOST:PORT]",
		Short: "Run a cluster node until interrupted (SIGTERM or Ctrl-C leaves the cluster gracefully)",
		Example: `  wmr node --data ./n1 --http 127.0.0.1:8081 --gossip 127.0.0.1:7941
  wmr node --data ./n2 --http 127.0.0.1:8082 --gossip 127.0.0.1:7942 --join 127.0.0.1:7941`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			base := nodes.DefaultLANConfig()
			if local {
				base = nodes.DefaultLocalConfig()
			}
			base.Name, base.DataDir, base.HTTPAddr, base.GossipAddr, base.Join = cfg.Name, cfg.DataDir, cfg.HTTPAddr, cfg.GossipAddr, join
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			opts := &slog.HandlerOptions{Level: level}
			switch logFormat {
			case "text":
				base.Logger = slog.New(slog.NewTextHandler(stderr, opts))
			case "json":
				base.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
			default:
				return usageError{fmt.Errorf("--log-format must be text or json, not %q", logFormat)}
			}
			base.SecretsDir, base.TenantsFile, base.AuditLog, base.Insecure = secretsDir, tenantsFile, auditLog, insecure
			base.Cgroups = cgroupsMode
			base.WorkerUser, base.AllowRootWorkers = cfg.WorkerUser, cfg.AllowRootWorkers
			if cmd.Flags().Changed("slots") {
				if slots < 1 {
					return usageError{fmt.Errorf("--slots must be at least 1")}
				}
				base.SlotsPerNode, base.Engine.Parallelism = slots, slots
			}
			if taskMemory != "" {
				n, err := parseSize(taskMemory)
				if err != nil {
					return usageError{fmt.Errorf("--task-memory: %w", err)}
				}
				base.Engine.TaskMemory = n
			}
			if taskTime != "" {
				d, err := time.ParseDuration(taskTime)
				if err != nil || d <= 0 {
					return usageError{fmt.Errorf("--task-timeout %q: give a duration such as 10m", taskTime)}
				}
				base.Engine.TaskTimeout = d
			}
			if cmd.Flags().Changed("gc-grace") {
				if gcGrace <= 0 {
					return usageError{fmt.Errorf("--gc-grace must be positive")}
				}
				base.GCGrace = gcGrace
				base.GCInterval = min(base.GCInterval, max(gcGrace/4, time.Second))
			}
			if cmd.Flags().Changed("job-history") {
				if jobHistory <= 0 {
					return usageError{fmt.Errorf("--job-history must be positive")}
				}
				base.JobHistory = jobHistory
			}
			if cmd.Flags().Changed("join-timeout") {
				base.JoinTimeout = joinTimeout
			}
			if cmd.Flags().Changed("scrub-interval") {
				base.ScrubInterval = scrubInterval
				if scrubInterval == 0 {
					base.ScrubInterval = -1 // off
				}
			}
			if scrubRate != "" {
				n, err := parseSize(scrubRate)
				if err != nil {
					return usageError{fmt.Errorf("--scrub-rate: %w", err)}
				}
				base.ScrubRate = n
			}
			if secretsDir == "" && logFormat == "text" { // (the node also logs it, as JSON too)
				fmt.Fprintln(stderr, "wmr node: WARNING: running in INSECURE DEV MODE (no --secrets): plain-text HTTP and gossip, no node authentication, no tenants. Loopback only; see 'wmr ca --help'.")
			}
			n, err := nodes.New(base)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := n.Start(ctx); err != nil {
				return err
			}
			if logFormat == "text" {
				fmt.Fprintf(stderr, "wmr node %s ready: http=%s gossip=%s\n", n.Name(), n.HTTPAddr(), base.GossipAddr)
			} else {
				base.Logger.Info("node ready", "node", n.Name(), "http", n.HTTPAddr(), "gossip", base.GossipAddr)
			}
			<-ctx.Done()
			if logFormat == "text" {
				fmt.Fprintf(stderr, "wmr node %s leaving the cluster\n", n.Name())
			} else {
				base.Logger.Info("node leaving the cluster", "node", n.Name())
			}
			return n.Close(context.Background())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.DataDir, "data", "", "data directory: identity, shards, catalog (required)")
	fl.StringVar(&cfg.HTTPAddr, "http", "", "HTTP API address, host:port (required)")
	fl.StringVar(&cfg.GossipAddr, "gossip", "", "gossip address, host:port (required)")
	fl.StringArrayVar(&join, "join", nil, "gossip address of a member to join (repeatable; a restarted node also rejoins the peers it remembers)")
	fl.DurationVar(&joinTimeout, "join-timeout", time.Minute, "how long to keep retrying the --join seeds before giving up")
	fl.StringVar(&cfg.Name, "name", "", "node name (default: the name stored in --data, else its base name)")
	fl.BoolVar(&local, "local", false, "fast failure-detection timers for nodes on one machine")
	fl.BoolVarP(&verbose, "verbose", "v", false, "debug logging, memberlist's included")
	fl.StringVar(&secretsDir, "secrets", "", "node secrets directory from 'wmr ca issue': TLS everywhere, encrypted gossip, node certificates (without it: insecure dev mode, loopback only)")
	fl.StringVar(&tenantsFile, "tenants", "", "tenants file: tenants, hashed tokens, quotas (see 'wmr tenants add'); needs --secrets")
	fl.StringVar(&cfg.WorkerUser, "worker-user", "", "run worker processes (the tenants' modules) as this unprivileged user, name or uid; the node must run as root")
	fl.BoolVar(&cfg.AllowRootWorkers, "allow-root-workers", false, "with --tenants, let a node running as root run worker processes as root (without it such a node refuses to start unless --worker-user)")
	fl.StringVar(&cgroupsMode, "cgroups", "auto", "per-tenant cgroups for worker processes (CPU by cpu_weight and cpu_max, memory by the memory quota): auto (with --tenants, where the machine allows), required, off")
	fl.IntVar(&slots, "slots", 0, "tasks this node runs at once (default: the number of CPUs)")
	fl.StringVar(&auditLog, "audit-log", "", "audit log file, JSON lines (default: DATA/audit.log)")
	fl.BoolVar(&insecure, "insecure", false, "allow running without --secrets on non-loopback addresses (NOT for production)")
	fl.StringVar(&taskMemory, "task-memory", "", "default module memory cap per task (default 256MiB)")
	fl.StringVar(&taskTime, "task-timeout", "", "default wall-clock limit per task attempt (default 10m)")
	fl.StringVar(&logFormat, "log-format", "text", "log lines as text (logfmt) or json (one object per line)")
	fl.DurationVar(&jobHistory, "job-history", 30*24*time.Hour, "how long finished jobs (status, attempts, counters, module logs) are kept")
	fl.StringVar(&taskTime, "task-time", "", "")
	fl.MarkDeprecated("task-time", "use --task-timeout, as wmr run does")
	fl.DurationVar(&scrubInterval, "scrub-interval", 24*time.Hour, "how often to re-verify every replica this node holds against its checksums (0: never)")
	fl.StringVar(&scrubRate, "scrub-rate", "", "bytes a second the scrubber may read (default 32MiB)")
	fl.DurationVar(&gcGrace, "gc-grace", time.Hour, "age at which unreferenced shards, quarantined replicas, ended jobs' files and temporary files are removed")
	for _, f := range []string{"data", "http", "gossip"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newStorageCmd(stdout io.Writer) *cobra.Command {
	var node string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Show a node's disk use (shards, quarantined replicas, job files, temporary files) and what garbage collection freed (admins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := newClient(cmd, node).Storage(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(r)
			}
			fmt.Fprintf(stdout, "node %s (garbage older than %s is collected)\n", r.Node, time.Duration(r.Grace))
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tIN USE\tFREED\tFILES FREED")
			for _, kind := range []string{"shards", "quarantine", "jobs", "tmp", "tombstones"} {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", kind, formatBytes(r.Bytes[kind]), formatBytes(r.Freed.Bytes[kind]), r.Freed.Files[kind])
			}
			return tw.Flush()
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMembersCmd(stdout io.Writer) *cobra.Command {
	var node string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the cluster's members as a node sees them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := newClient(cmd, node).Members(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(ms)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tHTTP\tGOSSIP")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, m.State, m.HTTP, m.Gossip)
			}
			return tw.Flush()
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newNodesCmd(stdout io.Writer) *cobra.Command {
	var node string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the cluster's nodes with their task slots, running tasks, disk use and workers",
		Long: `List every member with what it is doing: task slots busy and attempts
queued, the attempts it runs (yours; an admin sees every tenant's), disk
used by shards and by jobs' intermediate data, and its worker processes
(live, started, and restarts: workers that ended with their attempt).
The dashboard's Nodes page (/ui/#/nodes) shows the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := newClient(cmd, node).Nodes(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(ns)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tSLOTS\tQUEUED\tRUNNING\tSHARDS\tJOBS\tWORKERS\tRESTARTS")
			for _, n := range ns {
				if n.State != "alive" || n.Error != "" {
					state := n.State
					if n.Error != "" {
						state += " (not answering)"
					}
					fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\n", n.Name, state)
					continue
				}
				var restarts int64
				for _, c := range n.Workers.Ended {
					restarts += c
				}
				running := fmt.Sprint(len(n.Running))
				if n.RunningHidden > 0 {
					running += fmt.Sprintf(" (+%d other tenants')", n.RunningHidden)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d/%d busy\t%d\t%s\t%s\t%s\t%d\t%d\n", n.Name, n.State, n.Busy, n.Slots, n.Queued, running,
					formatBytes(n.Disk["shards"]), formatBytes(n.Disk["jobs"]), n.Workers.Live, restarts)
			}
			return tw.Flush()
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newDatasetsCmd(stdout io.Writer) *cobra.Command {
	var node string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "datasets [NAME]",
		Short: "List datasets, or show one dataset's shards and where they live",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newClient(cmd, node)
			if len(args) == 1 {
				m, err := c.DatasetReplicas(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(stdout).Encode(m)
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SHARD\tFILE\tFORMAT\tBYTES\tCRC32C\tHOLDERS")
				for _, s := range m.Shards {
					format := s.Format
					if format == "" {
						format = input.Text
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%08x\t%s\n", s.ID, s.File, format, formatBytes(s.Size), s.CRC, strings.Join(s.Holders, ","))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(stdout)
				tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SHARD\tHOLDER\tREPLICA\tLAST VERIFIED")
				for _, r := range m.ReplicaStates {
					verified := "not since stored"
					if !r.Verified.IsZero() {
						verified = r.Verified.UTC().Format(time.RFC3339) + " (" + time.Since(r.Verified).Round(time.Second).String() + " ago)"
					}
					state := r.State
					if r.Error != "" {
						state += ": " + r.Error
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Shard, r.Holder, state, verified)
				}
				return tw.Flush()
			}
			ms, err := c.Datasets(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(ms)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSHARDS\tBYTES\tREPLICAS")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", m.Name, len(m.Shards), formatBytes(m.Bytes()), m.Replicas)
			}
			return tw.Flush()
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPutCmd(stdout, stderr io.Writer) *cobra.Command {
	var node, dataset, block, format string
	var replicas int
	var inPlace, quiet, replace, asJSON bool
	cmd := &cobra.Command{
		Use:   "put --dataset NAME [--replicas N] PATH...",
		Short: "Store files as a dataset, cut into shards and replicated across the cluster",
		Long: `Store files as a dataset. The node cuts them into shards at record boundaries
of their format (lines of text, fixed-size records, kv blocks; a compressed file
is one shard) of about --block-size and places each shard on --replicas
distinct live nodes. Each shard records its format, so jobs read it right.

With --in-place, the paths name files already on the node's own disk
(absolute paths on that machine): they are published as the dataset's shards
without copying, with that node as their only holder.`,
		Example: `  wmr put --node http://127.0.0.1:8081 --dataset books --replicas 2 books/
  wmr put --node http://127.0.0.1:8081 --dataset logs --in-place /var/log/app/app.log`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := input.ParseFormat(format); err != nil {
				return usageError{fmt.Errorf("--input-format: %w", err)}
			}
			var bs int64
			if block != "" {
				n, err := parseSize(block)
				if err != nil {
					return usageError{fmt.Errorf("--block-size: %w", err)}
				}
				bs = n
			}
			c := newClient(cmd, node)
			var m *nodes.Manifest
			var err error
			if inPlace {
				m, err = c.PutInPlace(cmd.Context(), dataset, args, bs, format, replace)
			} else {
				opt := nodes.PutOptions{Replicas: replicas, BlockSize: bs, InputFormat: format, Replace: replace}
				if !quiet && isTerminal(stderr) {
					opt.Progress = func(done, total int64) {
						fmt.Fprintf(stderr, "\r\x1b[Kput %s: %s of %s", dataset, formatBytes(done), formatBytes(total))
					}
				}
				m, err = c.Put(cmd.Context(), dataset, args, opt)
				if opt.Progress != nil {
					fmt.Fprintln(stderr)
				}
			}
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(m)
			}
			if !quiet {
				fmt.Fprintf(stdout, "dataset %s: %d shards, %s, %d replicas each\n", m.Name, len(m.Shards), formatBytes(m.Bytes()), m.Replicas)
			}
			return nil
		},
	}
	nodeFlag(cmd, &node)
	fl := cmd.Flags()
	fl.StringVar(&dataset, "dataset", "", "dataset name (required)")
	fl.IntVar(&replicas, "replicas", 1, "copies of each shard, on distinct nodes")
	fl.StringVar(&block, "block-size", "", "shard size (default: the node's, 64MiB)")
	fl.BoolVar(&inPlace, "in-place", false, "publish files already on the node's disk without copying")
	fl.StringVar(&format, "input-format", "auto", inputFormatUsage)
	fl.BoolVar(&replace, "replace", false, "replace the dataset if it exists (otherwise put refuses)")
	fl.BoolVar(&asJSON, "json", false, "print the dataset's manifest as JSON")
	fl.BoolVarP(&quiet, "quiet", "q", false, "print nothing on success")
	cmd.MarkFlagRequired("dataset")
	return cmd
}

func newCatCmd(stdout io.Writer) *cobra.Command {
	var node string
	var asJSON bool
	var head int
	cmd := &cobra.Command{
		Use:   "cat DATASET [--json] [--head N]",
		Short: "Print a dataset's records (a job output: its key<TAB>value lines)",
		Long: `Print a dataset's records. A text dataset prints as it is. Records of other
formats print as key<TAB>value lines (the key alone when the value is empty),
escaped where needed so that every line is one record: backslash, tab,
newline and carriage return as \\ \t \n \r, and bytes that are not printable
UTF-8 as \xHH. Fixed-size records print under their byte offset.

--json prints one JSON object per record instead: {"key": ..., "value": ...}
with strings for valid UTF-8, or "key_base64"/"value_base64" holding the
bytes in base64 when they are not. Every shard read to its end is checked
against the dataset's checksums; a read that breaks off fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if head < 0 {
				return usageError{fmt.Errorf("--head must not be negative, not %d", head)}
			}
			c := newClient(cmd, node)
			if !asJSON && head == 0 {
				info, err := c.Dataset(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if info.PlainText() {
					return c.Cat(cmd.Context(), args[0], stdout)
				}
			}
			return catRecords(cmd.Context(), c, args[0], stdout, asJSON, head)
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per record")
	cmd.Flags().IntVar(&head, "head", 0, "print only the first N records (0: all)")
	return cmd
}

// catRecords prints a dataset's records as cat describes.
func catRecords(ctx context.Context, c *nodes.Client, name string, stdout io.Writer, asJSON bool, head int) error {
	w := bufio.NewWriterSize(stdout, 256<<10)
	n := 0
	err := c.Records(ctx, name, func(r nodes.Record) error {
		if asJSON {
			w.Write(jsonRecord(r.Key, r.Value))
		} else if r.Line != nil {
			w.Write(r.Line) // text: the line as it is
		} else {
			w.Write(escapeField(r.Key))
			if len(r.Value) > 0 {
				w.WriteByte('\t')
				w.Write(escapeField(r.Value))
			}
		}
		w.WriteByte('\n')
		if n++; head > 0 && n >= head {
			return nodes.ErrStop
		}
		return nil
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// escapeField writes b so that it holds no tab or line break and reads
// back unambiguously (see cat's help).
func escapeField(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == '\\':
			out = append(out, '\\', '\\')
		case r == '\t':
			out = append(out, '\\', 't')
		case r == '\n':
			out = append(out, '\\', 'n')
		case r == '\r':
			out = append(out, '\\', 'r')
		case r == utf8.RuneError && size == 1, !unicode.IsPrint(r) && r != ' ':
			for _, c := range b[:size] {
				out = append(out, '\\', 'x', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
			}
		default:
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

// jsonRecord is one record as a JSON line.
func jsonRecord(key, value []byte) []byte {
	field := func(name string, b []byte) string {
		if utf8.Valid(b) {
			s, _ := json.Marshal(string(b))
			return fmt.Sprintf("%q:%s", name, s)
		}
		return fmt.Sprintf("%q:%q", name+"_base64", base64.StdEncoding.EncodeToString(b))
	}
	return []byte("{" + field("key", key) + "," + field("value", value) + "}")
}

func newGetCmd(stdout io.Writer) *cobra.Command {
	var node, out string
	var overwrite, asJSON bool
	cmd := &cobra.Command{
		Use:   "get DATASET --output DIR [--overwrite]",
		Short: "Download a dataset's shards as files (a job output: its part-r-NNNNN files)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 && !overwrite {
				return fmt.Errorf("output directory %s is not empty; pass --overwrite to write the shards' files into it anyway (files of the same names are replaced)", out)
			}
			paths, err := newClient(cmd, node).Get(cmd.Context(), args[0], out)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(map[string]any{"dataset": args[0], "files": paths})
			}
			fmt.Fprintf(stdout, "%d files in %s\n", len(paths), out)
			return nil
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().StringVar(&out, "output", "", "directory to write the files into; must be absent or empty unless --overwrite (required)")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "write into a directory that is not empty")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the files written as JSON")
	cmd.MarkFlagRequired("output")
	return cmd
}
