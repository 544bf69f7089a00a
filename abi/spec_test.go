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
	block := make([]byte, TextBlockHeader, TextBlockHeader+5)
	PutTextBlockHeader(block, 100, 5)
	block = append(block, "ab\r\nc"...)
	if at, lines, err := ReadTextBlock(block); err != nil || at != 100 || string(lines) != "ab\r\nc" {
		t.Errorf("ReadTextBlock of the example: %d, %q, %v", at, lines, err)
	}
	for name, b := range map[string][]byte{"batch": batch.Bytes(), "chunk": chunk.Bytes(), "text block": block} {
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
