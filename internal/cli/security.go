package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/wmr-dev/wmr/nodes"
)

// clientConfig is the CLI's config file: defaults for --node, --token
// and --ca, written by 'wmr login'.
type clientConfig struct {
	Node  string `json:"node,omitempty"`
	Token string `json:"token,omitempty"`
	CA    string `json:"ca,omitempty"`
}

// configPath is $WMR_CONFIG, else ~/.config/wmr/config.json.
func configPath() string {
	if p := os.Getenv("WMR_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "wmr", "config.json")
}

// loadConfig reads the config file once per process; a missing or
// unreadable one is empty.
var loadConfig = sync.OnceValue(func() clientConfig {
	var c clientConfig
	if p := configPath(); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			json.Unmarshal(b, &c)
		}
	}
	return c
})

func newLoginCmd(stdout io.Writer) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "login --node URL --token TOKEN [--ca ca.crt]",
		Short: "Check a token against a node and save node, token and CA as defaults in the config file",
		Long: `Check a token against a node and save node, token and CA certificate in the
config file ($WMR_CONFIG, default ~/.config/wmr/config.json, mode 0600), so
later commands need no --node, --token or --ca.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := newClient(cmd, node).Whoami(cmd.Context())
			if err != nil {
				return err
			}
			c := clientConfig{Node: node}
			c.Token, _ = cmd.Flags().GetString("token")
			if c.Token == "" {
				c.Token = os.Getenv("WMR_TOKEN")
			}
			if ca, _ := cmd.Flags().GetString("ca"); ca != "" {
				if c.CA, err = filepath.Abs(ca); err != nil {
					return err
				}
			}
			p := configPath()
			if p == "" {
				return errors.New("no config directory: set WMR_CONFIG")
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			b, _ := json.MarshalIndent(c, "", "  ")
			if err := os.WriteFile(p, b, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "logged in to %s as tenant %s (admin: %v); saved in %s\n", id.Node, id.Tenant, id.Admin, p)
			return nil
		},
	}
	nodeFlag(cmd, &node)
	return cmd
}

func newWhoamiCmd(stdout io.Writer) *cobra.Command {
	var node string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the tenant your token belongs to, and its quotas",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := newClient(cmd, node).Whoami(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(id) // compact, one line, as every --json
			}
			role := "tenant"
			if id.Admin {
				role = "admin tenant"
			}
			mode := "dev mode (no TLS, one tenant)"
			if id.Secure {
				mode = "secure (TLS, tokens)"
			}
			fmt.Fprintf(stdout, "%s %s on node %s, %s\n", role, id.Tenant, id.Node, mode)
			b, _ := json.Marshal(id.Quotas)
			if string(b) == "{}" {
				fmt.Fprintln(stdout, "quotas: none")
			} else {
				fmt.Fprintf(stdout, "quotas: %s\n", b)
			}
			return nil
		},
	}
	nodeFlag(cmd, &node)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}

func newRmCmd(stdout io.Writer) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "rm DATASET...",
		Short: "Delete datasets from the cluster (their shards are removed from every node)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newClient(cmd, node)
			for _, ds := range args {
				if err := c.Delete(cmd.Context(), ds); err != nil {
					return fmt.Errorf("delete %s: %w", ds, err)
				}
				fmt.Fprintf(stdout, "deleted %s\n", ds)
			}
			return nil
		},
	}
	nodeFlag(cmd, &node)
	return cmd
}

func newCACmd(stdout io.Writer) *cobra.Command {
	ca := &cobra.Command{
		Use:   "ca",
		Short: "Make the cluster's secrets: a CA, node certificates and gossip keys",
		Long: `Make the cluster's secrets.

  wmr ca init ./ca                                  # once: ca.crt, ca.key, gossip.keys
  wmr ca issue ./ca --name n1 --host 10.0.0.1 --out ./n1-secrets
  wmr node --secrets ./n1-secrets --data ./n1 ...   # on n1

