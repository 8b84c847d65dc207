package pgp

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
)

// kdeWant is what each KDE mimetreeparser message gives.
type kdeWant struct {
	blocks int      // ciphertext blocks extractBlocks finds
	err    error    // from Decrypt, for every block
	sig    string   // signature inside the OpenPGP message: "", "valid", or a SignatureError
	inner  []string // per block: signature of the decrypted PGP/MIME entity (RFC 1847 encapsulation): "", "valid" or a SignatureError prefix
}

var kdeTable = map[string]kdeWant{
	"forward-openpgp-signed-encrypted-no-from.mbox":                  {blocks: 1},
	"forward-openpgp-signed-encrypted.mbox":                          {blocks: 1},
	"inlinepgpencrypted-appendix.mbox":                               {blocks: 1},
	"inlinepgpencrypted-error.mbox":                                  {blocks: 1, err: ErrNoKey},
	"inlinepgpencrypted.mbox":                                        {blocks: 1},
	"inlinepgpgencrypted-error.mbox":                                 {blocks: 1, err: ErrNoKey},
	"internal-pgpencrypted-mime.mbox":                                {blocks: 1}, // GpgOL: armor in a base64 .mime attachment
	"multipart-mixed-alternative-inline-pgp.mbox":                    {blocks: 1},
	"openpgp-encoded.mbox":                                           {blocks: 1, err: ErrNotEncrypted}, // signed-only
	"openpgp-encrypted+signed.mbox":                                  {blocks: 1, sig: "valid"},
	"openpgp-encrypted-ambiguous-mime.mbox":                          {blocks: 1},
	"openpgp-encrypted-applemail.mbox":                               {blocks: 1}, // armor in a base64 attachment
	"openpgp-encrypted-attachment-and-non-encrypted-attachment.mbox": {blocks: 1, inner: []string{"valid"}},
	"openpgp-encrypted-attachment.mbox":                              {blocks: 1, inner: []string{"valid"}},
	"openpgp-encrypted-enigmail1.6.mbox":                             {blocks: 1},
	"openpgp-encrypted-memoryhole.mbox":                              {blocks: 1},
	"openpgp-encrypted-memoryhole2.mbox":                             {blocks: 1},
	"openpgp-encrypted-noData.mbox":                                  {blocks: 0},
	"openpgp-encrypted-non-encrypted-attachment.mbox":                {blocks: 1, inner: []string{"valid"}},
	"openpgp-encrypted-partially-signed-attachments.mbox":            {blocks: 2, inner: []string{SigUnsupported, ""}},
	"openpgp-encrypted-signed-thunderbird.mbox":                      {blocks: 1, inner: []string{"valid"}},
	"openpgp-encrypted-two-attachments.mbox":                         {blocks: 1},
	"openpgp-encrypted.mbox":                                         {blocks: 1},
	"openpgp-inline-charset-encrypted.mbox":                          {blocks: 1, sig: "valid"},
	"openpgp-inline-encrypted+nonenc.mbox":                           {blocks: 2, sig: "valid"}, // second block signed
	"openpgp-inline-wrong-charset-encrypted.mbox":                    {blocks: 1, sig: "valid"},
	"openpgp-multipart-embedded-signed.mbox":                         {blocks: 1, sig: SigUnknownSigner},
	"openpgp-multipart-embedded.mbox":                                {blocks: 1},
	"openpgp-signed-encrypted-two-attachments.mbox":                  {blocks: 1, inner: []string{SigUnsupported}},
	"openpgp-signed-encrypted.mbox":                                  {blocks: 1, inner: []string{"valid"}},
	"signed-forward-openpgp-signed-encrypted.mbox":                   {blocks: 1},
}

