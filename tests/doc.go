// Package tests holds black-box tests: they build the wmr binary and run it
// the way a user does (real processes, real files), checking outputs
// against independent computations, exit codes and error messages. They
// also enforce the dependency rules between packages.
package tests
