package pgp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// OpenPGP packet tags (RFC 9580 section 5).
const (
	tagPKESK       = 1
	tagSignature   = 2
	tagSKESK       = 3
	tagOnePassSig  = 4
	tagSecretKey   = 5
	tagPublicKey   = 6
	tagSecretSub   = 7
	tagCompressed  = 8
	tagSED         = 9 // Symmetrically Encrypted Data: no integrity protection
	tagMarker      = 10
	tagLiteral     = 11
	tagUserID      = 13
	tagPublicSub   = 14
	tagSEIPD       = 18 // with MDC (v1) or AEAD (v2)
	tagAEADEncData = 20 // LibrePGP/draft AEAD packet
	tagPadding     = 21

	maxPackets = 10000
)

// decryptRing decrypts with the bot's keys and verifies signatures with the
// caller's list only, so a message "signed" by the bot's own key but sent
// from outside is not mistaken for a researcher's known key, and a
// researcher's list can never decrypt anything.
type decryptRing struct {
	dec, ver openpgp.EntityList
}

func (r decryptRing) KeysById(id uint64) []openpgp.Key { return r.dec.KeysById(id) }
func (r decryptRing) KeysByIdUsage(id uint64, usage byte) []openpgp.Key {
	return r.ver.KeysByIdUsage(id, usage)
}
func (r decryptRing) DecryptionKeys() []openpgp.Key { return r.dec.DecryptionKeys() }

// Decrypt decrypts one block of ciphertext, armored or binary, exactly as
// found in the mail (a PGP/MIME application/octet-stream part, an inline
// block, an attachment). Decrypt each block on its own and never join the
// plaintext to the text around it (EFAIL).
//
// The whole plaintext is read to EOF into a bounded buffer, and the MDC or
// AEAD tag and any signature are checked, before anything is returned; on
// error Result.Plaintext is nil. Errors wrap ErrNoKey (as *NoKeyError with
// the recipient key ids), ErrIntegrity (no MDC, MDC mismatch, AEAD tag, or
// any damage found after the session key was recovered), ErrTooLarge,
// ErrNotEncrypted (signed-only data, keys, a clearsigned text) or ErrDamaged
// (everything else, including a panic inside go-crypto). The recipient ids
// are in *NoKeyError on ErrNoKey; on ErrIntegrity and ErrTooLarge a Result
// with Encrypted and KeyIDs (and Plaintext nil) comes back with the error.
//
// Signatures are checked against verify only: Result.SignatureValid is true
// only for a known signer whose signature verified.
func (k *Keyring) Decrypt(data []byte, verify openpgp.EntityList, opt Options) (res *Result, err error) {
	// ProtonMail/go-crypto#326: ReadMessage can panic on hostile input.
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: panic in openpgp: %v", ErrDamaged, r)
		}
	}()
	bin, err := dearmor(data)
	if err != nil {
		return nil, err
	}
	if err := checkFraming(bin); err != nil {
		return nil, err
	}

	max := opt.maxSize()
	// The library's own cap on decompression is a backstop for data that is
	// not literal data (trailing packets); ours below is the one that fires.
	libMax := max + 1<<20
	cfg := &packet.Config{
		MaxDecompressedMessageSize: &libMax,
		Time:                       opt.now,
	}
	var dec openpgp.EntityList
	if k != nil {
		dec = k.entities
	}
	md, err := openpgp.ReadMessage(bytes.NewReader(bin), decryptRing{dec: dec, ver: verify}, nil, cfg)
	if err != nil {
		return nil, classifyReadError(err, bin, dec)
	}
	if !md.IsEncrypted {
		return nil, fmt.Errorf("%w: signed-only data", ErrNotEncrypted)
	}
	res = &Result{Encrypted: true, KeyIDs: keyIDs(md.EncryptedToKeyIds)}

	plain, err := readBounded(md.UnverifiedBody, max)
	if err != nil {
		if errors.Is(err, ErrTooLarge) || errors.Is(err, pgperrors.ErrMessageTooLarge) {
			return res, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
		}
		// The framing was complete and the session key decrypted: whatever
		// goes wrong now (MDC mismatch, AEAD tag, garbage in the decrypted
		// packets) means the ciphertext was modified or broken. go-crypto
		// makes these errors deliberately vague (no oracle); so do we.
		return res, fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	res.Plaintext = plain
	fillSignature(res, md)
	return res, nil
}