func TestKDECorpusDecrypt(t *testing.T) {
	kr, pubs := kdeKeys(t)
	files, err := filepath.Glob(filepath.Join(testdata, "kde-mimetreeparser/messages/*.mbox"))
	if err != nil || len(files) != 43 {
		t.Fatalf("Glob() = %d files, %v, want 43", len(files), err)
	}
	decrypted, armoredFiles, armoredDecrypted := 0, 0, 0
	for _, f := range files {
		name := filepath.Base(f)
		raw := readTestdata(t, "kde-mimetreeparser/messages/"+name)
		blocks := extractBlocks(t, raw)
		want, ok := kdeTable[name]
		if !ok {
			if len(blocks) != 0 {
				t.Errorf("%s: extractBlocks() = %d blocks, not in the table", name, len(blocks))
			}
			continue
		}
		t.Run(name, func(t *testing.T) {
			if len(blocks) != want.blocks {
				t.Fatalf("extractBlocks() = %d blocks, want %d", len(blocks), want.blocks)
			}
			allOK := len(blocks) > 0
			for i, b := range blocks {
				res, err := kr.Decrypt(b.data, pubs, Options{})
				wantErr(t, "Decrypt()", err, want.err)
				if err != nil {
					allOK = false
					if res != nil && res.Plaintext != nil {
						t.Errorf("Decrypt() error with Plaintext %d bytes, want nil", len(res.Plaintext))
					}
					if errors.Is(err, ErrNoKey) {
						var nk *NoKeyError
						if !errors.As(err, &nk) || len(nk.KeyIDs) == 0 {
							t.Errorf("Decrypt() = %v, want *NoKeyError with key ids", err)
						}
						if !slices.Contains(nk.KeyIDs, "553D4262DA4BADF2") || !strings.Contains(err.Error(), "553D4262DA4BADF2") {
							t.Errorf("NoKeyError = %v, want recipient 553D4262DA4BADF2 named", nk.KeyIDs)
						}
					}
					continue
				}
				if len(res.Plaintext) == 0 || !res.Encrypted {
					t.Errorf("Decrypt() = %d bytes encrypted=%v, want plaintext", len(res.Plaintext), res.Encrypted)
				}
				if len(res.KeyIDs) == 0 {
					t.Errorf("Decrypt() KeyIDs empty, want recipients")
				}
				// Only the last inline block of "+nonenc" is signed.
				wantSig := want.sig
				if name == "openpgp-inline-encrypted+nonenc.mbox" && i == 0 {
					wantSig = ""
				}
				checkSig(t, "Decrypt()", res, wantSig)
				if b.kind == "pgp-mime" {
					// The decrypted entity is MIME; an RFC 1847 multipart/signed inside is verified separately.
					if _, err := textproto.ReadHeader(bufioReader(res.Plaintext)); err != nil {
						t.Errorf("decrypted PGP/MIME entity header: %v", err)
					}
					wantInner := ""
					if i < len(want.inner) {
						wantInner = want.inner[i]
					}
					vr, err := VerifyMessage(bytes.NewReader(res.Plaintext), pubs, 0)
					switch {
					case wantInner == "" && !errors.Is(err, ErrNotSigned):
						t.Errorf("VerifyMessage(inner %d) = %v, want %v", i, err, ErrNotSigned)
					case wantInner != "" && err != nil:
						t.Errorf("VerifyMessage(inner %d) = %v, want a result", i, err)
					case wantInner != "":
						checkSig(t, "VerifyMessage(inner)", vr, wantInner)
					}
				}
			}
			if allOK {
				decrypted++
			}
			if bytes.Contains(raw, []byte("-----BEGIN PGP MESSAGE-----")) {
				armoredFiles++
				if allOK {
					armoredDecrypted++
				}
			}
		})
	}
	// NOTES.txt: 24 of 28 decrypt with a naive armor extraction. Ours also
	// decodes transfer encodings, so more do.
	t.Logf("decrypted %d messages; of the %d with literal armor, %d", decrypted, armoredFiles, armoredDecrypted)
	if armoredFiles != 28 || armoredDecrypted != 25 || decrypted != 27 {
		t.Errorf("decrypted %d (armored %d of %d), want 27 (25 of 28)", decrypted, armoredDecrypted, armoredFiles)
	}
}

