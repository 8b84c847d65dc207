package pgp

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

func FuzzDecrypt(f *testing.F) {
	kr, pubs := kdeKeys(f)
	files, _ := filepath.Glob(filepath.Join(testdata, "kde-mimetreeparser/messages/*.mbox"))
	for _, file := range files {
		for _, b := range extractBlocks(f, readTestdata(f, "kde-mimetreeparser/messages/"+filepath.Base(file))) {
			f.Add(b.data)
		}
	}
	f.Add([]byte{0xc0 | 9, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := kr.Decrypt(data, pubs, Options{MaxSize: 1 << 20})
		if err != nil {
			if res != nil && res.Plaintext != nil {
				t.Fatalf("Decrypt() = %v with %d bytes of plaintext, want none", err, len(res.Plaintext))
			}
			for _, s := range []error{ErrNoKey, ErrIntegrity, ErrDamaged, ErrTooLarge, ErrNotEncrypted} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("Decrypt() = %v, want one of the package's sentinels", err)
		}
		if !res.Encrypted || res.Plaintext == nil || (res.SignatureValid && res.SignerFingerprint == "") {
			t.Fatalf("Decrypt() = %+v, want encrypted plaintext", res)
		}
	})
}

func FuzzParseAutocrypt(f *testing.F) {
	for _, name := range []string{"example-simple-autocrypt.eml", "example-gossip.eml"} {
		h, err := textproto.ReadHeader(bufioReader(readTestdata(f, "autocrypt-spec/messages/"+name)))
		if err != nil {
			f.Fatalf("ReadHeader() = %v", err)
		}
		f.Add(h.Get("Autocrypt"))
	}
	f.Add("addr=a@b.example; keydata=AAAA")
	f.Fuzz(func(t *testing.T, v string) {
		addr, keys, err := ParseAutocrypt(v)
		if err != nil {
			if !errors.Is(err, ErrBadAutocrypt) {
				t.Fatalf("ParseAutocrypt() = %v, want %v", err, ErrBadAutocrypt)
			}
			return
		}
		if addr == "" || len(keys) != 1 || !strings.Contains(addr, "@") {
			t.Fatalf("ParseAutocrypt() = %q, %d keys, want an address and one key", addr, len(keys))
		}
		for _, e := range keys {
			if e.PrivateKey != nil {
				t.Fatalf("ParseAutocrypt() kept a private key")
			}
		}
	})
}

func FuzzParseKeys(f *testing.F) {
	for _, name := range []string{
		"kde-mimetreeparser/keys/pubring.gpg",
		"autocrypt-spec/keys/alice@autocrypt.example.pub.asc",
		"autocrypt-spec/keys/bob@autocrypt.example.sec.asc",
	} {
		f.Add(readTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseKeys(data)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("ParseKeys() = %v, want %v", err, ErrDamaged)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatalf("ParseKeys() = no keys and no error")
		}
		for _, e := range keys {
			if e.PrivateKey != nil {
				t.Fatalf("ParseKeys() kept a private key")
			}
			KeyForAddress(keys, "a@b.example")
		}
	})
}
