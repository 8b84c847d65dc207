package parse

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// benchReport is a plain report of about size bytes of text, with an
// attachment of att random bytes when att > 0.
func benchReport(size, att int) []byte {
	var b bytes.Buffer
	b.WriteString("From: Ada Lovelace <ada@research.example>\r\nTo: security@example.org\r\n" +
		"Subject: SQL injection in login\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n" +
		"Message-ID: <r1@research.example>\r\nReferences: <a@x.example> <b@x.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "Step %d: send ' OR 1=1 -- to https://app.example.org/login and watch the response.\r\n", i)
	}
	if att > 0 {
		raw := make([]byte, att)
		rand.Read(raw)
		enc := base64.StdEncoding.EncodeToString(raw)
		b.WriteString("--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=poc.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--b1--\r\n")
	return b.Bytes()
}

func benchParse(b *testing.B, raw []byte) {
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	r := bytes.NewReader(nil)
	for b.Loop() {
		r.Reset(raw)
		m, err := Parse(r, Limits{})
		if err != nil || !strings.Contains(m.Text, "Step 1:") {
			b.Fatalf("Parse() = %v, text %d bytes", err, len(m.Text))
		}
	}
}

// BenchmarkStageParse is the parse stage of issue 9: a 20 KB report, and
// one with a 10 MB attachment (hashed and dropped, never kept).
func BenchmarkStageParse(b *testing.B) {
	b.Run("20KB", func(b *testing.B) { benchParse(b, benchReport(20<<10, 0)) })
	b.Run("10MB-attachment", func(b *testing.B) { benchParse(b, benchReport(2<<10, 10<<20)) })
}