func checkSig(t *testing.T, what string, res *Result, want string) {
	t.Helper()
	switch want {
	case "":
		if res.Signed {
			t.Errorf("%s signed=%v (%s), want unsigned", what, res.Signed, res.SignatureError)
		}
	case "valid":
		if !res.Signed || !res.SignatureValid || res.SignerFingerprint == "" || res.SignatureError != "" {
			t.Errorf("%s valid=%v signer=%q err=%q, want a valid signature", what, res.SignatureValid, res.SignerFingerprint, res.SignatureError)
		}
	default:
		if !res.Signed || res.SignatureValid || res.SignerFingerprint != "" || !strings.HasPrefix(res.SignatureError, want) || res.SignerKeyID == "" {
			t.Errorf("%s valid=%v err=%q keyid=%q, want %q with the issuer key id", what, res.SignatureValid, res.SignatureError, res.SignerKeyID, want)
		}
	}
}

func TestKDECorpusVerify(t *testing.T) {
	_, pubs := kdeKeys(t)
	tests := []struct {
		file string
		err  error
		sig  string
	}{
		{"openpgp-inline-signed.mbox", nil, "valid"},
		{"openpgp-inline-signed-broken.mbox", nil, SigBad},
		{"openpgp-inline-signed-broken2.mbox", ErrDamaged, ""},
		{"openpgp-signed-sender-mismatch.mbox", nil, "valid"}, // From is not the key's address: the caller's check
		{"openpgp-signed-apple.mbox", nil, SigBad},            // micalg says sha512, packet sha256; content anonymised
		{"openpgp-signed-two-attachments.mbox", nil, SigUnsupported},
		{"openpgp-signed-and-unsigned-attachments-and-parts.mbox", nil, SigUnsupported},
		{"openpgp-signed-base64-mailman-footer.mbox", nil, SigUnsupported}, // nested in multipart/mixed
		{"openpgp-signed-mailinglist.mbox", nil, SigUnknownSigner},
		{"openpgp-signed-mailinglist+additional-children.mbox", nil, SigUnknownSigner},
		{"openpgp-signed-mailinglist+old.mbox", ErrNotSigned, ""}, // a digest: the signed entity is plain text
		{"openpgp-signed-no-protocol.mbox", ErrNotSigned, ""},     // protocol="application/broken-signature"
		{"signed-forward-openpgp-signed-encrypted.mbox", nil, "valid"},
		{"openpgp-encrypted.mbox", ErrNotSigned, ""},
		{"openpgp-encoded.mbox", ErrNotSigned, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := readTestdata(t, "kde-mimetreeparser/messages/"+tt.file)
			res, err := VerifyMessage(bytes.NewReader(raw), pubs, 0)
			wantErr(t, "VerifyMessage()", err, tt.err)
			if err != nil {
				return
			}
			if res.Encrypted {
				t.Errorf("VerifyMessage() Encrypted = true, want false")
			}
			checkSig(t, "VerifyMessage()", res, tt.sig)
		})
	}
}

