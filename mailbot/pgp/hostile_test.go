package pgp

import (
	"bytes"
	"compress/zlib"
	"crypto/aes"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func armorMessage(t testing.TB, bin []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.MessageType, nil)
	if err != nil {
		t.Fatalf("armor.Encode() = %v", err)
	}
	w.Write(bin)
	w.Close()
	return buf.Bytes()
}

func TestDecryptMDCMismatch(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	plain := bytes.Repeat([]byte("attack at dawn. "), 200)
	msg := encryptTo(t, plain, publicOnly(t, bot), nil)
	if res, err := bot.Decrypt(msg, nil, Options{}); err != nil || !bytes.Equal(res.Plaintext, plain) {
		t.Fatalf("Decrypt(intact) = %v, want the plaintext", err)
	}
	for _, off := range []int{len(msg) / 2, len(msg) - 100, len(msg) - 5} { // literal data, near the end, inside the MDC
		t.Run("", func(t *testing.T) {
			bad := bytes.Clone(msg)
			bad[off] ^= 0x01
			res, err := bot.Decrypt(bad, nil, Options{})
			wantErr(t, "Decrypt(flipped)", err, ErrIntegrity)
			if res != nil && res.Plaintext != nil {
				t.Errorf("Decrypt(flipped) Plaintext = %d bytes, want nil", len(res.Plaintext))
			}
			// Armored, the same.
			_, err = bot.Decrypt(armorMessage(t, bad), nil, Options{})
			wantErr(t, "Decrypt(armored flipped)", err, ErrIntegrity)
		})
	}
}

// seNoMDC builds a message whose data is a Symmetrically Encrypted Data
// packet (tag 9, RFC 4880 section 5.7): no integrity protection.
func seNoMDC(t testing.TB, to *openpgp.Entity, plain []byte) []byte {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	var out bytes.Buffer
	ek, ok := to.EncryptionKey(time.Now())
	if !ok {
		t.Fatalf("EncryptionKey() = none")
	}
	if err := packet.SerializeEncryptedKey(&out, ek.PublicKey, packet.CipherAES256, key, nil); err != nil {
		t.Fatalf("SerializeEncryptedKey() = %v", err)
	}
	// Literal data packet: new format tag 11, binary, no name, time 0.
	lit := append([]byte{0xc0 | 11, byte(6 + len(plain)), 'b', 0, 0, 0, 0, 0}, plain...)
	block, _ := aes.NewCipher(key)
	iv := make([]byte, aes.BlockSize)
	rand.Read(iv)
	stream, prefix := packet.NewOCFBEncrypter(block, iv, packet.OCFBResync)
	enc := make([]byte, len(lit))
	stream.XORKeyStream(enc, lit)
	body := append(prefix, enc...)
	out.Write([]byte{0xc0 | 9, byte(len(body))})
	out.Write(body)
	return out.Bytes()
}

func TestDecryptNoMDC(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	msg := seNoMDC(t, bot.Entities()[0], []byte("hello"))
	for name, data := range map[string][]byte{"binary": msg, "armored": armorMessage(t, msg)} {
		res, err := bot.Decrypt(data, nil, Options{})
		wantErr(t, "Decrypt(no MDC, "+name+")", err, ErrIntegrity)
		if res != nil {
			t.Errorf("Decrypt(no MDC) = %+v, want nil", res)
		}
	}
	// go-crypto itself refuses it too: we do not depend on our framing check alone.
	_, err := openpgp.ReadMessage(bytes.NewReader(msg), bot.Entities(), nil, nil)
	if err == nil {
		t.Errorf("openpgp.ReadMessage(no MDC) = nil error, want refusal")
	}
	bin := func() (io.Reader, error) { return bytes.NewReader(msg), nil }
	if err := classifyReadError(err, bin, bot.Entities()); !errors.Is(err, ErrIntegrity) {
		t.Errorf("classifyReadError(%v) = %v, want %v", err, err, ErrIntegrity)
	}
}