Nodes with secrets encrypt gossip with the keyring in gossip.keys, serve
HTTPS, and accept node-to-node calls only with a certificate the CA issued.
Clients verify nodes with ca.crt (--ca) and authenticate with tokens. Keep
ca.key offline: whoever holds it can make node certificates.`,
	}
	ca.AddCommand(&cobra.Command{
		Use:   "init DIR",
		Short: "Create a cluster CA and a gossip key in DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := nodes.CreateCA(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "cluster CA and gossip key in %s; now 'wmr ca issue %s --name NODE --host ADDR --out DIR' for each node\n", args[0], args[0])
			return nil
		},
	})
	var name, out string
	var hosts []string
	issue := &cobra.Command{
		Use:   "issue CA_DIR --name NODE --host ADDR [--host ADDR] --out DIR",
		Short: "Issue a node's certificate and write its secrets directory (for wmr node --secrets)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := nodes.IssueNode(args[0], name, hosts, out); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "secrets for node %s in %s\n", name, out)
			return nil
		},
	}
	issue.Flags().StringVar(&name, "name", "", "node name (required)")
	issue.Flags().StringArrayVar(&hosts, "host", nil, "IP address or DNS name clients and peers reach the node at (repeatable)")
	issue.Flags().StringVar(&out, "out", "", "directory to write the node's secrets to (required)")
	issue.MarkFlagRequired("name")
	issue.MarkFlagRequired("out")
	ca.AddCommand(issue)
	ca.AddCommand(&cobra.Command{
		Use:   "gossip-key",
		Short: "Print a new random gossip key (for rotation with 'wmr gossip-keys')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := nodes.NewGossipKey()
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, k)
			return nil
		},
	})
	return ca
}

func newGossipKeysCmd(stdout io.Writer) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "gossip-keys install|use|remove KEY",
		Short: "Rotate the gossip encryption key on every live node (admin)",
		Long: `Rotate the gossip encryption key on every live node (admin tenants only).

  NEW=$(wmr ca gossip-key)
  wmr gossip-keys install $NEW   # every node can now decrypt with it
  wmr gossip-keys use $NEW       # every node now encrypts with it
  wmr gossip-keys remove $OLD    # the old key is gone

Each node saves its keyring in its data directory, so restarts keep it. A node
that was down during a step needs it repeated (or its gossip.keys updated).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := args[0]
			if op != "install" && op != "use" && op != "remove" {
				return usageError{fmt.Errorf("unknown step %q: use install, use or remove", op)}
			}
			res, err := newClient(cmd, node).RotateGossipKey(cmd.Context(), op, args[1])
			if err != nil {
				return err
			}
			var failed []string
			for n, r := range res.Nodes {
				fmt.Fprintf(stdout, "%s: %s\n", n, r)
				if r != "ok" {
					failed = append(failed, n)
				}
			}
			fmt.Fprintf(stdout, "primary key: %s\n", res.Primary)
			if len(failed) > 0 {
				return fmt.Errorf("%s on %s failed; repeat it once they are back", op, strings.Join(failed, ", "))
			}
			return nil
		},
	}
	nodeFlag(cmd, &node)
	return cmd
}

