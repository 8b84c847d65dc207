package parse

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime/quotedprintable"
	"os"
	"strings"
	"testing"
)

// armored is a fake armored PGP MESSAGE of about n bytes (lines of 64
// base64 characters), with line ending nl.
func armored(n int, nl string) string {
	var b strings.Builder
	b.WriteString("-----BEGIN PGP MESSAGE-----" + nl + nl)
	line := strings.Repeat("hQEMA0xQ1A3ScyHq", 4)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s%s", line[:60]+fmt.Sprintf("%04d", i%10000), nl)
	}
	b.WriteString("=abcd" + nl + "-----END PGP MESSAGE-----" + nl)
	return b.String()
}

func b64Lines(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	return b.String() + enc + "\r\n"
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// readBlock reads what b.Open gives, failing the test on a read error.
func readBlock(t *testing.T, b *PGPBlock, raw []byte) []byte {
	t.Helper()
	got, err := io.ReadAll(b.Open(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("Open() read = %v", err)
	}
	return got
}

// TestPGPBlockOpen: a block too large to keep is found again in the raw
// message, byte for byte what Data would have held, whatever the part's
// transfer encoding, charset, nesting and line endings.
func TestPGPBlockOpen(t *testing.T) {
	const hdr = "From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
	big := armored(keepPGPBytes+100<<10, "\r\n")
	small := armored(2<<10, "\r\n")
	latin := "Gr\xfc\xdfe aus K\xf6ln\r\n" // windows-1252: decoded to UTF-8 before the armor is found
	tests := []struct {
		name string
		raw  string
		want []string // the blocks, in order
		kept []bool   // whether Data holds each one
	}{
		{
			name: "pgp-mime base64",
			raw: hdr + "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\r\n\r\n" +
				"--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n" +
				"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Lines(big) + "--b--\r\n",
			want: []string{big},
			kept: []bool{false},
		},
		{
			name: "pgp-mime 7bit, preamble, small",
			raw: hdr + "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\r\n\r\nThis is an OpenPGP/MIME message.\r\n" +
				"--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n" +
				"--b\r\nContent-Type: application/octet-stream\r\n\r\n" + small + "\r\n--b--\r\n",
			want: []string{small}, // the line break before a boundary is the boundary's (RFC 2046 section 5.1.1)
			kept: []bool{true},
		},
		{
			name: "inline in quoted-printable latin-1, two blocks",
			raw: hdr + "Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				qp(latin+"Hello,\r\n\r\n"+big+"\r\nand another:\r\n"+small+"\r\n"+latin),
			want: []string{strings.ReplaceAll(big, "\xfc", "ü"), small},
			kept: []bool{false, true},
		},
		{
			name: "nested, attachment and inline, LF only",
			raw: strings.ReplaceAll(hdr+"Content-Type: multipart/mixed; boundary=out\r\n\r\n"+
				"--out\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n"+
				"--in\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"+big+"--in\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--in--\r\n"+
				"--out\r\nContent-Type: application/octet-stream; name=\"report.asc\"\r\nContent-Disposition: attachment; filename=\"report.asc\"\r\n"+
				"Content-Transfer-Encoding: base64\r\n\r\n"+b64Lines(big)+"--out--\r\n", "\r\n", "\n"),
			want: []string{strings.TrimSuffix(strings.ReplaceAll(big, "\r\n", "\n"), "\n"), big},
			kept: []bool{false, false},
		},
		{
			name: "bare CR line endings",
			raw:  strings.ReplaceAll(hdr+"Content-Type: text/plain\r\n\r\nsee below\r\n"+big, "\r\n", "\r"),
			want: []string{strings.ReplaceAll(big, "\r\n", "\n")},
			kept: []bool{false},
		},
		{
			name: "byte order mark, top-level attachment",
			raw:  "\xef\xbb\xbf" + hdr + "Content-Type: application/pgp-encrypted\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Lines(big),
			want: []string{big},
			kept: []bool{false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			m, err := Parse(bytes.NewReader(raw), Limits{})
			if err != nil {
				t.Fatalf("Parse() = %v", err)
			}
			if len(m.PGP) != len(tt.want) {
				t.Fatalf("Parse() PGP = %d blocks, want %d (warnings %q)", len(m.PGP), len(tt.want), m.Warnings)
			}
			for i := range m.PGP {
				b := &m.PGP[i]
				if got := readBlock(t, b, raw); string(got) != tt.want[i] {
					t.Errorf("block %d: Open() = %d bytes %.80q..., want %d bytes %.80q...", i, len(got), got, len(tt.want[i]), tt.want[i])
				}
				if b.Size != int64(len(tt.want[i])) {
					t.Errorf("block %d: Size = %d, want %d", i, b.Size, len(tt.want[i]))
				}
				if (b.Data != nil) != tt.kept[i] {
					t.Errorf("block %d: Data kept = %v, want %v", i, b.Data != nil, tt.kept[i])
				}
				if b.Length == 0 || b.Offset < 0 || b.Offset+b.Length > int64(len(raw)) {
					t.Errorf("block %d: Offset, Length = %d, %d, want a range inside the %d raw bytes", i, b.Offset, b.Length, len(raw))
				}
				if b.Data != nil {
					if got, _ := io.ReadAll(b.openRaw(bytes.NewReader(raw))); !bytes.Equal(got, b.Data) {
						t.Errorf("block %d: read from raw = %.80q, want Data %.80q", i, got, b.Data)
					}
				}
			}
		})
	}
}

// TestPGPBlockOpenCorpus: in every corpus message, what a block's place in
// the raw message gives is what Data holds.
func TestPGPBlockOpenCorpus(t *testing.T) {
	n := 0
	for _, sub := range []string{"valid", "malformed", "automated"} {
		for _, name := range corpusFiles(t, sub) {
			raw, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(bytes.NewReader(raw), Limits{})
			if err != nil {
				continue
			}
			for i := range m.PGP {
				checkPlace(t, name, &m.PGP[i], raw)
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no OpenPGP block in the corpus: the test checks nothing")
	}
}

// checkPlace fails when a block with a place in raw does not read back as
// its Data.
func checkPlace(t *testing.T, name string, b *PGPBlock, raw []byte) {
	t.Helper()
	if b.Length == 0 {
		return // known by Data only (found in HTML)
	}
	if b.Offset < 0 || b.Offset+b.Length > int64(len(raw)) {
		t.Fatalf("%s: block at %d+%d outside the %d raw bytes", name, b.Offset, b.Length, len(raw))
	}
	got, _ := io.ReadAll(b.openRaw(bytes.NewReader(raw)))
	if int64(len(got)) != b.Size || (b.Data != nil && !bytes.Equal(got, b.Data)) {
		t.Fatalf("%s: block %s read from raw = %d bytes %.60q, want Size %d, Data %.60q", name, b.Kind, len(got), got, b.Size, b.Data)
	}
}
