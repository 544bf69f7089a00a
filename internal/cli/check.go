package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/wmr-dev/wmr/engine/conformance"
)

func newCheckCmd(stdout io.Writer) *cobra.Command {
	var (
		wasm    string
		params  []string
		memory  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "check --wasm FILE",
		Short: "Check a module against the wmr ABI (for SDK and module authors)",
		Long: `Check loads a module as wmr does and runs it through the ABI's rules
(abi/ABI.md): exports and version, init with and without parameters, empty
input, empty and binary keys and values (NUL bytes, invalid UTF-8, 1 MiB),
a key with many values streamed across calls, a warm instance running two
tasks, partition vectors (when it exports wmr_partition), errors reported
through wmr.fail, and a clean stop at the memory cap. One line per check;
the exit status is 1 if any fails.`,
		Example: `  wmr check --wasm build/examples/wordcount-rust.wasm
  wmr check --wasm grep.wasm --param pattern='[Tt]he'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if wasm == "" {
				return usageError{fmt.Errorf("--wasm is required (see 'wmr check --help')")}
			}
			p, err := parseParams(params)
			if err != nil {
				return usageError{err}
			}
			mem, err := parseSize(memory)
			if err != nil {
				return usageError{fmt.Errorf("--memory: %w", err)}
			}
			b, err := os.ReadFile(wasm)
			if err != nil {
				return fmt.Errorf("read module: %w", err)
			}
			return runCheck(cmd.Context(), stdout, filepath.Base(wasm), b, conformance.Options{Params: p, MemoryLimit: mem, Timeout: timeout})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&wasm, "wasm", "", "the module to check (required)")
	fl.StringArrayVar(&params, "param", nil, "job parameter key=value for init, for modules that need one (repeatable)")
	fl.StringVar(&memory, "memory", "64MiB", "memory cap to run the module under")
	fl.DurationVar(&timeout, "timeout", 20*time.Second, "time limit per check")
	return cmd
}

func runCheck(ctx context.Context, stdout io.Writer, name string, wasm []byte, opts conformance.Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	fmt.Fprintf(stdout, "wmr check %s (%d bytes)\n", name, len(wasm))
	counts := map[conformance.Status]int{}
	failed := conformance.Run(ctx, name, wasm, opts, func(r conformance.Result) {
		counts[r.Status]++
		fmt.Fprintf(stdout, "  %s  %s: %s\n", r.Status, r.Name, r.Detail)
	})
	total := counts[conformance.Pass] + counts[conformance.Fail] + counts[conformance.Skip]
	fmt.Fprintf(stdout, "%d checks: %d passed, %d failed, %d skipped\n", total, counts[conformance.Pass], counts[conformance.Fail], counts[conformance.Skip])
	if failed > 0 {
		return fmt.Errorf("%s does not conform to the wmr ABI: %d of %d checks failed", name, failed, total)
	}
	return nil
}
