package abi

import (
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
)

//go:embed testdata/partition_vectors.json
var partitionVectorsJSON []byte

// PartitionVector is one published partition test vector: a key and its
// partition for several partition counts.
type PartitionVector struct {
	Key        []byte
	Hash       uint64
	Partitions map[int]int
}

// PartitionVectors returns the vectors of testdata/partition_vectors.json
// (the ones ABI.md tells every SDK to reproduce), for conformance checks.
func PartitionVectors() []PartitionVector {
	var doc struct {
		Vectors []struct {
			KeyHex     string         `json:"key_hex"`
			HashHex    string         `json:"hash_hex"`
			Partitions map[string]int `json:"partitions"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(partitionVectorsJSON, &doc); err != nil {
		panic("abi: embedded partition vectors: " + err.Error())
	}
	out := make([]PartitionVector, 0, len(doc.Vectors))
	for _, v := range doc.Vectors {
		key, err := hex.DecodeString(v.KeyHex)
		if err != nil {
			panic("abi: embedded partition vectors: " + err.Error())
		}
		h, err := strconv.ParseUint(v.HashHex, 16, 64)
		if err != nil {
			panic("abi: embedded partition vectors: " + err.Error())
		}
		pv := PartitionVector{Key: key, Hash: h, Partitions: map[int]int{}}
		for r, p := range v.Partitions {
			n, err := strconv.Atoi(r)
			if err != nil {
				panic("abi: embedded partition vectors: " + err.Error())
			}
			pv.Partitions[n] = p
		}
		out = append(out, pv)
	}
	return out
}

// PartitionCounts returns the partition counts the vectors cover, sorted.
func (v PartitionVector) PartitionCounts() []int {
	rs := make([]int, 0, len(v.Partitions))
	for r := range v.Partitions {
		rs = append(rs, r)
	}
	sort.Ints(rs)
	return rs
}
