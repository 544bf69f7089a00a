package abi

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"testing"
)

// TestPartitionVectors checks Hash and Partition against testdata/
// partition_vectors.json, the vectors every SDK must reproduce. They were
// generated with Go's hash/fnv, an implementation independent of Hash.
func TestPartitionVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/partition_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			KeyHex     string            `json:"key_hex"`
			HashHex    string            `json:"hash_hex"`
			Partitions map[string]uint64 `json:"partitions"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) < 5 {
		t.Fatalf("only %d vectors", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		key, err := hex.DecodeString(v.KeyHex)
		if err != nil {
			t.Fatal(err)
		}
		if got := strconv.FormatUint(Hash(key), 16); leftPad(got) != v.HashHex {
			t.Errorf("Hash(%q) = %s, want %s", key, leftPad(got), v.HashHex)
		}
		for ns, want := range v.Partitions {
			n, _ := strconv.Atoi(ns)
			if got := Partition(key, n); uint64(got) != want {
				t.Errorf("Partition(%q, %d) = %d, want %d", key, n, got, want)
			}
		}
	}
}

func leftPad(s string) string {
	for len(s) < 16 {
		s = "0" + s
	}
	return s
}
