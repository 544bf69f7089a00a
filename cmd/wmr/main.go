// Command wmr runs MapReduce jobs whose map and reduce are WebAssembly
// modules. See internal/cli and README.md.
package main

import (
	"os"

	"github.com/wmr-dev/wmr/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