func newTenantsCmd(stdout io.Writer) *cobra.Command {
	tc := &cobra.Command{
		Use:   "tenants",
		Short: "Manage the tenants file nodes are given with --tenants",
	}
	var file, name string
	var admin bool
	var q struct {
		tasks, jobs, cpuWeight int
		cpuMax                 float64
	}
	var mem, taskTime, taskOutput, stored, module, memory string
	add := &cobra.Command{
		Use:   "add --file tenants.json --name TENANT [quotas]",
		Short: "Add a tenant (or a new token for an existing one) and print the token once",
		Long: `Add a tenant, or a further token for an existing tenant, to a tenants file
(created if missing) and print the new token. Only its SHA-256 hash is stored:
the token cannot be shown again. Nodes re-read the file within a second of a
change; copy it to every node. Quota flags set (or change) the tenant's quotas.`,
		Example: `  wmr tenants add --file tenants.json --name ops --admin
  wmr tenants add --file tenants.json --name alice --concurrent-tasks 2 --task-memory 128MiB \
      --task-time 5m --stored-bytes 10GiB --module-size 16MiB --jobs 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := nodes.ValidName("tenant", name); err != nil {
				return usageError{err}
			}
			var tf nodes.TenantsFile
			if b, err := os.ReadFile(file); err == nil {
				f, err := nodes.ParseTenants(b)
				if err != nil {
					return err
				}
				tf = *f
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			token, hash := nodes.NewToken()
			var t *nodes.Tenant
			for i := range tf.Tenants {
				if tf.Tenants[i].Name == name {
					t = &tf.Tenants[i]
				}
			}
			if t == nil {
				tf.Tenants = append(tf.Tenants, nodes.Tenant{Name: name})
				t = &tf.Tenants[len(tf.Tenants)-1]
			}
			t.Tokens = append(t.Tokens, hash)
			fl := cmd.Flags()
			if fl.Changed("admin") {
				t.Admin = admin
			}
			if fl.Changed("concurrent-tasks") {
				t.Quotas.ConcurrentTasks = q.tasks
			}
			if fl.Changed("jobs") {
				t.Quotas.Jobs = q.jobs
			}
			if fl.Changed("cpu-weight") {
				t.Quotas.CPUWeight = q.cpuWeight
			}
			if fl.Changed("cpu-max") {
				t.Quotas.CPUMax = q.cpuMax
			}
			for _, s := range []struct {
				flag, val string
				dst       *nodes.Size
			}{{"task-memory", mem, &t.Quotas.TaskMemory}, {"task-output", taskOutput, &t.Quotas.TaskOutput}, {"stored-bytes", stored, &t.Quotas.StoredBytes}, {"module-size", module, &t.Quotas.ModuleSize}, {"memory", memory, &t.Quotas.Memory}} {
				if fl.Changed(s.flag) {
					n, err := parseSize(s.val)
					if err != nil {
						return usageError{fmt.Errorf("--%s: %w", s.flag, err)}
					}
					*s.dst = nodes.Size(n)
				}
			}
			if fl.Changed("task-time") {
				d, err := time.ParseDuration(taskTime)
				if err != nil || d <= 0 {
					return usageError{fmt.Errorf("--task-time %q: give a duration such as 5m", taskTime)}
				}
				t.Quotas.TaskTime = nodes.Duration(d)
			}
			b, _ := json.MarshalIndent(tf, "", "  ")
			if _, err := nodes.ParseTenants(b); err != nil { // what a node would refuse is not written
				return usageError{err}
			}
			tmp := file + ".tmp"
			if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
				return err
			}
			if err := os.Rename(tmp, file); err != nil {
				return err
			}
			fmt.Fprintln(stdout, token)
			return nil
		},
	}
	fl := add.Flags()
	fl.StringVar(&file, "file", "tenants.json", "tenants file")
	fl.StringVar(&name, "name", "", "tenant name (required)")
	fl.BoolVar(&admin, "admin", false, "admin tenant: sees every tenant's things, runs cluster operations")
	fl.IntVar(&q.tasks, "concurrent-tasks", 0, "quota: the tenant's tasks running at once on one node (0: no limit)")
	fl.IntVar(&q.jobs, "jobs", 0, "quota: the tenant's jobs running at once (0: no limit)")
	fl.StringVar(&mem, "task-memory", "", "quota: module memory per task, e.g. 128MiB")
	fl.StringVar(&taskTime, "task-time", "", "quota: wall-clock limit per task, e.g. 5m")
	fl.StringVar(&taskOutput, "task-output", "", "quota: what one task's module may emit, e.g. 1GiB")
	fl.StringVar(&stored, "stored-bytes", "", "quota: bytes of datasets, every replica counted, e.g. 10GiB")
	fl.StringVar(&module, "module-size", "", "quota: size of one uploaded module, e.g. 16MiB")
	fl.IntVar(&q.cpuWeight, "cpu-weight", 0, "the tenant's share of each node's CPU against other tenants with work, 1 to 10000 (default 100: equal shares; needs cgroups)")
	fl.Float64Var(&q.cpuMax, "cpu-max", 0, "quota: the tenant's CPU time on each machine, in CPUs (0.5: half a CPU), a hard cap even when CPUs are idle (0: none; needs cgroups)")
	fl.StringVar(&memory, "memory", "", "quota: memory of all the tenant's worker processes on one node together, e.g. 2GiB (needs cgroups)")
	add.MarkFlagRequired("name")
	tc.AddCommand(add)
	return tc
}
