package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wmr-dev/wmr/engine/worker"
	"github.com/wmr-dev/wmr/nodes"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError marks errors in how the command was called.
type usageError struct{ error }

// Main runs wmr with args (without the program name) and returns the exit
// code. A worker process (see engine/worker) runs the worker loop instead.
func Main(args []string, stdout, stderr io.Writer) int {
	if worker.IsWorker() {
		return worker.Main()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue usageError
	if !errors.As(err, &ue) && cobraUsage(err) {
		err = usageError{fmt.Errorf("%w (see 'wmr --help')", err)}
	}
	if errors.Is(err, nodes.ErrUnreachable) && strings.Contains(err.Error(), "connection refused") {
		err = fmt.Errorf("%w; no wmr node listens there: start one (wmr node --help), or point --node or WMR_NODE at a running node", err)
	}
	fmt.Fprintf(stderr, "wmr: %v\n", err)
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitError
}

// cobraUsage recognises the command-line errors cobra reports itself,
// which carry no type: a required flag not given, an unknown command.
func cobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "required flag(s)") || strings.HasPrefix(msg, "unknown command") ||
		strings.HasPrefix(msg, "if any flags in the group") || strings.HasPrefix(msg, "at least one of the flags")
}

// usageArgs makes every command's argument check a usage error (exit 2).
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "wmr",
		Short: "wmr runs MapReduce jobs whose map and reduce are WebAssembly modules",
		Long: `wmr runs MapReduce jobs whose map and reduce are WebAssembly modules.

Write map and reduce in any language with a wmr SDK, compile to .wasm, and run:

  wmr run --wasm wordcount.wasm --input books/ --output out/ --reducers 4`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.AddCommand(newRunCmd(stdout, stderr), newWorkerCmd(), newVersionCmd(stdout),
		newNodeCmd(stderr), newMembersCmd(stdout), newNodesCmd(stdout), newStorageCmd(stdout), newDatasetsCmd(stdout), newPutCmd(stdout, stderr),
		newCatCmd(stdout), newGetCmd(stdout), newSubmitCmd(stdout, stderr), newJobsCmd(stdout), newStatusCmd(stdout),
		newCheckCmd(stdout), newRmCmd(stdout), newCancelCmd(stdout), newNewCmd(stdout), newLogsCmd(stdout), newWhoamiCmd(stdout), newLoginCmd(stdout), newCACmd(stdout),
		newTenantsCmd(stdout), newGossipKeysCmd(stdout))
	usageArgs(root)
	return root
}

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "worker",
		Short:  "Run tasks for a parent wmr process (internal)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := worker.Main(); code != 0 {
				return fmt.Errorf("worker exited with code %d", code)
			}
			return nil
		},
	}
}

// Version is the wmr version, set at build time with -ldflags.
var Version = "dev"

func newVersionCmd(stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the wmr version and the ABI version it implements",
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return json.NewEncoder(stdout).Encode(map[string]any{"version": Version, "abi": abiVersion})
			}
			fmt.Fprintf(stdout, "wmr %s (ABI v%d)\n", Version, abiVersion)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