func TestDecryptCompressionBomb(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	var buf bytes.Buffer
	cfg := &packet.Config{DefaultCompressionAlgo: packet.CompressionZLIB, CompressionConfig: &packet.CompressionConfig{Level: zlib.BestCompression}}
	// The bot's key advertises no compression (RFC 9580 discourages it); the
	// attacker's client pretends it does.
	to := publicOnly(t, bot)
	for _, id := range to[0].Identities {
		id.SelfSignature.PreferredCompression = []uint8{uint8(packet.CompressionZLIB)}
	}
	w, err := openpgp.Encrypt(&buf, to, nil, nil, cfg)
	if err != nil {
		t.Fatalf("Encrypt() = %v", err)
	}
	zeros := make([]byte, 1<<20)
	for i := 0; i < 256; i++ {
		w.Write(zeros)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	bomb := buf.Bytes()
	t.Logf("256 MiB of zeros: %d bytes of ciphertext", len(bomb))
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes, want < 1 MiB", len(bomb))
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := bot.Decrypt(bomb, nil, Options{}) // default 32 MiB
	runtime.ReadMemStats(&after)
	wantErr(t, "Decrypt(bomb)", err, ErrTooLarge)
	if res != nil && res.Plaintext != nil {
		t.Errorf("Decrypt(bomb) Plaintext = %d bytes, want nil", len(res.Plaintext))
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d MiB while refusing the bomb", alloc>>20)
	if alloc > 64<<20 {
		t.Errorf("Decrypt(bomb) allocated %d MiB, want < 64 MiB", alloc>>20)
	}

	// A small limit fires for ordinary data too.
	msg := encryptTo(t, make([]byte, 4096), publicOnly(t, bot), nil)
	_, err = bot.Decrypt(msg, nil, Options{MaxSize: 4095})
	wantErr(t, "Decrypt(4096 bytes, MaxSize 4095)", err, ErrTooLarge)
	if _, err = bot.Decrypt(msg, nil, Options{MaxSize: 4096}); err != nil {
		t.Errorf("Decrypt(4096 bytes, MaxSize 4096) = %v, want success", err)
	}
}

func TestDecryptWrongKey(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	other := testKey(t, "Researcher", Ed25519)
	msg := encryptTo(t, []byte("for someone else"), publicOnly(t, other), nil)
	res, err := bot.Decrypt(msg, nil, Options{})
	wantErr(t, "Decrypt(wrong key)", err, ErrNoKey)
	var nk *NoKeyError
	if !errors.As(err, &nk) {
		t.Fatalf("Decrypt(wrong key) = %T, want *NoKeyError", err)
	}
	ek, _ := other.Entities()[0].EncryptionKey(time.Now())
	if want := keyID(ek.PublicKey.KeyId); len(nk.KeyIDs) != 1 || nk.KeyIDs[0] != want {
		t.Errorf("NoKeyError.KeyIDs = %v, want [%s]", nk.KeyIDs, want)
	}
	if res != nil {
		t.Errorf("Decrypt(wrong key) result = %+v, want nil", res)
	}
	var nilKR *Keyring
	_, err = nilKR.Decrypt(msg, nil, Options{})
	wantErr(t, "nil Keyring Decrypt()", err, ErrNoKey)
}

func TestDecryptGarbage(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	msg := encryptTo(t, bytes.Repeat([]byte("x"), 5000), publicOnly(t, bot), nil)
	arm := armorMessage(t, msg)
	rng := mrand.New(mrand.NewSource(1))
	tests := map[string][]byte{
		"empty":              nil,
		"text":               []byte("hello, I found a bug"),
		"truncated binary":   msg[:len(msg)/2],
		"truncated at 10":    msg[:10],
		"truncated armor":    arm[:len(arm)/2],
		"armor without body": []byte("-----BEGIN PGP MESSAGE-----\n\n-----END PGP MESSAGE-----\n"),
		"session key only":   msg[:bytes.IndexByte(msg[1:], 0xd2)+1],
	}
	for i := 0; i < 50; i++ {
		b := make([]byte, 1+rng.Intn(2000))
		rng.Read(b)
		tests["random"+string(rune('A'+i%26))+string(rune('a'+i/26))] = b
	}
	damaged := 0
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := bot.Decrypt(data, nil, Options{})
			if err == nil {
				t.Fatalf("Decrypt() = %d bytes, want error", len(res.Plaintext))
			}
			if strings.HasPrefix(name, "random") {
				// Random bytes sometimes frame as a valid packet of another kind.
				if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrNotEncrypted) && !errors.Is(err, ErrIntegrity) {
					t.Errorf("Decrypt() = %v, want %v", err, ErrDamaged)
				}
				if errors.Is(err, ErrDamaged) {
					damaged++
				}
				return
			}
			wantErr(t, "Decrypt()", err, ErrDamaged)
		})
	}
	if damaged < 40 {
		t.Errorf("Decrypt(random) = ErrDamaged %d times of 50, want most", damaged)
	}
}

