package abi

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// The byte examples in ABI.md must be what the codec writes.
func TestABIDocExamples(t *testing.T) {
	doc, err := os.ReadFile("ABI.md")
	if err != nil {
		t.Fatal(err)
	}
	var batch BatchWriter
	batch.Add([]byte("ab"), []byte("1"))
	var chunk ChunkWriter
	chunk.Reset()
	chunk.BeginGroup([]byte("k"))
	chunk.AddValue([]byte("1"))
	chunk.AddValue([]byte("2"))
	chunk.EndGroup(false)
	for name, b := range map[string][]byte{"batch": batch.Bytes(), "chunk": chunk.Bytes()} {
		h := hex.EncodeToString(b)
		if !strings.Contains(strings.ReplaceAll(string(doc), " ", ""), h) {
			t.Errorf("ABI.md does not show the %s example as the codec writes it: %s", name, h)
		}
	}
	for _, want := range []string{"cbf29ce484222325", "af63dc4c8601ec8c"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("ABI.md lacks hash vector %s", want)
		}
	}
}
