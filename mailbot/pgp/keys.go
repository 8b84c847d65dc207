package pgp

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"fmt"
	"io"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
)

// Algo selects the key type Generate makes.
type Algo int

const (
	// Ed25519 makes a v4 EdDSA primary key with a Curve25519 ECDH
	// encryption subkey: small, fast, and read by GnuPG 2.2 (which cannot
	// read v6 keys, RFC 9580).
	Ed25519 Algo = iota
	// RSA4096 makes a v4 RSA 4096-bit key with an RSA encryption subkey,
	// for correspondents with very old software.
	RSA4096
)

func (a Algo) String() string {
	switch a {
	case Ed25519:
		return "ed25519"
	case RSA4096:
		return "rsa4096"
	}
	return fmt.Sprintf("Algo(%d)", int(a))
}

// maxKeyringSize bounds key material read from files and mail.
const maxKeyringSize = 1 << 20

// Keyring holds the bot's own secret keys. During a key rotation it holds
// several: the first entity is the current one (it signs, and its
// fingerprint is published); all of them decrypt.
type Keyring struct {
	entities openpgp.EntityList
}

// keyConfig is the configuration for the bot's keys: AES-256 and SHA-256
// preferences, v4 keys. The preferences written into the self-signature come
// from here, so it must be set before NewEntity.
func keyConfig(algo Algo, now time.Time) (*packet.Config, error) {
	cfg := &packet.Config{
		DefaultCipher: packet.CipherAES256,
		DefaultHash:   crypto.SHA256,
		Time:          func() time.Time { return now },
	}
	switch algo {
	case Ed25519:
		cfg.Algorithm = packet.PubKeyAlgoEdDSA
		cfg.Curve = packet.Curve25519
	case RSA4096:
		cfg.Algorithm = packet.PubKeyAlgoRSA
		cfg.RSABits = 4096
	default:
		return nil, fmt.Errorf("pgp: unknown key algorithm %v", algo)
	}
	return cfg, nil
}

// Generate makes a new key for the bot with one user id "name <addr>".
// The key does not expire; rotate it by generating a new one and keeping the
// old one in the keyring (after the new) until mail to it stops.
func Generate(name, addr string, algo Algo, now time.Time) (*Keyring, error) {
	if now.IsZero() {
		now = time.Now()
	}
	cfg, err := keyConfig(algo, now)
	if err != nil {
		return nil, err
	}
	e, err := openpgp.NewEntity(name, "", addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgp: generate key: %w", err)
	}
	return &Keyring{entities: openpgp.EntityList{e}}, nil
}

// NewKeyring builds a keyring from entities that already hold unlocked
// private keys (the first is the current key).
func NewKeyring(entities openpgp.EntityList) (*Keyring, error) {
	var out openpgp.EntityList
	for _, e := range entities {
		if e.PrivateKey != nil {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoSecretKey
	}
	return &Keyring{entities: out}, nil
}

// ReadKeyring reads the bot's secret keys, armored or binary (a GnuPG 1
// secring.gpg works too), and unlocks those that are locked with passphrase.
// Entities without secret key material are dropped. A locked key with a nil
// or wrong passphrase gives ErrWrongPassphrase.
func ReadKeyring(r io.Reader, passphrase []byte) (*Keyring, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxKeyringSize+1))
	if err != nil {
		return nil, fmt.Errorf("pgp: read keyring: %w", err)
	}
	if len(data) > maxKeyringSize {
		return nil, fmt.Errorf("pgp: keyring larger than %d bytes", maxKeyringSize)
	}
	el, err := readEntities(data)
	if err != nil {
		return nil, err
	}
	var out openpgp.EntityList
	for _, e := range el {
		if e.PrivateKey == nil {
			continue
		}
		if locked(e) {
			if passphrase == nil {
				return nil, fmt.Errorf("%w: key %s is locked and no passphrase was given", ErrWrongPassphrase, fingerprint(e.PrimaryKey.Fingerprint))
			}
			if err := e.DecryptPrivateKeys(passphrase); err != nil {
				return nil, fmt.Errorf("%w: key %s", ErrWrongPassphrase, fingerprint(e.PrimaryKey.Fingerprint))
			}
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, ErrNoSecretKey
	}
	return &Keyring{entities: out}, nil
}

