package pgp

import (
	"bytes"
	"crypto/rand"
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
