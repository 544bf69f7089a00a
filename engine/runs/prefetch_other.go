//go:build !amd64 && !arm64

package runs

func prefetch(*byte) {}
