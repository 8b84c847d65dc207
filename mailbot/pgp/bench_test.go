package pgp

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func benchDecrypt(b *testing.B, algo Algo) {
	bot := testKey(b, "Bot", algo)
	researcher := testKey(b, "Researcher", algo)
	plain := bytes.Repeat([]byte("0123456789abcdef"), 20<<10/16) // 20 KB
	msg := armorMessage(b, encryptTo(b, plain, publicOnly(b, bot), researcher.Entities()[0]))
	verify := publicOnly(b, researcher)
	b.SetBytes(int64(len(plain)))
	b.ResetTimer()
	for b.Loop() {
		res, err := bot.Decrypt(msg, verify, Options{})
		if err != nil || !res.SignatureValid {
			b.Fatalf("Decrypt() = %v, valid=%v", err, res != nil && res.SignatureValid)
		}
	}
}

func BenchmarkDecryptX25519_20KB(b *testing.B)  { benchDecrypt(b, Ed25519) }
func BenchmarkDecryptRSA4096_20KB(b *testing.B) { benchDecrypt(b, RSA4096) }

func BenchmarkSeal(b *testing.B) {
	bot := testKey(b, "Bot", Ed25519)
	to := publicOnly(b, testKey(b, "Researcher", Ed25519))
	body := "Content-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("We received your report.\r\n", 80)
	outer := outerHeader()
	b.ResetTimer()
	for b.Loop() {
		if err := Seal(io.Discard, outer, "Re: report [CASE-1]", strings.NewReader(body), to, bot); err != nil {
			b.Fatalf("Seal() = %v", err)
		}
	}
}