func TestDecryptSignatures(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	researcher := testKey(t, "Researcher", Ed25519)
	msg := encryptTo(t, []byte("signed report"), publicOnly(t, bot), researcher.Entities()[0])
	sk, _ := researcher.Entities()[0].SigningKey(time.Now())

	res, err := bot.Decrypt(msg, nil, Options{})
	if err != nil {
		t.Fatalf("Decrypt() = %v", err)
	}
	if !res.Signed || res.SignatureValid || res.SignatureError != SigUnknownSigner || res.SignerFingerprint != "" || res.SignerKeyID != keyID(sk.PublicKey.KeyId) {
		t.Errorf("Decrypt(unknown signer) = %+v, want unknown signer %s", res, keyID(sk.PublicKey.KeyId))
	}
	res, err = bot.Decrypt(msg, publicOnly(t, researcher), Options{})
	if err != nil || !res.SignatureValid || res.SignerFingerprint != researcher.Fingerprint() {
		t.Errorf("Decrypt(known signer) = %+v, %v, want valid by %s", res, err, researcher.Fingerprint())
	}
	// Our own key in the verify list is not what makes a signature "known".
	res, err = bot.Decrypt(msg, publicOnly(t, bot), Options{})
	if err != nil || res.SignatureValid {
		t.Errorf("Decrypt(verify=bot) = %+v, %v, want not valid", res, err)
	}
	// The verify list can never decrypt: only the bot's keys do.
	var empty Keyring
	_, err = empty.Decrypt(msg, bot.Entities(), Options{})
	wantErr(t, "Decrypt(keys only in verify)", err, ErrNoKey)
}

func TestDecryptNotEncrypted(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	var signed bytes.Buffer
	w, err := openpgp.Sign(&signed, bot.Entities()[0], nil, nil)
	if err != nil {
		t.Fatalf("Sign() = %v", err)
	}
	w.Write([]byte("signed, not encrypted"))
	w.Close()
	var detached bytes.Buffer
	openpgp.ArmoredDetachSign(&detached, bot.Entities()[0], bytes.NewReader([]byte("x")), nil)
	tests := map[string][]byte{
		"signed-only binary":  signed.Bytes(),
		"signed-only armored": armorMessage(t, signed.Bytes()),
		"clearsigned":         clearsignText(t, bot, "hello\n"),
		"public key":          mustArmor(t, publicOnly(t, bot)),
		"detached signature":  detached.Bytes(),
	}
	for name, data := range tests {
		res, err := bot.Decrypt(data, nil, Options{})
		wantErr(t, "Decrypt("+name+")", err, ErrNotEncrypted)
		if res != nil {
			t.Errorf("Decrypt(%s) = %+v, want nil", name, res)
		}
	}
}

