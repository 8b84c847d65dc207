package pgp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

// opener returns data from its start on every call, and counts the calls.
func opener(data []byte, calls *int) func() (io.Reader, error) {
	return func() (io.Reader, error) {
		*calls++
		return bytes.NewReader(data), nil
	}
}

// TestDecryptStream: the plaintext streams out as Decrypt would return it,
// and the signature is known only at Close.
func TestDecryptStream(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	researcher := testKey(t, "Researcher", Ed25519)
	plain := make([]byte, 3<<20)
	rand.Read(plain)
	msg := encryptTo(t, plain, publicOnly(t, bot), researcher.Entities()[0])
	for name, data := range map[string][]byte{"binary": msg, "armored": armorMessage(t, msg)} {
		t.Run(name, func(t *testing.T) {
			calls := 0
			s, err := bot.DecryptStream(opener(data, &calls), publicOnly(t, researcher), Options{MaxSize: 4 << 20})
			if err != nil {
				t.Fatalf("DecryptStream() = %v", err)
			}
			got, err := io.ReadAll(s)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("reading the Stream = %d bytes, %v; want the %d bytes of plaintext", len(got), err, len(plain))
			}
			res, err := s.Close()
			if err != nil || !res.Encrypted || !res.SignatureValid || res.SignerFingerprint != researcher.Fingerprint() || res.Plaintext != nil {
				t.Fatalf("Close() = %+v, %v; want a valid signature by %s and no Plaintext", res, err, researcher.Fingerprint())
			}
			if calls != 2 {
				t.Errorf("open was called %d times, want 2 (framing, then decryption)", calls)
			}
		})
	}
}

// TestDecryptStreamTampered: a modified ciphertext gives its plaintext out
// as it is read (go-crypto checks the MDC only at the end), and Close says
// that none of it may be used.
func TestDecryptStreamTampered(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	plain := bytes.Repeat([]byte("attack at dawn. "), 1<<16) // 1 MiB
	msg := encryptTo(t, plain, publicOnly(t, bot), nil)
	for _, off := range []int{len(msg) / 2, len(msg) - 5} { // literal data, inside the MDC
		bad := bytes.Clone(msg)
		bad[off] ^= 0x01
		calls := 0
		s, err := bot.DecryptStream(opener(armorMessage(t, bad), &calls), nil, Options{})
		if err != nil {
			t.Fatalf("DecryptStream(flipped at %d) = %v, want the error at the end", off, err)
		}
		n, rerr := io.Copy(io.Discard, s)
		res, err := s.Close()
		wantErr(t, "Close(flipped)", err, ErrIntegrity)
		if !errors.Is(rerr, ErrIntegrity) {
			t.Errorf("reading the Stream (flipped at %d) = %d bytes, %v; want %v at the end", off, n, rerr, ErrIntegrity)
		}
		if res == nil || res.Plaintext != nil || res.SignatureValid {
			t.Errorf("Close(flipped) = %+v, want a Result without plaintext or signature", res)
		}
		// Close without reading drains and fails the same way.
		s, _ = bot.DecryptStream(opener(bad, &calls), nil, Options{})
		_, err = s.Close()
		wantErr(t, "Close(flipped, unread)", err, ErrIntegrity)
	}
}

// TestDecryptStreamRefusesBeforeDecrypting: what the framing check refuses
// never reaches decryption.
func TestDecryptStreamRefusesBeforeDecrypting(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	msg := encryptTo(t, []byte("hello"), publicOnly(t, bot), nil)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"truncated", msg[:len(msg)-10], ErrDamaged},
		{"no MDC", seNoMDC(t, bot.Entities()[0], []byte("hello")), ErrIntegrity},
		{"empty", nil, ErrDamaged},
		{"clearsigned", []byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nhi\n"), ErrNotEncrypted},
		{"text", []byte("just text\n"), ErrDamaged},
	}
	for _, tt := range tests {
		calls := 0
		s, err := bot.DecryptStream(opener(tt.data, &calls), nil, Options{})
		wantErr(t, "DecryptStream("+tt.name+")", err, tt.want)
		if s != nil || calls != 1 {
			t.Errorf("DecryptStream(%s) = %v after %d opens, want no Stream after 1", tt.name, s, calls)
		}
	}
}

// TestDecryptStreamTooLarge: the size limit fires while reading.
func TestDecryptStreamTooLarge(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	msg := encryptTo(t, make([]byte, 200<<10), publicOnly(t, bot), nil)
	calls := 0
	s, err := bot.DecryptStream(opener(msg, &calls), nil, Options{MaxSize: 100 << 10})
	if err != nil {
		t.Fatalf("DecryptStream() = %v", err)
	}
	n, err := io.Copy(io.Discard, s)
	if !errors.Is(err, ErrTooLarge) || n > 100<<10 {
		t.Errorf("reading the Stream = %d bytes, %v; want at most %d, then %v", n, err, 100<<10, ErrTooLarge)
	}
	res, err := s.Close()
	wantErr(t, "Close(too large)", err, ErrTooLarge)
	if res == nil || !res.Encrypted {
		t.Errorf("Close(too large) = %+v, want the Result with Encrypted", res)
	}
}
