package parse

import (
	"bytes"
	"crypto"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// sniffKeys are the keys sniff tests encrypt to: every packet shape a real
// client sends (legacy v4 ECDH, RSA with a two-octet length, v6 X25519).
func sniffKeys(t *testing.T) map[string]*openpgp.Entity {
	t.Helper()
	cfgs := map[string]*packet.Config{
		"v4 curve25519": {Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519},
		"v4 rsa-3072":   {Algorithm: packet.PubKeyAlgoRSA, RSABits: 3072},
		"v6 x25519":     {Algorithm: packet.PubKeyAlgoEd25519, V6Keys: true},
	}
	keys := map[string]*openpgp.Entity{}
	for name, cfg := range cfgs {
		e, err := openpgp.NewEntity("Bot", "", "security@example.org", cfg)
		if err != nil {
			t.Fatalf("NewEntity(%s) = %v", name, err)
		}
		keys[name] = e
	}
	return keys
}

func TestSniffPGPRealData(t *testing.T) {
	plain := strings.Repeat("a report line\r\n", 200)
	seal := func(t *testing.T, write func(w *bytes.Buffer) (interface {
		Write([]byte) (int, error)
		Close() error
	}, error)) []byte {
		t.Helper()
		var buf bytes.Buffer
		w, err := write(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(plain))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	type wc = interface {
		Write([]byte) (int, error)
		Close() error
	}
	keys := sniffKeys(t)
	for name, e := range keys {
		t.Run("encrypted to "+name, func(t *testing.T) {
			data := seal(t, func(w *bytes.Buffer) (wc, error) {
				return openpgp.Encrypt(w, []*openpgp.Entity{e}, nil, nil, nil)
			})
			if got := sniffPGP(data[:min(1024, len(data))]); got != "message" {
				t.Errorf("sniffPGP(% x...) = %q, want message", data[:8], got)
			}
		})
		t.Run("public key "+name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := e.Serialize(&buf); err != nil {
				t.Fatal(err)
			}
			data := buf.Bytes()
			if got := sniffPGP(data[:min(1024, len(data))]); got != "key" {
				t.Errorf("sniffPGP(% x...) = %q, want key", data[:8], got)
			}
		})
	}
	t.Run("encrypted to two keys", func(t *testing.T) {
		data := seal(t, func(w *bytes.Buffer) (wc, error) {
			return openpgp.Encrypt(w, []*openpgp.Entity{keys["v4 rsa-3072"], keys["v4 curve25519"]}, nil, nil, nil)
		})
		if got := sniffPGP(data[:1024]); got != "message" {
			t.Errorf("sniffPGP() = %q, want message", got)
		}
	})
	for _, aead := range []bool{false, true} {
		t.Run(fmt.Sprintf("passphrase aead=%v", aead), func(t *testing.T) {
			cfg := &packet.Config{DefaultHash: crypto.SHA256}
			if aead {
				cfg.AEADConfig = &packet.AEADConfig{}
			}
			data := seal(t, func(w *bytes.Buffer) (wc, error) {
				return openpgp.SymmetricallyEncrypt(w, []byte("secret"), nil, cfg)
			})
			if got := sniffPGP(data[:min(1024, len(data))]); got != "message" {
				t.Errorf("sniffPGP(% x...) = %q, want message", data[:8], got)
			}
		})
	}
}

// TestSniffPGPRandomData: binary attachments (captures, archives, images)
// are not OpenPGP. Checking only the first packet tag took about 6% of
// random data for an encrypted message.
func TestSniffPGPRandomData(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	head := make([]byte, 1024)
	const n = 200000
	taken := 0
	for i := range n {
		for j := range head {
			head[j] = byte(r.Uint32())
		}
		if i%2 == 0 {
			// The worst case: a first byte that is a session key tag.
			head[0] = []byte{0x84, 0x85, 0x8c, 0x8d, 0xc1, 0xc3}[i/2%6]
		}
		if got := sniffPGP(head); got != "" {
			taken++
			if taken <= 3 {
				t.Errorf("sniffPGP(% x...) = %q, want \"\"", head[:16], got)
			}
		}
	}
	if taken > 0 {
		t.Errorf("%d of %d random heads taken for OpenPGP, want 0", taken, n)
	}
}

// TestRandomAttachmentIsAnAttachment: a binary attachment that happens to
// start with a session key tag is listed as an attachment, not decrypted.
func TestRandomAttachmentIsAnAttachment(t *testing.T) {
	body := make([]byte, 4096)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range body {
		body[i] = byte(r.Uint32())
	}
	body[0] = 0x85 // legacy format, tag 1, two-octet length
	msg := "From: a@example.org\r\nTo: security@example.org\r\nSubject: pcap\r\nMessage-ID: <x@example.org>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsee the capture\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=capture.pcap\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b64Lines(string(body)) + "--b--\r\n"
	m, err := parseString(t, msg, Limits{})
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	if len(m.PGP) != 0 || len(m.Attachments) != 1 || m.Attachments[0].Name != "capture.pcap" {
		t.Errorf("Parse() PGP = %d blocks, attachments %+v; want 0 blocks and capture.pcap", len(m.PGP), m.Attachments)
	}
}

// FuzzSniffPGP: any bytes are sniffed without a panic, and what is taken
// for OpenPGP starts with a packet header that reads.
func FuzzSniffPGP(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP MESSAGE-----\n"))
	f.Add([]byte{0x85, 0x01, 0x0c, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 1})
	f.Add([]byte{0xc1, 0x0d, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 18, 0, 0, 0, 0xd2, 0xe0})
	f.Add([]byte{0xc3, 0x3f, 0x06, 0x1d, 0x07, 0x02, 0x0b, 0x03})
	f.Add([]byte{0x99, 0x01, 0x0d, 0x04, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, head []byte) {
		kind := sniffPGP(head)
		if kind == "" || bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("-----BEGIN PGP")) {
			return
		}
		if _, hdr, n, ok := packetHeader(head); !ok || hdr == 0 || n == 0 {
			t.Errorf("sniffPGP(% x) = %q, but packetHeader() = %d, %d, %v", head, kind, hdr, n, ok)
		}
	})
}
