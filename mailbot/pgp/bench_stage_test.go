package pgp

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"testing"
)

// BenchmarkStageDecrypt10MB is the decrypt stage of issue 9 at attachment
// size: B/op against the 10 MB of plaintext shows how many copies of the
// message decryption holds (see BenchmarkTargetPeakRSS in package mailbot).
func BenchmarkStageDecrypt10MB(b *testing.B) {
	bot := testKey(b, "Bot", Ed25519)
	researcher := testKey(b, "Researcher", Ed25519)
	plain := make([]byte, 10<<20)
	rand.Read(plain)
	msg := armorMessage(b, encryptTo(b, plain, publicOnly(b, bot), researcher.Entities()[0]))
	verify := publicOnly(b, researcher)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := bot.Decrypt(msg, verify, Options{MaxSize: 64 << 20})
		if err != nil || !res.SignatureValid || !bytes.Equal(res.Plaintext, plain) {
			b.Fatalf("Decrypt() = %v, valid=%v", err, res != nil && res.SignatureValid)
		}
	}
}

// BenchmarkStageDecryptStream10MB is the same message through DecryptStream
// into a hash, as the daemon reads it: B/op stays far below the plaintext.
func BenchmarkStageDecryptStream10MB(b *testing.B) {
	bot := testKey(b, "Bot", Ed25519)
	researcher := testKey(b, "Researcher", Ed25519)
	plain := make([]byte, 10<<20)
	rand.Read(plain)
	msg := armorMessage(b, encryptTo(b, plain, publicOnly(b, bot), researcher.Entities()[0]))
	verify := publicOnly(b, researcher)
	open := func() (io.Reader, error) { return bytes.NewReader(msg), nil }
	want := sha256.Sum256(plain)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := bot.DecryptStream(open, verify, Options{MaxSize: 64 << 20})
		if err != nil {
			b.Fatalf("DecryptStream() = %v", err)
		}
		h := sha256.New()
		io.Copy(h, s)
		res, err := s.Close()
		if err != nil || !res.SignatureValid || !bytes.Equal(h.Sum(nil), want[:]) {
			b.Fatalf("Close() = %v, valid=%v", err, res != nil && res.SignatureValid)
		}
	}
}
