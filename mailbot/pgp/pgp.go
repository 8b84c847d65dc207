// Package pgp owns mailbot's OpenPGP: the bot's own secret keys, decrypting
// what researchers send (PGP/MIME, inline and attached ciphertext), checking
// their signatures, and sealing the bot's answers.
//
// It implements the parts of OpenPGP (RFC 4880, RFC 9580) that mail needs on
// top of github.com/ProtonMail/go-crypto, PGP/MIME (RFC 3156), protected
// headers (RFC 9788, with the older protected-headers="v1" marker that
// Thunderbird reads) and Autocrypt headers (Autocrypt Level 1, section 2.1).
//
// Rules that keep the bot from becoming a decryption oracle (EFAIL):
//   - every block is decrypted on its own and its plaintext is returned only
//     after it was read to EOF and the MDC or AEAD tag checked; on any error
//     no plaintext is returned at all (Decrypt). DecryptStream hands the
//     plaintext out as it is decrypted, for large blocks: what is read from
//     it may be used only once Stream.Close returned nil;
//   - ciphertext without integrity protection is refused;
//   - decompression is bounded (Options.MaxSize);
//   - a signature is valid only when made by a key the caller knows.
//
// Errors are permanent (retrying the same bytes gives the same answer) unless
// they come from the io.Writer a caller passed in.
package pgp

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Decrypt, VerifyMessage and friends wrap them with %w.
var (
	ErrNoKey        = errors.New("pgp: encrypted to a key we do not hold")
	ErrIntegrity    = errors.New("pgp: integrity protection missing or broken")
	ErrDamaged      = errors.New("pgp: damaged OpenPGP data")
	ErrTooLarge     = errors.New("pgp: decrypted data exceeds the size limit")
	ErrNotEncrypted = errors.New("pgp: not encrypted")

	// ErrNotSigned: VerifyMessage found neither PGP/MIME multipart/signed nor
	// clearsigned text.
	ErrNotSigned = errors.New("pgp: not signed")
	// ErrWrongPassphrase: a locked private key could not be unlocked.
	ErrWrongPassphrase = errors.New("pgp: wrong passphrase for private key")
	// ErrNoSecretKey: a keyring meant to hold the bot's keys holds none.
	ErrNoSecretKey = errors.New("pgp: no secret key")
	// ErrNoEncryptionKey: a recipient has no usable encryption key.
	ErrNoEncryptionKey = errors.New("pgp: recipient has no usable encryption key")
	// ErrBadAutocrypt: an Autocrypt header that must be ignored.
	ErrBadAutocrypt = errors.New("pgp: invalid Autocrypt header")
)

// NoKeyError is returned by Decrypt when the data was encrypted to keys the
// bot does not hold. errors.Is(err, ErrNoKey) is true. KeyIDs lets the bot
// answer "please encrypt to fingerprint X".
type NoKeyError struct {
	KeyIDs    []string // recipient key ids, 16 uppercase hex digits; "0000000000000000" for a hidden recipient
	Symmetric bool     // also (or only) encrypted with a passphrase
}

func (e *NoKeyError) Error() string {
	switch {
	case len(e.KeyIDs) == 0 && e.Symmetric:
		return ErrNoKey.Error() + " (encrypted with a passphrase only)"
	case len(e.KeyIDs) == 0:
		return ErrNoKey.Error()
	}
	return fmt.Sprintf("%v (recipients %s)", ErrNoKey, strings.Join(e.KeyIDs, ", "))
}

// Unwrap makes errors.Is(err, ErrNoKey) work.
func (e *NoKeyError) Unwrap() error { return ErrNoKey }

// DefaultMaxSize bounds decrypted and decompressed data when Options.MaxSize is 0.
const DefaultMaxSize = 32 << 20

// Options tune Decrypt and the Verify methods.
type Options struct {
	MaxSize int64            // cap on decompressed + decrypted (or verified) bytes; 0 means DefaultMaxSize
	Now     func() time.Time // clock for key and signature validity; nil means time.Now
}

func (o Options) maxSize() int64 {
	if o.MaxSize <= 0 {
		return DefaultMaxSize
	}
	return o.MaxSize
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// ClockSkew is how far a signature's creation time may lie ahead of our
// clock and still verify.
//
// QUIRK: go-crypto counts a signature made even one second after its clock
// as expired (packet.Signature.SigExpired). A sender whose clock runs a
// little fast, with a quick delivery, would get "signature expired" for a
// good signature. The price: a key or signature that expired less than
// ClockSkew ago still verifies.
const ClockSkew = 5 * time.Minute

// verifyClock is the clock go-crypto checks signatures and keys against:
// now, plus ClockSkew.
func verifyClock(now func() time.Time) func() time.Time {
	return func() time.Time { return now().Add(ClockSkew) }
}

// Result describes decrypted or verified data.
type Result struct {
	Plaintext         []byte   // fully read to EOF and checked; nil on any error
	Encrypted         bool     // the data was encrypted (and decrypted by us)
	Signed            bool     // the data carried a signature
	SignatureValid    bool     // true ONLY when signed by a KNOWN key and the signature verified
	SignerFingerprint string   // of the known signer key, else ""
	SignerKeyID       string   // issuer key id as hex, even when unknown
	SignatureError    string   // why not valid ("unknown signer", "bad signature", ...)
	KeyIDs            []string // recipient key ids the data was encrypted to

	// SignatureTime (Decrypt, when SignatureValid) is the creation time of
	// the signature packet that verified: the one whose issuer is the
	// one-pass signer, not any other packet beside it.
	SignatureTime time.Time
}

// Reasons a signature is not valid, as found in Result.SignatureError.
const (
	SigUnknownSigner = "unknown signer"
	SigBad           = "bad signature"
	SigKeyExpired    = "signer key expired"
	SigKeyRevoked    = "signer key revoked"
	SigExpired       = "signature expired"
	SigUnsupported   = "unsupported signature"
)

func keyID(id uint64) string { return fmt.Sprintf("%016X", id) }

func fingerprint(fp []byte) string { return fmt.Sprintf("%X", fp) }