// fillSignature reads the signature outcome, valid only after EOF.
func fillSignature(res *Result, md *openpgp.MessageDetails) {
	if !md.IsSigned {
		return
	}
	res.Signed = true
	res.SignerKeyID = keyID(md.SignedByKeyId)
	switch {
	case md.SignedBy == nil:
		// go-crypto leaves SignatureError nil here: nil does NOT mean good.
		res.SignatureError = SigUnknownSigner
	case md.SignatureError != nil:
		res.SignatureError = sigReason(md.SignatureError)
	case md.Signature == nil:
		res.SignatureError = SigBad + ": no signature packet"
	default:
		res.SignatureValid = true
		res.SignerFingerprint = fingerprint(md.SignedBy.Entity.PrimaryKey.Fingerprint)
	}
}

func sigReason(err error) string {
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return SigUnknownSigner
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return SigKeyExpired
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return SigKeyRevoked
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return SigExpired
	}
	return SigBad + ": " + err.Error()
}

func keyIDs(ids []uint64) []string {
	var out []string
	for _, id := range ids {
		out = append(out, keyID(id))
	}
	return out
}

// classifyReadError maps an error from openpgp.ReadMessage (before any
// plaintext was read) to our sentinels.
func classifyReadError(err error, bin []byte, ours openpgp.EntityList) error {
	if errors.Is(err, pgperrors.ErrKeyIncorrect) {
		ids, sym := recipients(bin)
		for _, id := range ids {
			if id != 0 && len(ours.KeysById(id)) > 0 {
				// Addressed to us, but the session key did not decrypt.
				return fmt.Errorf("%w: session key for %s does not decrypt", ErrDamaged, keyID(id))
			}
		}
		return &NoKeyError{KeyIDs: keyIDs(ids), Symmetric: sym}
	}
	var unsup pgperrors.UnsupportedError
	if errors.As(err, &unsup) && bytes.Contains([]byte(unsup), []byte("integrity")) {
		return fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	switch {
	case errors.Is(err, pgperrors.ErrMDCMissing), errors.Is(err, pgperrors.ErrMDCHashMismatch),
		errors.Is(err, pgperrors.ErrAEADTagVerification):
		return fmt.Errorf("%w: %v", ErrIntegrity, err)
	case errors.Is(err, pgperrors.ErrMessageTooLarge):
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	var dec pgperrors.DecryptWithSessionKeyError
	if errors.As(err, &dec) {
		// Session key recovered, decrypted packets unreadable.
		return fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	return fmt.Errorf("%w: %v", ErrDamaged, err)
}

// recipients lists the key ids of the PKESK packets and whether an SKESK
// (passphrase) packet is present.
func recipients(bin []byte) (ids []uint64, symmetric bool) {
	defer func() { _ = recover() }()
	pr := packet.NewReader(bytes.NewReader(bin))
	for i := 0; i < maxPackets; i++ {
		p, err := pr.Next()
		if err != nil {
			return ids, symmetric
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			ids = append(ids, p.KeyId)
		case *packet.SymmetricKeyEncrypted:
			symmetric = true
		default:
			return ids, symmetric
		}
	}
	return ids, symmetric
}

// dearmor returns the binary packets of data, which is either binary
// OpenPGP or an ASCII-armored PGP MESSAGE.
func dearmor(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrDamaged)
	}
	if data[0]&0x80 != 0 { // RFC 9580 section 4.2: bit 7 of a packet header is always set
		return data, nil
	}
	i := bytes.Index(data, []byte("-----BEGIN PGP "))
	if i < 0 {
		return nil, fmt.Errorf("%w: neither binary OpenPGP nor armor", ErrDamaged)
	}
	rest := data[i:]
	switch {
	case bytes.HasPrefix(rest, []byte("-----BEGIN PGP SIGNED MESSAGE-----")):
		return nil, fmt.Errorf("%w: clearsigned text", ErrNotEncrypted)
	case bytes.HasPrefix(rest, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")),
		bytes.HasPrefix(rest, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")):
		return nil, fmt.Errorf("%w: an OpenPGP key block", ErrNotEncrypted)
	case bytes.HasPrefix(rest, []byte("-----BEGIN PGP SIGNATURE-----")):
		return nil, fmt.Errorf("%w: a detached signature", ErrNotEncrypted)
	}
	// QUIRK: armor.Decode skips text before the BEGIN line and tolerates a
	// missing CRC line (RFC 9580 section 6.1 makes it optional).
	block, err := armor.Decode(bytes.NewReader(rest))
	if err != nil {
		return nil, fmt.Errorf("%w: armor: %v", ErrDamaged, err)
	}
	if block.Type != openpgp.MessageType {
		return nil, fmt.Errorf("%w: armor type %q", ErrDamaged, truncate(block.Type, 40))
	}
	// The decoded data is smaller than its armor: bounded by len(data).
	bin, err := io.ReadAll(block.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: armor: %v", ErrDamaged, err)
	}
	if len(bin) == 0 {
		return nil, fmt.Errorf("%w: empty armor", ErrDamaged)
	}
	return bin, nil
}

// checkFraming walks the top-level packet headers (RFC 9580 section 4.2)
// without decrypting anything. It finds truncated data before go-crypto
// would report it as a vague error from inside the decrypted stream, refuses
// ciphertext without integrity protection (tag 9, EFAIL) and recognises
// data that is not an encrypted message.
func checkFraming(b []byte) error {
	var first int // first packet that is not a session key, marker or padding
	n := 0
	for len(b) > 0 {
		n++
		if n > maxPackets {
			return fmt.Errorf("%w: more than %d packets", ErrDamaged, maxPackets)
		}
		hdr := b[0]
		if hdr&0x80 == 0 {
			return fmt.Errorf("%w: invalid packet header", ErrDamaged)
		}
		var tag int
		b = b[1:]
		if hdr&0x40 != 0 { // new format
			tag = int(hdr & 0x3f)
			for {
				if len(b) == 0 {
					return fmt.Errorf("%w: truncated packet header", ErrDamaged)
				}
				var l int
				partial := false
				switch l0 := b[0]; {
				case l0 < 192:
					l, b = int(l0), b[1:]
				case l0 < 224:
					if len(b) < 2 {
						return fmt.Errorf("%w: truncated packet header", ErrDamaged)
					}
					l, b = (int(l0)-192)<<8+int(b[1])+192, b[2:]
				case l0 == 255:
					if len(b) < 5 {
						return fmt.Errorf("%w: truncated packet header", ErrDamaged)
					}
					l, b = int(binary.BigEndian.Uint32(b[1:5])), b[5:]
				default:
					l, b, partial = 1<<(l0&0x1f), b[1:], true
				}
				if l > len(b) {
					return fmt.Errorf("%w: truncated (packet tag %d)", ErrDamaged, tag)
				}
				b = b[l:]
				if !partial {
					break
				}
			}
		} else { // old format
			tag = int(hdr>>2) & 0xf
			var l int
			switch hdr & 3 {
			case 0:
				if len(b) < 1 {
					return fmt.Errorf("%w: truncated packet header", ErrDamaged)
				}
				l, b = int(b[0]), b[1:]
			case 1:
				if len(b) < 2 {
					return fmt.Errorf("%w: truncated packet header", ErrDamaged)
				}
				l, b = int(binary.BigEndian.Uint16(b)), b[2:]
			case 2:
				if len(b) < 4 {
					return fmt.Errorf("%w: truncated packet header", ErrDamaged)
				}
				l, b = int(binary.BigEndian.Uint32(b)), b[4:]
			case 3: // indeterminate length: to the end of the data
				l = len(b)
			}
			if l > len(b) {
				return fmt.Errorf("%w: truncated (packet tag %d)", ErrDamaged, tag)
			}
			b = b[l:]
		}
		if first == 0 {
			switch tag {
			case tagPKESK, tagSKESK, tagMarker, tagPadding:
			default:
				first = tag
			}
		}
	}
	switch first {
	case tagSEIPD, tagAEADEncData:
		return nil
	case tagSED:
		// RFC 9580 section 5.7: MUST NOT be decrypted without integrity protection (EFAIL).
		return fmt.Errorf("%w: symmetrically encrypted data without MDC", ErrIntegrity)
	case tagCompressed, tagLiteral, tagOnePassSig, tagSignature:
		return fmt.Errorf("%w: signed-only or plain OpenPGP data", ErrNotEncrypted)
	case tagPublicKey, tagSecretKey, tagPublicSub, tagSecretSub, tagUserID:
		return fmt.Errorf("%w: an OpenPGP key block", ErrNotEncrypted)
	case 0:
		return fmt.Errorf("%w: session keys without encrypted data", ErrDamaged)
	}
	return fmt.Errorf("%w: unexpected packet tag %d", ErrDamaged, first)
}

// readBounded reads r to EOF, failing with ErrTooLarge past max bytes. It
// grows in fixed chunks so that memory stays near max even when it fails.
func readBounded(r io.Reader, max int64) ([]byte, error) {
	const chunk = 64 << 10
	var chunks [][]byte
	var total int64
	buf := make([]byte, 0, chunk)
	for {
		if len(buf) == cap(buf) {
			chunks = append(chunks, buf)
			buf = make([]byte, 0, chunk)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		total += int64(n)
		if total > max {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, buf...), nil
}