func TestCheckFraming(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"old format 1-octet", []byte{0x80 | 11<<2, 2, 1, 2}, ErrNotEncrypted},
		{"old format 2-octet", []byte{0x80 | 1<<2 | 1, 0, 1, 3, 0x80 | 9<<2, 0}, ErrIntegrity},
		{"old format 2-octet truncated", []byte{0x80 | 1<<2 | 1, 1, 0, 3}, ErrDamaged},
		{"old format indeterminate", []byte{0x80 | 9<<2 | 3, 1, 2, 3}, ErrIntegrity},
		{"new format partial", append([]byte{0xc0 | 18, 0xe1, 1, 2, 1}, 9), nil},
		{"new format partial truncated", []byte{0xc0 | 18, 0xe2, 1, 2}, ErrDamaged},
		{"new format 5-octet", []byte{0xc0 | 18, 0xff, 0, 0, 0, 1, 7}, nil},
		{"new format 5-octet huge", []byte{0xc0 | 18, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrDamaged},
		{"tag 9", []byte{0xc0 | 9, 1, 0}, ErrIntegrity},
		{"literal", []byte{0xc0 | 11, 1, 0}, ErrNotEncrypted},
		{"pkesk alone", []byte{0xc0 | 1, 1, 3}, ErrDamaged},
		{"marker then seipd", []byte{0xc0 | 10, 3, 'P', 'G', 'P', 0xc0 | 18, 1, 1}, nil},
		{"unknown tag", []byte{0xc0 | 60, 1, 0}, ErrDamaged},
	}
	for _, tt := range tests {
		if err := checkFraming(bytes.NewReader(tt.in)); !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("checkFraming(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestDecryptSignatureFromAFastClock: a signature made a little after our
// clock (the sender's clock runs fast) is good, within ClockSkew; one made
// far after it is not.
func TestDecryptSignatureFromAFastClock(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	researcher := testKey(t, "Researcher", Ed25519)
	signed := time.Now()
	msg := encryptTo(t, []byte("signed report"), publicOnly(t, bot), researcher.Entities()[0])
	for _, tc := range []struct {
		behind time.Duration // how far our clock is behind the signature
		valid  bool
	}{
		{0, true},
		{time.Minute, true},
		{ClockSkew - 30*time.Second, true},
		{30 * time.Minute, false},
	} {
		now := signed.Add(-tc.behind)
		res, err := bot.Decrypt(msg, publicOnly(t, researcher), Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatalf("Decrypt(clock %s behind) = %v", tc.behind, err)
		}
		if res.SignatureValid != tc.valid {
			t.Errorf("Decrypt(clock %s behind): signature valid %v (%s), want %v", tc.behind, res.SignatureValid, res.SignatureError, tc.valid)
		}
		if !tc.valid && !strings.Contains(res.SignatureError, "expired") {
			t.Errorf("Decrypt(clock %s behind): reason %q, want it to say expired", tc.behind, res.SignatureError)
		}
	}
}

// SignatureTime is the time of the signature packet that verified: a fresh
// signature packet of another issuer added after it (anyone can make one)
// does not make an old signed message new.
func TestDecryptSignatureTime(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	member := testKey(t, "Member", Ed25519)
	other := testKey(t, "Other", Ed25519)
	old := time.Now().Add(-30 * time.Minute).Truncate(time.Second) // the test keys are an hour old
	plain := []byte("status fixed\n")
	detached := func(k *Keyring, at time.Time) []byte {
		var b bytes.Buffer
		if err := openpgp.DetachSign(&b, k.Entities()[0], bytes.NewReader(plain), &packet.Config{Time: func() time.Time { return at }}); err != nil {
			t.Fatalf("DetachSign() = %v", err)
		}
		return b.Bytes()
	}
	oldSig, freshSig := detached(member, old), detached(other, time.Now())
	p, err := packet.Read(bytes.NewReader(oldSig))
	if err != nil {
		t.Fatal(err)
	}
	sig := p.(*packet.Signature)
	var inner bytes.Buffer
	ops := &packet.OnePassSignature{Version: 3, SigType: sig.SigType, Hash: sig.Hash, PubKeyAlgo: sig.PubKeyAlgo, KeyId: *sig.IssuerKeyId, IsLast: true}
	if err := ops.Serialize(&inner); err != nil {
		t.Fatal(err)
	}
	inner.Write(append([]byte{0xc0 | 11, byte(6 + len(plain)), 'b', 0, 0, 0, 0, 0}, plain...)) // literal data, binary
	inner.Write(oldSig)
	inner.Write(freshSig)

	key := make([]byte, 32)
	rand.Read(key)
	ek, _ := bot.Entities()[0].EncryptionKey(time.Now())
	var msg bytes.Buffer
	if err := packet.SerializeEncryptedKey(&msg, ek.PublicKey, packet.CipherAES256, key, nil); err != nil {
		t.Fatal(err)
	}
	w, err := packet.SerializeSymmetricallyEncrypted(&msg, packet.CipherAES256, false, packet.CipherSuite{}, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(inner.Bytes())
	w.Close()

	verify := append(publicOnly(t, member), publicOnly(t, other)...)
	res, err := bot.Decrypt(msg.Bytes(), verify, Options{})
	if err != nil || !res.SignatureValid || res.SignerFingerprint != member.Fingerprint() {
		t.Fatalf("Decrypt() = %+v, %v; want valid by the member", res, err)
	}
	if !res.SignatureTime.Equal(old) {
		t.Errorf("Decrypt().SignatureTime = %v, want the verified packet's %v", res.SignatureTime, old)
	}
}
