// Command wasiexec runs a Go test binary built for GOOS=wasip1 under
// wazero, the runtime wmr itself uses, so that the Go SDK's unit tests run
// inside WebAssembly as well as natively: its hand-written wasm fast paths
// (sdk/go/*_wasm.s) exist only there. The go command runs it as
// go_wasip1_wasm_exec from PATH (see the Makefile's sdk-test).
//
// The SDK imports wmr's host functions (module "wmr"); its unit tests
// never reach them, so each one here ends the run with a message.
package main