func locked(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && !e.PrivateKey.Dummy() && e.PrivateKey.Encrypted {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && !s.PrivateKey.Dummy() && s.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// Fingerprint is the primary key fingerprint of the current (first) key,
// uppercase hex (40 characters for a v4 key).
func (k *Keyring) Fingerprint() string {
	if k == nil || len(k.entities) == 0 {
		return ""
	}
	return fingerprint(k.entities[0].PrimaryKey.Fingerprint)
}

// Entities returns the bot's entities (with private keys); do not modify them.
func (k *Keyring) Entities() openpgp.EntityList { return k.entities }

// WritePrivate writes the secret keys armored. With a non-nil passphrase the
// private key material is encrypted (iterated and salted S2K with SHA-256,
// which GnuPG 2.2 reads); the keyring itself stays unlocked.
func (k *Keyring) WritePrivate(w io.Writer, passphrase []byte) error {
	var bin bytes.Buffer
	for _, e := range k.entities {
		if err := e.SerializePrivateWithoutSigning(&bin, nil); err != nil {
			return fmt.Errorf("pgp: serialize private key: %w", err)
		}
	}
	out := bin.Bytes()
	if passphrase != nil {
		// Work on a copy: encrypting in place would lock our own keys.
		el, err := openpgp.ReadKeyRing(bytes.NewReader(out))
		if err != nil {
			return fmt.Errorf("pgp: copy private key: %w", err)
		}
		cfg := &packet.Config{
			DefaultCipher: packet.CipherAES256,
			S2KConfig:     &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, Hash: crypto.SHA256, S2KCount: 16777216},
		}
		var enc bytes.Buffer
		for _, e := range el {
			if err := e.EncryptPrivateKeys(passphrase, cfg); err != nil {
				return fmt.Errorf("pgp: encrypt private key: %w", err)
			}
			if err := e.SerializePrivateWithoutSigning(&enc, nil); err != nil {
				return fmt.Errorf("pgp: serialize private key: %w", err)
			}
		}
		out = enc.Bytes()
	}
	aw, err := armor.Encode(w, openpgp.PrivateKeyType, nil)
	if err != nil {
		return err
	}
	if _, err := aw.Write(out); err != nil {
		return err
	}
	return aw.Close()
}

// WritePublic writes the public keys, armored, for the web page and
// security.txt ("Encryption:").
func (k *Keyring) WritePublic(w io.Writer) error {
	b, err := Armor(k.entities)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// KeyInfo describes one key for the admin command.
type KeyInfo struct {
	Fingerprint string
	UserIDs     []string
	Algorithm   string
	Bits        int
	Created     time.Time
	Expires     time.Time // zero: never
	HasPrivate  bool
}

// List describes the keys in the keyring, current first.
func (k *Keyring) List() []KeyInfo {
	var out []KeyInfo
	for _, e := range k.entities {
		out = append(out, keyInfo(e))
	}
	return out
}

func keyInfo(e *openpgp.Entity) KeyInfo {
	pk := e.PrimaryKey
	ki := KeyInfo{
		Fingerprint: fingerprint(pk.Fingerprint),
		Algorithm:   algoName(pk.PubKeyAlgo),
		Created:     pk.CreationTime,
		HasPrivate:  e.PrivateKey != nil,
	}
	if bits, err := pk.BitLength(); err == nil {
		ki.Bits = int(bits)
	}
	for name := range e.Identities {
		ki.UserIDs = append(ki.UserIDs, name)
	}
	sort.Strings(ki.UserIDs)
	if sig, _ := e.PrimarySelfSignature(); sig != nil && sig.KeyLifetimeSecs != nil && *sig.KeyLifetimeSecs != 0 {
		ki.Expires = pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
	}
	return ki
}

func algoName(a packet.PublicKeyAlgorithm) string {
	switch a {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		return "RSA"
	case packet.PubKeyAlgoDSA:
		return "DSA"
	case packet.PubKeyAlgoElGamal:
		return "ElGamal"
	case packet.PubKeyAlgoECDH:
		return "ECDH"
	case packet.PubKeyAlgoECDSA:
		return "ECDSA"
	case packet.PubKeyAlgoEdDSA:
		return "EdDSA"
	case packet.PubKeyAlgoEd25519:
		return "Ed25519"
	case packet.PubKeyAlgoEd448:
		return "Ed448"
	case packet.PubKeyAlgoX25519:
		return "X25519"
	case packet.PubKeyAlgoX448:
		return "X448"
	}
	return fmt.Sprintf("algorithm %d", int(a))
}

// readEntities parses armored or binary key material, never panicking.
func readEntities(data []byte) (el openpgp.EntityList, err error) {
	defer func() {
		if r := recover(); r != nil {
			el, err = nil, fmt.Errorf("%w: keys: panic in openpgp: %v", ErrDamaged, r)
		}
	}()
	switch {
	case len(data) > 0 && data[0]&0x80 != 0: // binary: the first octet of a packet has bit 7 set
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	case bytes.Contains(data, []byte("-----BEGIN PGP ")):
		// QUIRK: text before the armor (a pasted key) is skipped by armor.Decode.
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	default:
		return nil, fmt.Errorf("%w: neither binary nor armored OpenPGP keys", ErrDamaged)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: keys: %v", ErrDamaged, err)
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("%w: no keys found", ErrDamaged)
	}
	return el, nil
}

// ParseKeys reads public keys, armored or binary: an application/pgp-keys
// part, a key attached later, a key block pasted in the text. Secret key
// material, should a researcher send some by mistake, is dropped: the bot
// never keeps anyone else's secret keys.
func ParseKeys(data []byte) (openpgp.EntityList, error) {
	if len(data) > maxKeyringSize {
		return nil, fmt.Errorf("%w: key data larger than %d bytes", ErrDamaged, maxKeyringSize)
	}
	el, err := readEntities(data)
	if err != nil {
		return nil, err
	}
	for _, e := range el {
		e.PrivateKey = nil
		for i := range e.Subkeys {
			e.Subkeys[i].PrivateKey = nil
		}
	}
	return el, nil
}

// Armor serializes public keys as one armored PUBLIC KEY BLOCK.
func Armor(keys openpgp.EntityList) ([]byte, error) {
	var buf bytes.Buffer
	aw, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	for _, e := range keys {
		if err := e.Serialize(aw); err != nil {
			return nil, fmt.Errorf("pgp: serialize public key: %w", err)
		}
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// ParseAutocrypt parses the value of an Autocrypt header (Autocrypt Level 1,
// section 2.1): "addr=...; [prefer-encrypt=mutual;] keydata=BASE64". Unknown
// attributes starting with "_" are ignored; any other unknown attribute makes
// the whole header invalid, as the specification requires. The value may be
// folded. The returned address is the addr attribute as given; compare it
// with the From address before trusting the key for that sender.
func ParseAutocrypt(headerValue string) (addr string, key openpgp.EntityList, err error) {
	var keydata string
	seen := map[string]bool{}
	for _, attr := range strings.Split(headerValue, ";") {
		attr = strings.TrimSpace(attr)
		if attr == "" {
			continue
		}
		name, value, ok := strings.Cut(attr, "=")
		if !ok {
			return "", nil, fmt.Errorf("%w: attribute %q without value", ErrBadAutocrypt, truncate(attr, 40))
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if seen[name] {
			return "", nil, fmt.Errorf("%w: duplicate attribute %q", ErrBadAutocrypt, name)
		}
		seen[name] = true
		switch {
		case name == "addr":
			addr = strings.TrimSpace(value)
		case name == "prefer-encrypt":
			// Only "mutual" has a meaning; anything else means "nopreference".
		case name == "keydata":
			keydata = value
		case strings.HasPrefix(name, "_"):
			// Non-critical: ignored.
		default:
			return "", nil, fmt.Errorf("%w: unknown critical attribute %q", ErrBadAutocrypt, truncate(name, 40))
		}
	}
	if addr == "" {
		return "", nil, fmt.Errorf("%w: missing addr", ErrBadAutocrypt)
	}
	if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr {
		return "", nil, fmt.Errorf("%w: addr %q is not a bare address", ErrBadAutocrypt, truncate(addr, 80))
	}
	if keydata == "" {
		return "", nil, fmt.Errorf("%w: missing keydata", ErrBadAutocrypt)
	}
	// keydata is base64 of the binary key; folding whitespace is not part of it.
	keydata = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, keydata)
	raw, err := base64.StdEncoding.DecodeString(keydata)
	if err != nil {
		return "", nil, fmt.Errorf("%w: keydata: %v", ErrBadAutocrypt, err)
	}
	if len(raw) == 0 || raw[0]&0x80 == 0 {
		return "", nil, fmt.Errorf("%w: keydata is not a binary OpenPGP key", ErrBadAutocrypt)
	}
	el, err := ParseKeys(raw)
	if err != nil {
		return "", nil, fmt.Errorf("%w: keydata: %w", ErrBadAutocrypt, err)
	}
	if len(el) != 1 {
		return "", nil, fmt.Errorf("%w: keydata holds %d keys, want 1", ErrBadAutocrypt, len(el))
	}
	return addr, el, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// KeyForAddress returns the entity to encrypt to for addr: one with a
// non-revoked, non-expired user id for addr (compared case-insensitively) and
// a usable encryption key. When several qualify, the newest key wins. It
// returns nil when none does.
func KeyForAddress(keys openpgp.EntityList, addr string) *openpgp.Entity {
	return keyForAddress(keys, addr, time.Now())
}

func keyForAddress(keys openpgp.EntityList, addr string, now time.Time) *openpgp.Entity {
	addr = strings.TrimSpace(addr)
	var best *openpgp.Entity
	for _, e := range keys {
		if e == nil || e.PrimaryKey == nil {
			continue
		}
		if _, ok := e.EncryptionKey(now); !ok {
			continue
		}
		if !hasUserID(e, addr, now) {
			continue
		}
		if best == nil || e.PrimaryKey.CreationTime.After(best.PrimaryKey.CreationTime) {
			best = e
		}
	}
	return best
}

func hasUserID(e *openpgp.Entity, addr string, now time.Time) bool {
	for _, id := range e.Identities {
		if id.Revoked(now) || id.SelfSignature == nil || id.SelfSignature.SigExpired(now) {
			continue
		}
		if e.PrimaryKey.KeyExpired(id.SelfSignature, now) {
			continue
		}
		email := ""
		if id.UserId != nil {
			email = id.UserId.Email
		}
		if email == "" {
			// QUIRK: some keys carry a bare address or an odd user id.
			if a, err := mail.ParseAddress(id.Name); err == nil {
				email = a.Address
			} else {
				email = strings.Trim(id.Name, "<> ")
			}
		}
		if strings.EqualFold(email, addr) {
			return true
		}
	}
	return false
}