func TestAutocryptCorpus(t *testing.T) {
	key := func(who string) *Keyring {
		t.Helper()
		kr, err := ReadKeyring(bytes.NewReader(readTestdata(t, "autocrypt-spec/keys/"+who+"@autocrypt.example.sec.asc")), nil)
		if err != nil {
			t.Fatalf("ReadKeyring(%s) = %v", who, err)
		}
		return kr
	}
	alicePub, err := ParseKeys(readTestdata(t, "autocrypt-spec/keys/alice@autocrypt.example.pub.asc"))
	if err != nil {
		t.Fatalf("ParseKeys(alice) = %v", err)
	}
	// The example keys were made on 2019-01-22 and expire after two years.
	then := func() time.Time { return time.Date(2019, 2, 1, 0, 0, 0, 0, time.UTC) }

	tests := []struct {
		file    string
		who     string
		want    string // in the plaintext
		wantErr error
	}{
		{"example-gossip.eml", "bob", "Autocrypt-Gossip: addr=", nil},
		{"example-draft.eml", "alice", "store it as a draft for now", nil},
		{"example-gossip.eml", "carol", "Autocrypt-Gossip: addr=", nil},
		{"example-draft.eml", "bob", "", ErrNoKey},
		{"example-setup-message.eml", "alice", "", ErrNoKey}, // passphrase only: the bot never tries
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.who, func(t *testing.T) {
			raw := readTestdata(t, "autocrypt-spec/messages/"+tt.file)
			blocks := extractBlocks(t, raw)
			if len(blocks) != 1 {
				t.Fatalf("extractBlocks() = %d blocks, want 1", len(blocks))
			}
			res, err := key(tt.who).Decrypt(blocks[0].data, alicePub, Options{Now: then})
			wantErr(t, "Decrypt()", err, tt.wantErr)
			if err != nil {
				if tt.file == "example-setup-message.eml" {
					var nk *NoKeyError
					if !errors.As(err, &nk) || !nk.Symmetric {
						t.Errorf("Decrypt() = %v, want *NoKeyError with Symmetric", err)
					}
				}
				return
			}
			if !bytes.Contains(res.Plaintext, []byte(tt.want)) {
				t.Errorf("Decrypt() = %q, want it to contain %q", res.Plaintext, tt.want)
			}
		})
	}
}

func TestParseAutocryptCorpus(t *testing.T) {
	raw := readTestdata(t, "autocrypt-spec/messages/example-simple-autocrypt.eml")
	h, err := textproto.ReadHeader(bufioReader(raw))
	if err != nil {
		t.Fatalf("ReadHeader() = %v", err)
	}
	addr, keys, err := ParseAutocrypt(h.Get("Autocrypt"))
	if err != nil {
		t.Fatalf("ParseAutocrypt() = %v", err)
	}
	if addr != "alice@autocrypt.example" || len(keys) != 1 {
		t.Fatalf("ParseAutocrypt() = %q, %d keys, want alice@autocrypt.example, 1", addr, len(keys))
	}
	alicePub, _ := ParseKeys(readTestdata(t, "autocrypt-spec/keys/alice@autocrypt.example.pub.asc"))
	if got, want := fingerprint(keys[0].PrimaryKey.Fingerprint), fingerprint(alicePub[0].PrimaryKey.Fingerprint); got != want {
		t.Errorf("ParseAutocrypt() key = %s, want %s", got, want)
	}
	then := time.Date(2019, 2, 1, 0, 0, 0, 0, time.UTC)
	if keyForAddress(keys, "Alice@Autocrypt.Example", then) != keys[0] {
		t.Errorf("keyForAddress(2019) = nil, want alice's key")
	}
	// The key expired in January 2021: no longer usable.
	if KeyForAddress(keys, addr) != nil {
		t.Errorf("KeyForAddress(now) = key, want nil (expired)")
	}

	kd := "keydata=" + strings.TrimPrefix(h.Get("Autocrypt")[strings.Index(h.Get("Autocrypt"), "keydata="):], "keydata=")
	bad := []string{
		"",
		kd,                                    // no addr
		"addr=alice@autocrypt.example",        // no keydata
		"addr=a@b.example; critical=1; " + kd, // unknown critical attribute
		"addr=a@b.example; addr=c@d.example; " + kd, // duplicate
		"addr=Alice <a@b.example>; " + kd,           // not a bare address
		"addr=a@b.example; keydata=!!!",             // not base64
		"addr=a@b.example; keydata=AAAA",            // not a key
		"addr=a@b.example; keydata",                 // no value
	}
	for _, v := range bad {
		if _, _, err := ParseAutocrypt(v); !errors.Is(err, ErrBadAutocrypt) {
			t.Errorf("ParseAutocrypt(%.50q) = %v, want %v", v, err, ErrBadAutocrypt)
		}
	}
	if a, _, err := ParseAutocrypt("addr=alice@autocrypt.example; _ignored=x; prefer-encrypt=mutual; " + kd); err != nil || a != "alice@autocrypt.example" {
		t.Errorf("ParseAutocrypt(with _ attribute) = %q, %v, want alice", a, err)
	}
}
