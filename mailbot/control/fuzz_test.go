package control

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// seeds reads the files of testdata/<name> as fuzz seeds.
func seeds(f *testing.F, name string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", name, "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s: %v", name, err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzParseRequest(f *testing.F) {
	seeds(f, "requests")
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := parseRequest(line)
		if err != nil {
			return
		}
		if req.Command == "" {
			t.Fatalf("parseRequest(%q) = %+v with an empty command", line, req)
		}
	})
}

func FuzzReadStream(f *testing.F) {
	seeds(f, "streams")
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		_, err := readStream(bufio.NewReader(bytes.NewReader(data)), &out)
		if err == nil && out.Len() > len(data) {
			t.Fatalf("readStream() produced %d bytes from %d", out.Len(), len(data))
		}
		// Round trip: what chunkWriter frames, readStream returns.
		var framed bytes.Buffer
		bw := bufio.NewWriter(&framed)
		chunkWriter{bw}.Write(data)
		bw.Write([]byte{0, 0, 0, 0})
		bw.WriteString("{\"ok\":true}\n")
		bw.Flush()
		out.Reset()
		resp, err := readStream(bufio.NewReader(&framed), &out)
		if err != nil || !resp.OK || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("round trip = %+v, %v, %d bytes, want ok and %d bytes", resp, err, out.Len(), len(data))
		}
		_ = io.Discard
	})
}
