package pgp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
)

const testdata = "../../testdata/openpgp"

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatalf("ReadFile(%s) = %v", name, err)
	}
	return b
}

// Generated keys are cached: RSA 4096 takes seconds, more under -race.
var (
	keyMu    sync.Mutex
	keyCache = map[string]*Keyring{}
)

func testKey(t testing.TB, who string, algo Algo) *Keyring {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	id := who + "/" + algo.String()
	if k, ok := keyCache[id]; ok {
		return k
	}
	k, err := Generate(who, strings.ToLower(who)+"@example.org", algo, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatalf("Generate(%s) = %v", id, err)
	}
	keyCache[id] = k
	return k
}

// publicOnly returns the public half of a keyring, as a researcher would see it.
func publicOnly(t testing.TB, k *Keyring) openpgp.EntityList {
	t.Helper()
	var buf bytes.Buffer
	if err := k.WritePublic(&buf); err != nil {
		t.Fatalf("WritePublic() = %v", err)
	}
	el, err := ParseKeys(buf.Bytes())
	if err != nil {
		t.Fatalf("ParseKeys() = %v", err)
	}
	return el
}

// encryptTo makes a binary OpenPGP message as a researcher's client would.
func encryptTo(t testing.TB, plain []byte, to openpgp.EntityList, signer *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := openpgp.Encrypt(&buf, to, signer, nil, nil)
	if err != nil {
		t.Fatalf("openpgp.Encrypt() = %v", err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	return buf.Bytes()
}

func kdeKeys(t testing.TB) (*Keyring, openpgp.EntityList) {
	t.Helper()
	kr, err := ReadKeyring(bytes.NewReader(readTestdata(t, "kde-mimetreeparser/keys/secring.gpg")), nil)
	if err != nil {
		t.Fatalf("ReadKeyring(secring.gpg) = %v", err)
	}
	pubs, err := ParseKeys(readTestdata(t, "kde-mimetreeparser/keys/pubring.gpg"))
	if err != nil {
		t.Fatalf("ParseKeys(pubring.gpg) = %v", err)
	}
	return kr, pubs
}

type block struct {
	kind string // "pgp-mime" or "inline"
	data []byte
}

// extractBlocks finds ciphertext in a raw message the naive way: the second
// part of a multipart/encrypted, or an armored PGP MESSAGE in any decoded
// leaf part. It stands in for mailbot/parse, which this package must not import.
func extractBlocks(t testing.TB, raw []byte) []block {
	t.Helper()
	if bytes.HasPrefix(raw, []byte("From ")) { // mbox separator line
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		t.Fatalf("message.Read() = %v", err)
	}
	var out []block
	var walk func(e *message.Entity, depth int)
	walk = func(e *message.Entity, depth int) {
		if depth > 10 {
			return
		}
		ct, _, _ := e.Header.ContentType()
		if mr := e.MultipartReader(); mr != nil {
			for i := 1; ; i++ {
				p, err := mr.NextPart()
				if err != nil {
					return
				}
				if strings.EqualFold(ct, "multipart/encrypted") {
					if i == 2 {
						b, _ := io.ReadAll(p.Body)
						out = append(out, block{"pgp-mime", b})
					}
					continue
				}
				walk(p, depth+1)
			}
		}
		b, _ := io.ReadAll(e.Body)
		for {
			i := bytes.Index(b, []byte("-----BEGIN PGP MESSAGE-----"))
			if i < 0 {
				return
			}
			b = b[i:]
			j := bytes.Index(b, []byte("-----END PGP MESSAGE-----"))
			if j < 0 {
				out = append(out, block{"inline", b})
				return
			}
			j += len("-----END PGP MESSAGE-----")
			out = append(out, block{"inline", b[:j]})
			b = b[j:]
		}
	}
	walk(e, 0)
	return out
}

// wantErr checks that err wraps want (nil meaning no error).
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s = %v, want no error", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s = %v, want %v", what, err, want)
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
